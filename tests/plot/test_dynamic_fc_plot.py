import io

import matplotlib
import numpy as np
import pytest

from neuroalign.datasets.dynamic_fc import simulate_dynamic_fc
from neuroalign.errors import SchemaError
from neuroalign.loaders.functional_connectivity import connectivity
from neuroalign.plot.dynamic_fc import dynamic_fc_subjects_figure, within_region_fc

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def simulation():
    sim = simulate_dynamic_fc("dynamic-only", n_subjects=6, n_rois=6, n_volumes=120, seed=0)
    return sim, connectivity(sim.timeseries, window=30, step=5)


def test_within_region_fc_is_the_mean_of_the_off_diagonal_block(simulation):
    _, windows = simulation
    regional = within_region_fc(windows)
    assert regional.dims == ("subject", "window", "region")
    assert regional["region"].values.tolist() == ["block1", "block2", "block3"]
    # block1 is ROIs 1-2: its only within-block pair is (0, 1)
    np.testing.assert_allclose(regional.sel(region="block1").values, windows.values[:, :, 0, 1])
    np.testing.assert_array_equal(regional["group"].values, windows["group"].values)


def test_figure_draws_one_column_per_group_with_states_bold_and_window_fc(simulation):
    sim, windows = simulation
    fig = dynamic_fc_subjects_figure(sim.timeseries, sim.states, windows)
    groups = sim.timeseries["group"].values
    first = [sim.timeseries["subject"].values[np.flatnonzero(groups == g)[0]] for g in (0, 1)]
    assert [ax.get_title().split(" · ")[0] for ax in fig.axes[:2]] == [str(s) for s in first]
    top, middle, bottom = fig.axes[0], fig.axes[2], fig.axes[4]
    np.testing.assert_array_equal(top.images[0].get_array()[0], sim.states.sel(subject=first[0]).values)
    np.testing.assert_allclose(middle.images[0].get_array(), sim.timeseries.sel(subject=first[0]).values.T)
    lines = [line for line in bottom.lines if line.get_label() == "block2"]
    np.testing.assert_allclose(lines[0].get_ydata(), within_region_fc(windows).sel(subject=first[0],
                                                                                     region="block2").values)
    fig.savefig(io.BytesIO(), format="png")


def test_wrong_inputs_are_schema_errors(simulation):
    sim, windows = simulation
    with pytest.raises(SchemaError) as error:
        dynamic_fc_subjects_figure(sim.timeseries, sim.states, connectivity(sim.timeseries))
    assert error.value.source == "window_fc"
    with pytest.raises(SchemaError) as error:
        dynamic_fc_subjects_figure(sim.timeseries, sim.states, windows, subjects=["nobody"])
    assert error.value.source == "subjects"
    with pytest.raises(SchemaError):
        within_region_fc(windows.drop_vars(["region_a", "region_b"]))
