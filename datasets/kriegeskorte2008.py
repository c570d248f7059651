"""The 92-image data of Kriegeskorte et al. (2008) as labelled arrays: human IT RDMs, model RDMs, the images.

The files are rsatoolbox's demo data (``kriegeskorte2008`` in the fetchers'
registry, read through :func:`neuroalign.datasets.fetchers.fetch`, so a file
whose sha256 differs from the published one is refused).  Every array carries
the stimulus ids ``img01`` … ``img92`` in the images' order, so the RDMs align
with a network's activations on :func:`load_images` by ``stimulus_id``.

=========================  ======================================  ==========================================
function                   file                                    returns
=========================  ======================================  ==========================================
:func:`load_hit_rdms`      ``92_brainRDMs.mat``                    ``(subject, pair)`` RDMs: 4 subjects × 2
                                                                   sessions, labelled ``BE1``, ``BE2``, …
:func:`load_model_rdms`    ``92_modelRDMs.mat``                    ``(model, pair)`` RDMs of the 8 models
:func:`load_images`        ``Kriegeskorte_Neuron2008_``            a :class:`~neuroalign.extract.StimulusSet`
                           ``supplementalData.mat``                of the 92 images (175×175 RGB, uint8)
=========================  ======================================  ==========================================

:func:`load_behaviour_rdms` reads ``92_behavRDMs.mat``: ``(subject, pair)``
similarity-judgement RDMs of 16 subjects (Mur et al. 2013).

Kriegeskorte N, Mur M, Ruff DA, Kiani R, Bodurka J, Esteky H, Tanaka K,
Bandettini PA (2008). Matching categorical object representations in inferior
temporal cortex of man and monkey. Neuron 60(6):1126-1141.

Examples
--------
>>> from neuroalign.datasets.kriegeskorte2008 import load_hit_rdms, load_model_rdms
>>> hit = load_hit_rdms()
>>> dict(hit.sizes), hit.subject.values[:3].tolist()
({'subject': 8, 'pair': 4186}, ['BE1', 'BE2', 'KO1'])
>>> load_model_rdms().model.values[:3].tolist()
['animacy', 'FaceBodyManmadeNatobj', 'monkeyIT']
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from neuroalign.data import provenance

from .fetchers import dataset_info, fetch

if TYPE_CHECKING:  # torch is imported only when the images are loaded
    from neuroalign.extract import StimulusSet

__all__ = ["DATASET", "IMAGE_IDS", "FILES", "CITATION", "load_hit_rdms", "load_model_rdms", "load_behaviour_rdms",
           "load_images"]

#: The dataset's name in the fetchers' registry.
DATASET = "kriegeskorte2008"
#: The ids of the 92 images, in the order of every file's rows and columns.
IMAGE_IDS = tuple(f"img{i:02d}" for i in range(1, 93))
#: The file each function reads.
FILES = {"hit": "92_brainRDMs.mat", "models": "92_modelRDMs.mat", "behaviour": "92_behavRDMs.mat",
         "images": "Kriegeskorte_Neuron2008_supplementalData.mat"}
CITATION = ("Kriegeskorte N, Mur M, Ruff DA, Kiani R, Bodurka J, Esteky H, Tanaka K, Bandettini PA (2008). "
            "Matching categorical object representations in inferior temporal cortex of man and monkey. "
            "Neuron 60(6):1126-1141.")


def _read(key: str, variable: str, data_home: str | os.PathLike | None) -> tuple[Any, str]:
    import scipy.io

    name = FILES[key]
    path = fetch(DATASET, [name], data_home=data_home) / name
    return scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)[variable], name


def _attrs(name: str, **parameters: Any) -> dict:
    sha256 = dataset_info(DATASET)["files"][name]["sha256"]
    return {**provenance({"dataset": DATASET, "file": name, **parameters}, {name: sha256}), "citation": CITATION}


def load_hit_rdms(*, data_home: str | os.PathLike | None = None) -> xr.DataArray:
    """Human IT RDMs of the 92 images: 4 subjects × 2 scanning sessions.

    Parameters
    ----------
    data_home : path-like, optional
        Where the datasets live (see :func:`neuroalign.datasets.fetchers.data_home`).

    Returns
    -------
    xarray.DataArray
        Vector-form RDMs ``(subject, pair)`` (:func:`neuroalign.compare.as_rdm`),
        the 8 session RDMs in the file's order ``BE1, BE2, KO1, …, TI2`` on
        ``subject`` (coords ``participant`` and ``session`` too), stimulus ids
        ``img01`` … ``img92``.  The values are the file's (1 − Pearson r of
        the voxel patterns), unchanged.

    Examples
    --------
    >>> from neuroalign.datasets.kriegeskorte2008 import load_hit_rdms
    >>> hit = load_hit_rdms()
    >>> hit.participant.values[:2].tolist(), hit.session.values[:2].tolist()
    (['BE', 'BE'], [1, 2])
    """
    from neuroalign.compare import as_rdm

    rdms, name = _read("hit", "RDMs", data_home)
    rdms = rdms.ravel()  # (4 subjects, 2 sessions) row-major: BE session 1, BE session 2, KO session 1, ...
    participants = [r.name.split(" | ")[1] for r in rdms]
    sessions = [int(r.name.rsplit(":", 1)[1]) for r in rdms]
    out = as_rdm(np.stack([r.RDM for r in rdms]).astype(float), list(IMAGE_IDS), dims=["subject"],
                 method="correlation")
    out = out.assign_coords(subject=[f"{p}{s}" for p, s in zip(participants, sessions)],
                            participant=("subject", participants), session=("subject", sessions))
    out.attrs.update(_attrs(name, region="human IT"))
    return out.rename("kriegeskorte2008_hit")


def load_model_rdms(*, data_home: str | os.PathLike | None = None) -> xr.DataArray:
    """The 8 model RDMs of the 92 images (animacy, FaceBodyManmadeNatobj, monkeyIT, EVA, HMAX, V1, Silhouette, RADON).

    Parameters
    ----------
    data_home : path-like, optional
        Where the datasets live.

    Returns
    -------
    xarray.DataArray
        Vector-form RDMs ``(model, pair)``, model names from the file, stimulus
        ids ``img01`` … ``img92``; values as floats.

    Examples
    --------
    >>> from neuroalign.datasets.kriegeskorte2008 import load_model_rdms
    >>> models = load_model_rdms()
    >>> dict(models.sizes), str(models.stimulus_id_a.values[0])
    ({'model': 8, 'pair': 4186}, 'img01')
    """
    from neuroalign.compare import as_rdm

    models, name = _read("models", "Models", data_home)
    out = as_rdm(np.stack([m.RDM for m in models]).astype(float), list(IMAGE_IDS), dims=["model"])
    out = out.assign_coords(model=[str(m.name) for m in models])
    out.attrs.update(_attrs(name))
    return out.rename("kriegeskorte2008_models")


def load_behaviour_rdms(*, data_home: str | os.PathLike | None = None) -> xr.DataArray:
    """The 16 subjects' similarity-judgement RDMs of the 92 images (Mur et al. 2013).

    Parameters
    ----------
    data_home : path-like, optional
        Where the datasets live.

    Returns
    -------
    xarray.DataArray
        Vector-form RDMs ``(subject, pair)``, subjects ``subject1`` …
        ``subject16`` in the file's order (struct ``rdms_behav_92``), stimulus
        ids ``img01`` … ``img92``; the file's values, unchanged.

    Examples
    --------
    >>> from neuroalign.datasets.kriegeskorte2008 import load_behaviour_rdms
    >>> behaviour = load_behaviour_rdms()
    >>> dict(behaviour.sizes), behaviour.subject.values[:2].tolist()
    ({'subject': 16, 'pair': 4186}, ['subject1', 'subject2'])
    """
    from neuroalign.compare import as_rdm

    rdms, name = _read("behaviour", "rdms_behav_92", data_home)
    out = as_rdm(np.stack([r.RDM for r in rdms]).astype(float), list(IMAGE_IDS), dims=["subject"])
    out = out.assign_coords(subject=[str(r.name).split(" | ")[-1] for r in rdms])
    out.attrs.update(_attrs(name, measure="similarity judgements"))
    return out.rename("kriegeskorte2008_behaviour")


def load_images(*, data_home: str | os.PathLike | None = None) -> StimulusSet:
    """The 92 stimulus images as a :class:`~neuroalign.extract.StimulusSet`.

    Parameters
    ----------
    data_home : path-like, optional
        Where the datasets live.

    Returns
    -------
    StimulusSet
        Ids ``img01`` … ``img92``; 175×175 RGB uint8 arrays; metadata
        ``category`` (the file's label), ``animate`` (a human or an animal:
        the first 48 images), and the file's flags ``human``, ``face``,
        ``animal``, ``natural``.

    Examples
    --------
    >>> from neuroalign.datasets.kriegeskorte2008 import load_images
    >>> images = load_images()
    >>> len(images), int(images.metadata.animate.sum())
    (92, 48)
    """
    from neuroalign.extract import StimulusSet

    objects, _ = _read("images", "stimuli_92objs", data_home)
    flags = {flag: [bool(getattr(o, flag)) for o in objects] for flag in ("human", "face", "animal", "natural")}
    return StimulusSet.from_arrays(list(IMAGE_IDS), np.stack([o.image for o in objects]),
                                   category=[str(o.category) for o in objects],
                                   animate=[h or a for h, a in zip(flags["human"], flags["animal"])], **flags)
