"""What ``neuroalign metamers`` reads: images in [0, 1], their labels, observer models, a kNN's training set.

Models and stimuli are read with the helpers of ``neuroalign extract``
(:mod:`neuroalign.cli.extract_cmd`), so both commands accept the same specs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..errors import ConfigError, DataError, FileFormatError, SchemaError, UnknownNameError
from .extract_cmd import _model_kwargs, _stimuli

__all__ = ["ObserverSpec", "parse_observer", "load_frozen_model", "read_images", "read_labels"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObserverSpec:
    """One ``--observer NAME=SPEC[,weights=PATH][,KEY=VALUE...]``."""

    name: str
    spec: str
    weights: str | None
    kwargs: dict[str, Any]


def parse_observer(text: str) -> ObserverSpec:
    """Parse ``NAME=SPEC[,weights=PATH][,KEY=VALUE...]`` (``KEY=VALUE``: factory arguments, JSON values).

    Examples
    --------
    >>> from neuroalign.cli._metamer_inputs import parse_observer
    >>> parse_observer("other=nets.py:Net,weights=other.pt,width=8")
    ObserverSpec(name='other', spec='nets.py:Net', weights='other.pt', kwargs={'width': 8})
    """
    fix = "write --observer NAME=SPEC, e.g. --observer other=nets.py:Net,weights=other.pt,width=8"
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name or not rest.strip() or "," in name:
        raise ConfigError(f"--observer {text!r} is not NAME=SPEC[,weights=PATH][,KEY=VALUE...]", source="--observer",
                          fix=fix)
    spec, *options = [part.strip() for part in rest.split(",")]
    if not spec or "=" in spec:
        raise ConfigError(f"--observer {text!r} has no model spec after {name}=", source="--observer", fix=fix)
    weights = None
    pairs = []
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--observer {text!r}: option {option!r} is not KEY=VALUE", source="--observer", fix=fix)
        if key.strip() == "weights":
            weights = value.strip()
        else:
            pairs.append(option)
    kwargs = _model_kwargs(pairs)
    return ObserverSpec(name, spec, weights, kwargs)


def load_frozen_model(spec: str, *, weights: str | None, kwargs: dict[str, Any], device: torch.device,
                      source: str) -> nn.Module:
    """Build the model, load its weights, move it to ``device``, put it in eval mode and freeze it."""
    from ..extract.models import load_model
    from ..metamers.training import freeze

    if weights is not None and not Path(weights).is_file():
        raise FileFormatError("weights file not found", source=weights, fix=f"check the weights path ({source})")
    model = load_model(spec, weights=weights, kwargs=kwargs)
    return freeze(model.to(device))


def read_images(path: str, *, source: str) -> tuple[Any, torch.Tensor, list[str]]:
    """The stimulus set, its images as one float32 ``(N, C, H, W)`` tensor with values in [0, 1], and
    the ids as text."""
    from ..metamers.model_checks import check_images

    stimuli = _stimuli(path)
    if stimuli.kind == "text":
        raise ConfigError("metamers are images; these stimuli are text", source=source,
                          fix="pass a folder of images, a CSV table of image files or a .npy array")
    images = stimuli.load_batch(range(len(stimuli)))
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise DataError(f"the stimuli form an array of shape {shape}, not images (N, C, H, W)", source=path,
                        fix="save a .npy of shape (N, C, H, W) (floats in [0, 1]) or (N, H, W, C) (uint8), or pass "
                            "image files")
    images = images.float().contiguous()
    check_images(images, (0.0, 1.0), source=path)
    ids = [str(v) for v in stimuli.stimulus_ids]
    if len(set(ids)) != len(ids):
        raise SchemaError("stimulus ids repeat once written as text (e.g. 1 and '1')", source=path,
                          fix="give every stimulus its own id")
    return stimuli, images, ids


def read_labels(value: str, stimuli: Any, ids: list[str], *, source: str) -> np.ndarray:
    """Integer labels (logit columns) of the stimuli, in their order.

    ``value`` is a metadata column of the stimulus table, a ``.npy`` file (one integer per stimulus, in
    order) or a ``.csv`` file with ``stimulus_id`` and ``label`` columns (matched by id).
    """
    suffix = Path(value).suffix.lower()
    if suffix == ".npy":
        labels = _npy_labels(Path(value), len(ids), source)
    elif suffix == ".csv":
        labels = _csv_labels(Path(value), ids, source)
    else:
        columns = list(stimuli.metadata.columns)
        if value not in columns:
            if not columns:
                raise ConfigError(f"{value!r} is not a metadata column: these stimuli have none", source=source,
                                  fix="pass a .npy (one label per stimulus) or .csv (stimulus_id,label) file, or a "
                                      "stimulus table with a label column")
            raise UnknownNameError(value, columns, what="metadata column", source=source)
        labels = stimuli.metadata[value].to_numpy()
    return _integer_labels(labels, value, source)


def _npy_labels(path: Path, n: int, source: str) -> np.ndarray:
    if not path.is_file():
        raise FileFormatError("file not found", source=str(path), fix=f"check the {source} path")
    try:
        labels = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise FileFormatError(f"cannot read it as a numeric .npy array ({exc})", source=str(path),
                              fix="save the labels with np.save(path, labels) (integers)") from exc
    if labels.shape != (n,):
        raise DataError(f"holds an array of shape {labels.shape} for {n} stimuli", source=str(path),
                        fix="save one label per stimulus, in the stimuli's order")
    return labels


def _csv_labels(path: Path, ids: list[str], source: str) -> np.ndarray:
    if not path.is_file():
        raise FileFormatError("file not found", source=str(path), fix=f"check the {source} path")
    try:
        table = pd.read_csv(path, dtype={"stimulus_id": str})
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise FileFormatError(f"cannot read it as a CSV table ({exc})", source=str(path),
                              fix="write a CSV with stimulus_id and label columns") from exc
    for column in ("stimulus_id", "label"):
        if column not in table.columns:
            raise SchemaError(f"column {column!r} is missing (columns: {list(table.columns)})", source=str(path),
                              fix="write a CSV with stimulus_id and label columns")
    index = pd.Index(table["stimulus_id"].astype(str))
    if not index.is_unique:
        raise SchemaError(f"stimulus ids repeat (e.g. {index[index.duplicated()][:3].tolist()})", source=str(path),
                          fix="give one label per stimulus")
    where = index.get_indexer(ids)
    if (where < 0).any():
        missing = [i for i, w in zip(ids, where) if w < 0]
        raise DataError(f"{len(missing)} stimuli have no label (e.g. {missing[:3]})", source=str(path),
                        fix="add a row for every stimulus")
    if len(index) > len(ids):
        log.info("%s: %d labels of stimuli that are not in the stimulus set are not used", path,
                 len(index) - len(ids))
    return table["label"].to_numpy()[where]


def _integer_labels(labels: np.ndarray, value: str, source: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.dtype.kind in "iu":
        result = labels.astype(np.int64)
    elif labels.dtype.kind == "f" and np.isfinite(labels).all() and (labels == np.round(labels)).all():
        result = labels.astype(np.int64)
    else:
        raise DataError(f"the labels of {value!r} are not whole numbers (dtype {labels.dtype}); an observer's answer "
                        f"is a logit column, so labels must be too", source=source,
                        fix="encode the classes as the networks' logit columns 0 … n-1")
    if (result < 0).any():
        raise DataError(f"the labels of {value!r} include negative numbers", source=source,
                        fix="encode the classes as the networks' logit columns 0 … n-1")
    return result
