"""neuroalign: how brain-like is this network?  Measured with rigour.

Loaders bring brain recordings into labelled arrays (:mod:`neuroalign.data`),
extractors turn model activations into arrays with the same coordinates
(:mod:`neuroalign.extract`), and comparisons score their alignment
(:mod:`neuroalign.compare`) as :class:`neuroalign.Score` objects.
"""

from ._version import __version__
from .errors import NeuroalignError
from .score import Score

__all__ = ["__version__", "NeuroalignError", "Score"]
