"""The example-file generators of neuroalign.datasets.examples write files that their loaders read."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

from neuroalign.datasets import examples
from neuroalign.datasets.examples import (EXAMPLE_SAMPLE_RATE, write_example_confounds, write_example_events,
                                          write_example_phy, write_example_triplets)
from neuroalign.errors import ConfigError
from neuroalign.loaders.behavior import load_trials
from neuroalign.loaders.confounds import FMRIPREP_DEFAULT_CONFOUNDS, load_confounds
from neuroalign.loaders.phy import load_phy
from neuroalign.loaders.triplets import load_triplets


def test_docstring_examples_run():
    failures, tried = doctest.testmod(examples, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0


def test_phy_folder_has_kilosort_layout_and_loads(tmp_path):
    folder = write_example_phy(tmp_path / "ks")
    times = np.load(folder / "spike_times.npy", allow_pickle=False)
    clusters = np.load(folder / "spike_clusters.npy", allow_pickle=False)
    assert times.dtype == np.uint64 and times.shape == (clusters.size, 1)
    assert clusters.dtype == np.int32 and np.all(np.diff(times.ravel().astype(np.int64)) >= 0)
    for name in ("params.py", "cluster_group.tsv", "cluster_KSLabel.tsv", "cluster_info.tsv",
                 "spike_templates.npy", "amplitudes.npy"):
        assert (folder / name).is_file()
    counts = load_phy(folder, [2.0, 3.5], window=(0.0, 0.4), labels=None)
    assert counts.neuroid_id.values.tolist() == [str(c) for c in range(6)]
    assert counts.label.values.tolist() == ["good"] * 4 + ["mua", "noise"]
    assert counts.attrs["sample_rate"] == EXAMPLE_SAMPLE_RATE
    # an independent count of one cell: cluster 0, first event, [0, 0.4)
    seconds = times.ravel() / EXAMPLE_SAMPLE_RATE
    expected = np.count_nonzero((clusters == 0) & (seconds >= 2.0) & (seconds < 2.4))
    assert counts.values[0, 0, 0] == expected


def test_phy_and_events_describe_one_session_with_tuned_units(tmp_path):
    folder = write_example_phy(tmp_path / "ks", seed=3)
    events = write_example_events(tmp_path / "sub-01_task-images_events.tsv", seed=3)
    counts = load_phy(folder, events, window=(0.05, 0.35), stimulus_id="stim_file")
    assert counts.sizes == {"presentation": 48, "neuroid": 4, "time_bin": 1}
    assert not np.isnan(counts.values).any()
    by_stimulus = counts.isel(time_bin=0).groupby("stimulus_id").mean()
    # every good unit's best stimulus evokes clearly more spikes than its worst one
    spread = by_stimulus.max("stimulus_id") - by_stimulus.min("stimulus_id")
    assert (spread.values > 3).all()


def test_events_are_bids_and_load_as_trials(tmp_path):
    path = write_example_events(tmp_path)
    assert path.name == "sub-01_task-images_run-1_events.tsv"
    raw = pd.read_csv(path, sep="\t", keep_default_na=False)
    assert raw.columns[:2].tolist() == ["onset", "duration"]
    assert (raw["response_time"] == "n/a").any()  # missing responses are written as BIDS asks
    trials = load_trials(path)
    assert trials.attrs["column_roles"]["stimulus_id"] == "stim_file"
    assert set(np.unique(trials.correct.values[~np.isnan(trials.correct.values)])) <= {0.0, 1.0}
    assert np.isnan(trials.correct.values).sum() == (raw["correct"] == "n/a").sum()
    rt = trials.reaction_time.values
    assert np.nanmin(rt) > 0 and trials.run.values[0] == "1"


def test_confounds_are_fmriprep_like_and_load(tmp_path):
    path = write_example_confounds(tmp_path, n_volumes=40)
    assert path.name == "sub-01_task-rest_desc-confounds_timeseries.tsv"
    table = pd.read_csv(path, sep="\t")
    assert len(table) == 40 and np.isnan(table["framewise_displacement"][0])
    assert {"trans_x_derivative1", "a_comp_cor_05", "cosine02", "rot_z_power2"} <= set(table.columns)
    regressors, fd = load_confounds(path, 40)
    np.testing.assert_array_equal(regressors, table[list(FMRIPREP_DEFAULT_CONFOUNDS)].to_numpy())
    assert fd[0] == 0 and np.all(fd[1:] > 0)
    # framewise displacement follows Power et al. (2012): sum of |Δ translations| + 50 mm × |Δ rotations|
    steps = np.abs(np.diff(table[["trans_x", "trans_y", "trans_z"]].to_numpy(), axis=0)).sum(axis=1) + 50 * np.abs(
        np.diff(table[["rot_x", "rot_y", "rot_z"]].to_numpy(), axis=0)).sum(axis=1)
    np.testing.assert_allclose(fd[1:], steps, atol=2e-6)


def test_triplets_load_with_distinct_items_and_a_structure(tmp_path):
    path = write_example_triplets(tmp_path / "judgements.csv", n_trials=200, n_subjects=2)
    triplets = load_triplets(path)
    ids = triplets.stimulus_id.values
    assert ids.shape == (400, 3)
    assert all(len(set(row)) == 3 for row in ids.tolist())
    assert triplets.reaction_time.attrs["units"] == "s" and np.all(triplets.reaction_time.values > 0)
    # the choices follow the hidden circle: the odd one out is the item not in the closest pair
    index = {f"obj{i:02d}.png": i for i in range(12)}
    pos = np.array([[index[v] for v in row] for row in ids.tolist()])
    angle = 2 * np.pi * pos / 12
    xy = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    pair = np.stack([np.linalg.norm(xy[:, 1] - xy[:, 2], axis=1), np.linalg.norm(xy[:, 0] - xy[:, 2], axis=1),
                     np.linalg.norm(xy[:, 0] - xy[:, 1], axis=1)], axis=1)
    agree = np.mean(np.argmin(pair, axis=1) == triplets.choice_index.values)
    assert agree > 0.6  # chance is 1/3


def test_same_seed_same_bytes_other_seed_other_files(tmp_path):
    a = write_example_triplets(tmp_path / "a.csv", seed=1)
    b = write_example_triplets(tmp_path / "b.csv", seed=1)
    c = write_example_triplets(tmp_path / "c.csv", seed=2)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    pa, pb = write_example_phy(tmp_path / "pa", seed=1), write_example_phy(tmp_path / "pb", seed=1)
    assert (pa / "spike_times.npy").read_bytes() == (pb / "spike_times.npy").read_bytes()


@pytest.mark.parametrize("call", [lambda p: write_example_confounds(p / "c.tsv", n_volumes=1),
                                  lambda p: write_example_triplets(p / "t.csv", n_stimuli=2),
                                  lambda p: write_example_events(p / "e.tsv", n_stimuli=0)])
def test_bad_arguments_are_named(tmp_path, call):
    with pytest.raises(ConfigError):
        call(tmp_path)
