"""Benchmark: one study of 8 independent model × layer tasks, 2 worker processes vs the synchronous scheduler.

The study (benchmarks/pipeline_studies.py): the demo's synthetic design with
800 stimuli, scored with cross-validated ridge encoding models (10 folds,
ceiled: ``compare.encoding_score``) on 4 layers of ``--models`` reference
networks (default 4): 16 independent scoring tasks of a few seconds each, 4
extractions, 1 data task and 4 combining tasks.  (RSA with tens of thousands of bootstrap resamples would
make the tasks as long, but it is bound by memory bandwidth, which two
processes on one machine share.)  Each contender runs the whole study on an empty results
store, from the driver's first line to the results folder (planning, a local
cluster's start-up and its workers' imports included; no report), after one
tiny warm-up study that pays the driver's own imports.  Every
worker gets one BLAS/torch thread; the synchronous scheduler runs in this
process with one thread.  The scores of every contender are checked identical
to the synchronous run's.

Contenders: ``synchronous``; ``processes`` (Dask's multiprocessing scheduler,
2 processes); ``local-cluster`` (``dask.distributed.LocalCluster``, 2 worker
processes × 1 thread).  Printed: each wall time (best of ``--repeats``), and the
speed-up of each over the synchronous scheduler.

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_pipeline_workers.py [--repeats 2] [--models 4]

Measured 2026-12-06 on the 2-core machine, quiet (load average below 1), the command above with the
defaults, two runs of it (best of 2 each):

- synchronous 84.0 s, processes 48.7 s = 1.72x, local cluster 50.8 s = 1.66x;
- synchronous 81.7 s, processes 46.1 s = 1.77x, local cluster 51.9 s = 1.57x.

The processes pool starts both workers at once, each importing the steps' libraries while the
first task runs; before that change the second worker spawned and imported (4-6 s) only when
dependent tasks were ready, and earlier runs gave processes 1.63-1.85x and the local cluster
1.58-1.67x.  In a timeline of one processes run (task start times and durations from the store),
the first task starts 3.4 s after the run begins (the fresh processes' start-up and imports, which
the synchronous scheduler, running in the warm driver, does not pay); from then on both workers stay
busy until the last combining task; the tasks' own seconds sum to 88.9 s over 50.4 s.  The local
cluster also pays the cluster's start-up.  With 2 models (8 tasks) the fixed costs weigh more on a
shorter study: processes 1.44-1.85x and local cluster 1.49x over runs on a busier machine.  Before
the local cluster's workers dropped Dask's MALLOC_TRIM_THRESHOLD_ the same 8-task study gave 1.14x.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

from pipeline_studies import scoring_study

from neuroalign.pipelines.engine import run_study


def one_run(config: Path, scheduler: str, workers: int | None):
    shutil.rmtree(config.parent / "results", ignore_errors=True)
    start = time.perf_counter()
    run = run_study(config, scheduler=scheduler, workers=workers, progress=False, report=False)
    return time.perf_counter() - start, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", type=int, default=4, help="networks, 4 layers each (default 4: 16 tasks)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    contenders = {"synchronous": ("synchronous", None), "processes": ("processes", 2),
                  "local-cluster": ("local-cluster", 2)}
    with tempfile.TemporaryDirectory() as tmp:
        warm_up = Path(tmp) / "warm-up"
        warm_up.mkdir()
        tiny = {"seed": 0, "n_stimuli": 40, "n_repetitions": 2}
        one_run(scoring_study(warm_up, synthetic=tiny), "synchronous", None)  # the driver's imports, once
        config = scoring_study(Path(tmp), n_models=args.models)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        reference = None
        for _ in range(args.repeats):  # contenders alternate, so a disturbance hits all of them alike
            for name, (scheduler, workers) in contenders.items():
                seconds, run = one_run(config, scheduler, workers)
                times[name].append(seconds)
                tasks = sum(run.plan.tasks[k].kind == "score" for k in run.computed)
                if reference is None:
                    reference = run.scores
                for analysis, score in run.scores.items():
                    assert score.data.identical(reference[analysis].data), (name, analysis)
        print(f"study: {tasks} independent model x layer encoding tasks (ridge, 10-fold CV, 800 stimuli), "
              f"{len(run.plan.tasks)} tasks in all; scores identical across schedulers")
        base = min(times["synchronous"])
        for name, values in times.items():
            best = min(values)
            print(f"{name:>14}: {best:6.1f} s (runs: {', '.join(f'{v:.1f}' for v in values)})  "
                  f"speed-up over synchronous {base / best:.2f}x")


if __name__ == "__main__":
    main()
