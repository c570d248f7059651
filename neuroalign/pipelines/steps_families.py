"""Pipeline steps of the families that run a whole study of their own: metamers, graph and spike pretraining.

Each step calls the family's runner with the analysis' params (``seed``
resolved to the study's), in a ``run/`` folder inside the task's folder (so
the runner's own outputs, e.g. trained weights and embeddings, stay in the
store), then writes what the results folder shows:

- ``score.nc``: the family's headline :class:`~neuroalign.score.Score`
  (metamers: the recognisability of every generating layer by every observer,
  dims ``(generator, layer, observer)``; graph pretraining: the probe's score
  on the test subjects, or the final pretraining loss without a label; spike pretraining: the co-smoothing
  bits per spike of every method on the test trials, dims ``(method,)``);
- ``figures/*.png``: the figures the runner drew, as they are.

:func:`graph_inputs_fingerprint` is graph pretraining's content fingerprint:
the plan puts the contents of the time-series files and the label table into
the task's key, so a changed file never reuses a stale result; :func:`spike_inputs_fingerprint` does the
same for spike pretraining's NWB file.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..score import Score
from .plan import Task
from .store import ResultsStore

__all__ = ["metamers", "graph_pretraining", "graph_inputs_fingerprint", "spike_pretraining",
           "spike_inputs_fingerprint"]

_SCORE = "score.nc"
_RUN = "run"


def metamers(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.metamers.study.run_metamer_study`; the score is its recognisability."""
    from ..metamers.study import run_metamer_study

    result = run_metamer_study(dict(task.params["params"]), out=out / _RUN, progress=False)
    result.recognisability.save(out / _SCORE)
    _copy_figures(result.out, out)


def graph_pretraining(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.pipelines.graph_pretraining.run_graph_pretraining`; the score is its probe's."""
    from .graph_pretraining import run_graph_pretraining

    result = run_graph_pretraining(dict(task.params["params"]), out=out / _RUN, progress=False)
    score = result.score
    if score is None:  # no label: nothing probed, the pretraining's final loss is the result
        history = result.pretrainer.history_
        score = Score(float(history["loss"].iloc[-1]), metric="pretraining-loss",
                      params={"epochs": int(result.pretrainer.n_epochs_)})
    score.save(out / _SCORE)
    _copy_figures(result.out, out)


def spike_pretraining(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.pipelines.spike_pretraining.run_spike_pretraining`; the score is every method's co-bps."""
    import xarray as xr

    from .spike_pretraining import run_spike_pretraining

    result = run_spike_pretraining(dict(task.params["params"]), out=out / _RUN, progress=False)
    # co-smoothing bits per spike of the methods that co-smooth (forward bits per spike with only the
    # autoregressive model)
    column = "co_bps" if "co_bps" in result.metrics else "forward_bps"
    scores = result.metrics[column].dropna()
    value = xr.DataArray(scores.to_numpy(dtype=float), dims=("method",), coords={"method": list(scores.index)})
    params = {"held_out": result.held_out, "n_test": int(len(result.test))}
    Score(value, metric=column.replace("_", "-"), params=params).save(out / _SCORE)
    _copy_figures(result.out, out)


def spike_inputs_fingerprint(params: Mapping[str, Any]) -> dict[str, Any]:
    """The contents of the NWB file spike pretraining reads (``{"files": {}}`` when it simulates).

    A ``dataset://`` reference is resolved to its file first (:func:`~neuroalign.pipelines.spike_data.nwb_path`).

    Examples
    --------
    >>> from neuroalign.pipelines.steps_families import spike_inputs_fingerprint
    >>> spike_inputs_fingerprint({"nwb": ""})
    {'files': {}}
    """
    from .spike_data import nwb_path

    return {"files": _file_hashes([nwb_path(params["nwb"])] if params.get("nwb") else [])}


def graph_inputs_fingerprint(params: Mapping[str, Any]) -> dict[str, Any]:
    """The contents of the files graph pretraining reads: time series (with BIDS JSON sidecars) and labels.

    Parameters
    ----------
    params : mapping
        The analysis' params (``timeseries``: a file or glob, ``""`` to simulate; ``labels``: a table or ``""``).

    Returns
    -------
    dict
        ``{"files": {path: sha256}}``; empty when the subjects are simulated.

    Raises
    ------
    FileFormatError
        The pattern matches no file, or a named file is missing.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from neuroalign.pipelines.steps_families import graph_inputs_fingerprint
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "sub-01_timeseries.tsv").write_text("a\\tb\\n1\\t2\\n")
    >>> before = graph_inputs_fingerprint({"timeseries": str(folder / "sub-*_timeseries.tsv"), "labels": ""})
    >>> _ = (folder / "sub-01_timeseries.tsv").write_text("a\\tb\\n1\\t3\\n")
    >>> graph_inputs_fingerprint({"timeseries": str(folder / "sub-*_timeseries.tsv"), "labels": ""}) == before
    False
    >>> graph_inputs_fingerprint({"timeseries": "", "labels": ""})
    {'files': {}}
    """
    from ..loaders.timeseries_files import _expand, _stem

    paths: list[Path] = []
    if params.get("timeseries"):
        for path in _expand(params["timeseries"], "timeseries")[0]:  # the files the loader will read
            sidecar = path.parent / (_stem(path) + ".json")
            paths.extend([path, sidecar] if sidecar.is_file() else [path])
    if params.get("labels"):
        paths.append(Path(params["labels"]))
    return {"files": _file_hashes(paths)}


def _file_hashes(paths: list[Path]) -> dict[str, str]:
    """``{path: sha256}`` of files that must exist (FileFormatError naming a missing one)."""
    from ..data.provenance import hash_file
    from ..errors import FileFormatError

    files = {}
    for path in paths:
        if not path.is_file():
            raise FileFormatError(f"no file at {str(path)!r}", source=str(path),
                                  fix="check the path (paths in a study config are relative to the config file)")
        files[str(path)] = hash_file(path)
    return files


def _copy_figures(run: Path, out: Path) -> None:
    """Copy the runner's PNG figures into ``out/figures`` (what the report embeds)."""
    figures = sorted(run.glob("*.png"))
    if figures:
        (out / "figures").mkdir()
        for figure in figures:
            shutil.copy2(figure, out / "figures" / figure.name)
