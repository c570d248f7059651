"""Model activations into data-model arrays.

``extract(model, stimuli, layers)`` runs any torch model over a
:class:`StimulusSet` and returns one ``(presentation, neuroid)`` array per
layer, with the stimuli's ``stimulus_id``s; see :func:`extract` for
selection, pooling, reduction, streaming to zarr, resuming and caching.
"""

from .cache import cache_dir, clear_cache, list_cache
from .extraction import BACKENDS, extract
from .fx import graph_nodes, trace
from .layers import leaf_modules, resolve_layers
from .models import hf_tokenizer, load_model, load_state_dict, model_hash
from .pooling import CALLS, POOLING_METHODS
from .preprocessing import (IMAGENET_MEAN, IMAGENET_STD, CenterCrop, Compose, Normalize, Resize, ToRGB,
                            image_preprocessing)
from .reduction import PCA, SparseRandomProjection
from .stimuli import StimulusSet
from .store import open_activations, write_arrays

__all__ = [
    "StimulusSet", "extract", "resolve_layers", "leaf_modules", "BACKENDS", "CALLS", "POOLING_METHODS",
    "Resize", "CenterCrop", "Normalize", "ToRGB", "Compose", "image_preprocessing", "IMAGENET_MEAN", "IMAGENET_STD",
    "SparseRandomProjection", "PCA", "load_model", "load_state_dict", "model_hash", "hf_tokenizer",
    "open_activations", "write_arrays", "cache_dir", "list_cache", "clear_cache", "trace", "graph_nodes",
]
