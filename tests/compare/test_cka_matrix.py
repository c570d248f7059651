import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.compare import cka, cka_matrix
from neuroalign.compare.cka.matrix import plan_forms
from neuroalign.data import create_assembly
from neuroalign.errors import AlignmentError, ConfigError, DataError

from .test_cka import cka_reference


def make_layers(rng, n, widths, prefix, latent=None):
    latent = rng.normal(size=(n, 3)) if latent is None else latent
    return {f"{prefix}{p}": np.tanh(latent @ rng.normal(size=(3, p))) + 0.5 * rng.normal(size=(n, p)) + 2.0
            for p in widths}


@pytest.fixture
def mixed(rng):
    # n = 200 samples with widths on both sides of the Gram/feature break-even point, so both forms are used
    latent = rng.normal(size=(200, 3))
    return make_layers(rng, 200, (2, 3, 60, 90), "a", latent), make_layers(rng, 200, (2, 3, 100), "b", latent)


def loop(a, b, **kw):
    return np.array([[cka_reference(x, y, **kw) for y in b.values()] for x in a.values()])


def test_plan_uses_both_forms_on_the_fixture(mixed):
    a, b = mixed
    ga, gb = plan_forms(200, [x.shape[1] for x in a.values()], [y.shape[1] for y in b.values()])
    assert ga == [False, False, True, True] and gb == [False, False, True]
    ga, _ = plan_forms(200, [x.shape[1] for x in a.values()], None)
    assert ga == [False, False, True, True]


def test_plan_prefers_features_when_samples_outnumber_features():
    assert plan_forms(100_000, [64, 128], [256]) == ([False, False], [False])
    assert plan_forms(500, [2048, 4096], [1024]) == ([True, True], [True])
    assert plan_forms(100_000, [64], [64], kernel="rbf") == ([True], [True])
    # without syrk (torch) a Gram matrix costs twice as much
    assert plan_forms(1000, [600], [600], syrk=True) == ([True], [True])
    assert plan_forms(1000, [600], [600], syrk=False) == ([False], [False])


@pytest.mark.parametrize("kw", [{}, {"debiased": True}, {"kernel": "rbf", "threshold": 0.8},
                                {"kernel": "rbf", "debiased": True}])
def test_matches_a_loop_over_pairs(mixed, kw):
    a, b = mixed
    result = cka_matrix(a, b, progress=False, **kw)
    np.testing.assert_allclose(result.values, loop(a, b, **kw), rtol=1e-9, atol=1e-12)
    assert result.dims == ("layer_a", "layer_b")
    assert result.layer_a.values.tolist() == list(a) and result.layer_b.values.tolist() == list(b)
    assert result.attrs["kernel"] == kw.get("kernel", "linear")
    assert result.attrs["debiased"] == int(kw.get("debiased", False))
    assert set(result.attrs["input_hashes"]) == {f"a.{k}" for k in a} | {f"b.{k}" for k in b}


@pytest.mark.parametrize("kw", [{}, {"debiased": True}, {"kernel": "rbf"}])
def test_self_similarity_is_symmetric_with_unit_diagonal(mixed, kw):
    a, _ = mixed
    result = cka_matrix(a, progress=False, **kw)
    np.testing.assert_allclose(result.values, loop(a, a, **kw), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(result.values, result.values.T)
    np.testing.assert_array_equal(np.diag(result.values), 1.0)


@pytest.mark.parametrize("same", [False, True])
@pytest.mark.parametrize("debiased", [False, True])
def test_small_memory_budget_recomputes_blocks_with_the_same_result(mixed, same, debiased):
    a, b = mixed
    a = {k: v for k, v in a.items()} | {"a90bis": a["a90"] ** 2}
    b = None if same else b
    full = cka_matrix(a, b, debiased=debiased, progress=False)
    one_gram = 200 * 201 // 2 * 8
    for budget in (one_gram, 2 * one_gram, 3 * one_gram):
        small = cka_matrix(a, b, debiased=debiased, progress=False, max_memory=budget)
        np.testing.assert_allclose(small.values, full.values, rtol=1e-12)


@pytest.mark.parametrize("kw", [{}, {"debiased": True}, {"kernel": "rbf"}])
def test_torch_matches_numpy(mixed, kw):
    a, b = mixed
    expected = cka_matrix(a, b, progress=False, **kw).values
    got = cka_matrix({k: torch.from_numpy(v) for k, v in a.items()}, b, backend="torch", device="cpu",
                     progress=False, **kw)
    np.testing.assert_allclose(got.values, expected, rtol=1e-10, atol=1e-12)
    got32 = cka_matrix(a, b, backend="torch", dtype="float32", progress=False, **kw)
    np.testing.assert_allclose(got32.values, expected, atol=1e-4)
    np.testing.assert_allclose(cka_matrix(a, None, backend="torch", progress=False, **kw).values,
                               cka_matrix(a, None, progress=False, **kw).values, rtol=1e-10, atol=1e-12)


def test_sequences_and_labelled_layers_are_aligned(rng):
    n = 30
    ids = np.array([f"s{i}" for i in range(n)])
    x, y = rng.normal(size=(n, 5)), rng.normal(size=(n, 40))
    y[:, :5] += x
    perm = rng.permutation(n)
    labelled_a = {"x": create_assembly(x, stimulus_id=ids)}
    labelled_b = {"y": create_assembly(y[perm], stimulus_id=ids[perm]), "x_again": create_assembly(x, stimulus_id=ids)}
    result = cka_matrix(labelled_a, labelled_b, progress=False)
    assert float(result.sel(layer_a="x", layer_b="y")) == pytest.approx(cka(x, y), rel=1e-10)
    assert float(result.sel(layer_a="x", layer_b="x_again")) == pytest.approx(1.0)
    plain = cka_matrix([x, x ** 2], [y], progress=False)
    assert plain.layer_a.values.tolist() == ["0", "1"]
    assert float(plain[0, 0]) == pytest.approx(cka(x, y), rel=1e-10)
    with pytest.raises(AlignmentError):
        cka_matrix(labelled_a, {"y": create_assembly(y, stimulus_id=[f"t{i}" for i in range(n)])}, progress=False)


def test_errors_name_the_layer(rng):
    x = rng.normal(size=(10, 3))
    with pytest.raises(DataError, match=r"layers_b\['flat'\].*constant"):
        cka_matrix({"x": x}, {"ok": x, "flat": np.ones((10, 2))}, progress=False)
    with pytest.raises(DataError, match=r"layers_a\['short'\]"):
        cka_matrix({"x": x, "short": x[:8]}, progress=False)
    with pytest.raises(DataError, match="at least 4 samples"):
        cka_matrix({"x": x[:3]}, progress=False)
    with pytest.raises(ConfigError, match="no layers"):
        cka_matrix({}, progress=False)
    with pytest.raises(ConfigError, match="mapping"):
        cka_matrix(x, progress=False)
    with pytest.raises(ConfigError, match="max_memory"):
        cka_matrix({"x": x}, max_memory=0, progress=False)


def test_result_round_trips_through_netcdf(mixed, tmp_path):
    a, b = mixed
    result = cka_matrix(a, b, progress=False)
    path = tmp_path / "cka.nc"
    result.drop_attrs().to_netcdf(path, engine="h5netcdf")
    back = xr.load_dataarray(path, engine="h5netcdf")
    np.testing.assert_array_equal(back.values, result.values)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans(), st.sampled_from(["linear", "rbf"]))
def test_swapping_sides_transposes(seed, debiased, kernel):
    rng = np.random.default_rng(seed)
    a = make_layers(rng, 16, (2, 30), "a")
    b = make_layers(rng, 16, (5,), "b")
    ab = cka_matrix(a, b, debiased=debiased, kernel=kernel, progress=False)
    ba = cka_matrix(b, a, debiased=debiased, kernel=kernel, progress=False)
    np.testing.assert_allclose(ab.values, ba.values.T, rtol=1e-9, atol=1e-12)
    assert np.all(np.abs(ab.values) <= 1 + 1e-9)
