"""A synthetic task-fMRI study with planted ground truth, written as real files.

One subject sees ``n_stimuli`` images (those of :mod:`neuroalign.datasets.synthetic`)
once per run, in a new random order each run, in a slow (onsets 8–12 s apart)
or rapid (2–4 s apart) jittered event-related design.  Each run is written as
a 4D NIfTI file with its BIDS events table; masks of the brain and of the
planted region go under ``derivatives/simulation``.

Voxels of the planted region (a box of voxels in the right hemisphere)
respond to each stimulus with a pattern made from one layer of
:class:`neuroalign.models.ReferenceNet`: a random Gaussian mixing of the
layer's activations (:func:`neuroalign.datasets.synthetic.mix_into_voxels`).
Each event adds its voxel's response times nilearn's Glover-HRF regressor of
that event (``nilearn.glm.first_level.compute_regressor``, the regressor a
nilearn GLM fits), so the stored patterns are the betas such a GLM estimates.
Every brain voxel gets AR(1) noise, a slow drift (a linear trend and a
half-cosine over the run, below nilearn's 1/128 Hz high-pass) and a baseline;
voxels outside the brain are 0.  Optionally the mirror box in the left
hemisphere carries a weaker signal from another layer.

Signal-to-noise ratio: ``snr`` is the standard deviation across stimuli of a
planted voxel's response (as the peak height of its BOLD response to one
isolated event, root-mean-square over the region's voxels) divided by the
marginal standard deviation of the noise.

Examples
--------
>>> import tempfile
>>> from neuroalign.datasets.task_fmri import make_task_fmri_study
>>> folder = tempfile.TemporaryDirectory()
>>> study = make_task_fmri_study(folder.name + "/study", design="rapid", n_stimuli=8, n_runs=2)
>>> [p.name for p in study.bold]
['sub-01_task-stim_run-1_bold.nii.gz', 'sub-01_task-stim_run-2_bold.nii.gz']
>>> study.patterns.dims, int(study.roi.sum())
(('presentation', 'neuroid'), 150)
>>> folder.cleanup()
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from neuroalign.data import create_assembly, provenance
from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.extract import StimulusSet, extract
from neuroalign.loaders.voxels import voxel_coords
from neuroalign.models import REFERENCE_LAYERS, ReferenceNet

from .synthetic import make_stimuli, mix_into_voxels
from .task_fmri_design import DESIGNS, _check_int, _check_real, _isi_range, make_events
from .task_fmri_images import HRF_MODEL, _ar1, _drift, _grid, _hrf_peak, _nilearn_regressor, _place_roi, \
    _stimulus_regressors, _write_json, _write_nifti

__all__ = ["DESIGNS", "TaskFMRIStudy", "make_events", "make_task_fmri_study"]

TASK = "stim"
SUBJECT = "sub-01"
#: Seconds recorded after the last event, for its response to return to baseline.
TAIL = 20.0


@dataclass(frozen=True)
class TaskFMRIStudy:
    """The files of a simulated study and its ground truth.

    Attributes
    ----------
    root : pathlib.Path
        The BIDS-like folder.
    bold, events : tuple of pathlib.Path
        One 4D NIfTI file and one events TSV per run, in run order.
    brain_mask, roi_mask, mirror_mask : pathlib.Path
        NIfTI masks: brain voxels, the planted region, its mirror box in the left hemisphere.
    roi : numpy.ndarray
        The planted region as a 3D boolean array of the image grid.
    affine : numpy.ndarray
        The 4×4 voxel-to-world matrix of every image.
    repetition_time : float
        Seconds per volume.
    design : str
        ``"slow"`` or ``"rapid"``.
    planted_layer : str
        The :class:`ReferenceNet` layer the planted region's patterns come from.
    second_layer : str or None
        The layer of the mirror region's weaker signal, if any.
    stimulus_ids : tuple of str
        The stimuli, in the order of :attr:`stimuli`.
    stimuli : StimulusSet
        The images (for model activations).
    network : ReferenceNet
        The network whose layer made the patterns.
    patterns : xarray.DataArray
        ``(presentation, neuroid)`` true betas, one row per stimulus, of the
        voxels that carry signal (coords ``neuroid_id``, ``voxel_i/j/k``,
        ``x/y/z`` and ``region``: ``"planted"`` or ``"mirror"``); in the units
        of a nilearn GLM with the Glover HRF and the events' durations.
    hrf_peak : float
        Peak of the regressor of one isolated event: a beta times ``hrf_peak``
        is the peak BOLD change.
    params : dict
        Every argument and derived setting (volumes per run, ROI corner, ...).
    """

    root: Path
    bold: tuple[Path, ...]
    events: tuple[Path, ...]
    brain_mask: Path
    roi_mask: Path
    mirror_mask: Path
    roi: np.ndarray
    affine: np.ndarray
    repetition_time: float
    design: str
    planted_layer: str
    second_layer: str | None
    stimulus_ids: tuple[str, ...]
    stimuli: StimulusSet
    network: ReferenceNet
    patterns: xr.DataArray
    hrf_peak: float
    params: dict = field(default_factory=dict)


def make_task_fmri_study(
    out_dir: str | os.PathLike,
    *,
    design: str = "slow",
    n_stimuli: int = 40,
    n_runs: int = 4,
    planted_layer: str = "block3",
    seed: int = 0,
    snr: float = 1.0,
    noise_sd: float = 1.0,
    ar_coefficient: float = 0.35,
    drift_sd: float = 2.0,
    baseline: float = 100.0,
    second_layer: str | None = None,
    second_snr: float = 0.5,
    isi: tuple[float, float] | None = None,
    duration: float = 1.0,
    repetition_time: float = 2.0,
    grid_shape: tuple[int, int, int] = (16, 16, 10),
    voxel_size: float = 3.0,
    roi_shape: tuple[int, int, int] = (5, 5, 6),
) -> TaskFMRIStudy:
    """Simulate a task-fMRI study with a planted layer and region, and write it as BIDS-like files.

    Parameters
    ----------
    out_dir : path
        A new (or empty) folder to write the study into.
    design : {"slow", "rapid"}
        Onsets 8–12 s apart (slow) or 2–4 s apart (rapid), jittered uniformly.
    n_stimuli, n_runs : int
        Every stimulus is shown once per run.
    planted_layer : str
        The :class:`ReferenceNet` layer the planted region's patterns are made from.
    seed : int
        Seeds everything: network, stimuli, design, region, mixing, noise.
    snr : float
        Across-stimulus standard deviation of a planted voxel's peak response
        over the noise standard deviation (see the module docstring).
    noise_sd, ar_coefficient : float
        Marginal standard deviation and lag-1 coefficient of the AR(1) noise.
    drift_sd : float
        Standard deviation of the slow drift of each voxel (linear + half cosine).
    baseline : float
        Mean value of brain voxels.
    second_layer : str, optional
        A layer whose patterns, at ``second_snr``, go to the mirror region.
    isi : (float, float), optional
        Another range of onset-to-onset intervals, in seconds.
    duration : float
        Seconds each stimulus is shown.
    repetition_time : float
        Seconds per volume (written in the headers and sidecars).
    grid_shape, voxel_size, roi_shape
        The image grid, its voxel size in mm, and the planted box in voxels.

    Returns
    -------
    TaskFMRIStudy
        Paths of the written files and the ground truth.

    Examples
    --------
    >>> import tempfile, nibabel
    >>> from neuroalign.datasets.task_fmri import make_task_fmri_study
    >>> folder = tempfile.TemporaryDirectory()
    >>> study = make_task_fmri_study(folder.name + "/s", design="rapid", n_stimuli=6, n_runs=1)
    >>> img = nibabel.load(study.bold[0])
    >>> img.shape[:3], float(img.header.get_zooms()[3])
    ((16, 16, 10), 2.0)
    >>> folder.cleanup()
    """
    for name, layer in (("planted_layer", planted_layer), ("second_layer", second_layer)):
        if layer is not None and layer not in REFERENCE_LAYERS:
            raise UnknownNameError(layer, REFERENCE_LAYERS, what="layer", source=name)
    n_stimuli = _check_int(n_stimuli, "n_stimuli", 2)
    n_runs = _check_int(n_runs, "n_runs", 1)
    _isi_range(design, isi)
    snr, second_snr = _check_real(snr, "snr"), _check_real(second_snr, "second_snr")
    noise_sd = _check_real(noise_sd, "noise_sd", positive=True)
    drift_sd, baseline = _check_real(drift_sd, "drift_sd"), _check_real(baseline, "baseline")
    ar_coefficient = _check_real(ar_coefficient, "ar_coefficient", below_one=True)
    repetition_time = _check_real(repetition_time, "repetition_time", positive=True)
    voxel_size = _check_real(voxel_size, "voxel_size", positive=True)
    root = Path(out_dir)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ConfigError(f"{root} exists and is not an empty folder", source="out_dir",
                          fix="pass a new or empty folder; the simulator never overwrites files")
    compute_regressor = _nilearn_regressor()
    shape, affine, brain = _grid(grid_shape, voxel_size)

    rng = np.random.default_rng(seed)
    network = ReferenceNet(seed=seed)
    stimuli = make_stimuli(n_stimuli, rng)
    ids = [str(s) for s in stimuli.stimulus_ids.to_numpy()]
    runs = make_events(ids, n_runs, design=design, isi=isi, duration=duration, random_state=rng)
    roi, mirror, corner = _place_roi(brain, roi_shape, rng)

    hrf_peak = _hrf_peak(duration, compute_regressor)
    layers = [planted_layer] + ([second_layer] if second_layer is not None else [])
    features = extract(network, stimuli, list(dict.fromkeys(layers)), progress=False)
    regions = [("planted", roi, planted_layer, snr)]
    if second_layer is not None:
        regions.append(("mirror", mirror, second_layer, second_snr))
    betas, coords = [], []
    for region, mask, layer, region_snr in regions:
        mixed = mix_into_voxels(features[layer].values.astype(float), int(mask.sum()), rng)
        mixed /= np.sqrt(mixed.var(axis=0).mean())  # RMS across-stimulus sd of the region's voxels: 1
        betas.append(mixed * region_snr * noise_sd / hrf_peak)
        coords.append({**voxel_coords(mask, affine=affine), "region": np.full(int(mask.sum()), region)})
    beta = np.concatenate(betas, axis=1)
    neuroid = {key: np.concatenate([c[key] for c in coords]) for key in coords[0]}
    signal_index = np.concatenate([np.flatnonzero(mask.ravel()) for _, mask, _, _ in regions])

    func = root / SUBJECT / "func"
    deriv = root / "derivatives" / "simulation" / SUBJECT / "func"
    func.mkdir(parents=True, exist_ok=True)
    deriv.mkdir(parents=True, exist_ok=True)
    in_brain = np.flatnonzero(brain.ravel())
    signal_rows = np.searchsorted(in_brain, signal_index)
    bold_paths, event_paths, n_volumes = [], [], []
    for r, events in enumerate(runs):
        n_vol = int(math.ceil((events["onset"].iloc[-1] + duration + TAIL) / repetition_time))
        frame_times = np.arange(n_vol) * repetition_time
        series = baseline + _ar1(rng, (n_vol, in_brain.size), ar_coefficient, noise_sd)
        series += _drift(rng, n_vol, in_brain.size, drift_sd)
        series[:, signal_rows] += _stimulus_regressors(events, ids, frame_times, compute_regressor) @ beta
        volume = np.zeros((int(np.prod(shape)), n_vol), dtype=np.float32)
        volume[in_brain] = series.T
        stem = f"{SUBJECT}_task-{TASK}_run-{r + 1}"
        bold_paths.append(func / f"{stem}_bold.nii.gz")
        event_paths.append(func / f"{stem}_events.tsv")
        _write_nifti(bold_paths[-1], volume.reshape(shape + (n_vol,)), affine, repetition_time)
        events.to_csv(event_paths[-1], sep="\t", index=False, float_format="%.3f")
        _write_json(func / f"{stem}_bold.json", {"RepetitionTime": repetition_time, "TaskName": TASK})
        n_volumes.append(n_vol)

    masks = {}
    for desc, mask in (("brain", brain), ("planted", roi), ("mirror", mirror)):
        masks[desc] = deriv / f"{SUBJECT}_task-{TASK}_desc-{desc}_mask.nii.gz"
        _write_nifti(masks[desc], mask.astype(np.uint8), affine)
    params = dict(design=design, n_stimuli=n_stimuli, n_runs=n_runs, planted_layer=planted_layer, seed=seed,
                  snr=snr, noise_sd=noise_sd, ar_coefficient=ar_coefficient, drift_sd=drift_sd, baseline=baseline,
                  second_layer=second_layer, second_snr=second_snr, isi=list(_isi_range(design, isi)),
                  duration=duration, repetition_time=repetition_time, grid_shape=list(shape), voxel_size=voxel_size,
                  roi_shape=[int(n) for n in roi_shape], roi_corner=list(corner), n_volumes=n_volumes,
                  hrf_model=HRF_MODEL, hrf_peak=hrf_peak)
    version = provenance()["neuroalign_version"]
    _write_json(root / "dataset_description.json", {
        "Name": "neuroalign synthetic task-fMRI study", "BIDSVersion": "1.8.0", "DatasetType": "raw",
        "GeneratedBy": [{"Name": "neuroalign.datasets.task_fmri", "Version": version}]})
    (root / "participants.tsv").write_text("participant_id\n" + SUBJECT + "\n")
    _write_json(root / "derivatives" / "simulation" / "dataset_description.json", {
        "Name": "ground truth of the simulation", "BIDSVersion": "1.8.0", "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "neuroalign.datasets.task_fmri", "Version": version, "Parameters": params}]})

    patterns = create_assembly(
        beta, stimulus_id=ids, neuroid_id=neuroid.pop("neuroid_id"),
        presentation={"family": np.asarray(stimuli.metadata["family"])}, neuroid=neuroid,
        attrs={**provenance(params, {"patterns": beta}), "affine": affine.ravel().tolist(),
               "grid_shape": list(shape), "statistic": "beta", "estimator": "truth"},
        name="true_patterns")
    return TaskFMRIStudy(root=root, bold=tuple(bold_paths), events=tuple(event_paths), brain_mask=masks["brain"],
                         roi_mask=masks["planted"], mirror_mask=masks["mirror"], roi=roi, affine=affine,
                         repetition_time=repetition_time, design=design, planted_layer=planted_layer,
                         second_layer=second_layer, stimulus_ids=tuple(ids), stimuli=stimuli, network=network,
                         patterns=patterns, hrf_peak=hrf_peak, params=params)
