"""Activation match measures and their null, against scipy and closed forms.

References: scipy.stats.spearmanr / pearsonr for the correlations; the SNR of
Feather et al. (2023), ``10·log10(‖t‖/‖t − m‖)`` (their ``compute_snr_db``,
robustness/tools/distance_measures.py of jenellefeather/model_metamers_pytorch),
and the relative L2 error ``‖t − m‖/‖t‖`` as closed forms; their null of
all-zero activations (``make_null_distributions.py``: correlations and dB SNR
set to 0).
"""

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from neuroalign.errors import AlignmentError, ConfigError, DataError
from neuroalign.metamers.activation_matching import (
    MEASURES,
    activation_match,
    null_distribution,
    null_size_needed,
    null_thresholds,
)


def _pair(seed=0, n=5, shape=(3, 4, 4), noise=0.5, relu=True):
    rng = np.random.default_rng(seed)
    t = rng.normal(size=(n, *shape))
    m = t + noise * rng.normal(size=t.shape)
    if relu:  # ties at zero, as after a ReLU
        t, m = np.maximum(t, 0), np.maximum(m, 0)
    return m, t


def test_against_scipy_and_closed_forms():
    m, t = _pair()
    match = activation_match(m, t)
    for i in range(len(t)):
        a, b = m[i].ravel(), t[i].ravel()
        assert match["spearman"][i] == pytest.approx(stats.spearmanr(a, b)[0], abs=1e-12)
        assert match["pearson"][i] == pytest.approx(stats.pearsonr(a, b)[0], abs=1e-12)
        norm_t, norm_e = np.sqrt((b ** 2).sum()), np.sqrt(((b - a) ** 2).sum())
        assert match["snr_db"][i] == pytest.approx(10 * np.log10(norm_t / norm_e), rel=1e-12)
        assert match["relative_l2"][i] == pytest.approx(norm_e / norm_t, rel=1e-12)
    assert list(match.data_vars) == list(MEASURES)


def test_snr_uses_norms_not_powers():
    t = np.array([[3.0, 4.0]])  # ‖t‖ = 5
    m = np.array([[3.0, 4.5]])  # ‖t − m‖ = 0.5: ratio 10 → 10 dB (a power ratio would give 20 dB)
    match = activation_match(m, t)
    assert float(match["snr_db"][0]) == pytest.approx(10.0)
    assert float(match["relative_l2"][0]) == pytest.approx(0.1)


def test_torch_and_dataarray_inputs_keep_ids():
    m, t = _pair(n=3)
    da = xr.DataArray(t.reshape(3, -1), dims=("presentation", "neuroid"),
                      coords={"stimulus_id": ("presentation", ["a", "b", "c"])})
    match = activation_match(torch.tensor(m, dtype=torch.float32), da)
    assert match["stimulus_id"].values.tolist() == ["a", "b", "c"]
    reference = activation_match(torch.tensor(m, dtype=torch.float32).double().numpy(), t)
    np.testing.assert_allclose(match["pearson"].values, reference["pearson"].values)


def test_perfect_match_is_infinite_snr():
    _, t = _pair(n=2)
    match = activation_match(t.copy(), t)
    assert np.isposinf(match["snr_db"].values).all()
    np.testing.assert_array_equal(match["relative_l2"].values, 0.0)
    np.testing.assert_allclose(match[["spearman", "pearson"]].to_array().values, 1.0)


def test_constant_activations_raise_or_score_zero():
    m, t = _pair(n=3, relu=False)
    m[1] = 0.0  # a dead layer for the metamer of image 1
    with pytest.raises(DataError, match=r"constant activations .*metamer_acts image\(s\) \[1\]"):
        activation_match(m, t)
    match = activation_match(m, t, constant="zero")
    assert match["spearman"][1] == 0 and match["pearson"][1] == 0
    assert np.isfinite(match.to_array().values).all()
    flat = t.copy()
    flat[2] = 7.0  # constant but non-zero target
    with pytest.raises(DataError, match=r"target_acts image\(s\) \[2\]"):
        activation_match(m, flat)


def test_zero_target_and_bad_inputs():
    m, t = _pair(n=2, relu=False)
    t[0] = 0.0
    with pytest.raises(DataError, match="all zero"):
        activation_match(m, t, constant="zero")
    with pytest.raises(AlignmentError, match="shape"):
        activation_match(m[:1], t)
    bad = m.copy()
    bad[1, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match=r"NaN or infinite .*\[1\]"):
        activation_match(bad, m)
    with pytest.raises(DataError, match="1 unit"):
        activation_match(np.ones((2, 1)), np.ones((2, 1)))
    with pytest.raises(DataError, match="images first"):
        activation_match(np.ones(4), np.ones(4))
    with pytest.raises(ConfigError, match="constant"):
        activation_match(m, m, constant="nan")


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4))
def test_invariant_to_a_common_permutation_of_units(seed, n):
    m, t = _pair(seed, n=n, shape=(20,))
    perm = np.random.default_rng(seed).permutation(20)
    a, b = activation_match(m, t), activation_match(m[:, perm], t[:, perm])
    for measure in MEASURES:
        np.testing.assert_allclose(a[measure].values, b[measure].values, rtol=1e-10, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.01, 100.0))
def test_common_scale_invariance(seed, scale):
    m, t = _pair(seed, n=2, shape=(15,))
    a, b = activation_match(m, t), activation_match(scale * m, scale * t)
    for measure in MEASURES:
        np.testing.assert_allclose(a[measure].values, b[measure].values, rtol=1e-9, atol=1e-10)


def test_null_pairs_distinct_and_measured_like_activation_match():
    acts = np.random.default_rng(1).normal(size=(7, 40))
    null = null_distribution(acts, n_null=42, random_state=3)  # all 7·6 ordered pairs
    first, second = null["first"].values, null["second"].values
    assert (first != second).all()
    assert len(set(zip(first.tolist(), second.tolist()))) == 42
    direct = activation_match(acts[second], acts[first])
    for measure in MEASURES:
        np.testing.assert_allclose(null[measure].values, direct[measure].values)
    again = null_distribution(acts, n_null=42, random_state=3)
    assert null.identical(again)
    other = null_distribution(acts, n_null=10, random_state=4)
    assert not np.array_equal(other["first"].values, first[:10]) or not np.array_equal(other["second"].values,
                                                                                       second[:10])


def test_null_thresholds_max_and_quantile():
    acts = np.random.default_rng(2).normal(size=(30, 25))
    null = null_distribution(acts, n_null=200, random_state=0)
    maxima = null_thresholds(null)
    for measure, value in maxima.items():
        assert value == null[measure].values.max()
    q = null_thresholds(null, 0.9)
    assert q["pearson"] == pytest.approx(np.quantile(null["pearson"].values, 0.9))
    assert q["pearson"] < maxima["pearson"]


def test_null_errors():
    acts = np.random.default_rng(0).normal(size=(4, 10))
    with pytest.raises(DataError, match="only 12 ordered pairs"):
        null_distribution(acts, n_null=13)
    with pytest.raises(DataError, match="at least 2"):
        null_distribution(acts[:1], n_null=1)
    with pytest.raises(ConfigError, match="positive integer"):
        null_distribution(acts, n_null=0)
    null = null_distribution(acts, n_null=12)
    with pytest.raises(DataError, match="criterion 0.99 needs at least 100"):
        null_thresholds(null, 0.99)
    with pytest.raises(ConfigError, match="criterion"):
        null_thresholds(null, 1.5)
    assert null_size_needed(0.95) == 20 and null_size_needed(0.99) == 100 and null_size_needed("max") == 1


def test_null_scores_all_zero_targets_as_feather_et_al():
    # Feather et al.'s null sets both correlations and the dB SNR of a pair with an all-zero image to 0
    acts = np.maximum(np.random.default_rng(5).normal(size=(4, 30)), 0)
    acts[2] = 0.0  # a dead image (every ReLU unit at zero)
    with pytest.raises(DataError, match=r"image\(s\) \[2\].*all zero.*constant='zero'"):
        null_distribution(acts, n_null=12, random_state=0)
    null = null_distribution(acts, n_null=12, random_state=0, constant="zero")
    first, second = null["first"].values, null["second"].values
    for k in range(12):
        if first[k] == 2:  # dead target: the convention
            expected = {"spearman": 0.0, "pearson": 0.0, "snr_db": 0.0, "relative_l2": 1.0}
        elif second[k] == 2:  # dead "metamer": correlations 0, noise = signal, so 0 dB and relative error 1
            expected = {"spearman": 0.0, "pearson": 0.0, "snr_db": 0.0, "relative_l2": 1.0}
        else:
            t, m = acts[first[k]], acts[second[k]]
            expected = {"spearman": stats.spearmanr(m, t)[0], "pearson": stats.pearsonr(m, t)[0],
                        "snr_db": 10 * np.log10(np.linalg.norm(t) / np.linalg.norm(t - m)),
                        "relative_l2": np.linalg.norm(t - m) / np.linalg.norm(t)}
        for measure, value in expected.items():
            assert null[measure].values[k] == pytest.approx(value, abs=1e-12), (k, measure)
    # activation_match (a metamer's own target) still refuses an all-zero target
    with pytest.raises(DataError, match="all zero"):
        activation_match(acts[:3], acts[[0, 1, 2]], constant="zero")


def test_identical_images_in_the_null_raise():
    acts = np.random.default_rng(6).normal(size=(4, 30))
    acts[3] = acts[1]  # the same image twice, under two ids
    with pytest.raises(DataError, match=r"identical activations \(image pairs \[\((1, 3|3, 1)\)"):
        null_distribution(acts, n_null=12, random_state=0)
