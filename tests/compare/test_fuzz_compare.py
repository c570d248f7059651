"""Fuzz the public comparison entry points with bad input: nothing but a NeuroalignError may escape, and no
NaN or inf may come back silently.

A fixture table of damaged inputs (NaN/inf, constant, extreme scale, wrong shapes and types, duplicate or
mismatched stimulus ids, 1–3 stimuli) is fed to every entry point; each test collects every escape for one
input and reports them together.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.spatial.distance import squareform

import neuroalign.compare as C
from neuroalign.data import average_repetitions, create_assembly, hash_array
from neuroalign.errors import NeuroalignError


# ----------------------------------------------------------------------------- helpers
def _finite(out) -> bool:
    if isinstance(out, (float, int, np.floating, np.integer)):
        return bool(np.isfinite(out))
    if isinstance(out, np.ndarray):
        return bool(np.isfinite(out).all())
    if isinstance(out, xr.DataArray):
        return bool(np.isfinite(out.values).all()) if np.issubdtype(out.dtype, np.number) else True
    if isinstance(out, xr.Dataset):
        return all(_finite(v) for v in out.data_vars.values())
    if hasattr(out, "error") and hasattr(out, "values"):  # Score
        return _finite(out.values) and (out.error is None or _finite(out.error))
    return True


def _escapes(calls: dict) -> list[str]:
    """Run every call; the ones that raise something else than a NeuroalignError or return NaN/inf."""
    found = []
    for label, call in calls.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out = call()
        except NeuroalignError:
            continue
        except Exception as error:  # noqa: BLE001 - what the fuzz looks for
            found.append(f"{label}: {type(error).__name__}: {str(error)[:120]}")
            continue
        if not _finite(out):
            found.append(f"{label}: returned NaN or inf")
    return found


def _patterns(n=10, p=5, reps=2, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, p))
    values = np.concatenate([base + 0.3 * rng.normal(size=(n, p)) for _ in range(reps)])
    return create_assembly(values, stimulus_id=[f"s{i}" for i in range(n)] * reps,
                           presentation={"run": np.repeat(np.arange(reps), n)})


GOOD = _patterns()


def _changed(change):
    values = GOOD.values.copy()
    change(values)
    return GOOD.copy(data=values)


PATTERNS = {
    "nan": lambda: _changed(lambda v: v.__setitem__((0, 0), np.nan)),
    "inf": lambda: _changed(lambda v: v.__setitem__((0, 0), np.inf)),
    "all_nan": lambda: _changed(lambda v: v.fill(np.nan)),
    "constant": lambda: _changed(lambda v: v.fill(2.0)),
    "zeros": lambda: _changed(lambda v: v.fill(0.0)),
    "constant_neuroid": lambda: _changed(lambda v: v.__setitem__((slice(None), 0), 1.0)),
    "constant_pattern": lambda: _changed(lambda v: v.__setitem__((0, slice(None)), 1.0)),
    "1_stimulus": lambda: _patterns(n=1),
    "2_stimuli": lambda: _patterns(n=2),
    "3_stimuli": lambda: _patterns(n=3),
    "4_stimuli": lambda: _patterns(n=4),
    "1_neuroid": lambda: _patterns(p=1),
    "0_neuroids": lambda: GOOD.isel(neuroid=[]),
    "0_presentations": lambda: GOOD.isel(presentation=[]),
    "times_1e200": lambda: _changed(lambda v: v.__imul__(1e200)),
    "times_1e-200": lambda: _changed(lambda v: v.__imul__(1e-200)),
    "integers": lambda: GOOD.copy(data=(GOOD.values * 10).astype(int)),
    "booleans": lambda: GOOD.copy(data=GOOD.values > 0),
    "other_stimuli": lambda: GOOD.assign_coords(stimulus_id=("presentation",
                                                             [f"x{i}" for i in range(GOOD.sizes["presentation"])])),
    "default_ids": lambda: GOOD.assign_coords(stimulus_id=("presentation",
                                                           [str(i % 10) for i in range(GOOD.sizes["presentation"])])),
    "extra_dim": lambda: GOOD.expand_dims(time_bin=2).copy(),
    "transposed": lambda: GOOD.T,
    "no_stimulus_id": lambda: GOOD.drop_vars("stimulus_id"),
    "renamed_dims": lambda: GOOD.rename(presentation="stim"),
    "numpy": lambda: GOOD.values,
    "nested_list": lambda: GOOD.values.tolist(),
    "none": lambda: None,
    "string": lambda: "abc",
    "object_values": lambda: GOOD.copy(data=GOOD.values.astype(object)),
    "string_values": lambda: GOOD.copy(data=np.full(GOOD.shape, "a")),
    "mapping": lambda: {"a": GOOD},
    "list_of_arrays": lambda: [GOOD, GOOD],
}


def _pattern_calls(x) -> dict:
    try:
        averaged = average_repetitions(x) if isinstance(x, xr.DataArray) else x
    except NeuroalignError:
        averaged = x
    y = average_repetitions(GOOD)
    calls = {}
    for method in C.RDM_METHODS:
        noise = {"noise": "shrinkage_diag"} if method in ("mahalanobis", "crossnobis") else {}
        calls[f"compute_rdm({method!r})"] = lambda m=method, kw=noise: C.compute_rdm(x, m, **kw)
    calls["compute_rdm('mahalanobis', noise='full')"] = lambda: C.compute_rdm(x, "mahalanobis", noise="full")
    calls["estimate_noise_precision"] = lambda: C.estimate_noise_precision(x)
    calls["cka(x, y)"] = lambda: C.cka(averaged, y)
    calls["cka(y, x)"] = lambda: C.cka(y, averaged)
    calls["cka rbf debiased"] = lambda: C.cka(averaged, y, kernel="rbf", debiased=True)
    calls["cka float32"] = lambda: C.cka(averaged, y, dtype="float32")
    calls["cka_matrix"] = lambda: C.cka_matrix({"a": averaged}, {"b": y}, progress=False)
    calls["cka_matrix self"] = lambda: C.cka_matrix({"a": averaged, "b": y}, progress=False)
    calls["MinibatchCKA"] = lambda: C.MinibatchCKA().update(averaged, y).compute()
    calls["shape_distance"] = lambda: C.shape_distance(averaged, y)
    calls["shape_distance permutation"] = lambda: C.shape_distance(averaged, y, method="permutation")
    calls["pairwise_shape_distances"] = lambda: C.pairwise_shape_distances({"a": averaged, "b": y})
    calls["encoding_score(x, brain)"] = lambda: C.encoding_score(averaged, GOOD, cv=2, n_ceiling_splits=2)
    calls["encoding_score(model, x)"] = lambda: C.encoding_score(y, x, cv=2, n_ceiling_splits=2)
    calls["encoding_sweep"] = lambda: C.encoding_sweep({"a": averaged}, GOOD, cv=2, n_ceiling_splits=2)
    return calls


@pytest.mark.parametrize("name", list(PATTERNS))
def test_pattern_entry_points_raise_only_neuroalign_errors(name):
    escapes = _escapes(_pattern_calls(PATTERNS[name]()))
    assert not escapes, "\n".join(escapes)


# ----------------------------------------------------------------------------- RDMs
_RNG = np.random.default_rng(3)
TRUTH = _RNG.random(45)  # 10 stimuli
NOISY = TRUTH + 0.1 * _RNG.normal(size=45)
DATA = C.as_rdm(TRUTH + 0.2 * _RNG.normal(size=(4, 45)), form="vector", dims=["subject"])

RDMS = {
    "nan": lambda: np.where(np.arange(45) == 3, np.nan, NOISY),
    "inf": lambda: np.where(np.arange(45) == 3, np.inf, NOISY),
    "minus_inf": lambda: np.where(np.arange(45) == 3, -np.inf, NOISY),
    "all_nan": lambda: np.full(45, np.nan),
    "mostly_nan": lambda: np.where(np.arange(45) < 43, np.nan, NOISY),
    "constant": lambda: np.full(45, 0.5),
    "zeros": lambda: np.zeros(45),
    "negative": lambda: -NOISY,
    "two_values": lambda: (np.arange(45) % 2).astype(float),
    "2_stimuli": lambda: np.array([1.0]),
    "3_stimuli": lambda: np.array([1.0, 2.0, 3.0]),
    "3_stimuli_constant": lambda: np.array([1.0, 1.0, 1.0]),
    "empty": lambda: np.array([]),
    "not_triangular": lambda: NOISY[:44],
    "square": lambda: squareform(NOISY),
    "square_not_symmetric": lambda: squareform(NOISY) + np.triu(np.ones((10, 10)), 1),
    "square_nonzero_diagonal": lambda: squareform(NOISY) + np.eye(10),
    "not_square": lambda: np.ones((3, 4)),
    "stack_of_squares": lambda: np.stack([squareform(NOISY)] * 2),
    "strings": lambda: np.array(["a"] * 45),
    "nones": lambda: np.array([None] * 45),
    "scalar": lambda: 3.0,
    "none": lambda: None,
    "list": lambda: NOISY.tolist(),
    "times_1e300": lambda: NOISY * 1e300,
    "times_1e-300": lambda: NOISY * 1e-300,
    "other_stimuli": lambda: C.as_rdm(NOISY, [f"x{i}" for i in range(10)]),
    "reordered_stimuli": lambda: C.as_rdm(squareform(NOISY)[::-1, ::-1], [str(9 - i) for i in range(10)]),
    "mapping": lambda: {"a": NOISY},
    "integers": lambda: (NOISY * 10).astype(int),
    "booleans": lambda: NOISY > 0.5,
}


def _data_with(rdm) -> xr.DataArray:
    """Subjects' RDMs whose last subject is ``rdm`` (the others on the same stimuli)."""
    rdm = rdm if isinstance(rdm, xr.DataArray) and "pair" in rdm.dims else C.as_rdm(rdm)
    if rdm.ndim > 1:  # already a stack: its RDMs are the subjects
        return rdm.rename({rdm.dims[0]: "subject"})
    others = DATA.values[:3] if rdm.sizes["pair"] == 45 else np.stack([rdm.values + 0.01 * i for i in range(1, 4)])
    return C.as_rdm(np.concatenate([others, rdm.values[None]]), form="vector", dims=["subject"],
                    stimulus_ids=C.rdm_stimulus_ids(rdm))


def _rdm_calls(v) -> dict:
    model = C.as_rdm(TRUTH)
    calls = {"as_rdm": lambda: np.nan_to_num(C.as_rdm(v).values, nan=0.0)}  # NaN marks a missing pair
    for method in C.RDM_COMPARISONS:
        calls[f"compare_rdms(x, model, {method!r})"] = lambda m=method: C.compare_rdms(v, model, m)
        calls[f"compare_rdms(model, x, {method!r})"] = lambda m=method: C.compare_rdms(model, v, m)
    calls["compare_rdms weighted"] = lambda: C.compare_rdms(v, model, "spearman",
                                                            weights=C.pair_weights(C.bootstrap_indices(10, 3)))
    for method in ("corr", "tau-a", "rho-a"):
        calls[f"evaluate_models(x, data, {method!r})"] = lambda m=method: C.evaluate_models(v, DATA, method=m,
                                                                                           n_bootstrap=20)
        calls[f"evaluate_models(model, data with x, {method!r})"] = lambda m=method: C.evaluate_models(
            model, _data_with(v), method=m, n_bootstrap=20)
        calls[f"noise_ceiling(data with x, {method!r})"] = lambda m=method: C.noise_ceiling(_data_with(v), m)
    calls["evaluate_models subject bootstrap"] = lambda: C.evaluate_models(v, DATA, bootstrap="subject",
                                                                           n_bootstrap=20)
    calls["evaluate_models across subjects"] = lambda: C.evaluate_models(v, DATA, bootstrap=None)
    calls["permutation_test"] = lambda: C.permutation_test(v, DATA, n_permutations=10)
    calls["crossvalidate_models"] = lambda: C.crossvalidate_models(v, DATA)
    return calls


@pytest.mark.parametrize("name", list(RDMS))
def test_rdm_entry_points_raise_only_neuroalign_errors(name):
    escapes = _escapes(_rdm_calls(RDMS[name]()))
    assert not escapes, "\n".join(escapes)


# ----------------------------------------------------------------------------- specific roots found by the fuzz
def test_hash_of_an_empty_array():
    # provenance hashing failed on empty arrays (memoryview cannot cast a zero-size view)
    assert hash_array(np.zeros((3, 0))) != hash_array(np.zeros((0, 3)))


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e200, 1e300])
@pytest.mark.parametrize("method", ["correlation", "cosine"])
def test_scale_free_rdms_of_extreme_data_are_right(scale, method):
    x = average_repetitions(GOOD)
    np.testing.assert_allclose(C.compute_rdm(x * scale, method).values, C.compute_rdm(x, method).values,
                               atol=1e-14)


@pytest.mark.parametrize("scale", [1e-200, 1e200])
@pytest.mark.parametrize("method", ["sqeuclidean", "euclidean"])
def test_squared_rdms_of_extreme_data_raise(scale, method):
    with pytest.raises(NeuroalignError, match="flow float64"):
        C.compute_rdm(GOOD * scale, method)


def test_cka_matrix_mixes_plain_and_labelled_layers():
    # the labelled reference was looked up with list.index, which compares arrays elementwise
    y = average_repetitions(GOOD)
    out = C.cka_matrix({"plain": y.values, "labelled": y}, progress=False)
    assert float(out[0, 1]) == pytest.approx(1.0)


def test_rdm_of_none_values_is_not_silently_nan():
    with pytest.raises(NeuroalignError, match="must be numbers"):
        C.as_rdm(np.array([None, 1.0, 2.0], dtype=object))
