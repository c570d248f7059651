"""Comparing RDMs: one dispatcher, :func:`compare_rdms`, over a registry of methods.

Dims broadcast the xarray way: a dim present in both inputs (other than
``pair``) is matched element by element (e.g. ``split`` or ``resample``), a
dim present in only one is crossed (``layer`` × ``subject`` gives a
many-to-many table).  To cross two batches that share a dim name, rename one
(``b.rename(model="model_b")``).

NaN entries (e.g. the pair of two copies of one stimulus in a bootstrap
resample) are dropped pairwise: each comparison uses the pairs that are finite
in both RDMs, and ranks are computed within those pairs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr
from scipy.stats import rankdata

from ..errors import AlignmentError, DataError, UnknownNameError
from .rdm import PAIR, rdm_stimulus_ids, to_square, to_vector

__all__ = ["compare_rdms", "RDM_COMPARISONS"]


def _identity(values: np.ndarray) -> np.ndarray:
    return values


def _ranks(values: np.ndarray) -> np.ndarray:
    return rankdata(values, axis=-1, nan_policy="omit")


#: Registry: method name → (transform applied along ``pair``, whether to centre).
#: Each method is the cosine of the transformed (and possibly centred) vectors.
RDM_COMPARISONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], bool]] = {
    "cosine": (_identity, False),
    "pearson": (_identity, True),
    "corr": (_identity, True),
    "spearman": (_ranks, True),
}


def _unit(values: np.ndarray, transform, center: bool) -> np.ndarray:
    values = transform(values)
    if center:
        values = values - np.nanmean(values, axis=-1, keepdims=True)
    norm = np.sqrt(np.nansum(values**2, axis=-1, keepdims=True))
    if np.any(norm == 0):
        raise DataError(
            "an RDM is constant over the compared pairs, so its correlation is undefined",
            source="rdm", fix="check the data (e.g. identical patterns) or compare with method='cosine'",
        )
    return np.nan_to_num(values / norm, nan=0.0)


def _prepared(rdm: xr.DataArray, transform, center: bool) -> xr.DataArray:
    return xr.apply_ufunc(_unit, rdm, kwargs={"transform": transform, "center": center},
                          input_core_dims=[[PAIR]], output_core_dims=[[PAIR]])


def _matched(a: xr.DataArray, b: xr.DataArray) -> xr.DataArray:
    """``b`` with its stimuli in the order of ``a`` (explicit join on stimulus ids)."""
    ids_a, ids_b = rdm_stimulus_ids(a), rdm_stimulus_ids(b)
    if np.array_equal(ids_a, ids_b):
        return b
    if set(ids_a.tolist()) != set(ids_b.tolist()) or len(ids_a) != len(ids_b):
        raise AlignmentError(
            f"the RDMs describe different stimuli ({len(ids_a)} vs {len(ids_b)}, "
            f"{len(set(ids_a.tolist()) ^ set(ids_b.tolist()))} not shared)",
            source="a/b", fix="compute both RDMs on the same stimulus set",
        )
    square = to_square(b).sel(stimulus_id_a=ids_a, stimulus_id_b=ids_a)
    return to_vector(square)


def compare_rdms(a: xr.DataArray, b: xr.DataArray, method: str = "spearman") -> xr.DataArray:
    """Similarity of RDMs ``a`` and ``b`` (vector form), broadcast over their batch dims.

    Parameters
    ----------
    a, b : xarray.DataArray
        RDMs from :func:`compute_rdm` or :func:`to_vector`.  ``b`` is matched to
        ``a``'s stimulus order by id; different stimulus sets raise.
    method : str
        One of :data:`RDM_COMPARISONS`: ``"spearman"`` (rank correlation,
        ties averaged), ``"pearson"``/``"corr"``, ``"cosine"``.

    Returns
    -------
    xarray.DataArray
        Dims: the union of the batch dims of ``a`` and ``b``.

    Raises
    ------
    AlignmentError
        The RDMs describe different stimuli.
    DataError
        Fewer than 3 shared finite pairs, or a constant RDM.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import compare_rdms, to_vector
    >>> a = to_vector(np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0.]]))
    >>> float(compare_rdms(a, a * 2 + 1, method="spearman"))
    1.0
    """
    if method not in RDM_COMPARISONS:
        raise UnknownNameError(method, RDM_COMPARISONS, what="RDM comparison method", source="method")
    transform, center = RDM_COMPARISONS[method]
    b = _matched(a, b)
    if not (a.isnull().any() or b.isnull().any()):
        if a.sizes[PAIR] < 3:
            raise DataError("fewer than 3 pairs to compare", source="a/b", fix="use at least 3 stimuli")
        return xr.dot(_prepared(a, transform, center), _prepared(b, transform, center), dim=PAIR)
    a_full, b_full = xr.broadcast(a, b)
    valid = a_full.notnull() & b_full.notnull()
    if int(valid.sum(PAIR).min()) < 3:
        raise DataError("fewer than 3 pairs are finite in both RDMs", source="a/b",
                        fix="drop NaN dissimilarities or use more stimuli")
    a_full, b_full = a_full.where(valid), b_full.where(valid)
    return (_prepared(a_full, transform, center) * _prepared(b_full, transform, center)).sum(PAIR)
