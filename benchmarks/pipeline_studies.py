"""Study configs shared by the pipeline benchmarks (not a benchmark itself)."""

from __future__ import annotations

from pathlib import Path

import yaml


def scoring_study(folder: Path, *, n_models: int = 2, layers=("block1", "block2", "block3", "block4"),
                  n_bootstrap: int = 2000, name: str = "bench") -> Path:
    """The demo's synthetic study with ``n_models`` reference networks (seeds 0…) × ``layers`` RSA tasks.

    Every (model, layer) scoring task is independent of the others; each runs
    :func:`neuroalign.compare.rsa` with ``n_bootstrap`` stimulus resamples.
    """
    models = {f"net{seed}": {"factory": "neuroalign.models:ReferenceNet", "args": {"seed": seed},
                             "layers": list(layers)} for seed in range(n_models)}
    analyses = [{"name": f"rsa-{model}", "kind": "rsa", "model": model, "stimuli": "synthetic", "brain": "brain",
                 "params": {"n_bootstrap": n_bootstrap, "n_splits": 10}} for model in models]
    study = {"name": name, "seed": 0,
             "stimuli": {"synthetic": {"loader": "synthetic_stimuli", "args": {"seed": 0}}},
             "data": {"brain": {"loader": "synthetic_brain", "args": {"seed": 0}}},
             "models": models, "analyses": analyses,
             "outputs": {"dir": str(folder / "results"), "report": False}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path
