"""KSG (Kraskov, Stögbauer & Grassberger 2004, algorithm 1) and Ross (2014) k-NN mutual-information estimators.

References: the closed-form MI of correlated Gaussians, scikit-learn's ``mutual_info_regression`` /
``mutual_info_classif`` (the same estimators for one feature), and a brute-force loop written here.
The two ways of finding neighbours (``method="tree"``: scipy / scikit-learn KD-trees, ``"scan"``: the
compiled blocked scan) are checked against each other and against the loop, per sample and bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import digamma
from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

from neuroalign.errors import ConfigError, DataError, UnknownNameError
from neuroalign.geometry.information.ksg import (SCAN_FROM_DIMS, ksg_label_information, ksg_mutual_information,
                                                 label_neighbour_counts, neighbour_counts, resolve_method)


def gaussian_pair(rho: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return x, rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)


def brute_force_ksg(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """Algorithm 1 as written in the paper: one max-norm distance row per sample, no tree."""
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    n = len(x)
    total = 0.0
    for i in range(n):
        dx = np.abs(x - x[i]).max(axis=1)
        dy = np.abs(y - y[i]).max(axis=1)
        dz = np.maximum(dx, dy)
        dz[i] = np.inf
        eps = np.sort(dz)[k - 1]
        n_x = int((dx < eps).sum()) - 1
        n_y = int((dy < eps).sum()) - 1
        total += digamma(n_x + 1) + digamma(n_y + 1)
    return float(digamma(k) + digamma(n) - total / n)


def brute_force_rows(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The loop's per-sample terms: joint k-th neighbour distance (the query excluded), strict counts."""
    n = len(x)
    eps, n_x, n_y = np.empty(n), np.empty(n, int), np.empty(n, int)
    for i in range(n):
        dx = np.abs(x - x[i]).max(axis=1)
        dy = np.abs(y - y[i]).max(axis=1)
        dz = np.maximum(dx, dy)
        dz[i] = np.inf
        eps[i] = np.sort(dz)[k - 1]
        n_x[i] = int((dx < eps[i]).sum()) - 1
        n_y[i] = int((dy < eps[i]).sum()) - 1
    return eps, n_x, n_y


def brute_force_label_rows(x: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ross (2014) by a loop: the k-th (capped) distance within the class, that k, and the strict count m_i
    over all samples (the sample itself included)."""
    n = len(x)
    sizes = np.bincount(codes)
    radius, k_used, m = np.empty(n), np.empty(n), np.empty(n, int)
    for i in range(n):
        d = np.abs(x - x[i]).max(axis=1)
        same = d[(codes == codes[i]) & (np.arange(n) != i)]
        k_used[i] = min(k, sizes[codes[i]] - 1)
        radius[i] = np.sort(same)[int(k_used[i]) - 1]
        m[i] = int((d < radius[i]).sum())
    return radius, k_used, m


def assert_same_rows(first, second, names=("k-th distance", "n_x", "n_y")) -> None:
    for a, b, name in zip(first, second, names):
        assert np.array_equal(a, b), f"{name} differs on {int((a != b).sum())} sample(s)"


# -- closed forms: I = -0.5 log(1 - rho^2) for a pair, -0.5 log(det C / (det C_xx det C_yy)) for vectors ----

@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_correlated_gaussian_pair_within_0_05_nats_at_3000_samples(rho):
    x, y = gaussian_pair(rho, 3000, seed=0)
    assert ksg_mutual_information(x, y, k=3) == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.05)


def test_correlated_gaussian_vectors_within_0_05_nats_at_4000_samples():
    cov = np.array([[1, .5, .6, .2], [.5, 1, .3, .5], [.6, .3, 1, .4], [.2, .5, .4, 1]])
    z = np.random.default_rng(1).multivariate_normal(np.zeros(4), cov, size=4000)
    truth = -0.5 * np.log(np.linalg.det(cov) / (np.linalg.det(cov[:2, :2]) * np.linalg.det(cov[2:, 2:])))
    assert ksg_mutual_information(z[:, :2], z[:, 2:], k=3) == pytest.approx(truth, abs=0.05)


def test_independent_variables_give_about_zero_and_bits_are_nats_over_log_2():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(2000, 2)), rng.normal(size=(2000, 1))
    nats = ksg_mutual_information(x, y)
    assert abs(nats) < 0.03
    assert ksg_mutual_information(x, y, units="bits") == pytest.approx(nats / np.log(2), rel=1e-12)


# -- scikit-learn: the same estimator for one feature and one target -------------------------------------

@pytest.mark.parametrize("method", ["auto", "tree", "scan"])
@pytest.mark.parametrize("k", [1, 3, 7])
def test_equals_sklearn_mutual_info_regression_for_1d(k, method):
    """sklearn scales x and y to unit standard deviation and adds 1e-10-scaled noise, as we do; on
    standardised inputs the two differ only by that noise, far below the 1e-9 nats tolerance."""
    x, y = gaussian_pair(0.7, 1500, seed=3)
    x, y = x / x.std(), y / y.std()
    ours = ksg_mutual_information(x, y, k=k, method=method)
    theirs = mutual_info_regression(x[:, None], y, n_neighbors=k, random_state=0)[0]
    assert ours == pytest.approx(theirs, abs=1e-9)


@pytest.mark.parametrize("method", ["auto", "tree", "scan"])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_label_estimator_equals_sklearn_mutual_info_classif_for_1d(k, method):
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 1200)
    x = labels + rng.normal(size=1200)
    x = x / x.std()
    ours = ksg_label_information(x, labels, k=k, method=method)
    theirs = mutual_info_classif(x[:, None], labels, n_neighbors=k, random_state=0)[0]
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_label_estimator_finds_one_bit_for_two_separated_classes():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 2000)
    x = np.column_stack([20.0 * labels, np.zeros(2000)]) + rng.normal(size=(2000, 2))
    assert ksg_label_information(x, labels, units="bits") == pytest.approx(1.0, abs=0.02)


# -- the tree against the brute-force loop, several dims -------------------------------------------------

@pytest.mark.parametrize("k", [1, 4])
def test_tree_equals_the_brute_force_loop_in_several_dims(k):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(300, 3))
    y = np.tanh(x @ rng.normal(size=(3, 2))) + 0.3 * rng.normal(size=(300, 2))
    ours = ksg_mutual_information(x, y, k=k, standardize=False, noise=0)
    assert ours == pytest.approx(brute_force_ksg(x, y, k), abs=1e-12)


# -- tree and scan: the same per-sample terms as the loop, bit for bit --------------------------------------

def manifold_pair(n: int, dims_x: int, dims_y: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x near a 4-dim manifold, y = ReLU of a map of x (a layer), as in benchmarks/bench_mi_ksg.py."""
    rng = np.random.default_rng(seed)
    x = np.tanh(rng.normal(size=(n, 4)) @ rng.normal(size=(4, dims_x))) + 0.05 * rng.normal(size=(n, dims_x))
    return x, np.maximum(0.0, x @ rng.normal(size=(dims_x, dims_y)))


@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("dims", [(1, 1), (3, 2), (32, 32)])
def test_tree_and_scan_equal_the_loop_per_sample(dims, k):
    x, y = manifold_pair(400, *dims, seed=sum(dims) + k)
    loop = brute_force_rows(x, y, k)
    assert_same_rows(neighbour_counts(x, y, k, method="tree"), loop)
    assert_same_rows(neighbour_counts(x, y, k, method="scan"), loop)
    assert ksg_mutual_information(x, y, k=k, method="scan", noise=0) == \
        ksg_mutual_information(x, y, k=k, method="tree", noise=0)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_ties_and_duplicated_samples_give_the_same_terms(k):
    """Values on a coarse grid: many distances tie with ε (the strict count decides), and every sample
    appears twice (a duplicate at distance 0 is a neighbour, so ε > 0 from k = 2 on)."""
    rng = np.random.default_rng(k)
    x = rng.integers(0, 6, size=(200, 3)).astype(float)
    joint = np.unique(np.column_stack([x, x[:, :2] + rng.integers(0, 3, size=(200, 2))]), axis=0)
    x, y = np.vstack([joint[:, :3], joint[:, :3]]), np.vstack([joint[:, 3:], joint[:, 3:]])
    loop = brute_force_rows(x, y, k)
    assert (loop[0] > 0).all() and np.isin(loop[0], [1.0, 2.0]).all(), "the test wants ties of ε with grid steps"
    assert_same_rows(neighbour_counts(x, y, k, method="tree"), loop)
    assert_same_rows(neighbour_counts(x, y, k, method="scan"), loop)
    assert ksg_mutual_information(x, y, k=k, standardize=False, noise=0, method="scan") == \
        pytest.approx(brute_force_ksg(x, y, k), abs=1e-12)


def test_scan_refuses_duplicates_that_make_a_distance_zero_as_the_tree_does():
    x, y = gaussian_pair(0.5, 40, seed=0)
    x, y = np.repeat(x, 2), np.repeat(y, 2)
    for method in ("tree", "scan"):
        with pytest.raises(DataError, match="80 sample.*1 or more exact duplicates"):
            ksg_mutual_information(x, y, k=1, noise=0, method=method)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(8, 60), dims_x=st.integers(1, 5), dims_y=st.integers(1, 5),
       k=st.integers(1, 6), grid=st.booleans())
def test_scan_equals_tree_on_random_data(seed, n, dims_x, dims_y, k, grid):
    """Property: on any data (continuous, or rounded to a grid with ties and repeats), both methods give
    identical per-sample terms, and the estimates of both are equal (not merely close)."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, dims_x)), rng.normal(size=(n, dims_y))
    if grid:
        x, y = np.round(x * 2), np.round(y * 2)
    k = min(k, n - 1)
    assert_methods_agree(lambda method: neighbour_counts(x, y, k, method=method),
                         lambda method: ksg_mutual_information(x, y, k=k, noise=0, method=method))


def assert_methods_agree(counts, estimate, terms=None):
    """Tree and scan give identical per-sample terms and equal estimates, or both refuse exact duplicates."""
    try:
        tree = counts("tree")
    except DataError:
        with pytest.raises(DataError, match="exact duplicates"):
            counts("scan")
        return
    assert_same_rows(counts("scan"), tree, *(() if terms is None else (terms,)))
    assert estimate("scan") == estimate("tree")


LABEL_TERMS = ("within-class k-th distance", "k used", "m")


@pytest.mark.parametrize("k", [1, 3, 9])
@pytest.mark.parametrize("dims", [1, 4, 40])
def test_label_terms_of_tree_and_scan_equal_the_loop_per_sample(dims, k):
    """Classes of 5 to ~150 samples: k = 9 is capped at 4 in the smallest class."""
    x, _ = manifold_pair(300, dims, 1, seed=dims + k)
    codes = np.repeat([0, 1, 2], [5, 145, 150])
    loop = brute_force_label_rows(x, codes, k)
    assert_same_rows(label_neighbour_counts(x, codes, k, method="tree"), loop, LABEL_TERMS)
    assert_same_rows(label_neighbour_counts(x, codes, k, method="scan"), loop, LABEL_TERMS)
    assert ksg_label_information(x, codes, k=k, noise=0, method="scan") == \
        ksg_label_information(x, codes, k=k, noise=0, method="tree")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(8, 60), dims=st.integers(1, 5), classes=st.integers(1, 4),
       k=st.integers(1, 6), grid=st.booleans())
def test_label_scan_equals_tree_on_random_data(seed, n, dims, classes, k, grid):
    """Property: Ross's per-sample terms and estimate are the same by both methods, ties included."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dims))
    if grid:
        x = np.round(x * 2)
    codes = np.arange(n) % classes  # every class has at least two samples
    assert_methods_agree(lambda method: label_neighbour_counts(x, codes, k, method=method),
                         lambda method: ksg_label_information(x, codes, k=k, noise=0, method=method), LABEL_TERMS)


def test_auto_scans_from_scan_from_dims_joint_dims_on():
    assert resolve_method("auto", SCAN_FROM_DIMS - 1) == "tree"
    assert resolve_method("auto", SCAN_FROM_DIMS) == "scan"
    assert resolve_method("tree", 64) == "tree" and resolve_method("scan", 2) == "scan"
    x, y = manifold_pair(200, 8, 8, seed=1)
    assert ksg_mutual_information(x, y) == ksg_mutual_information(x, y, method="scan")


def test_unknown_method_is_a_named_error():
    x, y = gaussian_pair(0.5, 50, seed=0)
    with pytest.raises(UnknownNameError, match="unknown method 'kdtree'") as error:
        ksg_mutual_information(x, y, method="kdtree")
    assert error.value.source == "method" and "'tree'" in error.value.fix
    assert isinstance(error.value, ConfigError)
    with pytest.raises(UnknownNameError, match="unknown method 'brute'"):
        ksg_label_information(x, (x > 0).astype(int), method="brute")


# -- invariances -----------------------------------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), k=st.integers(1, 5))
def test_symmetric_and_invariant_to_dim_and_sample_order(seed, k):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(120, 3))
    y = x[:, :2] @ rng.normal(size=(2, 2)) + rng.normal(size=(120, 2))
    value = ksg_mutual_information(x, y, k=k, noise=0)
    assert ksg_mutual_information(y, x, k=k, noise=0) == pytest.approx(value, abs=1e-12)
    assert ksg_mutual_information(x[:, ::-1], y, k=k, noise=0) == pytest.approx(value, abs=1e-12)
    order = rng.permutation(120)
    assert ksg_mutual_information(x[order], y[order], k=k, noise=0) == pytest.approx(value, abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), scales=st.lists(st.floats(0.01, 100), min_size=3, max_size=3))
def test_standardised_estimate_is_invariant_to_rescaling_each_dim(seed, scales):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(150, 2))
    y = x[:, :1] + rng.normal(size=(150, 1))
    value = ksg_mutual_information(x, y, noise=0)
    rescaled = ksg_mutual_information(x * scales[:2], y * scales[2], noise=0)
    assert rescaled == pytest.approx(value, abs=1e-9)


def test_constant_dims_such_as_dead_units_change_nothing():
    x, y = gaussian_pair(0.6, 500, seed=8)
    value = ksg_mutual_information(x, y, noise=0)
    dead = np.column_stack([np.zeros(500), y, np.full(500, 3.0)])
    assert ksg_mutual_information(x, dead, noise=0) == pytest.approx(value, abs=1e-12)


def test_monotone_transforms_of_each_dim_change_the_estimate_little():
    """MI is invariant to monotone maps of each variable; the estimate only approximately (0.05 nats)."""
    x, y = gaussian_pair(0.8, 3000, seed=7)
    value = ksg_mutual_information(x, y)
    assert ksg_mutual_information(np.exp(x), y**3) == pytest.approx(value, abs=0.05)


# -- named errors ----------------------------------------------------------------------------------------

def test_bad_settings_raise_config_errors():
    x, y = gaussian_pair(0.5, 50, seed=0)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ConfigError, match="k must be an integer"):
            ksg_mutual_information(x, y, k=bad)
    with pytest.raises(ConfigError, match="units"):
        ksg_mutual_information(x, y, units="dits")
    with pytest.raises(ConfigError, match="noise"):
        ksg_mutual_information(x, y, noise=-1.0)


def test_bad_data_raise_data_errors():
    x, y = gaussian_pair(0.5, 50, seed=0)
    bad = x.copy()
    bad[3] = np.nan
    with pytest.raises(DataError, match="x holds 1 NaN"):
        ksg_mutual_information(bad, y)
    with pytest.raises(DataError, match="needs at least 4"):
        ksg_mutual_information(x[:3], y[:3], k=3)
    with pytest.raises(DataError, match="x has 50 samples and y 49"):
        ksg_mutual_information(x, y[:-1])
    repeated = np.repeat(x[:10], 5)
    with pytest.raises(DataError, match="duplicates"):
        ksg_mutual_information(repeated, np.repeat(y[:10], 5), noise=0)
    with pytest.raises(DataError, match="single sample"):
        ksg_label_information(x, [0] * 49 + [1])
    with pytest.raises(DataError, match="one label per sample"):
        ksg_label_information(x, [0, 1])
