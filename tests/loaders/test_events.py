"""Tests of BIDS events tables: columns, sorting, the stimulus column, and bad tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import ConfigError, DataError, SchemaError
from neuroalign.loaders.events import check_events_in_run, read_events


def write_tsv(path, rows, header):
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


def test_reads_a_bids_tsv_with_a_stimulus_column(tmp_path):
    path = write_tsv(tmp_path / "sub-01_task-x_run-1_events.tsv",
                     [(12.5, 2, "face", "img3.png"), (2.0, 2, "house", "img1.png"), (7, 0, "face", "img2.png")],
                     ["onset", "duration", "trial_type", "stim_file"])
    table = read_events(path, stimulus_column="stim_file")
    assert table["onset"].tolist() == [2.0, 7.0, 12.5]
    assert table["duration"].tolist() == [2.0, 0.0, 2.0]
    assert table["trial_type"].tolist() == ["house", "face", "face"]
    assert table["stimulus_id"].tolist() == ["img1.png", "img2.png", "img3.png"]
    assert table["stim_file"].tolist() == table["stimulus_id"].tolist()
    assert list(table.columns[:4]) == ["onset", "duration", "trial_type", "stimulus_id"]


def test_stimulus_column_stands_in_for_a_missing_trial_type():
    table = read_events(pd.DataFrame({"onset": [1.0], "duration": [1.0], "stim": ["a"]}), stimulus_column="stim")
    assert table["trial_type"].tolist() == ["a"]


def test_modulation_is_kept_numeric():
    table = read_events(pd.DataFrame({"onset": [1.0], "duration": [1.0], "trial_type": ["a"], "modulation": ["2"]}))
    assert table["modulation"].tolist() == [2.0]


@pytest.mark.parametrize("missing", ["onset", "duration"])
def test_missing_onset_or_duration_is_a_schema_error(tmp_path, missing):
    header = [c for c in ("onset", "duration", "trial_type") if c != missing]
    path = write_tsv(tmp_path / "events.tsv", [(1, "a")], header)
    with pytest.raises(SchemaError, match=f"no '{missing}' column") as info:
        read_events(path)
    assert info.value.source == str(path) and "onset" in info.value.fix


def test_missing_stimulus_column_names_it():
    with pytest.raises(SchemaError, match="'stim_file'"):
        read_events(pd.DataFrame({"onset": [1.0], "duration": [1.0]}), stimulus_column="stim_file")


def test_na_onset_negative_duration_and_empty_tables(tmp_path):
    path = write_tsv(tmp_path / "events.tsv", [(1, 1, "a"), ("n/a", 1, "b")], ["onset", "duration", "trial_type"])
    with pytest.raises(DataError, match=r"'onset' has missing .* row\(s\) \[2\]"):
        read_events(path)
    with pytest.raises(DataError, match="negative durations"):
        read_events(pd.DataFrame({"onset": [1.0], "duration": [-1.0], "trial_type": ["a"]}))
    with pytest.raises(DataError, match="no trials"):
        read_events(pd.DataFrame({"onset": [], "duration": [], "trial_type": []}))
    with pytest.raises(DataError, match="does not exist"):
        read_events(tmp_path / "nope.tsv")
    with pytest.raises(ConfigError):
        read_events(np.zeros((2, 3)))


def test_events_outside_the_run():
    table = pd.DataFrame({"onset": [-1.0, 5.0, 98.5]})
    with pytest.raises(DataError, match=r"2 trial\(s\) start outside the run \[0, 98\] s") as info:
        check_events_in_run(table, 50, 2.0, source="run-1_events.tsv")
    assert info.value.source == "run-1_events.tsv" and "milliseconds" in info.value.fix
    check_events_in_run(pd.DataFrame({"onset": [0.0, 98.0]}), 50, 2.0)
    check_events_in_run(pd.DataFrame({"onset": [0.0, 98.5]}), 50, 2.0, slice_time_ref=0.5)  # last volume at 99 s


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 500, allow_nan=False), st.sampled_from("abc")), min_size=1, max_size=20),
       st.randoms(use_true_random=False))
def test_row_order_does_not_matter(trials, rnd):
    """A permutation of the rows gives the same table (sorted by onset; ties keep their order among equals)."""
    frame = pd.DataFrame({"onset": [t[0] for t in trials], "duration": 1.0, "trial_type": [t[1] for t in trials]})
    frame = frame.drop_duplicates("onset")
    shuffled = frame.sample(frac=1.0, random_state=rnd.randint(0, 1000))
    a, b = read_events(frame), read_events(shuffled)
    pd.testing.assert_frame_equal(a, b)
    assert np.all(np.diff(a["onset"]) >= 0)
