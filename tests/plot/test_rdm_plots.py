import matplotlib
import numpy as np
import pytest
import scipy.io
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from scipy.spatial.distance import pdist, squareform

from neuroalign.compare import as_rdm, compute_rdm
from neuroalign.data import create_assembly
from neuroalign.errors import ConfigError, SchemaError
from neuroalign.plot import (
    category_order,
    mds_embedding,
    plot_mds,
    plot_rdm,
    plot_rdm_mds,
    rdm_figure,
)

matplotlib.use("Agg")


def axis_lines(ax):
    """Positions of the horizontal separator lines drawn by axhline."""
    return sorted(line.get_ydata()[0] for line in ax.get_lines() if line.get_ydata()[0] == line.get_ydata()[1])


def test_heatmap_groups_stimuli_by_category_with_separators_and_labels():
    labels = np.array(["b", "a", "b", "a", "c"])
    d = squareform(np.arange(1.0, 11.0))
    ax = plot_rdm(as_rdm(d, list("vwxyz")), Figure().subplots(), categories=labels, colorbar=False)
    order = [0, 2, 1, 3, 4]  # b, b, a, a, c (first appearance)
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), d[np.ix_(order, order)])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a", "c"]
    assert axis_lines(ax) == [1.5, 3.5]
    ax = plot_rdm(d, Figure().subplots(), categories=labels, order=["c", "a"], colorbar=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["c", "a", "b"]


def test_categories_come_from_a_presentation_coordinate(rng):
    data = create_assembly(rng.normal(size=(6, 4)), stimulus_id=list("uvwxyz"),
                           presentation={"kind": ["face", "body", "face", "body", "face", "body"]})
    rdm = compute_rdm(data)
    by_name = plot_rdm(rdm, Figure().subplots(), categories="kind", colorbar=False)
    by_array = plot_rdm(rdm, Figure().subplots(), categories=data["kind"], colorbar=False)
    by_mapping = plot_rdm(rdm, Figure().subplots(), categories=dict(zip("uvwxyz", data["kind"].values)),
                          colorbar=False)
    for ax in (by_array, by_mapping):
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), by_name.get_images()[0].get_array())
    with pytest.raises(SchemaError, match="no stimulus coordinate 'category'"):
        plot_rdm(rdm, Figure().subplots(), categories="category")
    with pytest.raises(SchemaError, match="have no category"):
        plot_rdm(rdm, Figure().subplots(), categories={"u": "face"})


def test_rank_transform_and_colorbar_label():
    d = squareform(np.array([1.0, 5.0, 2.0, 9.0, 3.0, 4.0]))
    figure = rdm_figure(as_rdm(d, method="correlation"), rank=True)
    ax, bar = figure.axes
    shown = ax.get_images()[0].get_array()
    assert np.allclose(np.sort(shown[np.triu_indices(4, 1)]), (np.arange(6) + 0.5) / 6 * 100)
    assert bar.get_ylabel() == "dissimilarity (percentile)"
    assert rdm_figure(as_rdm(d, method="correlation")).axes[1].get_ylabel() == "dissimilarity (correlation)"


def test_one_rdm_at_a_time():
    with pytest.raises(SchemaError, match="expected one RDM"):
        plot_rdm(np.stack([squareform(np.ones(3))] * 2), Figure().subplots())


def test_category_order_is_stable():
    permutation, names, bounds = category_order(["x", "y", "x", "z", "y"], order=["z"])
    assert names == ["z", "x", "y"] and permutation.tolist() == [3, 0, 2, 1, 4] and bounds.tolist() == [0, 1, 3, 5]


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(3, 12))
def test_classical_mds_recovers_euclidean_configurations(seed, n):
    # property (Torgerson 1952): for Euclidean distances of points in the plane, classical MDS is exact
    points = np.random.default_rng(seed).normal(size=(n, 2))
    embedded = mds_embedding(squareform(pdist(points)))
    np.testing.assert_allclose(pdist(embedded), pdist(points), atol=1e-8)
    again = mds_embedding(squareform(pdist(points)))
    np.testing.assert_array_equal(embedded, again)  # deterministic signs
    np.testing.assert_allclose(pdist(mds_embedding(squareform(pdist(points, "sqeuclidean")), squared=True)),
                               pdist(points), atol=1e-8)


def test_mds_validates_its_input():
    with pytest.raises(ConfigError, match="n_components"):
        mds_embedding(np.zeros((3, 3)), 3)
    with pytest.raises(SchemaError, match="finite square"):
        mds_embedding(np.zeros((3, 4)))


def test_mds_of_stimuli_has_one_series_per_category():
    d = squareform(pdist(np.arange(8.0)[:, None]))
    ax = plot_mds(as_rdm(d), Figure().subplots(), categories=list("aaabbbcc"), annotate=True)
    assert len(ax.collections) == 3 and len(ax.texts) == 8
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    first, last = (ax.collections[i].get_offsets()[:, 0].mean() for i in (0, 2))
    assert abs(first - last) == pytest.approx(5.5)  # points 0..7 on a line: MDS keeps their spacing (1 vs 6.5)


def test_mds_of_rdms_places_similar_rdms_together(rng):
    base = rng.random(28)
    rdms = np.stack([base, base + 0.01 * rng.random(28), rng.random(28), rng.random(28)])
    ax = plot_rdm_mds(as_rdm(rdms, form="vector", dims=["model"]), Figure().subplots(), method="corr")
    points = np.array([t.xy for t in ax.texts])
    distances = squareform(pdist(points))
    assert distances[0, 1] < distances[0, 2] and distances[0, 1] < distances[0, 3]
    assert [t.get_text() for t in ax.texts] == ["0", "1", "2", "3"]
    grouped = plot_rdm_mds(rdms, Figure().subplots(), groups=["x", "x", "y", "y"])
    assert len(grouped.collections) == 2 and [t.get_text() for t in grouped.get_legend().get_texts()] == ["x", "y"]
    with pytest.raises(SchemaError, match="at least 3 RDMs"):
        plot_rdm_mds(rdms[:2], Figure().subplots())


def test_the_92_image_rdm_with_its_categories(shared_data, tmp_path):
    # real data: human IT RDM of subject BE, stimuli grouped by the 12 category labels of Kriegeskorte et al. 2008
    folder = shared_data / "kriegeskorte2008"
    brains = scipy.io.loadmat(folder / "92_brainRDMs.mat", squeeze_me=True, struct_as_record=False)["RDMs"]
    stimuli = scipy.io.loadmat(folder / "Kriegeskorte_Neuron2008_supplementalData.mat", squeeze_me=True,
                               struct_as_record=False)["stimuli_92objs"]
    categories = [s.category for s in stimuli]
    rdm = as_rdm(np.asarray(brains[0, 0].RDM, dtype=float), stimulus_coords={"category": categories})
    figure = rdm_figure(rdm, categories="category", rank=True, title="hIT, subject BE")
    ax = figure.axes[0]
    assert ax.get_images()[0].get_array().shape == (92, 92)
    assert len(ax.get_yticklabels()) == len(set(categories))
    figure.savefig(tmp_path / "rdm.png", dpi=50)
    assert (tmp_path / "rdm.png").stat().st_size > 1000
