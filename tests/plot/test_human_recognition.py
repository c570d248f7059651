"""Tests of neuroalign.plot.human_recognition on a real Feather et al. (2023) file."""

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from neuroalign.errors import DataError
from neuroalign.loaders.feather2023 import load_feather2023, load_feather2023_experiment
from neuroalign.plot.human_recognition import human_recognition_figure, plot_human_recognition


@pytest.fixture(scope="module")
def alexnet(shared_data):
    return load_feather2023(shared_data / "feather2023" / "EXP1_ANALYSIS"
                            / "VisionExperiment1_network_vs_humans_datamatrix_alexnet_public.mat")


def test_curves_are_means_with_standard_errors(alexnet):
    ax = plot_human_recognition(alexnet, Figure().subplots())
    assert [t.get_text() for t in ax.get_xticklabels()] == alexnet.layer.values.tolist()
    assert ax.get_title() == "alexnet (experiment 1)"
    raw = alexnet.values  # participants × layers × (human, network)
    lines = [c for c in ax.containers if c.__class__.__name__ == "ErrorbarContainer"]
    assert len(lines) == 2
    for container, column in zip(lines, (0, 1)):
        np.testing.assert_allclose(container.lines[0].get_ydata(), raw[:, :, column].mean(axis=0))
        sem = raw[:, :, column].std(axis=0, ddof=1) / np.sqrt(raw.shape[0])
        lower_caps, upper_caps = container.lines[1]  # cap markers sit at mean ± SEM
        np.testing.assert_allclose(lower_caps.get_ydata(), raw[:, :, column].mean(axis=0) - sem)
        np.testing.assert_allclose(upper_caps.get_ydata(), raw[:, :, column].mean(axis=0) + sem)
    assert lines[0].lines[0].get_color() == "black"                     # humans in black
    chance = [line for line in ax.get_lines() if line.get_label().startswith("chance")]
    assert len(chance) == 1 and chance[0].get_ydata()[0] == pytest.approx(1 / 16)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "humans, n = 22" in labels and "alexnet (network)" in labels


def test_figure_of_an_experiment_renders_a_png(shared_data, tmp_path):
    arrays = load_feather2023_experiment(shared_data / "feather2023", 1)
    figure = human_recognition_figure(arrays, ncols=3)
    assert len(figure.axes) == 5
    assert [ax.get_title() for ax in figure.axes] == list(arrays)
    path = tmp_path / "recognition.png"
    figure.savefig(path, dpi=60)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    image = imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 300 and image[..., :3].std() > 0.05  # not blank


def test_errors(alexnet):
    ax = Figure().subplots()
    with pytest.raises(DataError, match="dims"):
        plot_human_recognition(alexnet.isel(observer_type=0), ax)
    with pytest.raises(DataError, match="missing"):
        plot_human_recognition(alexnet.where(alexnet > 0.05), ax)
    with pytest.raises(DataError, match="DataArray"):
        plot_human_recognition(alexnet.values, ax)
    with pytest.raises(DataError, match="no arrays"):
        human_recognition_figure([])
    with pytest.raises(DataError, match="ncols"):
        human_recognition_figure(alexnet, ncols=0)


def test_one_participant_and_explicit_chance():
    data = xr.DataArray(np.full((1, 2, 2), 0.5), dims=("participant", "layer", "observer_type"))
    ax = plot_human_recognition(data, Figure().subplots(), chance=0.1)
    assert [line.get_ydata()[0] for line in ax.get_lines() if line.get_label().startswith("chance")] == [0.1]
