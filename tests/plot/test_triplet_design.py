import io

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from neuroalign.errors import SchemaError
from neuroalign.plot.triplet_design import plot_design_bins, plot_design_scatter, triplet_design_figure
from neuroalign.triplets.design import correlation_similarity, design_diagnostics, design_triplets

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def design():
    rng = np.random.default_rng(0)
    common = rng.normal(size=(120, 32))
    low = correlation_similarity(1.9 * common + rng.normal(size=common.shape))
    high = correlation_similarity(1.9 * common + rng.normal(size=common.shape))
    return design_triplets(low, high, bins=4, random_state=0)


def test_figure_renders_at_its_size(design):
    fig = triplet_design_figure(design, figsize=(8, 4))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=50)
    image = Image.open(io.BytesIO(buffer.getvalue()))
    assert image.size == (400, 200)
    pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # not a blank canvas


def test_scatter_shows_chosen_over_pool_with_grid_and_r(design):
    ax = plot_design_scatter(design, Figure().subplots())
    pool, chosen = ax.collections
    np.testing.assert_allclose(pool.get_offsets(), np.c_[design.attrs["pool_delta_low"],
                                                         design.attrs["pool_delta_high"]])
    np.testing.assert_allclose(chosen.get_offsets(), design[["delta_low", "delta_high"]].to_numpy())
    vertical = sorted(line.get_xdata()[0] for line in ax.lines if line.get_xdata()[0] == line.get_xdata()[1])
    np.testing.assert_allclose(vertical, design.attrs["edges_low"])
    assert f"{design_diagnostics(design)['r']:.3f}" in ax.get_title()


def test_bin_counts_panel(design):
    ax = plot_design_bins(design, Figure().subplots())
    counts = np.asarray(ax.collections[0].get_array())
    assert counts.shape == (4, 4) and np.all(counts == 1)
    assert "16 of 16" in ax.get_title() and "each used once" in ax.get_title()
    with pytest.raises(SchemaError, match="design table"):
        plot_design_bins(design[["delta_low"]], Figure().subplots())
