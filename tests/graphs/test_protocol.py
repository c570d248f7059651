"""The validation protocol of generative graph pretraining (issue 12).

The default suite runs a short protocol (one seed, small pools, two epochs) and
checks its table, its determinism (a pool of two processes gives the very same
numbers as one process) and what holds by construction of the simulator (static
FC separates the "static" scenario).  The slow test runs the full protocol and
asserts the criteria of the issue.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.graphs.protocol import ProtocolConfig, evaluate_criteria, plan_tasks, run_validation_protocol
from neuroalign.graphs.protocol_config import METHODS, SCENARIOS
from neuroalign.graphs.protocol_methods import study, task_seeds


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def short_result():
    return run_validation_protocol(ProtocolConfig.short(), progress=False)


def test_short_protocol_table(short_result):
    config, table = short_result.config, short_result.table
    assert list(table.columns) == ["scenario", "method", "variant", "seed", "metric", "value"]
    main = table[table["variant"] == "default"]
    auroc = main[main["metric"] == "auroc"]
    # every scenario x method x seed has exactly one AUROC
    counts = auroc.groupby(["scenario", "method", "seed"]).size()
    assert len(counts) == len(SCENARIOS) * len(METHODS) * len(config.seeds)
    assert (counts == 1).all()
    # R² of the dwell target for A, C and D only
    r2 = main[main["metric"] == "r2_dwell"]
    assert set(r2["method"]) == {"A", "C", "D"}
    assert len(r2) == len(SCENARIOS) * 3 * len(config.seeds)
    # the same pretrained encoder read through the window codes: one A AUROC per scenario and seed
    assert config.embedding == "nodes"
    windows = table[table["variant"] == "embedding=windows"]
    assert set(windows["method"]) == {"A"} and set(windows["metric"]) == {"auroc"}
    assert len(windows) == len(SCENARIOS) * len(config.seeds)
    # ablation rows: method A on the ablation scenario, one per ablation and ablation seed
    ablation = table[~table["variant"].isin(["default", "embedding=windows"])]
    assert set(ablation["method"]) == {"A"} and set(ablation["scenario"]) == {config.ablation_scenario}
    assert len(ablation) == len(config.ablations) * len(config.ablation_seeds)
    assert table["value"].notna().all()
    assert auroc["value"].between(0, 1).all()
    # every criterion is reported, with its numbers
    criteria = short_result.criteria
    assert len(criteria) == 3 + len(METHODS)
    assert criteria["value"].notna().all() and criteria["passed"].notna().all()
    assert criteria["detail"].str.contains("seed 0").all()
    # the xarray view has the same numbers
    data = short_result.to_xarray()
    assert data["auroc"].sizes == {"scenario": 3, "method": 7, "seed": 1}
    first = auroc.iloc[0]
    # (a dict: sel's own ``method`` argument would take method=...)
    cell = data["auroc"].sel({"scenario": first.scenario, "method": first.method, "seed": first.seed})
    assert float(cell) == first.value
    assert "validation protocol" in short_result.report()


def test_static_fc_separates_static_scenario():
    # by construction one group's coupling is stronger in "static": the static FC of 50 training subjects
    # separates 200 test subjects well above chance
    config = ProtocolConfig(scenarios=("static",), seeds=(0,), methods=("C",), n_pretrain=2, ablations=())
    result = run_validation_protocol(config, progress=False)
    value = result.table.query("metric == 'auroc'")["value"].item()
    assert value > 0.75, value


def test_split_is_balanced_and_disjoint():
    config = ProtocolConfig.short()
    s = study(config, "null", 0)
    assert np.bincount(s.group[s.train]).tolist() == [config.n_train // 2] * 2
    assert not set(s.train) & set(s.test)
    assert len(s.train) + len(s.test) == config.n_train + config.n_test
    assert s.pretrain_timeseries.sizes["subject"] == config.n_pretrain
    assert not set(s.pretrain_timeseries["subject"].values) & set(s.subjects)


def test_task_seeds_differ_between_scenarios_and_seeds():
    seeds = {task_seeds(scenario, seed) for scenario in SCENARIOS for seed in range(5)}
    assert len(seeds) == 15
    assert task_seeds("static", 3) == task_seeds("static", 3)


def test_protocol_is_deterministic_and_independent_of_workers(short_result):
    # one scenario of the short protocol (every kind of task) in a pool of two worker processes (tasks in
    # another order, in other processes) gives the numbers of the serial run, bit for bit
    config = ProtocolConfig.short(scenarios=("dynamic-only",))
    parallel = run_validation_protocol(config, n_jobs=2, progress=False)
    serial = short_result.table[short_result.table["scenario"] == "dynamic-only"].reset_index(drop=True)
    pd.testing.assert_frame_equal(parallel.table, serial, check_exact=True)
    # and a second serial run of a task gives the same numbers again
    again = run_validation_protocol(config.replace(methods=("B", "C"), ablations=()), progress=False).table
    expected = serial[serial["method"].isin(["B", "C"]) & (serial["variant"] == "default")].reset_index(drop=True)
    pd.testing.assert_frame_equal(again, expected, check_exact=True)


def test_plan_covers_every_study():
    config = ProtocolConfig()
    tasks = plan_tasks(config)
    kinds = pd.Series([t.kind for t in tasks]).value_counts().to_dict()
    assert kinds == {"ssl": 15, "edge_free": 15, "supervised": 15, "fc": 15, "ablation": 14}
    assert {t.variant for t in tasks if t.kind == "ablation"} == {
        "mask_ratio=0.25", "mask_ratio=0.75", "gamma=1.0", "gamma=3.0", "remask=False", "leak_fix=False",
        "centre=False"}


def _table(values: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    return pd.DataFrame([dict(scenario=sc, method=m, variant="default", seed=i, metric="auroc", value=v)
                         for (sc, m), vs in values.items() for i, v in enumerate(vs)])


def test_criteria_pass_and_fail_with_numbers():
    table = _table({
        ("dynamic-only", "A"): [0.80, 0.80, 0.80, 0.80, 0.80],
        ("dynamic-only", "B"): [0.70, 0.74, 0.76, 0.70, 0.79],   # A - B: .10 .06 .04 .10 .01 -> 3 of 5 wins
        ("dynamic-only", "C"): [0.60, 0.70, 0.70, 0.70, 0.70],   # mean A - C = 0.12
        ("static", "A"): [0.90, 0.90, 0.90, 0.90, 0.90],
        ("static", "C"): [0.97, 0.97, 0.97, 0.97, 0.97],         # A - C = -0.07
        ("null", "A"): [0.45, 0.55, 0.50, 0.60, 0.50],           # mean 0.52, one seed outside
        ("null", "B"): [0.40, 0.40, 0.40, 0.40, 0.40],           # mean 0.40: fails
    })
    criteria = evaluate_criteria(table, ProtocolConfig(methods=("A", "B", "C"))).set_index("criterion")
    first = criteria.loc["dynamic-only: A - B >= 0.05 in >= 80% of seeds"]
    assert first["value"] == 3 and first["threshold"] == 4 and first["passed"] is False
    assert "+0.040" in first["detail"]
    second = criteria.loc["dynamic-only: mean(A - C) >= 0.10"]
    assert second["value"] == pytest.approx(0.12) and second["passed"] is True
    third = criteria.loc["static: |A - C| <= 0.05"]
    assert third["value"] == pytest.approx(-0.07) and third["passed"] is False
    assert criteria.loc["null: A within 0.5 +/- 0.08", "passed"] is True
    assert "1 single seed(s) outside" in criteria.loc["null: A within 0.5 +/- 0.08", "detail"]
    assert criteria.loc["null: B within 0.5 +/- 0.08", "passed"] is False
    # a method that was not run is reported as such, never hidden
    missing = criteria.loc["null: C within 0.5 +/- 0.08"]
    assert missing["passed"] is None and "not run" in missing["detail"]


def test_config_errors():
    with pytest.raises(UnknownNameError, match="scenario"):
        ProtocolConfig(scenarios=("dynamic",))
    with pytest.raises(UnknownNameError, match="method"):
        ProtocolConfig(methods=("A", "H"))
    with pytest.raises(UnknownNameError, match="ablated parameter"):
        ProtocolConfig(ablations=(("hidden", 16),))
    with pytest.raises(ConfigError, match="n_train"):
        ProtocolConfig(n_train=51)
    with pytest.raises(ConfigError, match="window"):
        ProtocolConfig(n_volumes=40)
    with pytest.raises(ConfigError, match="n_jobs"):
        run_validation_protocol(ProtocolConfig.short(), n_jobs=0)
    with pytest.raises(ConfigError, match="config"):
        run_validation_protocol({"seeds": (0,)})


@pytest.fixture(scope="module")
def full_result():
    return run_validation_protocol(ProtocolConfig(), n_jobs=2, progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["dynamic-only", "static", "null"])
def test_full_protocol_meets_the_criteria_of_issue_12(full_result, which):
    # measured with the default config (embedding="nodes"; see docs/graphs.md): dynamic-only A - B >= 0.05 in
    # 4 of 5 seeds and mean A - C +0.32; static mean A - C -0.023; null means 0.489-0.520
    report = full_result.report()
    criteria = full_result.criteria.set_index("criterion")
    assert criteria["passed"].notna().all(), report
    mine = criteria[criteria["scenario"] == which]
    assert len(mine) >= 1, report
    failed = mine.index[~mine["passed"].astype(bool)].tolist()
    assert not failed, f"criteria not met: {failed}\n{report}"


@pytest.mark.slow
def test_window_code_embedding_keeps_its_measured_static_shortfall(full_result):
    # the same pretrained encoders read through the window codes (the variant of A kept in the table): on
    # "static" they fell 0.15 short of static FC (A 0.811 against C 0.956), the reason for embedding="nodes"
    table = full_result.table
    static = table[(table["scenario"] == "static") & (table["metric"] == "auroc")]
    windows = static[(static["method"] == "A") & (static["variant"] == "embedding=windows")]["value"].mean()
    nodes = static[(static["method"] == "A") & (static["variant"] == "default")]["value"].mean()
    fc = static[(static["method"] == "C") & (static["variant"] == "default")]["value"].mean()
    assert fc - windows > 0.05 and abs(fc - nodes) <= 0.05, (windows, nodes, fc)
