"""Shared fixtures: where the real data of ../shared/data lies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# The default suite replays the same generated examples on every run, so CI's verdict depends on the code
# only; HYPOTHESIS_PROFILE=fuzz draws new ones (and more): python -m pytest -m "slow or not slow" with it.
settings.register_profile("replay", derandomize=True)
settings.register_profile("fuzz", derandomize=False, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "replay"))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NEUROALIGN_DATA") or REPO.parent / "shared" / "data").resolve()
# the data home of neuroalign.datasets.fetchers for the whole run: docstring and docs examples call fetch()
os.environ["NEUROALIGN_DATA"] = str(SHARED_DATA)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public datasets described in ../shared/data/README.md."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real data folder {SHARED_DATA} is missing; set NEUROALIGN_DATA")
    return SHARED_DATA


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


@pytest.fixture
def one_torch_thread():
    """torch on one thread during the test (small models train many times faster here), restored afterwards."""
    from neuroalign.fitting.base import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run the ``neuroalign`` command: ``cli(*args, cwd=..., real=True)`` in a subprocess (see tests/cli_runner.py)."""
    from .cli_runner import make_runner

    return make_runner(capsys, monkeypatch)
