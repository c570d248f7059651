"""Small study configs for the engine's tests, written as real YAML files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

#: A synthetic study small enough for the default suite (the demo's design, fewer stimuli and layers).
SMALL = {"seed": 0, "n_stimuli": 24, "n_subjects": 2, "n_voxels": 30, "n_repetitions": 2}
LAYERS = ["block1", "block3", "fc"]


def small_study(name: str = "small", *, factory: str = "neuroalign.models:ReferenceNet", model_args=None,
                n_bootstrap: int = 20, n_splits: int = 2, kinds=("rsa", "cka"), out: str | Path = "results",
                layers=LAYERS) -> dict:
    """A study dict: the small synthetic study scored with ``kinds`` on ``layers``."""
    analyses = []
    for kind in kinds:
        params = {"n_bootstrap": n_bootstrap, "n_splits": n_splits} if kind in ("rsa", "cka") else \
            {"metric": "rsa", "n_splits": n_splits}
        analyses.append({"name": kind, "kind": kind, "model": "net", "stimuli": "synthetic", "brain": "brain",
                         "params": params})
    return {
        "name": name,
        "seed": 0,
        "stimuli": {"synthetic": {"loader": "synthetic_stimuli",
                                  "args": {"seed": SMALL["seed"], "n_stimuli": SMALL["n_stimuli"]}}},
        "data": {"brain": {"loader": "synthetic_brain", "args": dict(SMALL)}},
        "models": {"net": {"factory": factory, "args": model_args if model_args is not None else {"seed": 0},
                           "layers": list(layers), "batch_size": 8}},
        "analyses": analyses,
        "outputs": {"dir": str(out), "report": False},
    }


def write_study(path: Path, study: dict) -> Path:
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


SLOW_MODEL = textwrap.dedent('''
    """A reference network that sleeps in every forward pass: tasks long enough to be interrupted."""
    import time

    from neuroalign.models import ReferenceNet


    class SlowNet(ReferenceNet):
        def __init__(self, seed=0, delay=0.5):
            super().__init__(seed=seed)
            self.delay = delay

        def forward(self, images):
            time.sleep(self.delay)
            return super().forward(images)
''')


def write_slow_model(folder: Path) -> str:
    """Write the slow model's module into ``folder``; return its factory spec (a file path)."""
    path = folder / "slow_model.py"
    path.write_text(SLOW_MODEL)
    return f"{path}:SlowNet"
