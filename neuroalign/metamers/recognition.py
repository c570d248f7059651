"""Recognisability of model metamers across observers (Feather et al. 2023).

Each observer (a classifier network, the generating model itself, a pixel-space
kNN, ...) names the class of every *valid* metamer of each generating layer;
its recognisability at that layer is the proportion it names correctly.
Confidence intervals come from a bootstrap over natural images: with several
synthesis seeds (a ``seed`` dim), a natural image is resampled together with
all its valid metamers, since the metamers of one image are not independent.
Within a layer every observer is scored on the same resamples, so observers
can be compared pair by pair.  The expected chance level is ``1 / len(classes)``.

Natural images enter as a layer of their own, ``"natural"``, so that curves
start where Feather et al.'s figures do: pass them as ``naturals=`` (they are
all counted), or put them in ``metamers`` under any layer name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from ..compare.common.bootstrap import RESAMPLE, bootstrap_indices
from ..data.provenance import provenance
from ..data.schema import PRESENTATION, STIMULUS_ID
from ..errors import AlignmentError, ConfigError, DataError
from ..score import Score
from .classify import IMAGE_DIMS, Observer, as_images, predict_labels

__all__ = ["recognisability", "NATURAL", "METRIC"]

log = logging.getLogger(__name__)

#: The layer name natural images get with ``naturals=``.
NATURAL = "natural"
#: The metric name of recognisability scores.
METRIC = "metamer-recognisability"


def recognisability(
    metamers: xr.DataArray | Mapping[str, Any],
    labels: Any,
    observers: Mapping[str, Observer],
    *,
    valid: xr.DataArray | None = None,
    naturals: Any = None,
    generator: str = "model",
    classes: Sequence[Any] | Mapping[int, Any] | None = None,
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
    random_state: int | np.random.Generator = 0,
    empty_layers: Literal["raise", "drop"] = "raise",
    batch_size: int = 256,
    progress: bool = False,
) -> Score:
    """Proportion of valid metamers each observer classifies correctly, per generating layer.

    Parameters
    ----------
    metamers : xarray.DataArray or mapping
        A DataArray with dims ``(layer, presentation, channel, row, col)``, or
        a mapping layer name → images (tensors ``(N, C, H, W)`` or DataArrays
        with dims ``(presentation, channel, row, col)``); layers keep their order.
        With several synthesis seeds, DataArrays carry a ``seed`` dim as well:
        image ``(s, i)`` is the metamer of natural image ``i`` from seed ``s``.
    labels : array_like or xarray.DataArray
        The class of each natural image.  A plain array follows the images'
        order; a DataArray with ``stimulus_id`` is looked up by id for images
        that carry ids.
    observers : mapping
        Name → observer: a ``torch.nn.Module`` classifier (argmax of its
        logits, batched, under no_grad, in eval mode) or a callable images →
        labels (e.g. :class:`~neuroalign.metamers.pixel_observer.PixelKNN`).
    valid : xarray.DataArray, optional
        Booleans with dims ``(layer, presentation)``, or ``(layer, seed,
        presentation)`` as :func:`~neuroalign.metamers.validity.metamer_validity`'s
        ``valid`` (concatenated over layers and seeds); only valid metamers are
        scored.  Matched by ``stimulus_id`` where both sides have ids, else by
        position; seeds by the ``seed`` coordinate where both sides have one,
        else by position (a length-1 ``seed`` dim goes with metamers without
        one; other extra dims must have length 1).  Layers it
        lacks, and the ``"natural"`` layer, count as all valid only if they are
        natural images; a metamer layer missing from ``valid`` is an error.
        Default: every image counts.
    naturals : torch.Tensor or xarray.DataArray, optional
        Natural images, scored as a first layer named ``"natural"``.
    generator : str
        The generating model's name (the ``generator`` coordinate).
    classes : sequence or mapping, optional
        The classes of the task; chance is one over their number.  A mapping
        logit column → class lets several logit columns name one class: a
        network answers with the class of its top-ranked column among the
        mapping's keys (Feather et al.'s 16-way choice among the ImageNet
        classes of 16 categories), and labels are classes.  A sequence: when given,
        module observers choose among these logit columns (a forced choice, as
        Feather et al.'s 16-way task).  Default: the sorted distinct labels,
        with module observers choosing among all their logits.
    n_bootstrap : int
        Bootstrap resamples of the natural images of each layer that have at
        least one valid metamer; a resampled image brings all its valid
        metamers (of every seed), and a resample's accuracy is the proportion
        correct among the metamers it holds.  With one metamer per image this
        is the ordinary bootstrap of the valid images.
    ci_level : float
        Coverage of the percentile confidence interval.
    random_state : int or numpy.random.Generator
        Seed of the resamples: layer ``k`` (in order) draws
        ``bootstrap_indices(n_k, n_bootstrap, rng)`` from
        ``rng = numpy.random.default_rng(random_state)``, where ``n_k`` is its
        number of natural images with a valid metamer.
    empty_layers : {"raise", "drop"}
        A layer without any valid metamer raises :class:`~neuroalign.errors.DataError`,
        or is dropped (logged, and listed in ``params["dropped_layers"]``).
    batch_size : int
        Images per forward pass.
    progress : bool
        Show a progress bar over layers.

    Returns
    -------
    Score
        Values, CI and error (standard deviation of the resamples) with dims
        ``(generator, layer, observer)``; ``raw`` holds the resamples.
        ``params`` hold ``chance``, ``classes``, ``n_images`` (valid metamers
        scored per layer), ``n_natural`` (natural images resampled per layer),
        ``n_seeds`` (per layer), ``generator`` and the bootstrap settings.

    Raises
    ------
    ConfigError
        No observer, a bad setting, a label outside ``classes``.
    AlignmentError
        Images, labels and ``valid`` do not match (images, or seeds).
    DataError
        A layer with no valid metamer (``empty_layers="raise"``).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.recognition import recognisability
    >>> images = np.zeros((4, 1, 2, 2), dtype=np.float32)
    >>> perfect = lambda x: np.array([0, 1, 0, 1])
    >>> score = recognisability({"conv1": images}, [0, 1, 0, 1], {"oracle": perfect}, n_bootstrap=20)
    >>> score.dims, float(score.values.squeeze()), score.params["chance"]
    (('generator', 'layer', 'observer'), 1.0, 0.5)
    """
    if not isinstance(observers, Mapping) or not observers:
        raise ConfigError("observers must be a non-empty mapping name -> observer", source="observers",
                          fix="pass e.g. observers={'generator': model, 'knn': PixelKNN().fit(images, labels)}")
    if empty_layers not in ("raise", "drop"):
        raise ConfigError(f"empty_layers must be 'raise' or 'drop', got {empty_layers!r}", source="empty_layers",
                          fix="pass empty_layers='raise' (default) or 'drop'")
    if not 0 < ci_level < 1:
        raise ConfigError(f"ci_level must be in (0, 1), got {ci_level!r}", source="ci_level", fix="use e.g. 0.95")
    layers = _layers(metamers, naturals)
    label_ids, label_values = _label_table(labels)
    mask = _valid_table(valid)
    known = np.unique(label_values)
    mapped = isinstance(classes, Mapping)
    task_classes = list(dict.fromkeys(classes.values())) if mapped else None if classes is None else list(classes)
    classes_list = [c.item() if isinstance(c, np.generic) else c for c in
                    (known if task_classes is None else np.asarray(task_classes))]
    if len(set(classes_list)) != len(classes_list) or len(classes_list) < 2:
        raise ConfigError(f"classes must hold at least two distinct classes, got {classes_list}", source="classes",
                          fix="pass the task's classes, e.g. classes=range(10)")
    outside = [v for v in known.tolist() if v not in set(classes_list)]
    if outside:
        raise ConfigError(f"labels {outside[:5]} are not among classes", source="classes",
                          fix="include every label in classes")
    networks = [name for name, observer in observers.items() if isinstance(observer, nn.Module)]
    if networks and not mapped and not np.issubdtype(label_values.dtype, np.integer):
        raise ConfigError(f"observer {networks[0]!r} is a network, whose answers are logit columns, but the labels "
                          f"have dtype {label_values.dtype}", source="labels",
                          fix="encode labels as the networks' logit columns (0 … n-1)")
    rng = np.random.default_rng(random_state)
    names = list(observers)
    values, resamples, counts, naturals_used, seed_counts, kept, dropped = [], [], {}, {}, {}, [], []
    for layer, (images, ids, seeds) in tqdm(layers.items(), desc="recognisability", disable=not progress):
        n = len(images) // len(seeds)  # natural images; row s * n + i is image i's metamer of seed s
        truth = np.tile(_layer_labels(layer, ids, n, label_ids, label_values), len(seeds))
        keep = _layer_mask(layer, ids, n, seeds, mask).ravel()
        if not keep.any():
            if empty_layers == "raise":
                raise DataError(f"layer {layer!r} has no valid metamer", source="valid",
                                fix="leave the layer out, synthesise more metamers, or pass empty_layers='drop'")
            log.warning("layer %r has no valid metamer: dropped", layer)
            dropped.append(layer)
            continue
        chosen = images if keep.all() else images[torch.as_tensor(np.flatnonzero(keep))]
        correct = np.stack([_answers(observers[name], chosen, classes, name, batch_size) == truth[keep]
                            for name in names])  # (observer, metamer)
        # per natural image: valid metamers and correct answers (exact integers), images without any left out
        image = np.flatnonzero(keep) % n
        n_valid = np.bincount(image, minlength=n)
        n_correct = np.stack([np.bincount(image, weights=row, minlength=n) for row in correct])
        scored = n_valid > 0
        n_valid, n_correct = n_valid[scored], n_correct[:, scored]
        indices = bootstrap_indices(len(n_valid), n_bootstrap, rng)
        values.append(n_correct.sum(axis=1) / n_valid.sum())
        resamples.append((n_correct[:, indices].sum(axis=2) / n_valid[indices].sum(axis=1)).T)  # (resample, obs.)
        counts[layer], naturals_used[layer], seed_counts[layer] = int(keep.sum()), int(scored.sum()), len(seeds)
        kept.append(layer)
    if not kept:
        raise DataError("no layer has a valid metamer", source="valid", fix="check the validity results")
    coords = {"generator": [generator], "layer": kept, "observer": names}
    value = xr.DataArray(np.stack(values)[None], dims=("generator", "layer", "observer"), coords=coords)
    raw = xr.DataArray(np.stack(resamples, axis=1)[:, None], dims=(RESAMPLE, "generator", "layer", "observer"),
                       coords=coords)
    params = {"generator": generator, "chance": 1.0 / len(classes_list), "classes": classes_list,
              "n_images": counts, "n_natural": naturals_used, "n_seeds": seed_counts,
              "n_bootstrap": int(n_bootstrap), "observers": names,
              "random_state": random_state if isinstance(random_state, int) else repr(random_state),
              "dropped_layers": dropped, "classes_restrict_modules": classes is not None}
    if mapped:
        params["class_of_logit"] = {str(column): value.item() if isinstance(value, np.generic) else value
                                    for column, value in classes.items()}
    raw.attrs.update(provenance(params, {"labels": label_values.astype(str)}))
    return Score.from_resamples(value, raw, ci_level=ci_level, metric=METRIC, params=params)


def _layers(metamers: Any, naturals: Any) -> dict[str, tuple[torch.Tensor, np.ndarray | None, list[Any]]]:
    """Layer name → (images ``(S·N, C, H, W)``, seed-major; stimulus ids of the N images or None; the S seeds),
    natural images first (one unnamed seed)."""
    out: dict[str, tuple[torch.Tensor, np.ndarray | None, list[Any]]] = {}
    if naturals is not None:
        out[NATURAL] = (*as_images(naturals, "naturals"), [None])
    if isinstance(metamers, xr.DataArray):
        dims = set(metamers.dims) - {"seed"}
        if dims != {"layer", *IMAGE_DIMS}:
            raise ConfigError(f"metamers has dims {metamers.dims}, expected (layer, [seed,] presentation, channel, "
                              "row, col)", source="metamers",
                              fix="stack the layers' images along a 'layer' dim, or pass a mapping layer -> images")
        layer_names = [str(v) for v in metamers["layer"].values] if "layer" in metamers.coords \
            else [str(i) for i in range(metamers.sizes["layer"])]
        items = [(name, metamers.isel(layer=i, drop=True)) for i, name in enumerate(layer_names)]
    elif isinstance(metamers, Mapping):
        items = [(str(name), images) for name, images in metamers.items()]
    else:
        raise ConfigError(f"metamers is a {type(metamers).__name__}", source="metamers",
                          fix="pass a DataArray with a 'layer' dim or a mapping layer -> images")
    if not items:
        raise ConfigError("metamers holds no layer", source="metamers", fix="pass at least one layer's images")
    for name, images in items:
        if name in out:
            raise ConfigError(f"layer {name!r} appears twice (natural images are the layer {NATURAL!r})",
                              source="metamers", fix=f"rename the layer, or drop naturals= when {NATURAL!r} is given")
        out[name] = _seeded_images(images, f"metamers[{name!r}]")
    return out


def _seeded_images(images: Any, name: str) -> tuple[torch.Tensor, np.ndarray | None, list[Any]]:
    """One layer's metamers, seed-major, with the ids of their natural images and the seeds (``None`` for
    seeds without a coordinate; ``[None]``: no seed dim)."""
    if not (isinstance(images, xr.DataArray) and "seed" in images.dims):
        return (*as_images(images, name), [None])
    if images.sizes["seed"] == 0:
        raise DataError(f"{name} has an empty seed dim", source=name, fix="pass the metamers of at least one seed")
    seeds = images["seed"].values.tolist() if "seed" in images.coords else [None] * images.sizes["seed"]
    if "seed" in images.coords and len(set(seeds)) != len(seeds):
        raise AlignmentError(f"{name} repeats seeds ({seeds})", source=name, fix="give each seed its own value")
    parts = [as_images(images.isel(seed=k, drop=True), f"{name} seed {seed}") for k, seed in enumerate(seeds)]
    return torch.cat([tensor for tensor, _ in parts]), parts[0][1], seeds


def _label_table(labels: Any) -> tuple[pd.Index | None, np.ndarray]:
    if isinstance(labels, xr.DataArray):
        values = labels.values
        ids = pd.Index(labels[STIMULUS_ID].values) if STIMULUS_ID in labels.coords and labels.ndim == 1 else None
        if ids is not None and not ids.is_unique:
            raise AlignmentError(f"labels repeat stimulus ids (e.g. {ids[ids.duplicated()][:3].tolist()})",
                                 source="labels", fix="give one label per stimulus_id")
    else:
        values = labels.detach().cpu().numpy() if hasattr(labels, "detach") else np.asarray(labels)
        ids = None
    if values.ndim != 1 or len(values) == 0:
        raise DataError(f"labels have shape {values.shape}; expected one label per image", source="labels",
                        fix="pass a 1-D array of labels")
    return ids, values


def _layer_labels(layer: str, ids: np.ndarray | None, n: int, label_ids: pd.Index | None,
                  values: np.ndarray) -> np.ndarray:
    if ids is not None and label_ids is not None:
        where = label_ids.get_indexer(ids)
        if (where < 0).any():
            missing = np.asarray(ids)[where < 0][:3].tolist()
            raise AlignmentError(f"{int((where < 0).sum())} images of layer {layer!r} have no label (e.g. {missing})",
                                 source="labels", fix="pass a label for every image's stimulus_id")
        return values[where]
    if len(values) != n:
        raise AlignmentError(f"layer {layer!r} holds {n} images and labels {len(values)}", source="labels",
                             fix="pass one label per image (in the images' order), or label both with stimulus_id")
    return values


def _valid_table(valid: xr.DataArray | None) -> xr.DataArray | None:
    """``valid`` with dims ``(layer, seed, presentation)`` (a length-1 ``seed`` without coordinate if it had none)."""
    if valid is None:
        return None
    if not isinstance(valid, xr.DataArray):
        raise ConfigError(f"valid is a {type(valid).__name__}, not a DataArray", source="valid",
                          fix="pass validity['valid'] from metamer_validity, or a (layer, presentation) DataArray")
    extra = [d for d in valid.dims if d not in ("layer", "seed", PRESENTATION)]
    for dim in extra:
        if valid.sizes[dim] != 1:
            raise ConfigError(f"valid has a {dim!r} dim of size {valid.sizes[dim]}", source="valid",
                              fix=f"select one, e.g. valid.sel({dim}=...)")
    valid = valid.squeeze(extra, drop=True) if extra else valid
    if not {"layer", PRESENTATION} <= set(valid.dims) or "layer" not in valid.coords:
        raise ConfigError(f"valid has dims {valid.dims}; expected (layer, [seed,] presentation) with layer names",
                          source="valid", fix="pass validity['valid'] from metamer_validity")
    if valid.dtype != bool:
        raise DataError(f"valid has dtype {valid.dtype}, expected booleans", source="valid",
                        fix="pass the boolean 'valid' variable of metamer_validity")
    if "seed" not in valid.dims:
        valid = valid.expand_dims("seed")
    return valid.transpose("layer", "seed", PRESENTATION)


def _layer_mask(layer: str, ids: np.ndarray | None, n: int, seeds: list[Any], valid: xr.DataArray | None) -> np.ndarray:
    """Which metamers of a layer are valid: ``(S, N)`` booleans in the order of ``seeds`` and the images."""
    if valid is None:
        return np.ones((len(seeds), n), dtype=bool)
    names = [str(v) for v in valid["layer"].values]
    if layer not in names:
        if layer == NATURAL:
            return np.ones((len(seeds), n), dtype=bool)
        raise AlignmentError(f"valid has no layer {layer!r} (it has {names})", source="valid",
                             fix="pass the validity of every metamer layer (xr.concat the per-layer results)")
    rows = _seed_rows(layer, seeds, valid.isel(layer=names.index(layer)))
    if ids is not None and STIMULUS_ID in rows.coords:
        index = pd.Index(rows[STIMULUS_ID].values)
        where = index.get_indexer(ids)
        if (where < 0).any():
            missing = np.asarray(ids)[where < 0][:3].tolist()
            raise AlignmentError(f"{int((where < 0).sum())} images of layer {layer!r} are not in valid (e.g. "
                                 f"{missing})", source="valid", fix="pass the validity of these very images")
        return np.asarray(rows.values[:, where], dtype=bool)
    if rows.sizes[PRESENTATION] != n:
        raise AlignmentError(f"valid holds {rows.sizes[PRESENTATION]} images for layer {layer!r}, which has {n}",
                             source="valid", fix="pass one validity flag per image, or label both with stimulus_id")
    return np.asarray(rows.values, dtype=bool)


def _seed_rows(layer: str, seeds: list[Any], rows: xr.DataArray) -> xr.DataArray:
    """The ``(seed, presentation)`` validity of one layer, in the order of the metamers' ``seeds``."""
    named = None not in seeds and "seed" in rows.coords
    if named:
        index = pd.Index(rows["seed"].values)
        where = index.get_indexer(seeds) if index.is_unique else np.array([-1])
        if (where < 0).any():
            raise AlignmentError(f"valid's seeds {index.tolist()} of layer {layer!r} do not include each of the "
                                 f"metamers' seeds {seeds} exactly once", source="valid",
                                 fix="pass the validity of every seed the metamers come from")
        return rows.isel(seed=where)
    if rows.sizes["seed"] != len(seeds):
        what = "metamers without a seed dim" if seeds == [None] else f"metamers of {len(seeds)} seeds"
        raise (ConfigError if seeds == [None] else AlignmentError)(
            f"valid has a 'seed' dim of size {rows.sizes['seed']} for the {what} of layer {layer!r}", source="valid",
            fix="give the metamers a matching 'seed' dim, or select one seed of valid, e.g. valid.sel(seed=...)")
    return rows


def _answers(observer: Observer, images: torch.Tensor, classes: Sequence[Any] | Mapping[int, Any] | None,
             name: str, batch_size: int) -> np.ndarray:
    """An observer's answers; a network chooses among the logit columns of ``classes`` (mapped to their class)."""
    if classes is None or not isinstance(observer, nn.Module):
        return predict_labels(observer, images, batch_size=batch_size, name=name)
    columns, of_column = _columns(classes, name)
    picked = predict_labels(observer, images, classes=columns, batch_size=batch_size, name=name)
    if of_column is None:
        return picked
    lookup = dict(zip(columns.tolist(), of_column))
    return np.asarray([lookup[int(c)] for c in picked])


def _columns(classes: Sequence[Any] | Mapping[int, Any], name: str) -> tuple[np.ndarray, list[Any] | None]:
    """The logit columns of ``classes``, and the class of each (None: each column is its own class)."""
    mapped = isinstance(classes, Mapping)
    columns = np.asarray(list(classes))
    if not np.issubdtype(columns.dtype, np.integer):
        raise ConfigError(f"observer {name!r} is a network, so classes must be its logit columns (integers"
                          f"{', the keys of the mapping' if mapped else ''}), got {columns.dtype}", source="classes",
                          fix="encode classes as logit columns, or wrap the network in a callable images -> labels")
    return columns, [classes[c] for c in classes] if mapped else None
