import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr, spearmanr

from neuroalign.compare import compare_rdms, to_square, to_vector
from neuroalign.errors import AlignmentError, DataError, UnknownNameError


def random_rdms(rng, k, n=8, dim="rdm"):
    vectors = rng.random((k, n * (n - 1) // 2))
    ids = np.array([f"s{i}" for i in range(n)])
    rows, cols = np.triu_indices(n, 1)
    return xr.DataArray(vectors, dims=(dim, "pair"),
                        coords={"stimulus_id_a": ("pair", ids[rows]), "stimulus_id_b": ("pair", ids[cols])})


def test_spearman_and_pearson_match_scipy(rng):
    # reference: scipy.stats.spearmanr / pearsonr on the upper-triangle vectors
    a, b = random_rdms(rng, 3, dim="model"), random_rdms(rng, 4, dim="subject")
    for method, ref in (("spearman", spearmanr), ("pearson", pearsonr)):
        table = compare_rdms(a, b, method)
        assert table.dims == ("model", "subject")
        for i in range(3):
            for j in range(4):
                assert table.values[i, j] == pytest.approx(ref(a.values[i], b.values[j])[0], abs=1e-12)


def test_cosine_closed_form(rng):
    a, b = random_rdms(rng, 1), random_rdms(rng, 1, dim="other")
    expected = a.values[0] @ b.values[0] / np.linalg.norm(a.values[0]) / np.linalg.norm(b.values[0])
    assert compare_rdms(a, b, "cosine").item() == pytest.approx(expected)


def test_shared_dims_are_matched_elementwise(rng):
    a, b = random_rdms(rng, 5, dim="split"), random_rdms(rng, 5, dim="split")
    out = compare_rdms(a, b)
    assert out.dims == ("split",)
    assert out.values[2] == pytest.approx(spearmanr(a.values[2], b.values[2])[0])


def test_nan_pairs_dropped_pairwise(rng):
    a, b = random_rdms(rng, 1, dim="x"), random_rdms(rng, 2, dim="y")
    b = b.copy()
    b.values[0, [0, 5, 9]] = np.nan
    out = compare_rdms(a, b)
    keep = ~np.isnan(b.values[0])
    assert out.values[0, 0] == pytest.approx(spearmanr(a.values[0][keep], b.values[0][keep])[0])
    assert out.values[0, 1] == pytest.approx(spearmanr(a.values[0], b.values[1])[0])


def test_stimulus_order_is_matched_by_id(rng):
    n = 6
    d = rng.random((n, n))
    d = d + d.T
    np.fill_diagonal(d, 0)
    ids = np.array(list("abcdef"))
    perm = rng.permutation(n)
    a = to_vector(d, ids)
    b = to_vector(d[np.ix_(perm, perm)], ids[perm])
    assert float(compare_rdms(a, b)) == pytest.approx(1.0)
    assert to_square(b).sel(stimulus_id_a="c", stimulus_id_b="e").item() == d[2, 4]


def test_different_stimuli_raise(rng):
    a = to_vector(np.ones((4, 4)) - np.eye(4), list("abcd"))
    b = to_vector(np.ones((4, 4)) - np.eye(4), list("abcx"))
    with pytest.raises(AlignmentError, match="different stimuli"):
        compare_rdms(a, b)


def test_constant_rdm_and_unknown_method():
    a = to_vector(np.ones((4, 4)) - np.eye(4))
    with pytest.raises(DataError, match="constant"):
        compare_rdms(a, a, "pearson")
    with pytest.raises(UnknownNameError, match="spearman"):
        compare_rdms(a, a, "spearmann")


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.1, 10), st.floats(-5, 5))
def test_correlations_invariant_to_positive_affine_maps(seed, scale, shift):
    rng = np.random.default_rng(seed)
    a, b = random_rdms(rng, 1), random_rdms(rng, 1, dim="other")
    for method in ("spearman", "pearson"):
        assert compare_rdms(a * scale + shift, b, method).item() == pytest.approx(compare_rdms(a, b, method).item())
