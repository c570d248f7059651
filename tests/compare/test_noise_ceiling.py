"""Noise ceilings against rsatoolbox 0.3.2 on the real 92-image human-IT RDMs.

Data: ``92_brainRDMs.mat`` holds 4 subjects × 2 sessions; we use the 8
session RDMs as 8 data RDMs (dim ``subject``), as rsatoolbox's demos do.
"""

import warnings

import numpy as np
import pytest
import scipy.io
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.compare import (
    RDM_COMPARISONS,
    as_rdm,
    noise_ceiling,
    pool_rdms,
    rdm_split_half_ceiling,
    resampled_noise_ceiling,
)
from neuroalign.compare.common.bootstrap import counts_to_pair_weights, resample_counts
from neuroalign.data import create_assembly
from neuroalign.errors import DataError, SchemaError, UnknownNameError

rsatoolbox = pytest.importorskip("rsatoolbox")
from rsatoolbox.inference import boot_noise_ceiling  # noqa: E402
from rsatoolbox.rdm import RDMs  # noqa: E402
from rsatoolbox.util.inference_util import pool_rdm  # noqa: E402

# methods both libraries pool (rsatoolbox's pool_rdm has no rule for bures)
POOLED = [m for m in ("cosine", "corr", "spearman", "rho-a", "tau-a", "tau-b", "corr_cov", "cosine_cov")
          if m in RDM_COMPARISONS]
KERNELS = [m for m in ("cosine", "corr", "spearman", "rho-a", "tau-a", "tau-b") if m in RDM_COMPARISONS]


@pytest.fixture(scope="module")
def brain(shared_data):
    rdms = scipy.io.loadmat(shared_data / "kriegeskorte2008" / "92_brainRDMs.mat", squeeze_me=True,
                            struct_as_record=False)["RDMs"]
    squares = np.stack([r.RDM for r in rdms.ravel()]).astype(float)  # (8, 92, 92): BE1, BE2, KO1, …
    labels = [f"{r.name.split('|')[1].strip()}-{r.name[-1]}" for r in rdms.ravel()]
    return as_rdm(squares, dims=["subject"]).assign_coords(subject=labels), squares


@pytest.mark.parametrize("method", POOLED)
def test_noise_ceiling_matches_rsatoolbox(brain, method):
    # reference: rsatoolbox.inference.boot_noise_ceiling (leave-one-out lower, all-subject upper)
    data, squares = brain
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rsatoolbox warns that tau pools averaged ranks
        lower, upper = boot_noise_ceiling(RDMs(squares), method=method)
    ours = noise_ceiling(data, method)
    assert ours.dims == ("bound",)
    np.testing.assert_allclose(ours.values, [lower, upper], atol=1e-8)
    assert lower < upper


@pytest.mark.parametrize("method", POOLED)
def test_pool_rdms_matches_rsatoolbox_pool_rdm(brain, method):
    # reference: rsatoolbox.util.inference_util.pool_rdm
    data, squares = brain
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pool_rdm(RDMs(squares), method=method).get_vectors()[0]
    np.testing.assert_allclose(pool_rdms(data, method).values, expected, atol=1e-10)


@pytest.mark.parametrize("method", KERNELS)
def test_resampled_ceilings_match_rsatoolbox_on_the_same_resamples(brain, method):
    # reference: boot_noise_ceiling of the resampled RDMs (duplicated subjects and stimuli, NaN copy pairs)
    data, squares = brain
    stimuli = np.random.default_rng(1).integers(0, 92, size=(2, 92))
    subjects = np.array([[0, 0, 3, 5, 5, 5, 6, 7], [1, 2, 2, 2, 4, 4, 6, 6]])
    ours = resampled_noise_ceiling(data.values, method, counts_to_pair_weights(resample_counts(stimuli, 92)),
                                   resample_counts(subjects, 8))
    for k in range(2):
        sample = RDMs(squares).subsample("index", subjects[k]).subsample_pattern("index", stimuli[k])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = boot_noise_ceiling(sample, method=method)
        np.testing.assert_allclose(ours[k], expected, atol=1e-8)


def test_resampled_ceiling_without_resampling_is_the_ceiling(brain):
    data, _ = brain
    np.testing.assert_allclose(resampled_noise_ceiling(data.values, "spearman")[0],
                               noise_ceiling(data, "spearman").values, atol=1e-12)


def test_a_single_distinct_subject_has_no_lower_bound(brain):
    data, _ = brain
    out = resampled_noise_ceiling(data.values, "corr", subject_counts=np.array([[8, 0, 0, 0, 0, 0, 0, 0]]))
    assert np.isnan(out[0, 0]) and out[0, 1] == pytest.approx(1.0)


def test_per_subject_terms_average_to_the_ceiling(brain):
    data, _ = brain
    terms = noise_ceiling(data, "corr", per_subject=True)
    assert terms.dims == ("subject", "bound")
    np.testing.assert_allclose(terms.mean("subject").values, noise_ceiling(data, "corr").values)
    assert (terms.sel(bound="upper") > terms.sel(bound="lower")).all()


def test_extra_batch_dims_are_kept(brain):
    data, _ = brain
    stacked = xr.concat([data, data ** 2], dim="time_bin")
    out = noise_ceiling(stacked, "spearman")
    assert out.dims == ("time_bin", "bound")
    np.testing.assert_allclose(out.isel(time_bin=1).values, noise_ceiling(data ** 2, "spearman").values)
    np.testing.assert_allclose(out.isel(time_bin=0).values, out.isel(time_bin=1).values)  # ranks unchanged


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), method=st.sampled_from(["corr", "spearman", "cosine"]))
def test_ceiling_is_invariant_to_subject_order_and_scale(seed, method):
    rng = np.random.default_rng(seed)
    truth = rng.random(36)
    subjects = truth + 0.5 * rng.random((5, 36))
    base = noise_ceiling(as_rdm(subjects, form="vector", dims=["subject"]), method).values
    shuffled = subjects[rng.permutation(5)] * rng.uniform(0.5, 3, size=(5, 1))  # positive rescaling per subject
    np.testing.assert_allclose(noise_ceiling(as_rdm(shuffled, form="vector", dims=["subject"]), method).values,
                               base, atol=1e-10)


def test_identical_subjects_reach_one():
    rdm = np.random.default_rng(0).random(28)
    nc = noise_ceiling(as_rdm(np.stack([rdm] * 3), form="vector", dims=["subject"]), "spearman")
    np.testing.assert_allclose(nc.values, [1.0, 1.0])


def test_bad_input_raises(brain):
    data, _ = brain
    with pytest.raises(DataError, match="at least 2 subjects"):
        noise_ceiling(data.isel(subject=[0]), "corr")
    with pytest.raises(UnknownNameError, match="spearman"):
        noise_ceiling(data, "spearmann")
    with pytest.raises(SchemaError):
        noise_ceiling(np.ones((3, 4, 5)), "corr")
    with pytest.raises(SchemaError, match="expected one named 'subject'"):
        noise_ceiling(data.expand_dims(session=["a"]).rename(subject="x"), "corr")


def _repeated(rng, noise_sd, n_stimuli=16, n_voxels=30, reps=4, subjects=("s1", "s2")):
    signal = rng.normal(size=(n_stimuli, n_voxels * len(subjects)))
    values = np.concatenate([signal + noise_sd * rng.normal(size=signal.shape) for _ in range(reps)])
    data = create_assembly(values, stimulus_id=[f"im{i}" for i in range(n_stimuli)] * reps)
    return data.assign_coords(subject=("neuroid", np.repeat(list(subjects), n_voxels)))


def test_split_half_ceiling_of_rdms(rng):
    # reference: Brain-Score's split-half reliability with Spearman–Brown; noiseless repetitions give 1
    clean = rdm_split_half_ceiling(_repeated(rng, 0.0), n_splits=3)
    np.testing.assert_allclose(clean.values.values, 1.0)
    assert clean.values.dims == ("subject",) and set(clean.raw.dims) == {"split", "subject"}
    low = float(rdm_split_half_ceiling(_repeated(rng, 2.0), subject=None, n_splits=5).values)
    high = float(rdm_split_half_ceiling(_repeated(rng, 0.5), subject=None, n_splits=5).values)
    assert 0 < low < high < 1
    with pytest.raises(SchemaError, match="subject"):
        rdm_split_half_ceiling(_repeated(rng, 1.0).drop_vars("subject"))
