"""Human and network recognition of model metamers (Feather et al., 2023).

Feather, J., Leclerc, G., Mądry, A. & McDermott, J. H. (2023). *Model metamers
reveal divergent invariances between biological and artificial neural
networks.* Nature Neuroscience 26, 2017–2034.  Data:
``jenellefeather/model_metamers_pytorch`` (``VisionBehavioralExperiments/``).

Each public file (``EXP<N>_ANALYSIS/VisionExperiment<N>_network_vs_humans_datamatrix_<model>_public.mat``,
MATLAB v5) belongs to one generating model of one experiment and holds:

* ``participant_data_matrix``: participants × generating layers × 2, the
  proportion of 16-way classifications that were correct;
* ``model_layers``: the generating layer of each column (the first is
  ``natural_image``: the natural images themselves);
* ``participants``, ``conditions`` (``Human``, ``Network``) and
  ``axis_order`` (``participants``, ``model_layers``, ``conditions``).

The ``Network`` entries are the generating model's own proportion correct on
the very metamers shown to the participant of that row (the repository's
README: "the proportion correct for the generating model on the set of stimuli
matched to each human participant"), so both observer types have one value
per participant and layer and no padding.  The published statistics treat the
two observer types as separate groups of units (see
:func:`neuroalign.metamers.anova.mixed_anova`).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import xarray as xr

from ..data import provenance
from ..errors import DataError, FileFormatError, NeuroalignError, UnknownNameError
from .matfiles import read_mat

__all__ = ["load_feather2023", "load_feather2023_experiment", "FEATHER2023_CHANCE",
           "FEATHER2023_OBSERVER_TYPES"]

logger = logging.getLogger(__name__)

#: Chance level of the 16-way classification task.
FEATHER2023_CHANCE = 1 / 16
#: Values of the ``observer_type`` coordinate, in the order of the files' ``conditions``.
FEATHER2023_OBSERVER_TYPES = ("human", "network")

_VARIABLES = ("participant_data_matrix", "model_layers", "participants", "conditions", "axis_order")
_AXES = ("participants", "model_layers", "conditions")
_CONDITIONS = ("Human", "Network")
_NAME = re.compile(r"VisionExperiment(?P<experiment>\d+)_network_vs_humans_datamatrix_"
                   r"(?P<model>.+?)(?:_public)?\.mat")
_FIX_FILE = ("pass an unmodified *_public.mat file of jenellefeather/model_metamers_pytorch "
             "(VisionBehavioralExperiments)")
REFERENCE = ("Feather, J., Leclerc, G., Madry, A. & McDermott, J. H. (2023). Model metamers reveal divergent "
             "invariances between biological and artificial neural networks. Nature Neuroscience 26, 2017-2034.")


def _strings(value: object, name: str, path: Path) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FileFormatError(f"variable {name!r} is not a list of names (got {type(value).__name__})",
                              source=str(path), fix=_FIX_FILE)
    return [v.strip() for v in value]


def load_feather2023(path: str | os.PathLike, *, experiment: int | None = None,
                     model: str | None = None) -> xr.DataArray:
    """Load one model's file of Feather et al. (2023): recognition by humans and by the model.

    Parameters
    ----------
    path : path-like
        A ``VisionExperiment<N>_network_vs_humans_datamatrix_<model>_public.mat`` file.
    experiment : int, optional
        The experiment number (default: read from the file name).
    model : str, optional
        The generating model's name (default: read from the file name, e.g.
        ``"alexnet"``).

    Returns
    -------
    xarray.DataArray
        ``recognition``, dims ``(participant, layer, observer_type)``: the
        proportion of 16-way classifications that were correct (in [0, 1];
        chance :data:`FEATHER2023_CHANCE`).  Coordinates: ``participant``
        (the file's labels), ``layer`` (generating layers in the file's order,
        ``natural_image`` first), ``observer_type`` (``"human"``,
        ``"network"``; the network's value in a participant's row is its
        recognition of the metamers that participant saw), and the scalar
        coordinates ``experiment`` and ``model``.  Attributes: ``chance``,
        ``reference``, ``source`` and provenance (the file's sha256 in
        ``input_hashes``).

    Raises
    ------
    FileFormatError
        The file is unreadable, lacks a variable, or its shapes, axis order
        or condition names are not the published ones; or the name gives no
        experiment and model and none were passed.
    DataError
        A value is missing or outside [0, 1].

    Examples
    --------
    >>> from neuroalign.datasets.fetchers import data_home
    >>> from neuroalign.loaders.feather2023 import load_feather2023
    >>> path = (data_home() / "feather2023" / "EXP1_ANALYSIS"
    ...         / "VisionExperiment1_network_vs_humans_datamatrix_cornet_s_public.mat")
    >>> if path.is_file():  # the real data, when present
    ...     data = load_feather2023(path)
    ...     print(dict(data.sizes), data.layer.values[:2].tolist())
    ... else:
    ...     print({'participant': 22, 'layer': 6, 'observer_type': 2}, ['natural_image', 'V1_fake_relu'])
    {'participant': 22, 'layer': 6, 'observer_type': 2} ['natural_image', 'V1_fake_relu']
    """
    path = Path(path)
    match = _NAME.fullmatch(path.name)
    if (experiment is None or model is None) and match is None:
        raise FileFormatError(
            "cannot read the experiment and model from the file name (expected "
            "VisionExperiment<N>_network_vs_humans_datamatrix_<model>_public.mat)",
            source=str(path), fix="pass experiment=<N> and model='<name>', or keep the published file name")
    experiment = int(match["experiment"]) if experiment is None else int(experiment)
    model = match["model"] if model is None else str(model)
    contents = read_mat(path)
    missing = [name for name in _VARIABLES if name not in contents]
    if missing:
        raise FileFormatError(f"variable(s) {missing} are missing (the file has {sorted(contents)})",
                              source=str(path), fix=_FIX_FILE)
    axes = _strings(contents["axis_order"], "axis_order", path)
    if tuple(axes) != _AXES:
        raise FileFormatError(f"axis_order is {axes}, expected {list(_AXES)}", source=str(path), fix=_FIX_FILE)
    conditions = _strings(contents["conditions"], "conditions", path)
    if tuple(conditions) != _CONDITIONS:
        raise FileFormatError(f"conditions are {conditions}, expected {list(_CONDITIONS)}", source=str(path),
                              fix=_FIX_FILE)
    layers = _strings(contents["model_layers"], "model_layers", path)
    participants = _strings(contents["participants"], "participants", path)
    matrix = contents["participant_data_matrix"]
    if not isinstance(matrix, np.ndarray) or matrix.dtype.kind not in "biuf":
        raise FileFormatError("participant_data_matrix is not a numeric array", source=str(path), fix=_FIX_FILE)
    matrix = np.asarray(matrix, dtype=np.float64)
    expected = (len(participants), len(layers), len(conditions))
    if matrix.ndim == 2 and len(participants) == 1:  # one participant: MATLAB drops the leading singleton
        matrix = matrix[None]
    if matrix.shape != expected:
        raise FileFormatError(
            f"participant_data_matrix has shape {matrix.shape}, expected {expected} "
            "(participants × model_layers × conditions)", source=str(path), fix=_FIX_FILE)
    if len(set(layers)) != len(layers) or len(set(participants)) != len(participants):
        raise FileFormatError("model_layers or participants repeat a name", source=str(path), fix=_FIX_FILE)
    if layers[0] != "natural_image":
        logger.warning("%s: the first layer is %r, not 'natural_image'", path, layers[0])
    bad = ~np.isfinite(matrix) | (matrix < 0) | (matrix > 1)
    if bad.any():
        i, j, k = (int(v[0]) for v in np.nonzero(bad))
        raise DataError(
            f"{int(bad.sum())} value(s) are missing or outside [0, 1] (first: participant {participants[i]!r}, "
            f"layer {layers[j]!r}, {conditions[k]}: {matrix[i, j, k]!r})", source=str(path),
            fix="proportions correct lie in [0, 1]; " + _FIX_FILE)
    data = xr.DataArray(
        matrix, dims=("participant", "layer", "observer_type"), name="recognition",
        coords={"participant": participants, "layer": layers, "observer_type": list(FEATHER2023_OBSERVER_TYPES),
                "experiment": experiment, "model": model},
    )
    data.attrs.update({
        "description": "proportion of 16-way classifications that were correct; the network's value in a "
                       "participant's row is its recognition of the metamers that participant saw",
        "units": "proportion correct",
        "chance": FEATHER2023_CHANCE,
        "reference": REFERENCE,
        "source": str(path),
        **provenance({"experiment": experiment, "model": model}, {path.name: str(path)}),
    })
    return data


def load_feather2023_experiment(folder: str | os.PathLike, experiment: int | None = None, *,
                                models: list[str] | None = None,
                                errors: str = "raise") -> dict[str, xr.DataArray]:
    """Load every model file of one experiment of Feather et al. (2023).

    Parameters
    ----------
    folder : path-like
        An ``EXP<N>_ANALYSIS`` folder, or the dataset folder holding them
        (then ``experiment`` is required).
    experiment : int, optional
        The experiment number; with an ``EXP<N>_ANALYSIS`` folder it must
        agree with the folder's name.
    models : list of str, optional
        Keep only these models (default: all files of the experiment).
    errors : {"raise", "skip"}
        ``"skip"`` logs and leaves out files that cannot be read.

    Returns
    -------
    dict
        Model name → :func:`load_feather2023` array, in file-name order.
        Models of one experiment have different layers, so they are not
        stacked into one array.

    Raises
    ------
    FileFormatError
        The folder or the experiment's files are missing, or a file is
        unreadable (with ``errors="raise"``).
    UnknownNameError
        A name in ``models`` is not a model of the experiment.

    Examples
    --------
    >>> from neuroalign.datasets.fetchers import data_home
    >>> from neuroalign.loaders.feather2023 import load_feather2023_experiment
    >>> folder = data_home() / "feather2023"
    >>> if folder.is_dir():  # the real data, when present
    ...     print(sorted(load_feather2023_experiment(folder, 1)))
    ... else:
    ...     print(['alexnet', 'cornet_s', 'resnet101', 'resnet50', 'vgg_19'])
    ['alexnet', 'cornet_s', 'resnet101', 'resnet50', 'vgg_19']
    """
    if errors not in ("raise", "skip"):
        raise UnknownNameError(errors, ("raise", "skip"), what="errors mode", source="errors")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileFormatError("folder not found", source=str(folder),
                              fix="pass an EXP<N>_ANALYSIS folder or the feather2023 dataset folder")
    named = re.fullmatch(r"EXP(\d+)_ANALYSIS", folder.name)
    if named is None:
        if experiment is None:
            found = sorted(p.name for p in folder.glob("EXP*_ANALYSIS") if p.is_dir())
            raise FileFormatError(f"this is not an EXP<N>_ANALYSIS folder (it holds {found or 'none'})",
                                  source=str(folder), fix="pass experiment=<N> or an EXP<N>_ANALYSIS folder")
        folder = folder / f"EXP{int(experiment)}_ANALYSIS"
        if not folder.is_dir():
            raise FileFormatError("no such experiment folder", source=str(folder),
                                  fix="check the experiment number (the published ones are 1, 3, 4, 5, 6, 9, 10, "
                                      "12 and 16)")
    elif experiment is not None and int(named[1]) != int(experiment):
        raise FileFormatError(f"the folder is experiment {named[1]}, not {experiment}", source=str(folder),
                              fix="pass the matching folder or experiment number")
    number = int(experiment) if experiment is not None else int(named[1])
    files = {}
    for path in sorted(folder.glob(f"VisionExperiment{number}_network_vs_humans_datamatrix_*.mat")):
        match = _NAME.fullmatch(path.name)
        if match is not None:
            files[match["model"]] = path
    if not files:
        raise FileFormatError(f"no VisionExperiment{number}_network_vs_humans_datamatrix_*.mat files",
                              source=str(folder), fix="pass the folder that holds the experiment's files")
    for name in models or []:
        if name not in files:
            raise UnknownNameError(name, files, what=f"model of experiment {number}", source="models")
    out: dict[str, xr.DataArray] = {}
    for name, path in files.items():
        if models is not None and name not in models:
            continue
        try:
            out[name] = load_feather2023(path, experiment=number, model=name)
        except NeuroalignError as exc:
            if errors == "raise":
                raise
            logger.warning("skipping %s: %s", path, exc)
    return out
