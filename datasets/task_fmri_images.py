"""The simulated images of the synthetic task-fMRI study: grid, planted region, HRF regressors, noise, files.

Part of :mod:`neuroalign.datasets.task_fmri`: the brain is a ball in a grid
centred on the world origin; the planted region a box in its right half; each
event's response is nilearn's Glover-HRF regressor of that event; the noise
AR(1) plus a slow drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from neuroalign.errors import ConfigError
from neuroalign.loaders.glm_design import nilearn_first_level

from .task_fmri_design import _check_int

HRF_MODEL = "glover"


def _nilearn_regressor():
    return nilearn_first_level("compute_regressor", "convolve the events with the HRF")


def _three_ints(value: Any, name: str, minimum: int, example: str) -> tuple[int, int, int]:
    """``value`` as 3 whole numbers >= ``minimum``, or a ConfigError naming ``name``."""
    try:
        out = tuple(_check_int(n, name, minimum) for n in value)
    except TypeError:
        out = ()
    if len(out) != 3:
        raise ConfigError(f"{name}={value!r} is not 3 whole numbers >= {minimum}", source=name,
                          fix=f"pass e.g. {name}={example}")
    return out


def _grid(grid_shape: Any, voxel_size: float) -> tuple[tuple[int, int, int], np.ndarray, np.ndarray]:
    shape = _three_ints(grid_shape, "grid_shape", 4, "(16, 16, 10)")
    # RAS axes, the grid centred on the world origin (as MNI space is, roughly, on the brain).
    affine = np.diag([voxel_size] * 3 + [1.0])
    affine[:3, 3] = -voxel_size * (np.array(shape) - 1) / 2
    centre, radius = (np.array(shape) - 1) / 2, np.array(shape) / 2 - 0.5
    ijk = np.indices(shape).reshape(3, -1).T
    brain = (((ijk - centre) / radius) ** 2).sum(axis=1).reshape(shape) <= 1.0
    return shape, affine, brain


def _place_roi(brain: np.ndarray, roi_shape: Any, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple]:
    size = _three_ints(roi_shape, "roi_shape", 1, "(5, 5, 6)")
    nx = brain.shape[0]
    corners = [c for c in np.ndindex(*(np.array(brain.shape) - size + 1))
               if c[0] > (nx - 1) / 2 and brain[c[0]:c[0] + size[0], c[1]:c[1] + size[1], c[2]:c[2] + size[2]].all()]
    if not corners:
        raise ConfigError(f"no box of {size} voxels fits in the right half of the brain of the grid {brain.shape}",
                          source="roi_shape", fix="use a smaller roi_shape or a larger grid_shape")
    corner = corners[rng.integers(len(corners))]
    roi = np.zeros(brain.shape, bool)
    roi[corner[0]:corner[0] + size[0], corner[1]:corner[1] + size[1], corner[2]:corner[2] + size[2]] = True
    return roi, roi[::-1].copy(), tuple(int(c) for c in corner)


def _hrf_peak(duration: float, compute_regressor) -> float:
    """Peak of one isolated event's regressor, sampled every 10 ms."""
    fine = np.arange(0.0, 32.0, 0.01)
    regressor, _ = compute_regressor(np.array([[0.0], [duration], [1.0]]), HRF_MODEL, fine, oversampling=1)
    return float(regressor.max())


def _stimulus_regressors(events: pd.DataFrame, stimulus_ids: list[str], frame_times: np.ndarray,
                         compute_regressor) -> np.ndarray:
    """(time, stimulus) nilearn regressors, one column per stimulus of ``stimulus_ids``."""
    columns = []
    for sid in stimulus_ids:
        rows = events[events["stimulus_id"] == sid]
        condition = np.vstack([rows["onset"], rows["duration"], np.ones(len(rows))])
        columns.append(compute_regressor(condition, HRF_MODEL, frame_times)[0][:, 0])
    return np.stack(columns, axis=1)


def _ar1(rng: np.random.Generator, shape: tuple[int, int], coefficient: float, sd: float) -> np.ndarray:
    """Stationary AR(1) series along axis 0 with marginal standard deviation ``sd``."""
    innovations = rng.normal(size=shape) * sd * np.sqrt(1 - coefficient**2)
    innovations[0] /= np.sqrt(1 - coefficient**2)  # the first value from the stationary distribution
    return lfilter([1.0], [1.0, -coefficient], innovations, axis=0)


def _drift(rng: np.random.Generator, n_volumes: int, n_voxels: int, sd: float) -> np.ndarray:
    t = (np.arange(n_volumes) + 0.5) / n_volumes
    basis = np.stack([(t - 0.5) * np.sqrt(12), np.sqrt(2) * np.cos(np.pi * t)], axis=1)  # unit variance each
    return basis @ rng.normal(size=(2, n_voxels)) * sd / np.sqrt(2)


def _write_nifti(path: Path, data: np.ndarray, affine: np.ndarray, repetition_time: float | None = None) -> None:
    import nibabel as nib

    img = nib.Nifti1Image(data, affine)
    img.set_sform(affine, code="mni")
    img.set_qform(affine, code="mni")
    img.header.set_xyzt_units("mm", "sec")
    if repetition_time is not None:
        img.header.set_zooms(tuple(np.abs(np.diag(affine)[:3])) + (repetition_time,))
    nib.save(img, path)


def _write_json(path: Path, content: dict) -> None:
    path.write_text(json.dumps(content, indent=2) + "\n")
