"""Figures and tables of graph pretraining (neuroalign.plot.graph_ssl, neuroalign.plot.graph_ssl_table).

The figures are built from a real (tiny) pretraining run on the simulator and real label-efficiency curves; the
tests read the drawn data back from the axes and compare it with the inputs, scikit-learn's PCA
(``sklearn.decomposition.PCA``) and pandas' group means and standard deviations.
"""

import io

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.decomposition import PCA

from neuroalign.datasets.dynamic_fc import simulate_dynamic_fc
from neuroalign.errors import ConfigError, DataError, SchemaError, UnknownNameError
from neuroalign.graphs.dataset import ConnectivityGraphs
from neuroalign.graphs.label_curves import label_efficiency, label_efficiency_score
from neuroalign.graphs.pretrainer import GraphMAEPretrainer
from neuroalign.plot.graph_ssl import (embedding_pca, embedding_pca_figure, label_efficiency_figure,
                                       pretraining_curves_figure)
from neuroalign.plot.graph_ssl_table import protocol_markdown_table, protocol_results_figure, protocol_summary

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (only to check that pyplot's state is left alone)

_TINY = dict(hidden=8, batch_size=8, lr=1e-3, progress=False, threads=1)


@pytest.fixture(scope="module")
def graphs():
    torch.set_num_threads(1)
    sim = simulate_dynamic_fc("dynamic-only", n_subjects=24, n_rois=6, n_volumes=120, seed=0)
    return ConnectivityGraphs.from_timeseries(sim.timeseries, window=30, step=10, statistics=False)


@pytest.fixture(scope="module")
def runs(graphs):
    torch.set_num_threads(1)
    return {"seed 0": GraphMAEPretrainer(**_TINY, epochs=3, random_state=0).fit(graphs),
            "seed 1": GraphMAEPretrainer(**_TINY, epochs=3, random_state=1).fit(graphs),
            "latent": GraphMAEPretrainer(**_TINY, epochs=2, latent_weight=0.5, random_state=0).fit(graphs)}


def _lines(ax):
    return {line.get_label(): line for line in ax.lines if not line.get_label().startswith("_")}


# ---------------------------------------------------------------------------------------------- pretraining

def test_pretraining_curves_draw_every_run_in_every_part_it_has(runs):
    before = plt.get_fignums()
    fig = pretraining_curves_figure(runs)
    assert plt.get_fignums() == before  # no pyplot figure was opened
    assert [ax.get_title() for ax in fig.axes] == ["loss", "reconstruction", "latent"]
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)
    for ax in fig.axes:
        part = ax.get_title()
        drawn = _lines(ax)
        having = [name for name, run in runs.items() if part in run.history_.columns]
        assert list(drawn) == having
        for name in having:
            np.testing.assert_array_equal(drawn[name].get_xdata(), runs[name].history_["epoch"])
            np.testing.assert_allclose(drawn[name].get_ydata(), runs[name].history_[part])
    assert list(_lines(fig.axes[2])) == ["latent"]  # only the run with latent prediction has that part
    # a run keeps its colour across panels
    assert _lines(fig.axes[0])["latent"].get_color() == _lines(fig.axes[2])["latent"].get_color()
    assert [t.get_text() for t in fig.axes[-1].get_legend().get_texts()] == ["latent"]
    fig.savefig(io.BytesIO(), format="png")


def test_pretraining_curves_of_one_history_and_chosen_parts(runs):
    history = runs["seed 0"].history_
    fig = pretraining_curves_figure(history, parts="loss", log_y=True)
    assert len(fig.axes) == 1 and fig.axes[0].get_yscale() == "log"
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), history["loss"])
    fig = pretraining_curves_figure([history, runs["seed 1"]])
    assert list(_lines(fig.axes[0])) == ["run 0", "run 1"]
    assert [ax.get_title() for ax in fig.axes] == ["loss"]  # the only part is the loss itself: one panel
    fig = pretraining_curves_figure(history, parts=["loss", "reconstruction"])
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), history["reconstruction"])


def test_pretraining_curves_errors(graphs, runs):
    untrained = GraphMAEPretrainer(**_TINY, epochs=0).fit(graphs)
    with pytest.raises(DataError, match="no epochs"):
        pretraining_curves_figure({"untrained": untrained})
    with pytest.raises(UnknownNameError) as error:
        pretraining_curves_figure(runs["seed 0"], parts=["latnt"])
    assert "'loss'" in error.value.fix and error.value.source == "parts"
    with pytest.raises(ConfigError, match="not a fitted pretrainer"):
        pretraining_curves_figure(GraphMAEPretrainer())
    with pytest.raises(SchemaError, match="epoch"):
        pretraining_curves_figure(pd.DataFrame({"loss": [1.0]}))


# ---------------------------------------------------------------------------------------------- label efficiency

@pytest.fixture(scope="module")
def curves(graphs, runs):
    untrained = GraphMAEPretrainer(**_TINY, epochs=0).fit(graphs)
    test = graphs.subjects[1::2]  # the simulator's groups come in a random order; every other subject is a mix
    out = {}
    for name, model in (("A", runs["seed 0"]), ("B", untrained)):
        out[name] = label_efficiency(model.transform(graphs), "group", test=test, sizes=(4, 6), seeds=(0, 1, 2),
                                     probe_params={"inner_splits": 2, "grid": [0.1, 1.0]})
    return out


def test_label_efficiency_figure_draws_means_cis_and_seeds(curves):
    fig = label_efficiency_figure(curves)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "labelled subjects" and ax.get_ylabel() == "test AUROC"
    assert ax.get_xscale() == "log"
    assert [int(t) for t in ax.get_xticks()] == [4, 6]
    drawn = _lines(ax)
    assert list(drawn) == ["A", "B"]
    for k, (name, curve) in enumerate(curves.items()):
        score = label_efficiency_score(curve)
        np.testing.assert_array_equal(drawn[name].get_xdata(), [4, 6])
        np.testing.assert_allclose(drawn[name].get_ydata(), curve.mean("seed").values)
        band = ax.collections[2 * k].get_paths()[0].vertices  # fill_between: lower edge, then upper edge
        low, high = score.ci
        for x, lo, hi in zip([4, 6], low.values, high.values):
            ys = band[np.isclose(band[:, 0], x), 1]
            assert np.isclose(ys.min(), lo) and np.isclose(ys.max(), hi)
        dots = ax.collections[2 * k + 1].get_offsets()
        np.testing.assert_allclose(np.sort(dots[:, 1]), np.sort(curve.values.ravel()))
    chance = [line for line in ax.lines if line.get_label() == "_chance"]
    assert chance and np.allclose(chance[0].get_ydata(), 0.5)
    # a Score of label_efficiency_score draws the same curve
    again = label_efficiency_figure({"A": label_efficiency_score(curves["A"])}, show_seeds=False)
    np.testing.assert_allclose(_lines(again.axes[0])["A"].get_ydata(), drawn["A"].get_ydata())
    assert len(again.axes[0].collections) == 1


def test_label_efficiency_figure_errors(curves):
    with pytest.raises(ConfigError, match="different metrics"):
        label_efficiency_figure({"A": curves["A"], "R": curves["B"].rename("r2")})
    with pytest.raises(DataError, match="2"):
        label_efficiency_figure({"A": curves["A"].isel(seed=[0])})
    with pytest.raises(SchemaError):
        label_efficiency_figure({"A": curves["A"].rename(seed="repeat")})
    with pytest.raises(ConfigError):
        label_efficiency_figure({})


# ---------------------------------------------------------------------------------------------- embeddings

def test_embedding_pca_is_scikit_learns_projection(graphs, runs):
    embeddings = runs["seed 0"].transform(graphs)
    projected = embedding_pca(embeddings)
    reference = PCA(n_components=2, svd_solver="full").fit(embeddings.values)
    np.testing.assert_allclose(projected.values, reference.transform(embeddings.values), atol=1e-10)
    np.testing.assert_allclose(projected["explained_variance_ratio"], reference.explained_variance_ratio_)
    assert projected.dims == ("subject", "component")
    np.testing.assert_array_equal(projected["group"], embeddings["group"])
    windows = runs["seed 0"].transform_windows(graphs)
    flat = windows.values.reshape(-1, windows.sizes["feature"])
    pooled = embedding_pca(windows, n_components=3)
    assert pooled.dims == ("subject", "window", "component")
    np.testing.assert_allclose(pooled.values.reshape(-1, 3), PCA(3, svd_solver="full").fit_transform(flat),
                               atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, (12, 4), elements=st.floats(-10, 10)), arrays(np.float64, (4,), elements=st.floats(-5, 5)))
def test_embedding_pca_ignores_a_shift_and_gives_uncorrelated_components(values, shift):
    if np.linalg.svd(values - values.mean(0), compute_uv=False)[1] < 1e-3:
        return  # the second component is not defined
    x = xr.DataArray(values, dims=("subject", "feature"))
    projected = embedding_pca(x).values
    np.testing.assert_allclose(np.abs(embedding_pca(x + shift).values), np.abs(projected), atol=1e-6)
    covariance = np.cov(projected.T)
    assert abs(covariance[0, 1]) < 1e-6 * max(1.0, covariance[0, 0])
    assert covariance[0, 0] >= covariance[1, 1] - 1e-9
    np.testing.assert_allclose(projected.mean(0), 0, atol=1e-8)


def test_embedding_pca_figure_colours_groups_and_draws_trajectories(graphs, runs):
    model = runs["seed 0"]
    embeddings, windows = model.transform(graphs), model.transform_windows(graphs)
    fig = embedding_pca_figure(embeddings, windows=windows, trajectories=2)
    left, right = fig.axes
    projected = embedding_pca(embeddings)
    groups = embeddings["group"].values
    labels = [c.get_label() for c in left.collections]
    assert labels == ["group 0", "group 1"]
    for collection, value in zip(left.collections, (0, 1)):
        np.testing.assert_allclose(collection.get_offsets(), projected.values[groups == value])
    assert left.get_xlabel().startswith("PC1 (") and left.get_ylabel().startswith("PC2 (")
    chosen = [s for g in (0, 1) for s in embeddings["subject"].values[groups == g][:2]]
    paths = _lines(right)
    assert list(paths) == [str(s) for s in chosen]
    codes = embedding_pca(windows)
    for subject in chosen:
        np.testing.assert_allclose(paths[str(subject)].get_xydata(), codes.sel(subject=subject).values)
    for subject, collection in ((chosen[0], left.collections[0]), (chosen[-1], left.collections[1])):
        assert matplotlib.colors.same_color(paths[str(subject)].get_color(), collection.get_facecolor()[0][:3])
    fig.savefig(io.BytesIO(), format="png")


def test_trajectories_without_the_mean_of_each_window_position(graphs, runs):
    model = runs["seed 0"]
    embeddings, windows = model.transform(graphs), model.transform_windows(graphs)
    fig = embedding_pca_figure(embeddings, windows=windows, trajectories=[embeddings["subject"].values[3]],
                               remove_window_mean=True)
    subject = embeddings["subject"].values[3]
    residual = windows.values - windows.values.mean(axis=0, keepdims=True)
    reference = PCA(2, svd_solver="full").fit(residual.reshape(-1, residual.shape[-1]))
    row = list(windows["subject"].values).index(subject)
    np.testing.assert_allclose(_lines(fig.axes[1])[str(subject)].get_xydata(), reference.transform(residual[row]),
                               atol=1e-10)
    assert "minus the mean of each window position" in fig.axes[1].get_title()


def test_embedding_pca_figure_with_a_continuous_label_has_a_colour_bar(graphs, runs):
    embeddings = runs["seed 0"].transform(graphs)
    fig = embedding_pca_figure(embeddings, color="dwell_probability")
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "dwell_probability"  # the colour bar
    np.testing.assert_allclose(fig.axes[0].collections[0].get_array(), embeddings["dwell_probability"].values)


def test_embedding_pca_errors(graphs, runs):
    embeddings = runs["seed 0"].transform(graphs)
    with pytest.raises(SchemaError) as error:
        embedding_pca_figure(embeddings, color="age")
    assert "group" in error.value.fix
    with pytest.raises(SchemaError, match="not in both"):
        embedding_pca_figure(embeddings, windows=runs["seed 0"].transform_windows(graphs), trajectories=["nobody"])
    with pytest.raises(SchemaError):
        embedding_pca(embeddings.rename(feature="unit_"))
    with pytest.raises(DataError, match="non-finite"):
        embedding_pca(embeddings.where(embeddings > 0))
    with pytest.raises(DataError, match="n_components"):
        embedding_pca(embeddings.isel(feature=[0]))


# ---------------------------------------------------------------------------------------------- protocol table

@pytest.fixture
def protocol_table():
    rng = np.random.default_rng(0)
    rows = [dict(scenario=s, method=m, variant="default", seed=seed, metric=metric, value=float(rng.uniform()))
            for s in ("dynamic-only", "static", "null") for m in ("A", "B", "C") for seed in range(3)
            for metric in ("auroc", "r2_dwell") if not (s == "null" and m == "B")]
    rows += [dict(scenario="dynamic-only", method="A", variant="gamma=1.0", seed=seed, metric="auroc",
                  value=float(rng.uniform())) for seed in range(2)]
    return pd.DataFrame(rows)


def test_markdown_table_holds_mean_and_sd_over_seeds(protocol_table):
    text = protocol_markdown_table(protocol_table, digits=3)
    lines = text.splitlines()
    assert lines[0] == "| scenario | A | B | C |" and lines[1] == "|---|---|---|---|"
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| dynamic-only", "| static", "| null"]
    main = protocol_table[(protocol_table.metric == "auroc") & (protocol_table.variant == "default")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        for method, cell in zip("ABC", cells[1:]):
            values = main[(main.scenario == cells[0]) & (main.method == method)]["value"].to_numpy()
            if values.size == 0:
                assert cell == "–"
            else:
                assert cell == f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"
    assert "| null |" in text and text.splitlines()[-1].split(" | ")[2] == "–"


def test_markdown_table_of_a_result_with_ablations_and_single_seeds(protocol_table):
    from neuroalign.graphs.protocol import ProtocolResult

    result = ProtocolResult(protocol_table, pd.DataFrame(), None, 0.0)
    text = protocol_markdown_table(result, variant=None)
    assert "| dynamic-only (gamma=1.0) |" in text
    one_seed = protocol_table[protocol_table.seed == 0]
    cell = protocol_markdown_table(one_seed).splitlines()[2].split(" | ")[1]
    value = one_seed[(one_seed.scenario == "dynamic-only") & (one_seed.method == "A") &
                     (one_seed.metric == "auroc") & (one_seed.variant == "default")]["value"].item()
    assert cell == f"{value:.2f}"
    r2 = protocol_summary(protocol_table, metric="r2_dwell")
    assert set(r2["n_seeds"]) == {3}


def test_protocol_table_errors(protocol_table):
    with pytest.raises(UnknownNameError) as error:
        protocol_markdown_table(protocol_table, metric="accuracy")
    assert "'auroc'" in error.value.fix
    with pytest.raises(UnknownNameError):
        protocol_summary(protocol_table, variant="gamma=9")
    with pytest.raises(SchemaError, match="seed"):
        protocol_summary(protocol_table.drop(columns="seed"))
    with pytest.raises(ConfigError):
        protocol_summary([1, 2])


def test_protocol_results_figure_draws_seeds_and_means(protocol_table):
    fig = protocol_results_figure(protocol_table)
    assert [ax.get_title() for ax in fig.axes] == ["dynamic-only", "static", "null"]
    assert fig.axes[0].get_ylabel() == "test AUROC"
    summary = protocol_summary(protocol_table)
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B", "C"]
        bars = ax.containers[0]  # the errorbar container: means at the methods run on this scenario
        expected = summary[summary.scenario == ax.get_title()]
        np.testing.assert_allclose(bars.lines[0].get_ydata(), expected["mean"])
    null = fig.axes[2]
    assert len(null.collections) - 1 == 2  # seeds of A and C (B not run); the last collection is the error bars
    fig.savefig(io.BytesIO(), format="png")
