"""Model activations into data-model arrays."""

from .hooks import extract, resolve_layers
from .stimuli import StimulusSet

__all__ = ["StimulusSet", "extract", "resolve_layers"]
