"""Noise precisions for Mahalanobis/crossnobis RDMs: never a non-PSD precision, never a negative squared distance."""

import numpy as np
import pytest
from sklearn.covariance import empirical_covariance

from neuroalign.compare import compute_rdm, estimate_noise_precision
from neuroalign.data import create_assembly
from neuroalign.errors import DataError


def repeated(n=5, reps=3, p=20, seed=0):
    rng = np.random.default_rng(seed)
    return create_assembly(rng.normal(size=(n * reps, p)), stimulus_id=[f"s{i}" for i in range(n)] * reps,
                           presentation={"run": np.repeat(np.arange(reps), n)})


@pytest.mark.parametrize("method", ["mahalanobis", "crossnobis"])
def test_full_noise_with_more_channels_than_dof_raises(method):
    x = repeated(n=5, reps=3, p=20)  # 10 degrees of freedom for 20 channels
    with pytest.raises(DataError, match="only 10 degrees of freedom") as info:
        compute_rdm(x, method, noise="full")
    assert "shrinkage_diag" in info.value.fix
    with pytest.raises(DataError, match="degrees of freedom"):
        estimate_noise_precision(x, "full")


@pytest.mark.parametrize("noise", ["shrinkage_diag", "shrinkage_eye", "diag"])
def test_shrinkage_noise_with_more_channels_than_dof_is_valid(noise):
    rdm = compute_rdm(repeated(n=5, reps=3, p=20), "mahalanobis", noise=noise)
    assert (rdm.values > 0).all()


def test_full_noise_with_enough_dof_matches_sklearn_and_is_non_negative():
    x = repeated(n=4, reps=8, p=6)  # 28 degrees of freedom
    rdm = compute_rdm(x, "mahalanobis", noise="full")
    assert (rdm.values >= 0).all()
    # reference: residuals about each stimulus mean, covariance with dof = n_obs - n_stimuli
    values = x.values
    codes = np.tile(np.arange(4), 8)
    means = np.stack([values[codes == i].mean(0) for i in range(4)])
    residuals = values - means[codes]
    covariance = empirical_covariance(residuals, assume_centered=True) * len(values) / (len(values) - 4)
    precision = np.linalg.inv(covariance)
    diff = means[0] - means[1]
    assert float(rdm.values[0]) == pytest.approx(diff @ precision @ diff / 6, rel=1e-10)


def test_precision_that_is_not_psd_raises():
    x = repeated(n=5, reps=1, p=4)
    with pytest.raises(DataError, match="not positive semi-definite"):
        compute_rdm(x, "mahalanobis", noise=np.diag([1.0, 1.0, -5.0, 1.0]))
    # a PSD but singular precision is fine: distances are non-negative
    assert (compute_rdm(x, "mahalanobis", noise=np.diag([1.0, 1.0, 0.0, 1.0])).values >= 0).all()
