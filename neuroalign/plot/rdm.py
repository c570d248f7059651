"""RDM figures: category-ordered heatmaps and MDS maps of stimuli or of RDMs.

Everything draws on a given :class:`matplotlib.axes.Axes` (or builds a
:class:`matplotlib.figure.Figure`); nothing touches pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..compare.rsa.rdm import ID_A, PAIR, as_rdm, to_square
from ..compare.rsa.rdm_comparison import compare_rdms
from ..data.schema import STIMULUS_ID
from ..errors import ConfigError, SchemaError

__all__ = ["category_order", "mds_embedding", "plot_mds", "plot_rdm", "plot_rdm_mds", "rdm_figure"]


def _single_square(rdm: Any) -> xr.DataArray:
    square = to_square(rdm)
    extra = [d for d in square.dims if d not in (ID_A, "stimulus_id_b")]
    if extra:
        raise SchemaError(f"expected one RDM, got batch dims {extra}", source="rdm",
                          fix=f"select one first, e.g. rdm.isel({extra[0]}=0)")
    return square


def _labels_for(square: xr.DataArray, categories: Any) -> np.ndarray | None:
    """One category label per stimulus of ``square``, from any of the accepted forms."""
    if categories is None:
        return None
    ids = square[ID_A].values
    if isinstance(categories, str):
        name = f"{categories}_a"
        if name not in square.coords:
            available = [c[:-2] for c in square.coords if c.endswith("_a") and c != ID_A]
            raise SchemaError(f"the RDM has no stimulus coordinate {categories!r} (it has {available})",
                              source="categories", fix="compute the RDM from data with that presentation "
                              "coordinate, or pass the labels (array, mapping or DataArray)")
        return np.asarray(square[name].values)
    if isinstance(categories, xr.DataArray):
        if STIMULUS_ID not in categories.coords:
            raise SchemaError("a DataArray of categories needs a stimulus_id coordinate", source="categories",
                              fix="pass data['category'] of an array with stimulus_id")
        categories = pd.Series(categories.values, index=categories[STIMULUS_ID].values)
        categories = categories[~categories.index.duplicated()]
    if isinstance(categories, (Mapping, pd.Series)):
        missing = [i for i in ids if i not in categories]
        if missing:
            raise SchemaError(f"{len(missing)} stimuli have no category, e.g. {missing[:3]}", source="categories",
                              fix="give every stimulus id of the RDM a category")
        return np.asarray([categories[i] for i in ids])
    labels = np.asarray(categories)
    if labels.shape != ids.shape:
        raise SchemaError(f"{labels.size} category labels for {ids.size} stimuli", source="categories",
                          fix="pass one label per stimulus, in the RDM's stimulus order")
    return labels


def category_order(labels: Sequence, order: Sequence | None = None) -> tuple[np.ndarray, list, np.ndarray]:
    """Stable order that groups stimuli by category.

    Parameters
    ----------
    labels : sequence
        One category per stimulus.
    order : sequence, optional
        The order of the categories (default: order of first appearance);
        categories not listed go last.

    Returns
    -------
    (numpy.ndarray, list, numpy.ndarray)
        The permutation of the stimuli, the category names in order, and the
        start index of each group after permuting (plus the end).

    Examples
    --------
    >>> from neuroalign.plot import category_order
    >>> category_order(["b", "a", "b", "a"])[0].tolist()
    [0, 2, 1, 3]
    """
    labels = pd.Index(np.asarray(labels, dtype=object))
    names = list(pd.unique(labels))
    if order is not None:
        names = [c for c in order if c in set(names)] + [c for c in names if c not in set(order)]
    rank = {name: i for i, name in enumerate(names)}
    codes = np.array([rank[label] for label in labels])
    permutation = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=len(names)))]
    return permutation, names, bounds


def plot_rdm(
    rdm: Any,
    ax: Axes,
    *,
    categories: Any = None,
    order: Sequence | None = None,
    rank: bool = False,
    cmap: str = "viridis",
    colorbar: bool = True,
    title: str | None = None,
) -> Axes:
    """Heatmap of one RDM, its stimuli grouped by category with separators and group labels.

    Parameters
    ----------
    rdm : xarray.DataArray or array_like
        One RDM in vector or square form (anything :func:`~neuroalign.compare.as_rdm` takes).
    ax : matplotlib.axes.Axes
    categories : str, array, mapping or DataArray, optional
        The name of a stimulus coordinate carried by the RDM (e.g.
        ``"category"``, from a presentation coordinate of the data); one
        label per stimulus; a mapping or Series from stimulus id to label; or
        a DataArray with a ``stimulus_id`` coordinate (e.g. ``data["category"]``).
    order : sequence, optional
        Order of the categories (default: first appearance).
    rank : bool
        Show percentiles of the dissimilarities (0–100), as in Kriegeskorte et
        al. (2008), instead of raw values.
    cmap : str
    colorbar : bool
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from neuroalign.plot import plot_rdm
    >>> d = np.abs(np.subtract.outer(np.arange(6.), np.arange(6.)))
    >>> ax = plot_rdm(d, Figure().subplots(), categories=list("aabbcc"))
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['a', 'b', 'c']
    """
    square = _single_square(rdm)
    values = np.asarray(square.values, dtype=float)
    labels = _labels_for(square, categories)
    if labels is not None:
        permutation, names, bounds = category_order(labels, order)
        values = values[np.ix_(permutation, permutation)]
    if rank:
        rows, cols = np.triu_indices(values.shape[0], 1)
        upper = values[rows, cols]
        finite = np.isfinite(upper)
        percentile = np.full(upper.shape, np.nan)
        percentile[finite] = 100.0 * (pd.Series(upper[finite]).rank(method="average").values - 0.5) / finite.sum()
        values = np.zeros_like(values)
        values[rows, cols] = values[cols, rows] = percentile
    image = ax.imshow(values, cmap=cmap, interpolation="nearest")
    if labels is not None:
        for bound in bounds[1:-1]:
            ax.axhline(bound - 0.5, color="white", linewidth=1.2)
            ax.axvline(bound - 0.5, color="white", linewidth=1.2)
        centres = (bounds[:-1] + bounds[1:] - 1) / 2.0
        ax.set_xticks(centres, [str(name) for name in names], rotation=90)
        ax.set_yticks(centres, [str(name) for name in names])
        ax.tick_params(length=0)
    elif values.shape[0] <= 30:
        ids = [str(i) for i in square[ID_A].values]
        ax.set_xticks(np.arange(len(ids)), ids, rotation=90)
        ax.set_yticks(np.arange(len(ids)), ids)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if colorbar:
        method = square.attrs.get("method")
        label = "dissimilarity (percentile)" if rank else (f"dissimilarity ({method})" if method else "dissimilarity")
        ax.figure.colorbar(image, ax=ax, label=label, shrink=0.8)
    if title is not None:
        ax.set_title(title)
    return ax


def rdm_figure(rdm: Any, **kwargs: Any) -> Figure:
    """A figure with one :func:`plot_rdm` heatmap (no pyplot state involved)."""
    figure = Figure(figsize=(6.5, 5.5), layout="constrained")
    plot_rdm(rdm, figure.subplots(), **kwargs)
    return figure


def mds_embedding(dissimilarities: np.ndarray, n_components: int = 2, *, squared: bool = False) -> np.ndarray:
    """Classical (Torgerson) multidimensional scaling of a square dissimilarity matrix.

    The points' squared distances best match ``dissimilarities``² (or
    ``dissimilarities`` when ``squared``, e.g. for squared-Euclidean or
    crossnobis RDMs); negative eigenvalues of a non-Euclidean matrix are
    dropped.  Deterministic: each axis is signed so that its largest
    coordinate is positive.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.plot import mds_embedding
    >>> points = np.array([[0, 0], [3, 0], [0, 4.]])
    >>> d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    >>> x = mds_embedding(d)
    >>> round(float(np.linalg.norm(x[1] - x[2])), 6)
    5.0
    """
    d = np.asarray(dissimilarities, dtype=float)
    if d.ndim != 2 or d.shape[0] != d.shape[1] or not np.all(np.isfinite(d)):
        raise SchemaError(f"expected a finite square matrix, got shape {d.shape}", source="dissimilarities",
                          fix="pass a complete square RDM")
    n = d.shape[0]
    if not 1 <= n_components < n:
        raise ConfigError(f"n_components must be in [1, {n - 1}], got {n_components}", source="n_components",
                          fix="ask for fewer dimensions than points")
    squared_d = d if squared else d**2
    centring = np.eye(n) - 1.0 / n
    gram = -0.5 * centring @ squared_d @ centring
    values, vectors = np.linalg.eigh((gram + gram.T) / 2)
    top = np.argsort(values)[::-1][:n_components]
    coords = vectors[:, top] * np.sqrt(np.clip(values[top], 0.0, None))
    signs = np.sign(coords[np.abs(coords).argmax(axis=0), np.arange(n_components)])
    return coords * np.where(signs == 0, 1.0, signs)


def plot_mds(rdm: Any, ax: Axes, *, categories: Any = None, order: Sequence | None = None, squared: bool = False,
             annotate: bool = False, title: str | None = None) -> Axes:
    """2-D classical MDS of the stimuli of one RDM, coloured by category.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from neuroalign.plot import plot_mds
    >>> d = np.abs(np.subtract.outer(np.arange(5.), np.arange(5.)))
    >>> ax = plot_mds(d, Figure().subplots(), categories=list("aabbb"))
    >>> len(ax.collections)
    2
    """
    square = _single_square(rdm)
    if np.isnan(square.values).any():
        raise SchemaError("the RDM has missing dissimilarities", source="rdm", fix="MDS needs a complete RDM")
    coords = mds_embedding(square.values, 2, squared=squared)
    labels = _labels_for(square, categories)
    if labels is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=25)
    else:
        _, names, _ = category_order(labels, order)
        for i, name in enumerate(names):
            members = np.asarray(labels, dtype=object) == name
            ax.scatter(coords[members, 0], coords[members, 1], s=25, color=f"C{i % 10}", label=str(name))
        ax.legend(fontsize="small", loc="best", frameon=False)
    if annotate:
        for (x, y), name in zip(coords, square[ID_A].values):
            ax.annotate(str(name), (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title if title is not None else "MDS of stimuli")
    return ax


def plot_rdm_mds(rdms: Any, ax: Axes, *, method: str = "corr", groups: Any = None,
                 title: str | None = None) -> Axes:
    """2-D classical MDS of many RDMs, placed by their dissimilarity 1 − :func:`compare_rdms`.

    ``rdms`` holds the RDMs along one batch dim (e.g. ``model``, or a
    concatenation of models and subjects); its labels name the points.
    ``groups`` (the name of a coordinate on that dim, or one label per RDM)
    colours the points, with a legend.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from neuroalign.compare import as_rdm
    >>> from neuroalign.plot import plot_rdm_mds
    >>> rdms = as_rdm(np.random.default_rng(0).random((4, 10)), form="vector", dims=["model"])
    >>> len(plot_rdm_mds(rdms, Figure().subplots()).texts)
    4
    """
    if not isinstance(rdms, xr.DataArray):
        values = np.asarray(rdms, dtype=float)
        plain_vectors = values.ndim == 2 and values.shape[0] != values.shape[1]
        rdms = as_rdm(values, form="vector" if plain_vectors else "auto")
    rdms = as_rdm(rdms)
    batch = [d for d in rdms.dims if d != PAIR]
    if len(batch) != 1 or rdms.sizes[batch[0]] < 3:
        raise SchemaError(f"expected at least 3 RDMs along one batch dim, got dims {rdms.dims}", source="rdms",
                          fix="stack the RDMs along one dim, e.g. xr.concat([...], 'rdm')")
    dim = batch[0]
    similarity = compare_rdms(rdms, rdms.rename({dim: f"{dim}_other"}), method)
    coords = mds_embedding(np.clip(1.0 - similarity.values, 0.0, None), 2)
    names = [str(v) for v in rdms[dim].values] if dim in rdms.coords else [str(i) for i in range(rdms.sizes[dim])]
    if isinstance(groups, str):
        if groups not in rdms.coords or rdms[groups].dims != (dim,):
            raise SchemaError(f"groups={groups!r} is not a coordinate on {dim!r}", source="groups",
                              fix=f"assign one, e.g. rdms.assign_coords(kind=({dim!r}, labels))")
        groups = rdms[groups].values
    if groups is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=30, color="C0")
    else:
        groups = np.asarray(groups, dtype=object)
        if groups.shape != (len(names),):
            raise SchemaError(f"{groups.size} group labels for {len(names)} RDMs", source="groups",
                              fix="pass one label per RDM")
        for i, group in enumerate(pd.unique(groups)):
            members = groups == group
            ax.scatter(coords[members, 0], coords[members, 1], s=30, color=f"C{i % 10}", label=str(group))
        ax.legend(fontsize="small", loc="best", frameon=False)
    for (x, y), name in zip(coords, names):
        ax.annotate(name, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title if title is not None else f"MDS of RDMs (1 − {method})")
    return ax
