"""Relative representations (Moschella et al., 2023) and the similarity of latent spaces across models.

A relative representation describes each stimulus by its cosine similarities
to a fixed set of *anchor* stimuli, in the network's own space:
``r(x)_j = cos(e(x), e(a_j))``.  Angle-preserving changes of a latent space
(an orthogonal transform and isotropic scaling, what two trainings of one
architecture from different seeds tend to differ by) leave it unchanged, so
relative representations of two networks can be compared, and a readout
trained on one can be applied to the other (:mod:`.relative_stitching`).

Measures of how similar two latent spaces are over the same stimuli (the
paper's Jaccard, MRR and cosine):

* :func:`knn_jaccard`: mean over stimuli of the Jaccard index of the
  stimulus' ``k`` nearest neighbours (cosine similarity, itself excluded) in
  each space;
* :func:`retrieval_mrr`: mean reciprocal rank of the stimulus' own row of
  ``b`` when the rows of ``b`` are ranked by cosine similarity to its row of
  ``a`` (ties count against it, as in scikit-learn's
  ``label_ranking_average_precision_score``);
* :func:`mean_cosine`: mean cosine similarity of each stimulus' rows.

:func:`latent_similarity` returns all three as one :class:`~neuroalign.Score`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ...data.align import align
from ...data.provenance import provenance
from ...data.schema import NEUROID, PRESENTATION, validate
from ...errors import ConfigError, DataError
from ...fitting.base import check_bool, check_choice, check_int
from ...score import Score

__all__ = ["relative_representation", "select_anchors", "farthest_point_indices", "knn_jaccard",
           "retrieval_mrr", "mean_cosine", "latent_similarity", "ANCHOR_METHODS", "LATENT_MEASURES"]

#: How :func:`select_anchors` picks anchors.
ANCHOR_METHODS = ("random", "farthest")
#: The measures of :func:`latent_similarity`, in order.
LATENT_MEASURES = ("jaccard", "mrr", "cosine")


def _matrix(x: Any, name: str) -> xr.DataArray:
    if not isinstance(x, xr.DataArray):
        raise ConfigError(f"{name} is a {type(x).__name__}, not a (presentation, neuroid) DataArray", source=name,
                          fix="pass one layer's activations as returned by neuroalign.extract.extract")
    validate(x, dims=(PRESENTATION, NEUROID), name=name)
    if x.ndim != 2:
        raise DataError(f"{name} has dims {x.dims}, expected (presentation, neuroid)", source=name,
                        fix="select or stack the other dims away first")
    x = x.transpose(PRESENTATION, NEUROID)
    if len(np.unique(x["stimulus_id"].values)) != x.sizes[PRESENTATION]:
        raise DataError(f"{name} holds some stimuli more than once", source=name,
                        fix="average repetitions first (neuroalign.data.average_repetitions)")
    return x


def _unit_rows(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise DataError(f"{name} has {int(np.sum(norms == 0))} all-zero row(s), whose cosine similarity is "
                        "undefined", source=name, fix="drop those stimuli, or use center=True")
    return values / norms


def _rows_of(x: xr.DataArray, ids: Sequence[Any], name: str) -> np.ndarray:
    position = {sid: i for i, sid in enumerate(x["stimulus_id"].values.tolist())}
    missing = [sid for sid in ids if sid not in position]
    if missing:
        raise DataError(f"{len(missing)} anchor(s) are not stimuli of {name}, e.g. {missing[:3]}", source=name,
                        fix="pick anchors among the stimuli both representations hold")
    return x.values[[position[sid] for sid in ids]]


def relative_representation(x: xr.DataArray, anchors: Any, *, center: bool = False) -> xr.DataArray:
    """Each stimulus as its cosine similarities to the anchors (Moschella et al., 2023).

    Parameters
    ----------
    x : xarray.DataArray
        ``(presentation, neuroid)`` activations with ``stimulus_id``.
    anchors : sequence of stimulus ids, or xarray.DataArray
        The anchors: ids of stimuli of ``x`` (their rows are the anchors), or
        a ``(presentation, neuroid)`` array of anchor activations in the same
        space as ``x`` (same ``neuroid_id``s).
    center : bool
        Subtract the anchors' mean from every row (``x`` and anchors) before
        the cosine; the result is then also invariant to translating the space.

    Returns
    -------
    xarray.DataArray
        ``(presentation, neuroid)`` with one neuroid per anchor:
        ``neuroid_id`` = ``"anchor:<stimulus_id>"`` and coordinate ``anchor_id``;
        ``x``'s presentation coordinates are kept.  Values in [−1, 1].

    Raises
    ------
    DataError
        An anchor is not a stimulus of ``x``, anchors repeat, or a row is all zeros.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.compare.matching.relative import relative_representation
    >>> x = xr.DataArray(np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), dims=("presentation", "neuroid"),
    ...                  coords={"stimulus_id": ("presentation", ["a", "b", "c"]),
    ...                          "neuroid_id": ("neuroid", ["u", "v"])})
    >>> relative_representation(x, ["a", "b"]).values.round(3).tolist()
    [[1.0, 0.0], [0.0, 1.0], [0.707, 0.707]]
    """
    x = _matrix(x, "x")
    center = check_bool("center", center)
    if isinstance(anchors, xr.DataArray):
        rows = _matrix(anchors, "anchors")
        if not np.array_equal(rows["neuroid_id"].values, x["neuroid_id"].values):
            raise DataError("the anchors' neuroid_ids differ from x's: they come from another space", source="anchors",
                            fix="pass the anchor stimuli's activations from the same layer of the same network")
        ids = rows["stimulus_id"].values.tolist()
        anchor_values = rows.values
    else:
        if isinstance(anchors, (str, bytes)) or not isinstance(anchors, (Sequence, np.ndarray)):
            raise ConfigError(f"anchors must be stimulus ids or a DataArray, got {type(anchors).__name__}",
                              source="anchors", fix="pass e.g. anchors=select_anchors(x, 64, random_state=0)")
        ids = list(np.asarray(anchors).tolist())
        anchor_values = _rows_of(x, ids, "x")
    if not ids:
        raise ConfigError("no anchors given", source="anchors", fix="pass at least one anchor stimulus")
    if len(set(ids)) != len(ids):
        raise DataError("some anchors repeat", source="anchors", fix="pass each anchor stimulus once")
    values = np.asarray(x.values, dtype=np.float64)
    anchor_values = np.asarray(anchor_values, dtype=np.float64)
    if center:
        mean = anchor_values.mean(0, keepdims=True)
        values, anchor_values = values - mean, anchor_values - mean
    similarity = _unit_rows(values, "x") @ _unit_rows(anchor_values, "anchors").T
    coords = {name: coord for name, coord in x.coords.items() if coord.dims == (PRESENTATION,)}
    coords["neuroid_id"] = (NEUROID, [f"anchor:{sid}" for sid in ids])
    coords["anchor_id"] = (NEUROID, np.asarray(ids))
    attrs = provenance({"method": "relative-cosine", "center": center, "n_anchors": len(ids)},
                       {"x": values, "anchors": anchor_values})
    return xr.DataArray(np.clip(similarity, -1.0, 1.0), dims=(PRESENTATION, NEUROID), coords=coords, attrs=attrs)


def farthest_point_indices(values: np.ndarray, n: int, start: int = 0) -> np.ndarray:
    """Greedy farthest-point sampling: ``n`` row indices, each the farthest (Euclidean) from those chosen.

    Starts from row ``start``; ties go to the lowest index.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare.matching.relative import farthest_point_indices
    >>> farthest_point_indices(np.array([[0.0], [1.0], [10.0], [4.0]]), 3).tolist()
    [0, 2, 3]
    """
    values = np.asarray(values, dtype=np.float64)
    n = check_int("n_anchors", n, minimum=1)
    if n > len(values):
        raise ConfigError(f"{n} anchors asked for but only {len(values)} stimuli given", source="n_anchors",
                          fix=f"pass n_anchors <= {len(values)}")
    chosen = [int(start)]
    nearest = np.sum((values - values[start]) ** 2, axis=1)
    for _ in range(n - 1):
        nxt = int(np.argmax(nearest))
        chosen.append(nxt)
        nearest = np.minimum(nearest, np.sum((values - values[nxt]) ** 2, axis=1))
    return np.asarray(chosen)


def select_anchors(x: xr.DataArray, n_anchors: int, *, method: str = "random",
                   random_state: int | np.random.Generator | None = None) -> np.ndarray:
    """Stimulus ids of ``n_anchors`` anchors among the stimuli of ``x``.

    ``"random"``: drawn without replacement; ``"farthest"``: farthest-point
    sampling on the unit-normalised rows (i.e. spread in angle, what the
    cosine of :func:`relative_representation` sees), from a random first anchor.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.compare.matching.relative import select_anchors
    >>> x = xr.DataArray(np.random.default_rng(0).normal(size=(10, 3)), dims=("presentation", "neuroid"),
    ...                  coords={"stimulus_id": ("presentation", [f"s{i}" for i in range(10)]),
    ...                          "neuroid_id": ("neuroid", ["a", "b", "c"])})
    >>> len(select_anchors(x, 4, method="farthest", random_state=0))
    4
    """
    x = _matrix(x, "x")
    method = check_choice("method", method, ANCHOR_METHODS)
    n_anchors = check_int("n_anchors", n_anchors, minimum=1)
    if n_anchors > x.sizes[PRESENTATION]:
        raise ConfigError(f"{n_anchors} anchors asked for but x holds {x.sizes[PRESENTATION]} stimuli",
                          source="n_anchors", fix=f"pass n_anchors <= {x.sizes[PRESENTATION]}")
    rng = np.random.default_rng(random_state)
    ids = x["stimulus_id"].values
    if method == "random":
        return ids[np.sort(rng.choice(len(ids), size=n_anchors, replace=False))]
    start = int(rng.integers(len(ids)))
    return ids[farthest_point_indices(_unit_rows(x.values, "x"), n_anchors, start)]


# ----------------------------------------------------------------------------- latent similarity
def _aligned_units(a: Any, b: Any, same_features: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit-normalised rows of ``a`` and ``b`` aligned on ``stimulus_id``, and those stimulus ids."""
    a, b = align(_matrix(a, "a"), _matrix(b, "b"), names=("a", "b"))
    if same_features and a.sizes[NEUROID] != b.sizes[NEUROID]:
        raise DataError(f"a has {a.sizes[NEUROID]} features and b {b.sizes[NEUROID]}; this measure compares "
                        "rows directly", source="a/b",
                        fix="compare relative representations built on the same anchors")
    return _unit_rows(a.values, "a"), _unit_rows(b.values, "b"), a["stimulus_id"].values


def _pair(a: Any, b: Any, same_features: bool) -> tuple[np.ndarray, np.ndarray]:
    return _aligned_units(a, b, same_features)[:2]


def _neighbours(unit: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k most cosine-similar other rows (ties to the lower index)."""
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def _jaccard_rows(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    n = len(a)
    k = check_int("k", k, minimum=1)
    if k >= n:
        raise ConfigError(f"k={k} neighbours need more than {k} stimuli, got {n}", source="k",
                          fix=f"pass k < {n}")
    na, nb = _neighbours(a, k), _neighbours(b, k)
    member = np.zeros((n, n), dtype=bool)
    np.put_along_axis(member, na, True, axis=1)
    shared = np.take_along_axis(member, nb, axis=1).sum(1)
    return shared / (2 * k - shared)


def _reciprocal_ranks(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    similarity = a @ b.T
    own = np.diag(similarity)
    return 1.0 / np.sum(similarity >= own[:, None], axis=1)


def knn_jaccard(a: xr.DataArray, b: xr.DataArray, k: int = 10) -> float:
    """Mean Jaccard index of each stimulus' ``k`` nearest neighbours (cosine) in ``a`` and in ``b``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.compare.matching.relative import knn_jaccard
    >>> x = xr.DataArray(np.random.default_rng(0).normal(size=(20, 4)), dims=("presentation", "neuroid"),
    ...                  coords={"stimulus_id": ("presentation", np.arange(20)), "neuroid_id": ("neuroid", list("abcd"))})
    >>> knn_jaccard(x, 3 * x, k=5)
    1.0
    """
    return float(np.mean(_jaccard_rows(*_pair(a, b, same_features=False), k)))


def retrieval_mrr(a: xr.DataArray, b: xr.DataArray) -> float:
    """Mean reciprocal rank of each stimulus' own row of ``b`` among all rows of ``b``, ranked by cosine to its row
    of ``a``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.compare.matching.relative import retrieval_mrr
    >>> x = xr.DataArray(np.random.default_rng(0).normal(size=(20, 4)), dims=("presentation", "neuroid"),
    ...                  coords={"stimulus_id": ("presentation", np.arange(20)), "neuroid_id": ("neuroid", list("abcd"))})
    >>> retrieval_mrr(x, x)
    1.0
    """
    return float(np.mean(_reciprocal_ranks(*_pair(a, b, same_features=True))))


def mean_cosine(a: xr.DataArray, b: xr.DataArray) -> float:
    """Mean over stimuli of the cosine similarity between a stimulus' row of ``a`` and of ``b``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.compare.matching.relative import mean_cosine
    >>> x = xr.DataArray(np.random.default_rng(0).normal(size=(20, 4)), dims=("presentation", "neuroid"),
    ...                  coords={"stimulus_id": ("presentation", np.arange(20)), "neuroid_id": ("neuroid", list("abcd"))})
    >>> round(mean_cosine(x, -x), 6)
    -1.0
    """
    unit_a, unit_b = _pair(a, b, same_features=True)
    return float(np.mean(np.sum(unit_a * unit_b, axis=1)))


def latent_similarity(a: xr.DataArray, b: xr.DataArray, k: int = 10) -> Score:
    """Jaccard of k-NN sets, retrieval MRR and mean cosine between two representations of the same stimuli.

    Parameters
    ----------
    a, b : xarray.DataArray
        ``(presentation, neuroid)`` arrays aligned on ``stimulus_id`` (the
        same stimuli; an AlignmentError otherwise).  MRR and cosine compare
        rows directly, so ``a`` and ``b`` need the same features — relative
        representations on the same anchors; Jaccard compares neighbourhoods
        and works on any two spaces.
    k : int
        Neighbours per stimulus for the Jaccard index.

    Returns
    -------
    Score
        dims ``(measure,)`` = ``jaccard``, ``mrr``, ``cosine``; ``raw``
        holds the per-stimulus values ``(presentation, measure)``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.compare.matching.relative import latent_similarity
    >>> x = xr.DataArray(np.random.default_rng(0).normal(size=(20, 4)), dims=("presentation", "neuroid"),
    ...                  coords={"stimulus_id": ("presentation", np.arange(20)), "neuroid_id": ("neuroid", list("abcd"))})
    >>> latent_similarity(x, 2 * x, k=3).values.values.round(6).tolist()
    [1.0, 1.0, 1.0]
    """
    unit_a, unit_b, stimulus_ids = _aligned_units(a, b, same_features=True)
    per_stimulus = np.stack([_jaccard_rows(unit_a, unit_b, k), _reciprocal_ranks(unit_a, unit_b),
                             np.sum(unit_a * unit_b, axis=1)], axis=1)
    raw = xr.DataArray(per_stimulus, dims=(PRESENTATION, "measure"),
                       coords={"stimulus_id": (PRESENTATION, stimulus_ids),
                               "measure": list(LATENT_MEASURES)})
    value = xr.DataArray(per_stimulus.mean(0), dims=("measure",), coords={"measure": list(LATENT_MEASURES)})
    return Score(value, raw=raw, metric="latent-similarity", params={"k": int(k), "n_stimuli": len(unit_a)})
