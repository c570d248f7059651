"""Study configs shared by the pipeline benchmarks (not a benchmark itself)."""

from __future__ import annotations

from pathlib import Path

import yaml

#: The synthetic study of the benchmarks: the demo's design with 800 stimuli shown twice (a few seconds per
#: cross-validated encoding model of one layer on one core).
SYNTHETIC = {"seed": 0, "n_stimuli": 800, "n_repetitions": 2}


def scoring_study(folder: Path, *, n_models: int = 2, layers=("block1", "block2", "block3", "block4"),
                  kind: str = "encoding", name: str = "bench", synthetic: dict | None = None) -> Path:
    """``n_models`` reference networks (seeds 0…) × ``layers``: one independent scoring task per model and layer.

    ``kind="encoding"``: ridge regression, 10-fold CV, ceiled (``compare.encoding_score``).
    """
    synthetic = dict(SYNTHETIC if synthetic is None else synthetic)
    models = {f"net{seed}": {"factory": "neuroalign.models:ReferenceNet", "args": {"seed": seed},
                             "layers": list(layers)} for seed in range(n_models)}
    analyses = [{"name": f"{kind}-{model}", "kind": kind, "model": model, "stimuli": "synthetic", "brain": "brain",
                 "params": {"cv": 10} if kind == "encoding" else {}} for model in models]
    study = {"name": name, "seed": 0,
             "stimuli": {"synthetic": {"loader": "synthetic_stimuli",
                                       "args": {"seed": synthetic["seed"], "n_stimuli": synthetic["n_stimuli"]}}},
             "data": {"brain": {"loader": "synthetic_brain", "args": synthetic}},
             "models": models, "analyses": analyses,
             "outputs": {"dir": str(folder / "results"), "report": False}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path
