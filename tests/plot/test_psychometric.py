import matplotlib
import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from neuroalign.errors import SchemaError
from neuroalign.metamers.eccentricity_curves import fit_eccentricity_curves
from neuroalign.metamers.psychometric import fit_psychometric
from neuroalign.plot.psychometric import plot_psychometric_curves, plot_psychometric_fit, psychometric_figure

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def curves():
    k = [[[170, 150, 128, 118, 110, 104], [190, 188, 185, 180, 178, 175]],
         [[160, 130, 100, 90, 80, 70], [190, 185, 180, 170, 168, 160]]]
    counts = xr.Dataset({"n_correct": (("task", "condition", "eccentricity"), k),
                         "n_trials": (("task", "condition", "eccentricity"), np.full((2, 2, 6), 200))},
                        coords={"task": ["2afc", "oddity"], "condition": ["original vs robust", "original vs standard"],
                                "eccentricity": [5.0, 10, 15, 20, 25, 30]})
    return fit_eccentricity_curves(counts, n_bootstrap=8, progress=False)


def test_figure_has_a_panel_per_task_and_a_line_per_condition(curves):
    fig = psychometric_figure(curves)
    assert [ax.get_title() for ax in fig.axes] == ["2afc", "oddity"]
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["original vs robust", "original vs standard"]
    lines = [line for line in ax.lines if line.get_label() == "original vs robust"]
    np.testing.assert_allclose(lines[0].get_ydata(), curves.curve.sel(task="2afc", condition="original vs robust"))
    # data points sized by trials: every level has 200 trials, the most, so the full marker area
    sizes = ax.collections[0].get_sizes()
    assert np.allclose(sizes, sizes.max())
    # the chance line at the task's guess rate
    assert any(np.allclose(line.get_ydata(), 1 / 3) for line in fig.axes[1].lines)
    fig.savefig(__import__("io").BytesIO(), format="png")


def test_threshold_interval_is_drawn_at_the_curve(curves):
    ax = plot_psychometric_curves(curves, Figure().subplots(), "oddity", conditions=["original vs robust"])
    threshold = float(curves.threshold.sel(task="oddity", condition="original vs robust"))
    markers = [c for c in ax.containers]
    assert markers, "no threshold marker"
    x = markers[0].lines[0].get_xdata()[0]
    assert x == pytest.approx(threshold)


def test_single_fit_plot_and_errors(curves):
    fit = fit_psychometric([1, 2, 3, 4], [12, 15, 9, 20], [20, 20, 10, 20], experiment="2AFC", n_bootstrap=10)
    ax = plot_psychometric_fit(fit, Figure().subplots())
    sizes = ax.collections[0].get_sizes()
    assert sizes[2] == pytest.approx(sizes[0] / 2)  # 10 trials: half the area of 20
    with pytest.raises(SchemaError, match="no task"):
        plot_psychometric_curves(curves, Figure().subplots(), "3afc")
    with pytest.raises(SchemaError, match="fit_eccentricity_curves"):
        plot_psychometric_curves(curves[["n_trials"]], Figure().subplots(), "2afc")
