"""The synthetic studies as data sources of a study config: stimuli, and task-fMRI patterns through a real GLM.

The brain of the embedded synthetic study is
:func:`neuroalign.datasets.synthetic.make_synthetic_study`'s ``brain``
(loader ``synthetic_brain``); its images, and those of the synthetic task-fMRI
study, come from :func:`synthetic_stimuli` and :func:`task_fmri_stimuli`.
:func:`task_fmri_patterns` writes the task-fMRI study's NIfTI runs and events
to a temporary folder and estimates one pattern per trial from them with
:func:`neuroalign.loaders.glm.estimate_patterns`, as a user's own runs would be.

Examples
--------
>>> from neuroalign.pipelines.synthetic_sources import synthetic_stimuli
>>> stimuli = synthetic_stimuli(seed=0, n_stimuli=8)
>>> len(stimuli), stimuli.stimulus_ids[:2].tolist()
(8, ['stim000', 'stim001'])
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import xarray as xr

from ..errors import UnknownNameError

if TYPE_CHECKING:
    from ..extract import StimulusSet

__all__ = ["synthetic_stimuli", "task_fmri_stimuli", "task_fmri_patterns", "TASK_FMRI_REGIONS"]

#: Voxels :func:`task_fmri_patterns` can return: the planted region, its mirror box, or the whole brain mask.
TASK_FMRI_REGIONS = ("planted", "mirror", "brain")


def synthetic_stimuli(seed: int = 0, *, n_stimuli: int = 96) -> StimulusSet:
    """The images of ``make_synthetic_study(seed, n_stimuli=n_stimuli)``, without building its brain.

    The study draws its images first from ``numpy.random.default_rng(seed)``,
    so they depend on ``seed`` and ``n_stimuli`` only (the other arguments of
    the study change its brain, not its images).

    Parameters
    ----------
    seed : int
        The study's seed.
    n_stimuli : int
        Number of images.

    Returns
    -------
    StimulusSet
        Ids ``stim000`` …, metadata ``family``.

    Examples
    --------
    >>> from neuroalign.pipelines.synthetic_sources import synthetic_stimuli
    >>> synthetic_stimuli(0, n_stimuli=4).metadata.family.tolist()
    ['grating', 'plaid', 'blobs', 'texture']
    """
    from ..datasets.synthetic import make_stimuli

    return make_stimuli(n_stimuli, np.random.default_rng(seed))


def task_fmri_stimuli(seed: int = 0, *, n_stimuli: int = 40) -> StimulusSet:
    """The images of ``make_task_fmri_study(..., seed=seed, n_stimuli=n_stimuli)``, without simulating it.

    Like the embedded study, the task-fMRI study draws its images first from
    ``numpy.random.default_rng(seed)``: the same images as
    :func:`synthetic_stimuli` with the same seed and number.

    Examples
    --------
    >>> from neuroalign.pipelines.synthetic_sources import task_fmri_stimuli
    >>> len(task_fmri_stimuli(0, n_stimuli=6))
    6
    """
    return synthetic_stimuli(seed, n_stimuli=n_stimuli)


def task_fmri_patterns(
    seed: int = 0,
    *,
    design: str = "slow",
    n_stimuli: int = 40,
    n_runs: int = 4,
    planted_layer: str = "block3",
    snr: float = 1.0,
    second_layer: str | None = None,
    second_snr: float = 0.5,
    region: Literal["planted", "mirror", "brain"] = "planted",
    estimator: str = "lsa",
) -> xr.DataArray:
    """Simulate the synthetic task-fMRI study and estimate its trial patterns with a first-level GLM.

    The study (:func:`neuroalign.datasets.task_fmri.make_task_fmri_study`, the
    arguments above, the rest at their defaults) is written to a temporary
    folder, the patterns of one region are estimated from its NIfTI runs and
    events with nilearn's GLM defaults, and the folder is deleted.

    Parameters
    ----------
    seed, design, n_stimuli, n_runs, planted_layer, snr, second_layer, second_snr
        The study's (see ``make_task_fmri_study``).
    region : {"planted", "mirror", "brain"}
        The voxels: the planted region's mask, its mirror box's, or the brain mask.
    estimator : str
        ``estimate_patterns``' estimator: ``"lsa"``, ``"lss-1"`` or ``"lss-n"``.

    Returns
    -------
    xarray.DataArray
        ``(presentation, neuroid)`` betas, one row per trial (coords
        ``stimulus_id``, ``run``, ``repetition``, ...; every stimulus is shown
        once per run), voxels on ``neuroid`` with coord ``subject``
        (``"sub-01"``, so RSA can compute subject RDMs and a split-half ceiling).

    Examples
    --------
    >>> from neuroalign.pipelines.synthetic_sources import task_fmri_patterns
    >>> patterns = task_fmri_patterns(0, design="rapid", n_stimuli=6, n_runs=2)
    >>> dict(patterns.sizes), str(patterns.subject.values[0])
    ({'presentation': 12, 'neuroid': 150}, 'sub-01')
    """
    from ..datasets.task_fmri import SUBJECT, make_task_fmri_study
    from ..loaders.glm import estimate_patterns

    if region not in TASK_FMRI_REGIONS:
        raise UnknownNameError(region, TASK_FMRI_REGIONS, what="region", source="region")
    with tempfile.TemporaryDirectory(prefix="neuroalign-task-fmri-") as folder:
        study = make_task_fmri_study(Path(folder) / "study", design=design, n_stimuli=n_stimuli, n_runs=n_runs,
                                     planted_layer=planted_layer, seed=seed, snr=snr, second_layer=second_layer,
                                     second_snr=second_snr)
        mask = {"planted": study.roi_mask, "mirror": study.mirror_mask, "brain": study.brain_mask}[region]
        patterns = estimate_patterns(list(study.bold), list(study.events), mask=mask, estimator=estimator,
                                     progress=False).patterns.load()
    patterns = patterns.assign_coords(subject=("neuroid", [SUBJECT] * patterns.sizes["neuroid"]))
    patterns.attrs["parameters"] = {**patterns.attrs.get("parameters", {}), "simulation": study.params,
                                    "simulation_region": region}
    return patterns.rename("task_fmri_patterns")
