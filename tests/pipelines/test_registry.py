"""The benchmark registry: names, valid sources and parameters, and the study configs built from a model + benchmark."""

from __future__ import annotations

import re

import pytest

from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.pipelines.analysis_kinds import ANALYSIS_KINDS
from neuroalign.pipelines.registry import (BENCHMARKS, MODELS, benchmark, benchmark_study, list_benchmarks,
                                           model_entry)
from neuroalign.pipelines.sources import check_source
from neuroalign.pipelines.study_files import study_from_dict

REQUIRED = ("synthetic-planted-rsa", "synthetic-planted-cka", "kriegeskorte2008-hit-rsa", "taskfmri-synthetic-rsa")


def test_the_required_benchmarks_are_named_data_region_metric():
    assert set(REQUIRED) <= set(BENCHMARKS)
    for name, entry in BENCHMARKS.items():
        assert entry.name == name
        assert re.fullmatch(r"[a-z0-9]+-[a-z0-9]+-(rsa|cka|encoding|commit)", name), name
        assert name.rsplit("-", 1)[1] in entry.kind  # the metric in the name is the analysis' metric
        assert entry.metric and entry.ceiling and entry.citation and entry.description and entry.data


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_every_benchmark_has_valid_sources_and_parameters(name):
    entry = BENCHMARKS[name]
    kind = ANALYSIS_KINDS[entry.kind]
    kind.params.model_validate(entry.params)  # unknown keys or wrong values would raise
    check_source(entry.brain, source=f"{name} (brain)", produces="data")
    check_source(entry.stimuli, source=f"{name} (stimuli)", produces="stimuli")
    for candidate, spec in entry.candidates.items():
        check_source(spec, source=f"{name} ({candidate})", produces="data")


def test_the_kriegeskorte_benchmark_is_tau_a_with_a_stimulus_bootstrap():
    entry = benchmark("kriegeskorte2008-hit-rsa")
    assert entry.kind == "rsa_models" and entry.params["method"] == "tau-a"
    assert entry.params["bootstrap"] == "stimulus"
    assert entry.brain == {"loader": "kriegeskorte2008_hit"} and entry.stimuli == {"loader": "kriegeskorte2008_images"}


def test_the_reference_model_entry_names_real_layers():
    from neuroalign.extract.factories import load_factory_model
    from neuroalign.extract.layers import resolve_layers
    from neuroalign.models import REFERENCE_LAYERS

    entry = model_entry("reference-net")
    assert entry.layers == tuple(REFERENCE_LAYERS)
    assert entry.args == {"seed": 0} and entry.preprocessing == {"resize": 32}
    model = load_factory_model(entry.factory, entry.args)
    assert list(resolve_layers(model, list(entry.layers))) == list(REFERENCE_LAYERS)


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_studies_are_valid_study_configs(name, tmp_path):
    config = benchmark_study("reference-net", name)
    study = study_from_dict(config, source="test", base_dir=tmp_path)
    (analysis,) = study.analyses
    assert analysis.name == name and analysis.kind == BENCHMARKS[name].kind
    assert analysis.model == "reference-net" and analysis.brain == "brain" and analysis.stimuli == "stimuli"
    assert study.models["reference-net"].layers == list(MODELS["reference-net"].layers)
    assert study.outputs.dir == f"neuroalign-results/{name}/reference-net"
    for key, value in BENCHMARKS[name].params.items():
        assert getattr(analysis.params, key) == value


def test_a_users_brain_file_replaces_the_benchmarks_data(tmp_path):
    config = benchmark_study("reference-net", "synthetic-planted-rsa", brain_file="mine.nc", out=tmp_path / "out")
    assert config["data"] == {"brain": {"file": "mine.nc"}}
    assert config["stimuli"] == {"stimuli": BENCHMARKS["synthetic-planted-rsa"].stimuli}
    study = study_from_dict(config, source="test", base_dir=tmp_path)
    assert study.data["brain"].file == str(tmp_path / "mine.nc")  # relative to the base folder
    assert study.outputs.dir == str(tmp_path / "out")


def test_a_factory_spec_needs_layers_and_is_named_after_the_factory():
    with pytest.raises(ConfigError, match="--layers"):
        benchmark_study("neuroalign.models:ReferenceNet", "synthetic-planted-rsa")
    config = benchmark_study("neuroalign.models:ReferenceNet", "synthetic-planted-rsa", layers=["fc"],
                             model_args={"seed": 2})
    assert config["models"] == {"ReferenceNet": {"factory": "neuroalign.models:ReferenceNet", "args": {"seed": 2},
                                                 "layers": ["fc"]}}
    assert config["analyses"][0]["model"] == "ReferenceNet"


def test_the_registry_does_not_share_its_dicts_with_the_configs():
    config = benchmark_study("reference-net", "taskfmri-synthetic-rsa")
    config["data"]["brain"]["args"]["seed"] = 99
    config["analyses"][0]["params"]["n_bootstrap"] = 3
    config["models"]["reference-net"]["layers"].append("x")
    assert BENCHMARKS["taskfmri-synthetic-rsa"].brain["args"]["seed"] == 0
    assert BENCHMARKS["taskfmri-synthetic-rsa"].params["n_bootstrap"] == 200
    assert "x" not in MODELS["reference-net"].layers


@pytest.mark.parametrize("call, fragment", [
    (lambda: benchmark_study("reference-net", "kriegeskorte2008-hit-rsaa"), "did you mean 'kriegeskorte2008-hit-rsa'"),
    (lambda: benchmark_study("refrence-net", "synthetic-planted-rsa"), "did you mean 'reference-net'"),
    (lambda: benchmark("synthetic-planted-ck"), "did you mean 'synthetic-planted-cka'"),
])
def test_unknown_names_list_close_matches(call, fragment):
    with pytest.raises(UnknownNameError) as info:
        call()
    assert fragment in str(info.value)


def test_the_listing_has_one_row_per_benchmark():
    table = list_benchmarks()
    assert list(table.columns) == ["name", "data", "metric", "ceiling", "citation"]
    assert table.name.tolist() == list(BENCHMARKS)
