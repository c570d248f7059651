"""Benchmark: the study engine's overhead against the same computations called by hand, and a rerun's time.

The study (benchmarks/pipeline_studies.py): the demo's synthetic design with
800 stimuli, scored with cross-validated ridge encoding models (10 folds,
ceiled) on 4 layers of 2 reference networks: 8 scoring tasks of a few seconds.

- **By hand** (the reference, in this process): the same data source and
  stimulus loaders, ``extract`` of each network's 4 layers into memory, and
  ``compare.encoding_score`` of each layer with the analysis' seed — what a
  careful script computes, with no engine.
- **Engine**: ``run_study`` on the synchronous scheduler (one thread, like the
  script), from an empty store to the results folder: planning (model hashes),
  content keys, the store (zarr activations, netCDF scores, atomic renames),
  scheduling and the results folder (no report, which the script does not make).
  Its scores are checked equal to the script's.

Printed: both wall times (best of ``--repeats``, alternating), the engine's
overhead as a share of its time, the mean task time, and the time of a rerun of
the finished study (nothing to compute), with and without writing the report,
after the imports (``--rerun-report``: the first rerun renders the report once).

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_pipeline_overhead.py [--repeats 2]

Measured 2026-12-06 on the shared 2-core machine, the command above: 8 scoring tasks of 4.92 s on
average; by hand 40.77 s (runs 41.55, 40.77), engine 42.25 s (44.78, 42.25): overhead 3.5% of the
study's time.  Rerun of the finished study: 0.14 s without a report; 1.23 s when it renders the
report, 0.12 s once the results folder is up to date.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from pipeline_studies import scoring_study

from neuroalign.compare import encoding_score
from neuroalign.extract import extract
from neuroalign.extract.models import load_model
from neuroalign.pipelines.engine import run_study
from neuroalign.pipelines.sources import load_data_source, load_stimuli
from neuroalign.pipelines.study_files import load_study


def by_hand(config: Path) -> dict:
    study = load_study(config)
    brain = load_data_source(study.data["brain"].model_dump(), source="brain")
    stimuli = load_stimuli(study.stimuli["synthetic"].model_dump(), source="stimuli")
    scores = {}
    for analysis in study.analyses:
        spec = study.models[analysis.model]
        model = load_model(spec.factory, kwargs=spec.args)
        activations = extract(model, stimuli, list(spec.layers), batch_size=spec.batch_size,
                              model_name=analysis.model, progress=False)
        p = analysis.params
        scores[analysis.name] = {layer: encoding_score(activations[layer], brain, regression=p.regression, cv=p.cv,
                                                       seed=study.seed, aggregate=p.aggregate, ceiling=p.ceiling,
                                                       n_ceiling_splits=p.n_ceiling_splits) for layer in spec.layers}
    return scores


def engine(config: Path):
    shutil.rmtree(config.parent / "results", ignore_errors=True)
    return run_study(config, scheduler="synchronous", progress=False, report=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        config = scoring_study(Path(tmp))
        engine(config)  # warm-up: imports and first-call costs, for both contenders
        times = {"by hand": [], "engine": []}
        for _ in range(args.repeats):
            start = time.perf_counter()
            manual = by_hand(config)
            times["by hand"].append(time.perf_counter() - start)
            start = time.perf_counter()
            run = engine(config)
            times["engine"].append(time.perf_counter() - start)
        for name, per_layer in manual.items():
            for layer, score in per_layer.items():
                np.testing.assert_allclose(run.scores[name].values.sel(layer=layer).values, float(score),
                                           rtol=0, atol=1e-12)
        store = run.out / "store"
        task_seconds = [json.loads((store / "tasks" / k / "task.json").read_text())["seconds"] for k in run.computed
                        if run.plan.tasks[k].kind == "score"]
        hand, eng = min(times["by hand"]), min(times["engine"])
        print(f"study: {len(run.plan.tasks)} tasks, {len(task_seconds)} scoring tasks of "
              f"{np.mean(task_seconds):.2f} s on average; scores equal the script's")
        print(f"by hand {hand:.2f} s (runs {', '.join(f'{t:.2f}' for t in times['by hand'])}), engine {eng:.2f} s "
              f"(runs {', '.join(f'{t:.2f}' for t in times['engine'])}): engine overhead "
              f"{(eng - hand) / eng * 100:.1f}% of the study's time")
        start = time.perf_counter()
        again = run_study(config, scheduler="synchronous", progress=False, report=False)
        rerun = time.perf_counter() - start
        start = time.perf_counter()
        run_study(config, scheduler="synchronous", progress=False, report=True)
        first_report = time.perf_counter() - start
        start = time.perf_counter()
        run_study(config, scheduler="synchronous", progress=False, report=True)
        rerun_report = time.perf_counter() - start
        assert again.computed == []
        print(f"rerun of the finished study: {rerun:.2f} s without a report; with the report: "
              f"{first_report:.2f} s the first time (renders it), {rerun_report:.2f} s after (up to date)")


if __name__ == "__main__":
    main()
