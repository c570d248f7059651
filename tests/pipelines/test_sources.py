"""Data sources and stimulus sets of study configs: each loader gives arrays of the data model, fingerprints follow
file content, errors name the key path."""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.io
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy.spatial.distance import squareform

from neuroalign.data import save
from neuroalign.errors import ConfigError, FileFormatError, SchemaError, UnknownNameError
from neuroalign.pipelines.sources import (DATA_LOADERS, SPEC_LOADERS, STIMULUS_LOADERS, check_source, load_data_source,
                                          load_stimuli, source_fingerprint)

K2008 = "kriegeskorte2008"
IDS = [f"img{i:02d}" for i in range(1, 93)]


def mat(shared_data, name, key):
    return scipy.io.loadmat(shared_data / K2008 / name, squeeze_me=True, struct_as_record=False)[key]


def test_every_loader_resolves_and_names_real_path_arguments():
    assert not set(DATA_LOADERS) & set(STIMULUS_LOADERS)
    for registry, produces in ((DATA_LOADERS, "data"), (STIMULUS_LOADERS, "stimuli"), (SPEC_LOADERS, None)):
        for name, entry in registry.items():
            assert entry.name == name and entry.description
            assert produces is None or entry.produces == produces
            parameters = inspect.signature(entry.resolve()).parameters
            assert set(entry.path_args) <= set(parameters), name


def test_the_module_imports_no_torch():
    code = "import sys, neuroalign.pipelines.sources; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_kriegeskorte_hit_rdms_are_the_files_squares(shared_data):
    hit = load_data_source({"loader": "kriegeskorte2008_hit"}, source="data.hit")
    rdms = mat(shared_data, "92_brainRDMs.mat", "RDMs")  # (4 subjects, 2 sessions)
    assert hit.dims == ("subject", "pair") and hit.sizes["subject"] == 8
    assert hit.subject.values.tolist() == ["BE1", "BE2", "KO1", "KO2", "SN1", "SN2", "TI1", "TI2"]
    for row, participant in enumerate(["BE", "KO", "SN", "TI"]):
        for session in (1, 2):
            # scipy's squareform: the row-major upper triangle, independent of as_rdm
            expected = squareform(rdms[row, session - 1].RDM.astype(float), checks=False)
            np.testing.assert_array_equal(hit.sel(subject=f"{participant}{session}").values, expected)
            assert hit.participant.sel(subject=f"{participant}{session}") == participant
    i, j = np.triu_indices(92, 1)
    assert hit.stimulus_id_a.values.tolist() == [IDS[k] for k in i]
    assert hit.stimulus_id_b.values.tolist() == [IDS[k] for k in j]


def test_kriegeskorte_model_rdms_are_the_files_squares(shared_data):
    models = load_data_source({"loader": "kriegeskorte2008_models"}, source="data.models")
    raw = mat(shared_data, "92_modelRDMs.mat", "Models")
    assert models.model.values.tolist() == [m.name for m in raw]
    for m in raw:
        np.testing.assert_array_equal(models.sel(model=m.name).values, squareform(m.RDM.astype(float), checks=False))


def test_kriegeskorte_images_align_with_the_rdms(shared_data):
    images = load_stimuli({"loader": "kriegeskorte2008_images"}, source="stimuli.images")
    objects = mat(shared_data, "Kriegeskorte_Neuron2008_supplementalData.mat", "stimuli_92objs")
    assert images.stimulus_ids.tolist() == IDS
    np.testing.assert_array_equal(images.content[91], objects[91].image)
    # the paper's layout: 48 animate then 44 inanimate images (Kriegeskorte et al. 2008, Fig. 1)
    assert images.metadata.animate.tolist() == [True] * 48 + [False] * 44
    assert images.metadata.category.tolist() == [o.category for o in objects]
    hit = load_data_source({"loader": "kriegeskorte2008_hit"}, source="data.hit")
    assert set(hit.stimulus_id_a.values) | set(hit.stimulus_id_b.values) == set(images.stimulus_ids)


def test_synthetic_brain_and_stimuli_are_the_studys():
    from neuroalign.datasets.synthetic import make_synthetic_study

    args = {"seed": 3, "n_stimuli": 12, "n_subjects": 2, "n_voxels": 10, "planted_layer": "block2"}
    study = make_synthetic_study(**args)
    brain = load_data_source({"loader": "synthetic_brain", "args": args}, source="data.brain")
    xr.testing.assert_identical(brain, study.brain)
    stimuli = load_stimuli({"loader": "synthetic_stimuli", "args": {"seed": 3, "n_stimuli": 12}}, source="s")
    assert stimuli.stimulus_ids.tolist() == study.stimuli.stimulus_ids.tolist()
    assert stimuli.content_hash() == study.stimuli.content_hash()
    pd.testing.assert_frame_equal(stimuli.metadata, study.stimuli.metadata)


def test_task_fmri_patterns_are_the_glm_of_the_studys_files(tmp_path):
    from neuroalign.datasets.task_fmri import make_task_fmri_study
    from neuroalign.loaders.glm import estimate_patterns

    args = {"seed": 1, "design": "rapid", "n_stimuli": 6, "n_runs": 2}
    patterns = load_data_source({"loader": "task_fmri_patterns", "args": args}, source="data.fmri")
    study = make_task_fmri_study(tmp_path / "study", **args)
    expected = estimate_patterns(list(study.bold), list(study.events), mask=study.roi_mask, progress=False).patterns
    np.testing.assert_array_equal(patterns.values, expected.values)
    assert patterns.stimulus_id.values.tolist() == expected.stimulus_id.values.tolist()
    assert set(patterns.subject.values) == {"sub-01"} and patterns.sizes["neuroid"] == int(study.roi.sum())
    stimuli = load_stimuli({"loader": "task_fmri_stimuli", "args": {"seed": 1, "n_stimuli": 6}}, source="s")
    assert stimuli.stimulus_ids.tolist() == list(study.stimulus_ids)
    assert stimuli.content_hash() == study.stimuli.content_hash()


def library_cases(shared_data, tmp_path):
    """Each library loader of DATA_LOADERS with real arguments (files from ../shared/data or written here)."""
    import nibabel as nib

    from neuroalign.datasets.examples import write_example_events, write_example_phy
    from neuroalign.datasets.task_fmri import make_task_fmri_study

    rng = np.random.default_rng(0)
    matrix = np.corrcoef(rng.normal(size=(4, 20)))
    np.save(tmp_path / "connectivity.npy", matrix)
    run = nib.load(shared_data / "nitime" / "fmri1.nii.gz")
    labels = np.zeros(run.shape[:3], dtype=np.int16)
    labels[:5], labels[5:] = 1, 2
    nib.save(nib.Nifti1Image(labels, run.affine), tmp_path / "atlas.nii.gz")
    study = make_task_fmri_study(tmp_path / "study", design="rapid", n_stimuli=4, n_runs=1)
    feather = next((shared_data / "feather2023" / "EXP1_ANALYSIS").glob("*alexnet_public.mat"))
    return {
        "load_timeseries": {"path": str(shared_data / "nitime" / "fmri_timeseries.csv"), "repetition_time": 1.89,
                            "progress": False},
        "load_connectivity": {"path": str(tmp_path / "connectivity.npy"), "neuroid_ids": list("abcd"),
                              "progress": False},
        "load_roi_timeseries": {"img": str(shared_data / "nitime" / "fmri1.nii.gz"),
                                "atlas": str(tmp_path / "atlas.nii.gz"), "labels": ["front", "back"],
                                "repetition_time": 1.35, "progress": False},
        "load_nwb_spikes": {"path": str(shared_data / "pynapple" / "sub-4_ses-4_ecephys+image.nwb"),
                            "trials": "recognition_table", "window": [0.0, 1.0]},
        "load_phy": {"folder": str(write_example_phy(tmp_path / "phy")),
                     "events": str(write_example_events(tmp_path / "sub-01_events.tsv")), "window": [-0.2, 0.5],
                     "bin_size": 0.05, "stimulus_id": "stim_file"},
        "load_feather2023": {"path": str(feather)},
        "estimate_patterns": {"runs": [str(p) for p in study.bold], "events": [str(p) for p in study.events],
                              "mask": str(study.roi_mask), "progress": False},
    }


def test_every_library_loader_gives_what_its_function_gives(shared_data, tmp_path):
    cases = library_cases(shared_data, tmp_path)
    library = {name for name, entry in DATA_LOADERS.items() if entry.function.startswith("neuroalign.loaders.")}
    assert set(cases) == library
    for name, args in cases.items():
        entry = DATA_LOADERS[name]
        direct = entry.resolve()(**args)
        direct = getattr(direct, entry.output) if entry.output else direct
        xr.testing.assert_identical(load_data_source({"loader": name, "args": args}, source=f"data.{name}"), direct)
        fingerprint = source_fingerprint({"loader": name, "args": args})
        assert json.loads(json.dumps(fingerprint)) == fingerprint
        for key in entry.path_args:  # every path argument given is described by content, never by its path
            if key in args:
                assert str(tmp_path) not in json.dumps(fingerprint["args"][key])
                assert str(shared_data) not in json.dumps(fingerprint["args"][key])


def test_a_label_argument_is_a_file_by_content_or_names_as_they_are(tmp_path):
    table = tmp_path / "labels.tsv"
    table.write_text("index\tname\n1\tfront\n")
    spec = {"loader": "load_roi_timeseries", "args": {"img": str(table), "atlas": str(table)}}
    as_names = source_fingerprint({**spec, "args": {**spec["args"], "labels": ["front", "back"]}})
    assert as_names["args"]["labels"] == ["front", "back"]
    as_file = source_fingerprint({**spec, "args": {**spec["args"], "labels": str(table)}})
    assert as_file["args"]["labels"]["name"] == "labels.tsv"
    table.write_text("index\tname\n1\tback\n")
    assert source_fingerprint({**spec, "args": {**spec["args"], "labels": str(table)}}) != as_file


def small_array(rng):
    from neuroalign.data import create_assembly

    return create_assembly(rng.normal(size=(4, 3)), stimulus_id=list("abcd"), neuroid_id=["n0", "n1", "n2"])


def test_a_saved_array_is_loaded_and_hashed(tmp_path, rng):
    array = small_array(rng)
    save(array, tmp_path / "brain.nc")
    spec = {"file": str(tmp_path / "brain.nc")}
    np.testing.assert_array_equal(load_data_source(spec, source="data.mine").values, array.values)
    before = source_fingerprint(spec)
    json.dumps(before)
    (tmp_path / "moved").mkdir()
    shutil.copy(tmp_path / "brain.nc", tmp_path / "moved" / "brain.nc")
    assert source_fingerprint({"file": str(tmp_path / "moved" / "brain.nc")}) == before  # content, not place
    (tmp_path / "brain.nc").unlink()
    save(array + 1, tmp_path / "brain.nc")
    assert source_fingerprint(spec) != before


def test_a_dataset_file_is_not_one_array(tmp_path, rng):
    array = small_array(rng)
    save(xr.Dataset({"a": array, "b": array}), tmp_path / "two.nc")
    with pytest.raises(SchemaError, match="not one array"):
        load_data_source({"file": str(tmp_path / "two.nc")}, source="data.two")


def write_pngs(folder, rng, n=3):
    folder.mkdir()
    for k in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"im{k}.png")


def test_folder_and_table_stimuli_and_their_fingerprints(tmp_path, rng):
    write_pngs(tmp_path / "images", rng)
    folder = {"folder": str(tmp_path / "images"), "args": {"recursive": False}}
    assert load_stimuli(folder, source="stimuli.images").stimulus_ids.tolist() == ["im0", "im1", "im2"]
    pd.DataFrame({"stimulus_id": ["x", "y"], "path": [str(tmp_path / "images" / f"im{k}.png") for k in (0, 1)]}
                 ).to_csv(tmp_path / "table.csv", index=False)
    table = {"table": str(tmp_path / "table.csv")}
    assert load_stimuli(table, source="stimuli.table").stimulus_ids.tolist() == ["x", "y"]
    before = {"folder": source_fingerprint(folder), "table": source_fingerprint(table)}
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "images" / "im1.png")
    assert source_fingerprint(folder) != before["folder"]
    assert source_fingerprint(table) != before["table"]  # the table is unchanged, an image it names is not


def test_path_arguments_by_content_including_patterns(tmp_path):
    for k in range(2):
        (tmp_path / f"sub-0{k}_ts.tsv").write_text("a\tb\n1\t2\n3\t4\n5\t7\n")
    spec = {"loader": "load_timeseries",
            "args": {"path": str(tmp_path / "sub-*_ts.tsv"), "repetition_time": 2, "progress": False}}
    before = source_fingerprint(spec)
    assert [m["name"] for m in before["args"]["path"]["matches"]] == ["sub-00_ts.tsv", "sub-01_ts.tsv"]
    assert load_data_source(spec, source="data.ts").sizes["subject"] == 2
    (tmp_path / "sub-01_ts.tsv").write_text("a\tb\n1\t2\n3\t5\n5\t7\n")
    assert source_fingerprint(spec) != before
    with pytest.raises(FileFormatError, match="no file or folder"):
        source_fingerprint({"loader": "load_timeseries", "args": {"path": str(tmp_path / "missing.tsv")}})


def test_dataset_loaders_are_fingerprinted_by_the_published_sha256():
    from neuroalign.datasets.fetchers import dataset_info

    fingerprint = source_fingerprint({"loader": "kriegeskorte2008_hit"})
    assert fingerprint["datasets"] == {f"{K2008}/92_brainRDMs.mat":
                                       dataset_info(K2008)["files"]["92_brainRDMs.mat"]["sha256"]}


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), n_stimuli=st.integers(2, 500), order=st.permutations(["seed", "n_stimuli"]))
def test_fingerprints_follow_argument_values_not_their_order(seed, n_stimuli, order):
    values = {"seed": seed, "n_stimuli": n_stimuli}
    fingerprint = source_fingerprint({"loader": "synthetic_stimuli", "args": {k: values[k] for k in order}})
    assert json.loads(json.dumps(fingerprint)) == fingerprint
    assert fingerprint == source_fingerprint({"args": values, "loader": "synthetic_stimuli"})
    assert fingerprint != source_fingerprint({"loader": "synthetic_stimuli", "args": {**values, "seed": seed + 1}})


@pytest.mark.parametrize("spec, error, fragments", [
    ({"loader": "synthetic_brian"}, UnknownNameError, ["(data.brain.loader)", "did you mean 'synthetic_brain'"]),
    ({"loader": "synthetic_stimuli"}, UnknownNameError, ["unknown data loader"]),
    ({"loader": "synthetic_brain", "args": {"sed": 0}}, UnknownNameError, ["(data.brain.args.sed)", "'seed'"]),
    ({"loader": "synthetic_brain", "args": {"seed": "zero"}}, ConfigError, ["(data.brain.args.seed)", "must be int"]),
    ({"loader": "load_timeseries"}, ConfigError, ["needs the argument 'path'"]),
    ({"loader": "synthetic_brain", "file": "x.nc"}, ConfigError, ["one at a time"]),
    ({"args": {}}, ConfigError, ["names no loader"]),
    ({"fil": "x.nc"}, UnknownNameError, ["(data.brain.fil)", "did you mean 'file'"]),
    ({"loader": "synthetic_brain", "args": [1]}, ConfigError, ["args must be a mapping"]),
    ({"file": "x.nc", "args": {"path": "y.nc"}}, ConfigError, ["repeat 'path'"]),
    ("synthetic_brain", ConfigError, ["must be a mapping"]),
])
def test_bad_specs_are_named_errors_before_loading(spec, error, fragments):
    with pytest.raises(error) as info:
        check_source(spec, source="study.yaml (data.brain)", produces="data")
    assert str(info.value).startswith("study.yaml (data.brain")
    for fragment in fragments:
        assert fragment in str(info.value)
    with pytest.raises(error):
        load_data_source(spec, source="study.yaml (data.brain)")


def test_a_folder_is_not_a_data_source(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown key of a data source 'folder'"):
        load_data_source({"folder": str(tmp_path)}, source="data.x")
