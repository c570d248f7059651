"""The MNIST metamer study: a short run in the default suite (outputs, numbers recomputed, resume, errors);
the full study (pipelines/metamers-mnist.yaml) as a slow test asserting the effect."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.data.io import load, load_group
from neuroalign.errors import ConfigError, FileFormatError, UnknownNameError
from neuroalign.metamers.outputs import VALIDITY_COLUMNS
from neuroalign.metamers.study import STUDY_DEFAULTS, check_study_settings, run_metamer_study
from neuroalign.pipelines.metamer_study import read_metamer_study_config
from neuroalign.score import Score

REPO = Path(__file__).resolve().parents[2]
SHORT = {"n_test": 20, "n_train": 500, "layers": ["relu1", "relu3"], "max_iter": 16, "n_passes": 2, "epochs": 1, "n_null": 100,
         "n_bootstrap": 50, "progress": False}


@pytest.fixture(scope="module")
def short_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    return run_metamer_study(SHORT, out=out)


def test_short_study_writes_every_output(short_study):
    out = short_study.out
    expected = {"recognisability.nc", "recognisability.csv", "validity.csv", "layers.csv", "summary.json",
                "recognisability.png", "metamers.png"}
    assert expected <= {p.name for p in out.iterdir()}
    assert sorted(p.name for p in (out / "layers").iterdir()) == ["relu1.nc", "relu3.nc"]
    assert sorted(p.name for p in (out / "observers").iterdir()) == ["cnn-seed0.pt", "cnn-seed1.pt", "mlp.pt"]
    assert not list(out.rglob(".*.tmp"))  # nothing half-written left behind
    # the tables of neuroalign metamers (metamers.outputs): one format for every metamer run
    assert tuple(pd.read_csv(out / "validity.csv").columns) == VALIDITY_COLUMNS
    assert list(pd.read_csv(out / "recognisability.csv").columns)[-2:] == ["n_images", "chance"]
    score = Score.load(out / "recognisability.nc")
    assert score.dims == ("generator", "layer", "observer")
    assert list(score.values["layer"].values) == ["natural", "relu1", "relu3"]
    assert list(score.values["observer"].values) == ["cnn-seed0", "cnn-seed1", "mlp", "pixel-knn"]
    assert score.params["chance"] == 0.1
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["fraction_valid"]) == {"relu1", "relu3"} and summary["wall_time_s"] > 0
    assert summary["provenance"]["parameters"]["n_test"] == 20
    layer = load(out / "layers" / "relu3.nc")
    assert layer["metamer"].dims == ("presentation", "channel", "row", "col")
    assert layer.sizes["presentation"] == 20 and layer.sizes["iteration"] == 17


def test_short_study_numbers_match_an_independent_recomputation(short_study):
    """Reference: the saved weights loaded into a fresh network (weights_only), scikit-learn's kNN on the
    training digits, and the saved validity decide the same proportions the study reports."""
    from sklearn.neighbors import KNeighborsClassifier

    from neuroalign.datasets.mnist import load_mnist_5k, split_train_test
    from neuroalign.models.mnist import MnistCNN

    out = short_study.out
    train, test = split_train_test(load_mnist_5k(), test_size=20, random_state=0)
    train = split_train_test(train, test_size=500, random_state=0)[1]
    assert np.array_equal(test.stimulus_id.values, short_study.naturals.stimulus_id.values)
    generator = MnistCNN(seed=0)
    generator.load_state_dict(torch.load(out / "observers" / "cnn-seed0.pt", weights_only=True)["state_dict"])
    generator.eval()
    knn = KNeighborsClassifier(n_neighbors=5).fit(train.values.reshape(len(train), -1), train.label.values)
    table = pd.read_csv(out / "recognisability.csv")
    for layer in ("relu1", "relu3"):
        metamers = load(out / "layers" / f"{layer}.nc")["metamer"]
        valid = load_group(out / "layers" / f"{layer}.nc", "validity")["valid"].values.ravel()
        if not valid.any():
            continue
        images = torch.as_tensor(metamers.values[valid])
        truth = test.label.values[valid]
        with torch.no_grad():
            expected_generator = float((generator(images).argmax(1).numpy() == truth).mean())
        expected_knn = float((knn.predict(images.numpy().reshape(len(images), -1)) == truth).mean())
        rows = table[table.layer == layer].set_index("observer")
        assert rows.loc["cnn-seed0", "score"] == pytest.approx(expected_generator, abs=1e-6)
        assert rows.loc["pixel-knn", "score"] == pytest.approx(expected_knn, abs=1e-6)
        assert (rows["n_images"] == valid.sum()).all()
        # the generator's label is kept on every valid metamer, by the definition of validity
        assert expected_generator == 1.0
    layers = pd.read_csv(out / "layers.csv").set_index("layer")
    per_image = pd.read_csv(out / "validity.csv")
    assert per_image.groupby("layer")["valid"].mean().to_dict() == pytest.approx(layers["fraction_valid"].to_dict())


def test_resume_reads_finished_layers_and_observers_back(short_study, monkeypatch):
    from neuroalign.metamers import synthesis, training

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed a finished part")

    before = {p: p.stat().st_mtime_ns for p in (short_study.out / "layers").iterdir()}
    monkeypatch.setattr(synthesis.Metamer, "synthesize", refuse)
    monkeypatch.setattr(training, "_fit", refuse)
    again = run_metamer_study(SHORT, out=short_study.out)
    assert {p: p.stat().st_mtime_ns for p in (short_study.out / "layers").iterdir()} == before
    assert again.recognisability.values.equals(short_study.recognisability.values)
    assert again.metamers.equals(short_study.metamers)


def test_resume_adds_a_new_layer_only(short_study, tmp_path, monkeypatch):
    import shutil

    from neuroalign.metamers import synthesis

    out = tmp_path / "copy"
    shutil.copytree(short_study.out, out)
    calls = []
    original = synthesis.Metamer.synthesize

    def counted(self, *args, **kwargs):
        calls.append(self.layer)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(synthesis.Metamer, "synthesize", counted)
    result = run_metamer_study({**SHORT, "layers": ["relu1", "pool2", "relu3"]}, out=out)
    assert calls == ["pool2"]
    assert list(result.validity["layer"].values) == ["relu1", "pool2", "relu3"]
    scored = [str(v) for v in result.recognisability.values["layer"].values]
    # a layer without a valid metamer after so few steps is dropped from the score, and said so
    assert scored == ["natural", "relu1", "pool2", "relu3"] or result.summary["dropped_layers"] == ["pool2"]
    np.testing.assert_array_equal(result.metamers.sel(layer="relu3").values,
                                  short_study.metamers.sel(layer="relu3").values)


def test_a_folder_of_other_settings_is_refused_unless_overwrite(short_study, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(short_study.out, out)
    with pytest.raises(ConfigError, match="other settings") as info:
        run_metamer_study({**SHORT, "max_iter": 8, "layers": ["relu3"]}, out=out)
    assert str(out) in str(info.value) and "overwrite" in str(info.value)
    result = run_metamer_study({**SHORT, "max_iter": 8, "layers": ["relu3"], "overwrite": True}, out=out)
    assert load(out / "layers" / "relu3.nc").sizes["iteration"] == 9
    assert list(result.recognisability.values["layer"].values) == ["natural", "relu3"]


def test_same_settings_same_numbers_in_a_fresh_folder(short_study, tmp_path):
    """Determinism: every draw is seeded, so a fresh run reproduces the metamers and the score."""
    fresh = run_metamer_study({**SHORT, "layers": ["relu3"]}, out=tmp_path / "fresh")
    np.testing.assert_array_equal(fresh.metamers.sel(layer="relu3").values,
                                  short_study.metamers.sel(layer="relu3").values)
    np.testing.assert_array_equal(fresh.recognisability.values.sel(layer="relu3").values,
                                  short_study.recognisability.values.sel(layer="relu3").values)


@pytest.mark.parametrize("settings, error, match", [
    ({"n_tset": 20}, UnknownNameError, "did you mean 'n_test'"),
    ({"layers": ["relu9"]}, UnknownNameError, "relu1"),
    ({"layers": []}, ConfigError, "non-empty"),
    ({"preset": "fast"}, UnknownNameError, "feather2023"),
    ({"n_test": 5}, ConfigError, "n_test must be an integer ≥ 10"),
    ({"max_iter": 0}, ConfigError, "max_iter"),
    ({"max_iter": 10, "n_passes": 8}, ConfigError, "multiple of n_passes"),
    ({"n_test": 10, "n_null": 1000}, ConfigError, "90 ordered pairs"),
    ({"n_train": 5}, ConfigError, "n_train"),
    ({"n_train": 4950, "n_test": 100}, ConfigError, "5,000 digits"),
    ({"lr": "fast"}, ConfigError, "lr"),
    ({"overwrite": "yes"}, ConfigError, "true or false"),
    ({"epochs": True}, ConfigError, "epochs"),
])
def test_bad_settings_raise_named_errors_before_any_work(settings, error, match):
    with pytest.raises(error, match=match):
        check_study_settings(settings)


def test_an_unwritable_out_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="out"):
        run_metamer_study(SHORT, out=tmp_path / "file")


@settings(max_examples=25, deadline=None)
@given(key=st.sampled_from(["epochs", "batch_size", "knn_neighbors", "n_bootstrap", "threads", "max_iter"]),
       value=st.integers(-5, 50))
def test_property_integer_settings_accepted_exactly_when_positive(key, value):
    if value >= 1:
        assert check_study_settings({key: value, "n_passes": 1})[key] == value
    else:
        with pytest.raises(ConfigError, match=key):
            check_study_settings({key: value, "n_passes": 1})


def test_yaml_config_is_read_and_errors_name_the_file(tmp_path):
    config = read_metamer_study_config(REPO / "pipelines" / "metamers-mnist.yaml")
    assert set(config) == set(STUDY_DEFAULTS) and config["n_test"] >= 100
    assert config["layers"] == ["relu1", "pool1", "relu2", "pool2", "relu3", "fc2"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("n_test: 5\n")
    with pytest.raises(ConfigError, match="bad.yaml") as info:
        read_metamer_study_config(bad)
    assert "n_test" in str(info.value)
    bad.write_text("n_tests: 100\n")
    with pytest.raises(UnknownNameError, match="n_test"):
        read_metamer_study_config(bad)
    bad.write_text("n_test: [1\n")
    with pytest.raises(FileFormatError, match="YAML"):
        read_metamer_study_config(bad)
    bad.write_text("n_test: 100.5\n")
    with pytest.raises(ConfigError, match="int"):
        read_metamer_study_config(bad)


def test_pipeline_entry_is_exported_lazily():
    import neuroalign.pipelines as pipelines

    assert "run_metamer_study" in pipelines.__all__
    from neuroalign.pipelines import run_metamer_study as entry

    assert entry.__module__ == "neuroalign.pipelines.metamer_study"


@pytest.fixture(scope="module")
def full_study(tmp_path_factory):
    """pipelines/metamers-mnist.yaml, as shipped (several minutes on one core)."""
    from neuroalign.pipelines import run_metamer_study as run_pipeline

    torch.set_num_threads(1)
    result = run_pipeline(REPO / "pipelines" / "metamers-mnist.yaml", out=tmp_path_factory.mktemp("full"),
                          progress=False)
    values = result.recognisability.values.isel(generator=0)
    layers = [str(v) for v in values["layer"].values if v != "natural"]
    return result, values, layers


def _drop(values, layers, observer):
    return float(values.sel(observer=observer, layer=layers[0]) - values.sel(observer=observer, layer=layers[-1]))


@pytest.mark.slow
def test_full_study_generator_recognises_its_metamers_and_the_mlp_does_not(full_study):
    """The issue's acceptance: the generator recognises its own valid metamers at every layer (≥ 0.9), while a
    dissimilar observer falls towards chance with depth: ≥ 0.2 lower at the last layer than at the first."""
    result, values, layers = full_study
    assert layers == ["relu1", "pool1", "relu2", "pool2", "relu3", "fc2"]
    assert min(result.recognisability.params["n_images"][layer] for layer in layers) >= 50
    assert float(values.sel(observer="cnn-seed0", layer=layers).min()) >= 0.9
    assert _drop(values, layers, "mlp") >= 0.2


@pytest.mark.slow
def test_full_study_pixel_knn_falls_towards_chance(full_study):
    """The same criterion for the pixel-space observer (≥ 0.2 lower at the last layer than at the first).

    Measured with the shipped config (feather2023 steps from a uniform-noise start): 0.958 at relu1, 0.740 at
    fc2.  From the preset's own near-grey start (``initial: preset``) the drop is only 0.11: the late-layer
    metamers are then a grey field with a faint class template, which pixel distances still match.
    """
    _, values, layers = full_study
    assert _drop(values, layers, "pixel-knn") >= 0.2
