"""Networks defined in the package (no downloads)."""

from .reference import REFERENCE_LAYERS, ReferenceNet

__all__ = ["REFERENCE_LAYERS", "ReferenceNet"]
