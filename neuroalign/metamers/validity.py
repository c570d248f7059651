"""Which model metamers are valid: Feather et al.'s (2023) two criteria.

A metamer generated at one layer of a model is *valid* when

1. the generating model still gives it the natural image's label (the argmax
   of its logits, optionally among a subset of logit columns, each naming a
   class: Feather et al. take the top-ranked ImageNet class that belongs to one
   of 16 categories, and answer with its category), and
2. its activations at the generating layer match the natural image's better
   than two different natural images match: Spearman, Pearson and SNR (dB)
   each exceed the maximum (or a chosen quantile) of a null distribution of
   random pairs of distinct natural images at that layer
   (:mod:`neuroalign.metamers.activation_matching`).

:func:`metamer_validity` returns one row per natural image, keyed by its
``stimulus_id``, with length-1 ``layer`` and ``seed`` dims so that results of
several layers and seeds concatenate with ``xr.concat(..., dim="layer")``.

Where this follows Feather et al.'s code (jenellefeather/model_metamers_pytorch)
and where it chooses otherwise:

- Their label check compares the metamer's 16-way answer with the model's
  16-way answer *on the natural image* (``preserve="prediction"``); by default
  the answer is compared with the given ``labels`` (``preserve="label"``).  The
  two agree for every natural image the model classifies correctly.
- Their null pairs come from augmented training images (10⁶ pairs); the default
  null here pairs the natural images whose metamers are tested (pass
  ``null_images`` for theirs).  Pairs are same-layer, of two different images.
- Their check flags a metamer whose measure is *below* the null's maximum, so a
  tie passes; here each measure must be strictly above it (a tie is no closer
  than two different natural images).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from ..data.align import stimulus_mismatch_error
from ..data.provenance import provenance
from ..data.schema import PRESENTATION, STIMULUS_ID
from ..errors import AlignmentError, ConfigError, DataError
from ..extract.fingerprint import model_hash
from ..extract.layers import LayerSpec
from .activation_matching import CRITERION_MEASURES, MEASURES, activation_match, null_distribution, null_thresholds
from .classify import as_images, evaluating, predict_labels
from .layer_forward import LayerForward

__all__ = ["metamer_validity", "activations_at"]

log = logging.getLogger(__name__)


def activations_at(model: nn.Module, layer: LayerSpec, images: Any, *, batch_size: int = 256,
                   progress: bool = False, name: str = "images") -> np.ndarray:
    """One layer's activations, flattened per image, as float64: ``(N, units)``.

    Runs in batches under ``torch.no_grad()`` with the model in eval mode (its
    training flags restored afterwards); later layers do not run
    (:class:`~neuroalign.metamers.layer_forward.LayerForward`).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.validity import activations_at
    >>> from neuroalign.models import ReferenceNet
    >>> activations_at(ReferenceNet(seed=0), "block1", torch.zeros(3, 3, 32, 32)).shape
    (3, 4096)
    """
    tensor, _ = as_images(images, name)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}", source="batch_size",
                          fix="pass e.g. batch_size=256")
    forward = LayerForward(model, layer)
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else tensor.dtype
    parts = []
    starts = range(0, len(tensor), int(batch_size))
    with evaluating(model), torch.no_grad(), forward:
        for start in tqdm(starts, desc=f"activations {forward.layer}", disable=not progress):
            batch = tensor[start:start + int(batch_size)].to(device=device, dtype=dtype)
            parts.append(forward(batch).flatten(1).double().cpu().numpy())
    return np.concatenate(parts)


def metamer_validity(
    model: nn.Module,
    layer: LayerSpec,
    metamers: Any,
    naturals: Any,
    labels: Any = None,
    *,
    stimulus_ids: Sequence[Any] | None = None,
    seed: int = 0,
    null_images: Any = None,
    n_null: int = 1000,
    criterion: str | float = "max",
    label_subset: Sequence[int] | Mapping[int, int] | None = None,
    preserve: Literal["label", "prediction"] = "label",
    random_state: int | np.random.Generator = 0,
    constant: Literal["raise", "zero"] = "raise",
    batch_size: int = 256,
    progress: bool = False,
) -> xr.Dataset:
    """Feather et al.'s validity criteria for metamers generated at one layer.

    Parameters
    ----------
    model : torch.nn.Module
        The generating model (a classifier returning logits).
    layer : str or layer spec
        The generating layer (one module, see :func:`neuroalign.extract.resolve_layers`).
    metamers, naturals : torch.Tensor or xarray.DataArray
        ``(N, C, H, W)`` images: metamer ``i`` was generated from natural
        image ``i``.  DataArrays have dims ``(presentation, channel, row,
        col)``; where both carry ``stimulus_id``, metamers are matched to
        natural images by id (the result keeps the natural images' order).
    labels : array_like or xarray.DataArray, optional
        The natural images' labels, in their order (or a DataArray with
        ``stimulus_id``, matched by id); default: the ``label`` coordinate of
        ``naturals``.
    stimulus_ids : sequence, optional
        Ids of inputs given as tensors; default ``"0"``, ``"1"``, … (or the
        other input's ids).
    seed : int
        The synthesis seed the metamers came from (a coordinate of the result).
    null_images : torch.Tensor or xarray.DataArray, optional
        Natural images whose pairs form the null (default: ``naturals``).
    n_null : int
        Number of random ordered pairs of distinct images in the null.
    criterion : "max" or float
        Each measure must exceed the null's maximum (Feather et al.) or its
        ``criterion`` quantile (which needs ``n_null >= 1/(1 − q)``).
    label_subset : sequence of int or mapping, optional
        Logit columns the model's answer is chosen among; every label must be
        one of them.  A mapping logit column → class lets several columns
        name one class: the answer is the class of the top-ranked column among
        the mapping's keys (Feather et al.'s 16-way choice among the ImageNet
        classes of 16 categories); labels are then classes.
    preserve : {"label", "prediction"}
        What the metamer's answer must equal: the natural image's label
        (``labels``), or the model's answer on the natural image (Feather et
        al.'s check; the answers are in ``natural_predicted_label``).
    random_state : int or numpy.random.Generator
        Seed of the null's pair draw.
    constant : {"raise", "zero"}
        Constant activations: raise, or score their correlations as 0
        (:func:`~neuroalign.metamers.activation_matching.activation_match`).
    batch_size : int
        Images per forward pass.
    progress : bool
        Show progress bars.

    Returns
    -------
    xarray.Dataset
        Dims ``layer`` (1), ``seed`` (1), ``presentation`` (coords
        ``stimulus_id`` and ``label``).  Variables: ``spearman``, ``pearson``,
        ``snr_db``, ``relative_l2``, ``predicted_label``, ``label_preserved``,
        ``<measure>_threshold`` for the three criterion measures, and
        ``valid`` (label preserved and every criterion measure strictly above
        its threshold); with ``preserve="prediction"`` also
        ``natural_predicted_label``.  Attributes: provenance, ``criterion``,
        ``n_null``, ``preserve``.

    Raises
    ------
    AlignmentError
        Metamers and natural images differ in shape or stimulus ids.
    DataError
        Too few natural images or pairs for the null and criterion, constant
        activations (``constant="raise"``), non-finite images.
    ConfigError
        A label outside ``label_subset``, or invalid settings.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.validity import metamer_validity
    >>> from neuroalign.models import ReferenceNet
    >>> net = ReferenceNet(seed=0).eval()
    >>> naturals = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> labels = net(naturals).argmax(1)
    >>> result = metamer_validity(net, "block2", naturals.clone(), naturals, labels, n_null=30)
    >>> result["valid"].dims, bool(result["valid"].all())
    (('layer', 'seed', 'presentation'), True)
    """
    met, met_ids = as_images(metamers, "metamers")
    nat, nat_ids = as_images(naturals, "naturals")
    ids, order = _matched_ids(met_ids, nat_ids, stimulus_ids, len(met), len(nat))
    if order is not None:
        met = met[torch.as_tensor(order)]
    if met.shape != nat.shape:
        raise AlignmentError(f"metamers have shape {tuple(met.shape)} and natural images {tuple(nat.shape)}",
                             source="metamers/naturals", fix="pass one metamer per natural image, of the same size")
    if preserve not in ("label", "prediction"):
        raise ConfigError(f"preserve must be 'label' or 'prediction', got {preserve!r}", source="preserve",
                          fix="pass preserve='label' (default) or preserve='prediction' (Feather et al.)")
    truth = _labels(labels, naturals, ids)
    subset, classes_of = _label_subset(label_subset, truth)
    forward = LayerForward(model, layer)  # resolves and checks the layer before any work
    name = forward.layer
    met_acts = activations_at(model, name, met, batch_size=batch_size, progress=progress, name="metamers")
    nat_acts = activations_at(model, name, nat, batch_size=batch_size, progress=progress, name="naturals")
    null_acts = nat_acts if null_images is None else activations_at(
        model, name, null_images, batch_size=batch_size, progress=progress, name="null_images")
    null = null_distribution(null_acts, n_null, random_state=random_state, constant=constant,
                             name="naturals" if null_images is None else "null_images")
    thresholds = null_thresholds(null, criterion)
    match = activation_match(met_acts, nat_acts, constant=constant,
                             names=("metamer activations", "natural activations"))
    predicted = classes_of(predict_labels(model, met, classes=subset, batch_size=batch_size, name="model"))
    reference = truth
    if preserve == "prediction":
        reference = classes_of(predict_labels(model, nat, classes=subset, batch_size=batch_size, name="model"))
    preserved = predicted == reference
    valid = preserved.copy()
    for measure in CRITERION_MEASURES:
        valid &= match[measure].values > thresholds[measure]

    def per_image(values: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
        return ("layer", "seed", PRESENTATION), np.asarray(values)[None, None, :]

    data = {m: per_image(match[m].values) for m in MEASURES}
    data["predicted_label"] = per_image(predicted)
    data["label_preserved"] = per_image(preserved)
    if preserve == "prediction":
        data["natural_predicted_label"] = per_image(reference)
    data.update({f"{m}_threshold": (("layer", "seed"), [[thresholds[m]]]) for m in CRITERION_MEASURES})
    data["valid"] = per_image(valid)
    params = {"layer": name, "seed": int(seed), "n_null": int(n_null), "criterion": criterion,
              "label_subset": None if subset is None else (
                  {str(int(c)): int(k) for c, k in label_subset.items()} if isinstance(label_subset, Mapping)
                  else [int(c) for c in subset]), "preserve": preserve,
              "random_state": random_state if isinstance(random_state, int) else repr(random_state),
              "constant": constant, "model": model_hash(model)}
    inputs = {"metamers": met.cpu().numpy(), "naturals": nat.cpu().numpy(), "labels": truth}
    if null_images is not None:
        inputs["null_images"] = as_images(null_images, "null_images")[0].cpu().numpy()
    attrs = {**provenance(params, inputs), "criterion": str(criterion), "n_null": int(n_null), "preserve": preserve}
    coords = {"layer": [name], "seed": [int(seed)], STIMULUS_ID: (PRESENTATION, ids), "label": (PRESENTATION, truth)}
    result = xr.Dataset(data, coords=coords, attrs=attrs)
    log.info("layer %s, seed %d: %d of %d metamers valid (%d keep the label)", name, seed, int(valid.sum()),
             len(valid), int(preserved.sum()))
    return result


def _matched_ids(met_ids: np.ndarray | None, nat_ids: np.ndarray | None, stimulus_ids: Sequence[Any] | None,
                 n_met: int, n_nat: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The natural images' ids, and the metamer order that matches them (None: as given)."""
    given = None
    if stimulus_ids is not None:
        given = np.asarray(list(stimulus_ids))
        if met_ids is not None and nat_ids is not None:
            raise ConfigError("stimulus_ids labels tensor inputs, but metamers and naturals both carry stimulus_id",
                              source="stimulus_ids", fix="drop stimulus_ids=, or pass tensors")
        target = n_nat if nat_ids is None else n_met
        if given.ndim != 1 or len(given) != target:
            raise AlignmentError(f"stimulus_ids has {given.size} ids for {target} images", source="stimulus_ids",
                                 fix="pass one id per image")
    nat_ids = nat_ids if nat_ids is not None else given if given is not None else met_ids
    met_ids = met_ids if met_ids is not None else given if given is not None else nat_ids
    if nat_ids is None:
        if n_met != n_nat:
            raise AlignmentError(f"{n_met} metamers for {n_nat} natural images", source="metamers/naturals",
                                 fix="pass one metamer per natural image")
        ids = np.array([str(i) for i in range(n_nat)])
        return ids, None
    for ids, name in ((nat_ids, "naturals"), (met_ids, "metamers")):
        index = pd.Index(ids)
        if not index.is_unique:
            raise AlignmentError(f"stimulus_id is repeated in {name} (e.g. {index[index.duplicated()][:3].tolist()})",
                                 source=name, fix="give every image its own stimulus_id")
    if len(met_ids) != n_met or len(nat_ids) != n_nat:
        raise AlignmentError(f"{n_met} metamers for {n_nat} natural images", source="metamers/naturals",
                             fix="pass one metamer per natural image")
    nat_index, met_index = pd.Index(nat_ids), pd.Index(met_ids)
    if len(nat_index) != len(met_index) or not nat_index.isin(met_index).all():
        raise stimulus_mismatch_error(met_ids, nat_ids, names=("metamers", "naturals"),
                                      fix="pass the metamers of exactly the natural images given, labelled with "
                                          "their natural image's stimulus_id")
    order = met_index.get_indexer(nat_index)
    if (order == np.arange(len(order))).all():
        return np.asarray(nat_ids), None
    log.info("metamers matched to natural images by stimulus_id (order differed)")
    return np.asarray(nat_ids), order


def _labels(labels: Any, naturals: Any, ids: np.ndarray) -> np.ndarray:
    """Integer labels in the natural images' order."""
    if labels is None:
        if not (isinstance(naturals, xr.DataArray) and "label" in naturals.coords):
            raise ConfigError("no labels given and naturals has no 'label' coordinate", source="labels",
                              fix="pass labels=... (one class per natural image)")
        labels = naturals["label"]
    if isinstance(labels, xr.DataArray) and STIMULUS_ID in labels.coords and labels.ndim == 1:
        index = pd.Index(labels[STIMULUS_ID].values)
        if not index.is_unique or len(index) != len(ids) or not pd.Index(ids).isin(index).all():
            raise stimulus_mismatch_error(index, ids, names=("labels", "naturals"),
                                          fix="pass one label per natural image, labelled with its stimulus_id")
        values = labels.values[index.get_indexer(ids)]
    elif isinstance(labels, torch.Tensor):
        values = labels.detach().cpu().numpy()
    else:
        values = np.asarray(labels.values if isinstance(labels, xr.DataArray) else labels)
    if values.shape != (len(ids),):
        raise AlignmentError(f"labels have shape {values.shape} for {len(ids)} natural images", source="labels",
                             fix="pass one label per natural image")
    if not np.issubdtype(values.dtype, np.integer):
        whole = np.issubdtype(values.dtype, np.floating) and np.isfinite(values).all()
        if whole and (values == np.round(values)).all():
            values = values.astype(np.int64)
        else:
            raise DataError(f"labels must be integer classes (logit columns), got dtype {values.dtype}",
                            source="labels", fix="encode classes as the model's logit columns 0 … n-1")
    return values.astype(np.int64)


def _label_subset(label_subset: Sequence[int] | Mapping[int, int] | None, truth: np.ndarray
                  ) -> tuple[np.ndarray | None, Callable[[np.ndarray], np.ndarray]]:
    """The logit columns to choose among, and the map from a chosen column to its class."""
    if label_subset is None:
        return None, lambda columns: columns
    mapping = isinstance(label_subset, Mapping)
    subset = np.asarray(list(label_subset))
    fix = "pass the logit columns to choose among, e.g. [0, 3, 7], or a mapping column -> class"
    if subset.ndim != 1 or len(subset) < 2 or not np.issubdtype(subset.dtype, np.integer) \
            or len(np.unique(subset)) != len(subset):
        raise ConfigError(f"label_subset must list at least two distinct integer logit columns, got "
                          f"{list(label_subset)}", source="label_subset", fix=fix)
    classes = np.asarray([label_subset[c] for c in label_subset]) if mapping else subset
    if not np.issubdtype(classes.dtype, np.integer) or len(np.unique(classes)) < 2:
        raise ConfigError(f"label_subset must map its columns to at least two integer classes, got "
                          f"{sorted(set(classes.tolist()))}", source="label_subset", fix=fix)
    outside = np.setdiff1d(np.unique(truth), classes)
    if len(outside):
        raise ConfigError(f"labels {outside[:5].tolist()} are not in label_subset", source="label_subset",
                          fix="include every natural image's label in label_subset")
    if not mapping:
        return subset, lambda columns: columns
    lookup = dict(zip(subset.tolist(), classes.tolist()))
    return subset, lambda columns: np.asarray([lookup[int(c)] for c in columns], dtype=np.int64)
