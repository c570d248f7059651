"""Unit correlations and unit matching across networks (Li et al. 2015, "Convergent learning").

References: ``numpy.corrcoef`` for the correlation matrix; an exhaustive search over every one-to-one
assignment (``itertools.permutations``) for the matching; a planted permutation of units recovered
exactly; ``numpy.argmax`` for the semi-matching.
"""

import itertools

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.compare.matching.neuron_matching import matching_profile, one_to_one_matching, semi_matching
from neuroalign.compare.matching.correlation import unit_correlation
from neuroalign.data import create_assembly
from neuroalign.errors import AlignmentError, ConfigError, DataError


def _layer(values, stimuli=None, prefix="u"):
    stimuli = stimuli if stimuli is not None else [f"s{i}" for i in range(len(values))]
    return create_assembly(values, stimulus_id=stimuli, neuroid_id=[f"{prefix}{j}" for j in range(values.shape[1])])


def _corr_matrix(values, prefix_a="a", prefix_b="b"):
    values = np.asarray(values, dtype=float)
    return xr.DataArray(values, dims=("neuroid_a", "neuroid_b"),
                        coords={"neuroid_id_a": ("neuroid_a", [f"{prefix_a}{i}" for i in range(values.shape[0])]),
                                "neuroid_id_b": ("neuroid_b", [f"{prefix_b}{j}" for j in range(values.shape[1])])})


@pytest.mark.parametrize("block_size", [1, 7, 4096])
def test_correlation_equals_numpy_corrcoef_block_after_alignment(block_size):
    rng = np.random.default_rng(0)
    xa = rng.normal(size=(40, 6)).astype(np.float32)
    xb = (xa[:, :4] @ rng.normal(size=(4, 5)) + rng.normal(size=(40, 5))).astype(np.float32)
    stimuli = [f"s{i}" for i in range(40)]
    shuffled = rng.permutation(40)
    a = _layer(xa, stimuli, "a")
    b = _layer(xb[shuffled], [stimuli[i] for i in shuffled], "b")   # same stimuli, another order
    corr = unit_correlation(a, b, block_size=block_size)
    expected = np.corrcoef(xa.astype(float), xb.astype(float), rowvar=False)[:6, 6:]
    assert corr.dims == ("neuroid_a", "neuroid_b") and corr.dtype == np.float64
    np.testing.assert_allclose(corr.values, expected, rtol=0, atol=1e-12)
    assert corr.neuroid_id_a.values.tolist() == [f"a{i}" for i in range(6)]
    assert corr.neuroid_id_b.values.tolist() == [f"b{j}" for j in range(5)]
    assert corr.attrs["n_stimuli"] == 40 and "input_hashes" in corr.attrs


def test_constant_units_are_a_named_error_or_dropped_and_listed():
    rng = np.random.default_rng(1)
    xa = rng.normal(size=(30, 4))
    xa[:, 2] = 0.1   # a dead unit (not exactly representable: the float64 mean is not exactly 0.1)
    a, b = _layer(xa, prefix="a"), _layer(rng.normal(size=(30, 3)), prefix="b")
    with pytest.raises(DataError, match="a2") as info:
        unit_correlation(a, b)
    assert info.value.source == "a" and "constant='drop'" in info.value.fix
    corr = unit_correlation(a, b, constant="drop")
    assert corr.neuroid_id_a.values.tolist() == ["a0", "a1", "a3"] and corr.attrs["dropped_neuroid_id_a"] == ["a2"]
    assert np.isfinite(corr.values).all()


def test_bad_inputs_are_named_errors():
    rng = np.random.default_rng(2)
    a = _layer(rng.normal(size=(10, 3)))
    with pytest.raises(AlignmentError):
        unit_correlation(a, _layer(rng.normal(size=(10, 3)), [f"t{i}" for i in range(10)]))
    with pytest.raises(DataError, match="at least 3"):
        unit_correlation(a.isel(presentation=slice(0, 2)), a.isel(presentation=slice(0, 2)))
    with pytest.raises(DataError, match="DataArray"):
        unit_correlation(np.zeros((10, 3)), a)
    with pytest.raises(ConfigError):
        unit_correlation(a, a, constant="ignore")
    with pytest.raises(DataError, match="neuroid_a"):
        one_to_one_matching(xr.DataArray(np.zeros((2, 2)), dims=("x", "y")))


@pytest.mark.parametrize("shape", [(5, 5), (4, 6), (6, 4)])
def test_one_to_one_total_equals_exhaustive_search(shape):
    rng = np.random.default_rng(sum(shape))
    for trial in range(5):
        values = rng.uniform(-1, 1, size=shape)
        n_a, n_b = shape
        if n_a <= n_b:
            best = max(sum(values[i, cols[i]] for i in range(n_a)) for cols in itertools.permutations(range(n_b), n_a))
        else:
            best = max(sum(values[rows[j], j] for j in range(n_b)) for rows in itertools.permutations(range(n_a), n_b))
        matched = one_to_one_matching(_corr_matrix(values))
        assert matched.sizes["match"] == min(shape)
        assert len(set(matched.neuroid_id_a.values)) == len(set(matched.neuroid_id_b.values)) == min(shape)
        np.testing.assert_allclose(float(matched.sum()), best, rtol=0, atol=1e-12)


def test_absolute_matching_uses_magnitudes_and_keeps_signs():
    values = np.array([[0.2, -0.9], [0.8, 0.1]])
    signed = one_to_one_matching(_corr_matrix(values))
    absolute = one_to_one_matching(_corr_matrix(values), absolute=True)
    assert signed.neuroid_id_b.values.tolist() == ["b0", "b1"]
    assert absolute.neuroid_id_b.values.tolist() == ["b1", "b0"] and absolute.values.tolist() == [-0.9, 0.8]


def test_semi_matching_is_each_rows_argmax():
    values = np.random.default_rng(3).uniform(-1, 1, size=(7, 4))
    semi = semi_matching(_corr_matrix(values))
    assert semi.neuroid_id_b.values.tolist() == [f"b{j}" for j in values.argmax(axis=1)]
    np.testing.assert_array_equal(semi.values, values.max(axis=1))


def test_a_planted_permutation_of_units_is_recovered_exactly():
    rng = np.random.default_rng(4)
    n_stimuli, n_units = 500, 40
    xa = rng.normal(size=(n_stimuli, n_units)) @ (np.eye(n_units) + 0.3 * rng.normal(size=(n_units, n_units)))
    planted = rng.permutation(n_units)                 # unit j of b copies unit planted[j] of a
    xb = 2.0 * xa[:, planted] + 3.0 + 0.5 * rng.normal(size=(n_stimuli, n_units))
    corr = unit_correlation(_layer(xa, prefix="a"), _layer(xb, prefix="b"))
    matched = one_to_one_matching(corr)
    partner = {a: b for a, b in zip(matched.neuroid_id_a.values, matched.neuroid_id_b.values)}
    assert partner == {f"a{planted[j]}": f"b{j}" for j in range(n_units)}
    assert semi_matching(corr).neuroid_id_b.values.tolist() == [partner[f"a{i}"] for i in range(n_units)]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_a=st.integers(2, 6), n_b=st.integers(2, 6))
def test_invariant_to_unit_order_and_stimulus_order(seed, n_a, n_b):
    """Reordering either layer's units reorders the matrix alike and leaves the matching total unchanged;
    reordering b's stimuli changes nothing once aligned on stimulus_id."""
    rng = np.random.default_rng(seed)
    xa, xb = rng.normal(size=(20, n_a)), rng.normal(size=(20, n_b))
    stimuli = [f"s{i}" for i in range(20)]
    corr = unit_correlation(_layer(xa, stimuli, "a"), _layer(xb, stimuli, "b"))
    pa, pb, ps = rng.permutation(n_a), rng.permutation(n_b), rng.permutation(20)
    a2 = _layer(xa, stimuli, "a").isel(neuroid=pa)
    b2 = _layer(xb, stimuli, "b").isel(neuroid=pb, presentation=ps)
    corr2 = unit_correlation(a2, b2)
    np.testing.assert_allclose(corr2.values, corr.values[np.ix_(pa, pb)], rtol=0, atol=1e-12)
    for match in (one_to_one_matching, semi_matching):
        pairs = {(a, b): r for a, b, r in zip(match(corr).neuroid_id_a.values, match(corr).neuroid_id_b.values,
                                               match(corr).values)}
        m2 = match(corr2)
        np.testing.assert_allclose(float(m2.sum()), sum(pairs.values()), rtol=0, atol=1e-12)


def test_matching_profile_against_the_stimulus_shuffled_baseline():
    rng = np.random.default_rng(5)
    stimuli = [f"s{i}" for i in range(120)]
    shared = rng.normal(size=(120, 12))
    a = {"conv": _layer(shared, stimuli, "a"), "fc": _layer(rng.normal(size=(120, 12)), stimuli, "a")}
    b = {"fc": _layer(rng.normal(size=(120, 12)), stimuli, "b"),       # unrelated: at the baseline
         "conv": _layer(shared[:, ::-1] + 0.3 * rng.normal(size=(120, 12)), stimuli, "b")}
    score = matching_profile(a, b, n_permutations=50, random_state=3, progress=False)
    assert score.values.dims == ("layer",) and score.values.layer.values.tolist() == ["conv", "fc"]
    assert float(score.values.sel(layer="conv")) > 0.9 and float(score.raw.p_value.sel(layer="conv")) == 1 / 51
    assert float(score.raw.p_value.sel(layer="fc")) > 0.05
    assert 0.05 < float(score.raw.baseline_mean.sel(layer="conv")) < 0.5     # the best of many partners is > 0
    again = matching_profile(a, b, n_permutations=50, random_state=3, progress=False)
    np.testing.assert_array_equal(again.raw.baseline.values, score.raw.baseline.values)
    # the observed value is the mean of the matching itself
    direct = one_to_one_matching(unit_correlation(a["fc"], b["fc"])).mean()
    np.testing.assert_allclose(float(score.values.sel(layer="fc")), float(direct), rtol=0, atol=1e-15)
    assert score.params["baseline"] == "stimulus shuffle of b"
    semi = matching_profile(a, b, matching="semi", n_permutations=5, progress=False)
    assert semi.metric == "matched-correlation-semi"


def test_matching_profile_named_errors():
    rng = np.random.default_rng(6)
    a = {"conv": _layer(rng.normal(size=(20, 3)))}
    with pytest.raises(ConfigError, match="different layers"):
        matching_profile(a, {"fc": a["conv"]}, progress=False)
    with pytest.raises(ConfigError, match="matching"):
        matching_profile(a, a, matching="greedy", progress=False)
    with pytest.raises(ConfigError, match="n_permutations"):
        matching_profile(a, a, n_permutations=0, progress=False)
