"""Searchlight spheres over a brain mask: centres and the mask voxels around each.

A sphere of radius r around a mask voxel c holds the grid voxels v with
‖v − c‖ < r (strictly), the distance in voxels or, with ``units="mm"``, in
millimetres through the image affine.  A centre is kept when the fraction of
its sphere's in-grid voxels that lie inside the mask is at least
``threshold``; its neighbours are the sphere's mask voxels (the patterns
hold no data outside the mask).  The centres are those of rsatoolbox's
``get_volume_searchlight(mask, radius, threshold)``, the neighbours those of
its ``truncate_at_boundary=True`` (whose threshold keeps every centre, as the
truncated spheres lie in the mask); with ``threshold=1`` both of rsatoolbox's
variants give exactly these spheres.

The spheres are found by looping over the few hundred offsets of a sphere,
each step vectorised over every voxel of the mask: no loop over centres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from ...data.schema import NEUROID
from ...errors import ConfigError, DataError, SchemaError

__all__ = ["SearchlightSpheres", "searchlight_spheres"]

VOXEL_COORDS = ("voxel_i", "voxel_j", "voxel_k")


@dataclass(frozen=True, eq=False)
class SearchlightSpheres:
    """Searchlight spheres over the voxels of a mask (from :func:`searchlight_spheres`).

    Attributes
    ----------
    voxels : numpy.ndarray
        ``(n_voxels, 3)`` voxel indices of the mask, in C order of (i, j, k).
    centres : numpy.ndarray
        ``(n_spheres,)`` positions in ``voxels`` of the sphere centres (ascending).
    neighbours : numpy.ndarray
        ``(n_spheres, max_size)`` positions in ``voxels`` of each sphere's voxels
        in ascending order, padded with -1.
    sizes : numpy.ndarray
        ``(n_spheres,)`` number of voxels of each sphere.
    grid_shape : tuple of int
        Shape of the image grid.
    affine : numpy.ndarray
        ``(4, 4)`` voxel-to-world affine.
    radius, units, threshold
        The arguments the spheres were made with.
    """

    voxels: np.ndarray
    centres: np.ndarray
    neighbours: np.ndarray
    sizes: np.ndarray
    grid_shape: tuple[int, int, int]
    affine: np.ndarray
    radius: float
    units: str
    threshold: float
    _groups: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_spheres(self) -> int:
        """The number of spheres."""
        return int(self.centres.size)

    def neighbour_lists(self) -> list[np.ndarray]:
        """Each sphere's voxel positions (in ``voxels``) as a list of arrays."""
        return [row[:size] for row, size in zip(self.neighbours, self.sizes)]

    def groups(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Spheres grouped by size: ``(sphere positions, (n, size) neighbour positions)`` per size."""
        if not self._groups:
            for size in np.unique(self.sizes):
                rows = np.flatnonzero(self.sizes == size)
                self._groups[int(size)] = (rows, np.ascontiguousarray(self.neighbours[rows, :size]))
        return list(self._groups.values())

    def to_rsatoolbox(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """Centres and neighbours as flat indices of the grid, the form of rsatoolbox's ``get_volume_searchlight``.

        Neighbours are in ascending order (rsatoolbox lists the same voxels in
        another order).
        """
        flat = np.ravel_multi_index(tuple(self.voxels.T), self.grid_shape)
        return flat[self.centres], [flat[n] for n in self.neighbour_lists()]

    def centre_coords(self) -> dict[str, tuple[str, np.ndarray]]:
        """The centres' ``neuroid`` coordinates: ``neuroid_id``, voxel indices, world ``x``/``y``/``z`` (mm)."""
        from ...loaders.voxels import voxel_coords

        centres = np.zeros(self.grid_shape, dtype=bool)
        centres[tuple(self.voxels[self.centres].T)] = True  # C order, as the centres are
        coords = {name: (NEUROID, values) for name, values in voxel_coords(centres, affine=self.affine).items()}
        coords["sphere_size"] = (NEUROID, self.sizes.copy())
        return coords


def _mask_array(mask: Any, affine: Any) -> tuple[np.ndarray, np.ndarray]:
    """(boolean 3-D mask, 4x4 affine) from an image, a path, a 3-D array or a pattern array."""
    if isinstance(mask, xr.DataArray):
        missing = [c for c in VOXEL_COORDS if c not in mask.coords]
        if missing or "grid_shape" not in mask.attrs:
            raise SchemaError(f"the pattern array lacks {missing or ['attrs grid_shape']}", source="mask",
                              fix="pass patterns with voxel_i/voxel_j/voxel_k coords and a grid_shape attr, "
                                  "or a mask image")
        array = np.zeros(tuple(int(s) for s in mask.attrs["grid_shape"]), dtype=bool)
        array[tuple(np.asarray(mask[c].values, dtype=int) for c in VOXEL_COORDS)] = True
        if affine is None and "affine" in mask.attrs:
            affine = np.asarray(mask.attrs["affine"], dtype=float).reshape(4, 4)
    elif hasattr(mask, "affine") or isinstance(mask, (str, bytes)) or hasattr(mask, "__fspath__"):
        from ...loaders.voxels import _mask_array as _image_mask

        array, image_affine = _image_mask(mask)
        affine = image_affine if affine is None else affine
    else:
        array = np.asarray(mask)
        if array.ndim != 3:
            raise DataError(f"the mask has shape {array.shape}, a 3-D volume is needed", source="mask",
                            fix="pass a 3-D boolean array, a NIfTI mask or a pattern array")
        array = array != 0
    affine = np.eye(4) if affine is None else np.asarray(affine, dtype=float).reshape(4, 4)
    if not array.any():
        raise DataError("the mask has no voxels", source="mask", fix="pass a mask with non-zero voxels")
    return array, affine


def _offsets(radius: float, units: str, affine: np.ndarray) -> np.ndarray:
    """Integer offsets d with ‖d‖ < radius (voxels) or ‖A d‖ < radius (mm), in C order."""
    linear = np.eye(3) if units == "voxels" else affine[:3, :3]
    smallest = np.linalg.svd(linear, compute_uv=False).min()
    if smallest <= 0:
        raise DataError("the affine is singular, so distances in mm are undefined", source="affine",
                        fix="pass a valid image affine, or units='voxels'")
    bound = int(np.ceil(radius / smallest))
    axis = np.arange(-bound, bound + 1)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    distance = np.sqrt(((grid @ linear.T) ** 2).sum(axis=1))
    return grid[distance < radius]


def searchlight_spheres(
    mask: Any,
    radius: float,
    *,
    threshold: float = 1.0,
    units: str = "voxels",
    affine: Any = None,
) -> SearchlightSpheres:
    """Searchlight spheres centred on the voxels of a mask.

    Parameters
    ----------
    mask : nibabel image, path, 3-D array or xarray.DataArray
        The mask (non-zero voxels); a pattern array stands for the mask of its
        voxels (``voxel_i``/``voxel_j``/``voxel_k`` coords, ``grid_shape`` and
        ``affine`` attrs).
    radius : float
        Voxels v with ‖v − centre‖ < ``radius`` form a sphere.
    threshold : float
        Smallest fraction of a sphere's in-grid voxels inside the mask for
        its centre to be kept (rsatoolbox's ``threshold``); in [0, 1].
    units : {"voxels", "mm"}
        Units of ``radius``; in mm the distance goes through the affine.
    affine : array_like, optional
        ``(4, 4)`` affine, overriding the mask's (identity for a plain array).

    Returns
    -------
    SearchlightSpheres

    Raises
    ------
    ConfigError
        A radius that is not positive, a threshold outside [0, 1], unknown units.
    DataError
        An empty or non-3-D mask, no sphere passing the threshold.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare.common.searchlight_grid import searchlight_spheres
    >>> spheres = searchlight_spheres(np.ones((5, 5, 5), bool), radius=2)
    >>> spheres.n_spheres, int(spheres.sizes.max())
    (125, 27)
    """
    if units not in ("voxels", "mm"):
        raise ConfigError(f"units must be 'voxels' or 'mm', got {units!r}", source="units",
                          fix="pass units='voxels' or units='mm'")
    if not np.isfinite(radius) or radius <= 0:
        raise ConfigError(f"the radius must be positive, got {radius!r}", source="radius",
                          fix="pass a positive radius, e.g. 3 (voxels) or 6 (mm)")
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold must be in [0, 1], got {threshold!r}", source="threshold",
                          fix="pass the fraction of each sphere that must lie inside the mask, e.g. 1.0")
    array, affine = _mask_array(mask, affine)
    shape = np.array(array.shape)
    voxels = np.argwhere(array)
    lookup = np.full(array.shape, -1, dtype=np.int32)  # half the memory of int64 (whole-brain masks)
    lookup[tuple(voxels.T)] = np.arange(len(voxels))
    offsets = _offsets(float(radius), units, affine)
    neighbours = np.full((len(voxels), len(offsets)), -1, dtype=np.int32)
    in_grid = np.zeros(len(voxels), dtype=np.int64)
    for column, offset in enumerate(offsets):  # a few hundred offsets, each over every voxel at once
        target = voxels + offset
        inside = np.all((target >= 0) & (target < shape), axis=1)
        in_grid += inside
        neighbours[inside, column] = lookup[tuple(target[inside].T)]
    sizes = (neighbours >= 0).sum(axis=1)
    keep = sizes / in_grid >= threshold  # rsatoolbox: mask[neighbours].mean() >= threshold
    if not keep.any():
        raise DataError(f"no sphere of radius {radius} {units} has {threshold:.0%} of its voxels in the mask",
                        source="threshold", fix="lower the threshold or the radius")
    neighbours, sizes = neighbours[keep], sizes[keep]
    # push the -1 padding to the end of each row, keeping the (ascending) order of the voxels
    order = np.argsort(neighbours < 0, axis=1, kind="stable")
    neighbours = np.take_along_axis(neighbours, order, axis=1)[:, : sizes.max()]
    return SearchlightSpheres(voxels=voxels, centres=np.flatnonzero(keep), neighbours=neighbours, sizes=sizes,
                              grid_shape=tuple(int(s) for s in array.shape), affine=affine, radius=float(radius),
                              units=units, threshold=float(threshold))
