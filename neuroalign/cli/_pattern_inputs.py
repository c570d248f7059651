"""Inputs of ``neuroalign searchlight`` and ``neuroalign rsa-roi``: patterns, masks on their grid, model RDMs."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..errors import AlignmentError, FileFormatError, SchemaError

_VOXEL_COORDS = ("voxel_i", "voxel_j", "voxel_k")


def load_patterns(path: str) -> xr.DataArray:
    """The ``(presentation, neuroid)`` patterns written by ``neuroalign glm`` (voxel coords, affine, grid)."""
    from ..data import load

    patterns = load(path)
    fix = "pass the patterns file written by 'neuroalign glm' (or neuroalign.data.save of estimate_patterns(...))"
    if not isinstance(patterns, xr.DataArray) or set(patterns.dims) != {"presentation", "neuroid"}:
        dims = tuple(patterns.dims) if isinstance(patterns, xr.DataArray) else "a Dataset"
        raise SchemaError(f"holds {dims}, not a (presentation, neuroid) pattern array", source=path, fix=fix)
    missing = [c for c in ("stimulus_id", *_VOXEL_COORDS) if c not in patterns.coords]
    missing += [a for a in ("affine", "grid_shape") if a not in patterns.attrs]
    if missing:
        raise SchemaError(f"the patterns lack {', '.join(missing)}", source=path, fix=fix)
    return patterns.transpose("presentation", "neuroid")


def _grid(patterns: xr.DataArray) -> tuple[tuple[int, ...], np.ndarray]:
    shape = tuple(int(n) for n in np.ravel(patterns.attrs["grid_shape"]))
    return shape, np.asarray(patterns.attrs["affine"], dtype=float).reshape(4, 4)


def load_mask_on_grid(path: str, patterns: xr.DataArray, *, source: str) -> tuple[np.ndarray, np.ndarray]:
    """A 3D NIfTI mask (non-zero voxels) on the patterns' grid: ``(boolean array, affine)``."""
    from ..loaders.fmri import load_image

    image = load_image(path, name=source, ndim=3)
    data = np.asanyarray(image.dataobj)
    if data.ndim == 4:
        if data.shape[3] != 1:
            raise FileFormatError(f"the image is 4D {data.shape}, a 3D mask is needed", source=source,
                                  fix="pass a 3D mask (non-zero voxels inside)")
        data = data[..., 0]
    shape, affine = _grid(patterns)
    if tuple(data.shape) != shape or not np.allclose(image.affine, affine, atol=1e-3):
        raise AlignmentError(f"the mask's grid {tuple(data.shape)} (affine diagonal "
                             f"{np.round(np.diag(image.affine)[:3], 3).tolist()}) is not the patterns' grid {shape} "
                             f"(affine diagonal {np.round(np.diag(affine)[:3], 3).tolist()})", source=source,
                             fix="resample the mask to the runs' grid (nilearn.image.resample_to_img with "
                             "interpolation='nearest') or pass a mask made on it")
    mask = np.asarray(data) != 0
    if not mask.any():
        raise FileFormatError("the mask has no non-zero voxel", source=source, fix="pass a mask with voxels inside")
    return mask, affine


def patterns_in_mask(patterns: xr.DataArray, mask: np.ndarray, *, source: str) -> xr.DataArray:
    """The patterns' voxels inside ``mask`` (in the patterns' order), or an error when none are."""
    ijk = tuple(patterns[c].values.astype(int) for c in _VOXEL_COORDS)
    inside = mask[ijk]
    if not inside.any():
        raise AlignmentError(f"none of the patterns' {patterns.sizes['neuroid']} voxels is inside the "
                             f"{int(mask.sum())} voxels of the mask", source=source,
                             fix="pass a region inside the mask the GLM was run on")
    return patterns.isel(neuroid=np.flatnonzero(inside))


def load_model_rdms(model_rdms: str | None, activations: str | None, *, rdm_method: str) -> xr.DataArray:
    """Vector-form model RDMs ``(model dim, pair)``: read from a netCDF/zarr file, or computed from activations."""
    from ..compare import compute_rdm
    from ..data import load

    if activations is not None:
        from ..extract import open_activations

        arrays = open_activations(activations, lazy=False)
        return compute_rdm(arrays, rdm_method)
    rdms = load(model_rdms)
    fix = ("write the RDMs with neuroalign.data.save(compute_rdm(activations), 'rdms.nc') (dims layer, pair), or "
           "pass --activations with the store of 'neuroalign extract'")
    if not isinstance(rdms, xr.DataArray) or "pair" not in rdms.dims or rdms.ndim > 2:
        dims = tuple(rdms.dims) if isinstance(rdms, xr.DataArray) else "a Dataset"
        raise SchemaError(f"holds {dims}, not vector-form RDMs over (model or layer, pair)", source=model_rdms,
                          fix=fix)
    if not {"stimulus_id_a", "stimulus_id_b"} <= set(rdms.coords):
        raise SchemaError("the RDMs lack the stimulus_id_a/stimulus_id_b pair coords", source=model_rdms, fix=fix)
    return rdms


def rdm_mapping(rdms: xr.DataArray) -> dict[str, xr.DataArray]:
    """Model or layer name → one vector-form RDM (a 1-D RDM is one model, named by the array's name)."""
    if rdms.ndim == 1:
        return {str(rdms.name or "model"): rdms}
    (dim,) = (d for d in rdms.dims if d != "pair")
    labels = rdms[dim].values if dim in rdms.coords else np.arange(rdms.sizes[dim])
    return {str(label): rdms.isel({dim: i}, drop=True) for i, label in enumerate(labels)}


def check_stimuli(patterns: xr.DataArray, rdms: xr.DataArray, *, patterns_source: str, rdms_source: str) -> None:
    """The patterns' stimuli and the RDMs' stimuli must be the same set; say which differ, with examples."""
    ours = {str(i) for i in patterns["stimulus_id"].values}
    theirs = {str(i) for c in ("stimulus_id_a", "stimulus_id_b") for i in rdms[c].values}
    if ours == theirs:
        return
    only_ours, only_theirs = sorted(ours - theirs), sorted(theirs - ours)
    parts = []
    if only_ours:
        parts.append(f"{len(only_ours)} stimuli of the patterns are not in the RDMs (e.g. {_examples(only_ours)})")
    if only_theirs:
        parts.append(f"{len(only_theirs)} stimuli of the RDMs are not in the patterns (e.g. {_examples(only_theirs)})")
    raise AlignmentError("; ".join(parts), source=f"{patterns_source} vs {rdms_source}",
                         fix="compute the RDMs on the stimuli of the events' stimulus column (glm "
                         "--stimulus-column) under the same ids")


def _examples(ids: list[str], n: int = 3) -> str:
    return ", ".join(repr(i) for i in ids[:n]) + (", …" if len(ids) > n else "")


def with_subject(patterns: xr.DataArray, subject: str = "sub-01") -> Any:
    """The patterns labelled as one subject's (``subject`` coord on ``neuroid``) unless they already are."""
    if "subject" in patterns.coords:
        return patterns
    return patterns.assign_coords(subject=("neuroid", [subject] * patterns.sizes["neuroid"]))

