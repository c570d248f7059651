"""Baseline connectivity features against numpy closed forms, and their invariances."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import ConfigError, DataError, SchemaError
from neuroalign.graphs.fc_features import static_fc_features, window_variability_features
from neuroalign.loaders.functional_connectivity import connectivity


def _timeseries(values: np.ndarray, ids=None) -> xr.DataArray:
    n_subjects, n_time, n_rois = values.shape
    ids = [f"roi{i}" for i in range(n_rois)] if ids is None else ids
    return xr.DataArray(values, dims=("subject", "time", "neuroid"),
                        coords={"subject": [f"s{i}" for i in range(n_subjects)], "time": np.arange(n_time) * 2.0,
                                "neuroid_id": ("neuroid", ids), "group": ("subject", np.arange(n_subjects) % 2),
                                "age": ("subject", 20.0 + np.arange(n_subjects))},
                        attrs={"repetition_time": 2.0})


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(5, 5))
    return rng.normal(size=(4, 90, 5)) @ mixing  # correlated ROIs


@pytest.mark.parametrize("fisher_z", [True, False])
def test_static_features_are_the_upper_triangle_of_np_corrcoef(series, fisher_z):
    features = static_fc_features(connectivity(_timeseries(series)), fisher_z=fisher_z)
    rows, cols = np.triu_indices(5, 1)
    expected = np.stack([np.corrcoef(x.T)[rows, cols] for x in series])
    expected = np.arctanh(expected) if fisher_z else expected
    np.testing.assert_allclose(features.values, expected, atol=1e-12)
    assert features.dims == ("subject", "feature")
    assert features.feature.values.tolist()[:2] == ["roi0~roi1", "roi0~roi2"]
    np.testing.assert_array_equal(features["group"].values, [0, 1, 0, 1])
    np.testing.assert_array_equal(features["age"].values, [20.0, 21.0, 22.0, 23.0])
    assert features.attrs["fisher_z"] is fisher_z and "input_hashes" in features.attrs


@pytest.mark.parametrize("fisher_z, ddof", [(True, 1), (False, 1), (False, 0)])
def test_variability_is_the_std_over_windows_of_np_corrcoef(series, fisher_z, ddof):
    window, step = 30, 7
    features = window_variability_features(connectivity(_timeseries(series), window=window, step=step),
                                           fisher_z=fisher_z, ddof=ddof)
    rows, cols = np.triu_indices(5, 1)
    starts = range(0, 90 - window + 1, step)
    r = np.array([[np.corrcoef(x[s:s + window].T)[rows, cols] for s in starts] for x in series])
    r = np.arctanh(r) if fisher_z else r
    np.testing.assert_allclose(features.values, r.std(axis=1, ddof=ddof), atol=1e-12)
    assert features.attrs["n_windows"] == len(starts) and features.attrs["ddof"] == ddof
    np.testing.assert_array_equal(features["group"].values, [0, 1, 0, 1])
    assert "window" not in features.coords and "window_start" not in features.coords


def test_fisher_z_connectivity_is_not_transformed_twice(series):
    ts = _timeseries(series)
    once = static_fc_features(connectivity(ts, fisher_z=True), fisher_z=True)
    np.testing.assert_allclose(once.values, static_fc_features(connectivity(ts), fisher_z=True).values, atol=1e-12)
    dyn = window_variability_features(connectivity(ts, window=30, step=7, fisher_z=True))
    np.testing.assert_allclose(dyn.values, window_variability_features(connectivity(ts, window=30, step=7)).values,
                               atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), permutation=st.permutations(range(5)),
       scale=st.lists(st.floats(0.01, 100.0), min_size=5, max_size=5), offset=st.floats(-50.0, 50.0))
def test_permuting_rois_permutes_features_and_rescaling_changes_nothing(seed, permutation, scale, offset):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 60, 5)) @ rng.normal(size=(5, 5))
    ids = [f"r{i}" for i in range(5)]
    base = _timeseries(x, ids)
    moved = _timeseries(x[..., permutation] * np.asarray(scale) + offset, [ids[i] for i in permutation])
    for make in (lambda ts: static_fc_features(connectivity(ts)),
                 lambda ts: window_variability_features(connectivity(ts, window=20, step=5))):
        a, b = make(base), make(moved)
        # the same unordered pair of ROIs has the same value, wherever permutation put it
        key = lambda f: [frozenset(p) for p in zip(f.neuroid_id_a.values, f.neuroid_id_b.values)]
        order = [key(b).index(pair) for pair in key(a)]
        np.testing.assert_allclose(b.values[:, order], a.values, rtol=1e-6, atol=1e-8)


def test_flipping_a_series_flips_its_static_edges_and_keeps_its_variability(series):
    flipped = series.copy()
    flipped[..., 2] *= -1
    a, b = (static_fc_features(connectivity(_timeseries(x)), fisher_z=False) for x in (series, flipped))
    touches = (a.neuroid_id_a.values == "roi2") | (a.neuroid_id_b.values == "roi2")
    np.testing.assert_allclose(b.values[:, touches], -a.values[:, touches], atol=1e-12)
    np.testing.assert_allclose(b.values[:, ~touches], a.values[:, ~touches], atol=1e-12)
    va, vb = (window_variability_features(connectivity(_timeseries(x), window=30, step=7)) for x in (series, flipped))
    np.testing.assert_allclose(va.values, vb.values, atol=1e-12)


def test_wrong_dims_are_schema_errors(series):
    ts = _timeseries(series)
    with pytest.raises(SchemaError, match="window_variability_features") as error:
        static_fc_features(connectivity(ts, window=30, step=7))
    assert error.value.source == "fc"
    with pytest.raises(SchemaError) as error:
        window_variability_features(connectivity(ts))
    assert error.value.source == "dynamic_fc"


def test_nan_window_is_a_data_error_naming_subject_and_window(series):
    dyn = connectivity(_timeseries(series), window=30, step=7)
    dyn.values[2, 3] = np.nan
    with pytest.raises(DataError, match="subject=s2, window=3"):
        window_variability_features(dyn)


def test_bad_options_are_config_or_data_errors(series):
    ts = _timeseries(series)
    with pytest.raises(ConfigError) as error:
        window_variability_features(connectivity(ts, window=30, step=7), ddof=100)
    assert error.value.source == "ddof"
    with pytest.raises(ConfigError) as error:
        static_fc_features(connectivity(ts, kind="covariance"))
    assert error.value.source == "fisher_z"
    assert static_fc_features(connectivity(ts, kind="covariance"), fisher_z=False).sizes["feature"] == 10
    perfect = connectivity(ts)
    perfect.values[1, 0, 3] = perfect.values[1, 3, 0] = 1.0  # arctanh(1) is infinite
    with pytest.raises(DataError, match="Fisher"):
        static_fc_features(perfect)
    assert np.isfinite(static_fc_features(perfect, fisher_z=False).values).all()
