"""Figures of graph pretraining: loss curves, label-efficiency curves, embeddings on principal components.

Every figure is drawn on a :class:`matplotlib.figure.Figure` of its own;
nothing touches pyplot's global state.  The inputs are what
:mod:`neuroalign.graphs` returns: a pretrainer's ``history_``, the curves of
:func:`~neuroalign.graphs.label_curves.label_efficiency` and the
embeddings of ``transform`` / ``transform_windows``.  The validation
protocol's table and figure are in :mod:`neuroalign.plot.graph_ssl_table`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure

from ..errors import ConfigError, DataError, SchemaError, UnknownNameError
from ._runs import named_runs, run_history

__all__ = ["pretraining_curves_figure", "label_efficiency_figure", "embedding_pca", "embedding_pca_figure"]

#: Axis label and chance level of each metric of the graph downstream tasks.
METRIC_LABELS = {"auroc": "test AUROC", "r2": "test R²"}
CHANCE = {"auroc": 0.5, "r2": 0.0}


# ---------------------------------------------------------------------------------------------- pretraining

def _history_of(run: Any, name: str) -> pd.DataFrame:
    return run_history(run, name, estimator="fitted pretrainer", example="GraphMAEPretrainer(...).fit(dataset)",
                       columns="epoch, loss and the loss's parts")


def pretraining_curves_figure(runs: Any, *, parts: Sequence[str] | None = None, log_y: bool = False,
                              figsize: tuple[float, float] | None = None) -> Figure:
    """The pretraining loss per epoch of one or several runs, one panel per part of the loss.

    Parameters
    ----------
    runs : GraphMAEPretrainer, pandas.DataFrame, sequence or mapping of them
        Fitted pretrainers (their ``history_``) or histories (columns
        ``epoch``, ``loss`` and the loss's parts, e.g. ``reconstruction``,
        ``latent``).  A mapping names the runs (e.g. by seed); a sequence
        names them ``run 0``, ``run 1`` …  Run ``k`` is drawn in colour ``Ck``
        in every panel.
    parts : sequence of str, optional
        Columns to draw, one panel each; default ``loss``, and every part of
        any run when the runs have two or more (with a single part the loss
        is that part).  A part missing from a run (``latent`` without
        latent prediction) is left out of that run's lines.
    log_y : bool
        Logarithmic loss axis.
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes per part, titled by the part, x ``epoch``; one line per run
        labelled with its name.

    Raises
    ------
    ConfigError
        A run is neither a pretrainer nor a DataFrame.
    SchemaError
        A history without ``epoch`` or ``loss``.
    DataError
        A run with no epochs (``epochs=0``).
    UnknownNameError
        A part no run has.

    Examples
    --------
    >>> import pandas as pd
    >>> from neuroalign.plot.graph_ssl import pretraining_curves_figure
    >>> history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.9, 0.7, 0.6], "reconstruction": [0.9, 0.7, 0.6]})
    >>> fig = pretraining_curves_figure({"seed 0": history})
    >>> [ax.get_title() for ax in fig.axes], fig.axes[0].lines[0].get_label()
    (['loss'], 'seed 0')
    """
    named = named_runs(runs, "run")
    if not named:
        raise ConfigError("no runs to draw", source="runs", fix="pass at least one fitted pretrainer")
    histories = {name: _history_of(run, name) for name, run in named.items()}
    available = list(dict.fromkeys(c for h in histories.values() for c in h.columns if c != "epoch"))
    if parts is None:
        others = [c for c in available if c != "loss"]
        parts = ["loss", *others] if len(others) > 1 else ["loss"]
    parts = [parts] if isinstance(parts, str) else list(parts)
    for part in parts:
        if part not in available:
            raise UnknownNameError(part, available, what="loss part", source="parts")
    fig = Figure(figsize=figsize or (3.6 * len(parts), 3.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(parts), squeeze=False)[0])
    for ax, part in zip(axes, parts):
        for k, (name, history) in enumerate(histories.items()):
            if part in history.columns:
                ax.plot(history["epoch"], history[part], color=f"C{k % 10}", lw=1.3, marker=".", ms=3, label=name)
        ax.set(title=part, xlabel="epoch", ylabel="loss" if ax is axes[0] else None)
        if log_y:
            ax.set_yscale("log")
    if len(histories) > 1:
        axes[-1].legend(fontsize=7, frameon=False)
    return fig


# ---------------------------------------------------------------------------------------------- label efficiency

def _curve_of(curve: Any, name: str) -> xr.DataArray:
    raw = getattr(curve, "raw", curve)  # a label_efficiency_score Score keeps the curve as raw
    if not isinstance(raw, xr.DataArray) or set(raw.dims) != {"n_labelled", "seed"}:
        raise SchemaError(f"curve {name!r} is not an (n_labelled, seed) DataArray", source="curves",
                          fix="pass the results of label_efficiency(...) (or label_efficiency_score of them)")
    return raw.transpose("n_labelled", "seed")


def label_efficiency_figure(curves: Mapping[str, Any], *, ci_level: float = 0.95, show_seeds: bool = True,
                            figsize: tuple[float, float] | None = None) -> Figure:
    """Test AUROC (or R²) against the number of labelled subjects, one line per method, CIs over seeds.

    Each method's line is the mean over seeds, its band the t interval of
    :func:`~neuroalign.graphs.label_curves.label_efficiency_score` (the
    test set is fixed, so the band covers the draw of the labelled subjects
    and the method's own randomness).  A dashed line marks chance (AUROC 0.5,
    R² 0).

    Parameters
    ----------
    curves : mapping of str to xarray.DataArray or Score
        Method name → the ``(n_labelled, seed)`` result of
        :func:`~neuroalign.graphs.label_curves.label_efficiency` (or
        its :func:`~neuroalign.graphs.label_curves.label_efficiency_score`),
        all of one metric, at least two seeds each.  Method ``k`` is drawn in
        colour ``Ck``.
    ci_level : float
    show_seeds : bool
        Also draw every seed's value as a small dot.
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes, x the number of labelled subjects (log scale, ticks at the
        sizes), one line per method labelled with its name.

    Raises
    ------
    SchemaError
        A curve that is not ``(n_labelled, seed)``.
    ConfigError
        No curves, or curves of different metrics.
    DataError
        A curve with a single seed.

    Examples
    --------
    >>> import xarray as xr
    >>> from neuroalign.plot.graph_ssl import label_efficiency_figure
    >>> curve = xr.DataArray([[0.6, 0.7], [0.8, 0.9]], dims=("n_labelled", "seed"),
    ...                      coords={"n_labelled": [10, 20], "seed": [0, 1]}, name="auroc")
    >>> ax = label_efficiency_figure({"A": curve}).axes[0]
    >>> ax.get_ylabel(), ax.lines[0].get_label(), ax.lines[0].get_ydata().round(2).tolist()
    ('test AUROC', 'A', [0.65, 0.85])
    """
    from ..graphs.label_curves import label_efficiency_score

    if not isinstance(curves, Mapping) or not curves:
        raise ConfigError("curves must be a non-empty mapping of method name to curve", source="curves",
                          fix="pass e.g. {'A': label_efficiency(...), 'C': label_efficiency(...)}")
    arrays = {str(name): _curve_of(curve, str(name)) for name, curve in curves.items()}
    metrics = {name: array.name for name, array in arrays.items()}
    if len(set(metrics.values())) > 1:
        raise ConfigError(f"the curves have different metrics {metrics}", source="curves",
                          fix="draw AUROC and R² curves in separate figures")
    metric = next(iter(metrics.values()))
    fig = Figure(figsize=figsize or (6.8, 3.6), layout="constrained")
    ax = fig.subplots()
    sizes = set()
    for k, (name, array) in enumerate(arrays.items()):
        score = label_efficiency_score(array, ci_level=ci_level)
        x = array["n_labelled"].values
        sizes.update(x.tolist())
        colour = f"C{k % 10}"
        low, high = (np.asarray(bound.values, dtype=float) for bound in score.ci)
        ax.fill_between(x, low, high, color=colour, alpha=0.18, lw=0)
        if show_seeds:
            ax.scatter(np.repeat(x, array.sizes["seed"]), array.values.ravel(), s=6, color=colour, alpha=0.45,
                       lw=0)
        ax.plot(x, score.values.values, color=colour, marker="o", ms=4, lw=1.6, label=name)
    if metric in CHANCE:
        ax.axhline(CHANCE[metric], color="0.5", lw=0.8, ls="--", label="_chance")
    ax.set_xscale("log")
    ticks = sorted(sizes)
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set(xlabel="labelled subjects", ylabel=METRIC_LABELS.get(metric, f"test {metric}"))
    ax.legend(fontsize=8, frameon=False, title=f"mean, {ci_level:.0%} CI over seeds", title_fontsize=7,
              loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


# ---------------------------------------------------------------------------------------------- embeddings

def embedding_pca(embeddings: xr.DataArray, *, n_components: int = 2) -> xr.DataArray:
    """Project embeddings on their first principal components (scikit-learn's PCA).

    Parameters
    ----------
    embeddings : xarray.DataArray
        ``(subject, feature)`` subject embeddings, or ``(subject, window,
        feature)`` window codes (``transform_windows``), whose windows of all
        subjects are pooled to fit the components.
    n_components : int

    Returns
    -------
    xarray.DataArray
        The same dims with ``feature`` replaced by ``component`` (``PC1``,
        ``PC2`` …, coord ``explained_variance_ratio``); subject and window
        coords kept.  Equal to ``PCA(n_components).fit_transform`` of the
        (stacked) values.

    Raises
    ------
    SchemaError
        Other dims.
    DataError
        Non-finite values, or fewer samples or features than components.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.plot.graph_ssl import embedding_pca
    >>> x = xr.DataArray(np.random.default_rng(0).normal(size=(10, 4)), dims=("subject", "feature"))
    >>> embedding_pca(x).dims, embedding_pca(x)["component"].values.tolist()
    (('subject', 'component'), ['PC1', 'PC2'])
    """
    from sklearn.decomposition import PCA

    if not isinstance(embeddings, xr.DataArray) or embeddings.dims not in (("subject", "feature"),
                                                                           ("subject", "window", "feature")):
        dims = getattr(embeddings, "dims", type(embeddings).__name__)
        raise SchemaError(f"expected (subject, feature) or (subject, window, feature) embeddings, got {dims}",
                          source="embeddings", fix="pass GraphMAEPretrainer.transform(...) or transform_windows(...)")
    values = np.asarray(embeddings.values, dtype=float).reshape(-1, embeddings.sizes["feature"])
    if not np.isfinite(values).all():
        raise DataError("the embeddings hold non-finite values", source="embeddings",
                        fix="check the encoder's output for NaN")
    if not isinstance(n_components, (int, np.integer)) or n_components < 1 or n_components > min(values.shape):
        raise DataError(f"n_components={n_components!r} needs at least as many samples and features; the embeddings "
                        f"have {values.shape[0]} samples of {values.shape[1]} features", source="n_components",
                        fix="pass fewer components")
    pca = PCA(n_components=int(n_components), svd_solver="full")
    projected = pca.fit_transform(values).reshape(*embeddings.shape[:-1], int(n_components))
    lead = embeddings.dims[:-1]
    coords = {k: c.variable for k, c in embeddings.coords.items() if set(c.dims) <= set(lead)}
    coords["component"] = [f"PC{i + 1}" for i in range(int(n_components))]
    coords["explained_variance_ratio"] = ("component", pca.explained_variance_ratio_)
    return xr.DataArray(projected, dims=(*lead, "component"), coords=coords, name="pca")


def _colouring(labels: np.ndarray) -> tuple[bool, list]:
    """Whether labels are categories (non-numeric, or at most 10 distinct values), and the categories."""
    values = np.unique(labels)
    categorical = not np.issubdtype(labels.dtype, np.number) or values.size <= 10
    return categorical, values.tolist()


def _axis_labels(ax, projected: xr.DataArray) -> None:
    ratio = projected["explained_variance_ratio"].values
    ax.set(xlabel=f"PC1 ({ratio[0]:.0%} of variance)", ylabel=f"PC2 ({ratio[1]:.0%} of variance)")


def embedding_pca_figure(embeddings: xr.DataArray, *, color: str = "group", windows: xr.DataArray | None = None,
                         trajectories: int | Sequence = 3, remove_window_mean: bool = False,
                         figsize: tuple[float, float] | None = None) -> Figure:
    """Subjects' embeddings on their first two principal components, coloured by a label.

    Parameters
    ----------
    embeddings : xarray.DataArray
        ``(subject, feature)``, e.g. ``GraphMAEPretrainer.transform``, with the
        label coord ``color``.
    color : str
        A coord on ``subject``: categories (at most 10 values, or not numbers)
        get colours ``C0``, ``C1`` … and a legend; other numbers a colour bar.
    windows : xarray.DataArray, optional
        ``(subject, window, feature)`` window codes (``transform_windows``):
        adds a second panel, the PCA of all windows, with the windows of a few
        subjects joined in time order (a circle marks the first window).
    trajectories : int or sequence
        Subjects drawn as trajectories: the first ``trajectories`` of each
        category (numeric colours: of the whole set), or a list of subject ids.
    remove_window_mean : bool
        Subtract from every window code the mean code of its window position
        over all subjects before the windows' PCA: what every subject shares at
        that position (e.g. a positional encoding of the window index) is
        removed, and what is left is each subject's own course.
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        Axes 0: one scatter per category (label ``"<color> <value>"``), points
        at :func:`embedding_pca`; axes 1 (with ``windows``): one line per
        subject drawn, labelled with its id.

    Raises
    ------
    SchemaError
        Embeddings of other dims, ``color`` not a coord on ``subject``, or
        trajectory subjects not in ``windows``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.plot.graph_ssl import embedding_pca_figure
    >>> x = xr.DataArray(np.random.default_rng(0).normal(size=(8, 3)), dims=("subject", "feature"),
    ...                  coords={"group": ("subject", [0, 1] * 4)})
    >>> [c.get_label() for c in embedding_pca_figure(x).axes[0].collections]
    ['group 0', 'group 1']
    """
    projected = embedding_pca(embeddings)
    if color not in projected.coords or projected[color].dims != ("subject",):
        raise SchemaError(f"the embeddings have no coord {color!r} on subject", source="color",
                          fix=f"pass one of {[k for k, c in projected.coords.items() if c.dims == ('subject',)]}")
    labels = np.asarray(projected[color].values)
    categorical, categories = _colouring(labels)
    fig = Figure(figsize=figsize or ((9.0, 3.9) if windows is not None else (4.8, 3.9)), layout="constrained")
    axes = fig.subplots(1, 2 if windows is not None else 1, squeeze=False)[0]
    ax = axes[0]
    xy = projected.values
    if categorical:
        for k, value in enumerate(categories):
            member = labels == value
            ax.scatter(xy[member, 0], xy[member, 1], s=14, color=f"C{k % 10}", alpha=0.8, lw=0,
                       label=f"{color} {value}")
        ax.legend(fontsize=8, frameon=False)
    else:
        points = ax.scatter(xy[:, 0], xy[:, 1], s=14, c=labels.astype(float), cmap="viridis", lw=0)
        fig.colorbar(points, ax=ax, label=color)
    _axis_labels(ax, projected)
    ax.set_title("subject embeddings", fontsize=9)
    if windows is not None:
        if remove_window_mean:
            windows = windows - windows.mean("subject")
        _draw_trajectories(fig, axes[1], windows, color, trajectories, projected, categories if categorical else None,
                           "minus the mean of each window position" if remove_window_mean else "")
    return fig


def _draw_trajectories(fig: Figure, ax, windows: xr.DataArray, color: str, trajectories: Any,
                       projected: xr.DataArray, categories: list | None, note: str) -> None:
    """The windows' PCA in grey, with the chosen subjects' windows joined in time order."""
    codes = embedding_pca(windows)
    subjects = list(projected["subject"].values)
    labels = dict(zip(subjects, projected[color].values.tolist()))
    if isinstance(trajectories, (int, np.integer)):
        groups = categories if categories is not None else [None]
        chosen = [s for value in groups for s in [s for s in subjects if value is None or labels[s] == value]
                  [:int(trajectories)]]
    else:
        chosen = list(trajectories)
    window_subjects = list(codes["subject"].values)
    missing = [s for s in chosen if s not in window_subjects or s not in labels]
    if missing:
        raise SchemaError(f"subjects {missing[:10]} are not in both the embeddings and the window codes",
                          source="trajectories", fix="pick subjects of embeddings['subject'] and windows['subject']")
    flat = codes.values.reshape(-1, 2)
    ax.scatter(flat[:, 0], flat[:, 1], s=3, color="0.82", lw=0, label="_windows")
    values = np.asarray(list(labels.values()), dtype=float) if categories is None else None
    for subject in chosen:
        if categories is not None:
            colour = f"C{categories.index(labels[subject]) % 10}"
        else:
            span = float(values.max() - values.min()) or 1.0
            colour = colormaps["viridis"]((float(labels[subject]) - float(values.min())) / span)
        path = codes.values[window_subjects.index(subject)]
        ax.plot(path[:, 0], path[:, 1], color=colour, lw=0.9, alpha=0.9, label=str(subject))
        ax.plot(path[0, 0], path[0, 1], "o", color=colour, ms=4, label="_start")
    _axis_labels(ax, codes)
    ax.set_title(f"window codes{' ' + note if note else ''} (grey);\n{len(chosen)} subjects in time order",
                 fontsize=9)
