"""The validation protocol of generative graph pretraining, on simulated studies with planted structure.

For each scenario of :func:`neuroalign.datasets.dynamic_fc.simulate_dynamic_fc`
("dynamic-only": the groups differ only in how long they dwell in connectivity
states; "static": one group's coupling is stronger; "null": random labels) and
each seed, a study is simulated: an unlabelled pool for pretraining and a
labelled pool, split into a balanced training set and a test set.  Sliding-window
FC goes through :meth:`~neuroalign.graphs.dataset.ConnectivityGraphs.from_timeseries`,
and seven methods are scored by AUROC on the test subjects (see
:data:`~neuroalign.graphs.protocol_config.METHODS`); A, C and D are also scored
by the R² of the continuous dwell target.  Ablations of A (mask ratio, γ,
re-masking, leak fix) run on "dynamic-only".

:func:`run_validation_protocol` returns the tidy table and the verdict on the
criteria of issue 12, each with its numbers:

- "dynamic-only": A beats B by ≥ 0.05 AUROC in ≥ 4 of 5 seeds (80 % of the seeds);
- "dynamic-only": A beats C by ≥ 0.10 AUROC, mean over seeds;
- "static": A is within 0.05 AUROC of C, mean over seeds;
- "null": every method's AUROC, mean over seeds, is within 0.5 ± 0.08 (the
  number of single seeds outside the band is reported too).
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from tqdm.auto import tqdm

from ..data import provenance
from ..errors import ConfigError
from .protocol_config import METHODS, SCENARIOS, ProtocolConfig
from .protocol_methods import Task, run_task

__all__ = ["run_validation_protocol", "evaluate_criteria", "plan_tasks", "ProtocolResult", "ProtocolConfig"]

log = logging.getLogger(__name__)

_COLUMNS = ["scenario", "method", "variant", "seed", "metric", "value"]


@dataclass
class ProtocolResult:
    """The outcome of :func:`run_validation_protocol`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scenario, method, variant (``"default"`` or the ablation,
        e.g. ``"gamma=1.0"``), seed and metric (``"auroc"``, ``"r2_dwell"``).
    criteria : pandas.DataFrame
        One row per criterion: ``criterion``, ``scenario``, ``value``,
        ``threshold``, ``passed`` (None when a method or scenario it needs was
        not run) and ``detail`` (the per-seed numbers).
    config : ProtocolConfig
    seconds : float
        Wall time of the run.
    attrs : dict
        Provenance (:func:`neuroalign.data.provenance`).
    """

    table: pd.DataFrame
    criteria: pd.DataFrame
    config: ProtocolConfig
    seconds: float
    attrs: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every criterion that could be judged passed (and at least one could)."""
        judged = self.criteria["passed"].dropna()
        return bool(len(judged)) and bool(judged.astype(bool).all())

    def summary(self) -> pd.DataFrame:
        """Mean, standard deviation and number of seeds per scenario, method, variant and metric."""
        grouped = self.table.groupby(["scenario", "method", "variant", "metric"], sort=False)["value"]
        return grouped.agg(["mean", "std", "count"]).reset_index()

    def to_xarray(self) -> xr.Dataset:
        """The default variants as an ``xr.Dataset``: one variable per metric over (scenario, method, seed).

        A (scenario, method, seed) cell a method does not score (e.g. R² for B)
        is NaN; the table itself has no such rows.
        """
        main = self.table[self.table["variant"] == "default"]
        data = main.set_index(["metric", "scenario", "method", "seed"])["value"].to_xarray()
        out = data.to_dataset(dim="metric")
        out.attrs.update(self.attrs)
        return out

    def report(self) -> str:
        """The summary table and the criteria as text."""
        pd_options = ("display.width", 200, "display.max_columns", 20, "display.max_rows", 500)
        with pd.option_context(*pd_options):
            lines = [f"validation protocol: {self.seconds:.1f} s", "", self.summary().round(3).to_string(index=False),
                     "", self.criteria.drop(columns="detail").round(3).to_string(index=False), ""]
            lines += [f"{row.criterion}: {row.detail}" for row in self.criteria.itertuples()]
        return "\n".join(lines)


def plan_tasks(config: ProtocolConfig) -> list[Task]:
    """The tasks of a protocol, in the order they are submitted (the tasks of one study together)."""
    methods = set(config.methods)
    tasks = []
    studies = [(scenario, seed) for scenario in config.scenarios for seed in config.seeds]
    studies += [(config.ablation_scenario, seed) for seed in config.ablation_seeds if config.ablations
                and (config.ablation_scenario, seed) not in studies]
    for scenario, seed in studies:
        main = scenario in config.scenarios and seed in config.seeds
        if main and methods & {"A", "B", "F"}:
            tasks.append(Task(scenario, seed, "ssl"))
        if main and "G" in methods:
            tasks.append(Task(scenario, seed, "edge_free"))
        if main and "E" in methods:
            tasks.append(Task(scenario, seed, "supervised"))
        if scenario == config.ablation_scenario and seed in config.ablation_seeds:
            for name, value in config.ablations:
                tasks.append(Task(scenario, seed, "ablation", f"{name}={value}", ((name, value),)))
        if main and methods & {"C", "D"}:
            tasks.append(Task(scenario, seed, "fc"))
    return tasks


def run_validation_protocol(config: ProtocolConfig | None = None, *, n_jobs: int = 1, threads: int = 1,
                            progress: bool = True) -> ProtocolResult:
    """Run the validation protocol and judge its criteria.

    Parameters
    ----------
    config : ProtocolConfig, optional
        The settings; default ``ProtocolConfig()``, the full protocol (3
        scenarios × 5 seeds × 7 methods, ablations on 2 seeds).
        ``ProtocolConfig.short()`` is a quick version that checks the path.
    n_jobs : int
        Worker processes (each runs whole tasks with ``threads`` torch
        threads).  The numbers do not depend on it: every task is seeded by its
        scenario and seed alone.
    threads : int
        torch and BLAS threads per process (1 is fastest for these small models).
    progress : bool
        Show a progress bar over the tasks.

    Returns
    -------
    ProtocolResult
        ``.table`` (tidy), ``.criteria`` (pass/fail with numbers), ``.summary()``.

    Examples
    --------
    >>> from neuroalign.graphs.protocol import ProtocolConfig, run_validation_protocol
    >>> config = ProtocolConfig.short(scenarios=("static",), methods=("C",), ablations=())
    >>> result = run_validation_protocol(config, progress=False)
    >>> sorted(set(result.table["method"]))
    ['C']
    """
    config = ProtocolConfig() if config is None else config
    if not isinstance(config, ProtocolConfig):
        raise ConfigError(f"config is a {type(config).__name__}, not a ProtocolConfig", source="config",
                          fix="pass ProtocolConfig(...) or ProtocolConfig.short(...)")
    for name, value in (("n_jobs", n_jobs), ("threads", threads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}={value!r} is not a positive whole number", source=name,
                              fix=f"pass an int >= 1 as {name}")
    tasks = plan_tasks(config)
    start = time.perf_counter()
    bar = tqdm(total=len(tasks), desc="validation protocol", unit="task", disable=not progress)
    rows: list[dict[str, Any]] = []
    try:
        if n_jobs == 1:
            with _torch_threads(threads):
                for task in tasks:
                    rows += run_task(task, config)
                    bar.update()
        else:
            context = multiprocessing.get_context("spawn")  # no fork of a process with torch's thread pools
            with ProcessPoolExecutor(max_workers=min(n_jobs, len(tasks)), mp_context=context,
                                     initializer=_init_worker, initargs=(threads,)) as pool:
                futures = [pool.submit(run_task, task, config) for task in tasks]
                for future in as_completed(futures):
                    rows += future.result()
                    bar.update()
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    table = _tidy(rows, config)
    criteria = evaluate_criteria(table, config)
    attrs = provenance(dict(config.to_dict(), n_jobs=n_jobs, threads=threads))
    log.info("validation protocol: %d tasks in %.1f s", len(tasks), seconds)
    return ProtocolResult(table, criteria, config, seconds, attrs)


def evaluate_criteria(table: pd.DataFrame, config: ProtocolConfig | None = None) -> pd.DataFrame:
    """The criteria of issue 12 judged on a protocol's table (default-variant AUROCs).

    Parameters
    ----------
    table : pandas.DataFrame
        ``ProtocolResult.table`` (columns scenario, method, variant, seed, metric, value).
    config : ProtocolConfig, optional
        Only used for the list of methods of the null criterion (default: those in the table).

    Returns
    -------
    pandas.DataFrame
        One row per criterion (see :class:`ProtocolResult`).

    Examples
    --------
    >>> import pandas as pd
    >>> from neuroalign.graphs.protocol import evaluate_criteria
    >>> rows = [dict(scenario="static", method=m, variant="default", seed=0, metric="auroc", value=v)
    ...         for m, v in (("A", 0.90), ("C", 0.93))]
    >>> evaluate_criteria(pd.DataFrame(rows)).set_index("criterion").loc["static: |A - C| <= 0.05", "passed"]
    True
    """
    auroc = table[(table["variant"] == "default") & (table["metric"] == "auroc")]
    per_seed = {key: group.set_index("seed")["value"] for key, group in auroc.groupby(["scenario", "method"])}
    rows = []

    def paired(scenario: str, a: str, b: str) -> pd.Series | None:
        if (scenario, a) not in per_seed or (scenario, b) not in per_seed:
            return None
        return (per_seed[scenario, a] - per_seed[scenario, b]).dropna()

    def seeds_text(values: pd.Series) -> str:
        return ", ".join(f"seed {seed}: {value:+.3f}" for seed, value in values.items())

    diff = paired("dynamic-only", "A", "B")
    if diff is None or diff.empty:
        rows.append(_row("dynamic-only: A - B >= 0.05 in >= 80% of seeds", "dynamic-only", None, None, None,
                         "not run: needs methods A and B on 'dynamic-only'"))
    else:
        need = math.ceil(0.8 * len(diff) - 1e-9)
        wins = int((diff >= 0.05).sum())
        rows.append(_row("dynamic-only: A - B >= 0.05 in >= 80% of seeds", "dynamic-only", wins, need,
                         wins >= need, f"{wins} of {len(diff)} seeds (need {need}); A - B: {seeds_text(diff)}"))
    diff = paired("dynamic-only", "A", "C")
    rows.append(_mean_row("dynamic-only: mean(A - C) >= 0.10", "dynamic-only", diff, 0.10,
                          lambda m: m >= 0.10, "A - C", seeds_text))
    diff = paired("static", "A", "C")
    rows.append(_mean_row("static: |A - C| <= 0.05", "static", diff, 0.05, lambda m: abs(m) <= 0.05, "A - C",
                          seeds_text))
    methods = list(config.methods) if config is not None else sorted(set(auroc["method"]))
    for method in methods:
        values = per_seed.get(("null", method))
        name = f"null: {method} within 0.5 +/- 0.08"
        if values is None or values.dropna().empty:
            rows.append(_row(name, "null", None, 0.08, None, f"not run: needs method {method} on 'null'"))
            continue
        mean = float(values.mean())
        outside = int(((values - 0.5).abs() > 0.08).sum())
        rows.append(_row(name, "null", mean, 0.08, abs(mean - 0.5) <= 0.08,
                         f"mean {mean:.3f} over {len(values)} seeds; {outside} single seed(s) outside the band; "
                         f"AUROC: " + ", ".join(f"seed {s}: {v:.3f}" for s, v in values.items())))
    return pd.DataFrame(rows, columns=["criterion", "scenario", "value", "threshold", "passed", "detail"])


def _row(criterion, scenario, value, threshold, passed, detail) -> dict:
    return dict(criterion=criterion, scenario=scenario, value=np.nan if value is None else float(value),
                threshold=np.nan if threshold is None else float(threshold), passed=passed, detail=detail)


def _mean_row(name, scenario, diff, threshold, test, label, seeds_text) -> dict:
    if diff is None or diff.empty:
        return _row(name, scenario, None, threshold, None, f"not run: needs methods {label} on {scenario!r}")
    mean = float(diff.mean())
    return _row(name, scenario, mean, threshold, bool(test(mean)),
                f"mean {mean:+.3f} over {len(diff)} seeds; {label}: {seeds_text(diff)}")


def _tidy(rows: list[dict[str, Any]], config: ProtocolConfig) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=_COLUMNS)
    order = {"scenario": list(SCENARIOS), "method": list(METHODS), "metric": ["auroc", "r2_dwell"]}
    keys = table.assign(**{k: table[k].map({v: i for i, v in enumerate(vs)}) for k, vs in order.items()},
                        _ablation=table["variant"] != "default")
    keys = keys.sort_values(["_ablation", "scenario", "method", "variant", "metric", "seed"], kind="stable")
    return table.loc[keys.index].reset_index(drop=True)


def _init_worker(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)


class _torch_threads:
    def __init__(self, threads: int):
        self.threads = threads

    def __enter__(self):
        from threadpoolctl import threadpool_limits

        self.previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        self.limits = threadpool_limits(self.threads)
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self.previous)
        self.limits.restore_original_limits()
        return False
