"""Per-voxel maps in brain space: NIfTI images and files, and nilearn figures (stat map, glass brain).

The values are a DataArray over ``neuroid`` whose neuroids are voxels (coords
``voxel_i``, ``voxel_j``, ``voxel_k``, as GLM patterns and searchlight maps
carry them), with the image grid in the attrs ``affine`` and ``grid_shape``
or passed as arguments; a :class:`~neuroalign.Score` over voxels works too.
Images are built by :func:`neuroalign.loaders.voxels.to_nifti`.  Figures are
drawn by nilearn's ``plot_stat_map`` / ``plot_glass_brain`` on a matplotlib
:class:`~matplotlib.figure.Figure` of their own, never through pyplot's
global figure list.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..data.io import write_atomically
from ..errors import ConfigError, DependencyError, FileFormatError, SchemaError, UnknownNameError
from ..loaders.voxels import to_nifti
from ..score import Score

__all__ = ["BRAIN_MAP_KINDS", "plot_brain_map", "save_nifti", "to_nifti_map"]

#: The ``kind`` values of :func:`plot_brain_map` and the nilearn function that draws each.
BRAIN_MAP_KINDS = {"stat": "plot_stat_map", "glass": "plot_glass_brain"}
_NIFTI_SUFFIXES = (".nii", ".nii.gz")
_FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def _nibabel():
    try:
        import nibabel
    except ImportError:
        raise DependencyError("nibabel is needed to write NIfTI images", source="nibabel",
                              fix="pip install nibabel") from None
    return nibabel


def _as_values(values: Any) -> xr.DataArray:
    if isinstance(values, Score):
        values = values.values
    if not isinstance(values, xr.DataArray):
        raise SchemaError(f"expected a DataArray over 'neuroid' (or a Score), got {type(values).__name__}",
                          source="values", fix="pass a per-voxel map, e.g. a searchlight result or one pattern")
    return values


def to_nifti_map(values: xr.DataArray | Score, *, affine: Any = None, grid_shape: Sequence[int] | None = None,
                 fill: float = 0.0):
    """A per-voxel map as a NIfTI image in the grid its voxels come from.

    Parameters
    ----------
    values : xarray.DataArray or Score
        Dim ``neuroid`` with ``voxel_i/j/k`` coords (at most one other dim,
        which becomes the 4th axis).
    affine : (4, 4) array, optional
        Default: ``values.attrs["affine"]``.
    grid_shape : 3 ints, optional
        Default: ``values.attrs["grid_shape"]``.
    fill : float
        Value outside the voxels of ``values``.

    Returns
    -------
    nibabel.Nifti1Image
        float64 values; the header's ``descrip`` holds the array's name.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.plot.brain_maps import to_nifti_map
    >>> m = xr.DataArray([1.5, 2.5], dims="neuroid", name="r", attrs={"affine": list(np.eye(4).ravel()),
    ...                  "grid_shape": [2, 1, 1]}, coords={"voxel_i": ("neuroid", [0, 1]),
    ...                  "voxel_j": ("neuroid", [0, 0]), "voxel_k": ("neuroid", [0, 0])})
    >>> to_nifti_map(m).get_fdata().ravel().tolist()
    [1.5, 2.5]
    """
    values = _as_values(values)
    _nibabel()
    image = to_nifti(values, affine, grid_shape, fill=fill)
    if values.name is not None:
        image.header["descrip"] = str(values.name).encode()[:79]
    return image


def _suffix(path: Path, allowed: Sequence[str], what: str) -> str:
    name = path.name.lower()
    for suffix in allowed:
        if name.endswith(suffix):
            return suffix
    raise FileFormatError(f"cannot tell the {what} format of {path.name!r}", source=str(path),
                          fix=f"end the file name with one of {', '.join(allowed)}")


def save_nifti(values: xr.DataArray | Score | Any, path: str | os.PathLike, *, affine: Any = None,
               grid_shape: Sequence[int] | None = None, fill: float = 0.0) -> Path:
    """Write a per-voxel map (or a nibabel image) as a ``.nii`` or ``.nii.gz`` file, atomically.

    The file appears complete or not at all (written to a temporary sibling,
    then renamed); ``.nii.gz`` is gzip with a zero timestamp, so equal maps
    give equal files.

    Parameters
    ----------
    values : xarray.DataArray, Score or nibabel image
        See :func:`to_nifti_map`.
    path : str or path
        Ends in ``.nii`` or ``.nii.gz``.
    affine, grid_shape, fill
        See :func:`to_nifti_map`.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, numpy as np, nibabel as nib, xarray as xr
    >>> from neuroalign.plot.brain_maps import save_nifti
    >>> m = xr.DataArray([1.5, 2.5], dims="neuroid", coords={"voxel_i": ("neuroid", [0, 1]),
    ...                  "voxel_j": ("neuroid", [0, 0]), "voxel_k": ("neuroid", [0, 0])})
    >>> path = save_nifti(m, tempfile.mkdtemp() + "/map.nii.gz", affine=np.eye(4), grid_shape=(2, 1, 1))
    >>> nib.load(path).get_fdata().ravel().tolist()
    [1.5, 2.5]
    """
    nib = _nibabel()
    path = Path(path)
    suffix = _suffix(path, _NIFTI_SUFFIXES, "NIfTI")
    if isinstance(values, nib.spatialimages.SpatialImage):
        if affine is not None or grid_shape is not None:
            raise ConfigError("an image already has its grid", source="affine",
                              fix="drop affine= and grid_shape= when passing a nibabel image")
        image = nib.Nifti1Image(np.asanyarray(values.dataobj), values.affine, values.header) \
            if not isinstance(values, nib.Nifti1Image) else values
    else:
        image = to_nifti_map(values, affine=affine, grid_shape=grid_shape, fill=fill)
    payload = image.to_bytes()
    if suffix == ".nii.gz":
        payload = gzip.compress(payload, mtime=0)
    return write_atomically(path, lambda tmp: Path(tmp).write_bytes(payload))


def plot_brain_map(values: xr.DataArray | Score | Any, kind: str = "stat", path: str | os.PathLike | None = None, *,
                   title: str | None = None, threshold: float | str | None = None, affine: Any = None,
                   grid_shape: Sequence[int] | None = None, figsize: tuple[float, float] = (7.0, 3.0),
                   dpi: int = 100, **options: Any) -> Figure:
    """Draw a per-voxel map with nilearn (stat map on a template, or glass brain), optionally saved.

    Parameters
    ----------
    values : xarray.DataArray, Score or nibabel image
        See :func:`to_nifti_map`; one value per voxel.
    kind : str
        ``"stat"`` (nilearn's ``plot_stat_map``, on the MNI152 template
        unless ``bg_img=`` says otherwise) or ``"glass"``
        (``plot_glass_brain``).
    path : str or path, optional
        Save the figure there (``.png``, ``.pdf`` or ``.svg``), atomically.
    title : str, optional
        Default: the array's name.
    threshold : float or str, optional
        Values below it (in absolute value) are not drawn (nilearn's
        ``threshold``; nilearn's default when None).
    affine, grid_shape
        See :func:`to_nifti_map`.
    figsize, dpi
        Figure size in inches and the resolution of the saved file.
    **options
        Passed to the nilearn function (``cmap``, ``vmax``, ``cut_coords``,
        ``display_mode``, ``bg_img``, ``colorbar``, ``plot_abs``…).

    Returns
    -------
    matplotlib.figure.Figure
        Not registered with pyplot: nothing to close.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.plot.brain_maps import plot_brain_map
    >>> m = xr.DataArray([2.0], dims="neuroid", attrs={"affine": list(np.diag([4.0, 4, 4, 1]).ravel()),
    ...                  "grid_shape": [3, 3, 3]}, coords={"voxel_i": ("neuroid", [1]),
    ...                  "voxel_j": ("neuroid", [1]), "voxel_k": ("neuroid", [1])})
    >>> type(plot_brain_map(m, "glass")).__name__
    'Figure'
    """
    if kind not in BRAIN_MAP_KINDS:
        raise UnknownNameError(kind, BRAIN_MAP_KINDS, what="brain map kind", source="kind")
    if path is not None:
        suffix = _suffix(Path(path), _FIGURE_SUFFIXES, "figure")
    nib = _nibabel()
    if isinstance(values, nib.spatialimages.SpatialImage):
        image, name = values, None
    else:
        values = _as_values(values)
        if values.ndim != 1:
            raise SchemaError(f"a brain map needs one value per voxel, got dims {values.dims}", source="values",
                              fix="select one map first, e.g. values.isel(presentation=0)")
        image, name = to_nifti_map(values, affine=affine, grid_shape=grid_shape), values.name
    try:
        from nilearn import plotting
    except ImportError:
        raise DependencyError("nilearn is needed to draw brain maps", source="nilearn",
                              fix="pip install nilearn") from None
    figure = Figure(figsize=figsize)
    if threshold is not None:
        options["threshold"] = threshold
    title = title if title is not None else (None if name is None else str(name))
    getattr(plotting, BRAIN_MAP_KINDS[kind])(image, figure=figure, title=title, **options)
    if path is not None:
        write_atomically(Path(path), lambda tmp: figure.savefig(tmp, format=suffix[1:], dpi=dpi))
    return figure
