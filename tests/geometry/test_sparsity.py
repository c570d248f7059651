"""Activation sparsity against closed forms, scipy.stats.kurtosis and a hand loop of Hurley & Rickard's Gini."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neuroalign.data import create_assembly
from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError
from neuroalign.geometry.sparsity import (
    SPARSITY_MEASURES,
    activation_sparsity,
    gini_index,
    hoyer_sparsity,
    layer_sparsity,
)


def _gini_loop(vector):
    """Hurley & Rickard (2009), section II: G = 1 - 2 sum_k c_(k)/||c||_1 (N - k + 1/2)/N, k = 1..N ascending."""
    c = sorted(abs(float(v)) for v in vector)
    n, total = len(c), sum(c)
    return 1.0 - 2.0 * sum(c[k - 1] / total * (n - k + 0.5) / n for k in range(1, n + 1))


def _hoyer_loop(vector):
    n = len(vector)
    l1 = sum(abs(float(v)) for v in vector)
    l2 = sum(float(v) ** 2 for v in vector) ** 0.5
    return (n ** 0.5 - l1 / l2) / (n ** 0.5 - 1)


@pytest.mark.parametrize("n", [2, 3, 10, 257])
def test_closed_forms_of_one_hot_and_constant_vectors(n):
    one_hot = np.zeros(n)
    one_hot[n // 2] = 3.5
    constant = np.full(n, -2.0)
    assert hoyer_sparsity(one_hot) == pytest.approx(1.0)
    assert hoyer_sparsity(constant) == pytest.approx(0.0, abs=1e-12)
    assert gini_index(one_hot) == pytest.approx((n - 1) / n)  # H&R: one nonzero entry of N gives 1 - 1/N
    assert gini_index(constant) == pytest.approx(0.0, abs=1e-12)
    a = create_assembly(np.vstack([one_hot, one_hot[::-1]]), stimulus_id=["x", "y"])
    s = activation_sparsity(a)
    # excess kurtosis of a one-hot vector: m4 / m2^2 - 3 = n - 5 + 1 / (n - 1) (moments of a two-point law)
    np.testing.assert_allclose(s.sel(measure="kurtosis"), n - 5 + 1 / (n - 1), rtol=1e-12)
    np.testing.assert_allclose(s.sel(measure="zero_fraction"), (n - 1) / n)


def test_against_loops_and_scipy(rng):
    values = np.maximum(rng.normal(size=(30, 40)), 0) * rng.exponential(size=(30, 1))
    values[0, :5] = 0.0
    a = create_assembly(values, stimulus_id=[f"s{i}" for i in range(30)])
    s = activation_sparsity(a)
    assert s.dims == ("presentation", "measure") and list(s.measure.values) == list(SPARSITY_MEASURES)
    np.testing.assert_allclose(s.sel(measure="gini"), [_gini_loop(v) for v in values], rtol=1e-12)
    np.testing.assert_allclose(s.sel(measure="hoyer"), [_hoyer_loop(v) for v in values], rtol=1e-12)
    # scipy's default is the excess (Fisher) kurtosis with biased (population) moments
    np.testing.assert_allclose(s.sel(measure="kurtosis"), scipy.stats.kurtosis(values, axis=1), rtol=1e-10)
    np.testing.assert_allclose(s.sel(measure="zero_fraction"), (values == 0).mean(axis=1))
    assert list(s.stimulus_id.values) == [f"s{i}" for i in range(30)]
    assert "provenance" in s.attrs


def test_tol_and_lifetime_sparsity(rng):
    values = rng.normal(size=(12, 6))
    a = create_assembly(values, stimulus_id=range(12), neuroid={"region": list("abcdef")})
    near = activation_sparsity(a, measures="zero_fraction", tol=0.5)
    np.testing.assert_allclose(near.sel(measure="zero_fraction"), (np.abs(values) <= 0.5).mean(axis=1))
    lifetime = activation_sparsity(a, over="presentation")
    assert lifetime.dims == ("neuroid", "measure") and list(lifetime.region.values) == list("abcdef")
    np.testing.assert_allclose(lifetime.sel(measure="kurtosis"), scipy.stats.kurtosis(values, axis=0), rtol=1e-10)
    np.testing.assert_allclose(lifetime.sel(measure="gini"), [_gini_loop(v) for v in values.T], rtol=1e-12)


def test_extreme_scales_do_not_overflow():
    vector = np.array([1e200, 0.0, 3e199, 1e199])
    np.testing.assert_allclose(hoyer_sparsity(vector * 1e-300), hoyer_sparsity(vector / 1e200))
    assert np.isfinite(hoyer_sparsity(vector)) and np.isfinite(gini_index(vector))
    a = create_assembly(np.vstack([vector, vector[::-1] * 1e-250]), stimulus_id=["x", "y"])
    k = activation_sparsity(a, measures="kurtosis").values[:, 0]
    np.testing.assert_allclose(k, scipy.stats.kurtosis(np.vstack([vector, vector[::-1]]) / 1e200, axis=1))


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(2, 6), st.integers(2, 30)),
              elements=st.floats(-1e3, 1e3, allow_nan=False)),
       st.floats(1e-3, 1e3), st.randoms(use_true_random=False))
def test_scale_and_permutation_invariance(values, scale, random):
    values[:, 0] += 1.0 + np.abs(values).max()  # never all zeros, never constant
    a = create_assembly(values, stimulus_id=range(len(values)))
    order = list(range(values.shape[1]))
    random.shuffle(order)
    base = activation_sparsity(a)
    scaled = activation_sparsity(a * scale)
    permuted = activation_sparsity(a.isel(neuroid=order))
    for measure in ("hoyer", "gini", "kurtosis"):
        np.testing.assert_allclose(scaled.sel(measure=measure), base.sel(measure=measure), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(permuted, base, rtol=1e-9, atol=1e-12)
    assert ((base.sel(measure=["hoyer", "gini"]) >= 0) & (base.sel(measure=["hoyer", "gini"]) <= 1)).all()


def test_degenerate_vectors_raise_or_are_marked():
    a = create_assembly([[0.0, 0.0, 0.0], [1.0, 2.0, 0.0]], stimulus_id=["silent", "active"])
    with pytest.raises(DataError, match="silent"):
        activation_sparsity(a)
    marked = activation_sparsity(a, degenerate="nan")
    assert np.isnan(marked.sel(presentation=0, measure="hoyer")) and marked.sel(presentation=0,
                                                                                 measure="zero_fraction") == 1
    assert np.isfinite(marked.sel(presentation=1)).all()
    with pytest.raises(DataError, match="kurtosis is undefined"):
        activation_sparsity(create_assembly([[2.0, 2.0]], stimulus_id=["c"]), measures=["hoyer", "kurtosis"])


def test_bad_arguments():
    a = create_assembly(np.ones((3, 4)), stimulus_id=range(3))
    with pytest.raises(UnknownNameError, match="hoyr"):
        activation_sparsity(a, measures=["hoyr"])
    with pytest.raises(UnknownNameError):
        activation_sparsity(a, over="time")
    with pytest.raises(ConfigError, match="tol"):
        activation_sparsity(a, tol=-1)
    with pytest.raises(DataError, match="at least 2"):
        activation_sparsity(a.isel(neuroid=[0]))
    with pytest.raises(SchemaError):
        activation_sparsity(xr.DataArray(np.ones((3, 4)), dims=("presentation", "neuroid")))


def test_layer_summary(rng):
    x = rng.normal(size=(25, 40))
    layers = {"pre": create_assembly(x, stimulus_id=range(25)),
              "relu": create_assembly(np.maximum(x, 0), stimulus_id=range(25))}
    score = layer_sparsity(layers)
    assert score.data.score.dims == ("layer", "measure") and list(score.data.layer.values) == ["pre", "relu"]
    assert score.raw.dims == ("layer", "presentation", "measure")
    per = activation_sparsity(layers["relu"])
    np.testing.assert_allclose(score.data.score.sel(layer="relu"), per.mean("presentation"))
    np.testing.assert_allclose(score.data.error.sel(layer="relu"), per.std("presentation", ddof=1) / 5)
    zero = score.data.score.sel(measure="zero_fraction")
    assert zero.sel(layer="pre") == 0 and 0.3 < zero.sel(layer="relu") < 0.7
    shuffled = dict(layers, relu=layers["relu"].isel(presentation=slice(None, None, -1)))
    with pytest.raises(AlignmentError, match="relu"):
        layer_sparsity(shuffled)
    with pytest.raises(ConfigError):
        layer_sparsity([layers["pre"]])
