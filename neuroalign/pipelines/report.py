"""The report of a study run: ``scores.csv``, ``scores.nc`` and one self-contained ``report.html``.

``neuroalign run`` ends by calling :func:`write_report` on its results folder
(``outputs.dir`` of the study), and ``neuroalign report RESULTS_DIR`` calls it
again at any time.  The folder holds::

    study.yaml                         the resolved config
    provenance.json                    versions, input hashes, scheduler, times, task counts
    results/<analysis>/score.nc        the analysis's Score (Score.save)
    results/<analysis>/meta.json       name, kind, title, model, brain, stimuli, params, x_dim, planted_layer
    results/<analysis>/rdms.nc         optional: RDMs to show, stacked along a dim ``rdm``
    results/<analysis>/pairwise.nc     optional: the Score of compare.pairwise_tests
    results/<analysis>/figures/*.png   optional: figures embedded as they are

Only files are read: nothing is recomputed (a model comparison without
``pairwise.nc`` is drawn without significance lines).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr
import yaml

from ..data.io import load, load_group, save, write_atomically
from ..errors import FileFormatError, NeuroalignError
from ..score import Score
from . import report_figures
from .report_html import Figure, render_report

__all__ = ["AnalysisResult", "StudyResults", "read_results", "scores_table", "save_scores", "load_scores",
           "write_report", "REPORT_FILE", "SCORES_CSV", "SCORES_NC"]

log = logging.getLogger(__name__)

REPORT_FILE, SCORES_CSV, SCORES_NC = "report.html", "scores.csv", "scores.nc"
STUDY_FILE, PROVENANCE_FILE, RESULTS = "study.yaml", "provenance.json", "results"
SCORE_FILE, META_FILE, RDMS_FILE, PAIRWISE_FILE, FIGURES = "score.nc", "meta.json", "rdms.nc", "pairwise.nc", "figures"
_INDEX_ATTR = "neuroalign_scores"  # root attribute of scores.nc: [[analysis, group], ...] in order
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class AnalysisResult:
    """What the results folder holds for one analysis (None where a file is absent or unreadable)."""

    name: str
    meta: dict = field(default_factory=dict)
    score: Score | None = None
    pairwise: Score | None = None
    rdms: xr.DataArray | None = None
    figures: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # shown in the report

    @property
    def kind(self) -> str:
        return str(self.meta.get("kind", ""))

    @property
    def title(self) -> str:
        return str(self.meta.get("title") or self.name)

    @property
    def x_dim(self) -> str | None:
        """The dim along the x axis: ``meta["x_dim"]``, else the score's only dim."""
        if self.meta.get("x_dim"):
            return str(self.meta["x_dim"])
        if self.score is not None and len(self.score.dims) == 1:
            return str(self.score.dims[0])
        return None


@dataclass
class StudyResults:
    """A results folder as read by :func:`read_results`."""

    folder: Path
    study_text: str
    config: dict
    provenance: dict | None
    analyses: list[AnalysisResult]

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.folder.name)

    def scores(self) -> dict[str, Score]:
        """Analysis name → Score, for the analyses that have one, in the study's order."""
        return {a.name: a.score for a in self.analyses if a.score is not None}


def read_results(results_dir: str | os.PathLike) -> StudyResults:
    """Read a results folder written by ``neuroalign run``.

    A missing or unreadable file of one analysis (``score.nc``, ``meta.json``, ...)
    does not stop the reading: it is noted in that analysis's ``problems``.

    Raises
    ------
    FileFormatError
        ``results_dir`` is not a results folder (no ``study.yaml`` or no
        ``results/``), or ``study.yaml`` / ``provenance.json`` is unreadable.

    Examples
    --------
    >>> import tempfile
    >>> from neuroalign.pipelines.report import read_results
    >>> read_results(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    neuroalign.errors.FileFormatError: ...: not a results folder of 'neuroalign run' (no study.yaml, no results/)...
    """
    folder = Path(results_dir)
    missing = [name for name, ok in ((STUDY_FILE, (folder / STUDY_FILE).is_file()),
                                     (f"{RESULTS}/", (folder / RESULTS).is_dir())) if not ok]
    if missing:
        what = "does not exist" if not folder.exists() else f"not a results folder of 'neuroalign run' " \
            f"(no {', no '.join(missing)})"
        raise FileFormatError(what, source=str(folder),
                              fix="pass the folder a study wrote (its outputs.dir, e.g. neuroalign-results/demo)")
    study_text = (folder / STUDY_FILE).read_text(encoding="utf-8")
    try:
        config = yaml.safe_load(study_text) or {}
    except yaml.YAMLError as exc:
        raise FileFormatError(f"cannot read it as YAML ({exc})", source=str(folder / STUDY_FILE),
                              fix="run the study again to rewrite it") from exc
    if not isinstance(config, dict):
        raise FileFormatError("it does not hold a study config (a mapping)", source=str(folder / STUDY_FILE),
                              fix="run the study again to rewrite it")
    provenance = _read_json(folder / PROVENANCE_FILE) if (folder / PROVENANCE_FILE).is_file() else None
    entries = {str(a.get("name")): a for a in config.get("analyses") or [] if isinstance(a, dict)}
    on_disk = sorted(p.name for p in (folder / RESULTS).iterdir() if p.is_dir())
    names = [*entries, *(n for n in on_disk if n not in entries)]
    analyses = [_read_analysis(folder / RESULTS / name, name, entries.get(name, {})) for name in names]
    return StudyResults(folder, study_text, config, provenance, analyses)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"cannot read it as JSON ({exc})", source=str(path),
                              fix="run the study again to rewrite it") from exc
    if not isinstance(data, dict):
        raise FileFormatError("it does not hold a JSON object", source=str(path), fix="run the study again")
    return data


def _read_analysis(folder: Path, name: str, entry: Mapping[str, Any]) -> AnalysisResult:
    """One analysis's files; every problem becomes a message of the report."""
    result = AnalysisResult(name, meta={k: entry[k] for k in ("kind", "model", "brain", "stimuli") if k in entry})
    shown = f"{RESULTS}/{name}"
    if not folder.is_dir():
        result.problems.append(f"no folder {shown}: the analysis has not run yet (run the study to compute it)")
        return result
    for filename, read in ((META_FILE, lambda p: result.meta.update(_read_json(p))),
                           (SCORE_FILE, lambda p: setattr(result, "score", Score.load(p))),
                           (PAIRWISE_FILE, lambda p: setattr(result, "pairwise", Score.load(p))),
                           (RDMS_FILE, lambda p: setattr(result, "rdms", load(p)))):
        path = folder / filename
        if not path.exists():
            if filename == SCORE_FILE:
                result.problems.append(f"no {SCORE_FILE} in {shown}: the analysis did not finish "
                                       "(run the study again to compute it)")
            continue
        try:
            read(path)
        except NeuroalignError as exc:
            log.warning("%s", exc)
            result.problems.append(exc.one_line())
    if (folder / FIGURES).is_dir():
        result.figures = sorted((folder / FIGURES).glob("*.png"))
    return result


def scores_table(results: StudyResults) -> pd.DataFrame:
    """Every analysis's score in one table: ``analysis``, ``kind``, then :meth:`Score.columns` (metric, dims, values).

    A dim column is empty on the rows of analyses without that dim; the
    values are those of :meth:`Score.to_dataframe`, unrounded.
    """
    frames = [a.score.to_dataframe().assign(analysis=a.name, kind=a.kind) for a in results.analyses
              if a.score is not None]
    dims = list(dict.fromkeys(str(d) for a in results.analyses if a.score is not None for d in a.score.dims))
    if not frames:
        return pd.DataFrame(columns=["analysis", "kind", *Score.columns(dims)])
    table = pd.concat(frames, ignore_index=True)
    return table[["analysis", "kind", *Score.columns(dims, present=table.columns)]]


def save_scores(scores: Mapping[str, Score], path: str | os.PathLike) -> Path:
    """Write several scores to one netCDF file, one group per score, atomically; :func:`load_scores` reads it.

    Each score is stored as :meth:`Score.save` stores it (its fields and
    metadata in group ``score_<i>``, its raw values in ``score_<i>_raw``);
    the root attribute ``neuroalign_scores`` maps the names to the groups.

    Examples
    --------
    >>> import os, tempfile
    >>> from neuroalign import Score
    >>> from neuroalign.pipelines.report import load_scores, save_scores
    >>> path = save_scores({"rsa": Score(0.3, ceiling=0.6, metric="rsa")}, os.path.join(tempfile.mkdtemp(), "s.nc"))
    >>> load_scores(path)
    {'rsa': Score(metric='rsa', score=0.3, ceiling=0.6, ceiled=0.5)}
    """
    groups: dict[str, xr.Dataset | xr.DataArray] = {}
    index = []
    for i, (name, score) in enumerate(scores.items()):
        data, raw = score.to_dataset()
        groups[f"score_{i}"] = data
        if raw is not None:
            groups[f"score_{i}_raw"] = raw
        index.append([str(name), f"score_{i}"])
    return save(xr.Dataset(attrs={_INDEX_ATTR: index}), path, groups=groups)


def load_scores(path: str | os.PathLike) -> dict[str, Score]:
    """Read the scores written by :func:`save_scores` (a report's ``scores.nc``): analysis name → Score.

    Raises
    ------
    FileFormatError
        The file is unreadable or was not written by :func:`save_scores`.
    """
    root = load(path)
    index = root.attrs.get(_INDEX_ATTR) if isinstance(root, xr.Dataset) else None
    if not isinstance(index, list) or not all(isinstance(e, list) and len(e) == 2 for e in index):
        raise FileFormatError("the file does not hold a set of scores", source=str(path),
                              fix="read one score with Score.load, or write several with save_scores")
    return {name: Score.from_dataset(load_group(path, group), lambda g=group: load_group(path, f"{g}_raw"),
                                     source=f"{path}:{group}") for name, group in index}


def _committed(analysis: AnalysisResult, analyses: list[AnalysisResult]) -> Score | None:
    """The score of the study's commit_layer analysis of the same metric, model, stimuli and brain, if any."""
    same = ("model", "stimuli", "brain")
    for other in analyses:
        if other.kind == "commit_layer" and other.score is not None and other.score.dims == () \
                and (other.meta.get("params") or {}).get("metric", "rsa") == analysis.kind \
                and all(other.meta.get(k) == analysis.meta.get(k) for k in same):
            return other.score
    return None


def _figures(analysis: AnalysisResult, committed: Score | None = None) -> list[Figure]:
    """The figures of one analysis, as PNG bytes; a figure that cannot be drawn becomes a problem message."""
    out: list[Figure] = []
    score, x_dim = analysis.score, analysis.x_dim

    def add(caption: str, draw) -> None:
        try:
            out.append(Figure(caption, draw()))
        except NeuroalignError as exc:
            log.warning("%s: %s", analysis.name, exc)
            analysis.problems.append(f"{caption}: {exc.one_line()}")

    if score is not None and x_dim is not None and score.dims == (x_dim,):
        if x_dim == "layer":
            planted = analysis.meta.get("planted_layer")
            notes = [f"★ planted layer {planted}" if planted else "",
                     f"◆ committed layer {committed.params.get('layer')} scored on held-out stimuli" if committed else ""]
            add("Layer profile" + "".join(f"; {n}" for n in notes if n),
                lambda: report_figures.layer_profile_png(score, highlight=planted, committed=committed))
        elif x_dim == "model":
            add("Model comparison", lambda: report_figures.model_comparison_png(score, pairwise=analysis.pairwise,
                                                                                 title=analysis.title))
    if analysis.rdms is not None:
        add("RDMs", lambda: report_figures.rdm_panels_png(analysis.rdms,
                                                          source=f"{RESULTS}/{analysis.name}/{RDMS_FILE}"))
    for path in analysis.figures:
        content = path.read_bytes()
        if content.startswith(_PNG_SIGNATURE):
            out.append(Figure(path.stem.replace("_", " "), content))
        else:
            analysis.problems.append(f"{RESULTS}/{analysis.name}/{FIGURES}/{path.name} is not a PNG file; left out")
    return out


def write_report(results_dir: str | os.PathLike, *, out: str | os.PathLike | None = None) -> Path:
    """Write ``scores.csv``, ``scores.nc`` and ``report.html`` of a results folder; returns the report's path.

    Parameters
    ----------
    results_dir : path-like
        The folder ``neuroalign run`` wrote (the study's ``outputs.dir``).
    out : path-like, optional
        Where to write the HTML report (default ``<results_dir>/report.html``);
        ``scores.csv`` and ``scores.nc`` always go to ``results_dir``.

    Returns
    -------
    pathlib.Path
        The report: one HTML file with its figures embedded (PNG in ``data:``
        URLs) and its style inline, that loads nothing else and needs no
        JavaScript.

    Raises
    ------
    FileFormatError
        ``results_dir`` is not a results folder (see :func:`read_results`).
    """
    results = read_results(results_dir)
    folder = results.folder
    scores = results.scores()
    table = scores_table(results)
    write_atomically(folder / SCORES_CSV, lambda tmp: table.to_csv(tmp, index=False))
    save_scores(scores, folder / SCORES_NC)
    figures = {a.name: _figures(a, _committed(a, results.analyses)) for a in results.analyses}
    page = render_report(results, figures)
    path = Path(out) if out is not None else folder / REPORT_FILE
    write_atomically(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    log.info("wrote %s (%d analyses, %d with scores)", path, len(results.analyses), len(scores))
    return path
