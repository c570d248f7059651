"""Triplets in index form: object positions, checks, and the three pair similarities of each triplet.

The fast core of every triplet analysis works on plain arrays:

- ``features``: float array ``(n_objects, p)``, one row per object;
- ``triplets``: integer array ``(n, 3)`` of object positions (rows of ``features``);
- ``choices``: integer array ``(n,)`` in {0, 1, 2}, the position of the ODD ONE within its row.

Pair order (:data:`PAIRS`): column ``k`` of the similarities of a triplet is the
similarity of the pair that EXCLUDES item ``k``, so the predicted odd one is
``argmax(s, axis=1)`` (the item outside the most similar pair) and choice
probabilities are ``softmax(s / T, axis=1)``.  Permuting the three columns of a
triplet permutes its similarities the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy.linalg.blas import dsyrk
from scipy.spatial.distance import pdist, squareform

from .._compiled import compiled
from ..errors import AlignmentError, DataError, SchemaError, UnknownNameError

__all__ = ["PAIRS", "SIMILARITIES", "triplet_positions", "check_triplets", "pair_similarities", "used_objects",
           "checked_features"]

#: The pair of item positions whose similarity is column ``k``: the pair that excludes item ``k``.
PAIRS = ((1, 2), (0, 2), (0, 1))

#: Similarity kinds of :func:`pair_similarities` (``"euclidean"`` gives the NEGATIVE distance).
SIMILARITIES = ("dot", "cosine", "euclidean")

_SHOWN = 5  # how many bad rows / ids an error message lists
_GRAM_BYTES = 256 * 2**20  # the largest (n_objects, n_objects) float64 similarity matrix built in one piece
_CHUNK_BYTES = 64 * 2**20  # the gathered features of one chunk of triplets, when no matrix is built


def triplet_positions(judgements: xr.Dataset, stimulus_ids: Sequence[Any] | pd.Index | np.ndarray,
                      *, source: str = "judgements") -> tuple[np.ndarray, np.ndarray]:
    """The object positions and odd-one positions of judgements, for features ordered by ``stimulus_ids``.

    Parameters
    ----------
    judgements : xarray.Dataset
        Triplet judgements as returned by :func:`neuroalign.loaders.load_triplets`:
        ``stimulus_id`` on dims ``(trial, item)`` and ``choice_index`` on ``trial``.
    stimulus_ids : sequence
        The stimulus id of each row of the features (e.g. a representation's
        ``stimulus_id`` coordinate), each once.
    source : str
        How to name the judgements in errors.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``triplets`` ``(n, 3)`` int64 positions into ``stimulus_ids`` and
        ``choices`` ``(n,)`` int64 in {0, 1, 2}.

    Raises
    ------
    SchemaError
        ``judgements`` lacks ``stimulus_id`` (trial, item) or ``choice_index``.
    AlignmentError
        ``stimulus_ids`` repeats an id, or judged stimuli are missing from it
        (some are listed).
    DataError
        A triplet repeats a stimulus, or a choice is not 0, 1 or 2.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> judgements = xr.Dataset({"stimulus_id": (("trial", "item"), [["cat", "dog", "car"]]),
    ...                          "choice_index": ("trial", [2])})
    >>> t, c = triplet_positions(judgements, ["car", "cat", "dog"])
    >>> t.tolist(), c.tolist()
    ([[1, 2, 0]], [2])
    """
    if not isinstance(judgements, xr.Dataset) or "stimulus_id" not in judgements or "choice_index" not in judgements:
        raise SchemaError("judgements must be a Dataset with 'stimulus_id' (trial, item) and 'choice_index' (trial)",
                          source=source, fix="load them with neuroalign.loaders.load_triplets")
    ids_var = judgements["stimulus_id"]
    if ids_var.ndim != 2 or ids_var.shape[1] != 3:
        raise SchemaError(f"'stimulus_id' has shape {ids_var.shape}, expected (trial, 3)", source=source,
                          fix="load the judgements with neuroalign.loaders.load_triplets")
    if "item" in ids_var.dims:
        ids_var = ids_var.transpose(..., "item")
    index = pd.Index(np.asarray(stimulus_ids))
    if not index.is_unique:
        dup = index[index.duplicated()].unique()[:_SHOWN].tolist()
        raise AlignmentError(f"the features' stimulus ids repeat (e.g. {dup}); each object needs one row",
                             source="stimulus_ids",
                             fix="average repetitions first with neuroalign.data.average_repetitions")
    judged = np.asarray(ids_var.values)
    positions = index.get_indexer(judged.ravel()).reshape(judged.shape)
    missing = positions < 0
    if missing.any():
        absent = pd.unique(judged[missing])
        fix = "score only judgements of stimuli the representation holds, or extract features for the missing ones"
        kinds = {np.asarray(index).dtype.kind, judged.dtype.kind}
        if len(kinds & {"i", "u"}) and len(kinds & {"U", "O", "S"}):
            fix = ("the judgements' ids and the representation's ids have different types (numbers vs text): "
                   "map the indices to ids first (e.g. load_triplets with an index-to-id map)")
        raise AlignmentError(
            f"{absent.size} judged stimulus id(s) are missing from the representation, e.g. "
            f"{absent[:_SHOWN].tolist()} ({int(missing.any(axis=1).sum())} of {len(judged)} triplets affected)",
            source=source, fix=fix)
    choices = np.asarray(judgements["choice_index"].values)
    triplets, choices = check_triplets(positions, len(index), choices, source=source)
    return triplets, choices


def check_triplets(triplets: Any, n_objects: int, choices: Any = None, *,
                   source: str = "triplets") -> tuple[np.ndarray, np.ndarray | None]:
    """Check triplets (and choices) in index form, and return them as int64 arrays.

    Parameters
    ----------
    triplets : array_like
        ``(n, 3)`` integer object positions.
    n_objects : int
        Number of objects (rows of the features).
    choices : array_like, optional
        ``(n,)`` integer positions of the odd one within each row, in {0, 1, 2}.
    source : str
        How to name the input in errors.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray or None)
        The triplets and choices (None when not given), as int64.

    Raises
    ------
    DataError
        Wrong shape or non-integer values, an index out of ``[0, n_objects)``,
        an object repeated within a triplet, or a choice not in {0, 1, 2}
        (the first bad rows are named).

    Examples
    --------
    >>> t, c = check_triplets([[0, 1, 2], [2, 0, 3]], 4, [2, 0])
    >>> t.shape, c.tolist()
    ((2, 3), [2, 0])
    >>> check_triplets([[0, 1, 1]], 4)
    Traceback (most recent call last):
    ...
    neuroalign.errors.DataError: triplets: 1 triplet(s) repeat an object, rows [0] (e.g. [0, 1, 1]). Fix: ...
    """
    t = np.asarray(triplets)
    if t.ndim != 2 or t.shape[1] != 3:
        raise DataError(f"triplets must have shape (n, 3), got {t.shape}", source=source,
                        fix="pass one row of three object positions per triplet")
    if t.size and t.dtype.kind not in "iu":
        raise DataError(f"triplets must hold integer object positions, got dtype {t.dtype}", source=source,
                        fix="convert them with np.asarray(triplets).astype(int) after checking they are whole")
    t = t.astype(np.int64, copy=False)
    if t.size and (t.min() < 0 or t.max() >= n_objects):
        bad = np.flatnonzero(((t < 0) | (t >= n_objects)).any(axis=1))
        raise DataError(f"{bad.size} triplet(s) hold an object index outside [0, {n_objects}), rows "
                        f"{bad[:_SHOWN].tolist()} (e.g. {t[bad[0]].tolist()})", source=source,
                        fix="check the index base (0-based positions into the features) and the object count")
    repeated = (t[:, 0] == t[:, 1]) | (t[:, 0] == t[:, 2]) | (t[:, 1] == t[:, 2])
    if repeated.any():
        bad = np.flatnonzero(repeated)
        raise DataError(f"{bad.size} triplet(s) repeat an object, rows {bad[:_SHOWN].tolist()} "
                        f"(e.g. {t[bad[0]].tolist()})", source=source,
                        fix="an odd-one-out judgement needs three different objects: drop those rows")
    if choices is None:
        return t, None
    c = np.asarray(choices)
    if c.shape != (len(t),):
        raise DataError(f"choices must have shape ({len(t)},), one per triplet, got {c.shape}", source=source,
                        fix="pass the position (0, 1 or 2) of the odd one of each triplet")
    if c.size and c.dtype.kind not in "iu":
        if c.dtype.kind == "f" and np.all(np.isfinite(c)) and np.all(c == np.round(c)):
            c = c.astype(np.int64)
        else:
            raise DataError(f"choices must be integer positions 0, 1 or 2, got dtype {c.dtype}", source=source,
                            fix="pass the position of the odd one within each triplet")
    c = c.astype(np.int64, copy=False)
    if c.size and (c.min() < 0 or c.max() > 2):
        bad = np.flatnonzero((c < 0) | (c > 2))
        raise DataError(f"{bad.size} choice(s) are not one of the three items (not 0, 1 or 2), rows "
                        f"{bad[:_SHOWN].tolist()} (e.g. {c[bad[0]]})", source=source,
                        fix="choices are 0-based positions of the odd one within its triplet")
    return t, c


def pair_similarities(features: Any, triplets: Any, kind: str = "dot", *,
                      chunk: int | None = None) -> np.ndarray:
    """The three pair similarities of each triplet, ``(n, 3)`` float64, column ``k`` excluding item ``k``.

    Parameters
    ----------
    features : array_like
        ``(n_objects, p)`` features (computed in float64).
    triplets : array_like
        ``(n, 3)`` object positions (checked with :func:`check_triplets`).
    kind : {"dot", "cosine", "euclidean"}
        Dot product, cosine similarity, or NEGATIVE euclidean distance.
    chunk : int, optional
        Triplets per block.  With up to ~5,800 objects the similarity matrix of
        all objects is built once (made exactly symmetric) and looked up;
        beyond that, or when ``chunk`` is given, the features of each block of
        triplets are gathered and multiplied (blocks of ~64 MiB by default).

    Returns
    -------
    numpy.ndarray
        ``s`` of shape ``(n, 3)``: ``s[:, 0]`` = sim(1, 2), ``s[:, 1]`` = sim(0, 2),
        ``s[:, 2]`` = sim(0, 1) (:data:`PAIRS`).  A pair's similarity does not
        depend on the order of its two items, so permuting a triplet's columns
        permutes its row exactly.

    Raises
    ------
    UnknownNameError
        An unknown ``kind``.
    DataError
        Features that are not finite or not 2-D; bad triplets; an all-zero
        feature row with ``kind="cosine"``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1., 0.], [1., 0.1], [0., 1.]])
    >>> pair_similarities(x, [[0, 1, 2]]).round(2).tolist()
    [[0.1, 0.0, 1.0]]
    >>> int(pair_similarities(x, [[0, 1, 2]], "euclidean").argmax(axis=1)[0])  # item 2 is the odd one
    2
    """
    x = checked_features(features, kind)
    t, _ = check_triplets(triplets, len(x), source="triplets")
    return _pair_similarities(x, t, kind, chunk)


def checked_features(features: Any, kind: str = "dot") -> np.ndarray:
    """Features as a finite 2-D float64 array, after checking the similarity ``kind`` (errors as pair_similarities)."""
    if kind not in SIMILARITIES:
        raise UnknownNameError(kind, SIMILARITIES, what="similarity", source="similarity")
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"features must be 2-D (objects, features), got shape {x.shape}", source="features",
                        fix="pass one row per object")
    if not np.isfinite(x).all():
        rows = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise DataError(f"{rows.size} feature row(s) hold NaN or inf, e.g. rows {rows[:_SHOWN].tolist()}",
                        source="features", fix="drop or repair those objects before scoring")
    return x


def _pair_similarities(x: np.ndarray, t: np.ndarray, kind: str, chunk: int | None) -> np.ndarray:
    """pair_similarities on finite float64 features and checked triplets."""
    if chunk is not None and (not isinstance(chunk, (int, np.integer)) or chunk < 1):
        raise DataError(f"chunk must be a positive number of triplets, got {chunk!r}", source="chunk",
                        fix="pass e.g. chunk=4096, or leave it out")
    if kind == "cosine":
        norms = np.linalg.norm(x, axis=1)
        zero = np.flatnonzero(norms == 0)
        if zero.size:
            raise DataError(f"{zero.size} object(s) have all-zero features, rows {zero[:_SHOWN].tolist()}: their "
                            "cosine similarity is undefined", source="features",
                            fix="use similarity='dot' or 'euclidean', or drop those objects")
        x = x / norms[:, None]
    out = np.empty((len(t), 3))
    if chunk is None and len(x) ** 2 * 8 <= _GRAM_BYTES:
        _gather_pairs(_similarity_matrix(x, kind), t, out)
        return out
    step = chunk or max(1, _CHUNK_BYTES // (3 * 8 * max(x.shape[1], 1)))
    for start in range(0, len(t), step):
        block = x[t[start:start + step]]  # (b, 3, p)
        for k, (i, j) in enumerate(PAIRS):
            a, b = block[:, i], block[:, j]
            if kind == "euclidean":
                diff = a - b
                out[start:start + step, k] = -np.sqrt(np.einsum("np,np->n", diff, diff))
            else:
                out[start:start + step, k] = np.einsum("np,np->n", a, b)
    return out


def used_objects(triplets: np.ndarray, n_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """The objects that occur in checked ``triplets`` (sorted) and the triplets renumbered into them.

    Examples
    --------
    >>> objects, codes = used_objects(np.array([[4, 1, 2]]), 6)
    >>> objects.tolist(), codes.tolist()
    ([1, 2, 4], [[2, 0, 1]])
    """
    present = np.bincount(triplets.ravel(), minlength=n_objects) > 0
    if present.all():
        return np.arange(n_objects), triplets
    lookup = np.cumsum(present) - 1
    return np.flatnonzero(present), lookup[triplets]


def _similarity_matrix(x: np.ndarray, kind: str) -> np.ndarray:
    """All objects' pair similarities, exactly symmetric (a pair's value does not depend on its order)."""
    if kind == "euclidean":
        return -squareform(pdist(x, "euclidean"))  # direct differences: duplicated objects are exactly 0 apart
    upper = dsyrk(1.0, x)  # x @ x.T, upper triangle computed once (half of a matrix product's work)
    return np.triu(upper) + np.triu(upper, 1).T


@compiled
def _gather_pairs(matrix: np.ndarray, t: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """out[n, k] = matrix of the pair that excludes item k of triplet n (PAIRS)."""
    for n in range(t.shape[0]):
        a, b, c = t[n, 0], t[n, 1], t[n, 2]
        out[n, 0] = matrix[b, c]
        out[n, 1] = matrix[a, c]
        out[n, 2] = matrix[a, b]
