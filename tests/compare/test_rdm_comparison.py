from itertools import combinations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import squareform
from scipy.stats import kendalltau, pearsonr, rankdata, spearmanr

from neuroalign.compare import (
    RDM_COMPARISONS,
    bootstrap_indices,
    compare_rdms,
    pair_weights,
    resample_rdm,
    to_square,
    to_vector,
)
from neuroalign.errors import (
    AlignmentError,
    ConfigError,
    DataError,
    SchemaError,
    UnknownNameError,
)


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
    out = compare_rdms(a, b, "spearman")
    assert out.dims == ("split",)
    assert out.values[2] == pytest.approx(spearmanr(a.values[2], b.values[2])[0])


def test_nan_pairs_dropped_pairwise(rng):
    a, b = random_rdms(rng, 1, dim="x"), random_rdms(rng, 2, dim="y")
    b = b.copy()
    b.values[0, [0, 5, 9]] = np.nan
    out = compare_rdms(a, b, "spearman")
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
    with pytest.raises(AlignmentError, match=r"stimulus sets differ: 1 only in a \(e.g. \['d'\]\), "
                                             r"1 only in b \(e.g. \['x'\]\)"):
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


# --------------------------------------------------------------------------- new methods, weights, plain arrays
def brute_tau_a(x, y):
    # reference: Kendall (1938) tau-a, sum of sign products over all pairs of entries / n(n-1)/2
    pairs = list(combinations(range(len(x)), 2))
    return sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i, j in pairs) / len(pairs)


def tied_rdms(rng, k, n=8, dim="rdm", levels=4):
    out = random_rdms(rng, k, n, dim)
    return out.copy(data=np.floor(out.values * levels))  # many ties, as in categorical model RDMs


def test_kendall_taus_match_scipy_and_brute_force(rng):
    # reference: scipy.stats.kendalltau (tau-b) and the brute-force sign-product definition (tau-a)
    a, b = tied_rdms(rng, 2, dim="model"), random_rdms(rng, 3, dim="subject")
    b = b.copy(data=np.round(b.values, 1))
    tau_a, tau_b = compare_rdms(a, b, "tau-a"), compare_rdms(a, b, "kendall")
    assert tau_a.attrs["method"] == "tau-a" and "input_hashes" in tau_a.attrs
    for i in range(2):
        for j in range(3):
            assert tau_b.values[i, j] == pytest.approx(kendalltau(a.values[i], b.values[j]).statistic, abs=1e-12)
            assert tau_a.values[i, j] == pytest.approx(brute_tau_a(a.values[i], b.values[j]), abs=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_kendall_broadcasts_a_resample_dim_present_in_one_input_only(rng, weighted):
    # regression: tau-a crashed ("setting an array element with a sequence") when `a` had a resample dim
    # that `b` lacked.  reference: brute-force sign products (tau-a) and scipy.stats.kendalltau (tau-b) of
    # the expanded vectors (pair p repeated w_p times), resample by resample; 91 pairs > the 64 of small plans.
    n = 14
    a, b = tied_rdms(rng, 3, n=n, dim="resample"), tied_rdms(rng, 2, n=n, dim="subject", levels=6)
    weights = pair_weights(bootstrap_indices(n, 3, seed=5)) if weighted else None
    w = weights.values if weighted else np.ones((3, a.sizes["pair"]))
    for method in ("tau-a", "tau-b"):
        for x, y in ((a, b), (b, a)):
            out = compare_rdms(x, y, method, weights=weights)
            assert set(out.dims) == {"resample", "subject"}
            out = out.transpose("resample", "subject")
            for r in range(3):
                for s in range(2):
                    xa, yb = (np.repeat(v, w[r].astype(int)) for v in (a.values[r], b.values[s]))
                    expected = brute_tau_a(xa, yb) if method == "tau-a" else kendalltau(xa, yb).statistic
                    assert out.values[r, s] == pytest.approx(expected, abs=1e-12), (method, r, s)


def test_rho_a_is_spearman_without_tie_correction(rng):
    # reference: rsatoolbox compare_rho_a: 12 sum(centred ranks products) / (n^3 - n), ranks by scipy.stats.rankdata
    a, b = tied_rdms(rng, 1), random_rdms(rng, 1, dim="other")
    ra, rb = rankdata(a.values[0]), rankdata(b.values[0])
    n = ra.size
    expected = 12 * np.sum((ra - ra.mean()) * (rb - rb.mean())) / (n**3 - n)
    assert compare_rdms(a, b, "rho-a").item() == pytest.approx(expected, abs=1e-12)


def test_whitened_cosine_is_the_cosine_of_double_centred_second_moments(rng):
    # closed form (Diedrichsen et al. 2021): cosine_cov without sigma_k = <G_a, G_b>_F / (|G_a| |G_b|), G = -HDH/2
    a, b = random_rdms(rng, 1), random_rdms(rng, 1, dim="other")
    n = 8
    h = np.eye(n) - 1 / n
    ga, gb = (-h @ squareform(x.values[0]) @ h / 2 for x in (a, b))
    expected = np.sum(ga * gb) / np.linalg.norm(ga) / np.linalg.norm(gb)
    assert compare_rdms(a, b, "cosine_cov").item() == pytest.approx(expected, abs=1e-12)
    # Bures similarity of a Euclidean RDM (PSD second moment) with itself is 1
    points = rng.normal(size=(8, 3))
    euclidean = squareform(((points[:, None] - points[None]) ** 2).sum(-1), checks=False)
    assert compare_rdms(euclidean, euclidean, "bures").item() == pytest.approx(1.0, abs=1e-7)


def test_plain_arrays_give_a_many_to_many_table(rng):
    d = [squareform(rng.random(10)) for _ in range(3)]
    table = compare_rdms(np.stack(d[:2]), np.stack(d), "corr")
    assert table.dims == ("rdm_a", "rdm_b") and table.shape == (2, 3)
    assert table.values[1, 1] == pytest.approx(1.0)
    assert compare_rdms(squareform(d[0]), d[1], "pearson").item() == pytest.approx(
        pearsonr(squareform(d[0]), squareform(d[1]))[0])


def test_pair_weights_reproduce_resampled_rdms(rng):
    # weighting the original RDMs by c_i c_j equals comparing bootstrap-resampled RDMs (duplicated stimuli)
    a, b = tied_rdms(rng, 2, n=10, dim="model"), random_rdms(rng, 3, n=10, dim="subject")
    indices = bootstrap_indices(10, 6, seed=3)
    weights = pair_weights(indices)
    assert weights.dims == ("resample", "pair")
    for method in ("cosine", "corr", "spearman", "rho-a", "tau-a", "tau-b"):
        weighted = compare_rdms(a, b, method, weights=weights)
        direct = compare_rdms(resample_rdm(a, indices), resample_rdm(b, indices), method)
        assert weighted.dims == ("resample", "model", "subject")
        np.testing.assert_allclose(weighted.values, direct.transpose(*weighted.dims).values, atol=1e-12,
                                   err_msg=method)


def test_weights_are_validated(rng):
    a = random_rdms(rng, 1)
    with pytest.raises(ConfigError, match="takes no pair weights"):
        compare_rdms(a, a, "bures", weights=np.ones(a.sizes["pair"]))
    with pytest.raises(DataError, match="whole numbers"):
        compare_rdms(a, a, "tau-a", weights=np.full(a.sizes["pair"], 0.5))
    with pytest.raises(SchemaError, match="one vector over pairs"):
        compare_rdms(a, a, "corr", weights=np.ones((2, a.sizes["pair"])))
    with pytest.raises(DataError, match="non-negative"):
        compare_rdms(a, a, "corr", weights=-np.ones(a.sizes["pair"]))
    with pytest.raises(ConfigError, match="2-D integer array"):
        pair_weights(np.ones((2, 3)))


def test_degenerate_comparisons_raise_or_give_nan_when_asked(rng):
    a = random_rdms(rng, 2)
    b = a.copy(data=np.ones_like(a.values))
    with pytest.raises(DataError, match="constant"):
        compare_rdms(a, b, "spearman")
    out = compare_rdms(a, b, "spearman", on_degenerate="nan")
    assert np.isnan(out.values).all()
    with pytest.raises(DataError, match="complete RDMs"):
        compare_rdms(a, a.where(a > 0.1), "bures")
    with pytest.raises(ConfigError, match="sigma_k"):
        compare_rdms(a, a, "corr", sigma_k=np.ones(8))


def test_shared_and_pairwise_nan_routes_agree(rng):
    # NaN in the same pairs of every RDM (rsatoolbox's rule) is vectorised; different pairs go one by one
    a, b = random_rdms(rng, 3, dim="x"), random_rdms(rng, 2, dim="y")
    drop = rng.random(a.sizes["pair"]) < 0.2
    drop[0] = False
    a, b = a.where(~drop), b.where(~drop)
    extra = b.isel(y=[0]).where(np.arange(b.sizes["pair"]) != 0)  # one more NaN: masks now differ
    mixed = xr.concat([b, extra], "y")
    keep = ~drop
    for method in ("spearman", "tau-b", "corr_cov", "cosine"):
        shared = compare_rdms(a, b, method)
        np.testing.assert_allclose(shared.values, compare_rdms(a, mixed, method).values[:, :2], atol=1e-12)
    expected = spearmanr(a.values[1][keep], b.values[0][keep]).statistic
    assert compare_rdms(a, b, "spearman").values[1, 0] == pytest.approx(expected, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["tau-a", "tau-b", "spearman", "rho-a", "corr"]))
def test_integer_weights_equal_repeated_entries(seed, method):
    # property: a pair of weight c counts as c tied copies of that pair
    rng = np.random.default_rng(seed)
    a, b = tied_rdms(rng, 1, n=6), tied_rdms(rng, 1, n=6, dim="other", levels=3)
    weights = rng.integers(0, 4, a.sizes["pair"]).astype(float)
    weights[:3] = 1
    repeat = weights.astype(int)
    x, y = np.repeat(a.values[0], repeat), np.repeat(b.values[0], repeat)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return
    got = compare_rdms(a, b, method, weights=weights, on_degenerate="nan").item()
    reference = {"tau-a": lambda: brute_tau_a(x, y), "tau-b": lambda: kendalltau(x, y).statistic,
                 "spearman": lambda: spearmanr(x, y).statistic, "corr": lambda: pearsonr(x, y).statistic,
                 "rho-a": lambda: 12 * np.sum((rankdata(x) - (x.size + 1) / 2) * (rankdata(y) - (x.size + 1) / 2))
                 / (x.size**3 - x.size)}[method]()
    assert got == pytest.approx(reference, abs=1e-10)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(sorted(set(RDM_COMPARISONS) - {"bures"})))
def test_similarities_are_symmetric_and_bounded(seed, method):
    # property: every similarity lies in [-1, 1] and does not depend on the argument order
    rng = np.random.default_rng(seed)
    a, b = tied_rdms(rng, 1, levels=20), random_rdms(rng, 1, dim="other")
    ab = compare_rdms(a, b, method).item()
    ba = compare_rdms(b.rename(other="rdm"), a.rename(rdm="other"), method).item()
    assert ab == pytest.approx(ba, abs=1e-12)
    assert -1 - 1e-12 <= ab <= 1 + 1e-12
