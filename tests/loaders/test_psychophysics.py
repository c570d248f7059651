"""Tests of neuroalign.loaders.psychophysics on the real Harrington & Deza (2022) files.

References are computed straight from the files with h5py, independently of
neuroalign's MAT reader, and follow the authors' analysis
(anneharrington/Adversarially-Robust-Periphery, Psychophysics/plot_data/get_data_pool.m:
condition in column 2 (2AFC) / 3 (oddity), correctness in column 12 / 15, 1-based,
NaN and -1 omitted).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from neuroalign.errors import ConfigError, DataError, FileFormatError, UnknownNameError
from neuroalign.loaders.psychophysics import (COLUMNS_2AFC, COLUMNS_ODDITY, CONDITIONS,
                                              load_metameric_psychophysics)

from .test_behavior import write_mat73

MAIN_SUBJECTS = ["AE_11", "EC_02", "FF_30", "HC_12", "JH_63", "LB_55", "MD_89", "NO_75", "SJ_32", "SO_18",
                 "TH_34", "WL_03"]


@pytest.fixture(scope="module")
def folder(shared_data):
    return shared_data / "harrington_deza2022"


@pytest.fixture(scope="module")
def data(folder):
    return load_metameric_psychophysics(folder, progress=False)


def raw_table(path):
    """full_condtable as (trials, columns), read with h5py only."""
    with h5py.File(path, "r") as handle:
        return handle["full_condtable"][()].T


def test_every_file_loads_with_all_its_trials(folder, data):
    files = sorted(folder.glob("*.mat"))
    assert len(files) == 52  # 12 participants × 4 + 4 partial/repeated files
    counts = dict(zip(*np.unique(data.file.values, return_counts=True)))
    assert counts == {f.stem: raw_table(f).shape[0] for f in files}
    assert data.sizes["trial"] == sum(counts.values())
    for name in ("subject", "session", "task", "condition", "condition_id", "eccentricity", "stimulus_id"):
        assert data[name].dims == ("trial",)


def test_partial_and_repeated_files_are_labelled(data):
    kinds = {f: k for f, k in zip(data.file.values, data.session_kind.values)}
    assert {f for f, k in kinds.items() if k == "partial"} == {"AE_data1", "EC_data2", "EC_oddity_data2"}
    assert {f for f, k in kinds.items() if k == "repeat"} == {"WL_03b_data2"}
    assert sum(k == "main" for k in kinds.values()) == 48
    subjects = {f: s for f, s in zip(data.file.values, data.subject.values)}
    assert subjects["AE_data1"] == "AE_11" and subjects["EC_oddity_data2"] == "EC_02"
    assert subjects["WL_03b_data2"] == "WL_03"
    main = data.session_kind.values == "main"
    assert sorted(set(data.subject.values[main])) == MAIN_SUBJECTS
    # the partial tables: one repetition, only the first block was presented
    for stem in ("AE_data1", "EC_data2", "EC_oddity_data2"):
        part = data.isel(trial=data.file.values == stem)
        shown = part.response_status.values != "not_presented"
        assert set(part.block.values[shown]) == {1}


def test_missing_responses_are_nan_not_wrong(folder, data):
    for path in sorted(folder.glob("*.mat")):
        table = raw_table(path)
        recorded = table[:, 14 if table.shape[1] == 16 else 11]
        part = data.isel(trial=data.file.values == path.stem)
        status = part.response_status.values
        np.testing.assert_array_equal(status == "not_presented", recorded == -1)
        np.testing.assert_array_equal(status == "no_response", np.isnan(recorded))
        valid = status == "valid"
        np.testing.assert_array_equal(part.correct.values[valid], recorded[valid])
        assert np.isnan(part.correct.values[~valid]).all()
        assert np.isnan(part.reaction_time.values[~valid]).all()
        assert np.isnan(part.choice.values[~valid]).all()
    assert (data.response_status == "not_presented").sum() == 5977
    assert (data.response_status == "no_response").sum() == 494
    assert set(np.unique(data.correct.values[~np.isnan(data.correct.values)])) == {0.0, 1.0}


def test_accuracy_by_eccentricity_matches_the_authors_pooling(folder, data):
    # reference: get_data_pool.m — pool the subjects' files, omit NaN and -1, mean per (eccentricity, condition)
    for suffix, task, session in (("_data1", "2afc", 1), ("_data2", "2afc", 2),
                                  ("_oddity_data1", "oddity", 1), ("_oddity_data2", "oddity", 2)):
        pooled = np.concatenate([raw_table(folder / f"{s}{suffix}.mat") for s in MAIN_SUBJECTS])
        cond_col, correct_col = (2, 14) if task == "oddity" else (1, 11)
        sel = data.isel(trial=((data.session_kind == "main") & (data.task == task)
                               & (data.session == session)).values)
        for e in range(1, 7):
            for c in np.unique(pooled[:, cond_col]).astype(int):
                values = pooled[(pooled[:, 0] == e) & (pooled[:, cond_col] == c), correct_col]
                values = values[~np.isnan(values) & (values != -1)]
                mask = (sel.eccentricity.values == 5 * e) & (sel.condition.values == CONDITIONS[(session, c)])
                assert np.nanmean(sel.correct.values[mask]) == pytest.approx(values.mean(), abs=1e-12)
                assert np.count_nonzero(~np.isnan(sel.correct.values[mask])) == values.size


def test_the_unnamed_oddity_column_is_the_target_side(folder, data):
    with h5py.File(folder / "AE_11_oddity_data1.mat", "r") as handle:
        assert handle["full_condtable"].shape[0] == 16 and handle["colHeaders"].shape[0] == 15
    for stem in ("AE_11", "JH_63", "WL_03"):
        odd = raw_table(folder / f"{stem}_oddity_data1.mat")
        afc = raw_table(folder / f"{stem}_data1.mat")
        assert set(np.unique(odd[:, 1])) == {0.0, 1.0} and odd[:, 1].mean() == 0.5
        # after the shift, every named oddity column holds what the 2AFC column of that name holds
        for name in ("condition_id", "target", "left", "right", "class_id", "im_id"):
            np.testing.assert_array_equal(np.unique(odd[:, COLUMNS_ODDITY.index(name)]),
                                          np.unique(afc[:, COLUMNS_2AFC.index(name)]))
    oddity = data.isel(trial=(data.task == "oddity").values)
    assert set(oddity.side.values) == {"left", "right"}
    assert set(data.side.values[data.task.values == "2afc"]) == {"both"}


def test_condition_names_match_the_stimulus_types(data):
    kinds = {"original vs robust": ({"original"}, "robust"), "original vs standard": ({"original"}, "standard"),
             "original vs texform": ({"original"}, "texform"), "robust vs robust": (set(), "robust"),
             "standard vs standard": (set(), "standard"), "texform vs texform": (set(), "texform")}
    types = np.stack([data.target_type.values, data.left_type.values, data.right_type.values], axis=1)
    for name, (fixed, family) in kinds.items():
        rows = types[data.condition.values == name]
        assert len(rows)
        for row in {tuple(r) for r in rows}:
            present = set(row)
            synth = {t for t in present if t.startswith(family)}
            assert present == fixed | synth, (name, row)
            if fixed:  # one original and one synthesis of the family in every trial
                assert len(synth) == 1
            else:  # two different syntheses of the same family
                assert synth == {f"{family}_0", f"{family}_1"}
    assert set(zip(data.session.values.tolist(), data.condition_id.values.tolist(),
                   data.condition.values.tolist())) == {(s, c, n) for (s, c), n in CONDITIONS.items()}


def test_answer_key_and_rescoring(data):
    mismatch = data.answer_key_mismatch.values
    where = set(zip(data.task.values[mismatch], data.condition.values[mismatch]))
    assert where == {("oddity", "standard vs standard")}
    in_condition = (data.task.values == "oddity") & (data.condition.values == "standard vs standard")
    assert mismatch[in_condition].mean() == pytest.approx(1 / 3)
    same = ~mismatch
    np.testing.assert_array_equal(data.correct.values[same], data.correct_by_stimuli.values[same])
    # a 2AFC answer key is the side whose image matches the target
    afc = data.isel(trial=(data.task == "2afc").values)
    expected = np.where(afc.left_type.values == afc.target_type.values, 1, 2)
    np.testing.assert_array_equal(afc.correct_choice.values, expected)


def test_eccentricity_blocks_and_images(folder, data):
    assert sorted(set(data.eccentricity.values.tolist())) == [5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
    assert data.eccentricity.attrs["units"] == "degrees of visual angle"
    part = data.isel(trial=data.file.values == "AE_11_data1")
    with h5py.File(folder / "AE_11_data1.mat", "r") as handle:
        blocks = handle["blocks"][()]  # HDF5 (blocks, trials per block)
    first = int(blocks[0, 0]) - 1  # 1-based row of the first trial of block 1
    assert part.block.values[first] == 1 and part.block_position.values[first] == 1
    assert np.bincount(part.block.values)[1:].tolist() == [blocks.shape[1]] * blocks.shape[0]
    table = raw_table(folder / "AE_11_data1.mat")
    row = 7
    k, im = int(table[row, 5]) - 1, int(table[row, 6])
    folders = ("original", "robust_results0", "robust_results1", "standard_results0", "standard_results1")
    assert part.stimulus_id.values[row] == f"class_{k}/{im}"
    assert part.target_image.values[row] == f"{folders[int(table[row, 2]) - 1]}/class_{k}/{im}"


def test_filters(folder):
    main_oddity = load_metameric_psychophysics(folder, session_kinds=["main"], tasks=["oddity"], progress=False)
    assert set(main_oddity.session_kind.values) == {"main"} and set(main_oddity.task.values) == {"oddity"}
    assert len(set(main_oddity.file.values)) == 24
    with pytest.raises(UnknownNameError, match="did you mean 'partial'"):
        load_metameric_psychophysics(folder, session_kinds=["partal"])
    with pytest.raises(UnknownNameError, match="did you mean 'oddity'"):
        load_metameric_psychophysics(folder, tasks=["odity"])
    assert set(load_metameric_psychophysics(folder, tasks=["2AFC"], session_kinds=["repeat"],
                                            progress=False).task.values) == {"2afc"}


# --------------------------------------------------------------------------- synthetic folders


def write_2afc(path, outcomes):
    """A small 2AFC file in the published layout: ``outcomes`` are portion_correct values."""
    n = len(outcomes)
    table = np.zeros((n, 13))
    table[:, 0] = np.arange(n) % 6 + 1
    table[:, 1] = 1
    table[:, 2:5] = [1, 1, 2]  # target original; left original; right robust_0
    table[:, 5], table[:, 6] = 3, np.arange(n)
    table[:, 7:9] = [1, 0]
    outcomes = np.asarray(outcomes, dtype=float)
    table[:, 9] = np.where(outcomes == 1, 1, np.where(outcomes == 0, 0, outcomes))
    table[:, 10] = np.where(outcomes == 1, 0, np.where(outcomes == 0, 1, outcomes))
    table[:, 11] = outcomes
    table[:, 12] = np.where(np.isin(outcomes, (0, 1)), 0.5, outcomes)
    return write_mat73(path, {"full_condtable": table, "colHeaders": list(COLUMNS_2AFC),
                              "eccentricities": np.arange(5.0, 31.0, 5.0), "pixel_positions": np.ones(6),
                              "blocks": np.arange(1.0, n + 1).reshape(-1, 1)})


def test_synthetic_file_minus_one_and_nan(tmp_path):
    write_2afc(tmp_path / "ZZ_01_data1.mat", [1, 0, -1, np.nan, 1, 0])
    ds = load_metameric_psychophysics(tmp_path, progress=False)
    np.testing.assert_array_equal(ds.correct.values, [1, 0, np.nan, np.nan, 1, 0])
    assert ds.response_status.values.tolist() == ["valid", "valid", "not_presented", "no_response", "valid", "valid"]
    np.testing.assert_array_equal(ds.choice.values, [1, 2, np.nan, np.nan, 1, 2])
    np.testing.assert_array_equal(ds.reaction_time.values, [0.5, 0.5, np.nan, np.nan, 0.5, 0.5])
    assert ds.eccentricity.values.tolist() == [5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
    assert ds.subject.values[0] == "ZZ_01" and ds.condition.values[0] == "original vs robust"


def test_bad_files_are_named_and_can_be_skipped(tmp_path):
    write_2afc(tmp_path / "ZZ_01_data1.mat", [1, 0])
    strange = tmp_path / "notes.mat"
    write_2afc(strange, [1])
    with pytest.raises(FileFormatError, match="does not follow") as info:
        load_metameric_psychophysics(tmp_path, progress=False)
    assert str(strange) in str(info.value)
    ds = load_metameric_psychophysics(tmp_path, errors="skip", progress=False)
    assert ds.sizes["trial"] == 2 and [s["file"] for s in ds.attrs["skipped"]] == [str(strange)]


def test_truncated_and_misshapen_files(tmp_path):
    good = write_2afc(tmp_path / "ZZ_01_data1.mat", [1, 0, 1] * 100)
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "ZZ_01_data1.mat").write_bytes(good.read_bytes()[:3000])
    with pytest.raises(FileFormatError, match="truncated or corrupt") as info:
        load_metameric_psychophysics(cut, progress=False)
    assert "ZZ_01_data1.mat" in str(info.value)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    write_2afc(wrong / "ZZ_01_oddity_data1.mat", [1, 0])  # a 2AFC table under an oddity name
    with pytest.raises(FileFormatError, match="expected an oddity table with 16 columns"):
        load_metameric_psychophysics(wrong, progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileFormatError, match="no .mat files"):
        load_metameric_psychophysics(empty, progress=False)
    with pytest.raises(FileFormatError, match="folder not found"):
        load_metameric_psychophysics(tmp_path / "absent", progress=False)


def test_selection_without_files(tmp_path):
    write_2afc(tmp_path / "ZZ_01_data1.mat", [1])
    with pytest.raises(ConfigError, match="no file matched"):
        load_metameric_psychophysics(tmp_path, tasks=["oddity"], progress=False)


# --------------------------------------------------------------------------- issue 10: bad values are named


def _edited_2afc(path, column, values):
    """A 2AFC file of six valid trials with one column replaced."""
    import h5py

    write_2afc(path, [1, 0, 1, 0, 1, 0])
    with h5py.File(path, "r+") as handle:
        table = handle["full_condtable"][()]  # HDF5 layout: (columns, trials)
        table[column] = values
        handle["full_condtable"][...] = table
    return path


@pytest.mark.parametrize("column, values, error, message", [
    (0, [0, 1, 2, 3, 4, 5], FileFormatError, "'eccentricity' holds values that are not whole numbers 1 to 6: [0.0]"),
    (0, [1, 2, 3, 4, 5, 7], FileFormatError, "whole numbers 1 to 6: [7.0]"),
    (0, [1, 2, 3, 4, 5, np.nan], FileFormatError, "whole numbers 1 to 6: [nan]"),
    (5, [3, 3, 3, 3, 3, 2.5], FileFormatError, "'class_id'"),
    (6, [0, 1, 2, 3, 4, np.nan], FileFormatError, "'im_id'"),
    (11, [1, 0, 1, 0, 1, 2], DataError, "codes other than 0, 1"),
    (12, [0.5, 0.5, -0.2, 0.5, 0.5, 0.5], DataError, "negative or missing reaction time"),
    (9, [1, 0, 1, 0, 0, 0], FileFormatError, "response columns"),
    (5, [3, 3, 3, 3, 3, 10], FileFormatError, "'class_id' holds values that are not whole numbers 1 to 9: [10.0]"),
    (1, [1, 1, 2, 1, 1, 1], FileFormatError, "do not belong to their condition (row 2: condition 'robust vs robust'"),
    (3, [1, 1, 2, 1, 1, 1], FileFormatError, "no single right answer (row 2: stimulus types [1, 2, 2])"),
    (11, [1, 0, 0, 0, 1, 0], FileFormatError, "disagrees with their response and answer key"),
])
def test_out_of_range_codes_are_named(tmp_path, column, values, error, message):
    # an eccentricity index of 0 used to read the last eccentricity (index -1); codes 2 and negative RTs passed
    _edited_2afc(tmp_path / "ZZ_01_data1.mat", column, values)
    with pytest.raises(error) as info:
        load_metameric_psychophysics(tmp_path, progress=False)
    assert message in str(info.value) and "ZZ_01_data1.mat" in str(info.value)
