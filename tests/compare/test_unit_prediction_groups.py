"""Sparse prediction of one layer's units from another's, and many-to-many unit groups (Li et al. 2015).

References: scikit-learn's ``Lasso`` estimator, ``StandardScaler`` and ``r2_score`` re-run on the same
held-out split and penalty grid (an independent path to the same numbers); planted sparse mappings; and
``SpectralCoclustering`` called directly, plus a planted block structure recovered exactly (adjusted Rand
index 1).
"""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import SpectralCoclustering
from sklearn.linear_model import Lasso
from sklearn.metrics import adjusted_rand_score, r2_score
from sklearn.preprocessing import StandardScaler

from neuroalign.compare.matching.lasso_prediction import sparse_prediction
from neuroalign.compare.matching.correlation import unit_correlation
from neuroalign.compare.matching.coclustering import unit_groups
from neuroalign.data import create_assembly
from neuroalign.errors import ConfigError, DataError


def _layer(values, stimuli=None, prefix="u"):
    stimuli = stimuli if stimuli is not None else [f"s{i}" for i in range(len(values))]
    return create_assembly(values, stimulus_id=stimuli, neuroid_id=[f"{prefix}{j}" for j in range(values.shape[1])])


def _planted(seed=0, n=300):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12))
    y = np.stack([x[:, 3], x[:, 0] - x[:, 5], x[:, 1] + x[:, 2] + x[:, 4] + x[:, 6],
                  rng.normal(size=n)], axis=1)                  # the last target is unrelated to a
    return x, y + 0.05 * rng.normal(size=y.shape)


def test_planted_sparse_mappings_need_their_number_of_units():
    x, y = _planted()
    out = sparse_prediction(_layer(x, prefix="a"), _layer(y, prefix="b"), r2=0.9)
    assert out.units_needed.values.tolist() == [1, 2, 4, -1]
    assert out.reached.values.tolist() == [True, True, True, False]
    assert out.best_r2.values[:3].min() > 0.95 and out.best_r2.values[3] < 0.2
    assert out.neuroid_id_b.values.tolist() == ["b0", "b1", "b2", "b3"]


def test_units_needed_equal_scikit_learn_lasso_on_the_same_split_and_grid():
    x, y = _planted(1, n=200)
    r2, n_alphas, eps, seed, test_size = 0.8, 20, 1e-2, 7, 0.25
    out = sparse_prediction(_layer(x), _layer(y), r2=r2, n_alphas=n_alphas, eps=eps, random_state=seed,
                            test_size=test_size)
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:50], order[50:]
    sx, sy = StandardScaler().fit(x[train]), StandardScaler().fit(y[train])
    xt, xs = sx.transform(x[train]), sx.transform(x[test])
    yt, ys = sy.transform(y[train]), sy.transform(y[test])
    for j in range(y.shape[1]):
        largest = np.abs(xt.T @ yt[:, j]).max() / len(xt)
        counts, scores = [], []
        for alpha in np.geomspace(largest, largest * eps, n_alphas):
            model = Lasso(alpha=alpha, fit_intercept=False, tol=1e-10, max_iter=100_000).fit(xt, yt[:, j])
            counts.append(int((np.abs(model.coef_) > 1e-10).sum()))
            scores.append(r2_score(ys[:, j], model.predict(xs)))
        counts, scores = np.array(counts), np.array(scores)
        expected = counts[scores >= r2].min() if (scores >= r2).any() else -1
        assert int(out.units_needed[j]) == expected
        np.testing.assert_allclose(float(out.best_r2[j]), scores.max(), atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_sparse_prediction_ignores_the_unit_order_of_a_and_the_stimulus_order_of_b(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(80, 6))
    y = x[:, :2] @ rng.normal(size=(2, 3)) + 0.1 * rng.normal(size=(80, 3))
    stimuli = [f"s{i}" for i in range(80)]
    base = sparse_prediction(_layer(x, stimuli), _layer(y, stimuli), r2=0.5, n_alphas=15)
    pa, ps = rng.permutation(6), rng.permutation(80)
    moved = sparse_prediction(_layer(x, stimuli).isel(neuroid=pa), _layer(y, stimuli).isel(presentation=ps),
                              r2=0.5, n_alphas=15)
    assert moved.units_needed.values.tolist() == base.units_needed.values.tolist()
    np.testing.assert_allclose(moved.best_r2.values, base.best_r2.values, rtol=0, atol=1e-8)


def test_sparse_prediction_named_errors():
    x, y = _planted(2, n=40)
    x[:, 4] = 1.5
    with pytest.raises(DataError, match="constant") as info:
        sparse_prediction(_layer(x, prefix="a"), _layer(y))
    assert "a4" in info.value.problem
    dropped = sparse_prediction(_layer(x, prefix="a"), _layer(y, prefix="b"), constant="drop")
    assert dropped.attrs["dropped_neuroid_id_a"] == ["a4"] and dropped.attrs["n_units_a"] == 11
    y[:, 1] = 0.0
    with pytest.raises(DataError, match="b1"):
        sparse_prediction(_layer(np.delete(x, 4, axis=1)), _layer(y, prefix="b"))
    kept = sparse_prediction(_layer(x, prefix="a"), _layer(y, prefix="b"), constant="drop")
    assert kept.neuroid_id_b.values.tolist() == ["b0", "b2", "b3"] and kept.attrs["dropped_neuroid_id_b"] == ["b1"]
    with pytest.raises(ConfigError, match="constant"):
        sparse_prediction(_layer(y), _layer(y), constant="skip")
    with pytest.raises(ConfigError, match="r2"):
        sparse_prediction(_layer(y), _layer(y), r2=1.5)
    with pytest.raises(DataError, match="at least"):
        sparse_prediction(_layer(y[:6]), _layer(y[:6]))


def _blocks(seed=0):
    """Two layers whose units form 3 planted groups (a shared latent per group)."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(400, 3))
    group_a, group_b = np.repeat([0, 1, 2], [4, 5, 3]), np.repeat([0, 1, 2], [3, 3, 6])
    xa = latent[:, group_a] + 0.7 * rng.normal(size=(400, 12))
    xb = latent[:, group_b] + 0.7 * rng.normal(size=(400, 12))
    return unit_correlation(_layer(xa, prefix="a"), _layer(xb, prefix="b")), group_a, group_b


def test_planted_groups_are_recovered_and_equal_scikit_learn_coclustering():
    corr, group_a, group_b = _blocks()
    groups = unit_groups(corr, 3, random_state=0)
    assert adjusted_rand_score(group_a, groups.group_a.values) == 1.0
    assert adjusted_rand_score(group_b, groups.group_b.values) == 1.0
    reference = SpectralCoclustering(n_clusters=3, random_state=0).fit(np.abs(corr.values))
    np.testing.assert_array_equal(groups.group_a.values, reference.row_labels_)
    np.testing.assert_array_equal(groups.group_b.values, reference.column_labels_)
    assert (groups.within.values > groups.between.values + 0.3).all()
    assert groups.neuroid_id_a.values.tolist() == corr.neuroid_id_a.values.tolist()


def test_unit_groups_named_errors():
    corr, _, _ = _blocks(1)
    with pytest.raises(ConfigError, match="n_groups"):
        unit_groups(corr, 13)
    zero = corr.copy(data=np.where(np.arange(12)[:, None] == 0, 0.0, corr.values))
    with pytest.raises(DataError, match="a0"):
        unit_groups(zero, 3)
    with pytest.raises(DataError, match="neuroid_a"):
        unit_groups(xr.DataArray(np.ones((3, 3)), dims=("x", "y")), 2)
