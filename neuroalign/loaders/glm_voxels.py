"""Which voxels a first-level GLM can use: finite values that vary over the run.

nilearn's maskers turn NaN into 0 silently, and a constant voxel has no
response to estimate (its estimates and t statistics would be rounding noise).
The LSA path (:func:`~neuroalign.loaders.glm.estimate_patterns`) and the LSS
path (:func:`~neuroalign.loaders.glm_lss.lss_estimates`) both check their
voxels here, with the same errors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import DataError

__all__ = ["usable_voxels", "check_voxels", "whole_brain", "check_selected"]


def usable_voxels(data: np.ndarray, axis: int = -1) -> np.ndarray:
    """True where a voxel's values along ``axis`` (time) are all finite and not all equal.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.loaders.glm_voxels import usable_voxels
    >>> usable_voxels(np.array([[1.0, 2.0], [3.0, 3.0], [np.nan, 1.0]])).tolist()
    [True, False, False]
    """
    data = np.asarray(data)
    # the range, not the standard deviation: a constant series can have a rounding-noise std > 0
    with np.errstate(invalid="ignore"):
        return np.isfinite(data).all(axis=axis) & (np.ptp(data, axis=axis) > 0)


def check_voxels(data: np.ndarray, source: str, axis: int = -1) -> None:
    """Raise a :class:`DataError` when a voxel has a NaN/inf value or is constant along ``axis`` (time).

    ``data`` holds the voxels to be fitted: a (voxel, time) array with
    ``axis=-1``, a (time, voxel) array with ``axis=0``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.loaders.glm_voxels import check_voxels
    >>> check_voxels(np.array([[1.0, 2.0], [3.0, 3.0]]), "run 0")
    Traceback (most recent call last):
    ...
    neuroalign.errors.DataError: run 0: 1 selected voxel(s) are constant over the run (first: voxel 1): ...
    """
    data = np.asarray(data)
    finite = np.isfinite(data).all(axis=axis)
    bad = np.flatnonzero(~finite)
    if bad.size:
        raise DataError(f"{bad.size} selected voxel(s) have NaN or inf values (first: voxel {bad[0]})", source=source,
                        fix="leave them out of the mask (e.g. mask & np.isfinite(data).all(-1)), or repair the run")
    flat = np.flatnonzero(~(np.ptp(data, axis=axis) > 0))
    if flat.size:
        raise DataError(f"{flat.size} selected voxel(s) are constant over the run (first: voxel {flat[0]}): they have "
                        "no response to estimate", source=source,
                        fix="leave them out of the mask (voxels outside the brain; see "
                        "neuroalign.loaders.voxels.select_voxels), or give estimate_patterns no mask to use every "
                        "voxel that varies in every run")


def whole_brain(images: Sequence, names: Sequence[str]) -> np.ndarray:
    """The 3D mask of voxels that are usable (:func:`usable_voxels`) in every 4D run."""
    keep = None
    for img in images:
        ok = usable_voxels(np.asarray(img.dataobj), axis=3)
        keep = ok if keep is None else keep & ok
    if not keep.any():
        raise DataError("no voxel varies in every run", source=", ".join(names[:3]),
                        fix="check the runs are 4D task data, or pass mask=")
    return keep


def check_selected(images: Sequence, names: Sequence[str], selected: np.ndarray) -> None:
    """:func:`check_voxels` on the ``selected`` voxels (3D boolean) of every 4D run, naming the run."""
    for img, name in zip(images, names):
        check_voxels(np.asarray(img.dataobj)[selected], name, axis=-1)
