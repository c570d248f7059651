"""Many-to-many groups of units across two layers (Li et al. 2015): spectral co-clustering of |r|.

Where units do not match one to one, groups of units of A may still span the same subspace as groups of
units of B.  Co-clustering the unit correlation matrix (Dhillon 2001,
:class:`sklearn.cluster.SpectralCoclustering`) partitions the units of both layers into ``n_groups``
groups at once, so that units of a group correlate strongly with the other layer's units of the same
group.  The input is ``|r|`` (the co-clustering needs non-negative values; a unit and its sign-flipped
counterpart carry the same information).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from sklearn.cluster import SpectralCoclustering

from ...data.provenance import provenance
from ...data.schema import NEUROID_ID
from ...errors import ConfigError, DataError
from ...fitting.base import check_int, resolve_seed
from .correlation import NEUROID_A, NEUROID_B, as_matrix

__all__ = ["unit_groups"]

GROUP = "group"


def unit_groups(corr: xr.DataArray, n_groups: int, *, random_state: int | None = 0) -> xr.Dataset:
    """Partition the units of both layers into groups that correlate within (spectral co-clustering of |r|).

    Parameters
    ----------
    corr : xarray.DataArray
        A unit correlation matrix ``(neuroid_a, neuroid_b)``
        (:func:`~neuroalign.compare.matching.correlation.unit_correlation`).
    n_groups : int
        Number of groups, at least 2 and at most the width of the narrower layer.
    random_state : int or None
        Seeds scikit-learn's randomized SVD and k-means.

    Returns
    -------
    xarray.Dataset
        ``group_a`` ``(neuroid_a,)`` and ``group_b`` ``(neuroid_b,)``: each unit's group; ``within``
        ``(group,)``: the mean |r| between the group's units of A and of B, and ``between``: the mean |r|
        of the group's units of A with the other groups' units of B (NaN-free: a group always has units
        on both sides).

    Raises
    ------
    ConfigError
        ``n_groups`` out of range.
    DataError
        A unit has zero correlation with every unit of the other layer (the co-clustering normalises by
        these sums).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.compare.matching.coclustering import unit_groups
    >>> block = np.kron(np.eye(2), np.ones((3, 2))) * 0.8 + 0.05
    >>> corr = xr.DataArray(block, dims=("neuroid_a", "neuroid_b"),
    ...                     coords={"neuroid_id_a": ("neuroid_a", list("abcdef")),
    ...                             "neuroid_id_b": ("neuroid_b", list("wxyz"))})
    >>> groups = unit_groups(corr, 2)
    >>> len(set(groups.group_a.values[:3])), bool(groups.group_a.values[0] != groups.group_a.values[3])
    (1, True)
    """
    corr = as_matrix(corr)
    n_groups = check_int("n_groups", n_groups, minimum=2)
    if n_groups > min(corr.shape):
        raise ConfigError(f"n_groups={n_groups} exceeds the narrower layer's {min(corr.shape)} units",
                          source="n_groups", fix=f"pass n_groups <= {min(corr.shape)}")
    seed = resolve_seed(random_state)
    values = np.abs(corr.values)
    for axis, side in ((1, "a"), (0, "b")):
        empty = values.sum(axis=axis) == 0
        if empty.any():
            ids = corr[f"{NEUROID_ID}_{side}"].values[empty][:5].tolist()
            raise DataError(f"units of layer {side} have zero correlation with every unit of the other layer "
                            f"(e.g. {ids})", source="corr", fix="drop those units before co-clustering")
    model = SpectralCoclustering(n_clusters=n_groups, random_state=seed).fit(values)
    rows, cols = model.row_labels_, model.column_labels_
    within, between = [], []
    for group in range(n_groups):
        in_a, in_b = rows == group, cols == group
        if not (in_a.any() and in_b.any()):
            raise DataError(f"group {group} holds units of one layer only", source="n_groups",
                            fix="pass fewer groups")
        within.append(float(values[np.ix_(in_a, in_b)].mean()))
        between.append(float(values[np.ix_(in_a, ~in_b)].mean()) if (~in_b).any() else 0.0)
    params = {"n_groups": n_groups, "random_state": seed}
    return xr.Dataset(
        {"group_a": xr.DataArray(rows, dims=(NEUROID_A,),
                                 coords={f"{NEUROID_ID}_a": (NEUROID_A, corr[f"{NEUROID_ID}_a"].values)}),
         "group_b": xr.DataArray(cols, dims=(NEUROID_B,),
                                 coords={f"{NEUROID_ID}_b": (NEUROID_B, corr[f"{NEUROID_ID}_b"].values)}),
         "within": xr.DataArray(within, dims=(GROUP,), coords={GROUP: np.arange(n_groups)}),
         "between": xr.DataArray(between, dims=(GROUP,), coords={GROUP: np.arange(n_groups)})},
        attrs=provenance(params, {"corr": corr.values}))
