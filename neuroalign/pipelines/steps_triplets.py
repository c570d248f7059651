"""Pipeline steps of triplet (odd-one-out) studies.

:func:`judgements_layer` scores one layer of a model on human triplet
judgements read from a file (:func:`neuroalign.triplets.score_triplets`); the
file's contents are part of the task's key (:func:`judgements_fingerprint`).
:func:`rdm_implied` scores candidate RDMs (fixed model RDMs, and/or a model's
layer RDMs) on the RDM-implied odd-one-out choices of every subject's
similarity-judgement RDM (:func:`neuroalign.triplets.rdm_choices.score_rdm_implied`),
with the leave-one-subject-out ceiling, and keeps the candidates' RDMs and a
figure of the chance-normalised scores for the report.
"""

from __future__ import annotations

from pathlib import Path

from .plan import Task
from .steps_data import read_activations, read_array
from .steps_scores import candidate_rdms, save_rdms, stack_candidates
from .store import ResultsStore

__all__ = ["rdm_implied", "judgements_layer", "judgements_fingerprint"]


def rdm_implied(task: Task, store: ResultsStore, out: Path) -> None:
    """Score every candidate on each subject's RDM-implied choices; write ``score.nc``, ``rdms.nc`` and a figure."""
    from ..triplets.rdm_choices import score_rdm_implied

    p = task.params["params"]
    behaviour = read_array(store, task.inputs["brain"])
    names, rdms = candidate_rdms(task, store, p["rdm_method"])
    score = score_rdm_implied(stack_candidates(names, rdms), behaviour, resample=p["resample"],
                              n_bootstrap=p["n_bootstrap"], ci_level=p["ci_level"], seed=p["seed"])
    score.save(out / "score.nc")
    save_rdms(list(rdms), names, out)
    _normalised_figure(score, out / "figures" / "normalised.png")


def _normalised_figure(score, path: Path) -> None:
    """Bars of each candidate's chance-normalised agreement, (raw − 1/3)/(ceiling − 1/3)."""
    from matplotlib.figure import Figure

    normalised = score.raw["normalised"]
    names = [str(m) for m in normalised["model"].values]
    figure = Figure(figsize=(max(4.0, 0.45 * len(names) + 1.5), 3.2), layout="constrained")
    axes = figure.add_subplot()
    axes.bar(range(len(names)), normalised.values, color="tab:blue")
    axes.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    axes.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="ceiling (other subjects)")
    axes.set_ylabel("(agreement − 1/3) / (ceiling − 1/3)")
    axes.set_title("RDM-implied odd-one-out choices", fontsize=10)
    axes.legend(fontsize=8, loc="upper right")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


def judgements_fingerprint(params: dict) -> dict:
    """The contents of the judgements file (and of an id-map file) that a ``triplets`` analysis reads."""
    from ..data.provenance import hash_file
    from ..errors import FileFormatError

    files = {}
    for key in ("judgements", "stimulus_ids"):
        path = params.get(key)
        if path is None:
            continue
        if not Path(path).is_file():
            raise FileFormatError(f"the {key} file does not exist", source=str(path),
                                  fix="check the path (relative to the study config)")
        files[key] = {"name": Path(path).name, "sha256": hash_file(path)}
    return {"files": files}


def judgements_layer(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.triplets.score_triplets` of one layer on the judgements file; ``score.nc`` with a layer dim."""
    from ..loaders import load_triplets
    from ..score import Score
    from ..triplets.scoring import score_triplets

    p, layer = task.params["params"], task.params["layer"]
    judgements = load_triplets(p["judgements"], odd_one=p["odd_one"], stimulus_ids=p["stimulus_ids"],
                               object_base=p["object_base"])
    activations = read_activations(store, task.inputs["activations"], [layer])[layer]
    score = score_triplets(activations, judgements, similarity=p["similarity"], resample=p["resample"],
                           n_bootstrap=p["n_bootstrap"], ci_level=p["ci_level"], seed=p["seed"])
    Score.concat([score], "layer", [layer]).save(out / "score.nc")
