"""All-pairs CKA between the layers of two networks (or of one), each Gram matrix computed once.

Every CKA value is a ratio of centered inner products
``⟨T(K_i), T(L_j)⟩ / sqrt(⟨T(K_i), T(K_i)⟩ ⟨T(L_j), T(L_j)⟩)`` with ``T`` the
biased (H·H) or unbiased (U-) centering.  Two ways to get them:

* **Gram form**: compute each layer's centered Gram matrix once.  For the
  linear kernel on numpy, :mod:`neuroalign.compare.cka.tiled` walks the lower
  triangles of all of them in blocks of rows and never holds a whole one.
  Otherwise each is kept as its lower triangle ``v`` (diagonal included) and
  diagonal ``d``; then ``⟨K, L⟩_F = 2 v_K · v_L − d_K · d_L`` gives all layer ×
  layer inner products with one matrix product of the stacked vectors.  Cost
  ≈ n² p per layer plus n² per pair.
* **Feature form** (linear kernel): ``⟨K̃_i, L̃_j⟩ = ‖X_iᵀ Y_j‖²_F`` on
  column-centered features.  Cost ≈ 2 n p q per pair: cheaper when n ≫ p, q.

For the linear kernel both forms give the biased inner products ⟨K̃, L̃⟩; the
unbiased ones ⟨Ũ(K), Ũ(L)⟩ follow from them and the squared row norms of the
centered features (Kornblith et al.'s identity,
:func:`neuroalign.compare.cka.core.debias_linear`).  RBF Gram matrices are
U-centered before packing instead.

:func:`plan_forms` picks, per layer, the form that minimises the total
floating-point work (a pair uses the Gram form only when both its layers have
one).  RBF kernels always use the Gram form.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from ...data.align import align
from ...data.layers import as_layer_mapping
from ...data.provenance import provenance
from ...data.schema import label_index
from ...errors import ConfigError, DataError, UnknownNameError
from .core import (CKA_KERNELS, MIN_SAMPLES, Backend, _constant_error, _is_torch, as_samples,
                  center_features, center_gram, debias_linear, is_constant, make_backend, rbf_gram)
from .tiled import rows_per_block, tiled_linear_products

__all__ = ["cka_matrix", "LAYER_A", "LAYER_B"]

log = logging.getLogger(__name__)

LAYER_A, LAYER_B = "layer_a", "layer_b"
DEFAULT_MAX_MEMORY = 4 * 2**30


# ----------------------------------------------------------------------------- planning
def plan_forms(n: int, widths_a: Sequence[int], widths_b: Sequence[int] | None, *, kernel: str = "linear",
               syrk: bool = True) -> tuple[list[bool], list[bool]]:
    """Which layers get a Gram matrix (True) and which stay in feature form (False).

    Minimises the floating-point operations of all centered inner products
    over per-side width thresholds (wider layers get Gram matrices first).
    ``widths_b=None`` means the b side is the a side.
    """
    same = widths_b is None
    wa = list(widths_a)
    wb = wa if same else list(widths_b)
    if kernel != "linear":
        return [True] * len(wa), [True] * len(wb)
    gram_cost = (1 if syrk else 2) * n * n

    def cost(ga: list[bool], gb: list[bool]) -> float:
        total = sum(gram_cost * p for p, g in zip(wa, ga) if g)
        if not same:
            total += sum(gram_cost * q for q, g in zip(wb, gb) if g)
        for side, grams in [(wa, ga)] + ([] if same else [(wb, gb)]):
            total += sum(n * n if g else (1 if syrk else 2) * n * p * p for p, g in zip(side, grams))
        pairs = sum(n * n if (gi and gj) else 2 * n * p * q
                    for p, gi in zip(wa, ga) for q, gj in zip(wb, gb))
        return total + (pairs / 2 if same else pairs)

    best = None
    thresholds_a = sorted(set(wa)) + [math.inf]
    thresholds_b = [None] if same else sorted(set(wb)) + [math.inf]
    for ta in thresholds_a:
        for tb in thresholds_b:
            ga = [p >= ta for p in wa]
            gb = ga if same else [q >= tb for q in wb]
            c = cost(ga, gb)
            if best is None or c < best[0]:
                best = (c, ga, gb)
    return best[1], best[2]


# ----------------------------------------------------------------------------- Gram form
class _Centerer:
    """Column-centered copies of layers in one reused buffer (fresh pages cost as much as arithmetic here)."""

    def __init__(self) -> None:
        self._buffer = None

    def __call__(self, x: Any) -> Any:
        if _is_torch(x):
            return center_features(x)
        n, p = x.shape
        if self._buffer is None or self._buffer.size < n * p or self._buffer.dtype != x.dtype:
            self._buffer = np.empty(n * p, dtype=x.dtype)
        return np.subtract(x, x.mean(0, keepdims=True), out=self._buffer[:n * p].reshape(n, p))


class _GramStore:
    """Each layer's centered Gram matrix T(K) as its lower triangle v (diagonal included) and diagonal d.

    ``⟨T(K), T(L)⟩_F = 2 v_K · v_L − d_K · d_L``, so one matrix product of
    stacked vectors gives every pair.  Linear kernel (torch backend only: on
    numpy, :mod:`neuroalign.compare.cka.tiled` never holds whole Gram
    matrices): T(K) = X_c X_cᵀ, the unbiased estimator's correction applied
    afterwards from row norms.  RBF kernel: T = H·H or the U-centering Ũ.
    """

    def __init__(self, n: int, kernel: str, threshold: float, debiased: bool, ops: Backend, center: _Centerer):
        self.n, self.kernel, self.threshold, self.debiased, self.ops = n, kernel, threshold, debiased, ops
        self.center = center
        self.size = n * (n + 1) // 2
        self.mask = None
        if ops.name == "torch":
            import torch

            self.mask = torch.ones((n, n), dtype=torch.bool, device=ops.device).tril()

    def write(self, x: Any, out: Any) -> Any:
        """Fill ``out`` (length :attr:`size`) with the packed centered Gram matrix of ``x``; return its diagonal."""
        if self.kernel == "linear":
            xc = self.center(x)
            g = xc @ xc.mT
        else:
            g = center_gram(rbf_gram(x, self.threshold), self.debiased)
        if _is_torch(g):
            import torch

            out[:] = torch.masked_select(g, self.mask)
        else:  # row by row: far faster than a boolean gather
            start = 0
            for i in range(self.n):
                out[start:start + i + 1] = g[i, :i + 1]
                start += i + 1
        return g.diagonal().clone() if _is_torch(g) else g.diagonal().copy()

    def stack(self, layers: Sequence[Any], bar: Any) -> tuple[Any, Any]:
        ops = self.ops
        if ops.name == "torch":
            import torch

            packed = torch.empty((len(layers), self.size), dtype=ops.dtype, device=ops.device)
            diagonals = torch.empty((len(layers), self.n), dtype=ops.dtype, device=ops.device)
        else:
            packed = np.empty((len(layers), self.size), dtype=ops.dtype)
            diagonals = np.empty((len(layers), self.n), dtype=ops.dtype)
        for row, x in enumerate(layers):
            diagonals[row] = self.write(x, packed[row])
            bar.update(1)
        return packed, diagonals


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _inner(va: Any, da: Any, vb: Any, db: Any, ops: Backend) -> np.ndarray:
    return ops.to_numpy(2.0 * (va @ vb.T) - da @ db.T)


def _self_inner(v: Any, d: Any, ops: Backend) -> np.ndarray:
    if _is_torch(v):
        import torch

        return ops.to_numpy(torch.stack([2.0 * (row @ row) - (dr @ dr) for row, dr in zip(v, d)]))
    return 2.0 * np.einsum("ij,ij->i", v, v) - np.einsum("ij,ij->i", d, d)


def _gram_pairs(xa: list, xb: list, ga: list[bool], gb: list[bool], same: bool, store: _GramStore,
                max_memory: int, out: dict, bar: Any) -> None:
    """Fill the entries of pairs whose layers both have Gram matrices, and those layers' norms."""
    cross, self_a, self_b, rows_a, rows_b = (out[k] for k in ("cross", "self_a", "self_b", "rows_a", "rows_b"))
    ia = [i for i, g in enumerate(ga) if g]
    ib = ia if same else [j for j, g in enumerate(gb) if g]
    ops = store.ops
    rows = max(1, int(max_memory // ((store.size + store.n) * ops.itemsize)))
    total = len(ia) + (0 if same else len(ib))
    size = max(total, 1)
    if total > rows:
        size = max(1, rows // 2)
        log.info("packed Gram matrices of %d layers exceed max_memory=%d bytes: computing some more than once",
                 total, max_memory)
    chunks_a, chunks_b = _chunks(ia, size), _chunks(ib, size)
    if not same and not chunks_a:
        for cb in chunks_b:
            vb, db = store.stack([xb[j] for j in cb], bar)
            self_b[cb], rows_b[cb] = _self_inner(vb, db, ops), ops.to_numpy(db)
    for ca_index, ca in enumerate(chunks_a):
        va, da = store.stack([xa[i] for i in ca], bar)
        self_a[ca], rows_a[ca] = _self_inner(va, da, ops), ops.to_numpy(da)
        if same:
            self_b[ca], rows_b[ca] = self_a[ca], rows_a[ca]
        for cb_index, cb in enumerate(chunks_b):
            if same and cb_index < ca_index:
                continue
            vb, db = (va, da) if same and cb_index == ca_index else store.stack([xb[j] for j in cb], bar)
            block = _inner(va, da, vb, db, ops)
            cross[np.ix_(ca, cb)] = block
            if same:
                cross[np.ix_(cb, ca)] = block.T
            elif ca_index == 0:
                self_b[cb], rows_b[cb] = _self_inner(vb, db, ops), ops.to_numpy(db)
            del vb, db
        del va, da


def _tiled_gram_pairs(xa: list, xb: list, ga: list[bool], gb: list[bool], same: bool, max_memory: int,
                      out: dict, bar: Any) -> None:
    """The linear kernel's Gram-form pairs on numpy, a block of rows of every Gram matrix at a time
    (:mod:`neuroalign.compare.cka.tiled`): no whole Gram matrix is ever held."""
    ia = [i for i, g in enumerate(ga) if g]
    ib = ia if same else [j for j, g in enumerate(gb) if g]
    layers = [xa[i] for i in ia] + ([] if same else [xb[j] for j in ib])
    rows = rows_per_block(xa[0].shape[0], len(layers), layers[0].dtype.itemsize, max_memory)
    inner, diagonals = tiled_linear_products(layers, rows=rows, advance=lambda done: bar.update(done * len(layers)))
    k, norms = len(ia), inner.diagonal()
    out["self_a"][ia], out["rows_a"][ia] = norms[:k], diagonals[:k]
    if same:
        out["cross"][np.ix_(ia, ia)] = inner
        out["self_b"][ia], out["rows_b"][ia] = norms, diagonals
    else:
        out["cross"][np.ix_(ia, ib)] = inner[:k, k:]
        out["self_b"][ib], out["rows_b"][ib] = norms[k:], diagonals[k:]


# ----------------------------------------------------------------------------- feature form
def _feature_pairs(xa: list, xb: list, ga: list[bool], gb: list[bool], same: bool, ops: Backend, out: dict,
                   center: _Centerer, bar: Any) -> None:
    """‖X_cᵀ Y_c‖²_F for the pairs not both in Gram form, and the norms and row norms of feature-form layers."""
    cross, self_a, self_b, rows_a, rows_b = (out[k] for k in ("cross", "self_a", "self_b", "rows_a", "rows_b"))
    targets = [[j for j, gj in enumerate(gb) if not (gi and gj) and (not same or j >= i)] for i, gi in enumerate(ga)]
    for i, gi in enumerate(ga):
        if gi and not targets[i]:
            continue
        xc = center_features(xa[i])
        if not gi:
            self_a[i] = float(ops.to_numpy(((xc.T @ xc) ** 2).sum()))
            rows_a[i] = ops.to_numpy((xc * xc).sum(1))
            if same:
                self_b[i], rows_b[i] = self_a[i], rows_a[i]
        for j in targets[i]:
            yc = xc if same and j == i else center(xb[j])
            cross[i, j] = float(ops.to_numpy(((xc.T @ yc) ** 2).sum()))
            if same:
                cross[j, i] = cross[i, j]
        bar.update(1)
    if not same:
        for j, gj in enumerate(gb):
            if not gj:
                yc = center(xb[j])
                self_b[j] = float(ops.to_numpy(((yc.T @ yc) ** 2).sum()))
                rows_b[j] = ops.to_numpy((yc * yc).sum(1))


def centered_products(xa: list, xb: list | None, *, kernel: str, threshold: float, debiased: bool, ops: Backend,
                      max_memory: int = DEFAULT_MAX_MEMORY, progress: bool = False
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """⟨T(K_i), T(L_j)⟩ for all pairs, and ⟨T(K_i), T(K_i)⟩, ⟨T(L_j), T(L_j)⟩ (float64 numpy).

    ``xa`` / ``xb`` are lists of (n, p) backend arrays; ``xb=None`` means the
    a side again (each Gram matrix then serves both sides).  Divide by
    ``(n − 1)²`` (biased) or ``n (n − 3)`` (unbiased) to get HSIC.
    """
    same = xb is None
    xb_ = xa if same else xb
    n = xa[0].shape[0]
    ga, gb = plan_forms(n, [x.shape[1] for x in xa], None if same else [x.shape[1] for x in xb_], kernel=kernel,
                        syrk=ops.has_syrk)
    log.debug("CKA forms: a=%s b=%s", ["gram" if g else "features" for g in ga],
              ["gram" if g else "features" for g in gb])
    out = {"cross": np.full((len(xa), len(xb_)), np.nan), "self_a": np.full(len(xa), np.nan),
           "self_b": np.full(len(xb_), np.nan), "rows_a": np.full((len(xa), n), np.nan),
           "rows_b": np.full((len(xb_), n), np.nan)}
    center = _Centerer()
    with tqdm(desc="CKA", unit="layer", disable=not progress) as bar:
        if (any(ga) or any(gb)) and kernel == "linear" and ops.name == "numpy":
            _tiled_gram_pairs(xa, xb_, ga, gb, same, max_memory, out, bar)
        elif any(ga) or any(gb):
            store = _GramStore(n, kernel, threshold, debiased, ops, center)
            _gram_pairs(xa, xb_, ga, gb, same, store, max_memory, out, bar)
        if kernel == "linear" and not (all(ga) and all(gb)):
            _feature_pairs(xa, xb_, ga, gb, same, ops, out, center, bar)
    cross, self_a, self_b = out["cross"], out["self_a"], out["self_b"]
    if kernel == "linear" and debiased:  # Kornblith et al.'s identity: ⟨Ũ(K), Ũ(L)⟩ from ⟨K̃, L̃⟩ and row norms
        rows_a, rows_b = out["rows_a"], out["rows_b"]
        cross = debias_linear(cross, rows_a, rows_b, n)
        self_a = np.array([debias_linear(v, r, r, n) for v, r in zip(self_a, rows_a)])
        self_b = np.array([debias_linear(v, r, r, n) for v, r in zip(self_b, rows_b)])
        if same:
            np.fill_diagonal(cross, self_a)
    return cross, self_a, self_b


# ----------------------------------------------------------------------------- public
def _layers(layers: Any, name: str) -> tuple[list[str], list[Any]]:
    if isinstance(layers, xr.DataArray):  # one labelled layer (named as data.as_layer_mapping names it)
        layers = as_layer_mapping(layers, argument=name)
    if isinstance(layers, Mapping):
        names, values = [str(k) for k in layers], list(layers.values())
    elif isinstance(layers, Sequence) and not isinstance(layers, (str, bytes)):
        names, values = [str(i) for i in range(len(layers))], list(layers)
    else:
        raise ConfigError(f"expected a mapping of layer name → array, got {type(layers).__name__}", source=name,
                          fix="pass e.g. the dict returned by neuroalign.extract.extract")
    if not values:
        raise ConfigError("no layers", source=name, fix="pass at least one layer")
    return names, values


def _aligned(values_a: list, values_b: list | None, names: tuple[list[str], list[str] | None]) -> tuple[list, list]:
    """Order every labelled layer like the first labelled one (exact stimulus match)."""
    everything = values_a + (values_b or [])
    labels = [f"layers_a[{k!r}]" for k in names[0]] + [f"layers_b[{k!r}]" for k in (names[1] or [])]
    first = next((i for i, v in enumerate(everything) if isinstance(v, xr.DataArray)), None)
    if first is None:
        return values_a, values_b
    reference, ref_label = everything[first], labels[first]  # by position: == on arrays compares elements
    out = [align(reference, v, names=(ref_label, label))[1] if isinstance(v, xr.DataArray) else v
           for v, label in zip(everything, labels)]
    return out[:len(values_a)], (out[len(values_a):] if values_b is not None else None)


def cka_matrix(
    layers_a: Mapping[str, Any] | Sequence[Any],
    layers_b: Mapping[str, Any] | Sequence[Any] | None = None,
    *,
    kernel: str = "linear",
    threshold: float = 1.0,
    debiased: bool = False,
    backend: str = "numpy",
    device: Any = None,
    dtype: str = "float64",
    max_memory: int = DEFAULT_MAX_MEMORY,
    progress: bool = True,
) -> xr.DataArray:
    """CKA between every layer of ``layers_a`` and every layer of ``layers_b``.

    Each layer's Gram matrix (or feature product) is computed once and reused
    for all its pairs; see the module docstring for the two forms and how one
    is chosen per layer.

    Parameters
    ----------
    layers_a, layers_b : mapping of str to array, or sequence of arrays
        Layer name → ``(presentation, neuroid)`` DataArray (e.g. from
        :func:`neuroalign.extract.extract`), numpy array or torch tensor, all
        with the same stimuli.  A sequence names its layers ``"0"``, ``"1"``…;
        a single DataArray is one layer named as
        :func:`neuroalign.data.as_layer_mapping` names it.  Labelled layers are aligned on
        ``stimulus_id`` to the first labelled one (exact match); plain arrays
        must already be in that order.  ``layers_b=None`` compares
        ``layers_a`` with itself (symmetric result, ones on the diagonal).
    kernel, threshold, debiased, backend, device, dtype
        As in :func:`neuroalign.compare.cka`.
    max_memory : int
        Bytes of working memory: the row-block buffer of the linear kernel on
        numpy (``layers × rows × n`` values; the block height shrinks to fit),
        otherwise the packed Gram matrices held at once (``n (n + 1) / 2``
        values each; above it they are recomputed in blocks instead of held).
    progress : bool
        Show a progress bar over layers.

    Returns
    -------
    xarray.DataArray
        Dims ``(layer_a, layer_b)`` with the layer names as coordinates;
        attrs ``kernel``, ``debiased``, ``n_samples`` and provenance.

    Raises
    ------
    DataError
        Fewer than 4 samples, different sample counts, NaN/inf, or a constant
        layer (named in the message).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import cka_matrix
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(40, 6))
    >>> m = cka_matrix({"x": x, "x2": x ** 2}, {"same": 2 * x, "noise": rng.normal(size=(40, 3))}, progress=False)
    >>> m.dims, round(float(m.sel(layer_a="x", layer_b="same")), 6)
    (('layer_a', 'layer_b'), 1.0)
    """
    if kernel not in CKA_KERNELS:
        raise UnknownNameError(kernel, CKA_KERNELS, what="CKA kernel", source="kernel")
    if not threshold > 0:
        raise ConfigError(f"threshold must be > 0, got {threshold!r}", source="threshold",
                          fix="pass the RBF bandwidth as a positive fraction of the median distance")
    if not max_memory > 0:
        raise ConfigError(f"max_memory must be > 0 bytes, got {max_memory!r}", source="max_memory",
                          fix="pass a number of bytes, e.g. 4 * 2**30")
    ops = make_backend(backend, device, dtype)
    names_a, values_a = _layers(layers_a, "layers_a")
    names_b, values_b = (None, None) if layers_b is None else _layers(layers_b, "layers_b")
    values_a, values_b = _aligned(values_a, values_b, (names_a, names_b))
    xa = [as_samples(v, f"layers_a[{k!r}]", ops) for k, v in zip(names_a, values_a)]
    xb = None if values_b is None else [as_samples(v, f"layers_b[{k!r}]", ops) for k, v in zip(names_b, values_b)]
    n = xa[0].shape[0]
    for side, names, xs in (("layers_a", names_a, xa), ("layers_b", names_b or [], xb or [])):
        for k, x in zip(names, xs):
            if x.shape[0] != n:
                raise DataError(f"{x.shape[0]} samples where {names_a[0]!r} of layers_a has {n}",
                                source=f"{side}[{k!r}]", fix="pass the same stimuli for every layer")
            if is_constant(x):
                raise _constant_error(f"{side}[{k!r}]")
    if n < MIN_SAMPLES:
        raise DataError(f"CKA needs at least {MIN_SAMPLES} samples, got {n}", source="layers_a",
                        fix="pass more stimuli")
    cross, self_a, self_b = centered_products(xa, xb, kernel=kernel, threshold=threshold, debiased=debiased,
                                              ops=ops, max_memory=max_memory, progress=progress)
    for side, names, norms in (("layers_a", names_a, self_a), ("layers_b", names_b or names_a, self_b)):
        bad = [k for k, v in zip(names, norms) if not v > 0]
        if bad:
            raise _constant_error(f"{side}[{bad[0]!r}]")
    values = cross / np.sqrt(np.outer(self_a, self_b))
    if xb is None:
        np.fill_diagonal(values, 1.0)
    names_b = names_b or names_a
    result = xr.DataArray(values, dims=(LAYER_A, LAYER_B),
                          coords={LAYER_A: label_index(names_a, LAYER_A), LAYER_B: label_index(names_b, LAYER_B)},
                          name="cka")
    params = {"kernel": kernel, "threshold": threshold if kernel == "rbf" else None, "debiased": debiased,
              "backend": backend, "dtype": dtype, "n_samples": n}
    inputs = {f"a.{k}": v for k, v in zip(names_a, values_a)}
    if values_b is not None:
        inputs.update({f"b.{k}": v for k, v in zip(names_b, values_b)})
    result.attrs.update({"kernel": kernel, "debiased": int(debiased), "n_samples": n})
    result.attrs.update(provenance(params, {k: (v.detach().cpu().numpy() if _is_torch(v) else v)
                                            for k, v in inputs.items()}))
    return result
