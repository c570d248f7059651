"""Agreement with rsatoolbox 0.3 on real data.

reference: rsatoolbox (Schütt et al. 2023, https://github.com/rsagroup/rsatoolbox), ``rsatoolbox.rdm.compare``,
``rsatoolbox.rdm.calc_rdm`` and ``rsatoolbox.data.noise.prec_from_unbalanced``; data: the 92-image RDMs and
simulated patterns of Kriegeskorte et al. (2008, Neuron), as shipped with rsatoolbox's demos.
"""

import numpy as np
import pytest
import scipy.io
from rsatoolbox.data import Dataset
from rsatoolbox.data.noise import prec_from_unbalanced
from rsatoolbox.rdm import RDMs, calc_rdm
from rsatoolbox.rdm import compare as rsa_compare

from neuroalign.compare import (
    as_rdm,
    compare_rdms,
    compute_rdm,
    estimate_noise_precision,
)
from neuroalign.data import create_assembly

# rsatoolbox's calc_rdm fills a float descriptor with NaN cast to int internally (_build_rdms)
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")

BOTH = ["cosine", "corr", "spearman", "rho-a", "tau-a", "tau-b", "corr_cov", "cosine_cov", "bures"]


def load(path, name):
    return scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)[name]


@pytest.fixture(scope="module")
def rdms92(shared_data):
    folder = shared_data / "kriegeskorte2008"
    models = load(folder / "92_modelRDMs.mat", "Models")
    brains = load(folder / "92_brainRDMs.mat", "RDMs").ravel()
    model_values = np.array([m.RDM for m in models], dtype=float)
    brain_values = np.array([b.RDM for b in brains], dtype=float)
    return model_values, brain_values, [m.name for m in models]


def test_every_shared_comparison_method_matches_rsatoolbox_on_the_92_images(rdms92):
    # 8 model RDMs against the 4 subjects x 2 sessions of human IT, all methods both libraries implement
    models, brains, names = rdms92
    ours_models = as_rdm(models, dims=["model"])
    ours_brains = as_rdm(brains, dims=["subject"])
    for method in BOTH:
        ours = compare_rdms(ours_models, ours_brains, method)
        assert ours.dims == ("model", "subject")
        reference = rsa_compare(RDMs(models), RDMs(brains), method=method)
        np.testing.assert_allclose(ours.values, reference, atol=1e-8, rtol=0, err_msg=method)
    assert names[0] == "animacy"


def test_whitened_comparisons_with_a_diagonal_sigma_k_match_rsatoolbox(rdms92):
    models, brains, _ = rdms92
    sigma_k = np.linspace(0.5, 2.0, 92)
    for method in ("corr_cov", "cosine_cov"):
        ours = compare_rdms(models, brains, method, sigma_k=sigma_k).values
        reference = rsa_compare(RDMs(models), RDMs(brains), method=method, sigma_k=sigma_k)
        np.testing.assert_allclose(ours, reference, atol=1e-8, rtol=0, err_msg=method)


def test_whitened_comparison_with_a_full_sigma_k_matches_rsatoolbox_to_its_solver_tolerance(rdms92):
    # rsatoolbox solves V x = v by conjugate gradients (default rtol 1e-5); ours is a direct Cholesky solve
    models, brains, _ = rdms92
    keep = np.arange(0, 92, 3)  # 31 stimuli keep the dense solve small
    models, brains = models[:, keep][:, :, keep], brains[:2][:, keep][:, :, keep]
    root = np.random.default_rng(0).normal(size=(keep.size, keep.size))
    sigma_k = root @ root.T / keep.size + np.eye(keep.size)
    ours = compare_rdms(models, brains, "corr_cov", sigma_k=sigma_k).values
    reference = rsa_compare(RDMs(models), RDMs(brains), method="corr_cov", sigma_k=sigma_k)
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_missing_pairs_in_the_same_places_match_rsatoolbox(rdms92):
    # rsatoolbox drops pairs that are NaN in every RDM; our pairwise deletion gives the same numbers there
    models, brains, _ = rdms92
    rows, cols = np.random.default_rng(1).integers(0, 92, (2, 300))
    off = rows != cols
    models, brains = models.copy(), brains.copy()
    for values in (models, brains):
        values[:, rows[off], cols[off]] = np.nan
        values[:, cols[off], rows[off]] = np.nan
    for method in [m for m in BOTH if m != "bures"]:
        ours = compare_rdms(models, brains, method).values
        reference = rsa_compare(RDMs(models), RDMs(brains), method=method)
        np.testing.assert_allclose(ours, reference, atol=1e-8, rtol=0, err_msg=method)


def test_figure_1_vectors_are_in_squareform_order(shared_data):
    # the upper-triangle vectors of the supplementary file use MATLAB's squareform order
    folder = shared_data / "kriegeskorte2008"
    fig1 = load(folder / "Kriegeskorte_Neuron2008_supplementalData.mat", "RDMs_mIT_hIT_fig1")
    models = {m.name: m.RDM for m in load(folder / "92_modelRDMs.mat", "Models")}
    monkey = as_rdm(np.asarray(fig1[0].RDM, dtype=float))
    np.testing.assert_array_equal(monkey.values, as_rdm(models["monkeyIT"]).values)
    brains = np.array([b.RDM for b in load(folder / "92_brainRDMs.mat", "RDMs").ravel()], dtype=float)
    human = as_rdm(np.asarray(fig1[1].RDM, dtype=float))
    assert np.corrcoef(human.values, as_rdm(brains.mean(0)).values)[0, 1] > 0.999999
    assert np.corrcoef(as_rdm(np.asarray(fig1[1].RDM, float), order="columnmajor").values,
                       as_rdm(brains.mean(0)).values)[0, 1] < 0.1


# --------------------------------------------------------------------------- RDMs from data


@pytest.fixture(scope="module")
def simulated(shared_data):
    """simTruePatterns2 (92 x 100) plus Gaussian noise in 4 runs, as neuroalign and rsatoolbox datasets."""
    true = load(shared_data / "kriegeskorte2008" / "simTruePatterns.mat", "simTruePatterns2")
    rng = np.random.default_rng(0)
    n_runs = 4
    values = np.concatenate([true + rng.normal(scale=0.8, size=true.shape) for _ in range(n_runs)])
    ids = np.array([f"im{i:02d}" for i in range(92)])[np.tile(np.arange(92), n_runs)]  # sorted like rsatoolbox
    run = np.repeat(np.arange(n_runs), 92)
    counts = rng.poisson(np.exp(np.concatenate([true] * n_runs) / 2)).astype(float)  # positive, for Poisson
    return {
        "data": create_assembly(values, stimulus_id=ids, presentation={"run": run}),
        "dataset": Dataset(values, obs_descriptors={"stim": ids, "run": run}),
        "counts": create_assembly(counts, stimulus_id=ids, presentation={"run": run}),
        "count_dataset": Dataset(counts, obs_descriptors={"stim": ids, "run": run}),
        "ids": ids, "run": run, "count_values": counts,
    }


def reference_rdm(dataset, method, **kwargs):
    return calc_rdm(dataset, method=method, descriptor="stim", **kwargs).get_vectors()[0]


@pytest.mark.parametrize("ours, theirs", [("sqeuclidean", "euclidean"), ("correlation", "correlation"),
                                          ("mahalanobis", "mahalanobis"), ("crossnobis", "crossnobis")])
def test_rdms_from_data_match_rsatoolbox(simulated, ours, theirs):
    kwargs = {"cv_descriptor": "run"} if theirs == "crossnobis" else {}
    np.testing.assert_allclose(compute_rdm(simulated["data"], ours).values,
                               reference_rdm(simulated["dataset"], theirs, **kwargs), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("estimator", ["shrinkage_diag", "shrinkage_eye", "diag", "full"])
def test_noise_precision_matches_rsatoolbox(simulated, estimator):
    ours = estimate_noise_precision(simulated["data"], estimator).values
    reference = prec_from_unbalanced(simulated["dataset"], "stim", method=estimator)
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-9 * np.abs(reference).max())


@pytest.mark.parametrize("method", ["mahalanobis", "crossnobis"])
def test_rdms_with_a_shrinkage_precision_match_rsatoolbox(simulated, method):
    precision = prec_from_unbalanced(simulated["dataset"], "stim", method="shrinkage_diag")
    kwargs = {"cv_descriptor": "run"} if method == "crossnobis" else {}
    reference = reference_rdm(simulated["dataset"], method, noise=precision, **kwargs)
    np.testing.assert_allclose(compute_rdm(simulated["data"], method, noise="shrinkage_diag").values, reference,
                               rtol=1e-9, atol=1e-9 * np.abs(reference).max())


def test_poisson_rdms_match_rsatoolbox(simulated):
    np.testing.assert_allclose(compute_rdm(simulated["counts"], "poisson").values,
                               reference_rdm(simulated["count_dataset"], "poisson"), atol=1e-10)


def test_cross_validated_poisson_is_rsatoolbox_averaged_over_folds(simulated):
    # rsatoolbox 0.3.2 returns the last fold only; each fold k is rsatoolbox with the split "k against the rest"
    counts, ids, run = simulated["count_values"], simulated["ids"], simulated["run"]
    folds = []
    for k in range(4):
        split = Dataset(counts, obs_descriptors={"stim": ids, "run": (run == k).astype(int)})  # fold k comes last
        folds.append(reference_rdm(split, "poisson_cv", cv_descriptor="run"))
    np.testing.assert_allclose(compute_rdm(simulated["counts"], "poisson_cv").values, np.mean(folds, axis=0),
                               atol=1e-10)


def test_crossnobis_with_unequal_repetitions_matches_rsatoolbox(simulated):
    # run 0 shows the first 30 stimuli twice: training means average presentations, not fold means
    data, ids, run = simulated["data"], simulated["ids"], simulated["run"]
    extra = np.flatnonzero((run == 0) & (np.arange(run.size) < 30))
    values = np.concatenate([data.values, data.values[extra] + 0.3])
    ids, run = np.r_[ids, ids[extra]], np.r_[run, run[extra]]
    ours = compute_rdm(create_assembly(values, stimulus_id=ids, presentation={"run": run}), "crossnobis")
    reference = reference_rdm(Dataset(values, obs_descriptors={"stim": ids, "run": run}), "crossnobis",
                              cv_descriptor="run")
    np.testing.assert_allclose(ours.values, reference, atol=1e-10, rtol=1e-10)
