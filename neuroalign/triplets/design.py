"""Decorrelated triplet design: triplets whose low- and high-level similarity differences are uncorrelated.

Given a stimulus pool and two feature spaces (say an early and a late layer),
each space's similarity is the Pearson correlation of the activations (after an
optional PCA).  Every candidate triplet has one similarity difference Δ per space:

- match-to-sample ``(root, image_1, image_2)``:
  Δ = sim(root, image_1) − sim(root, image_2) (positive: image 1 is the match);
- odd-one-out ``(image_1, image_2, odd)``:
  Δ = sim(image_1, image_2) − max(sim(image_1, odd), sim(image_2, odd))
  (positive: the space predicts ``odd`` as the odd one out, by that margin).

The design covers a grid of (Δlow, Δhigh) bins centred on zero, ``bins`` per
axis, each ``step`` standard deviations of that space's pairwise similarities
wide (the convention of the "face / hat" study, arXiv:2409.02241, whose
10 × 10 grid in steps of 0.5 SD is the default).  The search is exhaustive over
anchors (root or odd image): for each anchor, in a seeded random order, one
random pair per bin is kept as a candidate; the hardest bins are then filled
first, each image used at most once (with restarts that move unfilled bins to
the front), and the chosen triplets are swapped for other candidates of their
bin while that brings r(Δlow, Δhigh) closer to zero.  A grid filled evenly is
uncorrelated by construction; the swaps remove the rest.

No choice depends on how the bins are numbered (random keys are drawn per
triplet, ties between equally full bins are broken by those keys), so swapping
the two spaces gives the same triplets with the two Δ columns swapped.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from ..data.align import align, average_repetitions
from ..data.provenance import provenance
from ..errors import ConfigError, DataError, SchemaError, UnknownNameError

__all__ = ["TASKS", "correlation_similarity", "design_triplets", "decorrelated_design", "design_diagnostics"]

log = logging.getLogger(__name__)

TASKS = ("match-to-sample", "odd-one-out")
_COLUMNS = {"match-to-sample": ("root", "image_1", "image_2"), "odd-one-out": ("image_1", "image_2", "odd")}
_POOL_SAMPLE = 2000  # random pool triplets kept for the diagnostic figure
_ATTEMPTS = 30


def correlation_similarity(features: Any, *, pca: int | None = None, source: str = "features") -> np.ndarray:
    """Pearson correlation between the rows of ``features`` (n_images, n_features).

    With ``pca=k`` the features are first reduced to their ``k`` leading
    principal components (scikit-learn's ``PCA``, full SVD, deterministic signs)
    and the correlation is taken across those components.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.triplets.design import correlation_similarity
    >>> x = np.array([[1., 2., 3.], [2., 4., 7.], [3., 1., 0.]])
    >>> np.allclose(correlation_similarity(x), np.corrcoef(x))
    True
    """
    x = np.asarray(features, dtype=float)
    if x.ndim != 2 or x.shape[0] < 3:
        raise SchemaError(f"expected a 2-D array (images, features) with at least 3 images, got shape {x.shape}",
                          source=source, fix="pass one row of activations per image")
    if not np.all(np.isfinite(x)):
        rows = np.flatnonzero(~np.isfinite(x).all(axis=1))[:5].tolist()
        raise DataError(f"activations hold NaN or infinite values (rows {rows})", source=source,
                        fix="drop or repair those images before the design")
    if pca is not None:
        pca = int(pca)
        if not 2 <= pca <= min(x.shape):
            raise ConfigError(f"pca={pca} components, but the data allow 2 to {min(x.shape)}", source="pca",
                              fix=f"pass pca between 2 and {min(x.shape)}, or pca=None")
        from sklearn.decomposition import PCA

        x = PCA(n_components=pca, svd_solver="full").fit_transform(x)
    z = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt((z * z).sum(axis=1))
    scale = np.abs(x).max(axis=1) * np.sqrt(x.shape[1])
    flat = norm <= 1e-12 * np.maximum(scale, 1e-300)
    if flat.any():
        rows = np.flatnonzero(flat)[:5].tolist()
        raise DataError(f"{int(flat.sum())} image(s) have constant activations (rows {rows}); "
                        "their Pearson correlation is undefined", source=source,
                        fix="drop those images or use a layer (or PCA) where they vary")
    z /= norm[:, None]
    sim = z @ z.T
    np.fill_diagonal(sim, 1.0)
    return sim


def _check_similarity(sim: Any, name: str) -> np.ndarray:
    s = np.asarray(sim, dtype=float)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise SchemaError(f"expected a square similarity matrix, got shape {s.shape}", source=name,
                          fix="pass an (n_images, n_images) matrix, e.g. correlation_similarity(features)")
    if not np.all(np.isfinite(s)):
        raise DataError("the similarity matrix holds NaN or infinite values", source=name,
                        fix="compute it from finite activations")
    if not np.allclose(s, s.T, rtol=0, atol=1e-10):
        raise DataError("the similarity matrix is not symmetric", source=name, fix="pass (S + S.T) / 2")
    return s


def _pair_bins(bins: Any, name: str, kind: type) -> tuple:
    values = tuple(bins) if isinstance(bins, (tuple, list)) else (bins, bins)
    if len(values) != 2:
        raise ConfigError(f"{name} must be one value or a pair (low, high), got {bins!r}", source=name,
                          fix=f"pass e.g. {name}=10 or {name}=(10, 8)")
    return tuple(kind(v) for v in values)


def _delta(sim: np.ndarray, a: np.ndarray, i: np.ndarray, j: np.ndarray, task: str) -> np.ndarray:
    """Δ of triplets with anchor ``a`` (root, or odd one) and items ``i``, ``j``."""
    if task == "match-to-sample":
        return sim[a, i] - sim[a, j]
    return sim[i, j] - np.maximum(sim[i, a], sim[j, a])


def design_triplets(sim_low: Any, sim_high: Any, *, task: str = "match-to-sample", bins: int | tuple[int, int] = 10,
                    step: float | tuple[float, float] = 0.5, per_bin: int = 1, r_tolerance: float = 0.01,
                    random_state: int | np.random.Generator | None = 0, progress: bool = False) -> pd.DataFrame:
    """Select decorrelated triplets from two similarity matrices (index form).

    Parameters
    ----------
    sim_low, sim_high : array (n_images, n_images)
        Symmetric similarities of the pool in the low- and high-level space.
    task : {"match-to-sample", "odd-one-out"}
        Which triplets, and which Δ (see the module docstring).
    bins : int or (int, int)
        Bins per axis (low, high) of the grid centred on Δ = 0.
    step : float or (float, float)
        Bin width in standard deviations of that space's pairwise similarities.
    per_bin : int
        Triplets per bin.
    r_tolerance : float
        The swaps that decorrelate the set stop once ``|r(Δlow, Δhigh)| <= r_tolerance``.
    random_state : int, Generator or None
        Seed of every random choice.
    progress : bool
        A tqdm bar over the anchors.

    Returns
    -------
    pandas.DataFrame
        One row per triplet, sorted by bin: image positions (``root, image_1,
        image_2`` or ``image_1, image_2, odd``), ``delta_low``, ``delta_high``,
        ``bin_low``, ``bin_high``.  ``attrs`` holds the task, the grid
        (``edges_low``, ``edges_high``), the pool size and a random sample of
        the pool's Δs (``pool_delta_low``, ``pool_delta_high``).

    Raises
    ------
    DataError
        The pool is too small for the grid (each image is used once), some
        bins have no candidate, or no disjoint set fills every bin.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.triplets.design import correlation_similarity, design_triplets
    >>> rng = np.random.default_rng(0)
    >>> shared = rng.normal(size=(60, 40))
    >>> low = correlation_similarity(shared + rng.normal(size=(60, 40)))
    >>> high = correlation_similarity(shared + rng.normal(size=(60, 40)))
    >>> design = design_triplets(low, high, bins=2, step=1.0)
    >>> len(design), sorted(set(zip(design.bin_low, design.bin_high)))
    (4, [(0, 0), (0, 1), (1, 0), (1, 1)])
    """
    if task not in TASKS:
        raise UnknownNameError(task, TASKS, what="task", source="task")
    s_low, s_high = _check_similarity(sim_low, "sim_low"), _check_similarity(sim_high, "sim_high")
    if s_low.shape != s_high.shape:
        raise SchemaError(f"the two similarity matrices differ in size: {s_low.shape} and {s_high.shape}",
                          source="sim_high", fix="compute both on the same pool of images, in the same order")
    n_low, n_high = _pair_bins(bins, "bins", int)
    step_low, step_high = _pair_bins(step, "step", float)
    if min(n_low, n_high) < 1 or int(per_bin) < 1 or not (step_low > 0 and step_high > 0):
        raise ConfigError(f"bins, per_bin and step must be positive (got bins={bins!r}, per_bin={per_bin!r}, "
                          f"step={step!r})", source="bins", fix="pass bins >= 1, per_bin >= 1 and step > 0")
    n = s_low.shape[0]
    n_bins, per_bin = n_low * n_high, int(per_bin)
    if 3 * n_bins * per_bin > n:
        raise DataError(f"the grid needs {3 * n_bins * per_bin} different images ({n_bins} bins × {per_bin} "
                        f"triplet(s) × 3, each image used once) but the pool has {n}", source="pool",
                        fix="use a larger pool, fewer bins or per_bin=1")
    rng = np.random.default_rng(random_state)
    iu = np.triu_indices(n, 1)
    widths = []
    for s, k, name in ((s_low, step_low, "sim_low"), (s_high, step_high, "sim_high")):
        sd = float(np.std(s[iu]))
        if not sd > 0:
            raise DataError("all pairwise similarities are equal: no difference to design with", source=name,
                            fix="use features that tell the images apart")
        widths.append(k * sd)
    grid = _Grid(n_low, n_high, widths[0], widths[1])

    cand = _collect_candidates(s_low, s_high, task, grid, rng, progress)
    counts = np.bincount(cand["bin"], minlength=n_bins)
    short = np.flatnonzero(counts < per_bin)
    if len(short):
        examples = "; ".join(grid.describe(b) for b in short[:3])
        raise DataError(f"{len(short)} of {n_bins} bins have fewer than {per_bin} candidate triplet(s) in the pool "
                        f"(e.g. {examples})", source="pool",
                        fix="use a larger or more varied pool, fewer bins (bins=...), or a smaller step (step=...)")
    chosen, unfilled = _fill(cand, n_bins, per_bin, n, rng)
    if unfilled:
        raise DataError(f"{len(unfilled)} of {n_bins} bins could not be filled with images not already used "
                        f"(e.g. {grid.describe(unfilled[0])}) after {_ATTEMPTS} attempts", source="pool",
                        fix="use a larger pool, fewer bins (bins=...), per_bin=1 or a smaller step (step=...)")
    chosen = _decorrelate(cand, chosen, n, float(r_tolerance), rng)

    a, i, j = cand["a"][chosen], cand["i"][chosen], cand["j"][chosen]
    d_low, d_high = _delta(s_low, a, i, j, task), _delta(s_high, a, i, j, task)
    names = _COLUMNS[task]
    items = dict(zip(("root", "image_1", "image_2"), (a, i, j))) if task == "match-to-sample" else \
        {"image_1": i, "image_2": j, "odd": a}
    table = pd.DataFrame({**{c: items[c] for c in names}, "delta_low": d_low, "delta_high": d_high,
                          "bin_low": grid.code(d_low, 0), "bin_high": grid.code(d_high, 1)})
    if (table[["bin_low", "bin_high"]].to_numpy() < 0).any():  # never: candidates were binned from the same values
        raise AssertionError("a chosen triplet fell outside the grid")
    table = table.sort_values(["bin_low", "bin_high"], kind="stable").reset_index(drop=True)
    log.info("triplet design (%s): %d triplets in %d bins from %d images, r(Δlow, Δhigh) = %.4f",
             task, len(table), n_bins, n, float(np.corrcoef(d_low, d_high)[0, 1]) if len(table) > 2 else np.nan)
    pool_low, pool_high = _pool_sample(s_low, s_high, task, rng)
    table.attrs.update({
        "task": task, "bins": (n_low, n_high), "step": (step_low, step_high), "per_bin": per_bin,
        "edges_low": tuple(grid.edges(0).tolist()), "edges_high": tuple(grid.edges(1).tolist()),
        "n_pool": n, "pool_delta_low": tuple(pool_low.tolist()), "pool_delta_high": tuple(pool_high.tolist()),
    })
    return table


class _Grid:
    """Bins of width ``w`` centred on zero: bin b holds [(b − n/2)·w, (b + 1 − n/2)·w)."""

    def __init__(self, n_low: int, n_high: int, w_low: float, w_high: float):
        self.n = (n_low, n_high)
        self.w = (w_low, w_high)

    def code(self, delta: np.ndarray, axis: int) -> np.ndarray:
        b = np.floor(delta / self.w[axis] + self.n[axis] / 2).astype(np.int64)
        return np.where((b >= 0) & (b < self.n[axis]), b, -1)

    def flat(self, d_low: np.ndarray, d_high: np.ndarray) -> np.ndarray:
        bl, bh = self.code(d_low, 0), self.code(d_high, 1)
        return np.where((bl >= 0) & (bh >= 0), bl * self.n[1] + bh, -1)

    def edges(self, axis: int) -> np.ndarray:
        return (np.arange(self.n[axis] + 1) - self.n[axis] / 2) * self.w[axis]

    def describe(self, flat: int) -> str:
        bl, bh = divmod(int(flat), self.n[1])
        el, eh = self.edges(0), self.edges(1)
        return (f"bin ({bl}, {bh}): Δlow in [{el[bl]:.3g}, {el[bl + 1]:.3g}), "
                f"Δhigh in [{eh[bh]:.3g}, {eh[bh + 1]:.3g})")


def _collect_candidates(s_low: np.ndarray, s_high: np.ndarray, task: str, grid: _Grid,
                        rng: np.random.Generator, progress: bool) -> dict[str, np.ndarray]:
    """For every anchor (random order), one random pair per bin it reaches."""
    n = s_low.shape[0]
    pi, pj = np.triu_indices(n - 1, 1)
    code_type = np.int16 if grid.n[0] * grid.n[1] < 2**15 else np.int64
    records = []
    for a in tqdm(rng.permutation(n), desc="triplet design", disable=not progress):
        i, j = pi + (pi >= a), pj + (pj >= a)  # positions of the other images
        av = np.full(1, a)
        d_low, d_high = _delta(s_low, av, i, j, task), _delta(s_high, av, i, j, task)
        orientations = [(i, j, d_low, d_high)]
        if task == "match-to-sample":  # swapping image 1 and 2 negates both differences
            orientations.append((j, i, -d_low, -d_high))
        for oi, oj, dl, dh in orientations:
            code = grid.flat(dl, dh).astype(code_type)
            key = rng.random(len(code))  # drawn per pair, so the pick does not depend on how bins are numbered
            keep = np.flatnonzero(code >= 0)
            order = keep[np.argsort(code[keep], kind="stable")]  # a radix sort for small integers
            if not len(order):
                continue
            sorted_code, sorted_key = code[order], key[order]
            starts = np.flatnonzero(np.r_[True, sorted_code[1:] != sorted_code[:-1]])
            sizes = np.diff(np.r_[starts, len(order)])
            lowest = np.flatnonzero(sorted_key == np.repeat(np.minimum.reduceat(sorted_key, starts), sizes))
            group = np.repeat(np.arange(len(starts)), sizes)[lowest]
            pick = order[lowest[np.r_[True, group[1:] != group[:-1]]]]  # per bin, the pair with the lowest key
            records.append((code[pick].astype(np.int64), np.full(len(pick), a), oi[pick], oj[pick], dl[pick],
                            dh[pick], key[pick]))
    if not records:
        empty = np.zeros(0, np.int64)
        return {"bin": empty, "a": empty, "i": empty, "j": empty, "dl": np.zeros(0), "dh": np.zeros(0),
                "key": np.zeros(0)}
    cols = [np.concatenate(c) for c in zip(*records)]
    return dict(zip(("bin", "a", "i", "j", "dl", "dh", "key"), cols))


def _fill(cand: dict, n_bins: int, per_bin: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """Greedy, hardest bins first, each image once; unfilled bins move to the front on the next attempt."""
    by_bin = [np.flatnonzero(cand["bin"] == b) for b in range(n_bins)]  # in the order the anchors were visited
    counts = np.array([len(c) for c in by_bin])
    tie = np.array([cand["key"][c].min() if len(c) else 0.0 for c in by_bin])  # keys, not bin numbers, break ties
    priority = [int(b) for b in np.lexsort((tie, counts))]
    unfilled: list[int] = []
    for _ in range(_ATTEMPTS):
        used = np.zeros(n, bool)
        chosen, unfilled = [], []
        for b in priority:
            got = 0
            for c in by_bin[b][rng.permutation(len(by_bin[b]))]:
                items = (cand["a"][c], cand["i"][c], cand["j"][c])
                if not (used[items[0]] or used[items[1]] or used[items[2]]):
                    used[list(items)] = True
                    chosen.append(c)
                    got += 1
                    if got == per_bin:
                        break
            if got < per_bin:
                unfilled.append(b)
        if not unfilled:
            break
        priority = unfilled + [b for b in priority if b not in unfilled]
    return np.asarray(chosen, dtype=np.int64), unfilled


def _decorrelate(cand: dict, chosen: np.ndarray, n: int, tolerance: float, rng: np.random.Generator,
                 max_passes: int = 20) -> np.ndarray:
    """Swap chosen triplets for free candidates of the same bin while |r(Δlow, Δhigh)| shrinks."""
    chosen = chosen.copy()
    x, y = cand["dl"], cand["dh"]
    m = len(chosen)
    if m < 3:
        return chosen
    used = np.zeros(n, bool)
    for key in ("a", "i", "j"):
        used[cand[key][chosen]] = True
    by_bin = {b: np.flatnonzero(cand["bin"] == b) for b in np.unique(cand["bin"][chosen])}
    sums = np.array([x[chosen].sum(), y[chosen].sum(), (x[chosen] ** 2).sum(), (y[chosen] ** 2).sum(),
                     (x[chosen] * y[chosen]).sum()])

    def corr(s: np.ndarray) -> np.ndarray:
        sx, sy, sxx, syy, sxy = s
        cov = sxy - sx * sy / m
        vx, vy = sxx - sx * sx / m, syy - sy * sy / m
        return cov / np.sqrt(np.maximum(vx * vy, 1e-300))

    r = float(corr(sums))
    for _ in range(max_passes):
        if abs(r) <= tolerance:
            break
        improved = False
        for slot in rng.permutation(m):
            c = chosen[slot]
            used[[cand["a"][c], cand["i"][c], cand["j"][c]]] = False
            alt = by_bin[cand["bin"][c]]
            alt = alt[~(used[cand["a"][alt]] | used[cand["i"][alt]] | used[cand["j"][alt]])]
            removed = sums - np.array([x[c], y[c], x[c] ** 2, y[c] ** 2, x[c] * y[c]])
            trial = removed[:, None] + np.stack([x[alt], y[alt], x[alt] ** 2, y[alt] ** 2, x[alt] * y[alt]])
            r_alt = np.abs(corr(trial))
            best = int(np.argmin(r_alt))
            if r_alt[best] < abs(r) - 1e-12:
                c = alt[best]
                chosen[slot], sums, r, improved = c, trial[:, best], float(corr(trial[:, best])), True
            used[[cand["a"][c], cand["i"][c], cand["j"][c]]] = True
            if abs(r) <= tolerance:
                break
        if not improved:
            break
    return chosen


def _pool_sample(s_low: np.ndarray, s_high: np.ndarray, task: str, rng: np.random.Generator,
                 size: int = _POOL_SAMPLE) -> tuple[np.ndarray, np.ndarray]:
    """Δs of random pool triplets (three different images), for the diagnostic figure."""
    n = s_low.shape[0]
    a = rng.integers(n, size=size)
    i = rng.integers(n - 1, size=size)
    i = i + (i >= a)
    j = rng.integers(n - 2, size=size)
    lo, hi = np.minimum(a, i), np.maximum(a, i)
    j = j + (j >= lo)
    j = j + (j >= hi)
    return _delta(s_low, a, i, j, task), _delta(s_high, a, i, j, task)


def _prepare(array: Any, name: str) -> xr.DataArray:
    if not isinstance(array, xr.DataArray) or set(array.dims) != {"presentation", "neuroid"}:
        dims = getattr(array, "dims", None)
        raise SchemaError(f"expected a (presentation, neuroid) DataArray, got {type(array).__name__} with dims {dims}",
                          source=name, fix="pass activations from neuroalign.extract (one layer), or stack "
                                           "the feature dims into 'neuroid'")
    return average_repetitions(array, name=name).transpose("presentation", "neuroid")


def decorrelated_design(low: xr.DataArray, high: xr.DataArray, *, task: str = "match-to-sample",
                        bins: int | tuple[int, int] = 10, step: float | tuple[float, float] = 0.5,
                        per_bin: int = 1, pca: int | None = None, r_tolerance: float = 0.01,
                        random_state: int | np.random.Generator | None = 0,
                        progress: bool = False) -> pd.DataFrame:
    """Triplets whose low- and high-level similarity differences are decorrelated, covering a grid of bins.

    Parameters
    ----------
    low, high : xarray.DataArray (presentation, neuroid)
        The pool's activations in the low- and high-level space, with a
        ``stimulus_id`` coordinate (repetitions are averaged); both must hold
        the same stimuli.
    task : {"match-to-sample", "odd-one-out"}
        Which triplets, and which Δ (see the module docstring).
    bins, step, per_bin, r_tolerance, random_state, progress
        As in :func:`design_triplets`.
    pca : int, optional
        Reduce each space to this many principal components before the correlation.

    Returns
    -------
    pandas.DataFrame
        As :func:`design_triplets`, with stimulus ids in place of positions and
        the provenance in ``attrs["provenance"]``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.triplets.design import decorrelated_design, design_diagnostics
    >>> rng = np.random.default_rng(0)
    >>> shared = rng.normal(size=(60, 40))
    >>> ids = [f"img{k}" for k in range(60)]
    >>> low = create_assembly(shared + rng.normal(size=(60, 40)), stimulus_id=ids)
    >>> high = create_assembly(shared + rng.normal(size=(60, 40)), stimulus_id=ids)
    >>> design = decorrelated_design(low, high, bins=2, step=1.0)
    >>> list(design.columns[:3]), design_diagnostics(design)["bins_filled"]
    (['root', 'image_1', 'image_2'], 4)
    """
    low, high = _prepare(low, "low"), _prepare(high, "high")
    low, high = align(low, high, names=("low", "high"))
    ids = low["stimulus_id"].values
    table = design_triplets(correlation_similarity(low.values, pca=pca, source="low"),
                            correlation_similarity(high.values, pca=pca, source="high"),
                            task=task, bins=bins, step=step, per_bin=per_bin, r_tolerance=r_tolerance,
                            random_state=random_state, progress=progress)
    for column in _COLUMNS[task]:
        table[column] = ids[table[column].to_numpy()]
    seed = random_state if random_state is None or isinstance(random_state, int) else "Generator"
    table.attrs["provenance"] = provenance(
        {"task": task, "bins": bins, "step": step, "per_bin": per_bin, "pca": pca, "r_tolerance": r_tolerance,
         "random_state": seed}, {"low": low, "high": high})
    return table


def design_diagnostics(design: pd.DataFrame) -> dict[str, Any]:
    """How well a design met its goals: the correlation, the bins filled, the images used.

    Returns a dict: ``r`` (Pearson r of ``delta_low`` and ``delta_high`` over
    the chosen triplets), ``pool_r`` (the same over the pool sample), ``n_triplets``,
    ``bins_filled``, ``bins_total``, ``min_per_bin``, ``max_per_bin``, ``images_used``,
    ``max_image_use`` (1 when every image appears at most once) and ``n_pool``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.triplets.design import correlation_similarity, design_diagnostics, design_triplets
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(60, 30))
    >>> low = correlation_similarity(x + rng.normal(size=x.shape))
    >>> high = correlation_similarity(x + rng.normal(size=x.shape))
    >>> d = design_diagnostics(design_triplets(low, high, bins=2, step=1.0))
    >>> d["bins_filled"], d["bins_total"], d["max_image_use"]
    (4, 4, 1)
    """
    needed = {"delta_low", "delta_high", "bin_low", "bin_high"}
    if not isinstance(design, pd.DataFrame) or not needed <= set(design.columns) or "task" not in design.attrs:
        raise SchemaError("expected a design table from decorrelated_design or design_triplets", source="design",
                          fix="pass the DataFrame those functions return (with its attrs)")
    task = design.attrs["task"]
    n_low, n_high = design.attrs["bins"]
    x, y = design["delta_low"].to_numpy(float), design["delta_high"].to_numpy(float)
    per_bin = np.bincount(design["bin_low"].to_numpy() * n_high + design["bin_high"].to_numpy(),
                          minlength=n_low * n_high)
    items = pd.Series(design[list(_COLUMNS[task])].to_numpy().ravel())
    pool_x, pool_y = np.asarray(design.attrs["pool_delta_low"]), np.asarray(design.attrs["pool_delta_high"])
    return {
        "r": float(np.corrcoef(x, y)[0, 1]) if len(x) > 2 else float("nan"),
        "pool_r": float(np.corrcoef(pool_x, pool_y)[0, 1]),
        "n_triplets": len(design),
        "bins_filled": int((per_bin > 0).sum()),
        "bins_total": int(n_low * n_high),
        "min_per_bin": int(per_bin.min()),
        "max_per_bin": int(per_bin.max()),
        "images_used": int(items.nunique()),
        "max_image_use": int(items.value_counts().max()),
        "n_pool": int(design.attrs["n_pool"]),
    }
