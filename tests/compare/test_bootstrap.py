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
    scores = compare_rdms(resample_rdm(a, idx), resample_rdm(b, idx))
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
