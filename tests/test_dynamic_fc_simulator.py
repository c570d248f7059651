"""The dynamic-FC simulator: its HRF against nilearn, its chains and covariances against closed forms."""

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nilearn.glm.first_level.hemodynamic_models import spm_hrf as nilearn_spm_hrf
from scipy.special import logit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import neuroalign.datasets.dynamic_fc as dynamic_fc
from neuroalign.data import validate
from neuroalign.datasets.dynamic_fc import SCENARIOS, simulate_dynamic_fc, spm_hrf, transition_matrices
from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.loaders.functional_connectivity import connectivity, vectorize_connectivity


# --- the haemodynamic response: nilearn's spm_hrf is the reference ------------------------------------------------

@pytest.mark.parametrize("tr, oversampling, time_length, onset",
                         [(2.0, 1, 32.0, 0.0), (2.0, 50, 32.0, 0.0), (0.72, 16, 32.0, 0.0), (1.5, 3, 25.0, 1.0),
                          (3.0, 1, 20.0, 0.0)])
def test_hrf_equals_nilearn_spm_hrf(tr, oversampling, time_length, onset):
    ours = spm_hrf(tr, oversampling=oversampling, time_length=time_length, onset=onset)
    reference = nilearn_spm_hrf(tr, oversampling=oversampling, time_length=time_length, onset=onset)
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(tr=st.floats(0.3, 4.0), oversampling=st.integers(1, 30))
def test_hrf_equals_nilearn_and_sums_to_one_for_any_sampling(tr, oversampling):
    ours = spm_hrf(tr, oversampling=oversampling)
    np.testing.assert_allclose(ours, nilearn_spm_hrf(tr, oversampling=oversampling), rtol=1e-12, atol=1e-15)
    assert ours.sum() == pytest.approx(1.0)
    # the peak gamma's mode is 5 s after the one-sample shift: the sampled peak lies within a sample of it
    dt = tr / oversampling
    grid = np.linspace(0, 32.0, ours.size)
    assert abs(grid[np.argmax(ours)] - (5.0 + dt)) <= max(dt, 32.0 / (ours.size - 1)) + 0.1


def test_simulator_convolves_with_the_unit_energy_spm_hrf():
    sim = simulate_dynamic_fc(n_subjects=2, n_volumes=20, seed=0)
    h = nilearn_spm_hrf(2.0, oversampling=1)
    np.testing.assert_allclose(sim.hrf, h / np.linalg.norm(h))


# --- the hidden Markov chains ---------------------------------------------------------------------------------------

def test_transition_matrices_are_stochastic_with_uniform_stationary_distribution():
    p = transition_matrices([0.95, 0.75, 0.2], 4)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    np.testing.assert_allclose(np.diagonal(p, axis1=1, axis2=2), [[0.95] * 4, [0.75] * 4, [0.2] * 4])
    np.testing.assert_allclose(np.full(4, 0.25) @ p, np.full((3, 4), 0.25))


def _runs(states: np.ndarray) -> list[np.ndarray]:
    """Lengths of the uncensored visits of each row (the first and last visits are cut by the series' ends)."""
    out = []
    for row in states:
        change = np.flatnonzero(np.diff(row)) + 1
        out.append(np.diff(change))
    return out


def test_dwell_times_match_the_geometric_closed_form():
    # a visit lasts 1 / (1 - p) volumes on average (geometric, sd sqrt(p) / (1 - p)); per step the chain moves
    # with probability 1 - p (binomial); long chains so that the two censored visits per series do not matter
    sim = simulate_dynamic_fc("dynamic-only", n_subjects=8, n_rois=6, n_volumes=12000, dwell_sd=0.0, seed=2)
    states, groups = sim.states.values, sim.timeseries["group"].values
    for group, p in enumerate((0.95, 0.75)):
        rows = states[groups == group]
        runs = np.concatenate(_runs(rows))
        expected, sd = 1 / (1 - p), np.sqrt(p) / (1 - p)
        assert abs(runs.mean() - expected) < 4 * sd / np.sqrt(runs.size), (group, runs.mean(), expected)
        moves = np.count_nonzero(np.diff(rows, axis=1))
        steps = rows[:, 1:].size
        assert abs(moves / steps - (1 - p)) < 4 * np.sqrt(p * (1 - p) / steps)
        # geometric: P(visit = 1 volume) = 1 - p
        assert abs(np.mean(runs == 1) - (1 - p)) < 4 * np.sqrt(p * (1 - p) / runs.size)
        # occupancy 1/K; the variance of a state's mean indicator over T steps of a chain whose second
        # eigenvalue is lam = (K p - 1) / (K - 1) is pi (1 - pi) / T * (1 + lam) / (1 - lam)
        k, t = 3, rows.shape[1]
        lam = (k * p - 1) / (k - 1)
        se = np.sqrt((1 / k) * (1 - 1 / k) / t * (1 + lam) / (1 - lam) / rows.shape[0])
        for state in range(k):
            assert abs(np.mean(rows == state) - 1 / k) < 4 * se


def test_subjects_stay_probabilities_spread_on_the_logit_scale():
    sim = simulate_dynamic_fc(n_subjects=400, n_rois=6, n_volumes=10, dwell_sd=0.1, seed=3)
    ts = sim.timeseries
    for group, p in enumerate((0.95, 0.75)):
        z = logit(ts["dwell_probability"].values[ts["group"].values == group])
        assert abs(z.mean() - logit(p)) < 4 * 0.1 / np.sqrt(z.size)
        assert z.std(ddof=1) == pytest.approx(0.1, rel=0.15)
    np.testing.assert_allclose(np.diagonal(sim.transition_matrices.values, axis1=1, axis2=2),
                               np.repeat(ts["dwell_probability"].values[:, None], 3, axis=1))
    exact = simulate_dynamic_fc(n_subjects=10, n_rois=6, n_volumes=10, dwell_sd=0.0, seed=3).timeseries
    np.testing.assert_array_equal(exact["dwell_probability"].values, np.where(exact["group"] == 0, 0.95, 0.75))


# --- the planted covariances ------------------------------------------------------------------------------------------

def _stationary(p: np.ndarray) -> np.ndarray:
    """Left eigenvector of eigenvalue 1, normalised (an independent closed form of the stationary distribution)."""
    values, vectors = np.linalg.eig(p.T)
    v = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    return v / v.sum()


def _closed_form_covariance(sim, subject: int) -> np.ndarray:
    """Σ_k π_k Σ_k + noise² I for one subject, from its chain and its group's state covariances."""
    pi = _stationary(sim.transition_matrices.values[subject])
    group = int(sim.timeseries["group"].values[subject])
    cov = sim.state_covariances.sel(group=group).values
    return np.einsum("k,kab->ab", pi, cov) + sim.params["noise_sd"] ** 2 * np.eye(cov.shape[-1])


def _mean_removal_factor(h: np.ndarray, n: int) -> float:
    """1 - Var(mean over n volumes) / Var(volume) of the HRF-filtered white signal: the bias of a ddof=0 covariance.

    Cov(x_t, x_u) = ρ(t - u) Σ̄ with ρ(d) = Σ_j h_j h_{j+|d|} (h of unit energy), so
    Var(x̄) = Σ̄ Σ_d (n - |d|) ρ(d) / n².
    """
    rho = np.correlate(h, h, mode="full")
    lags = np.arange(-(h.size - 1), h.size)
    return 1 - np.sum((n - np.abs(lags)) * rho) / n**2


def test_dynamic_only_groups_have_the_same_expected_static_covariance():
    sim = simulate_dynamic_fc("dynamic-only", n_subjects=300, n_volumes=400, seed=4)
    groups = sim.timeseries["group"].values
    first, second = np.flatnonzero(groups == 0)[0], np.flatnonzero(groups == 1)[0]
    a, b = _closed_form_covariance(sim, first), _closed_form_covariance(sim, second)
    np.testing.assert_allclose(a, b, rtol=1e-12)  # same state covariances, same (uniform) occupancy
    np.testing.assert_allclose(sim.expected_covariance().values[first], a, rtol=1e-10)
    assert not np.allclose(sim.transition_matrices.values[first], sim.transition_matrices.values[second])

    # empirical: every subject's sample covariance (ddof=0) has expectation Σ̄ f + noise² (1 - 1/T) I
    x = sim.timeseries.values
    n = x.shape[1]
    centred = x - x.mean(axis=1, keepdims=True)
    sample = np.einsum("sta,stb->sab", centred, centred) / n
    noise = sim.params["noise_sd"] ** 2 * np.eye(x.shape[2])
    expected = (a - noise) * _mean_removal_factor(sim.hrf, n) + noise * (1 - 1 / n)
    means, ses = [], []
    for group in (0, 1):
        s = sample[groups == group]
        means.append(s.mean(axis=0))
        ses.append(s.std(axis=0, ddof=1) / np.sqrt(len(s)))
        z = (means[-1] - expected) / ses[-1]
        assert np.abs(z).max() < 5, (group, np.abs(z).max())  # 210 entries: |z| < 5 unless the mean is off
    z_between = (means[0] - means[1]) / np.hypot(*ses)
    assert np.abs(z_between).max() < 5


def test_static_scenario_changes_the_expected_static_covariance_and_the_test_sees_it():
    sim = simulate_dynamic_fc("static", n_subjects=300, n_volumes=400, seed=4)
    groups = sim.timeseries["group"].values
    cov = sim.state_covariances.values
    blocks = sim.timeseries["region"].values
    for k in range(3):
        member = (blocks == f"block{k + 1}").astype(float)
        np.testing.assert_allclose(cov[1, k] - cov[0, k], 0.5 * np.outer(member, member))
    np.testing.assert_allclose(sim.transition_matrices.values, transition_matrices(
        sim.timeseries["dwell_probability"].values, 3))
    # the same empirical comparison as in the dynamic-only test detects the planted difference
    x = sim.timeseries.values
    centred = x - x.mean(axis=1, keepdims=True)
    sample = np.einsum("sta,stb->sab", centred, centred) / x.shape[1]
    m = [sample[groups == g].mean(axis=0) for g in (0, 1)]
    se = [sample[groups == g].std(axis=0, ddof=1) / np.sqrt((groups == g).sum()) for g in (0, 1)]
    assert np.abs((m[1] - m[0]) / np.hypot(*se)).max() > 5


def test_null_scenario_has_identical_parameters_and_balanced_random_labels():
    sim = simulate_dynamic_fc("null", n_subjects=41, n_rois=6, n_volumes=30, dwell_sd=0.0, seed=5)
    groups = sim.timeseries["group"].values
    assert sorted(np.bincount(groups).tolist()) == [20, 21]
    np.testing.assert_array_equal(sim.state_covariances.values[0], sim.state_covariances.values[1])
    np.testing.assert_array_equal(sim.timeseries["dwell_probability"].values, 0.85)
    assert not np.array_equal(groups, np.sort(groups))  # not in subject order


@settings(max_examples=30, deadline=None)
@given(scenario=st.sampled_from(SCENARIOS), n_subjects=st.integers(2, 9), n_states=st.integers(2, 5),
       extra_rois=st.integers(0, 7), n_volumes=st.integers(3, 40), tr=st.floats(0.5, 3.0), seed=st.integers(0, 99))
def test_any_valid_size_gives_a_consistent_study(scenario, n_subjects, n_states, extra_rois, n_volumes, tr, seed):
    n_rois = 2 * n_states + extra_rois
    sim = simulate_dynamic_fc(scenario, n_subjects=n_subjects, n_states=n_states, n_rois=n_rois,
                              n_volumes=n_volumes, repetition_time=tr, seed=seed)
    ts = validate(sim.timeseries, dims=("subject", "time", "neuroid"))
    assert ts.shape == (n_subjects, n_volumes, n_rois) and sim.states.shape == (n_subjects, n_volumes)
    assert abs(int(ts["group"].sum()) - n_subjects / 2) <= 0.5  # balanced groups
    assert sim.states.values.min() >= 0 and sim.states.values.max() < n_states
    assert np.all((ts["dwell_probability"].values > 0) & (ts["dwell_probability"].values < 1))
    np.testing.assert_allclose(sim.transition_matrices.values.sum(axis=-1), 1.0)
    sizes = np.unique(ts["region"].values, return_counts=True)[1]
    assert sizes.size == n_states and sizes.min() >= 2 and sizes.max() - sizes.min() <= 1
    cov = sim.state_covariances.values  # symmetric positive definite
    np.testing.assert_array_equal(cov, np.swapaxes(cov, -1, -2))
    assert np.linalg.eigvalsh(cov).min() > 0
    np.testing.assert_allclose(ts["time"].values, np.arange(n_volumes) * tr)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_seeded_and_reproducible(scenario):
    a = simulate_dynamic_fc(scenario, n_subjects=6, n_rois=6, n_volumes=40, seed=7)
    b = simulate_dynamic_fc(scenario, n_subjects=6, n_rois=6, n_volumes=40, seed=7)
    c = simulate_dynamic_fc(scenario, n_subjects=6, n_rois=6, n_volumes=40, seed=8)
    np.testing.assert_array_equal(a.timeseries.values, b.timeseries.values)
    np.testing.assert_array_equal(a.states.values, b.states.values)
    assert a.timeseries.attrs["input_hashes"] == b.timeseries.attrs["input_hashes"]
    assert not np.array_equal(a.timeseries.values, c.timeseries.values)


# --- the data model and the path through connectivity() ------------------------------------------------------------

def test_output_follows_the_data_model_and_goes_through_connectivity():
    sim = simulate_dynamic_fc("dynamic-only", n_subjects=4, n_volumes=120, seed=0)
    ts = validate(sim.timeseries, dims=("subject", "time", "neuroid"))
    assert ts.dims == ("subject", "time", "neuroid")
    np.testing.assert_allclose(ts["time"].values, np.arange(120) * 2.0)
    assert ts.attrs["repetition_time"] == 2.0
    assert {"neuroalign_version", "parameters", "input_hashes"} <= set(ts.attrs)
    assert ts.attrs["parameters"]["stay_probability"] == [0.95, 0.75]
    assert ts["region"].values.tolist() == ["block1"] * 7 + ["block2"] * 7 + ["block3"] * 6
    assert sim.states.dims == ("subject", "time") and set(np.unique(sim.states.values)) <= {0, 1, 2}
    dynamic = connectivity(ts, window=50, step=3)
    assert dynamic.dims == ("subject", "window", "neuroid_a", "neuroid_b")
    assert dynamic.sizes["window"] == len(range(0, 120 - 50 + 1, 3))
    np.testing.assert_array_equal(dynamic["group"].values, ts["group"].values)
    np.testing.assert_array_equal(dynamic["dwell_probability"].values, ts["dwell_probability"].values)
    static = connectivity(ts, window="100s", step="6s")
    np.testing.assert_array_equal(static.values, dynamic.values)
    np.testing.assert_allclose(connectivity(ts).values[0], np.corrcoef(ts.values[0].T), atol=1e-12)


def _aurocs(scenario: str, n_subjects: int, seed: int) -> tuple[float, float]:
    """5-fold cross-validated AUROC of a logistic regression on static FC edges and on window-FC variability."""
    ts = simulate_dynamic_fc(scenario, n_subjects=n_subjects, seed=seed).timeseries
    static = vectorize_connectivity(connectivity(ts, fisher_z=True)).values
    windows = vectorize_connectivity(connectivity(ts, window=50, step=3, fisher_z=True))
    variability = windows.std("window", ddof=1).transpose("subject", "edge").values
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    y = ts["group"].values
    return tuple(float(cross_val_score(classifier, x, y, cv=folds, scoring="roc_auc").mean())
                 for x in (static, variability))


def test_static_fc_is_near_chance_on_dynamic_only_while_window_variability_separates_the_groups():
    # 120 subjects: over seeds 0-9 the static AUROC was 0.38-0.62 (mean 0.52), the variability AUROC
    # 0.65-0.85 (mean 0.75) and the gap 0.07-0.38 (mean 0.23); three seeds average that spread down
    results = np.array([_aurocs("dynamic-only", 120, seed) for seed in range(3)])
    static, variability = results.mean(axis=0)
    assert static < 0.62, results
    assert variability - static >= 0.15, results


@pytest.mark.slow
def test_baselines_on_every_scenario_with_more_subjects():
    # 200 subjects, five seeds
    results = {scenario: np.array([_aurocs(scenario, 200, seed) for seed in range(5)]) for scenario in SCENARIOS}
    static, variability = results["dynamic-only"].mean(axis=0)
    assert abs(static - 0.5) < 0.08 and variability - static >= 0.2, results
    assert results["static"][:, 0].mean() > 0.8, results  # the positive control
    assert np.all(np.abs(results["null"].mean(axis=0) - 0.5) < 0.08), results


# --- arguments -------------------------------------------------------------------------------------------------------

def test_unknown_scenario_is_a_named_error():
    with pytest.raises(UnknownNameError, match="dynamic-only"):
        simulate_dynamic_fc("dynamic", n_subjects=4)


@pytest.mark.parametrize("kwargs, source", [
    ({"n_subjects": 1}, "n_subjects"), ({"n_subjects": 4.0}, "n_subjects"), ({"n_states": 1}, "n_states"),
    ({"n_rois": 5}, "n_rois"), ({"n_volumes": 2}, "n_volumes"), ({"repetition_time": 0}, "repetition_time"),
    ({"repetition_time": float("nan")}, "repetition_time"), ({"stay_probability": (0.95, 1.0)}, "stay_probability"),
    ({"stay_probability": 0.9}, "stay_probability"), ({"noise_sd": -1}, "noise_sd"), ({"coupling": float("inf")},
                                                                                       "coupling"),
    ({"seed": -1}, "seed"), ({"seed": True}, "seed"), ({"shared_rank": -1}, "shared_rank"),
])
def test_bad_arguments_are_config_errors_naming_the_argument(kwargs, source):
    with pytest.raises(ConfigError) as error:
        simulate_dynamic_fc(**{"n_subjects": 4, **kwargs})
    assert error.value.source == source


@pytest.mark.parametrize("kwargs, source", [({"repetition_time": -2}, "repetition_time"),
                                            ({"oversampling": 0}, "oversampling"),
                                            ({"time_length": 0.5}, "time_length"), ({"onset": None}, "onset")])
def test_bad_hrf_arguments_are_config_errors(kwargs, source):
    with pytest.raises(ConfigError) as error:
        spm_hrf(**{"repetition_time": 2.0, "oversampling": 1, **kwargs})
    assert error.value.source == source


def test_docstring_examples_run():
    # neuroalign.datasets lives outside the neuroalign folder, so tests/test_docstring_examples.py does not walk it
    failures, attempted = doctest.testmod(dynamic_fc, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failures == 0
