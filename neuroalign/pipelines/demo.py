"""The main job: score every layer of the reference network against synthetic brain data.

``neuroalign demo`` runs :func:`run_demo`: it builds the embedded synthetic
study (brain responses planted from one layer of
:class:`neuroalign.models.ReferenceNet`), extracts every layer, scores them with
RSA and linear CKA (bootstrap CIs and split-half ceilings), commits each metric
to one layer chosen on half of the stimuli and scored on the other half
(:func:`neuroalign.compare.commit_layer`), and writes a table, a summary and a
figure.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..compare import cka_sweep, commit_layer, rsa
from ..data.io import write_atomically
from ..data.provenance import provenance
from ..datasets.synthetic import make_synthetic_study
from ..extract import extract
from ..plot import layer_profile_figure
from ..score import Score

__all__ = ["DemoResult", "run_demo", "SCORE_COLUMNS"]

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


def _committed_rows(committed: dict[str, Score]) -> pd.DataFrame:
    """One row per metric: the committed score, under the layer chosen most often."""
    return pd.concat([s.to_dataframe().assign(metric=f"{name}-committed", layer=s.params["layer"])
                      for name, s in committed.items()], ignore_index=True)


def _commitment_summary(score: Score, sweep: Score) -> dict:
    layers, counts = np.unique(score.raw["chosen_layer"].values.astype(str), return_counts=True)
    error = None if score.error is None else float(score.error)
    return {"score": float(score), "error": error, "layer": score.params["layer"],
            "chosen_layers": {str(k): int(v) for k, v in zip(layers, counts)},
            "naive_best_score": float(sweep.values.max()), "n_splits": score.params["n_splits"],
            "test_size": score.params["test_size"]}


def run_demo(
    seed: int = 0,
    out: str | Path = "neuroalign-demo",
    *,
    n_bootstrap: int = 200,
    n_splits: int = 10,
    progress: bool = True,
) -> DemoResult:
    """Run the demo study and write ``scores.csv``, ``summary.json`` and ``layer_profile.png``.

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
    out = Path(out)
    steps = tqdm(total=4, desc="demo", disable=not progress)
    study = make_synthetic_study(seed)
    steps.update()
    activations = extract(study.network, study.stimuli, list(study.layers), progress=progress)
    steps.update()
    scores = {
        "rsa": rsa(activations, study.brain, n_bootstrap=n_bootstrap, n_splits=n_splits, seed=seed),
        "cka": cka_sweep(activations, study.brain, n_bootstrap=n_bootstrap, n_splits=n_splits, seed=seed),
    }
    committed = {name: commit_layer(activations, study.brain, metric=name, n_splits=n_splits, seed=seed)
                 for name in scores}
    steps.update()
    table = pd.concat([s.to_dataframe().assign(metric=name) for name, s in scores.items()]
                      + [_committed_rows(committed)], ignore_index=True)
    table = table[Score.columns(["layer"], present=table.columns)]
    best = {name: str(s.values.idxmax("layer").item()) for name, s in scores.items()}
    summary = {
        "planted_layer": study.planted_layer,
        "best_layer": best,
        "recovered": all(layer == study.planted_layer for layer in best.values()),
        "committed": {name: _commitment_summary(s, scores[name]) for name, s in committed.items()},
        "metrics": {name: s.metric for name, s in scores.items()},
        "provenance": provenance({"seed": seed, "n_bootstrap": n_bootstrap, "n_splits": n_splits,
                                  **study.params}, {"brain": study.brain}),
    }
    figure = layer_profile_figure(list(scores.values()), bands=[_ceiling_band(s) for s in scores.values()],
                                  highlight=study.planted_layer, committed=[committed[name] for name in scores])
    write_atomically(out / "scores.csv", lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))
    write_atomically(out / "summary.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n"))
    write_atomically(out / "layer_profile.png", lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    steps.update()
    steps.close()
    log.info("demo: wrote %s", out)
    return DemoResult(scores=scores, committed=committed, table=table, summary=summary, out=out)
