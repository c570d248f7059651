"""A synthetic study with planted ground truth.

Stimuli are small parametric images (gratings, plaids, blobs and textures).
"Brain" responses are made from one chosen hidden layer of
:class:`neuroalign.models.ReferenceNet`: for each subject, a random Gaussian
linear mixing of that layer's activations into voxels that preserves both
their inner products (what CKA sees) and their correlations across units
(what correlation-distance RDMs see), scaled so the mean signal variance across stimuli
is 1, plus Gaussian noise of a known standard deviation on every presentation.
Because the signal and noise variances are known, so is the reliability of
each voxel's mean response, stored as the ``reliability`` neuroid coordinate:

    reliability = s² / (s² + noise_sd² / n_repetitions)

A good alignment method ranks the planted layer first.

Examples
--------
>>> from neuroalign.datasets.synthetic import make_synthetic_study
>>> study = make_synthetic_study(seed=0, n_stimuli=24, n_voxels=20, n_subjects=2)
>>> study.brain.dims, study.planted_layer
(('presentation', 'neuroid'), 'block3')
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from neuroalign.data import create_assembly, provenance
from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.extract import StimulusSet, extract
from neuroalign.models import REFERENCE_LAYERS, ReferenceNet

__all__ = ["SyntheticStudy", "make_stimuli", "make_synthetic_study", "mix_into_voxels", "STIMULUS_FAMILIES"]

STIMULUS_FAMILIES = ("grating", "plaid", "blobs", "texture")
IMAGE_SIZE = 32


@dataclass
class SyntheticStudy:
    """Everything the demo needs, with the planted truth."""

    stimuli: StimulusSet
    network: ReferenceNet
    brain: xr.DataArray
    planted_layer: str
    layers: tuple[str, ...]
    noise_sd: float
    n_repetitions: int
    seed: int
    params: dict = field(default_factory=dict)

    @property
    def expected_reliability(self) -> xr.DataArray:
        """Reliability of each voxel's mean over repetitions: s² / (s² + noise_sd² / n_repetitions).

        s² is the voxel's signal variance across stimuli (known exactly here).
        """
        return self.brain["reliability"]


def make_stimuli(n_stimuli: int, rng: np.random.Generator) -> StimulusSet:
    """``n_stimuli`` 3×32×32 images cycling through :data:`STIMULUS_FAMILIES`.

    Pixel values lie in [-1, 1]; metadata ``family`` names the generator.
    """
    y, x = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] / IMAGE_SIZE
    images = np.empty((n_stimuli, 3, IMAGE_SIZE, IMAGE_SIZE))
    families = []
    for i in range(n_stimuli):
        family = STIMULUS_FAMILIES[i % len(STIMULUS_FAMILIES)]
        colour = rng.uniform(-1, 1, size=3)
        if family == "grating":
            pattern = _grating(x, y, rng)
        elif family == "plaid":
            pattern = _grating(x, y, rng) * _grating(x, y, rng)
        elif family == "blobs":
            pattern = np.zeros_like(x)
            for _ in range(rng.integers(1, 4)):
                cx, cy, width = rng.uniform(0.15, 0.85), rng.uniform(0.15, 0.85), rng.uniform(0.05, 0.2)
                pattern += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))
            pattern = 2 * pattern / pattern.max() - 1
        else:
            noise = rng.normal(size=(IMAGE_SIZE, IMAGE_SIZE))
            freq = np.fft.fftfreq(IMAGE_SIZE)
            radius = np.hypot(*np.meshgrid(freq, freq))
            spectrum = np.fft.fft2(noise) * np.exp(-(radius / rng.uniform(0.05, 0.25)) ** 2)
            pattern = np.real(np.fft.ifft2(spectrum))
            pattern = pattern / np.abs(pattern).max()
        images[i] = np.clip(colour[:, None, None] * pattern[None], -1, 1)
        families.append(family)
    ids = [f"stim{i:03d}" for i in range(n_stimuli)]
    return StimulusSet.from_arrays(ids, images.astype(np.float32), family=families)


def _grating(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(1, 6), rng.uniform(0, 2 * np.pi)
    return np.sin(2 * np.pi * freq * (x * np.cos(theta) + y * np.sin(theta)) + phase)


def mix_into_voxels(features: np.ndarray, n_voxels: int, rng: np.random.Generator) -> np.ndarray:
    """Mix a layer's ``(stimulus, unit)`` activations into ``n_voxels`` voxels.

    Each stimulus's pattern a = a_c + m·1 (m: its mean over the F units).  Voxels get
    a zero-mean Gaussian mixing of a_c plus sqrt(F)·m shared by all voxels (a global
    signal).  Then inner products between voxel patterns match those of the layer
    (Johnson-Lindenstrauss), so CKA sees the layer's geometry, and correlations
    across voxels match those across units, so correlation-distance RDMs do too.
    One ``(F, n_voxels)`` standard normal draw from ``rng``; the result is not scaled.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.datasets.synthetic import mix_into_voxels
    >>> mix_into_voxels(np.ones((3, 5)), 4, np.random.default_rng(0)).shape
    (3, 4)
    """
    n_units = features.shape[1]
    unit_mean = features.mean(axis=1, keepdims=True)
    return (features - unit_mean) @ rng.normal(size=(n_units, n_voxels)) + np.sqrt(n_units) * unit_mean


def make_synthetic_study(
    seed: int = 0,
    *,
    planted_layer: str = "block3",
    n_stimuli: int = 96,
    n_subjects: int = 4,
    n_voxels: int = 100,
    n_repetitions: int = 4,
    noise_sd: float = 1.0,
) -> SyntheticStudy:
    """Build stimuli, the reference network and brain responses with a planted layer.

    Parameters
    ----------
    seed : int
        Seeds everything: network weights, stimuli, mixing, noise, order.
    planted_layer : str
        The layer of :class:`ReferenceNet` the brain responses are made from.
    n_stimuli, n_subjects, n_voxels, n_repetitions : int
        Study size (``n_voxels`` per subject).
    noise_sd : float
        Standard deviation of the noise on each presentation, relative to the
        unit signal standard deviation of every voxel.

    Returns
    -------
    SyntheticStudy
        ``brain`` is one ``(presentation, neuroid)`` array: presentations in a
        shuffled order per repetition (coords ``stimulus_id``, ``repetition``,
        ``family``), voxels of all subjects on ``neuroid`` (coords ``subject``,
        ``region``).
    """
    if planted_layer not in REFERENCE_LAYERS:
        raise UnknownNameError(planted_layer, REFERENCE_LAYERS, what="layer", source="planted_layer")
    if n_repetitions < 2:
        raise ConfigError("n_repetitions must be at least 2 for a split-half ceiling", source="n_repetitions",
                          fix="pass n_repetitions >= 2")
    rng = np.random.default_rng(seed)
    network = ReferenceNet(seed=seed)
    stimuli = make_stimuli(n_stimuli, rng)
    features = extract(network, stimuli, [planted_layer], progress=False)[planted_layer].values.astype(float)
    subjects, blocks = [], []
    for s in range(n_subjects):
        blocks.append(mix_into_voxels(features, n_voxels, rng))
        subjects += [f"sub-{s + 1:02d}"] * n_voxels
    signal = np.concatenate(blocks, axis=1)  # (stimulus, all voxels)
    signal /= np.sqrt(signal.var(axis=0).mean())  # mean signal variance across stimuli: 1
    signal_variance = signal.var(axis=0)

    order = np.concatenate([rng.permutation(n_stimuli) for _ in range(n_repetitions)])
    repetition = np.repeat(np.arange(n_repetitions), n_stimuli)
    responses = signal[order] + noise_sd * rng.normal(size=(len(order), signal.shape[1]))
    ids = stimuli.stimulus_ids.to_numpy()
    params = dict(seed=seed, planted_layer=planted_layer, n_stimuli=n_stimuli, n_subjects=n_subjects,
                  n_voxels=n_voxels, n_repetitions=n_repetitions, noise_sd=noise_sd)
    brain = create_assembly(
        responses,
        stimulus_id=ids[order],
        neuroid_id=[f"{sub}.vox{v % n_voxels:03d}" for v, sub in enumerate(subjects)],
        presentation={"repetition": repetition, "family": np.asarray(stimuli.metadata["family"])[order]},
        neuroid={"subject": subjects, "region": ["synthetic"] * len(subjects),
                 "reliability": signal_variance / (signal_variance + noise_sd**2 / n_repetitions)},
        attrs=provenance(params, {"responses": responses}),
        name="synthetic_brain",
    )
    return SyntheticStudy(stimuli=stimuli, network=network, brain=brain, planted_layer=planted_layer,
                          layers=REFERENCE_LAYERS, noise_sd=noise_sd, n_repetitions=n_repetitions,
                          seed=seed, params=params)
