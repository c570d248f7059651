"""The schema of a study config (neuroalign.pipelines.study_schema): sections, kinds' params, references."""

import copy

import pytest
import torch
from pydantic import ValidationError

from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.extract.preprocessing import IMAGENET_MEAN, IMAGENET_STD, CenterCrop, Normalize, Resize
from neuroalign.pipelines.analysis_kinds import ANALYSIS_KINDS
from neuroalign.pipelines.study_schema import (AnalysisSpec, DataSpec, ModelSpec, NormalizeSpec, StimulusSpec,
                                               StudyConfig)

STUDY = {
    "name": "demo",
    "seed": 3,
    "stimuli": {"synthetic": {"loader": "synthetic_stimuli", "args": {"seed": 0}}},
    "data": {"brain": {"loader": "synthetic_brain", "args": {"seed": 0}}, "rdms": {"file": "/data/rdms.nc"}},
    "models": {"reference": {"factory": "neuroalign.models:ReferenceNet", "args": {"seed": 0},
                             "layers": ["block1", "fc"], "preprocessing": {"resize": 32}}},
    "analyses": [{"name": "rsa", "kind": "rsa", "model": "reference", "stimuli": "synthetic", "brain": "brain",
                  "params": {"n_bootstrap": 200}}],
}


def study(**changes):
    config = copy.deepcopy(STUDY)
    config.update(changes)
    return config


def inner_error(excinfo):
    """The NeuroalignError a validator raised, as pydantic carries it."""
    error = excinfo.value.errors()[0]
    return tuple(error["loc"]), (error.get("ctx") or {}).get("error")


def test_a_valid_study_fills_defaults():
    config = StudyConfig.model_validate(study())
    rsa = config.analyses[0]
    assert isinstance(rsa.params, ANALYSIS_KINDS["rsa"].params)
    assert (rsa.params.n_bootstrap, rsa.params.n_splits) == (200, 10)
    assert rsa.params.seed == 3  # the study's seed
    assert config.outputs.dir == "neuroalign-results/demo" and config.outputs.store is None and config.outputs.report
    assert config.models["reference"].batch_size == 64 and config.models["reference"].weights is None
    assert config.description == "" and config.data["rdms"].file == "/data/rdms.nc"


def test_an_analysis_seed_overrides_the_study_seed():
    config = study()
    config["analyses"][0]["params"]["seed"] = 11
    assert StudyConfig.model_validate(config).analyses[0].params.seed == 11


def test_the_dump_validates_back_to_the_same_study():
    config = StudyConfig.model_validate(study())
    again = StudyConfig.model_validate(config.model_dump(mode="json"))
    assert again == config and again.model_dump() == config.model_dump()


@pytest.mark.parametrize("where", [(), ("stimuli", "synthetic"), ("data", "brain"), ("models", "reference"),
                                   ("models", "reference", "preprocessing"), ("analyses", 0),
                                   ("analyses", 0, "params")])
def test_unknown_keys_are_refused_everywhere(where):
    config = study()
    node = config
    for part in where:
        node = node[part]
    node["colour"] = "blue"
    with pytest.raises(ValidationError) as excinfo:
        StudyConfig.model_validate(config)
    error = excinfo.value.errors()[0]
    assert error["type"] == "extra_forbidden" and tuple(error["loc"]) == (*where, "colour")


@pytest.mark.parametrize("spec, problem", [
    ({"loader": "synthetic_stimuli", "folder": "/imgs"}, "got loader, folder"),
    ({}, "got none of them"),
    ({"folder": "/imgs", "args": {"seed": 1}}, "args go with a loader only"),
])
def test_a_stimulus_set_has_exactly_one_source(spec, problem):
    with pytest.raises(ValidationError) as excinfo:
        StimulusSpec.model_validate(spec)
    _, error = inner_error(excinfo)
    assert isinstance(error, ConfigError) and problem in error.problem


def test_a_data_source_has_exactly_one_source():
    assert DataSpec.model_validate({"file": "/x.nc"}).loader is None
    with pytest.raises(ValidationError) as excinfo:
        DataSpec.model_validate({"loader": "synthetic_brain", "file": "/x.nc"})
    assert "exactly one of loader, file" in inner_error(excinfo)[1].problem


def test_loader_names_are_checked_against_the_sources_registries():
    sources = pytest.importorskip("neuroalign.pipelines.sources")
    assert "synthetic_brain" in sources.DATA_LOADERS and "synthetic_stimuli" in sources.STIMULUS_LOADERS
    with pytest.raises(ValidationError) as excinfo:
        DataSpec.model_validate({"loader": "synthetic_brian"})
    loc, error = inner_error(excinfo)
    assert loc == ("loader",) and isinstance(error, UnknownNameError) and "synthetic_brain" in error.fix
    with pytest.raises(ValidationError) as excinfo:
        StimulusSpec.model_validate({"loader": "synthetic_brain"})  # a data loader, not a stimulus loader
    assert isinstance(inner_error(excinfo)[1], UnknownNameError)


@pytest.mark.parametrize("change, loc", [
    ({"layers": []}, ("layers",)),
    ({"layers": "fc"}, ("layers",)),
    ({"factory": "ReferenceNet"}, ("factory",)),
    ({"factory": "neuroalign.models:"}, ("factory",)),
    ({"batch_size": 0}, ("batch_size",)),
    ({"preprocessing": {"resize": 0}}, ("preprocessing", "resize")),
    ({"preprocessing": {"normalize": "imagenett"}}, ("preprocessing", "normalize")),
    ({"preprocessing": {"normalize": {"mean": [0.5], "std": [0.0]}}}, ("preprocessing", "normalize")),
    ({"preprocessing": {"normalize": {"mean": [0.5, 0.5], "std": [0.2]}}}, ("preprocessing", "normalize")),
])
def test_bad_model_entries_name_their_key(change, loc):
    spec = {**STUDY["models"]["reference"], **change}
    with pytest.raises(ValidationError) as excinfo:
        ModelSpec.model_validate(spec)
    assert tuple(excinfo.value.errors()[0]["loc"]) == loc


def test_a_factory_may_be_a_python_file():
    assert ModelSpec(factory="/models/net.py:Net", layers=["fc"]).factory == "/models/net.py:Net"


def test_preprocessing_maps_to_the_extract_transforms():
    spec = ModelSpec(factory="m:f", layers=["fc"],
                     preprocessing={"resize": 8, "center_crop": 6, "normalize": "imagenet"})
    transform = spec.preprocess()
    assert transform.transforms == [Resize(8), CenterCrop(6), Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    images = torch.rand(2, 3, 16, 12, generator=torch.Generator().manual_seed(0))
    expected = Normalize(IMAGENET_MEAN, IMAGENET_STD)(CenterCrop(6)(Resize(8)(images)))
    assert transform(images).shape == (2, 3, 6, 6)  # shorter side 12 → 8 (16 → 10), then the centre 6 × 6
    torch.testing.assert_close(transform(images), expected, rtol=0, atol=0)


def test_preprocessing_with_own_statistics_and_rgb():
    spec = ModelSpec(factory="m:f", layers=["fc"],
                     preprocessing={"rgb": True, "normalize": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}})
    assert isinstance(spec.preprocessing.normalize, NormalizeSpec)
    out = spec.preprocess()(torch.ones(1, 4, 4))  # greyscale → 3 channels, then (1 - 0.5) / 0.25
    assert out.shape == (3, 4, 4) and torch.all(out == 2.0)


def test_no_preprocessing_is_none():
    assert ModelSpec(factory="m:f", layers=["fc"]).preprocess() is None
    assert ModelSpec(factory="m:f", layers=["fc"], preprocessing={}).preprocess() is None


def test_an_unknown_kind_suggests_the_close_ones():
    config = study()
    config["analyses"][0]["kind"] = "rsaa"
    with pytest.raises(ValidationError) as excinfo:
        StudyConfig.model_validate(config)
    loc, error = inner_error(excinfo)
    assert loc == ("analyses", 0, "kind") and isinstance(error, UnknownNameError) and "did you mean 'rsa'" in error.fix
    assert len(excinfo.value.errors()) == 1  # params are not checked against an unknown kind


def test_params_are_checked_against_the_kind():
    config = study()
    config["analyses"][0]["params"] = {"n_bootstrap": 1}  # RsaParams: ge=2
    with pytest.raises(ValidationError) as excinfo:
        StudyConfig.model_validate(config)
    assert tuple(excinfo.value.errors()[0]["loc"]) == ("analyses", 0, "params", "n_bootstrap")
    config["analyses"][0]["params"] = {"metric": "rsa"}  # a commit_layer param, not an rsa one
    with pytest.raises(ValidationError) as excinfo:
        StudyConfig.model_validate(config)
    assert excinfo.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize("missing", ["model", "stimuli", "brain"])
def test_rsa_requires_a_model_stimuli_and_brain(missing):
    spec = {**STUDY["analyses"][0]}
    del spec[missing]
    with pytest.raises(ValidationError) as excinfo:
        AnalysisSpec.model_validate(spec)
    error = inner_error(excinfo)[1]
    assert isinstance(error, ConfigError) and f"needs {missing}" in error.problem and missing in error.fix


def test_rsa_models_needs_candidates_or_a_model_with_stimuli():
    base = {"name": "models", "kind": "rsa_models", "brain": "brain"}
    with pytest.raises(ValidationError) as excinfo:
        AnalysisSpec.model_validate(base)
    assert "candidates" in inner_error(excinfo)[1].problem
    with pytest.raises(ValidationError):
        AnalysisSpec.model_validate({**base, "model": "reference"})  # a model without stimuli
    assert AnalysisSpec.model_validate({**base, "candidates": ["rdms"]}).candidates == ["rdms"]
    assert AnalysisSpec.model_validate({**base, "model": "reference", "stimuli": "synthetic"}).model == "reference"
    with pytest.raises(ValidationError):
        AnalysisSpec.model_validate({"name": "models", "kind": "rsa_models", "candidates": ["rdms"]})  # no brain


@pytest.mark.parametrize("field, value, section", [("model", "referense", "models"), ("stimuli", "synth", "stimuli"),
                                                   ("brain", "brian", "data"), ("candidates", ["rdms", "rdm"], "data")])
def test_references_must_name_defined_entries(field, value, section):
    config = study()
    config["analyses"][0][field] = value
    with pytest.raises(ValidationError) as excinfo:
        StudyConfig.model_validate(config)
    error = inner_error(excinfo)[1]
    assert isinstance(error, UnknownNameError)
    assert error.source == f"analyses[0].{field}" + ("[1]" if field == "candidates" else "")
    assert set(error.valid) == set(STUDY[section])


def test_analysis_names_are_unique():
    config = study()
    config["analyses"].append(copy.deepcopy(config["analyses"][0]))
    with pytest.raises(ValidationError) as excinfo:
        StudyConfig.model_validate(config)
    error = inner_error(excinfo)[1]
    assert "two analyses are named 'rsa'" in error.problem and error.source == "analyses[1].name"


@pytest.mark.parametrize("changes", [{"name": "a b"}, {"seed": -1}, {"analyses": []}, {"seed": "zero"}])
def test_bad_study_values(changes):
    with pytest.raises(ValidationError):
        StudyConfig.model_validate(study(**changes))
