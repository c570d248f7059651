"""Data sources and stimulus sets named in a study config: the loaders, loading, and content fingerprints.

A data source is one array; its spec names a loader of :data:`DATA_LOADERS`
with its arguments, or a file saved by :func:`neuroalign.data.save`::

    brain: {loader: synthetic_brain, args: {seed: 0}}
    hit:   {loader: kriegeskorte2008_hit}
    mine:  {file: my_array.nc}

A stimulus set's spec names a loader of :data:`STIMULUS_LOADERS`, a folder of
images (:meth:`StimulusSet.from_folder`) or a table (:meth:`StimulusSet.from_table`)::

    synthetic: {loader: synthetic_stimuli, args: {seed: 0}}
    images:    {folder: path/to/images, args: {recursive: false}}

Arguments are checked against the loader's signature before anything is read
(an unknown name raises with the close matches, a missing required one names
it).  Loader functions are imported only when a source is loaded, so reading a
config stays fast.  :func:`source_fingerprint` describes a spec by content:
its arguments, with every file behind a path argument replaced by its name and
sha256 (a folder by its files'), and the published sha256 of every file a
dataset loader fetches; a changed file changes the fingerprint, a moved one
does not.

Examples
--------
>>> from neuroalign.pipelines.sources import DATA_LOADERS, load_data_source
>>> DATA_LOADERS["kriegeskorte2008_models"].produces
'data'
>>> rdms = load_data_source({"loader": "kriegeskorte2008_models"}, source="data.models")
>>> dict(rdms.sizes)
{'model': 8, 'pair': 4186}
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, SchemaError, UnknownNameError

if TYPE_CHECKING:
    import xarray as xr

    from ..extract import StimulusSet

__all__ = ["Loader", "DATA_LOADERS", "STIMULUS_LOADERS", "SPEC_LOADERS", "loader", "load_data_source",
           "load_stimuli", "check_source", "source_fingerprint"]


@dataclass(frozen=True)
class Loader:
    """A function a study config can name to make a data source or a stimulus set.

    Attributes
    ----------
    name : str
        The name configs use.
    function : str
        ``"package.module:function"`` (or ``:Class.method``), imported when a source is loaded.
    produces : str
        ``"data"`` (one xarray.DataArray) or ``"stimuli"`` (a StimulusSet).
    path_args : tuple of str
        Arguments that are files, folders or glob patterns: their content goes into the fingerprint
        (and a study file's relative paths are made absolute).
    description : str
        One line for listings.
    output : str, optional
        An attribute of the function's result to return (e.g. a study's ``brain``).
    datasets : tuple of (str, str)
        ``(dataset, file)`` pairs of :mod:`neuroalign.datasets.fetchers` the function reads; their
        published sha256 (which the fetcher verifies) go into the fingerprint.
    maybe_path_args : tuple of str
        Arguments that take a file or other values (``labels``: a label table, or a list of names): a
        string naming an existing file goes into the fingerprint by content, any other value as it is.
    """

    name: str
    function: str
    produces: str
    path_args: tuple[str, ...] = ()
    description: str = ""
    output: str | None = None
    datasets: tuple[tuple[str, str], ...] = ()
    maybe_path_args: tuple[str, ...] = ()

    def resolve(self) -> Callable[..., Any]:
        """Import and return the function."""
        module, _, attr = self.function.partition(":")
        target: Any = importlib.import_module(module)
        for part in attr.split("."):
            target = getattr(target, part)
        return target


_K2008 = "kriegeskorte2008"
_FMRI_NOTE = "(returns the patterns of estimate_patterns' GLMResult)"

DATA_LOADERS: dict[str, Loader] = {entry.name: entry for entry in (
    Loader("synthetic_brain", "neuroalign.datasets.synthetic:make_synthetic_study", "data", (),
           "the embedded synthetic study's brain: (presentation, neuroid), 4 subjects, a planted layer "
           "(arguments of make_synthetic_study)", output="brain"),
    Loader("kriegeskorte2008_hit", "neuroalign.datasets.kriegeskorte2008:load_hit_rdms", "data", (),
           "human IT RDMs of the 92 images, 4 subjects x 2 sessions on 'subject' (Kriegeskorte et al. 2008)",
           datasets=((_K2008, "92_brainRDMs.mat"),)),
    Loader("kriegeskorte2008_models", "neuroalign.datasets.kriegeskorte2008:load_model_rdms", "data", (),
           "the 8 model RDMs of the 92 images on 'model' (Kriegeskorte et al. 2008)",
           datasets=((_K2008, "92_modelRDMs.mat"),)),
    Loader("kriegeskorte2008_behaviour", "neuroalign.datasets.kriegeskorte2008:load_behaviour_rdms", "data", (),
           "16 subjects' similarity-judgement RDMs of the 92 images on 'subject' (Mur et al. 2013)",
           datasets=((_K2008, "92_behavRDMs.mat"),)),
    Loader("task_fmri_patterns", "neuroalign.pipelines.synthetic_sources:task_fmri_patterns", "data", (),
           "the synthetic task-fMRI study's trial patterns, estimated by a first-level GLM from its NIfTI runs"),
    Loader("load_roi_timeseries", "neuroalign.loaders.fmri:load_roi_timeseries", "data",
           ("img", "atlas", "mask_img", "confounds"), "4D NIfTI runs + an atlas -> ROI time series",
           maybe_path_args=("labels",)),
    Loader("load_timeseries", "neuroalign.loaders.timeseries_files:load_timeseries", "data", ("path",),
           "time series tables or arrays (TSV, CSV, NPY, MAT) -> (time, neuroid)"),
    Loader("load_connectivity", "neuroalign.loaders.connectivity_files:load_connectivity", "data", ("path",),
           "connectivity matrices (tables, NPY, MAT) -> (neuroid, neuroid_b)"),
    Loader("load_nwb_spikes", "neuroalign.loaders.spikes:load_nwb_spikes", "data", ("path",),
           "NWB units + a trial table -> binned spike counts"),
    Loader("load_phy", "neuroalign.loaders.phy:load_phy", "data", ("folder", "events"),
           "a Kilosort/phy folder + events -> binned spike counts"),
    Loader("load_feather2023", "neuroalign.loaders.feather2023:load_feather2023", "data", ("path",),
           "human and network recognition of model metamers (Feather et al. 2023), one model's file"),
    Loader("estimate_patterns", "neuroalign.loaders.glm:estimate_patterns", "data",
           ("runs", "events", "confounds", "mask", "atlas"),
           f"4D NIfTI runs + BIDS events -> one GLM pattern per trial {_FMRI_NOTE}", output="patterns",
           maybe_path_args=("labels",)),
)}

STIMULUS_LOADERS: dict[str, Loader] = {entry.name: entry for entry in (
    Loader("synthetic_stimuli", "neuroalign.pipelines.synthetic_sources:synthetic_stimuli", "stimuli", (),
           "the embedded synthetic study's images (seed, n_stimuli)"),
    Loader("kriegeskorte2008_images", "neuroalign.datasets.kriegeskorte2008:load_images", "stimuli", (),
           "the 92 images of Kriegeskorte et al. (2008), img01..img92, category/animate metadata",
           datasets=((_K2008, "Kriegeskorte_Neuron2008_supplementalData.mat"),)),
    Loader("task_fmri_stimuli", "neuroalign.pipelines.synthetic_sources:task_fmri_stimuli", "stimuli", (),
           "the synthetic task-fMRI study's images (seed, n_stimuli)"),
)}

#: The loaders behind ``file:``, ``folder:`` and ``table:`` specs (the key's value is their first argument).
SPEC_LOADERS: dict[str, Loader] = {entry.name: entry for entry in (
    Loader("file", "neuroalign.data.io:load", "data", ("path",), "an array saved by neuroalign.data.save"),
    Loader("folder", "neuroalign.extract.stimuli:StimulusSet.from_folder", "stimuli", ("folder",),
           "a folder of images"),
    Loader("table", "neuroalign.extract.stimuli:StimulusSet.from_table", "stimuli", ("table",),
           "a CSV/TSV table with stimulus_id and path columns"),
)}

_REGISTRIES = {"data": DATA_LOADERS, "stimuli": STIMULUS_LOADERS}
_SPEC_KEYS = {"data": ("loader", "file"), "stimuli": ("loader", "folder", "table")}
_WHAT = {"data": "data source", "stimuli": "stimulus set"}


def loader(name: str, *, produces: str = "data", source: str | None = None) -> Loader:
    """The registered loader ``name`` of data (``produces="data"``) or stimuli; unknown names list close matches.

    Examples
    --------
    >>> from neuroalign.pipelines.sources import loader
    >>> loader("synthetic_stimuli", produces="stimuli").function
    'neuroalign.pipelines.synthetic_sources:synthetic_stimuli'
    """
    registry = _REGISTRIES[produces]
    if not isinstance(name, str) or name not in registry:
        raise UnknownNameError(str(name), registry, what=f"{produces} loader", source=source)
    return registry[name]


def _sub(source: str, key: str) -> str:
    """``"demo.yaml (data.brain)"`` + ``"args.seed"`` → ``"demo.yaml (data.brain.args.seed)"``."""
    if source.endswith(")") and " (" in source:
        return f"{source[:-1]}.{key})"
    return f"{source}.{key}"


def _parse(spec: Any, produces: str | None, source: str) -> tuple[Loader, dict[str, Any]]:
    """The loader of a spec and the keyword arguments of its function (a ``file:`` path becomes ``path=``)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"a {_WHAT.get(produces, 'source')} must be a mapping, got {type(spec).__name__}",
                          source=source, fix="write e.g. {loader: synthetic_brain, args: {seed: 0}}")
    spec = {key: value for key, value in spec.items() if value is not None}
    kinds = (produces,) if produces else ("data", "stimuli")
    allowed = sorted({"args", *(k for kind in kinds for k in _SPEC_KEYS[kind])})
    for key in spec:
        if key not in allowed:
            raise UnknownNameError(str(key), allowed, what=f"key of a {_WHAT.get(produces, 'source')}",
                                   source=_sub(source, str(key)))
    given = [key for key in allowed if key != "args" and key in spec]
    if len(given) != 1:
        problem = "names no loader" if not given else f"names {' and '.join(given)}: one at a time"
        raise ConfigError(f"the spec {problem}", source=source,
                          fix=f"give exactly one of {', '.join(k for k in allowed if k != 'args')}")
    args = spec.get("args", {})
    if not isinstance(args, Mapping):
        raise ConfigError(f"args must be a mapping of argument names to values, got {type(args).__name__}",
                          source=_sub(source, "args"), fix="write e.g. args: {seed: 0}")
    args = dict(args)
    key = given[0]
    if key == "loader":
        name = spec["loader"]
        registries = {k: v for kind in kinds for k, v in _REGISTRIES[kind].items()}
        if not isinstance(name, str) or name not in registries:
            raise UnknownNameError(str(name), registries, what=f"{produces or 'source'} loader",
                                   source=_sub(source, "loader"))
        return registries[name], args
    entry = SPEC_LOADERS[key]
    first = entry.path_args[0]
    if first in args:
        raise ConfigError(f"args repeat {first!r}, which {key}: gives", source=_sub(source, f"args.{first}"),
                          fix="remove it from args")
    return entry, {first: spec[key], **args}


def check_source(spec: Mapping[str, Any], *, source: str, produces: str | None = None) -> Loader:
    """Check a spec without loading anything: keys, loader name, and arguments against the function's signature.

    Parameters
    ----------
    spec : mapping
        ``{"loader": name, "args": {...}}``, or ``{"file": path}`` (data), ``{"folder"|"table": path}`` (stimuli).
    source : str
        Where the spec is, for error messages (e.g. ``"study.yaml (data.brain)"``).
    produces : {"data", "stimuli"}, optional
        The kind of source expected; default either.

    Returns
    -------
    Loader

    Raises
    ------
    UnknownNameError
        An unknown key, loader or argument (the message lists close matches).
    ConfigError
        A malformed spec, a missing required argument or a value of the wrong type.

    Examples
    --------
    >>> from neuroalign.pipelines.sources import check_source
    >>> check_source({"loader": "synthetic_brain", "args": {"sed": 1}},
    ...              source="data.brain")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    neuroalign.errors.UnknownNameError: data.brain.args.sed: unknown synthetic_brain argument 'sed'. Fix: did you mean 'seed', ...? ...
    """
    entry, args = _parse(spec, produces, source)
    _check_args(entry, entry.resolve(), args, source)
    return entry


def _check_args(entry: Loader, function: Callable[..., Any], args: Mapping[str, Any], source: str) -> None:
    from ..extract.factories import check_factory_kwargs

    try:
        check_factory_kwargs(function, args, spec=source)
    except UnknownNameError as exc:
        raise UnknownNameError(exc.name, exc.valid, what=f"{entry.name} argument",
                               source=_sub(source, f"args.{exc.name}")) from None
    except ConfigError as exc:
        name = next((key for key in args if f"argument {key!r}" in exc.problem), None)
        where = _sub(source, f"args.{name}") if name else source
        raise ConfigError(f"loader {entry.name!r}: {exc.problem.replace('model argument', 'argument')}",
                          source=where, fix=exc.fix) from None
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return
    for parameter in parameters:
        if parameter.default is parameter.empty and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD,
                                                                        parameter.KEYWORD_ONLY):
            if parameter.name not in args:
                raise ConfigError(f"loader {entry.name!r} needs the argument {parameter.name!r}",
                                  source=_sub(source, "args"), fix=f"add {parameter.name}: ... to args")


def _call(spec: Mapping[str, Any], produces: str, source: str) -> Any:
    entry, args = _parse(spec, produces, source)
    function = entry.resolve()
    _check_args(entry, function, args, source)
    result = function(**args)
    return getattr(result, entry.output) if entry.output else result


def load_data_source(spec: Mapping[str, Any], *, source: str) -> xr.DataArray:
    """Load one data source of a study config.

    Parameters
    ----------
    spec : mapping
        ``{"loader": name, "args": {...}}`` (a loader of :data:`DATA_LOADERS`) or
        ``{"file": path}`` (an array saved by :func:`neuroalign.data.save`, ``.nc`` or ``.zarr``).
    source : str
        Where the spec is, for error messages.

    Returns
    -------
    xarray.DataArray
        The array, checked against the data model.

    Raises
    ------
    UnknownNameError, ConfigError
        See :func:`check_source`.
    SchemaError
        The loader or file gives something other than one array.

    Examples
    --------
    >>> from neuroalign.pipelines.sources import load_data_source
    >>> brain = load_data_source({"loader": "synthetic_brain", "args": {"n_stimuli": 8, "n_subjects": 2}},
    ...                          source="data.brain")
    >>> dict(brain.sizes)
    {'presentation': 32, 'neuroid': 200}
    """
    from ..data import validate
    import xarray as xr

    array = _call(spec, "data", source)
    if not isinstance(array, xr.DataArray):
        raise SchemaError(f"the source gives a {type(array).__name__}, not one array (xarray.DataArray)",
                          source=source, fix="point at a file or loader that holds one array "
                                             "(save each array of a Dataset to its own file)")
    return validate(array, dims=None, name=source, allow_nan=True, check_values=False)


def load_stimuli(spec: Mapping[str, Any], *, source: str) -> StimulusSet:
    """Load one stimulus set of a study config.

    Parameters
    ----------
    spec : mapping
        ``{"loader": name, "args": {...}}`` (a loader of :data:`STIMULUS_LOADERS`),
        ``{"folder": path}`` or ``{"table": path}``, each with optional ``args``.
    source : str
        Where the spec is, for error messages.

    Returns
    -------
    StimulusSet

    Examples
    --------
    >>> from neuroalign.pipelines.sources import load_stimuli
    >>> len(load_stimuli({"loader": "synthetic_stimuli", "args": {"n_stimuli": 5}}, source="stimuli.s"))
    5
    """
    from ..extract import StimulusSet

    stimuli = _call(spec, "stimuli", source)
    if not isinstance(stimuli, StimulusSet):
        raise SchemaError(f"the loader gives a {type(stimuli).__name__}, not a StimulusSet", source=source,
                          fix="point at a stimulus loader")
    return stimuli


def source_fingerprint(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-able description of a source by content, for content keys.

    The loader's name and function, its arguments with each path argument
    replaced by the content of what it names (a file: its name and sha256; a
    folder: the relative path and sha256 of each of its files, sorted; a glob
    pattern: each match), and the published sha256 of the dataset files the
    loader fetches.  Nothing is imported or loaded, except a table's images,
    which are hashed too.

    Raises
    ------
    FileFormatError
        A path argument names nothing.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from neuroalign.pipelines.sources import source_fingerprint
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ts.tsv"
    >>> _ = path.write_text("a\\tb\\n1\\t2\\n")
    >>> spec = {"loader": "load_timeseries", "args": {"path": str(path), "repetition_time": 2.0}}
    >>> before = source_fingerprint(spec)
    >>> before["args"]["path"]["name"]
    'ts.tsv'
    >>> _ = path.write_text("a\\tb\\n1\\t3\\n")
    >>> source_fingerprint(spec) == before
    False
    """
    from .source_fingerprints import fingerprint

    entry, args = _parse(spec, None, "source")
    return fingerprint(entry, args)
