"""Eccentricity curves of Harrington & Deza (2022): pooled counts from the real files, fits per task × condition."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neuroalign.errors import DataError, SchemaError, UnknownNameError
from neuroalign.loaders.psychophysics import load_metameric_psychophysics
from neuroalign.metamers.eccentricity_curves import eccentricity_counts, fit_eccentricity_curves
from neuroalign.metamers.psychometric import fit_psychometric

# docs/loaders-behavior.md: main files, proportion of valid trials correct, recorded scoring (the paper's table)
PAPER = {("2afc", "original vs robust"): [0.83, 0.74, 0.65, 0.61, 0.60, 0.55],
         ("oddity", "original vs texform"): [0.89, 0.82, 0.64, 0.59, 0.52, 0.45],
         ("oddity", "standard vs standard"): [0.40, 0.40, 0.35, 0.37, 0.37, 0.33]}
VALID = {("2afc", "original vs robust"): 5726, ("oddity", "standard vs standard"): 5100}


@pytest.fixture(scope="module")
def data(shared_data):
    return load_metameric_psychophysics(shared_data / "harrington_deza2022", progress=False)


def test_counts_reproduce_the_papers_pooling(data):
    counts = eccentricity_counts(data, score="recorded")
    assert dict(counts.sizes) == {"task": 2, "condition": 6, "eccentricity": 6}
    assert counts.eccentricity.values.tolist() == [5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
    for (task, cond), values in PAPER.items():
        got = counts.proportion_correct.sel(task=task, condition=cond).values
        np.testing.assert_allclose(got, values, atol=0.005)
    for (task, cond), total in VALID.items():
        assert int(counts.n_trials.sel(task=task, condition=cond).sum()) == total


def test_missing_responses_are_neither_right_nor_wrong(data):
    counts = eccentricity_counts(data, score="recorded", session_kinds=["main"])
    main = data.isel(trial=(data.session_kind == "main").values)
    presented = main.response_status.values != "not_presented"
    assert int(counts.n_trials.sum() + counts.n_no_response.sum()) == int(presented.sum())
    assert int(counts.n_no_response.sum()) == int((main.response_status.values == "no_response").sum())
    assert int(counts.n_correct.sum()) == int(np.nansum(main.correct.values))


def test_default_pooling_is_the_papers_main_files_and_wl03s_second_texform_file(data):
    """The paper's analysis (get_data_pool.m, loaddata_final.m) pools the twelve participants with WL_03 as
    'WL_03full': WL_03's texform 2AFC blocks are its main file plus WL_03b_data2 (kind 'repeat'); the
    partial files are not read."""
    default = eccentricity_counts(data, score="recorded")
    main = eccentricity_counts(data, score="recorded", session_kinds=["main"])
    repeat = data.isel(trial=(data.session_kind == "repeat").values)
    assert set(repeat.file.values.tolist()) == {"WL_03b_data2"}
    added = default.n_trials - main.n_trials
    valid = int((repeat.response_status.values == "valid").sum())
    assert int(added.sum()) == valid == 382
    assert int(added.sel(task="2afc", condition=["original vs texform", "texform vs texform"]).sum()) == valid
    partial = eccentricity_counts(data, score="recorded", session_kinds=["main", "repeat", "partial"])
    assert int((partial.n_trials - default.n_trials).sum()) > 0  # the partial files are left out by default


def test_rescoring_changes_only_the_oddity_standard_vs_standard_condition(data):
    recorded = eccentricity_counts(data, score="recorded")
    stimuli = eccentricity_counts(data)  # the default
    differs = (recorded.n_correct != stimuli.n_correct).any("eccentricity")
    assert differs.sum() == 1 and bool(differs.sel(task="oddity", condition="standard vs standard"))
    assert float(stimuli.proportion_correct.sel(task="oddity", condition="standard vs standard").mean()) > \
        float(recorded.proportion_correct.sel(task="oddity", condition="standard vs standard").mean())


def test_session_kinds_and_tasks_select(data):
    odd = eccentricity_counts(data, tasks=["oddity"], session_kinds=None)
    assert odd.task.values.tolist() == ["oddity"]
    assert int(odd.n_trials.sum()) > int(eccentricity_counts(data, tasks=["oddity"]).n_trials.sum())
    with pytest.raises(UnknownNameError, match="task"):
        eccentricity_counts(data, tasks=["4afc"])
    with pytest.raises(UnknownNameError, match="score"):
        eccentricity_counts(data, score="answer key")
    with pytest.raises(SchemaError, match="load_metameric_psychophysics"):
        eccentricity_counts(xr.Dataset({"a": ("trial", [1.0])}))
    with pytest.raises(DataError, match="no trials left"):
        eccentricity_counts(data, session_kinds=["nothing"])


@pytest.mark.slow
def test_all_twelve_curves_with_intervals(data):
    curves = fit_eccentricity_curves(data, sigmoid="logistic", n_bootstrap=20, progress=False, random_state=1)
    assert dict(curves.threshold.sizes) == {"task": 2, "condition": 6}
    assert bool(curves.converged.all()) and np.isfinite(curves.threshold_ci.values).all()
    assert (curves.curve.diff("curve_eccentricity") <= 1e-12).all()
    assert (curves.curve >= curves.guess_rate - 1e-12).all()


def test_curves_for_both_tasks_are_single_fits_with_the_task_guess_rate(data):
    counts = eccentricity_counts(data).sel(condition=["original vs robust", "original vs standard"])
    curves = fit_eccentricity_curves(counts, sigmoid="logistic", n_bootstrap=10, percent_correct=(0.7,),
                                     progress=False, random_state=1)
    assert curves.guess_rate.values.tolist() == [0.5, pytest.approx(1 / 3)]
    assert curves.threshold.dims == ("task", "condition") and curves.threshold_ci.sizes["bound"] == 2
    for task, experiment in (("2afc", "2AFC"), ("oddity", "3AFC")):
        cell = curves.sel(task=task, condition="original vs robust")
        fit = fit_psychometric(cell.eccentricity.values, cell.n_correct.values, cell.n_trials.values,
                               sigmoid="logistic", experiment=experiment, direction="decreasing")
        assert float(cell.threshold) == pytest.approx(fit.threshold_, rel=1e-9)
        assert float(cell.gamma) == pytest.approx(fit.guess_)
        np.testing.assert_allclose(cell.curve.values, fit.predict(curves.curve_eccentricity.values), rtol=1e-9)
        assert 5 < float(cell.threshold) < 30 and not bool(cell.extrapolated)
        low, high = cell.threshold_ci.values
        assert low < float(cell.threshold) < high
    # performance falls with eccentricity and never below chance
    assert (curves.curve.diff("curve_eccentricity") <= 1e-12).all()
    assert (curves.curve >= curves.guess_rate - 1e-12).all()
    assert curves.attrs["parameters"]["direction"] == "decreasing" and "input_hashes" in curves.attrs


def test_each_curve_has_its_own_bootstrap_stream(data):
    counts = eccentricity_counts(data).sel(condition=["original vs robust", "robust vs robust"])
    both = fit_eccentricity_curves(counts, n_bootstrap=4, progress=False, random_state=5)
    one = fit_eccentricity_curves(counts.sel(task=["2afc"]), n_bootstrap=4, progress=False, random_state=5)
    np.testing.assert_array_equal(one.threshold_ci.sel(task="2afc").values, both.threshold_ci.sel(task="2afc").values)


def test_a_cell_without_trials_is_nan_and_logged(caplog):
    counts = xr.Dataset({"n_correct": (("task", "condition", "eccentricity"), [[[80, 60, 55], [0, 0, 0]]]),
                         "n_trials": (("task", "condition", "eccentricity"), [[[100, 100, 100], [0, 0, 0]]])},
                        coords={"task": ["2afc"], "condition": ["a", "b"], "eccentricity": [5.0, 10, 15]})
    curves = fit_eccentricity_curves(counts, n_bootstrap=0, progress=False)
    assert np.isnan(float(curves.threshold.sel(task="2afc", condition="b")))
    assert np.isfinite(float(curves.threshold.sel(task="2afc", condition="a")))
    assert "fewer than 2 eccentricities" in caplog.text
