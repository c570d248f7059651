"""The data model: canonical dims and coords, validation, alignment, IO, provenance.

This package is imported by every other part of neuroalign and imports none of
them (except the error classes).  See ``docs/data-model.md``.
"""

from .align import align, average_repetitions, stimulus_ids
from .io import load, save, write_atomically
from .layers import as_layer_mapping
from .provenance import hash_array, hash_file, package_version, provenance
from .schema import (
    NEUROID,
    NEUROID_ID,
    PRESENTATION,
    STIMULUS_ID,
    TIME,
    TIME_BIN,
    TIME_BIN_END,
    TIME_BIN_START,
    create_assembly,
    label_index,
    validate,
    validate_dataset,
)

__all__ = [
    "NEUROID", "NEUROID_ID", "PRESENTATION", "STIMULUS_ID", "TIME", "TIME_BIN",
    "TIME_BIN_END", "TIME_BIN_START", "align", "as_layer_mapping", "average_repetitions", "create_assembly",
    "hash_array", "hash_file", "label_index", "load", "package_version", "provenance", "save",
    "stimulus_ids", "validate", "validate_dataset", "write_atomically",
]
