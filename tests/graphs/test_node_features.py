"""Node features: FC rows (with the transposition-leak fix) and per-window time-series statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import ConfigError, DataError, SchemaError
from neuroalign.graphs.node_features import (NODE_FEATURES, STATISTICS, extra_features, fc_row_features,
                                             timeseries_statistics)
from neuroalign.loaders.functional_connectivity import connectivity


def series(values, tr=2.0, time=None, **lead):
    dims = (*lead, "time", "neuroid")
    n_time, n = values.shape[-2:]
    coords = {"time": np.arange(n_time) * tr if time is None else time,
              "neuroid_id": ("neuroid", [f"r{i}" for i in range(n)])}
    coords.update({k: v for k, v in lead.items()})
    return xr.DataArray(values, dims=dims, coords=coords, attrs={"repetition_time": tr})


def test_fc_row_is_fc_with_zero_diagonal():
    fc = torch.rand(2, 3, 5, 5)
    fc = (fc + fc.transpose(-1, -2)) / 2
    x = fc_row_features(fc)
    assert torch.equal(x, fc * (1 - torch.eye(5)))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 8))
def test_fc_row_hides_excluded_nodes_rows_and_columns(seed, n):
    """Nothing of an excluded node's FC reaches the features: change its row and column, x is unchanged."""
    rng = np.random.default_rng(seed)
    fc = torch.from_numpy(rng.uniform(-1, 1, (4, n, n)))
    exclude = torch.from_numpy(rng.random((4, n)) < 0.4)
    x = fc_row_features(fc, exclude)
    changed = fc.clone()
    e = exclude[..., :, None] | exclude[..., None, :]
    changed[e] = torch.from_numpy(rng.uniform(-1, 1, int(e.sum())))
    assert torch.equal(fc_row_features(changed, exclude), x)
    keep = ~e & ~torch.eye(n, dtype=torch.bool)
    assert torch.equal(x[keep], fc[keep]) and not x[~keep].any()


def test_extra_features_zero_excluded_rows():
    extra = torch.rand(2, 4, 3)
    exclude = torch.tensor([[True, False, False, True], [False] * 4])
    out = extra_features(extra, exclude)
    assert not out[exclude].any() and torch.equal(out[~exclude], extra[~exclude])
    assert extra_features(extra) is extra
    with pytest.raises(ConfigError, match="exclude"):
        extra_features(extra, torch.zeros(2, 3, dtype=torch.bool))


def test_registry():
    assert set(NODE_FEATURES) == {"fc_row", "timeseries_stats"}
    assert NODE_FEATURES["fc_row"].width(10, 3) == 10 and NODE_FEATURES["timeseries_stats"].width(10, 3) == 3


def loop_statistics(values, starts, length):
    """Reference: every window in a loop, numpy's std and mean, the biased ACF over consecutive valid volumes."""
    valid = ~np.isnan(values).all(-1)
    run = values[valid]
    z = (values - run.mean(0)) / run.std(0)
    out = np.empty((len(starts), values.shape[1], 3))
    for w, s in enumerate(starts):
        win, ok = z[s:s + length], valid[s:s + length]
        for r in range(values.shape[1]):
            x = win[ok, r]
            d = win[:, r] - x.mean()
            num = sum(d[t] * d[t + 1] for t in range(length - 1) if ok[t] and ok[t + 1])
            out[w, r] = [x.std(), num / (d[ok] ** 2).sum(), x.mean()]
    return out


def test_statistics_equal_loop_reference_and_statsmodels():
    from statsmodels.tsa.stattools import acf

    rng = np.random.default_rng(0)
    values = rng.normal(size=(2, 80, 4)).cumsum(axis=1) + rng.normal(size=(2, 1, 4)) * 5
    ts = series(values, subject=["s0", "s1"])
    fc = connectivity(ts, window=20, step=7)
    stats = timeseries_statistics(ts, fc)
    assert stats.dims == ("subject", "window", "neuroid", "statistic")
    assert list(stats["statistic"].values) == list(STATISTICS)
    assert list(stats["window_start_volume"].values) == list(fc["window_start_volume"].values)
    starts = fc["window_start_volume"].values
    for s in range(2):
        np.testing.assert_allclose(stats.values[s], loop_statistics(values[s], starts, 20), rtol=1e-10, atol=1e-12)
        z = (values[s] - values[s].mean(0)) / values[s].std(0)
        for w, start in enumerate(starts):  # statsmodels' ACF (biased, adjusted=False) at lag 1
            want = [acf(z[start:start + 20, r], nlags=1, fft=False)[1] for r in range(4)]
            np.testing.assert_allclose(stats.values[s, w, :, 1], want, rtol=1e-10)


def test_window_grid_matches_connectivity_with_missing_volumes():
    """std^2 equals the diagonal of connectivity(kind='covariance', shrinkage=None) of the run-z-scored series:
    the same windows, the same missing volumes (scrubbed time points)."""
    rng = np.random.default_rng(1)
    values = rng.normal(size=(60, 3))
    keep = np.ones(60, dtype=bool)
    keep[[5, 6, 30]] = False
    ts = series(values[keep], time=np.arange(60)[keep] * 2.0)
    stats = timeseries_statistics(ts, connectivity(ts, window=15, step=5))
    z = (values[keep] - values[keep].mean(0)) / values[keep].std(0)
    cov = connectivity(series(z, time=np.arange(60)[keep] * 2.0), "covariance", window=15, step=5, shrinkage=None)
    np.testing.assert_allclose(stats.sel(statistic="std").values ** 2,
                               np.diagonal(cov.values, axis1=-2, axis2=-1), rtol=1e-10)
    full = values.copy()
    full[~keep] = np.nan
    np.testing.assert_allclose(stats.values, loop_statistics(full, np.arange(0, 46, 5), 15), rtol=1e-10)


def test_static_connectivity_has_one_window_the_run():
    rng = np.random.default_rng(2)
    ts = series(rng.normal(size=(50, 3)))
    stats = timeseries_statistics(ts, connectivity(ts))
    assert stats.dims == ("neuroid", "statistic")
    np.testing.assert_allclose(stats.sel(statistic="std"), 1.0)
    np.testing.assert_allclose(stats.sel(statistic="mean"), 0.0, atol=1e-12)


def test_missing_windows_are_nan_and_errors():
    values = np.random.default_rng(3).normal(size=(40, 3))
    values[:12] = np.nan
    ts = series(values)
    fc = connectivity(ts, window=10, step=10)
    stats = timeseries_statistics(ts, fc)
    assert np.isnan(stats.values[0]).all() and np.isfinite(stats.values[2:]).all()
    other = series(np.random.default_rng(4).normal(size=(40, 4)))
    with pytest.raises(SchemaError, match="neuroid"):
        timeseries_statistics(other, fc)
    pair = series(np.random.default_rng(5).normal(size=(2, 40, 3)), subject=["a", "b"])
    with pytest.raises(SchemaError, match="'subject' coords"):
        timeseries_statistics(pair, connectivity(pair.isel(subject=[1, 0]), window=10, step=10))
    assert "input_hashes" in timeseries_statistics(pair, connectivity(pair, window=10, step=10)).attrs
    short = series(np.random.default_rng(4).normal(size=(20, 3)))
    with pytest.raises(SchemaError, match="windows"):
        timeseries_statistics(short, fc)
    flat = values.copy()
    flat[12:, 1] = 1.0
    with pytest.raises(DataError, match="constant"):
        timeseries_statistics(series(flat), fc)
