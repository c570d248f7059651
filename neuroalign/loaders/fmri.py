"""4D fMRI runs (NIfTI) + a parcellation → ``(time, neuroid)`` ROI time series.

Region signals are extracted and cleaned by nilearn's maskers and
``nilearn.signal.clean`` (install with ``pip install 'neuroalign[fmri]'``), in
nilearn's documented order: detrend → band-pass (Butterworth) → confound
regression (orthogonal to the filters) → standardise; with scrubbing, the
censored volumes are interpolated before filtering and removed before the
regression.  This module checks the inputs, names the file at fault in every
error, and labels the result with the data model.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data import hash_array, provenance, validate
from ..errors import AlignmentError, ConfigError, DataError, DependencyError, FileFormatError, SchemaError, \
    UnknownNameError
from .confounds import FMRIPREP_DEFAULT_CONFOUNDS, load_confounds, scrubbing_mask
from .repetition_time import run_repetition_time
from .timeseries_files import _collect, _labels, _stem, parse_bids_entities, stack_timeseries, timeseries_array

__all__ = ["load_roi_timeseries", "load_confounds", "FMRIPREP_DEFAULT_CONFOUNDS"]

log = logging.getLogger(__name__)



def _nilearn():
    try:
        import nilearn  # noqa: F401
        from nilearn import image, maskers
    except ImportError as exc:
        raise DependencyError("nilearn is needed to extract ROI time series from NIfTI images",
                              source="nilearn", fix="pip install 'neuroalign[fmri]' (or pip install 'nilearn>=0.10')") \
            from exc
    return image, maskers


def _name(img: Any, index: int = 0) -> str:
    return str(img) if isinstance(img, (str, os.PathLike)) else f"image {index}"


def load_image(img: Any, *, name: str = "img", ndim: int = 4):
    """A NIfTI image read fully into memory, or a :class:`FileFormatError` naming the file."""
    import nibabel as nib

    if isinstance(img, (str, os.PathLike)):
        if not Path(img).is_file():
            raise FileFormatError("the file does not exist", source=str(img), fix="check the path")
        try:
            img = nib.load(str(img))
        except Exception as exc:  # nibabel raises ImageFileError, OSError, EOFError, zlib.error …
            raise FileFormatError(f"not a readable NIfTI image ({type(exc).__name__}: {exc})", source=name,
                                  fix="check the file is a complete .nii/.nii.gz (gzip -t) and re-export it") from exc
    if not hasattr(img, "dataobj") or not hasattr(img, "affine"):
        raise ConfigError(f"expected a NIfTI path or nibabel image, got {type(img).__name__}", source=name,
                          fix="pass a path or nibabel.load(path)")
    try:
        data = np.asanyarray(img.dataobj)
    except (EOFError, OSError, ValueError, zlib.error) as exc:
        raise FileFormatError(f"the image data cannot be read, the file is truncated or corrupt "
                              f"({type(exc).__name__}: {exc})", source=name,
                              fix="re-download or re-export the file; gzip -t checks a .nii.gz") from exc
    if data.ndim == 5 and data.shape[4] == 1:
        data = data[..., 0]
    if ndim == 4 and data.ndim == 3:
        raise FileFormatError(f"the image is 3D {data.shape}, a 4D time series (x, y, z, time) is needed",
                              source=name, fix="pass the 4D run, not a single volume or a mean image")
    if data.ndim != ndim and not (ndim == 3 and data.ndim == 4):
        raise FileFormatError(f"the image has {data.ndim} dims {data.shape}, expected {ndim}", source=name,
                              fix="pass a 4D (x, y, z, time) run" if ndim == 4 else "pass a 3D labels image")
    return nib.Nifti1Image(data, img.affine, img.header)


def _read_label_table(labels: Any, source: str) -> dict[int, str] | list[str] | None:
    if labels is None or isinstance(labels, Mapping):
        return None if labels is None else {int(k): str(v) for k, v in labels.items()}
    if isinstance(labels, (str, os.PathLike)):
        path = Path(labels)
        try:
            table = pd.read_csv(path, sep=None, engine="python")
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise FileFormatError(f"cannot read the label table ({exc})", source=str(path),
                                  fix="use a TSV with columns 'index' and 'name' (BIDS dseg.tsv)") from exc
        cols = {str(c).lower(): c for c in table.columns}
        key = next((cols[c] for c in ("index", "value", "label", "id") if c in cols), None)
        if key is None or "name" not in cols:
            if _all_int(table.columns[0]):  # a header-less LUT: "value name ..."
                table = pd.read_csv(path, sep=r"\s+", header=None, engine="python", comment="#")
                return {int(v): str(n) for v, n in zip(table[0], table[1])}
            raise SchemaError(f"the label table has columns {list(table.columns)}; 'index' and 'name' are needed",
                              source=str(path), fix="rename the columns to 'index' and 'name'")
        return {int(v): str(n) for v, n in zip(table[key], table[cols["name"]])}
    if isinstance(labels, (bytes, np.ndarray)) and np.ndim(labels) != 1 or not isinstance(labels, Sequence) \
            and not isinstance(labels, np.ndarray):
        raise ConfigError(f"labels of type {type(labels).__name__} are not region names", source="labels",
                          fix="pass a {value: name} mapping, a list of names, or a label table path")
    return [str(n) for n in labels]


def _all_int(text: Any) -> bool:
    try:
        return float(text) == int(float(text))
    except (TypeError, ValueError):
        return False


class _Atlas:
    """A parcellation checked once: kind, image/seeds, names."""

    def __init__(self, atlas: Any, labels: Any, radius: float | None, atlas_type: str):
        self.source = _name(atlas) if isinstance(atlas, (str, os.PathLike)) else "atlas"
        seeds = isinstance(atlas, (np.ndarray, list, tuple))
        if atlas_type == "auto":
            if seeds:
                atlas_type = "spheres"
            else:
                atlas = load_image(atlas, name=self.source, ndim=3)
                atlas_type = "maps" if atlas.ndim == 4 else "labels"
        if atlas_type not in ("labels", "maps", "spheres"):
            raise UnknownNameError(atlas_type, ("auto", "labels", "maps", "spheres"), what="atlas_type")
        self.kind = atlas_type
        table = _read_label_table(labels, self.source)
        if atlas_type == "spheres":
            self.seeds = np.asarray(atlas, dtype=float)
            if self.seeds.ndim != 2 or self.seeds.shape[1] != 3:
                raise SchemaError(f"sphere seeds have shape {self.seeds.shape}, expected (n, 3) MNI coordinates",
                                  source="atlas", fix="pass one (x, y, z) row in mm per region")
            if radius is None:
                log.info("no sphere radius given: single-voxel seeds (nilearn's default)")
            self.radius = radius
            self.names = table if isinstance(table, list) else ["_".join(f"{c:g}" for c in s) for s in self.seeds]
            self.values = list(range(len(self.seeds)))
        else:
            self.img = load_image(atlas, name=self.source, ndim=3 if atlas_type == "labels" else 4)
            if atlas_type == "labels":
                data = np.asarray(self.img.dataobj)
                if data.ndim != 3 or not np.allclose(data, np.round(data)):
                    raise FileFormatError("a labels atlas must be a 3D image of integer labels", source=self.source,
                                          fix="pass probabilistic maps with atlas_type='maps'")
                present = sorted(int(v) for v in np.unique(data) if v != 0)
                if isinstance(table, dict):
                    self.values = [v for v in table if v != 0]
                    unnamed = sorted(set(present) - set(self.values))
                    if unnamed:
                        log.warning("%s: label values %s are not in the label table and are ignored",
                                    self.source, unnamed[:10])
                    self.names = [table[v] for v in self.values]
                elif isinstance(table, list):
                    if len(table) != len(present):
                        raise SchemaError(f"{len(table)} label names for {len(present)} labels {present[:10]}",
                                          source="labels", fix="give one name per non-zero label value, in "
                                          "increasing order, or a {value: name} mapping")
                    self.values, self.names = present, table
                else:
                    self.values, self.names = present, [str(v) for v in present]
            else:
                n = self.img.shape[3]
                self.values = list(range(n))
                self.names = table if isinstance(table, list) else [str(i) for i in range(n)]
                if len(self.names) != n:
                    raise SchemaError(f"{len(self.names)} names for {n} maps", source="labels",
                                      fix="give one name per map")
        if len(set(self.names)) != len(self.names):
            raise SchemaError("region names are not unique", source="labels", fix="give every region its own name")


def _same_grid(a, b) -> bool:
    return tuple(a.shape[:3]) == tuple(b.shape[:3]) and np.allclose(a.affine, b.affine, atol=1e-3)


def _nonfinite_voxels(img) -> np.ndarray | None:
    """Voxels of a 4D image with a NaN or inf value at any time point, or None when there are none."""
    data = np.asarray(img.dataobj)
    if data.dtype.kind != "f":
        return None
    bad = ~np.isfinite(data).all(axis=3)
    return bad if bad.any() else None


def _sphere_support(atlas: _Atlas, img) -> np.ndarray:
    """Voxels of the image grid in any sphere: within the radius of a seed, and each seed's nearest voxel."""
    shape = img.shape[:3]
    ijk = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), axis=-1).reshape(-1, 3)
    world = ijk @ img.affine[:3, :3].T + img.affine[:3, 3]
    support = np.zeros(len(world), dtype=bool)
    for seed in atlas.seeds:
        distance = np.linalg.norm(world - seed, axis=1)
        support[np.argmin(distance)] = True
        if atlas.radius:
            support |= distance <= atlas.radius
    return support.reshape(shape)


def _refuse_nonfinite(bad: np.ndarray, where: np.ndarray, names: Sequence[str], source: str) -> None:
    """Raise when non-finite voxels lie inside regions: nilearn would average them as 0."""
    inside = bad & where.any(axis=-1)
    if not inside.any():
        log.info("%s: %d voxels with NaN or inf values lie outside every region and are not used", source,
                 int(bad.sum()))
        return
    hit = [n for n, region in zip(names, np.moveaxis(where, -1, 0)) if (bad & region).any()]
    raise DataError(f"{int(inside.sum())} voxel(s) with NaN or inf values lie in region(s) {hit[:10]}"
                    f"{' …' if len(hit) > 10 else ''} ({int(bad.sum())} in the whole image); they would enter the "
                    "region signals as 0", source=source,
                    fix="pass nan_voxels='exclude' to leave those voxels out of every region, or a mask_img that "
                    "excludes them, or repair the image")


def _prepare_masker(atlas: _Atlas, img, mask_img, resampling_target, empty_regions, cleaning, source,
                    bad: np.ndarray | None = None, nan_voxels: str = "raise"):
    """A nilearn masker for this image's grid, with empty regions and non-finite voxels checked.

    ``bad`` marks the image's voxels with NaN or inf values: they raise when
    they lie in a region (``nan_voxels="raise"``) or are taken out of every
    region (``"exclude"``).  Returns (masker, names, dropped).
    """
    image, maskers = _nilearn()
    if atlas.kind != "labels":  # only the labels masker has a strategy
        cleaning = {k: v for k, v in cleaning.items() if k != "strategy"}
    if atlas.kind == "spheres":
        if bad is not None:
            if nan_voxels == "raise":
                _refuse_nonfinite(bad, _sphere_support(atlas, img)[..., None], ["a sphere"], source)
            else:
                import nibabel as nib

                keep = ~bad
                if mask_img is not None:
                    mask = load_image(mask_img, name="mask_img", ndim=3)
                    if not _same_grid(mask, img):
                        mask = image.resample_to_img(mask, img, interpolation="nearest", force_resample=True,
                                                     copy_header=True)
                    keep &= np.asarray(mask.dataobj) > 0
                mask_img = nib.Nifti1Image(keep.astype(np.uint8), img.affine)
        masker = maskers.NiftiSpheresMasker(atlas.seeds, radius=atlas.radius, mask_img=mask_img,
                                            allow_overlap=True, **cleaning)
        return masker, list(atlas.names), []
    region_img = atlas.img
    if bad is not None and resampling_target == "labels" and not _same_grid(region_img, img):
        raise ConfigError(f"the image has {int(bad.sum())} voxel(s) with NaN or inf values, and resampling it to "
                          "the atlas grid would spread them into their neighbours", source=source,
                          fix="use resampling_target='data' (the atlas is resampled instead), or repair the image")
    if not _same_grid(region_img, img):
        if resampling_target is None:
            raise AlignmentError(
                f"the atlas grid (shape {region_img.shape[:3]}) does not match the image grid "
                f"(shape {img.shape[:3]}, or a different affine)", source=f"{atlas.source} vs {source}",
                fix="pass resampling_target='data' to resample the atlas to the image (nearest neighbour for "
                "labels), or use an atlas in the image's space")
        if resampling_target == "data":
            region_img = image.resample_to_img(region_img, img, interpolation="nearest" if atlas.kind == "labels"
                                               else "continuous", force_resample=True, copy_header=True)
    data = np.asarray(region_img.dataobj)
    inside = np.ones(data.shape[:3], dtype=bool)
    if mask_img is not None:
        mask = load_image(mask_img, name="mask_img", ndim=3)
        if not _same_grid(mask, region_img):
            mask = image.resample_to_img(mask, region_img, interpolation="nearest", force_resample=True,
                                         copy_header=True)
        inside = np.asarray(mask.dataobj) > 0
    if bad is not None:  # the region image is on the image grid here
        if nan_voxels == "exclude":
            inside &= ~bad
        else:
            regions = np.stack([data == v if atlas.kind == "labels" else data[..., v] != 0 for v in atlas.values],
                               axis=-1) & inside[..., None]
            _refuse_nonfinite(bad, regions, atlas.names, source)
    if atlas.kind == "labels":
        counts = {v: int(np.count_nonzero((data == v) & inside)) for v in atlas.values}
    else:
        counts = {v: int(np.count_nonzero((data[..., v] != 0) & inside)) for v in atlas.values}
    empty = [v for v, c in counts.items() if c == 0]
    keep = [v for v in atlas.values if v not in empty]
    names = [n for v, n in zip(atlas.values, atlas.names) if v not in empty]
    dropped = [n for v, n in zip(atlas.values, atlas.names) if v in empty]
    if empty and empty_regions == "raise":
        raise DataError(f"region(s) {dropped[:10]} have no voxels {'in the mask ' if mask_img is not None else ''}"
                        "on this image's grid", source=f"{atlas.source} vs {source}",
                        fix="remove them from the label table, pass empty_regions='drop', or check that the atlas "
                        "is in the image's space")
    if not keep:
        raise DataError("no region has any voxel in the image", source=f"{atlas.source} vs {source}",
                        fix="use an atlas in the image's space")
    import nibabel as nib

    target = None if resampling_target in (None, "data") else resampling_target
    if atlas.kind == "labels":  # relabel 1..K in table order so nilearn's sorted columns follow the table
        relabelled = np.zeros(data.shape, dtype=np.int32)
        for new, value in enumerate(keep, start=1):
            relabelled[(data == value) & inside] = new
        masker = maskers.NiftiLabelsMasker(nib.Nifti1Image(relabelled, region_img.affine),
                                           resampling_target=target, **cleaning)
    else:
        maps = np.asarray(data[..., keep], dtype=np.float32) * inside[..., None]
        masker = maskers.NiftiMapsMasker(nib.Nifti1Image(maps, region_img.affine), resampling_target=target,
                                         **cleaning)
    return masker, names, dropped


def load_roi_timeseries(
    img: Any,
    atlas: Any,
    *,
    labels: Any = None,
    atlas_type: str = "auto",
    radius: float | None = None,
    mask_img: Any = None,
    confounds: Any = None,
    confound_columns: Sequence[str] | None = None,
    sample_mask: Any = None,
    fd_threshold: float | None = None,
    detrend: bool = False,
    low_pass: float | None = None,
    high_pass: float | None = None,
    standardize: bool | str | None = None,
    strategy: str = "mean",
    repetition_time: float | None = None,
    resampling_target: str | None = None,
    empty_regions: str = "raise",
    nan_voxels: str = "raise",
    stack_dim: str = "subject",
    errors: str = "raise",
    lazy: bool = False,
    progress: bool = True,
) -> xr.DataArray:
    """ROI time series from 4D NIfTI runs and a parcellation, cleaned by nilearn.

    Parameters
    ----------
    img : path, nibabel image, or a sequence of them
        4D runs.  Several give a ``stack_dim`` dim (labels from BIDS names,
        else file names), NaN-padded at the end of shorter runs.
    atlas : path or image, or an (n, 3) array of MNI coordinates
        A 3D labels image, a 4D image of probabilistic maps, or sphere seeds.
    labels : mapping, sequence or path, optional
        Region names: ``{value: name}``, a list (one per non-zero label value in
        increasing order, or per map/seed), or a label table (TSV with
        ``index``/``name`` columns as BIDS ``dseg.tsv``, or a ``value name`` LUT).
    atlas_type : {"auto", "labels", "maps", "spheres"}
    radius : float, optional
        Sphere radius in mm (spheres only).
    mask_img : path or image, optional
        Voxels to use (e.g. a brain mask).
    confounds : path, DataFrame, array, or a sequence (one per run), optional
        Regressors; fMRIPrep confound TSVs are accepted (see :func:`load_confounds`).
    confound_columns : sequence of str, optional
        Columns (glob patterns allowed) of a confounds table.
    sample_mask : bool array or int indices, or a sequence (one per run), optional
        Volumes to keep (scrubbing).
    fd_threshold : float, optional
        Also scrub volumes whose fMRIPrep ``framewise_displacement`` exceeds it (mm).
    detrend, low_pass, high_pass, standardize, strategy
        Passed to the nilearn masker (their defaults: no cleaning; ``standardize``
        takes nilearn's values, ``"zscore_sample"`` (or True), ``"psc"``, None).
    repetition_time : float, optional
        Seconds; default from a BIDS JSON sidecar, else the NIfTI header.
    resampling_target : {None, "data", "labels"}
        ``None`` (default) requires the atlas on the image grid and raises
        otherwise; ``"data"`` resamples the atlas to the image, ``"labels"``
        the image to the atlas.
    empty_regions : {"raise", "drop"}
        What to do with regions that have no voxel on the image grid.
    nan_voxels : {"raise", "exclude"}
        What to do with voxels that have a NaN or inf value at any time point
        and lie in a region (nilearn would average them as 0): ``"raise"``
        (default) raises a :class:`DataError` naming the file, the number of
        such voxels and the regions; ``"exclude"`` leaves them out of every
        region (a region left without voxels is then an empty region).  Such
        voxels outside every region are never used and are ignored.
    stack_dim, errors, lazy, progress
        As in :func:`~neuroalign.loaders.timeseries_files.load_timeseries`.  With
        ``lazy=True`` each run is extracted when computed.

    Returns
    -------
    xarray.DataArray
        dims ``([stack_dim,] time, neuroid)``; ``time`` in seconds (volume index
        × TR; scrubbed volumes are absent, or NaN rows when stacked);
        ``neuroid_id`` and ``region`` = region names; scalar coords from BIDS
        names (stacked runs keep every volume, scrubbed ones as NaN rows); attrs ``repetition_time``, ``scrubbed_volumes``,
        ``dropped_regions``, provenance.

    Raises
    ------
    FileFormatError
        Missing, truncated or corrupt NIfTI; a 3D image where 4D is needed.
    AlignmentError
        The atlas and image grids differ and ``resampling_target`` is None.
    DataError
        A region with no voxels, confounds of the wrong length, too few volumes,
        NaN or inf voxels in a region.
    ConfigError
        A ``low_pass`` or ``high_pass`` cut-off at or above the Nyquist frequency
        ``1 / (2 TR)``, or not a positive number; an unknown TR.
    DependencyError
        nilearn is not installed.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from neuroalign.loaders.fmri import load_roi_timeseries
    >>> rng = np.random.default_rng(0)
    >>> run = nib.Nifti1Image(rng.normal(size=(4, 4, 2, 30)).astype("float32"), np.eye(4))
    >>> run.header.set_zooms((1, 1, 1, 2.0))
    >>> atlas = nib.Nifti1Image(np.repeat([[[1], [1], [2], [2]]], 4, axis=0).repeat(2, axis=2).astype("int16"),
    ...                         np.eye(4))
    >>> ts = load_roi_timeseries(run, atlas, labels={1: "left", 2: "right"})
    >>> ts.dims, ts.neuroid_id.values.tolist(), float(ts.time[1])
    (('time', 'neuroid'), ['left', 'right'], 2.0)
    """
    _nilearn()
    if empty_regions not in ("raise", "drop"):
        raise ConfigError(f"empty_regions={empty_regions!r}", source="empty_regions", fix="use 'raise' or 'drop'")
    if not isinstance(detrend, (bool, np.bool_)):
        raise ConfigError(f"detrend={detrend!r} is not True or False", source="detrend", fix="pass detrend=True or False")
    if nan_voxels not in ("raise", "exclude"):
        raise ConfigError(f"nan_voxels={nan_voxels!r}", source="nan_voxels", fix="use 'raise' or 'exclude'")
    _check_filters(low_pass, high_pass, None, "")
    if resampling_target not in (None, "data", "labels"):
        raise ConfigError(f"resampling_target={resampling_target!r}", source="resampling_target",
                          fix="use None, 'data' or 'labels'")
    single = not isinstance(img, (list, tuple))
    imgs = [img] if single else list(img)
    per_run = {}
    for key, value in (("confounds", confounds), ("sample_mask", sample_mask)):
        many = isinstance(value, (list, tuple)) and len(value) == len(imgs) and not single and \
            (not value or not np.isscalar(value[0]))
        per_run[key] = list(value) if many else [value] * len(imgs)
    atlas_ = _Atlas(atlas, labels, radius, atlas_type)
    if isinstance(standardize, bool):  # nilearn 0.15 drops booleans
        standardize = "zscore_sample" if standardize else None
    cleaning = dict(detrend=detrend, low_pass=low_pass, high_pass=high_pass, standardize=standardize,
                    strategy=strategy)
    params = dict(atlas_type=atlas_.kind, radius=radius, confound_columns=confound_columns, fd_threshold=fd_threshold,
                  resampling_target=resampling_target, empty_regions=empty_regions, nan_voxels=nan_voxels,
                  repetition_time=repetition_time, **cleaning)
    names = [_name(x, i) for i, x in enumerate(imgs)]

    def extract(i: int, full_grid: bool = False) -> xr.DataArray:
        source = names[i]
        image = load_image(imgs[i], name=source)
        n = image.shape[3]
        if n < 3:
            raise DataError(f"the run has only {n} volumes", source=source, fix="pass a longer 4D run")
        path = Path(imgs[i]) if isinstance(imgs[i], (str, os.PathLike)) else None
        tr = run_repetition_time(image, path, repetition_time, name=source, argument="repetition_time")
        _check_filters(low_pass, high_pass, tr, source)
        regressors, fd = load_confounds(per_run["confounds"][i], n, columns=confound_columns,
                                        source=f"confounds of {source}")
        keep = scrubbing_mask(per_run["sample_mask"][i], fd, fd_threshold, n, source)
        bad = _nonfinite_voxels(image)
        masker, region_names, dropped = _prepare_masker(atlas_, image, mask_img, resampling_target, empty_regions,
                                                        {**cleaning, "t_r": tr}, source, bad, nan_voxels)
        if bad is not None:  # outside every region, or excluded from them: set to 0 so that nilearn does not warn
            import nibabel as nib

            image = nib.Nifti1Image(np.where(bad[..., None], 0, np.asarray(image.dataobj)), image.affine,
                                    image.header)
        try:
            values = masker.fit_transform(image, confounds=regressors,
                                          sample_mask=None if keep.all() else np.flatnonzero(keep))
        except ValueError as exc:
            if "empty" in str(exc).lower():
                raise DataError(f"a sphere has no voxels ({exc})", source=f"{atlas_.source} vs {source}",
                                fix="check the seed coordinates are inside the image, or increase radius") from exc
            raise DataError(f"nilearn could not extract or clean the signals ({exc})", source=source,
                            fix="check the filter cut-offs against the TR and the run length (filters need "
                            "runs of several dozen volumes), and the confounds") from exc
        if values.shape[1] != len(region_names):
            raise DataError(f"nilearn returned {values.shape[1]} regions, expected {len(region_names)}",
                            source=source, fix="check the atlas and mask overlap the image")
        entities = parse_bids_entities(path) if path else {}
        times = np.flatnonzero(keep) * tr
        attrs = {"scrubbed_volumes": np.flatnonzero(~keep).tolist(), "dropped_regions": dropped, "atlas": atlas_.source,
                 "atlas_type": atlas_.kind, "n_volumes": int(n)}
        out = timeseries_array(values.astype(float), region_names, tr, source=source, entities=entities, times=times,
                               attrs=attrs, region=region_names)
        out.attrs.update(provenance(params, {"img": str(path) if path else hash_array(np.asarray(image.dataobj))}))
        if full_grid:
            out = out.reindex(time=np.arange(n) * tr, fill_value=np.nan)
            return out
        return validate(out, dims=("time", "neuroid"), name=source)

    if single:
        return extract(0)
    if lazy:
        return _lazy_runs(imgs, names, extract, stack_dim, errors, progress)
    # every run on its full volume grid (scrubbed volumes as NaN rows), as in the lazy stack
    arrays, skipped, kept = _collect(list(range(len(imgs))), lambda i: extract(i, full_grid=True), names, errors,
                                     progress)
    labels = _labels([a.coords[stack_dim].item() if stack_dim in a.coords else None for a in arrays],
                     [_stem(Path(names[i])) for i in kept], stack_dim)
    out = stack_timeseries(arrays, dim=stack_dim, labels=labels, skipped=skipped)
    out.attrs.update(atlas=atlas_.source, atlas_type=atlas_.kind,
                     scrubbed_volumes={a.attrs["source"]: a.attrs["scrubbed_volumes"] for a in arrays},
                     dropped_regions=sorted({d for a in arrays for d in a.attrs["dropped_regions"]}))
    return out


def _check_filters(low_pass: Any, high_pass: Any, tr: float | None, source: str) -> None:
    """Filter cut-offs must be positive frequencies below Nyquist, ``1 / (2 TR)`` (nilearn would lower them)."""
    for argument, value in (("low_pass", low_pass), ("high_pass", high_pass)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(value) or value <= 0:
            raise ConfigError(f"{argument}={value!r} is not a positive frequency in Hz", source=argument,
                              fix=f"pass {argument} in Hz (e.g. 0.1 for low_pass, 0.01 for high_pass), or None")
        if tr is not None and value >= 0.5 / tr:
            raise ConfigError(f"{argument}={value:g} Hz is at or above the Nyquist frequency {0.5 / tr:.6g} Hz of "
                              f"{source} (repetition time {tr:g} s), where no filter can act", source=argument,
                              fix=f"use {argument} below {0.5 / tr:.6g} Hz, or {argument}=None for no "
                              f"{argument.replace('_', '-')} filter (and check repetition_time)")
    if low_pass is not None and high_pass is not None and high_pass >= low_pass:
        raise ConfigError(f"high_pass={high_pass:g} Hz is not below low_pass={low_pass:g} Hz: the band is empty",
                          source="high_pass", fix="use high_pass < low_pass (e.g. 0.01 and 0.1)")


def _lazy_runs(imgs, names, extract, dim, errors, progress) -> xr.DataArray:
    """Headers now, extraction at compute time; every run on the full volume grid (scrubbed rows NaN)."""
    import dask
    import dask.array as da
    import nibabel as nib

    def peek(i: int) -> tuple[int, int]:
        if isinstance(imgs[i], (str, os.PathLike)):
            try:
                shape = nib.load(str(imgs[i])).shape
            except Exception as exc:
                raise FileFormatError(f"not a readable NIfTI header ({exc})", source=names[i],
                                      fix="check the file") from exc
        else:
            shape = imgs[i].shape
        if len(shape) != 4:
            raise FileFormatError(f"the image is {len(shape)}D {shape}, a 4D run is needed", source=names[i],
                                  fix="pass the 4D run")
        return i, shape[3]

    specs, skipped, _ = _collect(list(range(len(imgs))), peek, names, errors, progress)
    template = extract(specs[0][0])
    tr, ids = template.attrs["repetition_time"], template["neuroid_id"].values
    n_max = max(n for _, n in specs)
    blocks = []
    for i, n in specs:
        block = da.from_delayed(dask.delayed(lambda j: extract(j, full_grid=True).values)(i), (n, ids.size),
                                dtype=float)
        if n < n_max:
            block = da.concatenate([block, da.full((n_max - n, ids.size), np.nan)], axis=0)
        blocks.append(block)
    paths = [Path(names[i]) for i, _ in specs]
    labels = _labels([parse_bids_entities(p).get(dim) for p in paths], [_stem(p) for p in paths], dim)
    out = xr.DataArray(da.stack(blocks), dims=(dim, "time", "neuroid"),
                       coords={dim: labels, "time": np.arange(n_max) * tr, "neuroid_id": ("neuroid", ids),
                               "region": ("neuroid", ids)},
                       attrs={**template.attrs, "sources": [names[i] for i, _ in specs], "skipped": skipped,
                              "lazy": True}, name="timeseries")
    for key in ("source", "scrubbed_volumes", "n_volumes"):
        out.attrs.pop(key, None)
    validate(out, dims=("time", "neuroid"), name="lazy timeseries", allow_nan=True)  # values stay unread
    return out
