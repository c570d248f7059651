"""Voxels of a mask as labelled neuroids, and per-voxel values back into a NIfTI image.

Voxel order is the C order of the voxel indices ``(i, j, k)`` inside the mask
(``np.argwhere(mask)`` order, the order nilearn's maskers use).  Every voxel
carries ``neuroid_id = "v{i}_{j}_{k}"``, its indices ``voxel_i``, ``voxel_j``,
``voxel_k`` and its world coordinates ``x``, ``y``, ``z`` (mm, from the affine).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError
from .fmri import _Atlas, _same_grid, load_image

__all__ = ["voxel_coords", "to_nifti", "select_voxels"]

VOXEL_COORDS = ("neuroid_id", "voxel_i", "voxel_j", "voxel_k", "x", "y", "z")


def _mask_array(mask_img: Any, name: str = "mask") -> tuple[np.ndarray, np.ndarray]:
    """(boolean 3D mask, affine) of a NIfTI path/image of non-zero voxels."""
    img = load_image(mask_img, name=name, ndim=3)
    data = np.asarray(img.dataobj)
    if data.ndim != 3:
        raise DataError(f"the mask has shape {data.shape}, a 3D image is needed", source=name,
                        fix="pass a 3D mask (non-zero voxels are used)")
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise DataError("the mask has NaN or inf values", source=name, fix="write 0 outside and 1 inside the mask")
    return data != 0, np.asarray(img.affine, dtype=float)


def voxel_coords(mask_img: Any, *, affine: Any = None) -> dict[str, np.ndarray]:
    """The neuroid coordinates of a mask's voxels, in C order of their indices.

    Parameters
    ----------
    mask_img : path, nibabel image, or 3D boolean array
        Non-zero voxels are kept.  A plain array needs ``affine``.
    affine : (4, 4) array, optional
        The voxel-to-world affine of a plain array mask.

    Returns
    -------
    dict
        ``neuroid_id`` (``"v{i}_{j}_{k}"``), ``voxel_i``, ``voxel_j``,
        ``voxel_k`` (int) and ``x``, ``y``, ``z`` (float mm) arrays, one entry
        per voxel.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.loaders.voxels import voxel_coords
    >>> mask = np.zeros((2, 2, 2), bool); mask[1, 0, 1] = mask[0, 1, 0] = True
    >>> coords = voxel_coords(mask, affine=np.diag([2.0, 2.0, 2.0, 1.0]))
    >>> coords["neuroid_id"].tolist(), coords["x"].tolist()
    (['v0_1_0', 'v1_0_1'], [0.0, 2.0])
    """
    if isinstance(mask_img, np.ndarray):
        if affine is None:
            raise ConfigError("a mask given as an array needs its affine", source="affine",
                              fix="pass affine=<the 4x4 voxel-to-world matrix>, or a NIfTI mask")
        mask, affine = mask_img != 0, np.asarray(affine, dtype=float)
        if mask.ndim != 3:
            raise DataError(f"the mask has shape {mask.shape}, a 3D array is needed", source="mask",
                            fix="pass one boolean per voxel of the image grid")
    else:
        mask, affine = _mask_array(mask_img)
    ijk = np.argwhere(mask)
    world = ijk @ affine[:3, :3].T + affine[:3, 3]
    return {"neuroid_id": np.array([f"v{i}_{j}_{k}" for i, j, k in ijk], dtype=object).astype(str),
            "voxel_i": ijk[:, 0].astype(int), "voxel_j": ijk[:, 1].astype(int), "voxel_k": ijk[:, 2].astype(int),
            "x": world[:, 0].astype(float), "y": world[:, 1].astype(float), "z": world[:, 2].astype(float)}


def select_voxels(reference: Any, *, mask: Any = None, atlas: Any = None, region: Any = None,
                  labels: Any = None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The voxels to analyse on a reference image's grid: a mask, atlas regions, or None (decided later).

    Parameters
    ----------
    reference : nibabel image
        An image on the analysis grid (a run).
    mask : path or image, optional
        Non-zero voxels; must be on the reference grid.
    atlas : path or image, optional
        A 3D labels atlas on the reference grid; with ``region``.
    region : str, int or a sequence of them
        Region name(s) (from ``labels``) or label value(s) of ``atlas``.
    labels : optional
        Region names of the atlas, as in :func:`~neuroalign.loaders.fmri.load_roi_timeseries`.

    Returns
    -------
    (mask, region_names)
        A 3D boolean array (mask ∧ regions), and per selected voxel (C order)
        its region name (None without an atlas); ``(None, None)`` when neither
        a mask nor an atlas is given.

    Raises
    ------
    AlignmentError
        The mask or atlas is on another grid.
    UnknownNameError
        A region is not in the atlas.

    Examples
    --------
    >>> import nibabel as nib, numpy as np
    >>> from neuroalign.loaders.voxels import select_voxels
    >>> atlas = np.zeros((3, 3, 3), np.int16); atlas[0] = 1; atlas[2, 2] = 2
    >>> run = nib.Nifti1Image(np.zeros((3, 3, 3, 4), np.float32), np.eye(4))
    >>> mask, regions = select_voxels(run, atlas=nib.Nifti1Image(atlas, np.eye(4)), region=2)
    >>> int(mask.sum()), regions.tolist()
    (3, ['2', '2', '2'])
    """
    shape = tuple(reference.shape[:3])
    selected = None
    if mask is not None:
        img = load_image(mask, name="mask", ndim=3)
        if not _same_grid(img, reference):
            raise AlignmentError(f"the mask grid (shape {img.shape[:3]}) is not the runs' grid (shape {shape}, or "
                                 "another affine)", source="mask",
                                 fix="resample the mask to the runs (nilearn.image.resample_to_img(mask, run, "
                                 "interpolation='nearest')) or make it in the runs' space")
        selected, _ = _mask_array(img)
    if atlas is None:
        if region is not None:
            raise ConfigError("region= needs an atlas=", source="region", fix="pass atlas=<labels image>")
        return selected, None
    if region is None:
        raise ConfigError("atlas= needs region= (the region label(s) to use)", source="region",
                          fix="pass region=<name or label value>, or a list of them")
    parsed = _Atlas(atlas, labels, None, "labels")
    if not _same_grid(parsed.img, reference):
        raise AlignmentError(f"the atlas grid (shape {parsed.img.shape[:3]}) is not the runs' grid (shape {shape}, "
                             "or another affine)", source=parsed.source,
                             fix="resample the atlas to the runs with nearest-neighbour interpolation, or use an "
                             "atlas in the runs' space")
    data = np.asarray(parsed.img.dataobj)
    wanted = [region] if isinstance(region, (str, int, np.integer)) else list(region)
    values = []
    for r in wanted:
        if isinstance(r, str) and r in parsed.names:
            values.append(parsed.values[parsed.names.index(r)])
        elif not isinstance(r, str) and int(r) in parsed.values:
            values.append(int(r))
        else:
            raise UnknownNameError(str(r), parsed.names, what="atlas region", source=parsed.source)
    names = np.full(shape, "", dtype=object)
    inside = np.zeros(shape, dtype=bool)
    for value in values:
        hit = data == value
        inside |= hit
        names[hit] = parsed.names[parsed.values.index(value)]
    if selected is not None:
        inside &= selected
    if not inside.any():
        raise DataError(f"region(s) {wanted} have no voxel{' in the mask' if selected is not None else ''}",
                        source=parsed.source, fix="check the region labels and that the mask overlaps them")
    return inside, names[inside].astype(str)


def to_nifti(values: xr.DataArray, affine: Any = None, grid_shape: Sequence[int] | None = None, *,
             fill: float = 0.0):
    """Per-voxel values (a ``neuroid`` dim with ``voxel_i/j/k`` coords) as a NIfTI image.

    Parameters
    ----------
    values : xarray.DataArray
        A ``neuroid`` dim with ``voxel_i``, ``voxel_j``, ``voxel_k`` coords; at
        most one other dim, which becomes the image's 4th axis (e.g.
        ``presentation``).
    affine : (4, 4) array, optional
        Default: ``values.attrs["affine"]`` (16 floats, row-major).
    grid_shape : 3 ints, optional
        Default: ``values.attrs["grid_shape"]``.
    fill : float
        Value of the voxels outside the neuroids (0 by default; NaN works too).

    Returns
    -------
    nibabel.Nifti1Image
        float64 image; 3D, or 4D with the other dim last.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.loaders.voxels import to_nifti
    >>> scores = xr.DataArray([0.5, 0.7], dims="neuroid",
    ...                       coords={"voxel_i": ("neuroid", [0, 1]), "voxel_j": ("neuroid", [1, 0]),
    ...                               "voxel_k": ("neuroid", [0, 1])})
    >>> img = to_nifti(scores, np.eye(4), (2, 2, 2))
    >>> img.shape, float(img.get_fdata()[1, 0, 1])
    ((2, 2, 2), 0.7)
    """
    if not isinstance(values, xr.DataArray) or "neuroid" not in values.dims:
        raise SchemaError("expected a DataArray with a 'neuroid' dim", source="values",
                          fix="pass patterns or a per-voxel score map (dims ('neuroid',) or (..., 'neuroid'))")
    missing = [c for c in ("voxel_i", "voxel_j", "voxel_k") if c not in values.coords]
    if missing:
        raise SchemaError(f"the neuroids have no {missing} coordinate(s)", source="values",
                          fix="use arrays made from voxels (estimate_patterns, voxel_coords), which carry "
                          "voxel_i/voxel_j/voxel_k")
    affine = values.attrs.get("affine") if affine is None else affine
    grid_shape = values.attrs.get("grid_shape") if grid_shape is None else grid_shape
    if affine is None or grid_shape is None:
        raise ConfigError("the image grid is unknown", source="values",
                          fix="pass affine= and grid_shape= (or keep the attrs 'affine' and 'grid_shape')")
    affine = np.asarray(affine, dtype=float).reshape(4, 4)
    grid_shape = tuple(int(n) for n in grid_shape)
    if len(grid_shape) != 3:
        raise ConfigError(f"grid_shape {grid_shape} is not 3 ints", source="grid_shape", fix="pass (ni, nj, nk)")
    others = [d for d in values.dims if d != "neuroid"]
    if len(others) > 1:
        raise SchemaError(f"values have dims {values.dims}; at most one dim besides 'neuroid'", source="values",
                          fix="select or stack the other dims first (e.g. values.isel(...))")
    raw = np.stack([np.asarray(values[c].values) for c in ("voxel_i", "voxel_j", "voxel_k")], axis=1)
    if raw.dtype.kind not in "iu" and not (raw.dtype.kind == "f" and np.all(np.isfinite(raw))
                                           and np.all(raw == np.round(raw))):
        raise SchemaError("the voxel_i/voxel_j/voxel_k coordinates are not whole numbers", source="values",
                          fix="keep the integer voxel indices of the mask (voxel_coords), not averaged or "
                          "interpolated ones")
    ijk = raw.astype(int)
    if (ijk < 0).any() or (ijk >= np.array(grid_shape)).any():
        raise DataError(f"voxel indices lie outside the grid {grid_shape}", source="values",
                        fix="pass the grid_shape/affine of the image the voxels come from")
    flat = np.ravel_multi_index(tuple(ijk.T), grid_shape)
    if np.unique(flat).size != flat.size:
        raise DataError("several neuroids share a voxel", source="values",
                        fix="average them first (e.g. values.groupby('neuroid_id').mean())")
    import nibabel as nib

    data = np.asarray(values.transpose(*others, "neuroid").values, dtype=float)
    out = np.full((int(np.prod(grid_shape)), *data.shape[:-1]), fill, dtype=float)
    out[flat] = data.T
    return nib.Nifti1Image(out.reshape(*grid_shape, *data.shape[:-1]), affine)
