"""Representation analyses as study kinds: each study's score equals the analysis function called by hand."""

from __future__ import annotations

import numpy as np
import pytest

from neuroalign.compare.matching.neuron_matching import matching_profile
from neuroalign.compare.matching.relative_stitching import zero_shot_stitching
from neuroalign.datasets.kriegeskorte2008 import load_images
from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.extract import Resize, extract
from neuroalign.geometry.abstraction import ccgp, parallelism_score, shattering_dimensionality
from neuroalign.geometry.activation_codes import layer_code_statistics
from neuroalign.geometry.information.layers import layer_information
from neuroalign.geometry.sparsity import layer_sparsity
from neuroalign.models import ReferenceNet
from neuroalign.pipelines.engine import run_study
from neuroalign.pipelines.plan import plan_study
from neuroalign.pipelines.study_files import resolved_yaml, study_from_dict

from ._studies import small_study, write_study

LAYERS = ["block3", "fc"]


def _study(out, analyses, layers=LAYERS) -> dict:
    model = {"factory": "neuroalign.models:ReferenceNet", "layers": list(layers), "preprocessing": {"resize": 32}}
    return {"name": "representations", "seed": 0,
            "stimuli": {"images": {"loader": "kriegeskorte2008_images"}},
            "models": {"a": {**model, "args": {"seed": 0}}, "b": {**model, "args": {"seed": 1}}},
            "analyses": analyses, "outputs": {"dir": str(out), "report": False}}


ANALYSES = [
    {"name": "sparsity", "kind": "sparsity", "model": "a", "stimuli": "images"},
    {"name": "codes", "kind": "activation_codes", "model": "a", "stimuli": "images", "params": {"label": "animate"}},
    {"name": "abstraction", "kind": "abstraction", "model": "a", "stimuli": "images",
     "params": {"factors": ["human", "face"], "max_splits": 4}},
    {"name": "information", "kind": "information", "model": "a", "stimuli": "images",
     "params": {"label": "animate", "method": "adaptive-binning", "bins": 8, "units": "bits"}},
    {"name": "matching", "kind": "neuron_matching", "model": "a", "reference_model": "b", "stimuli": "images",
     "params": {"n_permutations": 10, "constant": "drop"}},
    {"name": "stitching", "kind": "relative_stitching", "model": "a", "reference_model": "b", "stimuli": "images",
     "params": {"label": "animate", "anchors": 20}},
]


@pytest.fixture(scope="module")
def activations():
    """The two networks' activations on the 92 images, extracted by hand."""
    images = load_images()
    return {name: extract(ReferenceNet(seed=seed), images, LAYERS, preprocess=Resize(32), model_name=name,
                          progress=False) for name, seed in (("a", 0), ("b", 1))}


def _close(got, expected):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(expected, dtype=float), rtol=0, atol=1e-12)


def test_each_kind_equals_its_function_by_hand_and_reruns_reuse_every_task(tmp_path, shared_data, activations):
    config = write_study(tmp_path / "study.yaml", _study(tmp_path / "out", ANALYSES))
    run = run_study(config, scheduler="synchronous", progress=False)
    scores = run.scores
    a, b = activations["a"], activations["b"]
    for layer in LAYERS:
        x, y = a[layer], b[layer]
        expected = layer_sparsity({layer: x})
        got = scores["sparsity"]
        assert got.values.dims == ("layer", "measure")
        _close(got.values.sel(layer=layer), expected.values.sel(layer=layer))
        _close(got.error.sel(layer=layer), expected.error.sel(layer=layer))
        _close(got.raw.sel(layer=layer), expected.raw.sel(layer=layer))

        expected = layer_code_statistics({layer: x}, label="animate")
        assert "hamming_within" in scores["codes"].values.statistic.values
        _close(scores["codes"].values.sel(layer=layer), expected.values.sel(layer=layer))

        got = scores["abstraction"].values.sel(layer=layer)
        c = ccgp(x, ["human", "face"], max_splits=4, random_state=0)
        ps = parallelism_score(x, ["human", "face"])
        sd = shattering_dimensionality(x, ["human", "face"], random_state=0)
        assert list(got.measure.values) == ["ccgp:human", "ccgp:face", "parallelism:human", "parallelism:face",
                                            "shattering_dimensionality"]
        _close(got.values, [*c.values.values, *ps.values.values, float(sd)])

        expected = layer_information(x, "animate", method="adaptive-binning", bins=8, units="bits")
        _close(scores["information"].values.sel(layer=layer).values, expected.values)

        expected = matching_profile({layer: x}, {layer: y}, n_permutations=10, constant="drop", random_state=0,
                                    progress=False)
        _close(scores["matching"].values.sel(layer=layer), expected.values.sel(layer=layer))
        _close(scores["matching"].raw.baseline.sel(layer=layer), expected.raw.baseline.sel(layer=layer))

        source = x.assign_coords(label=("presentation", x["animate"].values))
        expected = zero_shot_stitching(source, y, anchors=20, random_state=0)
        _close(scores["stitching"].values.sel(layer=layer), expected.values)
    assert list(scores["sparsity"].values.layer.values) == LAYERS

    again = run_study(config, scheduler="synchronous", progress=False)
    assert again.computed == [] and sorted(again.reused) == sorted(run.plan.tasks)


def test_reference_layer_and_one_extraction_per_model(tmp_path, shared_data, activations):
    analyses = [{"name": "to-fc", "kind": "neuron_matching", "model": "a", "reference_model": "b",
                 "stimuli": "images", "params": {"n_permutations": 3, "reference_layer": "fc", "constant": "drop"}},
                {"name": "codes", "kind": "activation_codes", "model": "a", "stimuli": "images"}]
    study = study_from_dict(_study(tmp_path / "out", analyses), source="test", base_dir=tmp_path)
    plan = plan_study(study)
    assert sorted(t.label for t in plan.tasks.values() if t.kind == "activations") == \
        ["activations:a@images", "activations:b@images"]
    run = run_study(study, scheduler="synchronous", progress=False)
    a, b = activations["a"], activations["b"]
    for layer in LAYERS:   # every layer of a against b's fc
        expected = matching_profile({layer: a[layer]}, {layer: b["fc"]}, n_permutations=3, constant="drop",
                                    random_state=0, progress=False)
        _close(run.scores["to-fc"].values.sel(layer=layer), expected.values.sel(layer=layer))


def test_a_missing_coordinate_names_the_analysis_the_coord_and_the_ones_there_are(tmp_path, shared_data):
    analyses = [{"name": "abstract", "kind": "abstraction", "model": "a", "stimuli": "images",
                 "params": {"factors": ["human", "colour"]}}]
    config = write_study(tmp_path / "study.yaml", _study(tmp_path / "out", analyses, layers=["fc"]))
    with pytest.raises(ConfigError, match=r"'abstract'.*params.factors names 'colour'.*'animate'") as info:
        run_study(config, scheduler="synchronous", progress=False)
    assert "study.yaml (analyses[0])" in str(info.value.source)


def test_an_unknown_reference_layer_is_named(tmp_path, shared_data):
    analyses = [{"name": "m", "kind": "neuron_matching", "model": "a", "reference_model": "b", "stimuli": "images",
                 "params": {"reference_layer": "block9", "n_permutations": 2}}]
    config = write_study(tmp_path / "study.yaml", _study(tmp_path / "out", analyses, layers=["fc"]))
    with pytest.raises(ConfigError, match=r"'block9'.*reference model 'b'.*\['fc'\]"):
        run_study(config, scheduler="synchronous", progress=False)


def _checked(tmp_path, analysis: dict):
    return study_from_dict(_study(tmp_path, [{"name": "x", "model": "a", "stimuli": "images", **analysis}]),
                           source="study.yaml", base_dir=tmp_path)


@pytest.mark.parametrize("analysis, match", [
    ({"kind": "sparsity", "params": {"measure": ["hoyer"]}}, r"analyses\[0\]\.params.*measure"),
    ({"kind": "sparsity", "params": {"measures": ["sparse"]}}, r"measures"),
    ({"kind": "activation_codes", "params": {"labels": "animate"}}, r"labels"),
    ({"kind": "abstraction", "params": {}}, r"factors"),
    ({"kind": "abstraction", "params": {"factors": ["human"]}}, r"factors"),
    ({"kind": "abstraction", "params": {"factors": ["human", "human"]}}, r"distinct"),
    ({"kind": "abstraction", "params": {"factors": ["human", "face"], "metric": "ps"}}, r"metric"),
    ({"kind": "information", "params": {"method": "ksg"}}, r"ksg.*pixels"),
    ({"kind": "information", "params": {"method": "kde", "bins": 5}}, r"'kde' takes no \['bins'\]"),
    ({"kind": "information", "params": {"method": "histogram"}}, r"unknown method 'histogram'"),
    ({"kind": "neuron_matching", "reference_model": "b", "params": {"n_permutations": 0}}, r"n_permutations"),
    ({"kind": "relative_stitching", "reference_model": "b", "params": {"test_size": 1.5}}, r"test_size"),
])
def test_bad_params_are_named_errors(tmp_path, analysis, match):
    with pytest.raises(ConfigError, match=match):
        _checked(tmp_path, analysis)


def test_the_reference_model_is_checked(tmp_path):
    with pytest.raises(UnknownNameError, match="'c'") as info:
        _checked(tmp_path, {"kind": "neuron_matching", "reference_model": "c"})
    assert "analyses[0].reference_model" in str(info.value.source)
    with pytest.raises(ConfigError, match="needs reference_model"):
        _checked(tmp_path, {"kind": "relative_stitching"})
    with pytest.raises(ConfigError, match="'sparsity' compares no second model"):
        _checked(tmp_path, {"kind": "sparsity", "reference_model": "b"})


def test_studies_without_a_reference_model_resolve_as_before(tmp_path):
    study = study_from_dict(small_study(out=tmp_path / "out"), source="test", base_dir=tmp_path)
    assert "reference_model" not in resolved_yaml(study)
    with_reference = _checked(tmp_path, {"kind": "neuron_matching", "reference_model": "b"})
    assert "reference_model: b" in resolved_yaml(with_reference)


def test_the_bundled_representations_study_is_valid():
    from neuroalign.pipelines.study_catalog import find_study
    from neuroalign.pipelines.study_files import load_study

    study = load_study(find_study("representations-92-images"))
    assert [a.kind for a in study.analyses] == ["sparsity", "activation_codes", "abstraction", "neuron_matching"]
    matching = study.analyses[-1]
    assert matching.reference_model == "reference" and study.models[matching.model].args == {"seed": 1}
    assert study.analyses[2].params.factors == ["human", "face"] and study.analyses[1].params.label == "animate"


@pytest.mark.slow
def test_the_bundled_representations_study_runs_and_matches_above_its_baseline(tmp_path, shared_data):
    from neuroalign.pipelines.study_catalog import find_study

    run = run_study(find_study("representations-92-images"), scheduler="synchronous", out=tmp_path / "out",
                    progress=False, report=False)
    matching = run.scores["neuron-matching"]
    assert list(matching.values.layer.values) == ["block2", "block3", "block4", "fc", "readout"]
    assert (matching.values > matching.raw.baseline_mean).all() and (matching.raw.p_value < 0.05).all()
    assert run.scores["sparsity"].values.sel(layer="readout", measure="zero_fraction") == 0  # no ReLU on the readout
