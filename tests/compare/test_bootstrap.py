import numpy as np
import pytest
from scipy.stats import spearmanr

from neuroalign.compare import bootstrap_indices, compare_rdms, resample_gram, resample_rdm, to_vector
from neuroalign.errors import ConfigError


def test_resampled_rdm_matches_manual_subsetting(rng):
    n = 7
    d = rng.random((n, n))
    d = d + d.T
    np.fill_diagonal(d, 0)
    rdm = to_vector(d)
    idx = bootstrap_indices(n, 4, seed=2)
    out = resample_rdm(rdm, idx)
    assert out.dims == ("resample", "pair")
    rows, cols = np.triu_indices(n, 1)
    for b in range(4):
        i, j = idx[b, rows], idx[b, cols]
        expected = np.where(i == j, np.nan, d[i, j])  # copies of one stimulus: no information
        np.testing.assert_array_equal(out.values[b], expected)


def test_resampled_comparison_ignores_duplicate_pairs(rng):
    n = 9
    a, b = to_vector(_sym(rng, n)), to_vector(_sym(rng, n))
    idx = bootstrap_indices(n, 3, seed=0)
    scores = compare_rdms(resample_rdm(a, idx), resample_rdm(b, idx), "spearman")
    ra, rb = resample_rdm(a, idx).values[1], resample_rdm(b, idx).values[1]
    keep = ~np.isnan(ra)
    assert scores.values[1] == pytest.approx(spearmanr(ra[keep], rb[keep])[0])


def test_resample_gram(rng):
    g = rng.random((2, 5, 5))
    idx = np.array([[0, 0, 3, 4, 1]])
    out = resample_gram(g, idx)
    assert out.shape == (1, 2, 5, 5)
    np.testing.assert_array_equal(out[0, 1], g[1][np.ix_(idx[0], idx[0])])


def test_bootstrap_indices_seeded():
    np.testing.assert_array_equal(bootstrap_indices(10, 5, seed=1), bootstrap_indices(10, 5, seed=1))
    with pytest.raises(ConfigError):
        bootstrap_indices(10, 1)


def _sym(rng, n):
    d = rng.random((n, n))
    d = d + d.T
    np.fill_diagonal(d, 0)
    return d


# ---------------------------------------------------------------- weighted kernels
# reference: each kernel must equal the comparison of the *expanded* resampled vectors
# (pair p repeated w_p times, copies of one stimulus dropped), computed with scipy / rsatoolbox.
from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy.stats import kendalltau, pearsonr, rankdata  # noqa: E402

from neuroalign.compare import RDM_COMPARISONS, pair_weights, resample_counts  # noqa: E402
from neuroalign.compare.common.bootstrap import counts_to_pair_weights  # noqa: E402
from neuroalign.compare.rsa.comparison_methods import WEIGHTED_COMPARISONS, weighted_similarity  # noqa: E402


def _tau_a(x, y):
    sx, sy = np.sign(x[:, None] - x[None]), np.sign(y[:, None] - y[None])
    return (sx * sy).sum() / (len(x) * (len(x) - 1))


def _rho_a(x, y):
    rx, ry = rankdata(x), rankdata(y)
    return 12 * np.sum((rx - rx.mean()) * (ry - ry.mean())) / (len(x) ** 3 - len(x))


REFERENCES = {
    "cosine": lambda x, y: x @ y / np.linalg.norm(x) / np.linalg.norm(y),
    "corr": lambda x, y: pearsonr(x, y)[0],
    "pearson": lambda x, y: pearsonr(x, y)[0],
    "spearman": lambda x, y: pearsonr(rankdata(x), rankdata(y))[0],
    "rho-a": _rho_a,
    "tau-a": _tau_a,
    "tau-b": lambda x, y: kendalltau(x, y)[0],
    "kendall": lambda x, y: kendalltau(x, y)[0],
}


def _expanded(values, weights):
    return np.repeat(values, weights.astype(int))


def test_resample_counts_and_pair_weights():
    idx = np.array([[0, 0, 2, 3], [1, 1, 1, 1]])
    counts = resample_counts(idx, 4)
    np.testing.assert_array_equal(counts, [[2, 0, 1, 1], [0, 4, 0, 0]])
    # the plain-array weights agree with compare.pair_weights (pairs (0,1) (0,2) (0,3) (1,2) (1,3) (2,3))
    np.testing.assert_array_equal(counts_to_pair_weights(counts), pair_weights(idx, 4).values)
    np.testing.assert_array_equal(counts_to_pair_weights(counts)[0], [0, 2, 2, 0, 0, 1])
    with pytest.raises(ConfigError):
        resample_counts(np.array([[0, 4]]), 4)


def test_every_kernel_has_a_reference():
    assert set(WEIGHTED_COMPARISONS) == set(REFERENCES)


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
@settings(max_examples=25, deadline=None)
@given(n=st.integers(6, 14), levels=st.integers(2, 6), seed=st.integers(0, 10_000),
       method=st.sampled_from(sorted(REFERENCES)))
@example(n=6, levels=2, seed=3, method="corr")  # a resample on which a category RDM is constant
@example(n=6, levels=2, seed=0, method="cosine")
def test_kernels_equal_expanded_comparisons(n, levels, seed, method):
    rng = np.random.default_rng(seed)
    p = n * (n - 1) // 2
    a = rng.integers(0, levels, size=(1, 2, p)).astype(float)  # heavy ties, as in category models
    b = rng.random((1, 3, p))
    b[0, 0] = np.round(b[0, 0] * levels)
    w = counts_to_pair_weights(resample_counts(bootstrap_indices(n, 4, seed=seed), n))
    keep = [r for r in range(4) if (w[r] > 0).sum() >= 3]
    w = w[keep]
    expected = np.array([[[REFERENCES[method](_expanded(a[0, i], wr), _expanded(b[0, j], wr))
                           for j in range(3)] for i in range(2)] for wr in w])
    # a resample on which either RDM is constant (all zero, for the cosine) has no correlation: every
    # kernel gives NaN there (the tau-a and rho-a references would say 0)
    def undefined(x):
        return not np.any(x) if method == "cosine" else np.ptp(x) == 0

    constant = np.array([[[undefined(_expanded(a[0, i], wr)) or undefined(_expanded(b[0, j], wr))
                           for j in range(3)] for i in range(2)] for wr in w])
    expected[constant] = np.nan
    ok = np.isfinite(expected)
    crossed = weighted_similarity(a, b, w, method)
    np.testing.assert_array_equal(np.isnan(crossed), ~ok)
    np.testing.assert_allclose(crossed[ok], expected[ok], atol=1e-12)
    per_row = weighted_similarity(np.repeat(a, len(w), 0), b, w, method)  # per-resample vectors
    np.testing.assert_allclose(per_row[ok], expected[ok], atol=1e-12)
    paired = weighted_similarity(np.repeat(a, len(w), 0), b[:, :2], w, method, paired=True)
    diagonal = expected[:, [0, 1], [0, 1]]
    np.testing.assert_allclose(paired[np.isfinite(diagonal)], diagonal[np.isfinite(diagonal)], atol=1e-12)


@pytest.mark.parametrize("method", ["tau-a", "tau-b", "spearman"])
@pytest.mark.parametrize("ties", [True, False])
def test_kernels_across_many_blocks(rng, method, ties):
    # n = 70 gives 2415 pairs: 26 blocks of 96 (shared) and 76 blocks of 32 (per resample)
    n = 70
    p = n * (n - 1) // 2
    a, b = rng.random((1, 1, p)), rng.random((1, 1, p))
    if ties:
        a = np.round(a * 20)
    w = counts_to_pair_weights(resample_counts(bootstrap_indices(n, 3, seed=4), n))
    expected = [REFERENCES[method](_expanded(a[0, 0], wr), _expanded(b[0, 0], wr)) for wr in w]
    np.testing.assert_allclose(weighted_similarity(a, b, w, method)[:, 0, 0], expected, atol=1e-12)
    np.testing.assert_allclose(weighted_similarity(np.repeat(a, 3, 0), b, w, method)[:, 0, 0], expected, atol=1e-12)


@pytest.mark.parametrize("method", [m for m in WEIGHTED_COMPARISONS if m in RDM_COMPARISONS])
def test_kernels_equal_compare_rdms_of_resampled_rdms(rng, method):
    # cross-check against the registry's implementation on explicitly resampled RDMs (NaN pairs dropped)
    n = 10
    a, b = to_vector(np.stack([_sym(rng, n) for _ in range(2)])), to_vector(np.stack([_sym(rng, n) for _ in range(3)]))
    b = b.rename(rdm_0="other")
    idx = bootstrap_indices(n, 5, seed=1)
    expected = compare_rdms(resample_rdm(a, idx), resample_rdm(b, idx), method).transpose("resample", "rdm_0", "other")
    w = counts_to_pair_weights(resample_counts(idx, n))
    got = weighted_similarity(a.values[None], b.values[None], w, method)
    np.testing.assert_allclose(got, expected.values, atol=1e-12)


def test_resamples_with_fewer_than_three_pairs_are_nan(rng):
    n = 6
    a = to_vector(_sym(rng, n)).values[None, None]
    idx = np.array([[0, 0, 0, 1, 1, 1], [0, 1, 2, 3, 4, 5]])  # first resample: one distinct pair
    out = weighted_similarity(a, a, counts_to_pair_weights(resample_counts(idx, n)), "corr")
    assert np.isnan(out[0, 0, 0]) and out[1, 0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize("method", WEIGHTED_COMPARISONS)
def test_registry_kernels_and_weighted_similarity_are_one_code_path(rng, method):
    # compare_rdms(..., weights=) and weighted_similarity must give identical numbers (one implementation)
    n = 12
    a, b = rng.random((2, n * (n - 1) // 2)), rng.random((3, n * (n - 1) // 2))
    w = counts_to_pair_weights(resample_counts(bootstrap_indices(n, 4, seed=7), n))
    registry = RDM_COMPARISONS[method].kernel(a[None], b[None], w)
    np.testing.assert_array_equal(registry, weighted_similarity(a[None], b[None], w, method))
