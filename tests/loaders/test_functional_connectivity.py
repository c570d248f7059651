"""Tests of neuroalign.loaders.functional_connectivity: FC kinds, sliding windows, edge vectorisation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import ConfigError, DataError, SchemaError, UnknownNameError
from neuroalign.loaders.functional_connectivity import (
    connectivity,
    parse_duration,
    square_connectivity,
    vectorize_connectivity,
)

TR = 2.0


def make_ts(values, ids=None, lead=None, tr=TR):
    values = np.asarray(values, dtype=float)
    dims = (*([] if lead is None else [lead]), "time", "neuroid")
    coords = {"time": np.arange(values.shape[-2]) * tr,
              "neuroid_id": ("neuroid", ids or [f"r{i}" for i in range(values.shape[-1])])}
    if lead:
        coords[lead] = [f"s{i}" for i in range(values.shape[0])]
    return xr.DataArray(values, dims=dims, coords=coords, attrs={"repetition_time": tr})


@pytest.fixture
def group(rng):
    mixing = rng.normal(size=(6, 6))
    return rng.normal(size=(4, 80, 6)) @ mixing


def test_static_correlation_equals_corrcoef(group):
    # reference: np.corrcoef per subject
    fc = connectivity(make_ts(group, lead="subject"))
    assert fc.dims == ("subject", "neuroid_a", "neuroid_b")
    for s in range(4):
        np.testing.assert_allclose(fc.values[s], np.corrcoef(group[s].T), atol=1e-12)
    assert fc.neuroid_a.values.tolist() == [f"r{i}" for i in range(6)]
    assert fc.attrs["kind"] == "correlation" and fc.attrs["fisher_z"] is False
    assert "input_hashes" in fc.attrs


@pytest.mark.parametrize("kind", ["correlation", "partial correlation", "covariance", "precision", "tangent"])
def test_kinds_match_nilearn(group, kind):
    # reference: nilearn ConnectivityMeasure (Ledoit-Wolf by default, raw series for covariance-based kinds)
    from nilearn.connectome import ConnectivityMeasure
    from sklearn.covariance import EmpiricalCovariance

    ts = make_ts(group, lead="subject")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "correlation":  # our default is Pearson: nilearn with the empirical covariance
            ref = ConnectivityMeasure(kind=kind, cov_estimator=EmpiricalCovariance()).fit_transform(list(group))
        else:
            ref = ConnectivityMeasure(kind=kind, standardize=False).fit_transform(list(group))
    ours = connectivity(ts, kind).values
    if kind == "tangent":  # nilearn stops its geometric-mean iteration early: agreement to ~1e-6 of the scale
        np.testing.assert_allclose(ours, ref, atol=1e-5 * np.abs(ref).max())
    else:
        np.testing.assert_allclose(ours, ref, atol=1e-10, rtol=1e-8)


def _converged_tangent(covs, tol=1e-13):
    """Independent reference: the Riemannian geometric mean by the fixed-point iteration
    G <- G^1/2 expm(mean_i logm(G^-1/2 C_i G^-1/2)) G^1/2 in scipy.linalg, run until the step is below tol,
    then logm(G^-1/2 C_i G^-1/2) per matrix."""
    import scipy.linalg as sl

    g = np.mean(covs, axis=0)
    for _ in range(200):
        root = np.real(sl.sqrtm(g))
        inv_root = np.linalg.inv(root)
        step = np.mean([np.real(sl.logm(inv_root @ c @ inv_root)) for c in covs], axis=0)
        g = root @ np.real(sl.expm(step)) @ root
        g = (g + g.T) / 2
        if np.linalg.norm(step) < tol:
            break
    else:
        raise AssertionError("the reference geometric mean did not converge")
    whitening = np.real(sl.inv(sl.sqrtm(g)))
    return np.stack([np.real(sl.logm(whitening @ c @ whitening)) for c in covs])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tangent_equals_a_converged_geometric_mean(seed):
    # reference: Ledoit-Wolf covariances from scikit-learn and a geometric mean iterated to convergence in
    # scipy.linalg; nilearn's ConnectivityMeasure stops its iteration earlier and agrees only to ~1e-6
    import warnings

    from nilearn.connectome import ConnectivityMeasure
    from sklearn.covariance import ledoit_wolf

    rng = np.random.default_rng(seed)
    x = np.stack([rng.normal(size=(60, 8)) @ rng.normal(size=(8, 8)) * rng.uniform(0.3, 3, 8) for _ in range(5)])
    ref = _converged_tangent(np.stack([ledoit_wolf(s)[0] for s in x]))
    ours = connectivity(make_ts(x, lead="subject"), "tangent").values
    scale = np.abs(ref).max()
    assert np.abs(ours - ref).max() <= 1e-9 * scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nilearn = ConnectivityMeasure(kind="tangent", standardize=False).fit_transform(list(x))
    assert np.abs(ours - nilearn).max() <= 1e-5 * scale


def test_ledoit_wolf_correlation_matches_nilearn_default(group):
    # reference: nilearn ConnectivityMeasure(kind="correlation") defaults (z-score, then Ledoit-Wolf)
    from nilearn.connectome import ConnectivityMeasure

    ref = ConnectivityMeasure(kind="correlation").fit_transform(list(group))
    ours = connectivity(make_ts(group, lead="subject"), shrinkage="ledoit-wolf")
    np.testing.assert_allclose(ours.values, ref, atol=1e-10)


def test_windowed_shrinkage_matches_sklearn(group):
    # reference: sklearn.covariance.ledoit_wolf_shrinkage on each window
    from sklearn.covariance import ledoit_wolf_shrinkage

    fc = connectivity(make_ts(group[0]), "covariance", window=20, step=7)
    for w, start in enumerate(fc.window_start_volume.values):
        assert fc.shrinkage.values[w] == pytest.approx(ledoit_wolf_shrinkage(group[0, start:start + 20]), abs=1e-12)
    assert 0 < fc.shrinkage.values.min() <= fc.shrinkage.values.max() < 1


def test_sliding_windows_equal_loop_of_corrcoef(group):
    # reference: a loop of np.corrcoef per window
    fc = connectivity(make_ts(group, lead="subject"), window=15, step=4)
    starts = np.arange(0, 80 - 15 + 1, 4)
    assert fc.dims == ("subject", "window", "neuroid_a", "neuroid_b")
    loop = np.array([[np.corrcoef(group[s, i:i + 15].T) for i in starts] for s in range(4)])
    np.testing.assert_allclose(fc.values, loop, atol=1e-12)
    np.testing.assert_array_equal(fc.window_start_volume.values, starts)
    np.testing.assert_allclose(fc.window_start.values, starts * TR)
    np.testing.assert_allclose(fc.window_end.values, (starts + 15) * TR)
    assert fc.attrs["window_volumes"] == 15 and fc.attrs["step_volumes"] == 4


def test_nearly_collinear_regions_stay_within_unit_range(rng):
    # Pearson windows are not clipped: the unit rows carry a rounding margin instead, so even regions that are
    # copies of each other up to 1e-9 noise (and large baselines) give |r| <= 1 and still equal np.corrcoef.
    base = rng.normal(size=(200, 1))
    values = 1e4 + base + 1e-9 * rng.normal(size=(200, 40)) + np.linspace(0, 1, 40)
    fc = connectivity(make_ts(values), window=30, step=2)
    assert float(np.abs(fc.values).max()) <= 1.0
    loop = np.array([np.corrcoef(values[i:i + 30].T) for i in range(0, 171, 2)])
    np.testing.assert_allclose(fc.values, loop, atol=1e-10)


def test_window_in_seconds_equals_volumes(group):
    ts = make_ts(group[0])
    a = connectivity(ts, window="30s", step="6s")
    b = connectivity(ts, window=15, step=3)
    np.testing.assert_array_equal(a.values, b.values)
    assert parse_duration("1min", 2.0) == 30 and parse_duration("20vol", None) == 20


def test_taper_is_a_weighted_correlation(group):
    # reference: np.cov with aweights (weighted covariance), normalised to a correlation
    from scipy.signal import get_window

    x = group[0]
    fc = connectivity(make_ts(x), window=20, step=10, taper="hamming")
    weights = get_window("hamming", 20, fftbins=False)
    for w, start in enumerate(fc.window_start_volume.values):
        cov = np.cov(x[start:start + 20].T, aweights=weights)
        d = np.sqrt(np.diag(cov))
        np.testing.assert_allclose(fc.values[w], cov / np.outer(d, d), atol=1e-12)


def test_missing_volumes_are_left_out(group):
    # reference: np.corrcoef on the valid rows only
    x = group[:2].copy()
    x[1, 60:] = np.nan  # a shorter run padded with NaN
    x[0, [3, 9]] = np.nan  # scrubbed volumes
    fc = connectivity(make_ts(x, lead="subject"))
    np.testing.assert_allclose(fc.values[0], np.corrcoef(np.delete(group[0], [3, 9], 0).T), atol=1e-12)
    np.testing.assert_allclose(fc.values[1], np.corrcoef(group[1, :60].T), atol=1e-12)
    assert fc.n_volumes.values.tolist() == [78, 60]
    dyn = connectivity(make_ts(x, lead="subject"), window=10, step=10)
    assert np.isnan(dyn.values[1, 6:]).all() and np.isfinite(dyn.values[1, :6]).all()
    assert dyn.attrs["n_missing_windows"] == 2


def test_scrubbed_time_axis_is_restored(group):
    x = group[0]
    ts = make_ts(x).isel(time=[i for i in range(80) if i not in (10, 11)])  # time coords now have a gap
    full = make_ts(np.where(np.isin(np.arange(80), [10, 11])[:, None], np.nan, x))
    a, b = connectivity(ts, window=10, step=5), connectivity(full, window=10, step=5)
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
    np.testing.assert_array_equal(a.window_start.values, b.window_start.values)


def test_fisher_z(group):
    fc = connectivity(make_ts(group[0]), fisher_z=True)
    r = np.corrcoef(group[0].T)
    off = ~np.eye(6, dtype=bool)
    np.testing.assert_allclose(fc.values[off], np.arctanh(r[off]), atol=1e-12)
    assert np.all(np.diag(fc.values) == 0) and fc.attrs["fisher_z"] is True
    with pytest.raises(ConfigError, match="fisher_z"):
        connectivity(make_ts(group[0]), "covariance", fisher_z=True)


def test_bad_arguments(group):
    ts = make_ts(group[0])
    with pytest.raises(UnknownNameError, match="partial correlation"):
        connectivity(ts, "partial-correlation")
    with pytest.raises(ConfigError, match="longer than the series"):
        connectivity(ts, window=500)
    with pytest.raises(ConfigError, match="duration"):
        connectivity(ts, window="10 parsecs")
    with pytest.raises(ConfigError, match="Ledoit-Wolf"):
        connectivity(ts, "covariance", window=10, taper="hann")
    with pytest.raises(ConfigError, match="group"):
        connectivity(ts, "tangent")
    with pytest.raises(ConfigError, match="sliding window"):
        connectivity(ts, step=3)


def test_nan_in_time_series_raises(group):
    x = group[0].copy()
    x[5, 2] = np.nan
    with pytest.raises(DataError, match="NaN for some neuroids") as info:
        connectivity(make_ts(x), name="sub-01.csv")
    assert "sub-01.csv" in str(info.value) and "Fix:" in str(info.value)


def test_constant_region_raises(group):
    x = group[0].copy()
    x[:, 1] = 3.0
    with pytest.raises(DataError, match="constant"):
        connectivity(make_ts(x))


def test_wrong_dims_raise(group):
    bad = xr.DataArray(group[0], dims=("sample", "neuroid"))
    with pytest.raises(SchemaError, match="time"):
        connectivity(bad)


def test_dynamic_tangent_over_windows(group):
    fc = connectivity(make_ts(group[0]), "tangent", window=40, step=10)
    assert fc.sizes["window"] == 5
    np.testing.assert_allclose(fc.values, np.swapaxes(fc.values, -1, -2), atol=1e-10)


def test_vectorize_and_back(group):
    fc = connectivity(make_ts(group, lead="subject"))
    edges = vectorize_connectivity(fc)
    rows, cols = np.triu_indices(6, 1)
    assert edges.dims == ("subject", "edge") and edges.sizes["edge"] == 15
    np.testing.assert_array_equal(edges.values, fc.values[:, rows, cols])
    assert edges.neuroid_id_a.values.tolist() == [f"r{i}" for i in rows]
    assert edges.neuroid_id_b.values.tolist() == [f"r{i}" for i in cols]
    back = square_connectivity(edges)
    np.testing.assert_array_equal(back.values, fc.values)
    assert back.neuroid_a.values.tolist() == fc.neuroid_a.values.tolist()
    cov = connectivity(make_ts(group, lead="subject"), "covariance")
    with_diag = vectorize_connectivity(cov, diagonal=True)
    assert with_diag.sizes["edge"] == 21
    np.testing.assert_allclose(square_connectivity(with_diag).values, cov.values)
    with pytest.raises(ConfigError, match="diagonal"):
        square_connectivity(vectorize_connectivity(cov))


@settings(max_examples=25, deadline=None)
@given(scale=st.lists(st.floats(0.1, 100), min_size=4, max_size=4),
       offset=st.lists(st.floats(-1e3, 1e3), min_size=4, max_size=4),
       seed=st.integers(0, 2**16), window=st.integers(4, 20), step=st.integers(1, 7))
def test_correlation_invariant_to_affine_rescaling(scale, offset, seed, window, step):
    # property: Pearson correlation ignores a positive gain and an offset per region, is symmetric, in [-1, 1]
    x = np.random.default_rng(seed).normal(size=(30, 4))
    a = connectivity(make_ts(x), window=window, step=step).values
    b = connectivity(make_ts(x * np.array(scale) + np.array(offset)), window=window, step=step).values
    np.testing.assert_allclose(a, b, atol=1e-9)
    np.testing.assert_allclose(a, np.swapaxes(a, -1, -2), atol=1e-15)
    assert np.all(np.abs(a) <= 1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), kind=st.sampled_from(["correlation", "partial correlation", "covariance"]))
def test_permuting_regions_permutes_the_matrix(seed, kind):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(25, 5))
    order = rng.permutation(5)
    ts = make_ts(x)
    a = connectivity(ts, kind)
    b = connectivity(ts.isel(neuroid=order), kind)
    np.testing.assert_allclose(b.values, a.values[np.ix_(order, order)], atol=1e-10)
    assert b.neuroid_a.values.tolist() == [f"r{i}" for i in order]


# ---------------------------------------------------------------- exact symmetry

SYMMETRY_CASES = {  # every kind, static over a group and in sliding windows, with and without a taper
    "correlation": dict(kind="correlation"),
    "correlation, windows": dict(kind="correlation", window=30, step=7),
    "correlation, hamming taper": dict(kind="correlation", window=30, step=7, taper="hamming"),
    "correlation, fisher z": dict(kind="correlation", fisher_z=True),
    "correlation, ledoit-wolf": dict(kind="correlation", shrinkage="ledoit-wolf"),
    "correlation, ledoit-wolf windows": dict(kind="correlation", shrinkage="ledoit-wolf", window=30, step=7),
    "covariance": dict(kind="covariance"),
    "covariance, empirical": dict(kind="covariance", shrinkage=None),
    "covariance, windows": dict(kind="covariance", window=30, step=7),
    "covariance, tapered": dict(kind="covariance", shrinkage=None, window=30, step=7, taper=("tukey", 0.5)),
    "partial correlation": dict(kind="partial correlation"),
    "partial correlation, empirical": dict(kind="partial correlation", shrinkage=None),
    "partial correlation, windows": dict(kind="partial correlation", window=30, step=7),
    "precision": dict(kind="precision"),
    "precision, windows": dict(kind="precision", shrinkage=0.1, window=30, step=7),
    "tangent": dict(kind="tangent"),
    "tangent, windows": dict(kind="tangent", window=30, step=7),
}


@pytest.fixture(scope="module")
def wide_group():
    # 23 regions: not a multiple of any SIMD width or BLAS tile, so both halves of A A^T come from different
    # kernel paths; a shared factor makes the correlations large (errors in the last bit are then visible)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 90, 23)) @ rng.normal(size=(23, 23)) + 5 * rng.normal(size=(3, 90, 1))
    return make_ts(x + 1e3, lead="subject")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", list(SYMMETRY_CASES))
def test_every_kind_is_exactly_symmetric(wide_group, case, threads):
    # property: a connectivity matrix equals its transpose bit for bit, whatever BLAS and the thread count do
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            fc = connectivity(wide_group, **SYMMETRY_CASES[case]).values
    finally:
        torch.set_num_threads(before)
    assert np.isfinite(fc).all()
    assert np.array_equal(fc, np.swapaxes(fc, -1, -2))


def test_symmetric_gram_equals_the_product_and_its_transpose(rng):
    # reference: np.matmul; symmetric_gram differs from it only by rounding and is exactly symmetric
    from neuroalign.loaders.connectivity_symmetry import mirror_upper, symmetric_gram

    x = rng.normal(size=(2, 5, 67, 13))
    g = symmetric_gram(x)
    np.testing.assert_allclose(g, x @ np.swapaxes(x, -1, -2), rtol=1e-12, atol=1e-12)
    assert np.array_equal(g, np.swapaxes(g, -1, -2))
    m = rng.normal(size=(4, 70, 70))
    upper = np.triu(m)
    for copy in (m.copy(), np.asfortranarray(m), m.astype(np.float32)):  # compiled and numpy paths
        out = mirror_upper(copy)
        assert np.array_equal(out, np.swapaxes(out, -1, -2))
        np.testing.assert_array_equal(np.triu(out), upper.astype(out.dtype))


@pytest.mark.parametrize("kind", ["partial correlation", "precision", "tangent"])
@pytest.mark.parametrize("case", ["fewer volumes than regions", "a region copied up to rounding"])
def test_singular_covariance_without_shrinkage_raises(rng, kind, case):
    # an empirical covariance of n <= p volumes, or of a region that is a copy of another, has no inverse or log:
    # anything computed from it (partial correlations of exactly +-1, precisions of 1e16) is rounding noise
    if case == "fewer volumes than regions":
        x = rng.normal(size=(2, 12, 20))
    else:
        x = rng.normal(size=(2, 60, 5))
        x[..., 4] = x[..., 1] * (1 + 1e-15) + 1e-3
    with pytest.raises(DataError, match="singular") as info:
        connectivity(make_ts(x, lead="subject"), kind, shrinkage=None, name="sub-0x_timeseries.csv")
    text = str(info.value)
    assert "sub-0x_timeseries.csv" in text and "shrinkage" in info.value.fix and "subject=0" in text
    fine = connectivity(make_ts(x, lead="subject"), kind)  # the default Ledoit-Wolf estimate is invertible
    assert np.isfinite(fine.values).all()
