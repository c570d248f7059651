"""Tests of neuroalign.loaders.behavior (trial tables, triplets) and loaders.matfiles.

Every file is real: CSV/TSV written with pandas, MAT v5 with scipy.io.savemat,
MAT v7.3 with h5py in MATLAB's own layout (512-byte header, transposed arrays,
MATLAB_class attributes, cells as object references), NWB with pynwb.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import (ConfigError, DataError, DependencyError, FileFormatError, NeuroalignError,
                               UnknownNameError)
from neuroalign.loaders.behavior import load_trials, read_trial_table
from neuroalign.loaders.triplets import load_triplets
from neuroalign.loaders.matfiles import mat_version, read_mat

HUMAN_NWB = "pynapple/sub-4_ses-4_ecephys+image.nwb"


# --------------------------------------------------------------------------- writers


def write_mat73(path: Path, variables: dict) -> Path:
    """Write ``variables`` as MATLAB does with save(..., '-v7.3').

    reference: MATLAB MAT-file v7.3 layout (HDF5 with a 512-byte user block
    whose first 128 bytes are the MAT header; arrays stored transposed;
    MATLAB_class attributes; cell elements in /#refs#).
    """
    counter = iter(range(10**6))

    def put(group, name, value, refs):
        if isinstance(value, str):
            data = np.array([ord(c) for c in value], dtype=np.uint16).reshape(-1, 1)
            ds = group.create_dataset(name, data=data)
            ds.attrs["MATLAB_class"] = np.bytes_(b"char")
            ds.attrs["MATLAB_int_decode"] = np.int32(2)
        elif isinstance(value, dict):
            sub = group.create_group(name)
            sub.attrs["MATLAB_class"] = np.bytes_(b"struct")
            for key, item in value.items():
                put(sub, key, item, refs)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            sub = group.create_group(name)
            sub.attrs["MATLAB_class"] = np.bytes_(b"struct")
            for key in value[0]:
                handles = []
                for element in value:
                    key_name = f"r{next(counter)}"
                    put(refs, key_name, element[key], refs)
                    handles.append(refs[key_name].ref)
                ds = sub.create_dataset(key, data=np.array(handles, dtype=h5py.ref_dtype).reshape(-1, 1))
        elif isinstance(value, list):  # a cell array, 1×n in MATLAB → n×1 in HDF5
            handles = []
            for element in value:
                key_name = f"r{next(counter)}"
                put(refs, key_name, element, refs)
                handles.append(refs[key_name].ref)
            ds = group.create_dataset(name, data=np.array(handles, dtype=h5py.ref_dtype).reshape(-1, 1))
            ds.attrs["MATLAB_class"] = np.bytes_(b"cell")
        else:
            array = np.asarray(value)
            matlab = array.reshape(1, -1) if array.ndim <= 1 else array  # MATLAB row vector / matrix
            cls = {"f": b"double", "i": b"int64", "u": b"uint8", "b": b"logical"}[array.dtype.kind]
            data = matlab.T.astype(np.uint8) if cls == b"logical" else matlab.T
            ds = group.create_dataset(name, data=data)
            ds.attrs["MATLAB_class"] = np.bytes_(cls)

    with h5py.File(path, "w", userblock_size=512) as handle:
        refs = handle.create_group("#refs#")
        for name, value in variables.items():
            put(handle, name, value, refs)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as raw:
        raw.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")
    return path


def write_nwb(path: Path, *, with_trials: bool = True, extra_table: bool = True) -> Path:
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.epoch import TimeIntervals
    from pynwb.file import Subject

    nwb = NWBFile(session_description="behaviour test", identifier="test-1",
                  session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc), session_id="3",
                  subject=Subject(subject_id="7", species="Homo sapiens"))
    if with_trials:
        nwb.add_trial_column("stimulus", "image shown")
        nwb.add_trial_column("correct", "1 correct, 0 wrong")
        nwb.add_trial_column("rt", "reaction time (s)")
        for i, (stim, ok, rt) in enumerate([("a.png", 1, 0.4), ("b.png", 0, 0.6), ("c.png", 1, 0.5)]):
            nwb.add_trial(start_time=2.0 * i, stop_time=2.0 * i + 1, stimulus=stim, correct=ok, rt=rt)
    if extra_table:
        table = TimeIntervals(name="recognition", description="old/new test")
        table.add_column("accuracy", "correct = 2, incorrect = 1")
        for i, acc in enumerate([2, 1, 2, 2]):
            table.add_row(start_time=10.0 + i, stop_time=10.5 + i, accuracy=acc)
        nwb.add_time_intervals(table)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


@pytest.fixture
def trials_frame():
    return pd.DataFrame({
        "stimulus": ["cat.png", "dog.png", "car.png", "cat.png"],
        "response": ["left", "right", "left", "left"],
        "correct": [1, 0, np.nan, 1],
        "rt": [0.41, 0.52, np.nan, 0.38],
        "condition": ["easy", "hard", "hard", "easy"],
        "contrast": [0.1, 0.5, 0.5, 0.1],
    })


# --------------------------------------------------------------------------- CSV / TSV / BIDS


def test_csv_roles_values_and_stimulus_coord(tmp_path, trials_frame):
    path = tmp_path / "trials.csv"
    trials_frame.to_csv(path, index=False)
    ds = load_trials(path, progress=False)
    assert ds.sizes["trial"] == 4
    assert ds.stimulus_id.dims == ("trial",)
    assert ds.stimulus_id.values.tolist() == trials_frame.stimulus.tolist()
    np.testing.assert_array_equal(ds.correct.values, trials_frame.correct.to_numpy(float))
    np.testing.assert_allclose(ds.reaction_time.values, trials_frame.rt.to_numpy(float), equal_nan=True)
    assert ds.choice.values.tolist() == trials_frame.response.tolist()
    assert ds.condition.values.tolist() == trials_frame.condition.tolist()
    np.testing.assert_allclose(ds.contrast.values, trials_frame.contrast.values)
    assert ds.attrs["column_roles"] == {"stimulus_id": "stimulus", "choice": "response", "correct": "correct",
                                        "reaction_time": "rt", "condition": "condition"}
    assert ds.file.values.tolist() == ["trials.csv"] * 4
    assert ds.reaction_time.attrs["units"] == "s"
    assert set(ds.attrs["input_hashes"]) == {"trials.csv"}


def test_bids_events_tsv_entities_and_na(tmp_path):
    path = tmp_path / "sub-01_ses-02_task-faces_run-3_events.tsv"
    path.write_text("onset\tduration\ttrial_type\tstim_file\tresponse_time\tcorrect\n"
                    "0.0\t1.0\tface\tf1.png\t0.52\t1\n"
                    "2.5\t1.0\thouse\th1.png\tn/a\tn/a\n")
    ds = load_trials(path)
    assert ds.attrs["bids_entities"] == {"subject": "01", "session": "02", "task": "faces", "run": 3}
    assert ds.subject.values.tolist() == ["01", "01"] and ds.session.values.tolist() == ["02", "02"]
    assert ds.task.values.tolist() == ["faces", "faces"] and ds.run.values.tolist() == ["3", "3"]
    assert ds.stimulus_id.values.tolist() == ["f1.png", "h1.png"]
    assert ds.condition.values.tolist() == ["face", "house"]
    np.testing.assert_array_equal(ds.correct.values, [1.0, np.nan])
    np.testing.assert_array_equal(ds.reaction_time.values, [0.52, np.nan])
    np.testing.assert_array_equal(ds.onset.values, [0.0, 2.5])


def test_bids_events_without_onset_is_rejected(tmp_path):
    path = tmp_path / "sub-01_task-x_events.tsv"
    path.write_text("duration\tstim_file\n1.0\ta.png\n")
    with pytest.raises(FileFormatError, match="onset") as info:
        load_trials(path)
    assert str(path) in str(info.value)


def test_reaction_time_in_milliseconds(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"stimulus_id": ["a", "b"], "RT": [412.0, 1000.0]}).to_csv(path, index=False)
    ds = load_trials(path, rt_unit="ms")
    np.testing.assert_allclose(ds.reaction_time.values, [0.412, 1.0])


def test_several_files_stack_and_skip_bad_ones(tmp_path, trials_frame):
    good = []
    for sub in ("01", "02"):
        path = tmp_path / f"sub-{sub}_task-a_events.tsv"
        trials_frame.assign(onset=np.arange(4.0), duration=1.0).to_csv(path, sep="\t", index=False)
        good.append(path)
    bad = tmp_path / "sub-03_task-a_events.tsv"
    bad.write_bytes(b"")
    ds = load_trials([*good, bad], errors="skip", progress=False)
    assert ds.sizes["trial"] == 8
    assert ds.subject.values.tolist() == ["01"] * 4 + ["02"] * 4
    assert [s["file"] for s in ds.attrs["skipped"]] == [str(bad)]
    with pytest.raises(FileFormatError) as info:
        load_trials([*good, bad], errors="raise", progress=False)
    assert str(bad) in str(info.value)


def test_all_files_bad_names_the_first_error(tmp_path):
    paths = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for path in paths:
        path.write_text("")
    with pytest.raises(FileFormatError, match="none of the 2 files") as info:
        load_trials(paths, errors="skip", progress=False)
    assert str(paths[0]) in str(info.value)


def test_explicit_role_keeps_a_clashing_column(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"stimulus": ["a", "b"], "condition": ["x", "y"], "difficulty": ["easy", "hard"]}).to_csv(
        path, index=False)
    ds = load_trials(path, condition="difficulty")
    assert ds.condition.values.tolist() == ["easy", "hard"]
    assert ds.condition_column.values.tolist() == ["x", "y"]
    # a named column is not taken first by another role's guess ("stimulus" is a stimulus alias)
    named = load_trials(path, condition="stimulus")
    assert named.condition.values.tolist() == ["a", "b"] and "stimulus_id" not in named.coords
    with pytest.raises(ConfigError, match="two roles"):
        load_trials(path, condition="stimulus", stimulus="stimulus")


def test_integer_trial_column_becomes_the_trial_coordinate(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"trial": [5, 6, 7], "stimulus": ["a", "b", "c"]}).to_csv(path, index=False)
    assert load_trials(path).trial.values.tolist() == [5, 6, 7]


def test_correct_codes_need_a_map(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"stimulus": ["a", "b", "c"], "accuracy": [2, 1, 0]}).to_csv(path, index=False)
    ds = load_trials(path)  # found by alias, codes are not 0/1: kept as is, not used as 'correct'
    assert "correct" not in ds and ds.accuracy.values.tolist() == [2, 1, 0]
    with pytest.raises(DataError, match="correct_map"):
        load_trials(path, correct="accuracy")
    mapped = load_trials(path, correct="accuracy", correct_map={2: 1.0, 1: 0.0, 0: np.nan})
    np.testing.assert_array_equal(mapped.correct.values, [1.0, 0.0, np.nan])


def test_text_correctness_is_translated(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"image": ["a", "b", "c"], "correct": ["True", "False", "yes"]}).to_csv(path, index=False)
    np.testing.assert_array_equal(load_trials(path).correct.values, [1.0, 0.0, 1.0])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from([0.0, 1.0]),
                          st.floats(0.05, 3.0)), min_size=1, max_size=30),
       st.randoms(use_true_random=False))
def test_row_order_is_preserved_under_permutation(rows, random):
    # property: loading a permuted table gives the same trials, permuted the same way
    frame = pd.DataFrame(rows, columns=["stimulus", "correct", "rt"])
    order = list(range(len(frame)))
    random.shuffle(order)
    with tempfile.TemporaryDirectory() as folder:
        frame.to_csv(Path(folder) / "a.csv", index=False)
        frame.iloc[order].to_csv(Path(folder) / "b.csv", index=False)
        a = load_trials(Path(folder) / "a.csv")
        b = load_trials(Path(folder) / "b.csv")
    np.testing.assert_array_equal(a.stimulus_id.values[order], b.stimulus_id.values)
    np.testing.assert_allclose(a.reaction_time.values[order], b.reaction_time.values)
    np.testing.assert_array_equal(a.correct.values[order], b.correct.values)


# --------------------------------------------------------------------------- MATLAB


def test_mat_v5_scalar_struct_of_vectors(tmp_path):
    path = tmp_path / "trials.mat"
    scipy.io.savemat(path, {"trials": {"stimulus": np.array(["a.png", "b.png", "c.png"], dtype=object),
                                       "rt": np.array([0.3, 0.4, 0.5]), "correct": np.array([1, 0, 1])}})
    assert mat_version(path) == "v5"
    ds = load_trials(path)
    assert ds.stimulus_id.values.tolist() == ["a.png", "b.png", "c.png"]
    np.testing.assert_allclose(ds.reaction_time.values, [0.3, 0.4, 0.5])
    np.testing.assert_array_equal(ds.correct.values, [1.0, 0.0, 1.0])


def test_mat_v5_struct_array_and_loose_vectors(tmp_path):
    records = np.array([{"image": "x", "rt": 0.2}, {"image": "y", "rt": 0.3}], dtype=object)
    path = tmp_path / "sa.mat"
    scipy.io.savemat(path, {"data": records})
    assert load_trials(path).stimulus_id.values.tolist() == ["x", "y"]
    loose = tmp_path / "loose.mat"
    scipy.io.savemat(loose, {"rt": np.array([0.1, 0.2, 0.3]), "choice": np.array([1, 2, 1]), "subject_code": 9})
    ds = load_trials(loose)
    assert ds.sizes["trial"] == 3 and ds.choice.values.tolist() == [1, 2, 1]


def test_mat_matrix_with_header_and_mismatched_header(tmp_path):
    matrix = np.array([[1, 0.5, 1], [2, 0.7, 0], [1, 0.6, 1]], dtype=float)
    path = tmp_path / "m.mat"
    scipy.io.savemat(path, {"table": matrix, "colHeaders": np.array(["condition", "rt", "correct"], dtype=object)})
    ds = load_trials(path)
    np.testing.assert_allclose(ds.reaction_time.values, matrix[:, 1])
    np.testing.assert_allclose(ds.condition.values, matrix[:, 0])
    short = tmp_path / "short.mat"
    scipy.io.savemat(short, {"table": matrix, "colHeaders": np.array(["condition", "rt"], dtype=object)})
    with pytest.raises(FileFormatError, match="header names 2 columns") as info:
        load_trials(short)
    assert str(short) in str(info.value) and "column_names" in str(info.value)
    ok = load_trials(short, column_names=["condition", "rt", "correct"])
    np.testing.assert_array_equal(ok.correct.values, matrix[:, 2])


def test_mat_v73_written_with_h5py(tmp_path):
    path = write_mat73(tmp_path / "t73.mat", {
        "trials": {"stimulus": ["a.png", "b.png", "c.png"], "rt": np.array([0.3, 0.4, 0.5]),
                   "correct": np.array([1.0, 0.0, 1.0])},
        "note": "pilot",
    })
    assert mat_version(path) == "v7.3"
    ds = load_trials(path)
    assert ds.stimulus_id.values.tolist() == ["a.png", "b.png", "c.png"]
    np.testing.assert_allclose(ds.reaction_time.values, [0.3, 0.4, 0.5])
    np.testing.assert_array_equal(ds.correct.values, [1.0, 0.0, 1.0])


def test_mat_v5_and_v73_readers_agree(tmp_path):
    # reference: scipy.io.loadmat is the reader of record for v5; ours must give the same objects for v7.3
    matrix = np.arange(12, dtype=float).reshape(3, 4)
    variables = {"m": matrix, "v": np.array([1.0, 2.0, 3.0]), "s": "hello", "c": ["ab", "cde"],
                 "st": {"x": np.array([0.5, 0.25])}, "sa": [{"k": 1.0}, {"k": 2.0}]}
    v5 = tmp_path / "v5.mat"
    scipy.io.savemat(v5, {**variables, "c": np.array(variables["c"], dtype=object),
                          "sa": np.array(variables["sa"], dtype=object)})
    v73 = write_mat73(tmp_path / "v73.mat", variables)
    a, b = read_mat(v5), read_mat(v73)
    assert set(a) == set(b)
    np.testing.assert_array_equal(a["m"], b["m"])
    np.testing.assert_array_equal(a["v"], b["v"])
    assert a["s"] == b["s"] == "hello"
    assert a["c"] == b["c"] == ["ab", "cde"]
    np.testing.assert_array_equal(a["st"]["x"], b["st"]["x"])
    assert [d["k"] for d in a["sa"]] == [d["k"] for d in b["sa"]] == [1.0, 2.0]


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_mat_readers_agree_on_any_matrix_shape(rows, cols, seed):
    # property: a matrix saved by scipy (v5) and in the v7.3 layout reads back identically, in MATLAB's shape
    matrix = np.random.default_rng(seed).normal(size=(rows, cols))
    with tempfile.TemporaryDirectory() as folder:
        v5, v73 = Path(folder) / "a.mat", Path(folder) / "b.mat"
        scipy.io.savemat(v5, {"m": matrix})
        write_mat73(v73, {"m": matrix})
        a, b = read_mat(v5)["m"], read_mat(v73)["m"]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.asarray(a).ravel(), matrix.ravel())


def test_read_mat_unknown_variable_lists_names(tmp_path):
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"reaction_times": np.ones(3)})
    with pytest.raises(UnknownNameError, match="reaction_times"):
        read_mat(path, variables=["reaction_time"])


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_truncated_mat_file(tmp_path, version):
    path = tmp_path / "full.mat"
    if version == "v5":
        scipy.io.savemat(path, {"trials": {"rt": np.linspace(0, 1, 500), "correct": np.ones(500)}})
    else:
        write_mat73(path, {"rt": np.linspace(0, 1, 500), "correct": np.ones(500)})
    cut = tmp_path / "cut.mat"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError) as info:
        load_trials(cut)
    message = str(info.value)
    assert str(cut) in message and "truncated or corrupt" in message and "Fix:" in message


def test_corrupt_mat_file(tmp_path):
    path = tmp_path / "junk.mat"
    path.write_bytes(b"this is not a MATLAB file at all" * 10)
    with pytest.raises(FileFormatError, match="not a MATLAB file") as info:
        load_trials(path)
    assert str(path) in str(info.value)


def test_harrington_oddity_file_needs_its_column_names(shared_data):
    from neuroalign.loaders.psychophysics import COLUMNS_ODDITY

    path = shared_data / "harrington_deza2022" / "AE_11_oddity_data1.mat"
    with pytest.raises(FileFormatError, match="16 columns|names 15 columns"):
        load_trials(path, table="full_condtable")
    ds = load_trials(path, table="full_condtable", column_names=COLUMNS_ODDITY, correct="portion_correct",
                     na_values=[-1])
    assert ds.sizes["trial"] == 1728
    assert set(np.unique(ds.target_position.values)) == {0.0, 1.0}


# --------------------------------------------------------------------------- NWB


def test_nwb_trials_written_with_pynwb(tmp_path):
    path = write_nwb(tmp_path / "sub-7_ses-3_behavior.nwb")
    ds = load_trials(path)
    assert ds.stimulus_id.values.tolist() == ["a.png", "b.png", "c.png"]
    np.testing.assert_array_equal(ds.correct.values, [1.0, 0.0, 1.0])
    np.testing.assert_allclose(ds.reaction_time.values, [0.4, 0.6, 0.5])
    np.testing.assert_allclose(ds.start_time.values, [0.0, 2.0, 4.0])
    assert ds.subject.values.tolist() == ["7"] * 3 and ds.session.values.tolist() == ["3"] * 3
    rec = load_trials(path, table="recognition", correct="accuracy", correct_map={2: 1.0, 1: 0.0})
    np.testing.assert_array_equal(rec.correct.values, [1.0, 0.0, 1.0, 1.0])


def test_nwb_missing_table_and_no_intervals(tmp_path):
    path = write_nwb(tmp_path / "a.nwb")
    with pytest.raises(UnknownNameError, match="did you mean 'recognition'") as info:
        load_trials(path, table="recogniton")
    assert str(path) in str(info.value)
    empty = write_nwb(tmp_path / "b.nwb", with_trials=False, extra_table=False)
    with pytest.raises(FileFormatError, match="no intervals tables"):
        load_trials(empty)


def test_nwb_without_pynwb_raises_dependency_error(tmp_path, monkeypatch):
    path = write_nwb(tmp_path / "a.nwb")
    monkeypatch.setitem(sys.modules, "pynwb", None)  # makes "import pynwb" fail as if not installed
    with pytest.raises(DependencyError, match="pip install") as info:
        load_trials(path)
    assert isinstance(info.value, ImportError)


@pytest.mark.filterwarnings("ignore:OpticalSeries:UserWarning")
def test_real_human_nwb_trial_tables(shared_data):
    path = shared_data / HUMAN_NWB
    with pytest.raises(ConfigError, match="several intervals tables"):
        load_trials(path)
    sizes = {}
    # responses before the response prompt have negative reaction times in this file (4 and 7 trials)
    with pytest.raises(DataError, match="4 negative value"):
        load_trials(path, table="recognition_table")
    for table in ("encoding_table", "recognition_table", "timediscrimination_table"):
        ds = load_trials(path, table=table, negative_rt="keep")
        sizes[table] = ds.sizes["trial"]
        assert ds.subject.values[0] == "4" and ds.session.values[0] == "4"
        assert all(isinstance(s, str) and not s.startswith("b'") for s in ds.stimulus_id.values)
    assert sizes == {"encoding_table": 90, "recognition_table": 180, "timediscrimination_table": 180}
    # the file documents accuracy as "correct = 2, incorrect 1, no response = 0"
    rec = load_trials(path, table="recognition_table", correct="accuracy",
                      correct_map={2: 1.0, 1: 0.0, 0: np.nan}, negative_rt="keep")
    import pynwb

    with pynwb.NWBHDF5IO(str(path), "r") as io:  # reference: the table read directly with pynwb
        frame = io.read().intervals["recognition_table"].to_dataframe()
    np.testing.assert_array_equal(rec.correct.values, (frame.accuracy.to_numpy() == 2).astype(float))
    np.testing.assert_allclose(rec.reaction_time.values, frame.RT.to_numpy())
    assert rec.stimulus_id.values.tolist() == [b.decode() for b in frame.frameName]
    assert rec.attrs["column_roles"]["stimulus_id"] == "frameName"


# --------------------------------------------------------------------------- bad input


def test_misspelt_column_lists_close_matches(tmp_path, trials_frame):
    path = tmp_path / "t.csv"
    trials_frame.rename(columns={"rt": "reaction_tme"}).to_csv(path, index=False)
    with pytest.raises(UnknownNameError) as info:
        load_trials(path, reaction_time="reaction_time")
    message = str(info.value)
    assert str(path) in message and "did you mean 'reaction_tme'" in message
    with pytest.raises(ConfigError) as info:  # a required role whose column is misspelt in the file
        load_trials(path, require=["reaction_time"])
    assert "did you mean 'reaction_tme'" in str(info.value) and str(path) in str(info.value)


def test_missing_required_column(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"stimulus": ["a"], "rt": [0.3]}).to_csv(path, index=False)
    with pytest.raises(ConfigError, match="no column for correct") as info:
        load_trials(path, require="correct")
    assert "correct='<column name>'" in str(info.value)
    assert load_trials(path, require=["stimulus", "reaction_time"]).stimulus_id.values.tolist() == ["a"]


def test_unknown_suffix_and_format(tmp_path):
    path = tmp_path / "trials.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(FileFormatError, match="unknown trial-table format '.xlsx'") as info:
        load_trials(path)
    assert str(path) in str(info.value) and "format=" in str(info.value)
    with pytest.raises(UnknownNameError, match="did you mean 'csv'"):
        load_trials(path, format="cvs")


def test_unreadable_text_files(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(FileFormatError, match="empty"):
        load_trials(empty)
    ragged = tmp_path / "r.csv"
    ragged.write_text("a,b\n1,2,3,4\n")
    with pytest.raises(FileFormatError, match="do not have the header's 2 fields"):
        load_trials(ragged)
    unnamed = tmp_path / "u.csv"
    unnamed.write_text("stimulus,,rt\na,1,0.2\n")
    with pytest.raises(FileFormatError, match="no header name"):
        load_trials(unnamed)
    with pytest.raises(FileFormatError, match="file not found"):
        load_trials(tmp_path / "absent.csv")


def test_every_error_is_a_neuroalign_error(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"stimulus": ["a"]}).to_csv(path, index=False)
    for kwargs in ({"errors": "ignore"}, {"rt_unit": "min"}, {"require": ["rt"]}, {"choice": 3}):
        with pytest.raises(NeuroalignError):
            load_trials(path, **kwargs)


# --------------------------------------------------------------------------- triplets


def test_triplets_with_ids(tmp_path):
    path = tmp_path / "triplets.csv"
    pd.DataFrame({"subject": ["s1", "s1", "s2"], "image_1": ["cat", "cat", "car"], "image_2": ["dog", "cow", "bus"],
                  "image_3": ["car", "dog", "cat"], "choice": ["car", "cat", "cat"], "rt": [1.2, 0.9, 2.0],
                  "block": [1, 1, 2]}).to_csv(path, index=False)
    t = load_triplets(path)
    assert t.stimulus_id.dims == ("trial", "item") and t.stimulus_id.shape == (3, 3)
    assert t.choice_index.values.tolist() == [2, 0, 2]
    assert t.choice.values.tolist() == ["car", "cat", "cat"]
    assert t.subject.values.tolist() == ["s1", "s1", "s2"]
    np.testing.assert_allclose(t.reaction_time.values, [1.2, 0.9, 2.0])
    assert t.block.values.tolist() == [1, 1, 2]


@pytest.mark.parametrize("base", [0, 1])
def test_triplets_with_positions(tmp_path, base):
    path = tmp_path / "t.tsv"
    pd.DataFrame({"stim_a": [10, 11, 12], "stim_b": [20, 21, 22], "stim_c": [30, 31, 32],
                  "odd_one_out": [base + 0, base + 2, base + 1]}).to_csv(path, sep="\t", index=False)
    t = load_triplets(path, choice_kind="index")
    assert t.choice_index.values.tolist() == [0, 2, 1]
    assert t.choice.values.tolist() == [10, 31, 22]


def test_triplet_choice_must_be_one_of_the_three(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"item1": ["a", "d"], "item2": ["b", "e"], "item3": ["c", "f"], "chosen": ["a", "z"]}).to_csv(
        path, index=False)
    with pytest.raises(DataError) as info:
        load_triplets(path)
    message = str(info.value)
    assert str(path) in message and "'z' not in ('d', 'e', 'f')" in message and "data row 2" in message


def test_triplet_bad_positions_and_ambiguity(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"item_0": ["a", "b"], "item_1": ["c", "d"], "item_2": ["e", "f"],
                  "choice": [1, 2]}).to_csv(path, index=False)
    with pytest.raises(ConfigError, match="index_base"):
        load_triplets(path)
    assert load_triplets(path, index_base=1).choice.values.tolist() == ["a", "d"]
    assert load_triplets(path, index_base=0).choice.values.tolist() == ["c", "f"]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"item_0": ["a"], "item_1": ["c"], "item_2": ["e"], "choice": [4]}).to_csv(bad, index=False)
    with pytest.raises(DataError, match="not one of"):
        load_triplets(bad, choice_kind="index", index_base=1)


def test_triplet_missing_choice_and_columns(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"item_1": ["a", "b"], "item_2": ["c", "d"], "item_3": ["e", "f"],
                  "choice": ["a", None]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="no choice"):
        load_triplets(path)
    with pytest.raises(UnknownNameError, match="did you mean 'item_1'"):
        load_triplets(path, items=("item1", "item_2", "item_3"))
    nochoice = tmp_path / "n.csv"
    pd.DataFrame({"item_1": ["a"], "item_2": ["c"], "item_3": ["e"], "chosn": ["a"]}).to_csv(nochoice, index=False)
    with pytest.raises(ConfigError, match="did you mean 'chosn'"):
        load_triplets(nochoice)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.permutations(["a", "b", "c", "d", "e"]), st.integers(0, 2)), min_size=1, max_size=20),
       st.permutations([0, 1, 2]))
def test_triplet_choice_follows_the_item_order(rows, column_order):
    # property: reordering the item columns moves choice_index with them and keeps the chosen id
    items = np.array([r[0][:3] for r in rows])
    chosen = items[np.arange(len(rows)), [r[1] for r in rows]]
    frame = pd.DataFrame({"x1": items[:, 0], "x2": items[:, 1], "x3": items[:, 2], "choice": chosen})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        frame.to_csv(path, index=False)
        a = load_triplets(path)
        names = [("x1", "x2", "x3")[i] for i in column_order]
        b = load_triplets(path, items=names)
    assert a.choice.values.tolist() == b.choice.values.tolist() == chosen.tolist()
    np.testing.assert_array_equal(np.asarray(column_order)[b.choice_index.values], a.choice_index.values)


def test_read_trial_table_returns_frame(tmp_path, trials_frame):
    path = tmp_path / "t.csv"
    trials_frame.to_csv(path, index=False)
    frame, meta = read_trial_table(path)
    pd.testing.assert_frame_equal(frame, pd.read_csv(path))
    assert meta == {}


# --------------------------------------------------------------------------- issue 10: silently accepted input


def test_repeated_header_names_and_short_rows_are_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("stimulus,rt,rt\na.png,0.4,0.5\n")  # pandas would return columns rt and rt.1
    with pytest.raises(FileFormatError, match=r"repeats the column name\(s\) \['rt'\]") as info:
        load_trials(path)
    assert str(path) in str(info.value)
    tsv = tmp_path / "sub-01_task-x_events.tsv"
    tsv.write_text("onset\tduration\tonset\n0\t1\t2\n")
    with pytest.raises(FileFormatError, match="repeats the column name"):
        load_trials(tsv)
    with pytest.raises(FileFormatError, match="repeats the column name"):
        load_triplets(_write(tmp_path / "trip.csv", "image_1,image_2,image_3,choice,choice\na,b,c,a,a\n"))
    short = _write(tmp_path / "short.csv", "stimulus,correct,rt\na.png,1,0.4\nb.png,0\n")  # cut off
    with pytest.raises(FileFormatError, match=r"lines \[3\]"):
        load_trials(short)


def _write(path, text):
    path.write_text(text)
    return path


def test_a_column_called_correct_must_hold_0_or_1(tmp_path):
    path = _write(tmp_path / "t.csv", "stimulus,correct\na,1\nb,2\nc,0\n")
    with pytest.raises(DataError, match=r"'correct' \(correct\) has values other than 0/1") as info:
        load_trials(path)  # it used to come back as a variable 'correct' holding the code 2
    assert "correct_map" in str(info.value) and "data rows [2]" in str(info.value)
    kept = load_trials(path, correct=False)
    assert kept.correct.values.tolist() == [1, 2, 0] and kept.attrs["column_roles"].get("correct") is None


def test_correct_map_must_list_every_code(tmp_path):
    path = _write(tmp_path / "t.csv", "stimulus,accuracy\na,2\nb,1\nc,3\nd,\n")
    with pytest.raises(DataError, match=r"codes \['3.0'\] that correct_map does not list"):
        load_trials(path, correct="accuracy", correct_map={2: 1.0, 1: 0.0})  # 3 used to become NaN
    with pytest.raises(DataError, match="not to 1.0, 0.0"):
        load_trials(path, correct="accuracy", correct_map={2: 1.0, 1: 0.0, 3: 2.0})
    ds = load_trials(path, correct="accuracy", correct_map={2: 1.0, 1: 0.0, 3: np.nan})
    np.testing.assert_array_equal(ds.correct.values, [1.0, 0.0, np.nan, np.nan])


def test_missing_stimulus_is_never_the_id_n_a(tmp_path):
    path = _write(tmp_path / "sub-01_task-x_events.tsv",
                  "onset\tduration\ttrial_type\tstim_file\n0\t1\timage\ta.png\n2\t0\tresponse\tn/a\n4\t1\timage\tb.png\n")
    with pytest.raises(DataError, match=r"1 of 3 trial\(s\) have no stimulus in column 'stim_file'") as info:
        load_trials(path)  # the second trial used to get the stimulus_id 'n/a'
    assert "missing_stimulus='drop'" in str(info.value) and "data rows [2]" in str(info.value)
    ds = load_trials(path, missing_stimulus="drop")
    assert ds.stimulus_id.values.tolist() == ["a.png", "b.png"] and ds.onset.values.tolist() == [0, 4]
    assert ds.attrs["dropped_trials"] == {str(path): [2]}
    plain = load_trials(path, stimulus=False)
    assert "stimulus_id" not in plain.coords and plain.stim_file.values.tolist() == ["a.png", "n/a", "b.png"]
    other = _write(tmp_path / "other.csv", "condition\neasy\n")
    with pytest.raises(DataError, match="no stimulus column"):  # stacked with a file that has stimuli
        load_trials([path, other], missing_stimulus="drop", progress=False)


def test_negative_and_infinite_reaction_times(tmp_path):
    path = _write(tmp_path / "t.csv", "stimulus,rt\na,0.4\nb,-0.2\nc,\n")
    with pytest.raises(DataError, match=r"1 negative value\(s\), e.g. -0.2 \(data rows \[2\]\)") as info:
        load_trials(path)
    assert "negative_rt" in str(info.value) and "na_values" in str(info.value)
    np.testing.assert_array_equal(load_trials(path, negative_rt="nan").reaction_time.values, [0.4, np.nan, np.nan])
    np.testing.assert_array_equal(load_trials(path, negative_rt="keep").reaction_time.values, [0.4, -0.2, np.nan])
    coded = _write(tmp_path / "c.csv", "stimulus,rt_ms\na,400\nb,-1\n")
    ds = load_trials(coded, reaction_time="rt_ms", rt_unit="ms", na_values=[-1])
    np.testing.assert_array_equal(ds.reaction_time.values, [0.4, np.nan])
    infinite = _write(tmp_path / "i.csv", "stimulus,rt\na,inf\n")
    with pytest.raises(DataError, match="infinite"):
        load_trials(infinite)
    with pytest.raises(UnknownNameError):
        load_trials(path, negative_rt="drop")


def test_triplets_with_a_repeated_or_missing_item_or_negative_rt(tmp_path):
    path = _write(tmp_path / "t.csv", "image_1,image_2,image_3,choice\na,b,c,a\nd,e,d,e\n")
    with pytest.raises(DataError, match=r"1 triplet\(s\) show the same stimulus twice, e.g. data row 2") as info:
        load_triplets(path)
    assert "('d', 'e', 'd')" in str(info.value)
    numeric = _write(tmp_path / "n.csv", "item_0,item_1,item_2,choice\n1,2,3,1\n4,4,5,5\n")
    with pytest.raises(DataError, match="same stimulus twice"):
        load_triplets(numeric)
    missing = _write(tmp_path / "m.csv", "image_1,image_2,image_3,choice\na,b,c,a\nd,,f,d\n")
    with pytest.raises(DataError, match=r"lack a stimulus .* \(data rows \[2\]\)"):
        load_triplets(missing)  # the empty cell used to become the item 'n/a'
    with pytest.raises(ConfigError, match="3 different columns"):
        load_triplets(path, items=("image_1", "image_1", "image_2"))
    slow = _write(tmp_path / "rt.csv", "image_1,image_2,image_3,choice,rt\na,b,c,a,-1.5\n")
    with pytest.raises(DataError, match="negative"):
        load_triplets(slow)
    assert np.isnan(load_triplets(slow, negative_rt="nan").reaction_time.values[0])
