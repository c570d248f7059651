"""The demo and the 92-image study from their YAML files on threads, a local cluster and separate dask processes."""

from __future__ import annotations

import pytest

from neuroalign.pipelines.engine import run_study
from neuroalign.pipelines.study_catalog import find_study

from ._cluster import dask_processes

pytest.importorskip("distributed")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["demo", "kriegeskorte2008-92"])
def test_a_bundled_study_gives_identical_scores_on_every_scheduler(tmp_path, name, shared_data):
    config = find_study(name)
    runs = {"threads": run_study(config, scheduler="threads", out=tmp_path / "threads", progress=False)}
    runs["local-cluster"] = run_study(config, scheduler="local-cluster", workers=2, out=tmp_path / "local-cluster",
                                      progress=False)
    with dask_processes(tmp_path) as address:
        runs["processes"] = run_study(config, scheduler=address, out=tmp_path / "separate", progress=False)
    threads = runs.pop("threads")
    assert threads.computed and (threads.out / "report.html").exists()
    for scheduler, run in runs.items():
        assert len(run.computed) == len(threads.computed), scheduler
        for analysis, score in threads.scores.items():
            assert run.scores[analysis].data.identical(score.data), (scheduler, analysis)
            if score.raw is not None:
                assert run.scores[analysis].raw.identical(score.raw), (scheduler, analysis)
