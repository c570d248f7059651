"""The HTML of a study report: one self-contained page, every value escaped.

The page has its style inline, its figures as ``data:image/png;base64`` URLs
and a Content-Security-Policy that forbids loading anything else, so a
browser makes no request (and logs an error if a future change tried to);
it needs no JavaScript.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._version import __version__
from ..score import Score

if TYPE_CHECKING:  # pragma: no cover
    from .report import AnalysisResult, StudyResults

__all__ = ["Figure", "format_number", "render_report", "CONTENT_SECURITY_POLICY"]

#: Nothing but inline style and embedded images: no scripts, fonts, frames or requests.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
#: Headers of the score columns (:data:`neuroalign.score.COLUMNS`).
_HEADERS = {"score": "score", "ceiling_lower": "ceiling (lower)", "ceiling": "ceiling", "ceiled": "score / ceiling",
            "error": "error", "ci_low": "CI low", "ci_high": "CI high"}
_PROVENANCE_ROWS = (("neuroalign", "neuroalign"), ("python", "Python"), ("scheduler", "scheduler"),
                    ("started", "started"), ("finished", "finished"), ("config_file", "config file"),
                    ("config_hash", "config hash"))

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2329;
background:#fff;line-height:1.45}
main{max-width:1200px;margin:0 auto;padding:1.5rem 2rem 3rem}
header{border-bottom:3px solid #2b6cb0;margin-bottom:1rem}
h1{margin:.2rem 0 .3rem;font-size:1.9rem}h2{margin-top:2.2rem;border-bottom:1px solid #d5dbe1;padding-bottom:.2rem}
h3{margin:1.2rem 0 .4rem;font-size:1.05rem;color:#34404c}
.description{font-size:1.05rem;color:#34404c;margin:.2rem 0 .6rem}.muted{color:#5f6b76;font-size:.9rem}
nav ul{columns:2;margin:.3rem 0;padding-left:1.2rem}nav a,a{color:#2b6cb0}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.92rem}
th,td{border:1px solid #d5dbe1;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#eef2f6}td.num{text-align:right;font-variant-numeric:tabular-nums;font-family:ui-monospace,
"SFMono-Regular",Menlo,Consolas,monospace}
.caption{color:#5f6b76;font-size:.88rem;margin:.3rem 0 .1rem}h2 small{color:#5f6b76;font-weight:400;font-size:.9rem}
pre{background:#f5f7f9;border:1px solid #d5dbe1;padding:.8rem;overflow-x:auto;font-size:.85rem}
figure{margin:.8rem 0 1.4rem}figure img{max-width:100%;height:auto;border:1px solid #e3e7eb}
figcaption{color:#5f6b76;font-size:.9rem}
.problem{background:#fff4e5;border-left:4px solid #dd6b20;padding:.4rem .8rem;margin:.5rem 0}
.meta span{margin-right:1.2rem}.yes{color:#276749;font-weight:600}
"""


class Figure(NamedTuple):
    """One figure of the report: its caption and its PNG bytes."""

    caption: str
    png: bytes


def format_number(value: Any) -> str:
    """A value as the report's tables show it: 4 significant digits for floats, text as is.

    Examples
    --------
    >>> from neuroalign.pipelines.report_html import format_number
    >>> format_number(0.123456), format_number(3), format_number(float("nan")), format_number("block3")
    ('0.1235', '3', '–', 'block3')
    """
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, caption: str | None = None,
           numeric: Iterable[int] = ()) -> str:
    numeric = set(numeric)
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{escape(format_number(v))}</td>'
                                    for i, v in enumerate(row)) + "</tr>\n" for row in rows)
    cap = f'<p class="caption">{escape(caption)}</p>\n' if caption else ""
    return f"{cap}<table><thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>\n"


def _problem(text: str) -> str:
    return f'<p class="problem">{escape(text)}</p>\n'


def _score_table(score: Score) -> str:
    frame = score.to_dataframe().drop(columns="metric")
    dims = [str(d) for d in score.dims]
    header = [*dims, *(_HEADERS.get(str(c), str(c)) for c in frame.columns[len(dims):])]
    parts = [f"metric {score.metric or '(unnamed)'}"]
    if score.ci is not None:
        parts.append(f"{score.ci_level:.0%} confidence interval")
    if score.ceiling_bounds is not None:
        parts.append("score / ceiling divides by the upper ceiling bound")
    raw = score.raw
    if raw is not None and hasattr(raw, "data_vars") and "noise_ceiling" in raw and "bound" in raw["noise_ceiling"].dims:
        bounds = raw["noise_ceiling"]
        if bounds.ndim == 1 and set(map(str, bounds["bound"].values)) == {"lower", "upper"}:
            lower, upper = (format_number(float(bounds.sel(bound=b))) for b in ("lower", "upper"))
            parts.append(f"noise ceiling from {lower} (lower bound) to {upper} (upper bound, the ceiling column)")
    if "layer" in score.params and score.dims == ():
        parts.append(f"committed layer {score.params['layer']}")
        raw = score.raw
        if raw is not None and hasattr(raw, "data_vars") and "chosen_layer" in raw:
            chosen = [str(v) for v in np.ravel(raw["chosen_layer"].values)]
            parts[-1] += f" (chosen in {chosen.count(str(score.params['layer']))} of {len(chosen)} splits)"
    return _table(header, frame.itertuples(index=False), caption="; ".join(parts),
                  numeric=range(len(dims), len(header)))


def _pairwise_table(pairwise: Score) -> str:
    """One row per pair of models (each pair once): difference, p-values, significant."""
    if len(pairwise.dims) != 2 or pairwise.raw is None or not hasattr(pairwise.raw, "data_vars"):
        return _problem(f"pairwise tests with dims {pairwise.dims} cannot be shown as pairs")
    first, second = (str(d) for d in pairwise.dims)
    labels = [str(v) for v in pairwise.values[first].values]
    columns = [c for c in ("p_value", "p_adjusted", "significant") if c in pairwise.raw]
    rows = []
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            where = {first: a, second: b}
            rows.append([a, b, float(pairwise.values.sel(where)),
                         *(pairwise.raw[c].sel(where).item() for c in columns)])
    params = pairwise.params
    caption = (f"{params.get('test', 'test')}, correction {params.get('correction') or 'none'}, "
               f"alpha {params.get('alpha', '?')}; difference = first − second")
    header = ["model", "other model", "difference", *(c.replace("_", " ") for c in columns)]
    return _table(header, rows, caption=caption, numeric=range(2, 2 + 1 + len(columns)))


def _figure(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    caption = escape(figure.caption)
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{caption}">'
            f"<figcaption>{caption}</figcaption></figure>\n")


def _analysis(index: int, analysis: AnalysisResult, figures: Sequence[Figure]) -> str:
    meta = analysis.meta
    facts = [("kind", analysis.kind), *((k, meta[k]) for k in ("model", "brain", "stimuli") if meta.get(k))]
    if meta.get("candidates"):
        facts.append(("candidates", ", ".join(map(str, meta["candidates"]))))
    line = "".join(f"<span><b>{escape(k)}</b> {escape(str(v))}</span>" for k, v in facts if v)
    name = f" <small>{escape(analysis.name)}</small>" if analysis.name != analysis.title else ""
    out = [f'<section id="analysis-{index}"><h2>{escape(analysis.title)}{name}</h2>\n',
           f'<p class="meta muted">{line}</p>\n' if line else ""]
    if meta.get("params"):
        out.append(f'<p class="muted">params: <code>{escape(json.dumps(meta["params"], sort_keys=True))}</code></p>\n')
    out.extend(_problem(p) for p in analysis.problems)
    if analysis.score is not None:
        out.append("<h3>Scores</h3>\n" + _score_table(analysis.score))
    if analysis.pairwise is not None:
        out.append("<h3>Pairwise tests</h3>\n" + _pairwise_table(analysis.pairwise))
    out.extend(_figure(f) for f in figures)
    out.append("</section>\n")
    return "".join(out)


def _duration(provenance: Mapping[str, Any]) -> str | None:
    try:
        seconds = (datetime.fromisoformat(str(provenance["finished"]))
                   - datetime.fromisoformat(str(provenance["started"]))).total_seconds()
    except (KeyError, ValueError, TypeError):
        return None
    return f"{seconds:.1f} s"


def _plain(value: Any) -> Any:
    """Text and numbers as they are, anything else as compact JSON."""
    if isinstance(value, (str, int, float)) or value is None:
        return "" if value is None else value
    return json.dumps(value, sort_keys=True, default=str)


def _provenance(provenance: Mapping[str, Any] | None) -> str:
    out = ['<section id="provenance"><h2>Provenance</h2>\n']
    if provenance is None:
        out.append(_problem("no provenance.json in the results folder: versions and input hashes are unknown"))
        return "".join(out) + "</section>\n"
    rows = [(label, provenance[key]) for key, label in _PROVENANCE_ROWS if key in provenance]
    if _duration(provenance):
        rows.append(("duration", _duration(provenance)))
    tasks = provenance.get("tasks")
    if isinstance(tasks, Mapping):
        rows.extend((f"tasks {k}", v) for k, v in tasks.items())
    tables = (("inputs", "Inputs", ["input", "content hash or description"]),
              ("results", "Results", ["analysis", "content key"]),
              ("packages", "Package versions", ["package", "version"]))
    shown = {k for k, _ in _PROVENANCE_ROWS} | {"tasks"} | {key for key, _, _ in tables}
    rows.extend((k, _plain(v)) for k, v in provenance.items() if k not in shown)
    out.append(_table(["", "value"], rows))
    for key, title, header in tables:
        value = provenance.get(key)
        if isinstance(value, Mapping) and value:
            rows = sorted((str(k), _plain(v)) for k, v in value.items())
            out.append(f"<h3>{title}</h3>\n" + _table(header, rows))
        elif value:
            out.append(f"<h3>{title}</h3>\n<pre>{escape(_plain(value))}</pre>\n")
    return "".join(out) + "</section>\n"


def render_report(results: StudyResults, figures: Mapping[str, Sequence[Figure]]) -> str:
    """The report's HTML: the study, each analysis (scores, tests, figures), provenance and config.

    ``figures`` maps each analysis name to its figures (see
    :func:`neuroalign.pipelines.report.write_report`, which draws them).
    """
    name = results.name
    description = results.config.get("description")
    toc = "".join(f'<li><a href="#analysis-{i}">{escape(a.title)}</a></li>'
                  for i, a in enumerate(results.analyses, 1))
    body = [f"<header><h1>{escape(name)}</h1>\n",
            f'<p class="description">{escape(str(description))}</p>\n' if description else "",
            f'<p class="muted">Results folder {escape(str(results.folder))} · report by neuroalign '
            f"{escape(__version__)}</p></header>\n",
            f'<nav><b>Analyses</b><ul>{toc}<li><a href="#provenance">Provenance</a></li>'
            f'<li><a href="#config">Study config</a></li></ul></nav>\n']
    if not results.analyses:
        body.append(_problem("the study declares no analyses and the results folder holds none"))
    body.extend(_analysis(i, a, figures.get(a.name, ())) for i, a in enumerate(results.analyses, 1))
    body.append(_provenance(results.provenance))
    body.append(f'<section id="config"><h2>Study config</h2>\n<p class="muted">study.yaml: the config as run '
                f"(includes merged, --set applied)</p>\n<pre>{escape(results.study_text)}</pre></section>\n")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{escape(CONTENT_SECURITY_POLICY)}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<link rel="icon" href="data:,">\n'
            f"<title>{escape(name)} · neuroalign report</title>\n<style>{_CSS}</style></head>\n"
            f"<body><main>\n{''.join(body)}</main></body></html>\n")
