"""Constant RDMs and too-few-stimulus bootstraps: every comparison entry point raises instead of a number."""

import logging

import numpy as np
import pytest

from neuroalign.compare import (as_rdm, compare_rdms, crossvalidate_models, evaluate_models, noise_ceiling,
                                permutation_test)
from neuroalign.compare.rsa.comparison_methods import weighted_similarity
from neuroalign.errors import DataError, ScoreError

RANK_A = ["tau-a", "rho-a"]
UNDEFINED_FOR_CONSTANT = ["tau-a", "rho-a", "tau-b", "spearman", "corr"]


@pytest.fixture(scope="module")
def rdms():
    rng = np.random.default_rng(0)
    truth = rng.random(45)  # 10 stimuli
    models = as_rdm(np.stack([truth, np.full(45, 0.7)]), form="vector", dims=["model"])
    data = as_rdm(truth + 0.3 * rng.normal(size=(5, 45)), form="vector", dims=["subject"])
    return truth, models, data


@pytest.mark.parametrize("method", UNDEFINED_FOR_CONSTANT)
@pytest.mark.parametrize("side", ["a", "b"])
def test_compare_rdms_constant_rdm_raises(method, side):
    varying, constant = np.arange(10.0), np.full(10, 3.0)
    a, b = (constant, varying) if side == "a" else (varying, constant)
    with pytest.raises(DataError, match="constant"):
        compare_rdms(a, b, method)


@pytest.mark.parametrize("method", RANK_A)
def test_compare_rdms_constant_rdm_nan_on_request(method, caplog):
    with caplog.at_level(logging.WARNING):
        out = compare_rdms(as_rdm(np.stack([np.full(10, 3.0), np.arange(10.0)]), form="vector", dims=["model"]),
                           np.arange(10.0) ** 2, method, on_degenerate="nan")
    assert np.isnan(out.values[0]) and out.values[1] == pytest.approx(1.0)
    assert "constant" in caplog.text


@pytest.mark.parametrize("method", RANK_A)
def test_weighted_compare_constant_over_weighted_pairs_raises(method):
    a = np.array([1.0, 1.0, 1.0, 2.0, 3.0, 4.0])
    b = np.arange(6.0)
    weights = np.array([2.0, 1.0, 3.0, 0.0, 0.0, 0.0])  # a is constant on the pairs that count
    with pytest.raises(DataError, match="constant"):
        compare_rdms(a, b, method, weights=weights)


@pytest.mark.parametrize("method", RANK_A)
def test_weighted_similarity_constant_is_nan(method):
    a = np.array([[[1.0, 1.0, 1.0, 1.0, 1.0]], [[1.0, 2.0, 3.0, 5.0, 4.0]]])  # resample 0 constant
    b = np.arange(5.0)[None, None]
    w = np.ones((2, 5))
    out = weighted_similarity(a, b, w, method)
    assert np.isnan(out[0, 0, 0]) and np.isfinite(out[1, 0, 0])
    paired = weighted_similarity(a, np.broadcast_to(b, (2, 1, 5)), w, method, paired=True)
    assert np.isnan(paired[0, 0]) and np.isfinite(paired[1, 0])


@pytest.mark.parametrize("method", RANK_A)
@pytest.mark.parametrize("bootstrap", ["stimulus", "subject", None])
def test_evaluate_models_constant_model_raises(rdms, method, bootstrap):
    _, models, data = rdms
    with pytest.raises(DataError, match="constant"):
        evaluate_models(models, data, method=method, bootstrap=bootstrap, n_bootstrap=20)


@pytest.mark.parametrize("method", RANK_A)
def test_noise_ceiling_constant_subject_raises(rdms, method):
    truth, _, data = rdms
    constant_subject = data.copy(data=np.concatenate([data.values[:4], np.full((1, 45), 0.5)]))
    with pytest.raises(DataError, match="constant"):
        noise_ceiling(constant_subject, method)
    with pytest.raises(DataError, match="constant"):
        evaluate_models(as_rdm(truth), constant_subject, method=method, n_bootstrap=20)


@pytest.mark.parametrize("method", RANK_A)
def test_permutation_and_crossvalidation_constant_model_raise(rdms, method):
    _, models, data = rdms
    with pytest.raises(DataError, match="constant"):
        permutation_test(models, data, method=method, n_permutations=10)
    with pytest.raises(DataError, match="constant"):
        crossvalidate_models(models, data, method=method)


def _few_stimuli(n, seed=0):
    rng = np.random.default_rng(seed)
    p = n * (n - 1) // 2
    truth = rng.random(p)
    models = as_rdm(np.stack([truth, rng.random(p)]), form="vector", dims=["model"])
    data = as_rdm(truth + 0.3 * rng.normal(size=(5, p)), form="vector", dims=["subject"])
    return models, data


@pytest.mark.parametrize("n", [3, 4, 5])
@pytest.mark.parametrize("bootstrap", ["stimulus", "both"])
def test_evaluate_models_with_mostly_unusable_resamples_raises(n, bootstrap):
    # with 3 stimuli the usable resamples are permutations of the data: the error used to be 0
    models, data = _few_stimuli(n)
    with pytest.raises(ScoreError, match="resamples are unusable") as info:
        evaluate_models(models, data, n_bootstrap=200, bootstrap=bootstrap)
    assert "bootstrap='subject'" in info.value.fix


def test_evaluate_models_few_unusable_resamples_counted(caplog):
    models, data = _few_stimuli(7)
    with caplog.at_level(logging.WARNING):
        score = evaluate_models(models, data, n_bootstrap=200)
    unusable = score.params["n_unusable_resamples"]
    assert unusable == int(score.raw["resamples"].isnull().any("model").sum())
    assert 0 < unusable <= 10
    assert "unusable" in caplog.text
    assert (score.error.values > 0).all()


def test_evaluate_models_subject_bootstrap_with_few_stimuli_still_works():
    models, data = _few_stimuli(3)
    score = evaluate_models(models, data, n_bootstrap=50, bootstrap="subject")
    assert score.params["n_unusable_resamples"] == 0
    assert np.isfinite(score.error.values).all()
