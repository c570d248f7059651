"""Results folders for the report tests, laid out as ``neuroalign run`` writes them (pipelines-api, Results folder).

The scores are real: RSA of the synthetic study's layers (a layer profile)
and evaluate_models + pairwise_tests of a few model RDMs (model bars).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
import yaml
from matplotlib.figure import Figure

from neuroalign import Score
from neuroalign.compare import as_rdm, commit_layer, compute_rdm, evaluate_models, pairwise_tests, rsa
from neuroalign.data import save
from neuroalign.datasets.synthetic import make_synthetic_study
from neuroalign.extract import extract

#: A study name a report must escape.
MALICIOUS_NAME = '<script>alert("x")</script>&co'
#: Size in pixels of the family-specific figure (figures/extra_panel.png).
EXTRA_FIGURE_PIXELS = (300, 200)


@dataclass
class Built:
    folder: Path
    scores: dict[str, Score]
    pairwise: Score
    extra_png: bytes
    planted_layer: str


def _layer_scores():
    study = make_synthetic_study(0, n_stimuli=24, n_subjects=2, n_voxels=30)
    activations = extract(study.network, study.stimuli, list(study.layers), progress=False)
    score = rsa(activations, study.brain, n_bootstrap=20, n_splits=2, seed=0)
    committed = commit_layer(activations, study.brain, metric="rsa", n_splits=2, seed=0)
    brain = study.brain.groupby("stimulus_id").mean()
    brain = brain.rename(stimulus_id="presentation").assign_coords(stimulus_id=("presentation", brain.stimulus_id.values))
    return study, activations, score, committed, brain


def _model_scores(seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = [f"img{i:02d}" for i in range(12)]
    truth = rng.random(66)
    models = as_rdm(np.stack([truth + s * rng.random(66) for s in (0.2, 0.6, 3.0)]), ids, form="vector",
                    dims=["model"]).assign_coords(model=["close", "middling", "far"])
    data = as_rdm(truth + 0.3 * rng.normal(size=(5, 66)), ids, form="vector", dims=["subject"])
    score = evaluate_models(models, data, n_bootstrap=50, seed=seed)
    return score, pairwise_tests(score, test="t-test", correction="fdr")


def extra_png() -> bytes:
    import io

    figure = Figure(figsize=(3, 2))
    figure.subplots().plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def build_results(folder: Path, *, name: str = MALICIOUS_NAME) -> Built:
    """A results folder with a layer profile (rsa), model bars (models) and an analysis without score.nc (cka)."""
    study, activations, layer_score, committed, brain = _layer_scores()
    model_score, pairwise = _model_scores()
    config = {
        "name": name, "description": "A <b>tiny</b> study & its report", "seed": 0,
        "analyses": [
            {"name": "rsa", "kind": "rsa", "model": "reference", "stimuli": "synthetic", "brain": "brain",
             "params": {"n_bootstrap": 20}},
            {"name": "models", "kind": "rsa_models", "brain": "rdms", "candidates": ["candidates"]},
            {"name": "cka", "kind": "cka", "model": "reference", "stimuli": "synthetic", "brain": "brain"},
            {"name": "rsa-committed", "kind": "commit_layer", "model": "reference", "stimuli": "synthetic",
             "brain": "brain", "params": {"metric": "rsa", "n_splits": 2}},
        ],
        "outputs": {"dir": str(folder), "report": True},
    }
    results = folder / "results"
    (folder / "study.yaml").parent.mkdir(parents=True, exist_ok=True)
    (folder / "study.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    provenance = {"neuroalign": "0.1.0", "python": "3.11.2", "packages": {"numpy": np.__version__, "dask": "x<y"},
                  "config_file": "/studies/demo.yaml", "config_hash": "abc123",
                  "inputs": {"brain": "0884ef6f79ee990f272f4666043da5f0", "reference": "feedc0ffee"},
                  "scheduler": "threads", "started": "2026-12-06T14:00:00+00:00",
                  "finished": "2026-12-06T14:00:12.5+00:00", "tasks": {"computed": 9, "reused": 3}}
    (folder / "provenance.json").write_text(json.dumps(provenance))
    rsa_dir = results / "rsa"
    rsa_dir.mkdir(parents=True)
    layer_score.save(rsa_dir / "score.nc")
    (rsa_dir / "meta.json").write_text(json.dumps({
        "name": "rsa", "kind": "rsa", "title": "RSA <layer> profile", "model": "reference", "brain": "brain",
        "stimuli": "synthetic", "params": {"n_bootstrap": 20, "n_splits": 2}, "x_dim": "layer",
        "planted_layer": study.planted_layer}))
    rdms = xr.concat([compute_rdm(brain), compute_rdm(activations[study.planted_layer])], dim="rdm", coords="minimal",
                     compat="override")
    save(rdms.assign_coords(rdm=["brain mean", f"layer {study.planted_layer}"]), rsa_dir / "rdms.nc")
    models_dir = results / "models"
    (models_dir / "figures").mkdir(parents=True)
    model_score.save(models_dir / "score.nc")
    pairwise.save(models_dir / "pairwise.nc")
    (models_dir / "meta.json").write_text(json.dumps({"name": "models", "kind": "rsa_models", "title": "Model RDMs",
                                                      "brain": "rdms", "x_dim": "model"}))
    png = extra_png()
    (models_dir / "figures" / "extra_panel.png").write_bytes(png)
    (results / "cka").mkdir()
    (results / "cka" / "meta.json").write_text(json.dumps({"name": "cka", "kind": "cka", "x_dim": "layer"}))
    committed_dir = results / "rsa-committed"
    committed_dir.mkdir()
    committed.save(committed_dir / "score.nc")
    (committed_dir / "meta.json").write_text(json.dumps({
        "name": "rsa-committed", "kind": "commit_layer", "model": "reference", "brain": "brain",
        "stimuli": "synthetic", "params": {"metric": "rsa", "n_splits": 2}, "x_dim": "layer"}))
    scores = {"rsa": layer_score, "models": model_score, "rsa-committed": committed}
    return Built(folder, scores, pairwise, png, study.planted_layer)
