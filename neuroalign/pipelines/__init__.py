"""Whole studies: configuration in, scores and reports out.

A study config (YAML) is read and checked by :func:`load_study`, run as a Dask
task graph by :func:`run_study` (resumable: results are stored under content
keys), and reported by :func:`write_report`; named benchmarks live in
:mod:`.registry`.  The pipelines import torch and the scoring code, so names
are imported on first use (``from neuroalign.pipelines import run_study`` works
as usual): reading and checking a configuration stays fast.
"""

from __future__ import annotations

from .._lazy import lazy_exports

__all__ = ["DemoResult", "run_demo", "run_metamer_study", "run_graph_pretraining", "StudyRun", "run_study",
           "describe_plan", "load_study", "study_from_dict", "find_study", "list_studies", "write_report",
           "load_scores", "BENCHMARKS", "MODELS", "benchmark_study", "list_benchmarks", "ResultsStore"]

#: Where each public name lives, imported when it is first used.
_LAZY = {"DemoResult": ".demo", "run_demo": ".demo", "run_metamer_study": ".metamer_study",
         "run_graph_pretraining": ".graph_pretraining", "StudyRun": ".engine", "run_study": ".engine",
         "describe_plan": ".engine", "load_study": ".study_files", "study_from_dict": ".study_files",
         "find_study": ".study_catalog", "list_studies": ".study_catalog", "write_report": ".report",
         "load_scores": ".report", "BENCHMARKS": ".registry", "MODELS": ".registry",
         "benchmark_study": ".registry", "list_benchmarks": ".registry", "ResultsStore": ".store"}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
