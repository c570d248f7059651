"""The main job: score every layer of the reference network against synthetic brain data.

``neuroalign demo`` runs :func:`run_demo`: the bundled study
``pipelines/demo.yaml`` on the study engine (:mod:`.engine`).  It builds the
embedded synthetic study (brain responses planted from one layer of
:class:`neuroalign.models.ReferenceNet`), extracts every layer, scores them with
RSA and linear CKA (bootstrap CIs and split-half ceilings), commits each metric
to one layer chosen on half of the stimuli and scored on the other half
(:func:`neuroalign.compare.commit_layer`), and writes the study's results
folder and report, plus a summary and the layer-profile figure.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from ..data.io import write_atomically
from ..data.provenance import provenance
from ..plot import layer_profile_figure
from ..score import Score

__all__ = ["DemoResult", "run_demo", "demo_overrides", "SCORE_COLUMNS"]

log = logging.getLogger(__name__)

#: Columns of ``scores.csv``, in the order of every score table (:meth:`Score.columns`);
#: ``ceiling_lower`` appears only when a metric has two ceiling bounds.
SCORE_COLUMNS = Score.columns(["layer"])


@dataclass
class DemoResult:
    """What the demo computed and where it wrote it."""

    scores: dict[str, Score]
    committed: dict[str, Score]
    table: pd.DataFrame
    summary: dict
    out: Path


def _ceiling_band(score: Score) -> tuple[float, float]:
    per_split = score.raw["ceiling_per_split"].mean("subject")
    return float(per_split.min()), float(per_split.max())


def _commitment_summary(score: Score, sweep: Score) -> dict:
    layers, counts = np.unique(score.raw["chosen_layer"].values.astype(str), return_counts=True)
    error = None if score.error is None else float(score.error)
    return {"score": float(score), "error": error, "layer": score.params["layer"],
            "chosen_layers": {str(k): int(v) for k, v in zip(layers, counts)},
            "naive_best_score": float(sweep.values.max()), "n_splits": score.params["n_splits"],
            "test_size": score.params["test_size"]}


#: The demo study's analyses: metric → (sweep analysis, committed analysis) in ``pipelines/demo.yaml``.
DEMO_ANALYSES = {"rsa": ("rsa", "rsa-committed"), "cka": ("cka", "cka-committed")}


def demo_overrides(seed: int, n_bootstrap: int, n_splits: int) -> list[str]:
    """The ``--set`` overrides that give the bundled demo study this seed and these resampling sizes."""
    from .study_files import load_study
    from .study_catalog import find_study

    study = load_study(find_study("demo"))
    overrides = [f"seed={seed}", f"stimuli.synthetic.args.seed={seed}", f"data.brain.args.seed={seed}",
                 f"models.reference.args.seed={seed}"]
    for index, analysis in enumerate(study.analyses):
        if analysis.kind != "commit_layer":
            overrides.append(f"analyses.{index}.params.n_bootstrap={n_bootstrap}")
        overrides.append(f"analyses.{index}.params.n_splits={n_splits}")
    return overrides


def run_demo(
    seed: int = 0,
    out: str | Path = "neuroalign-demo",
    *,
    n_bootstrap: int = 200,
    n_splits: int = 10,
    progress: bool = True,
    scheduler: str = "threads",
    workers: int | None = None,
) -> DemoResult:
    """Run the bundled demo study (``pipelines/demo.yaml``) on the study engine and summarise it.

    The engine writes the results folder (``results/``, ``scores.csv``,
    ``scores.nc``, ``provenance.json``, ``report.html``, and the resumable
    store in ``store/``); the demo adds ``summary.json`` and
    ``layer_profile.png``.

    Parameters
    ----------
    seed : int
        Seeds the synthetic study, the bootstrap and the splits.
    out : path-like
        Output folder (created).
    n_bootstrap : int
        Stimulus bootstrap resamples per metric.
    n_splits : int
        Split-half ceiling splits, and random stimulus splits of the layer commitment.
    progress : bool
        Show progress bars.
    scheduler, workers
        Where the tasks run (see :func:`neuroalign.pipelines.engine.run_study`).

    Returns
    -------
    DemoResult

    Examples
    --------
    >>> import tempfile
    >>> from neuroalign.pipelines.demo import run_demo
    >>> result = run_demo(seed=0, out=tempfile.mkdtemp(), n_bootstrap=20, n_splits=2, progress=False)
    >>> result.summary["best_layer"]["rsa"] == result.summary["planted_layer"]
    True
    >>> result.summary["committed"]["rsa"]["layer"] == result.summary["planted_layer"]
    True
    """
    from .engine import run_study
    from .results_folder import planted_layer
    from .study_catalog import find_study

    out = Path(out)
    run = run_study(find_study("demo"), overrides=demo_overrides(seed, n_bootstrap, n_splits), out=out,
                    scheduler=scheduler, workers=workers, progress=progress)
    planted = planted_layer(run.study.data["brain"])
    scores = {metric: run.scores[sweep] for metric, (sweep, _) in DEMO_ANALYSES.items()}
    committed = {metric: run.scores[name] for metric, (_, name) in DEMO_ANALYSES.items()}
    table = pd.read_csv(out / "scores.csv")
    best = {name: str(s.values.idxmax("layer").item()) for name, s in scores.items()}
    summary = {
        "planted_layer": planted,
        "best_layer": best,
        "recovered": all(layer == planted for layer in best.values()),
        "committed": {name: _commitment_summary(s, scores[name]) for name, s in committed.items()},
        "metrics": {name: s.metric for name, s in scores.items()},
        "tasks": {"computed": len(run.computed), "reused": len(run.reused)},
        "provenance": provenance({"seed": seed, "n_bootstrap": n_bootstrap, "n_splits": n_splits},
                                 {name: key for name, key in run.plan.finals.items()}),
    }
    figure = layer_profile_figure(list(scores.values()), bands=[_ceiling_band(s) for s in scores.values()],
                                  highlight=planted, committed=[committed[name] for name in scores])
    write_atomically(out / "summary.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n"))
    write_atomically(out / "layer_profile.png", lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    log.info("demo: wrote %s", out)
    return DemoResult(scores=scores, committed=committed, table=table, summary=summary, out=out)
