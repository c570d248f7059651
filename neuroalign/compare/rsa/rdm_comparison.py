"""Comparing RDMs: one dispatcher, :func:`compare_rdms`, over a registry of methods.

Dims broadcast the xarray way: a dim present in both inputs (other than
``pair``) is matched element by element (e.g. ``split`` or ``resample``), a
dim present in only one is crossed (``model`` × ``subject`` gives a
many-to-many table).  To cross two batches that share a dim name, rename one
(``b.rename(model="model_b")``).  Plain arrays are wrapped with
:func:`~neuroalign.compare.as_rdm`; their batch dims become ``rdm_a`` and
``rdm_b`` (crossed).

NaN policy: a NaN dissimilarity (e.g. the pair of two copies of one stimulus
in a bootstrap resample, or a missing entry of a measured RDM) is dropped
pairwise — each comparison uses the pairs that are finite in both RDMs, and
ranks are computed within those pairs.  rsatoolbox instead requires the same
NaN positions in every RDM and drops them from all; where its rule applies the
numbers are the same.  A comparison left with fewer than 3 pairs, or with a
constant RDM, raises :class:`~neuroalign.errors.DataError` (or gives NaN, with
a logged warning, when ``on_degenerate="nan"``); no NaN is returned silently.
Bures similarity needs complete RDMs.

Pair weights (``weights=``) repeat pairs: weight c counts a pair c times.
With :func:`pair_weights` of bootstrap indices, the comparison of the original
RDMs equals that of the resampled RDMs of :func:`~neuroalign.compare.resample_rdm`
— without building them, and for the Kendall taus far faster.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from ...data.align import stimulus_mismatch_error
from ...data.provenance import provenance
from ...errors import (
    AlignmentError,
    ConfigError,
    DataError,
    SchemaError,
    UnknownNameError,
)
from . import comparison_methods as cm
from . import whitened_comparisons as wc
from ..common.bootstrap import RESAMPLE, counts_to_pair_weights, resample_counts
from .rdm import PAIR, as_rdm, rdm_stimulus_ids, to_square, to_vector

__all__ = ["RDM_COMPARISONS", "RDMComparison", "compare_rdms", "pair_weights"]

log = logging.getLogger(__name__)

_CHUNK = 1_000_000  # elements of the (rows, k, n) work arrays per call: large fresh arrays page-fault


@dataclass(frozen=True)
class RDMComparison:
    """One entry of :data:`RDM_COMPARISONS`.

    ``kernel(a, b, w)`` maps ``(s_a, k_a, n)``, ``(s_b, k_b, n)`` and weights
    ``(s_w, n)`` to ``(s, k_a, k_b)`` (see :mod:`neuroalign.compare.rsa.comparison_methods`).
    ``weights``: accepts pair weights; ``integer_weights``: they must be whole
    numbers (the rank methods count ties); ``complete``: needs complete,
    unweighted RDMs; ``sigma_k``: takes rsatoolbox's ``sigma_k``;
    ``loops``: the kernel iterates over rows itself (its memory grows with n only).
    """

    kernel: Callable[..., np.ndarray]
    description: str
    rsatoolbox: str | None
    weights: bool = True
    integer_weights: bool = False
    complete: bool = False
    sigma_k: bool = False
    loops: bool = False


_PEARSON = RDMComparison(cm.pearson, "Pearson r", "corr")
_TAU_B = RDMComparison(cm.tau_b, "Kendall tau-b (ties corrected)", "tau-b", integer_weights=True, loops=True)

#: Registry of RDM comparison methods (``compare_rdms(method=...)``); aliases share an entry.
RDM_COMPARISONS: dict[str, RDMComparison] = {
    "cosine": RDMComparison(cm.cosine, "cosine similarity", "cosine"),
    "corr": _PEARSON,
    "pearson": _PEARSON,
    "spearman": RDMComparison(cm.spearman, "Spearman rho (Pearson r of mid-ranks)", "spearman",
                              integer_weights=True),
    "rho-a": RDMComparison(cm.rho_a, "Spearman rho-a (no tie correction)", "rho-a", integer_weights=True),
    "tau-a": RDMComparison(cm.tau_a, "Kendall tau-a (ties not corrected)", "tau-a", integer_weights=True,
                           loops=True),
    "tau-b": _TAU_B,
    "kendall": _TAU_B,
    "corr_cov": RDMComparison(wc.corr_cov, "Pearson r after whitening the distance covariance", "corr_cov",
                              weights=False, sigma_k=True, loops=True),
    "cosine_cov": RDMComparison(wc.cosine_cov, "cosine after whitening the distance covariance", "cosine_cov",
                                weights=False, sigma_k=True, loops=True),
    "bures": RDMComparison(wc.bures, "Bures similarity of the centred second moments", "bures", weights=False,
                           complete=True, loops=True),
}


def pair_weights(indices: np.ndarray, n_stimuli: int | None = None) -> xr.DataArray:
    """How often each pair appears in stimulus resamples: ``(resample, pair)`` weights c_i·c_j.

    ``indices[r]`` lists the stimuli drawn in resample ``r`` (positions in
    the RDMs' stimulus order, e.g. from
    :func:`~neuroalign.compare.bootstrap_indices`); c_i counts stimulus i.
    Pairs of a stimulus with its own copy are not counted (their
    dissimilarity is zero by construction), as in
    :func:`~neuroalign.compare.resample_rdm`.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import pair_weights
    >>> pair_weights(np.array([[0, 0, 2]])).values.tolist()  # pairs (0,1), (0,2), (1,2)
    [[0.0, 2.0, 0.0]]
    """
    indices = np.asarray(indices)
    if indices.ndim != 2 or not np.issubdtype(indices.dtype, np.integer):
        raise ConfigError(f"indices must be a 2-D integer array (resample, draw), got {indices.dtype} "
                          f"{indices.shape}", source="indices", fix="pass bootstrap_indices(n, n_bootstrap)")
    n = int(n_stimuli if n_stimuli is not None else indices.shape[1])
    return xr.DataArray(counts_to_pair_weights(resample_counts(indices, n)), dims=(RESAMPLE, PAIR))


def _labelled(rdm: Any, side: str) -> xr.DataArray:
    if isinstance(rdm, xr.DataArray):
        return as_rdm(rdm)
    rdm = as_rdm(rdm)
    return rdm.rename({d: f"rdm_{side}" if d == "rdm" else f"{d}_{side}" for d in rdm.dims if d != PAIR})


def matched_rdm(a: Any, b: Any) -> xr.DataArray:
    """``b`` checked and labelled as :func:`compare_rdms` takes it, in the stimulus order of the RDMs ``a``."""
    return _matched(_labelled(a, "a"), _labelled(b, "b"))


def _matched(a: xr.DataArray, b: xr.DataArray) -> xr.DataArray:
    """``b`` with its stimuli in the order of ``a`` (explicit join on stimulus ids)."""
    ids_a, ids_b = rdm_stimulus_ids(a), rdm_stimulus_ids(b)
    if np.array_equal(ids_a, ids_b):
        return b
    if set(ids_a.tolist()) != set(ids_b.tolist()) or len(ids_a) != len(ids_b):
        raise stimulus_mismatch_error(ids_a, ids_b, names=("a", "b"), kind="rdm",
                                      fix="compute both RDMs on the same stimulus set")
    square = to_square(b).sel(stimulus_id_a=ids_a, stimulus_id_b=ids_a)
    return to_vector(square)


def _weights(weights: Any, n_pairs: int, spec: RDMComparison, method: str) -> xr.DataArray | None:
    if weights is None:
        return None
    if not spec.weights:
        raise ConfigError(f"method {method!r} takes no pair weights", source="weights",
                          fix="compare resampled RDMs (resample_rdm) instead, or pick another method")
    if not isinstance(weights, xr.DataArray):
        weights = np.asarray(weights, dtype=float)
        if weights.ndim != 1:
            raise SchemaError(f"plain weights must be one vector over pairs, got shape {weights.shape}",
                              source="weights", fix="label the extra dims, e.g. pair_weights(indices)")
        weights = xr.DataArray(weights, dims=(PAIR,))
    if PAIR not in weights.dims or weights.sizes[PAIR] != n_pairs:
        raise SchemaError(f"weights need a 'pair' dim of size {n_pairs}", source="weights",
                          fix="give one weight per pair of the RDMs, in the pair order of `a`")
    values = weights.values
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise DataError("weights must be finite and non-negative", source="weights", fix="check the weights")
    if spec.integer_weights and not np.array_equal(values, np.round(values)):
        raise DataError(f"method {method!r} counts tied pairs, so weights must be whole numbers", source="weights",
                        fix="pass repeat counts (e.g. pair_weights(indices))")
    return weights.astype(float)


def _stack(x: xr.DataArray, shared: list[str], own: list[str], sizes: dict[str, int]) -> np.ndarray:
    """``(s, k, n)`` values: s over the shared dims (1 if ``x`` has none), k over its own dims."""
    present = [d for d in shared if d in x.dims]
    if present and len(present) < len(shared):
        x = x.expand_dims({d: sizes[d] for d in shared if d not in x.dims})
        present = shared
    x = x.transpose(*present, *own, PAIR)
    s = int(np.prod([sizes[d] for d in present])) if present else 1
    k = int(np.prod([sizes[d] for d in own])) if own else 1
    return np.asarray(x.values, dtype=float).reshape(s, k, x.sizes[PAIR])


def _run(spec: RDMComparison, a: np.ndarray, b: np.ndarray, w: np.ndarray, options: dict) -> np.ndarray:
    """Call the kernel over chunks of the shared axis."""
    s = max(a.shape[0], b.shape[0], w.shape[0])
    per_row = a.shape[-1] * (1 if spec.loops else max(a.shape[1], b.shape[1]))
    step = max(1, _CHUNK // per_row) if not spec.loops else max(1, 5 * _CHUNK // per_row)
    if s <= step:
        return spec.kernel(a, b, w, **options)
    parts = []
    for start in range(0, s, step):
        part = slice(start, start + step)
        parts.append(spec.kernel(*(x[part] if x.shape[0] > 1 else x for x in (a, b, w)), **options))
    return np.concatenate(parts, axis=0)


def compare_rdms(
    a: Any,
    b: Any,
    method: str = "corr",
    *,
    weights: Any = None,
    sigma_k: np.ndarray | None = None,
    on_degenerate: str = "raise",
) -> xr.DataArray:
    """Similarity of RDMs ``a`` and ``b``, broadcast over their batch dims (many-to-many in one call).

    Parameters
    ----------
    a, b : xarray.DataArray or array_like
        RDMs from :func:`compute_rdm`/:func:`as_rdm`, or anything
        :func:`as_rdm` takes (plain square matrices or vectors).  ``b`` is
        matched to ``a``'s stimulus order by id; different stimulus sets raise.
    method : str
        One of :data:`RDM_COMPARISONS`: ``"cosine"``, ``"corr"``/``"pearson"``,
        ``"spearman"``, ``"rho-a"``, ``"tau-a"``, ``"tau-b"``/``"kendall"``,
        ``"corr_cov"``, ``"cosine_cov"``, ``"bures"``.
    weights : xarray.DataArray or array_like, optional
        Non-negative pair weights (repeat counts), dims ``pair`` plus
        optional batch dims (matched like shared dims), in the pair order of
        ``a``; see :func:`pair_weights`.  Not for the whitened methods or Bures.
    sigma_k : numpy.ndarray, optional
        Covariance of the pattern estimates for ``corr_cov``/``cosine_cov``:
        ``(n,)`` diagonal or ``(n, n)`` (rsatoolbox's ``sigma_k``).
    on_degenerate : {"raise", "nan"}
        What a comparison with fewer than 3 usable pairs or a constant RDM
        does: raise :class:`DataError`, or give NaN with a logged warning.

    Returns
    -------
    xarray.DataArray
        Dims: the shared dims, then ``a``'s own, then ``b``'s own.

    Raises
    ------
    AlignmentError
        The RDMs describe different stimuli, or shared dims disagree.
    DataError
        Degenerate comparisons, NaN for Bures, invalid weights.
    ConfigError, UnknownNameError
        Invalid options or method.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import compare_rdms, to_vector
    >>> a = to_vector(np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0.]]))
    >>> float(compare_rdms(a, a * 2 + 1, method="spearman"))
    1.0
    >>> d = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0.]])
    >>> compare_rdms(np.stack([d, d ** 2, np.sqrt(d)]), d, "tau-a").values.round(3).tolist()
    [1.0, 1.0, 1.0]
    """
    options = checked_options(method, on_degenerate, sigma_k)
    return compared(a, b, method, options, weights=weights, on_degenerate=on_degenerate)


def checked_options(method: str, on_degenerate: str, sigma_k: np.ndarray | None = None) -> dict:
    """The kernel options of :func:`compare_rdms` after checking its ``method``, ``on_degenerate`` and ``sigma_k``."""
    if method not in RDM_COMPARISONS:
        raise UnknownNameError(method, RDM_COMPARISONS, what="RDM comparison method", source="method")
    if on_degenerate not in ("raise", "nan"):
        raise ConfigError(f"on_degenerate must be 'raise' or 'nan', got {on_degenerate!r}", source="on_degenerate",
                          fix="pass on_degenerate='raise' (default) or 'nan'")
    spec = RDM_COMPARISONS[method]
    options = {}
    if sigma_k is not None:
        if not spec.sigma_k:
            raise ConfigError(f"method {method!r} takes no sigma_k", source="sigma_k",
                              fix="pass sigma_k only with 'corr_cov' or 'cosine_cov'")
        options["sigma_k"] = np.asarray(sigma_k, dtype=float)
    return options


def compared(a: Any, b: Any, method: str, options: dict, *, weights: Any = None, on_degenerate: str = "raise",
             record: bool = True, b_matched: bool = False) -> xr.DataArray:
    """:func:`compare_rdms` with options from :func:`checked_options`.

    For a caller that compares the chunks of one input ``a`` with the same
    ``b``: ``record=False`` leaves out the provenance attrs (hashes of ``a``
    and ``b``; the caller records the whole inputs once), and
    ``b_matched=True`` takes ``b`` as :func:`matched_rdm` returned it for
    ``a``'s stimuli (checked and ordered once, not per chunk).
    """
    spec = RDM_COMPARISONS[method]
    sigma_k = options.get("sigma_k")
    a = _labelled(a, "a")
    b = b if b_matched else _matched(a, _labelled(b, "b"))
    n = a.sizes[PAIR]
    w_da = _weights(weights, n, spec, method)
    a_dims = [d for d in a.dims if d != PAIR]
    b_dims = [d for d in b.dims if d != PAIR]
    w_dims = [d for d in w_da.dims if d != PAIR] if w_da is not None else []
    shared = [d for d in a_dims if d in b_dims or d in w_dims]
    shared += [d for d in b_dims if d in w_dims and d not in shared]
    shared += [d for d in w_dims if d not in shared]
    a_own = [d for d in a_dims if d not in shared]
    b_own = [d for d in b_dims if d not in shared]
    objects = [x for x in (a, b, w_da) if x is not None]
    try:
        objects = list(xr.align(*objects, join="exact", exclude=[PAIR], copy=False))  # read only: no copies
    except ValueError as err:
        raise AlignmentError(f"shared dims disagree: {err}", source="a/b",
                             fix="select the same labels along shared dims, or rename one to cross them") from None
    sizes: dict[str, int] = {}
    for x in objects:
        for d in x.dims:
            if d in sizes and sizes[d] != x.sizes[d]:
                raise AlignmentError(f"dim {d!r} has size {sizes[d]} in one input and {x.sizes[d]} in another",
                                     source="a/b", fix="select matching elements, or rename the dim to cross them")
            sizes[d] = x.sizes[d]
    a, b = objects[0], objects[1]
    va, vb = _stack(a, shared, a_own, sizes), _stack(b, shared, b_own, sizes)
    w = np.ones((1, n)) if w_da is None else _stack(objects[2], shared, [], sizes)[:, 0, :]
    valid_a, valid_b = ~np.isnan(va), ~np.isnan(vb)
    if spec.complete and (w_da is not None or not (valid_a.all() and valid_b.all())):
        raise DataError(f"method {method!r} needs complete RDMs, but some dissimilarities are NaN", source="a/b",
                        fix="fill or drop the missing entries, or use a rank or correlation method")
    va, vb = np.where(valid_a, va, 0.0), np.where(valid_b, vb, 0.0)
    shared_masks = (valid_a == valid_a[:, :1]).all() and (valid_b == valid_b[:, :1]).all()
    if shared_masks:
        w = w * valid_a[:, 0] * valid_b[:, 0]
        values = _run(spec, va, vb, w, options)
        counts = np.broadcast_to(w.sum(axis=-1)[:, None, None], values.shape)
    else:
        values, counts = _pairwise(spec, va, vb, w, valid_a, valid_b, options)
    values = _check(values, counts, method, on_degenerate)
    out_dims = [*shared, *a_own, *b_own]
    values = values.reshape([sizes[d] for d in out_dims])
    coords: dict[str, Any] = {}
    for x in objects:
        for name, coord in x.coords.items():
            if PAIR not in coord.dims and set(coord.dims) <= set(out_dims) and name not in coords:
                coords[name] = coord
    attrs = {"method": method, "n_pairs": n}
    if record:
        attrs.update(provenance({"method": method, "weighted": w_da is not None, "sigma_k": sigma_k is not None},
                                {"a": a, "b": b}))
    return xr.DataArray(values, dims=out_dims, coords=coords, attrs=attrs)


def _pairwise(spec, va, vb, w, valid_a, valid_b, options):
    """Comparisons whose NaN positions differ between RDMs: one kernel call per comparison."""
    s = max(va.shape[0], vb.shape[0], w.shape[0])
    values = np.empty((s, va.shape[1], vb.shape[1]))
    counts = np.empty_like(values)
    for row in range(s):
        ra, rb, rw = (min(row, x.shape[0] - 1) for x in (va, vb, w))
        for i in range(va.shape[1]):
            for j in range(vb.shape[1]):
                joint = w[rw] * valid_a[ra, i] * valid_b[rb, j]
                counts[row, i, j] = joint.sum()
                values[row, i, j] = spec.kernel(va[ra, i][None, None], vb[rb, j][None, None], joint[None],
                                                **options)[0, 0, 0]
    return values, counts


def _check(values: np.ndarray, counts: np.ndarray, method: str, on_degenerate: str) -> np.ndarray:
    values = np.where(counts >= 3, values, np.nan)
    bad = np.isnan(values)
    if not bad.any():
        return values
    few = int(np.count_nonzero(counts < 3))
    if few:
        problem = f"{few} comparison(s) have fewer than 3 pairs that are finite in both RDMs"
        fix = "drop NaN dissimilarities or use more stimuli"
    else:
        problem = (f"{int(bad.sum())} comparison(s) involve an RDM that is constant over the compared pairs, "
                   f"so {method!r} is undefined")
        fix = "check the data (e.g. identical patterns) or compare with method='cosine'"
    if on_degenerate == "raise":
        raise DataError(problem, source="a/b", fix=fix + ", or pass on_degenerate='nan'")
    log.warning("%s; they are NaN", problem)
    return values
