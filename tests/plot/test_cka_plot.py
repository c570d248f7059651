import matplotlib
import numpy as np
import pytest
from matplotlib.colorbar import Colorbar

from neuroalign.compare import cka_matrix
from neuroalign.errors import SchemaError
from neuroalign.plot import cka_figure, plot_cka

matplotlib.use("Agg")


@pytest.fixture
def matrix(rng):
    x = rng.normal(size=(40, 5))
    a = {"conv1": x, "conv2": np.tanh(x), "fc": x @ rng.normal(size=(5, 3))}
    b = {"block1": x ** 2, "block2": x + rng.normal(size=x.shape)}
    return cka_matrix(a, b, debiased=True, progress=False)


def test_heatmap_has_labelled_axes_colorbar_and_values(matrix, tmp_path):
    figure = cka_figure(matrix, label_a="network A", label_b="network B")
    ax, bar_ax = figure.axes
    assert ax.get_ylabel() == "network A" and ax.get_xlabel() == "network B"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["conv1", "conv2", "fc"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["block1", "block2"]
    image = ax.get_images()[0]
    np.testing.assert_array_equal(image.get_array(), matrix.values)  # row i = layer_a[i], column j = layer_b[j]
    assert isinstance(image.colorbar, Colorbar)
    assert image.colorbar.ax is bar_ax and bar_ax.get_ylabel() == "debiased CKA (linear)"
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 6 and f"{matrix.values[0, 0]:.2f}" in texts
    path = tmp_path / "cka.png"
    figure.savefig(path, dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plain_arrays_and_options(rng):
    from matplotlib.figure import Figure

    ax = plot_cka(rng.uniform(size=(20, 15)), Figure().subplots(), colorbar=False, vmin=None, vmax=None,
                  title="big")
    assert len(ax.texts) == 0 and ax.get_title() == "big"  # > 12 layers: no annotation by default
    assert len(ax.figure.axes) == 1
    assert ax.get_images()[0].get_clim() != (0.0, 1.0)
    assert ax.get_xlabel() == "layer_b"
    with pytest.raises(SchemaError, match="2-D"):
        cka_figure(np.zeros((2, 2, 2)))
