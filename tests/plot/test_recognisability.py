import matplotlib
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.image import imread

from neuroalign import Score
from neuroalign.errors import ConfigError, ScoreError
from neuroalign.metamers.recognition import recognisability
from neuroalign.plot.recognisability import plot_recognisability_curves, plot_recognisability_matrix

matplotlib.use("Agg")

LAYERS = ["natural", "conv1", "conv2", "fc"]


def _labelled_images(n, seed):
    """Random labels of 4 classes, and n tiny images whose first pixel is their index (observers look it up)."""
    labels = np.random.default_rng(seed).integers(0, 4, size=n)
    images = np.zeros((n, 1, 2, 2), dtype=np.float32)
    images[:, 0, 0, 0] = np.arange(n)
    return labels, images


@pytest.fixture(scope="module")
def score():
    """Two generators; the 'generator' observer is always right, the 'other' falls to chance with depth."""
    n = 40
    labels, images = _labelled_images(n, seed=0)

    def observer(p_right, seed):
        answers = np.where(np.random.default_rng(seed).random(n) < p_right, labels, (labels + 1) % 4)
        return lambda x: answers[np.asarray(x[:, 0, 0, 0]).astype(int)]

    scores = []
    for g in range(2):
        scores.append(recognisability(
            {layer: images for layer in LAYERS}, labels,
            {"generator": observer(1.0, 0), "other": observer(0.9, 1 + g)}, n_bootstrap=200, random_state=g,
            generator=f"net{g}", classes=range(4)))
    return scores


def _layered_score():
    n = 30
    labels, images = _labelled_images(n, seed=1)
    per_layer = {}
    for k, layer in enumerate(LAYERS):
        right = np.random.default_rng(k).random(n) < 1.0 - 0.25 * k
        per_layer[layer] = np.where(right, labels, (labels + 1) % 4)

    def other(x):  # which layer: second pixel
        idx = np.asarray(x[:, 0, 0, 0]).astype(int)
        layer = int(np.asarray(x[0, 0, 0, 1]))
        return per_layer[LAYERS[layer]][idx]

    metamers = {}
    for k, layer in enumerate(LAYERS):
        layer_images = images.copy()
        layer_images[:, 0, 0, 1] = k
        metamers[layer] = layer_images
    generator = lambda x: labels[np.asarray(x[:, 0, 0, 0]).astype(int)]  # noqa: E731
    return recognisability(metamers, labels, {"generator": generator, "other": other}, classes=range(4),
                           n_bootstrap=300, random_state=0, generator="cnn")


def _check_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    colours = np.unique(pixels.reshape(-1, pixels.shape[-1]).round(2), axis=0)
    assert len(colours) > 20  # a drawn figure, not a blank canvas


def test_matrix_cells_values_and_png(tmp_path):
    score = _layered_score()
    figure = plot_recognisability_matrix(score)
    ax = figure.axes[0]
    expected = score.values.sel(generator="cnn").transpose("observer", "layer").values
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), expected)
    assert [t.get_text() for t in ax.get_xticklabels()] == LAYERS
    assert [t.get_text() for t in ax.get_yticklabels()] == ["generator", "other"]
    assert [t.get_text() for t in ax.texts] == [f"{v:.2f}" for v in expected.ravel()]
    assert "chance 0.25" in ax.get_title()
    path = tmp_path / "matrix.png"
    figure.savefig(path, dpi=80)
    _check_png(path)


def test_curves_lines_bands_chance_and_png(tmp_path):
    score = _layered_score()
    figure = plot_recognisability_curves(score)
    ax = figure.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"generator", "other", "chance (0.25)"}
    np.testing.assert_array_equal(lines["other"].get_ydata(),
                                  score.values.sel(generator="cnn", observer="other").values)
    assert list(lines["chance (0.25)"].get_ydata()) == [0.25, 0.25]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    low = score.ci[0].sel(generator="cnn", observer="other").values
    high = score.ci[1].sel(generator="cnn", observer="other").values
    vertices = bands[1].get_paths()[0].vertices
    assert vertices[:, 1].min() == pytest.approx(low.min()) and vertices[:, 1].max() == pytest.approx(high.max())
    assert high[-1] - low[-1] > 0  # a real band where the observer errs
    path = tmp_path / "curves.png"
    figure.savefig(path, dpi=80)
    _check_png(path)


def test_one_panel_per_generator_and_ax_option(score):
    both = Score.concat([s.isel(generator=0) for s in score], "generator", ["net0", "net1"])
    assert both.dims == ("generator", "layer", "observer")
    matrix = plot_recognisability_matrix(both, colorbar=False)
    assert len(matrix.axes) == 2
    assert [ax.get_title().split(" (")[0] for ax in matrix.axes] == ["metamers of net0", "metamers of net1"]
    curves = plot_recognisability_curves(both, generator="net1", bands=False)
    assert len(curves.axes) == 1 and not curves.axes[0].collections
    ax = Figure().subplots()
    assert plot_recognisability_curves(both, generator="net0", ax=ax) is ax.figure
    with pytest.raises(ConfigError, match="one axes"):
        plot_recognisability_matrix(both, ax=Figure().subplots())
    with pytest.raises(ConfigError, match="no generator"):
        plot_recognisability_curves(both, generator="net7")
    with pytest.raises(ScoreError, match="recognisability score"):
        plot_recognisability_matrix(Score.concat([Score(0.1), Score(0.2)], "layer", ["a", "b"]))
