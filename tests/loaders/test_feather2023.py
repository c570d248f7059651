"""Tests of neuroalign.loaders.feather2023 on the public files of Feather et al. (2023).

The reference values are read straight from the files with ``scipy.io.loadmat``
(independently of neuroalign's MAT reader); the file layout is the one the
authors' MATLAB analysis loads (``participant_data_matrix(:,:,1)`` humans,
``(:,:,2)`` the network; jenellefeather/model_metamers_pytorch,
VisionBehavioralExperiments/run_anova_stats_matlab_network_human_results.m).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import scipy.io

from neuroalign.errors import DataError, FileFormatError, UnknownNameError
from neuroalign.loaders.feather2023 import (FEATHER2023_CHANCE, FEATHER2023_OBSERVER_TYPES, load_feather2023,
                                            load_feather2023_experiment)

#: models per experiment in the public data (jenellefeather/model_metamers_pytorch @ f89cdad5)
MODELS = {
    1: ["alexnet", "cornet_s", "resnet101", "resnet50", "vgg_19"],
    3: ["resnet50", "resnet50_l2_3_robust", "resnet50_linf_4_robust", "resnet50_linf_8_robust",
        "resnet50_random_l2_perturb", "resnet50_random_linf8_perturb"],
    4: ["alexnet", "alexnet_l2_3_robust", "alexnet_linf_8_robust", "alexnet_random_l2_3_perturb",
        "alexnet_random_linf8_perturb"],
    5: ["resnet50", "resnet50_byol", "resnet50_moco_v2", "resnet50_simclr"],
    6: ["hmax_standard"],
    9: ["alexnet_early_checkpoint", "alexnet_reduced_aliasing_early_checkpoint",
        "vonealexnet_gaussian_noise_std4_fixed"],
    10: ["alexnet", "resnet50", "texture_shape_alexnet_trained_on_SIN", "texture_shape_resnet50_trained_on_SIN"],
    12: ["CLIP_ViT-B_32", "CLIP_resnet50", "SWSL_resnet50", "SWSL_resnext101_32x8d",
         "vision_transformer_vit_large_patch16_224"],
    16: ["konkle_alexnetgn_ipcl_ref01_primary_model", "konkle_alexnetgn_ipcl_ref12_supervised_ipcl_aug"],
}


@pytest.fixture(scope="module")
def root(shared_data):
    return shared_data / "feather2023"


def path_of(root, experiment, model):
    return (root / f"EXP{experiment}_ANALYSIS"
            / f"VisionExperiment{experiment}_network_vs_humans_datamatrix_{model}_public.mat")


def test_one_file_matches_scipy(root):
    path = path_of(root, 1, "alexnet")
    raw = scipy.io.loadmat(path)
    data = load_feather2023(path)
    assert data.dims == ("participant", "layer", "observer_type")
    assert data.sizes == {"participant": 22, "layer": 9, "observer_type": 2}
    np.testing.assert_array_equal(data.values, raw["participant_data_matrix"])
    assert data.layer.values.tolist() == [str(v).strip() for v in raw["model_layers"]]
    assert data.layer.values[0] == "natural_image" and data.layer.values[-1] == "final"
    assert data.observer_type.values.tolist() == ["human", "network"] == list(FEATHER2023_OBSERVER_TYPES)
    assert data.participant.values.tolist() == [str(i) for i in range(22)]
    assert int(data.experiment) == 1 and str(data.model.values) == "alexnet"
    assert data.attrs["chance"] == FEATHER2023_CHANCE == 1 / 16
    assert data.attrs["input_hashes"][path.name] == hashlib.sha256(path.read_bytes()).hexdigest()
    # humans recognise natural images far above chance and late-layer AlexNet metamers barely
    human = data.sel(observer_type="human").mean("participant")
    assert float(human.sel(layer="natural_image")) > 0.85 and float(human.sel(layer="final")) < 0.1


@pytest.mark.parametrize("experiment", sorted(MODELS))
def test_every_public_file_loads(root, experiment):
    arrays = load_feather2023_experiment(root / f"EXP{experiment}_ANALYSIS")
    assert sorted(arrays) == sorted(MODELS[experiment])
    for model, data in arrays.items():
        raw = scipy.io.loadmat(path_of(root, experiment, model))["participant_data_matrix"]
        np.testing.assert_array_equal(data.values, raw)
        assert ((data.values >= 0) & (data.values <= 1)).all()
        assert int(data.experiment) == experiment and str(data.model.values) == model
        assert data.layer.values[0] == "natural_image"


def test_experiment_from_root_and_selection(root):
    arrays = load_feather2023_experiment(root, 12, models=["CLIP_resnet50"])
    assert list(arrays) == ["CLIP_resnet50"]
    assert arrays["CLIP_resnet50"].layer.values.tolist() == [
        "natural_image", "stem", "layer1_fake_relu", "layer2_fake_relu", "layer3_fake_relu", "layer4_fake_relu",
        "attnpool", "final"]


def test_experiment_errors(root, tmp_path):
    with pytest.raises(FileFormatError, match="experiment"):
        load_feather2023_experiment(root)                       # the root needs an experiment number
    with pytest.raises(FileFormatError, match="no such experiment"):
        load_feather2023_experiment(root, 2)
    with pytest.raises(FileFormatError, match="not 3"):
        load_feather2023_experiment(root / "EXP1_ANALYSIS", 3)
    with pytest.raises(UnknownNameError, match="vgg_19"):
        load_feather2023_experiment(root, 1, models=["vgg19"])  # the valid names are listed
    with pytest.raises(FileFormatError, match="folder not found"):
        load_feather2023_experiment(tmp_path / "absent")
    (tmp_path / "EXP7_ANALYSIS").mkdir()
    with pytest.raises(FileFormatError, match="no VisionExperiment7"):
        load_feather2023_experiment(tmp_path / "EXP7_ANALYSIS")
    with pytest.raises(UnknownNameError):
        load_feather2023_experiment(root, 1, errors="ignore")


def _write(path, **overrides):
    variables = {
        "participant_data_matrix": np.full((3, 2, 2), 0.5),
        "model_layers": np.array(["natural_image", "final"], dtype=object),
        "participants": np.array(["0", "1", "2"], dtype=object),
        "conditions": np.array(["Human", "Network"], dtype=object),
        "axis_order": np.array(["participants", "model_layers", "conditions"], dtype=object),
    }
    variables.update(overrides)
    variables = {k: v for k, v in variables.items() if v is not None}
    scipy.io.savemat(path, variables)
    return path


def test_a_written_file_round_trips(tmp_path):
    values = np.random.default_rng(0).uniform(size=(3, 2, 2))
    path = _write(tmp_path / "VisionExperiment7_network_vs_humans_datamatrix_toy_net_public.mat",
                  participant_data_matrix=values)
    data = load_feather2023(path)
    np.testing.assert_array_equal(data.values, values)
    assert int(data.experiment) == 7 and str(data.model.values) == "toy_net"


@pytest.mark.parametrize("overrides, fragment", [
    ({"participants": None}, "participants"),
    ({"participant_data_matrix": np.full((3, 3, 2), 0.5)}, "shape"),
    ({"axis_order": np.array(["model_layers", "participants", "conditions"], dtype=object)}, "axis_order"),
    ({"conditions": np.array(["Network", "Human"], dtype=object)}, "conditions"),
    ({"model_layers": np.array(["final", "final"], dtype=object)}, "repeat"),
])
def test_malformed_files_name_the_file(tmp_path, overrides, fragment):
    path = _write(tmp_path / "VisionExperiment1_network_vs_humans_datamatrix_x_public.mat", **overrides)
    with pytest.raises(FileFormatError, match=fragment) as info:
        load_feather2023(path)
    assert info.value.source == str(path)


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan])
def test_values_outside_unit_interval(tmp_path, bad):
    values = np.full((3, 2, 2), 0.5)
    values[1, 1, 0] = bad
    path = _write(tmp_path / "VisionExperiment1_network_vs_humans_datamatrix_x_public.mat",
                  participant_data_matrix=values)
    with pytest.raises(DataError, match="participant '1', layer 'final', Human"):
        load_feather2023(path)


def test_file_name_without_experiment(tmp_path):
    path = _write(tmp_path / "renamed.mat")
    with pytest.raises(FileFormatError, match="experiment"):
        load_feather2023(path)
    data = load_feather2023(path, experiment=2, model="mine")
    assert int(data.experiment) == 2 and str(data.model.values) == "mine"
    with pytest.raises(FileFormatError, match="not found"):
        load_feather2023(tmp_path / "VisionExperiment1_network_vs_humans_datamatrix_x_public.mat")
