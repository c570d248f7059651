"""Index form of triplets: positions from judgements, checks, pair similarities.

Reference: a per-triplet Python loop over the three pairs (np.dot / np.linalg.norm per pair),
in the style of SPoSE / Brain-Score evaluation code.
"""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import AlignmentError, DataError, SchemaError, UnknownNameError
from neuroalign.triplets.indexing import PAIRS, check_triplets, pair_similarities, triplet_positions


def _loop_similarities(x, triplets, kind):
    out = np.empty((len(triplets), 3))
    for n, row in enumerate(triplets):
        for k, (i, j) in enumerate(PAIRS):
            a, b = x[row[i]].astype(float), x[row[j]].astype(float)
            if kind == "dot":
                out[n, k] = np.dot(a, b)
            elif kind == "cosine":
                out[n, k] = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
            else:
                out[n, k] = -np.linalg.norm(a - b)
    return out


def _random_triplets(rng, n_objects, n):
    return np.stack([rng.choice(n_objects, 3, replace=False) for _ in range(n)])


@pytest.mark.parametrize("kind", ["dot", "cosine", "euclidean"])
@pytest.mark.parametrize("chunk", [None, 7])
def test_pair_similarities_match_loop(kind, chunk):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 5)).astype(np.float32)
    t = _random_triplets(rng, 20, 50)
    got = pair_similarities(x, t, kind, chunk=chunk)
    np.testing.assert_allclose(got, _loop_similarities(x, t, kind), rtol=1e-10, atol=1e-10)


def test_pair_similarities_paths_agree():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 8))
    t = _random_triplets(rng, 30, 100)
    for kind in ("dot", "cosine", "euclidean"):
        np.testing.assert_allclose(pair_similarities(x, t, kind), pair_similarities(x, t, kind, chunk=13),
                                   rtol=1e-10, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), perm=st.permutations([0, 1, 2]),
       kind=st.sampled_from(["dot", "cosine", "euclidean"]), chunk=st.sampled_from([None, 3]))
def test_permuting_columns_permutes_similarities_exactly(seed, perm, kind, chunk):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(12, 4))
    t = _random_triplets(rng, 12, 20)
    perm = list(perm)
    s = pair_similarities(x, t, kind, chunk=chunk)
    np.testing.assert_array_equal(pair_similarities(x, t[:, perm], kind, chunk=chunk), s[:, perm])


def test_duplicated_objects_give_exactly_equal_similarities():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(10, 6))
    x[5] = x[3]
    s = pair_similarities(x, [[3, 5, 0]], "euclidean")
    assert s[0, 2] == 0.0  # the pair (3, 5) of identical objects
    assert s[0, 0] == s[0, 1]  # sim(5, 0) == sim(3, 0)


def test_check_triplets_errors_name_rows():
    with pytest.raises(DataError, match=r"outside \[0, 4\), rows \[1\]"):
        check_triplets([[0, 1, 2], [0, 1, 4]], 4)
    with pytest.raises(DataError, match=r"outside"):
        check_triplets([[-1, 1, 2]], 4)
    with pytest.raises(DataError, match=r"repeat an object, rows \[0, 2\]"):
        check_triplets([[0, 0, 2], [0, 1, 2], [3, 1, 3]], 4)
    with pytest.raises(DataError, match=r"not one of the three items.*rows \[1\]"):
        check_triplets([[0, 1, 2], [0, 1, 2]], 4, [0, 3])
    with pytest.raises(DataError, match=r"not one of the three items"):
        check_triplets([[0, 1, 2]], 4, [-1])
    with pytest.raises(DataError, match=r"shape \(n, 3\)"):
        check_triplets([[0, 1]], 4)
    with pytest.raises(DataError, match=r"integer"):
        check_triplets([[0.5, 1, 2]], 4)
    with pytest.raises(DataError, match=r"one per triplet"):
        check_triplets([[0, 1, 2]], 4, [0, 1])
    t, c = check_triplets(np.array([[0, 1, 2]], dtype=np.int32), 3, np.array([2.0]))
    assert t.dtype == np.int64 and c.tolist() == [2]


def test_pair_similarities_errors():
    x = np.ones((3, 2))
    with pytest.raises(UnknownNameError, match="similarity"):
        pair_similarities(x, [[0, 1, 2]], "manhattan")
    with pytest.raises(DataError, match="NaN or inf"):
        pair_similarities(np.array([[1.0, np.nan], [0, 1], [1, 1]]), [[0, 1, 2]])
    with pytest.raises(DataError, match="all-zero"):
        pair_similarities(np.array([[0.0, 0.0], [0, 1], [1, 1]]), [[0, 1, 2]], "cosine")
    with pytest.raises(DataError, match="chunk"):
        pair_similarities(x, [[0, 1, 2]], chunk=0)


def _judgements(ids, choices, subjects=None):
    coords = {"trial": np.arange(len(ids)), "item": np.arange(3)}
    if subjects is not None:
        coords["subject"] = ("trial", subjects)
    ids = np.asarray(ids) if isinstance(ids, np.ndarray) else np.asarray(ids, dtype=object)
    return xr.Dataset({"stimulus_id": (("trial", "item"), ids),
                       "choice_index": ("trial", np.asarray(choices))}, coords=coords)


def test_triplet_positions():
    j = _judgements([["a", "b", "c"], ["d", "a", "b"]], [2, 0])
    t, c = triplet_positions(j, ["d", "c", "b", "a"])
    assert t.tolist() == [[3, 2, 1], [0, 3, 2]] and c.tolist() == [2, 0]


def test_triplet_positions_errors():
    j = _judgements([["a", "b", "c"], ["x", "a", "y"], ["z", "a", "b"]], [2, 0, 1])
    with pytest.raises(AlignmentError, match=r"3 judged stimulus id\(s\) are missing.*\['x', 'y', 'z'\].*2 of 3"):
        triplet_positions(j, ["a", "b", "c"])
    with pytest.raises(AlignmentError, match="repeat"):
        triplet_positions(j, ["a", "a", "b"])
    with pytest.raises(AlignmentError, match="different types"):
        triplet_positions(_judgements(np.array([[0, 1, 2]], dtype=np.int64), [0]), ["0", "1", "2"])
    with pytest.raises(SchemaError, match="choice_index"):
        triplet_positions(j.drop_vars("choice_index"), ["a", "b", "c"])
    with pytest.raises(DataError, match="not one of the three items"):
        triplet_positions(_judgements([["a", "b", "c"]], [5]), ["a", "b", "c"])
