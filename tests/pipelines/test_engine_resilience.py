"""Real kills and real clusters: kill -9 of the driver, of a worker, two runs at once, separate dask processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from neuroalign.errors import SchedulerError
from neuroalign.pipelines.engine import run_study
from neuroalign.pipelines.store import ResultsStore

from ._cluster import ENV, dask_processes
from ._studies import SMALL, write_slow_model, write_study

pytest.importorskip("distributed")



def two_model_study(folder: Path, factory: str, *, delay: float = 0.3, out: str = "out") -> dict:
    """Two slow models (three batches each) scored with RSA on two layers: 2 extractions, 6 scoring tasks."""
    small = {"seed": 0, "n_stimuli": SMALL["n_stimuli"]}
    models = {name: {"factory": factory, "args": {"seed": seed, "delay": delay}, "layers": ["block1", "fc"],
                     "batch_size": 8} for name, seed in (("a", 0), ("b", 1))}
    analyses = [{"name": f"rsa-{name}", "kind": "rsa", "model": name, "stimuli": "synthetic", "brain": "brain",
                 "params": {"n_bootstrap": 50, "n_splits": 2}} for name in models]
    return {"name": "resilience", "seed": 0,
            "stimuli": {"synthetic": {"loader": "synthetic_stimuli", "args": small}},
            "data": {"brain": {"loader": "synthetic_brain", "args": dict(SMALL)}},
            "models": models, "analyses": analyses,
            "outputs": {"dir": str(folder / out), "report": False}}


@pytest.fixture(scope="module")
def factory(tmp_path_factory):
    """One file for the slow model in every test: a second file of the same name would be another module."""
    return write_slow_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, factory):
    """An uninterrupted run of the study (synchronous, in this process)."""
    folder = tmp_path_factory.mktemp("reference")
    config = write_study(folder / "study.yaml", two_model_study(folder, factory, delay=0.0))
    return run_study(config, scheduler="synchronous", progress=False)


def assert_same_scores(run, reference):
    assert set(run.scores) == set(reference.scores)
    for name, score in reference.scores.items():
        assert run.scores[name].data.identical(score.data), name


def landed(store_path: Path) -> dict[str, tuple[str, int, float]]:
    """label -> (key, inode, mtime) of every finished task folder."""
    found = {}
    tasks = store_path / "tasks"
    for folder in tasks.iterdir() if tasks.exists() else []:
        record = folder / "task.json"
        if record.exists():
            stat = folder.stat()
            found[json.loads(record.read_text())["label"]] = (folder.name, stat.st_ino, stat.st_mtime)
    return found


def test_kill_9_of_the_driver_then_a_rerun_computes_only_unfinished_tasks(tmp_path, reference, factory):
    config = write_study(tmp_path / "study.yaml", two_model_study(tmp_path, factory, delay=0.5))
    driver = subprocess.Popen([sys.executable, "-m", "neuroalign", "run", str(config), "--scheduler", "synchronous",
                               "--no-progress"], cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    store = tmp_path / "out" / "store"
    deadline = time.time() + 120
    while not any(label.startswith("activations:") for label in landed(store)):
        assert driver.poll() is None, driver.stderr.read().decode()
        assert time.time() < deadline
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert driver.returncode == -signal.SIGKILL
    before = landed(store)
    assert 1 <= len(before) < 9  # killed mid-study: some tasks finished, not all

    rerun = run_study(config, scheduler="synchronous", progress=False)
    computed = {rerun.plan.tasks[k].label for k in rerun.computed}
    assert computed == set(rerun.plan.by_label()) - set(before)
    after = landed(store)
    for label, (key, inode, mtime) in before.items():
        assert after[label] == (key, inode, mtime), f"{label} was recomputed"
    assert_same_scores(rerun, reference)


def test_two_runs_of_one_study_at_once_share_the_store_safely(tmp_path, reference, factory):
    config = write_study(tmp_path / "study.yaml", two_model_study(tmp_path, factory, delay=0.2))
    runs = [subprocess.Popen([sys.executable, "-m", "neuroalign", "run", str(config), "--scheduler", "threads",
                              "--no-progress"], cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE) for _ in range(2)]
    for run in runs:
        assert run.wait(timeout=300) == 0, run.stderr.read().decode()
    store = ResultsStore(tmp_path / "out" / "store")
    assert len(store.keys()) == 9 and not list((store.path / "tmp").iterdir())
    final = run_study(config, scheduler="synchronous", progress=False)
    assert final.computed == []
    assert_same_scores(final, reference)


def worker_pids(client) -> dict[str, int]:
    return client.run(os.getpid)


def test_kill_9_of_a_worker_process_mid_run_is_survived(tmp_path, reference, factory):
    from distributed import Client, LocalCluster

    config = write_study(tmp_path / "study.yaml", two_model_study(tmp_path, factory, delay=1.0))
    tmp = tmp_path / "out" / "store" / "tmp"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as client:
        pids = set(worker_pids(client).values())
        result: dict = {}
        thread = threading.Thread(target=lambda: result.update(run=run_study(
            config, scheduler=cluster.scheduler_address, progress=False)))
        thread.start()
        deadline = time.time() + 120
        victim = None
        while victim is None:  # a task of the activations kind running in a worker: kill that worker
            assert time.time() < deadline and thread.is_alive()
            for entry in tmp.iterdir() if tmp.exists() else []:
                pid = int(entry.name.split(".")[1])
                if pid in pids and (entry / "activations.zarr").exists():
                    victim = pid
            time.sleep(0.02)
        os.kill(victim, signal.SIGKILL)
        thread.join(timeout=300)
        assert "run" in result, "the run did not finish after a worker was killed"
        assert victim not in set(worker_pids(client).values())
    assert_same_scores(result["run"], reference)


def test_a_study_on_separately_started_scheduler_and_worker_processes(tmp_path, reference, factory):
    with dask_processes(tmp_path) as address:
        config = write_study(tmp_path / "study.yaml", two_model_study(tmp_path, factory, delay=0.0))
        run = run_study(config, scheduler=address, progress=False)
        assert_same_scores(run, reference)
        assert run.computed and "cluster at tcp://" in json.loads((run.out / "provenance.json").read_text())["scheduler"]

        # a model module the driver can import but the workers cannot: refused before any work
        module = tmp_path / "only_here"
        module.mkdir()
        (module / "private_model.py").write_text("from neuroalign.models import ReferenceNet as Net\n")
        sys.path.insert(0, str(module))
        try:
            study = two_model_study(tmp_path, "private_model:Net", out="private")
            for spec in study["models"].values():
                spec["args"] = {"seed": 0}
            private = write_study(tmp_path / "private.yaml", study)
            with pytest.raises(SchedulerError, match="cannot import the module 'private_model'"):
                run_study(private, scheduler=address, progress=False)
            assert not (tmp_path / "private" / "store" / "tasks").exists() or \
                not list((tmp_path / "private" / "store" / "tasks").iterdir())
        finally:
            sys.path.remove(str(module))
            sys.modules.pop("private_model", None)
