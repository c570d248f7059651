"""Tests of neuroalign.loaders.spikes: NWB and Kilosort/phy files written for real, and the shared NWB sessions.

# reference: numpy.histogram per trial and unit on spike times read independently
# (pynwb's Units table, or the .npy arrays); np.histogram closes its last bin on the right,
# so spikes at the window end are removed first (our bins are [start, end)).
"""

from __future__ import annotations

import datetime
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuroalign.data import validate
from neuroalign.errors import (ConfigError, DataError, DependencyError, FileFormatError, NeuroalignError,
                               UnknownNameError)
from neuroalign.loaders.binning import bin_edges
from neuroalign.loaders.spikes import load_nwb_spikes, load_phy, read_phy_params

pynwb = pytest.importorskip("pynwb")

DIMS = ("presentation", "neuroid", "time_bin")
HUMAN = "pynapple/sub-4_ses-4_ecephys+image.nwb"
MOUSE = "pynapple/A8604-211122.nwb"


def _reference(trains, events, window, bin_size):
    edges = bin_edges(window, bin_size)
    out = np.zeros((len(events), len(trains), edges.size - 1))
    for i, event in enumerate(events):
        absolute = event + edges
        for j, train in enumerate(trains):
            train = np.asarray(train, float)
            out[i, j] = np.histogram(train[train < absolute[-1]], bins=absolute)[0]
    return out


# ---------------------------------------------------------------------------------------------------
# NWB files written with pynwb
# ---------------------------------------------------------------------------------------------------

def write_nwb(path, trains=None, *, quality=None, obs=None, trials=None, tables=None, subject="M1"):
    """A real NWB file: units (with electrodes, quality, obs_intervals), trials and other tables."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.epoch import TimeIntervals
    from pynwb.file import Subject

    nwb = NWBFile(session_description="test", identifier=path.stem,
                  session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    nwb.subject = Subject(subject_id=subject, species="Mus musculus")
    device = nwb.create_device(name="probe")
    group = nwb.create_electrode_group(name="shank0", description="shank", location="cortex", device=device)
    regions = ["V1", "V4", "IT", "LGN"]
    for region in regions:
        nwb.add_electrode(location=region, group=group)
    if trains is not None:
        if quality is not None:
            nwb.add_unit_column(name="quality", description="sorting quality")
        for u, train in enumerate(trains):
            extra = {"quality": quality[u]} if quality is not None else {}
            if obs is not None:
                extra["obs_intervals"] = obs[u]
            nwb.add_unit(spike_times=np.asarray(train, float), electrodes=[u % len(regions)], id=10 + u, **extra)
    if trials is not None:
        for column in trials.columns:
            if column not in ("start_time", "stop_time"):
                nwb.add_trial_column(name=column, description=column)
        for row in trials.to_dict("records"):
            nwb.add_trial(**row)
    for name, frame in (tables or {}).items():
        table = TimeIntervals(name=name, description=name)
        for column in frame.columns:
            if column not in ("start_time", "stop_time"):
                table.add_column(name=column, description=column)
        for row in frame.to_dict("records"):
            table.add_row(**row)
        nwb.add_time_intervals(table)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


@pytest.fixture
def session(tmp_path, rng):
    trains = [np.sort(rng.uniform(0, 60, n)) for n in (300, 800, 50)]
    trials = pd.DataFrame({"start_time": np.arange(2.0, 50.0, 2.5), "stop_time": np.arange(3.0, 51.0, 2.5),
                           "image": [f"img{i % 4}" for i in range(20)], "contrast": np.linspace(0.1, 1, 20)})
    trials["go_cue"] = trials["start_time"] + 0.3
    passive = pd.DataFrame({"start_time": [52.0, 55.0], "stop_time": [53.0, 56.0], "tone": ["low", "high"]})
    path = write_nwb(tmp_path / "session.nwb", trains, quality=["good", "mua", "good"], trials=trials,
                     tables={"passive": passive})
    return path, trains, trials


def test_nwb_counts_equal_histogram_reference(session):
    path, trains, trials = session
    counts = load_nwb_spikes(path, "trials", window=(-0.5, 1.0), bin_size=0.25, stimulus_id="image")
    validate(counts, dims=DIMS)
    expected = _reference(trains, trials["start_time"], (-0.5, 1.0), 0.25)
    np.testing.assert_array_equal(counts.values, expected)
    assert counts.values.sum() > 100


def test_nwb_coordinates_and_attributes(session):
    path, trains, trials = session
    counts = load_nwb_spikes(path, window=(0, 1), bin_size=0.5, stimulus_id="image", align_to="go_cue")
    assert counts.dims == DIMS
    assert counts.stimulus_id.values.tolist() == trials["image"].tolist()
    for column in trials.columns:  # every trial column is a presentation coordinate
        assert counts[column].dims == ("presentation",)
    np.testing.assert_allclose(counts.contrast.values, trials["contrast"])
    assert counts.trial.values.tolist() == list(range(20))
    np.testing.assert_array_equal(counts.event_time.values, trials["go_cue"].values)
    assert counts.neuroid_id.values.tolist() == ["10", "11", "12"]
    assert counts.quality.values.tolist() == ["good", "mua", "good"]
    assert counts.electrode.values.tolist() == [0, 1, 2]
    assert counts.region.values.tolist() == ["V1", "V4", "IT"]
    assert counts.subject.values.tolist() == ["M1"] * 3
    assert counts.time_bin_start.values.tolist() == [0.0, 0.5] and counts.time_bin_end.values.tolist() == [0.5, 1.0]
    assert counts.attrs["align_to"] == "go_cue" and counts.attrs["bin_size"] == 0.5
    assert counts.attrs["units"] == "counts" and counts.attrs["trials"] == "trials"
    assert len(counts.attrs["input_hashes"]["nwb"]) == 64
    expected = _reference(trains, trials["go_cue"], (0, 1), 0.5)
    np.testing.assert_array_equal(counts.values, expected)


def test_nwb_other_table_rates_and_quality_filter(session):
    path, trains, _ = session
    rates = load_nwb_spikes(path, "passive", window=(0, 1), bin_size=0.5, stimulus_id="tone", rate=True,
                            units={"quality": "good"})
    assert rates.attrs["units"] == "Hz"
    assert rates.neuroid_id.values.tolist() == ["10", "12"]
    assert rates.stimulus_id.values.tolist() == ["low", "high"]
    expected = _reference([trains[0], trains[2]], [52.0, 55.0], (0, 1), 0.5) / 0.5
    np.testing.assert_allclose(rates.values, expected)
    by_id = load_nwb_spikes(path, "passive", window=(0, 1), units=[12, 10])
    assert by_id.neuroid_id.values.tolist() == ["12", "10"]


def test_nwb_explicit_events(session):
    path, trains, _ = session
    counts = load_nwb_spikes(path, events=[5.0, 6.0, 7.0], window=(0, 0.5), bin_size=0.1)
    np.testing.assert_array_equal(counts.values, _reference(trains, [5.0, 6.0, 7.0], (0, 0.5), 0.1))
    assert "events" in counts.attrs["input_hashes"]
    with pytest.raises(ConfigError):
        load_nwb_spikes(path, "trials", events=[5.0], window=(0, 1))


def test_nwb_events_table_and_name_clashes(session):
    path, trains, _ = session
    events = pd.DataFrame({"flash": [5.0, 9.0], "subject": ["a", "b"], "event_time": [0, 1]})
    counts = load_nwb_spikes(path, events=events, align_to="flash", window=(0, 1), bin_size=0.5)
    np.testing.assert_array_equal(counts.values, _reference(trains, [5.0, 9.0], (0, 1), 0.5))
    assert counts.subject.dims == ("presentation",) and counts.subject.values.tolist() == ["a", "b"]
    assert counts.neuroid_subject.values.tolist() == ["M1"] * 3  # the units' subject, renamed
    assert counts.trial_event_time.values.tolist() == [0, 1]  # 'event_time' is ours
    assert counts.event_time.values.tolist() == [5.0, 9.0]
    with pytest.raises(UnknownNameError):
        load_nwb_spikes(path, events=events, window=(0, 1))  # no 'start_time' column


def test_nwb_obs_intervals(tmp_path):
    trains = [[1.2, 2.2, 3.2, 4.2], [1.1, 2.1, 3.1, 4.1]]
    obs = [[[0.0, 2.0], [3.0, 10.0]], [[0.0, 10.0]]]
    trials = pd.DataFrame({"start_time": [1.0, 2.0, 3.0, 4.0], "stop_time": [1.5, 2.5, 3.5, 4.5]})
    path = write_nwb(tmp_path / "obs.nwb", trains, obs=obs, trials=trials)
    counts = load_nwb_spikes(path, window=(0, 1), bin_size=0.5)
    assert np.isnan(counts.values[1, 0]).all()  # unit 10 is not observed from 2 to 3 s
    assert counts.values[[0, 2, 3], 0].tolist() == [[1, 0]] * 3
    assert counts.values[:, 1].tolist() == [[1, 0]] * 4  # unit 11 is observed throughout
    assert counts.attrs["n_unobserved_bins"] == 2
    counted = load_nwb_spikes(path, window=(0, 1), bin_size=0.5, unobserved="count")
    assert counted.values[1, 0].tolist() == [0, 0]  # the spike at 2.2 s is outside obs_intervals: not counted
    with pytest.raises(ConfigError) as info:
        load_nwb_spikes(path, window=(0, 1), bin_size=0.5, unobserved="raise")
    assert "obs.nwb" in str(info.value)


# --- bad NWB input: one test each -------------------------------------------------------------------

def test_nwb_without_units(tmp_path):
    path = write_nwb(tmp_path / "nounits.nwb", None,
                     trials=pd.DataFrame({"start_time": [1.0], "stop_time": [2.0]}))
    with pytest.raises(FileFormatError) as info:
        load_nwb_spikes(path, window=(0, 1))
    assert "nounits.nwb" in str(info.value) and "no Units table" in str(info.value) and "Fix:" in str(info.value)


def test_nwb_without_the_named_table(session):
    path, _, _ = session
    with pytest.raises(UnknownNameError) as info:
        load_nwb_spikes(path, "trails", window=(0, 1))
    message = str(info.value)
    assert "session.nwb" in message and "'trails'" in message and "did you mean 'trials'" in message


def test_nwb_without_the_named_column(session):
    path, _, _ = session
    with pytest.raises(UnknownNameError) as info:
        load_nwb_spikes(path, "trials", window=(0, 1), align_to="go_cu")
    assert "session.nwb" in str(info.value) and "'go_cue'" in str(info.value)
    with pytest.raises(UnknownNameError) as info:
        load_nwb_spikes(path, "trials", window=(0, 1), stimulus_id="images")
    assert "'image'" in str(info.value)
    with pytest.raises(UnknownNameError):
        load_nwb_spikes(path, "trials", window=(0, 1), units={"qualty": "good"})


def test_nwb_ambiguous_default_table(tmp_path, rng):
    tables = {"a": pd.DataFrame({"start_time": [1.0], "stop_time": [2.0]}),
              "b": pd.DataFrame({"start_time": [3.0], "stop_time": [4.0]})}
    path = write_nwb(tmp_path / "two.nwb", [[0.5, 5.0]], tables=tables)
    with pytest.raises(ConfigError) as info:
        load_nwb_spikes(path, window=(0, 1))
    assert "'a'" in str(info.value) and "trials=" in str(info.value)


def test_nwb_unsorted_spike_times(tmp_path):
    path = write_nwb(tmp_path / "unsorted.nwb", [[1.0, 2.0], [3.0, 2.5, 4.0]],
                     trials=pd.DataFrame({"start_time": [1.0], "stop_time": [2.0]}))
    with pytest.raises(DataError) as info:
        load_nwb_spikes(path, window=(0, 1))
    assert "unsorted.nwb" in str(info.value) and "not sorted" in str(info.value) and "11" in str(info.value)


def test_nwb_negative_spike_times(tmp_path):
    path = write_nwb(tmp_path / "negative.nwb", [[-0.5, 2.0]],
                     trials=pd.DataFrame({"start_time": [1.0], "stop_time": [2.0]}))
    with pytest.raises(DataError) as info:
        load_nwb_spikes(path, window=(0, 1))
    assert "negative.nwb" in str(info.value) and "negative" in str(info.value)


def test_nwb_window_outside_the_recording(session):
    path, _, _ = session
    with pytest.raises(ConfigError) as info:
        load_nwb_spikes(path, "trials", window=(100, 101))
    assert "session.nwb" in str(info.value) and "outside the recording" in str(info.value)


def test_nwb_not_an_nwb_file(tmp_path):
    path = tmp_path / "fake.nwb"
    path.write_bytes(b"this is not HDF5")
    with pytest.raises(FileFormatError) as info:
        load_nwb_spikes(path, window=(0, 1))
    assert "fake.nwb" in str(info.value)
    with pytest.raises(FileFormatError):
        load_nwb_spikes(tmp_path / "missing.nwb", window=(0, 1))


def test_missing_pynwb_names_the_extra(session, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynwb", None)  # makes `import pynwb` fail
    with pytest.raises(DependencyError) as info:
        load_nwb_spikes(session[0], window=(0, 1))
    assert "pip install 'neuroalign[nwb]'" in str(info.value)


# ---------------------------------------------------------------------------------------------------
# The real NWB sessions of ../shared/data/pynapple
# ---------------------------------------------------------------------------------------------------

def _real_trains_and_table(path, table):
    with warnings.catch_warnings(), pynwb.NWBHDF5IO(str(path), "r") as io:
        warnings.simplefilter("ignore")  # pynwb's complaints about the file's OpticalSeries
        nwb = io.read()
        trains = [np.asarray(nwb.units["spike_times"][i]) for i in range(len(nwb.units))]
        starts = np.asarray(nwb.intervals[table]["start_time"].data[:])
    return trains, starts


@pytest.mark.parametrize("table, n_trials, column", [("encoding_table", 90, "Clip_name"),
                                                     ("recognition_table", 180, "frameName"),
                                                     ("timediscrimination_table", 180, "frameName")])
def test_real_human_session_loads_every_table(shared_data, table, n_trials, column):
    path = shared_data / HUMAN
    counts = load_nwb_spikes(path, table, window=(-0.5, 1.5), bin_size=0.1, stimulus_id=column)
    validate(counts, dims=DIMS)
    assert dict(counts.sizes) == {"presentation": n_trials, "neuroid": 35, "time_bin": 20}
    assert set(counts.region.values) <= {"hippocampus_right", "amygdala_right", "hippocampus_left", "amygdala_left"}
    assert counts.stimulus_id.values[0].endswith((".mp4", ".png"))
    assert counts.subject.values[0] == "4"
    trains, starts = _real_trains_and_table(path, table)
    np.testing.assert_array_equal(counts.values, _reference(trains, starts, (-0.5, 1.5), 0.1))


def test_real_mouse_session_epoch_and_explicit_events(shared_data):
    path = shared_data / MOUSE
    epoch = load_nwb_spikes(path, window=(0, 1080), bin_size=10)  # the only table: 'epochs'
    assert dict(epoch.sizes) == {"presentation": 1, "neuroid": 3, "time_bin": 108}
    assert epoch.tags.values.tolist() == ["wake"] and epoch.attrs["trials"] == "epochs"
    assert epoch.neuroid_id.values.tolist() == ["6", "191", "206"]
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        trains = [np.asarray(t) for t in io.read().units["spike_times"]]
    assert epoch.values.sum(axis=(0, 2)).tolist() == [np.count_nonzero(t < 1080) for t in trains]
    events = np.arange(10.0, 1000.0, 10.0)
    counts = load_nwb_spikes(path, events=events, window=(-0.25, 0.5), bin_size=0.05)
    np.testing.assert_array_equal(counts.values, _reference(trains, events, (-0.25, 0.5), 0.05))


# ---------------------------------------------------------------------------------------------------
# Kilosort / phy folders written for real
# ---------------------------------------------------------------------------------------------------

FS = 30000.0


def write_phy(folder, samples, clusters, *, templates=None, group=None, kslabel=None, info=None,
              params=None, dat_samples=None, n_channels=4):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "spike_times.npy", np.asarray(samples, dtype=np.uint64).reshape(-1, 1))
    if clusters is not None:
        np.save(folder / "spike_clusters.npy", np.asarray(clusters, dtype=np.int32))
    if templates is not None:
        np.save(folder / "spike_templates.npy", np.asarray(templates, dtype=np.uint32).reshape(-1, 1))
    if group is not None:
        pd.DataFrame({"cluster_id": list(group), "group": list(group.values())}).to_csv(
            folder / "cluster_group.tsv", sep="\t", index=False)
    if kslabel is not None:
        pd.DataFrame({"cluster_id": list(kslabel), "KSLabel": list(kslabel.values())}).to_csv(
            folder / "cluster_KSLabel.tsv", sep="\t", index=False)
    if info is not None:
        info.to_csv(folder / "cluster_info.tsv", sep="\t", index=False)
    if dat_samples is not None:
        np.zeros((dat_samples, n_channels), dtype=np.int16).tofile(folder / "raw.bin")
    text = params if params is not None else (
        f"dat_path = 'raw.bin'\nn_channels_dat = {n_channels}\ndtype = 'int16'\noffset = 0\n"
        f"sample_rate = {FS}\nhp_filtered = False\n")
    (folder / "params.py").write_text(text)
    return folder


@pytest.fixture
def phy(tmp_path, rng):
    n = 4000
    samples = np.sort(rng.integers(0, int(60 * FS), n))
    clusters = rng.choice([3, 5, 8, 13], n)
    templates = (clusters + 1) % 7  # differs from the clusters: must not be used when clusters exist
    info = pd.DataFrame({"cluster_id": [3, 5, 8, 13], "ch": [0, 2, 2, 3], "depth": [20.0, 60.0, 60.0, 80.0],
                         "KSLabel": ["good", "good", "mua", "good"], "group": ["good", "noise", "mua", "good"]})
    folder = write_phy(tmp_path / "ks", samples, clusters, templates=templates,
                       group={3: "good", 5: "noise", 8: "mua"}, kslabel={3: "good", 5: "good", 8: "mua", 13: "good"},
                       info=info, dat_samples=int(61 * FS))
    trains = {c: samples[clusters == c] / FS for c in (3, 5, 8, 13)}
    return folder, trains


def test_phy_counts_equal_histogram_reference(phy):
    folder, trains = phy
    events = np.arange(1.0, 55.0, 1.7)
    counts = load_phy(folder, events, window=(-0.2, 0.6), bin_size=0.1, labels=None)
    validate(counts, dims=DIMS)
    assert counts.neuroid_id.values.tolist() == ["3", "5", "8", "13"]
    expected = _reference([trains[c] for c in (3, 5, 8, 13)], events, (-0.2, 0.6), 0.1)
    np.testing.assert_array_equal(counts.values, expected)
    assert counts.attrs["sample_rate"] == FS and counts.attrs["recording"] == [0.0, 61.0]


def test_phy_labels_manual_group_wins_over_kslabel(phy):
    folder, _ = phy
    good = load_phy(folder, [10.0], window=(0, 1))
    # cluster 5 is 'good' for Kilosort but 'noise' after curation; 13 has no manual label: its KSLabel counts
    assert good.neuroid_id.values.tolist() == ["3", "13"]
    assert good.label.values.tolist() == ["good", "good"]
    both = load_phy(folder, [10.0], window=(0, 1), labels=["good", "mua"])
    assert both.neuroid_id.values.tolist() == ["3", "8", "13"]
    assert both.electrode.values.tolist() == [0, 2, 3] and both.depth.values.tolist() == [20.0, 60.0, 80.0]
    assert both.KSLabel.values.tolist() == ["good", "mua", "good"]
    with pytest.raises(ConfigError) as info:
        load_phy(folder, [10.0], window=(0, 1), labels="unsorted")
    assert "labels found" in str(info.value)


def test_phy_without_clusters_uses_templates(tmp_path, rng):
    samples = np.sort(rng.integers(0, int(20 * FS), 500))
    templates = rng.integers(0, 3, 500)
    folder = write_phy(tmp_path / "ks", samples, None, templates=templates)
    counts = load_phy(folder, [5.0, 10.0], window=(0, 2), bin_size=0.5, labels=None)
    assert counts.attrs["parameters"]["clusters_from"] == "spike_templates.npy"
    trains = [samples[templates == t] / FS for t in range(3)]
    np.testing.assert_array_equal(counts.values, _reference(trains, [5.0, 10.0], (0, 2), 0.5))
    with pytest.raises(ConfigError) as info:  # no label files: a label filter cannot apply
        load_phy(folder, [5.0], window=(0, 2))
    assert "labels=None" in str(info.value)


def test_phy_events_from_a_bids_tsv(phy, tmp_path):
    folder, trains = phy
    events = pd.DataFrame({"onset": [5.0, 12.5, 30.0], "duration": [1.0, 1.0, 1.0],
                           "stim_file": ["a.png", "b.png", "a.png"]})
    events.to_csv(tmp_path / "events.tsv", sep="\t", index=False)
    counts = load_phy(folder, tmp_path / "events.tsv", window=(0, 1), bin_size=0.25, stimulus_id="stim_file",
                      labels=None)
    assert counts.attrs["align_to"] == "onset"
    assert counts.stimulus_id.values.tolist() == ["a.png", "b.png", "a.png"]
    assert counts.duration.values.tolist() == [1.0, 1.0, 1.0]
    assert len(counts.attrs["input_hashes"]["events"]) == 64
    expected = _reference([trains[c] for c in (3, 5, 8, 13)], [5.0, 12.5, 30.0], (0, 1), 0.25)
    np.testing.assert_array_equal(counts.values, expected)


def test_read_phy_params_never_executes_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "params.py"
    path.write_text(f"import os\nsample_rate = 25000.\ndat_path = ['a.bin', 'b.bin']\n"
                    f"n_channels_dat = __import__('os').system('touch {marker}')\n"
                    f"open({str(marker)!r}, 'w').write('x')\n")
    params = read_phy_params(path)
    assert params == {"sample_rate": 25000.0, "dat_path": ["a.bin", "b.bin"]}
    assert not marker.exists()


def test_phy_missing_sample_rate(phy):
    folder, _ = phy
    (folder / "params.py").write_text("dat_path = 'raw.bin'\n")
    with pytest.raises(FileFormatError) as info:
        load_phy(folder, [1.0], window=(0, 1), labels=None)
    assert "params.py" in str(info.value) and "sample_rate = 30000.0" in str(info.value)


def test_phy_missing_spike_times(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "params.py").write_text("sample_rate = 30000.\n")
    with pytest.raises(FileFormatError) as info:
        load_phy(folder, [1.0], window=(0, 1))
    assert "spike_times.npy is missing" in str(info.value)
    with pytest.raises(FileFormatError):
        load_phy(tmp_path / "nowhere", [1.0], window=(0, 1))


def test_phy_refuses_pickled_arrays(phy):
    folder, _ = phy
    np.save(folder / "spike_clusters.npy", np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError) as info:
        load_phy(folder, [1.0], window=(0, 1), labels=None)
    assert "spike_clusters.npy" in str(info.value) and "pickled" in str(info.value)


def test_phy_length_mismatch(phy):
    folder, _ = phy
    np.save(folder / "spike_clusters.npy", np.zeros(3, dtype=np.int32))
    with pytest.raises(FileFormatError) as info:
        load_phy(folder, [1.0], window=(0, 1), labels=None)
    assert "3 entries" in str(info.value)


def test_phy_unsorted_spike_times(tmp_path):
    folder = write_phy(tmp_path / "ks", [300, 100, 200], [1, 1, 1])
    with pytest.raises(DataError) as info:
        load_phy(folder, [0.001], window=(0, 0.01), labels=None)
    assert "not sorted" in str(info.value) and str(folder) in str(info.value)


def test_phy_negative_spike_times(tmp_path):
    folder = tmp_path / "ks"
    write_phy(folder, [100, 200], [1, 1])
    np.save(folder / "spike_times.npy", np.array([-100, 200], dtype=np.int64))
    with pytest.raises(DataError) as info:
        load_phy(folder, [0.001], window=(0, 0.01), labels=None)
    assert "negative" in str(info.value)


def test_phy_window_outside_the_recording(phy):
    folder, _ = phy
    with pytest.raises(ConfigError) as info:  # the raw file is 61 s long
        load_phy(folder, [10.0, 70.0], window=(0, 1), labels=None)
    assert "outside the recording" in str(info.value) and "trial 1" in str(info.value)
    partly = load_phy(folder, [60.5], window=(0, 1), bin_size=0.25, labels=None)
    assert np.isnan(partly.values[0, :, 2:]).all() and not np.isnan(partly.values[0, :, :2]).any()


def test_every_error_is_a_neuroalign_error(phy):
    folder, _ = phy
    with pytest.raises(NeuroalignError):
        load_phy(folder, [10.0], window=(0, 1), bin_size=0.3)


# ---------------------------------------------------------------------------------------------------
# The tutorial runs
# ---------------------------------------------------------------------------------------------------

def test_tutorial_code_runs(shared_data, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    page = Path(__file__).resolve().parents[2] / "docs" / "loaders-spikes.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert blocks, "the tutorial has no python code"
    monkeypatch.chdir(tmp_path)
    namespace = {"DATA": shared_data}
    code = "\n".join(blocks).replace('DATA = Path("../shared/data")', "")
    exec(compile(code, str(page), "exec"), namespace)  # noqa: S102 - our own documentation
    assert dict(namespace["counts"].sizes) == {"presentation": 180, "neuroid": 35, "time_bin": 40}
    assert (tmp_path / "neuroalign-figures" / "spikes_raster_psth.png").stat().st_size > 10_000


# ---------------------------------------------------------------------------------------------------
# issue 10: bad input that used to be accepted silently
# ---------------------------------------------------------------------------------------------------


def test_phy_nan_spike_time_of_a_left_out_cluster_raises(phy):
    # it used to set the recording's end to NaN, so every bin of every kept cluster came back NaN
    folder, _ = phy
    samples = np.load(folder / "spike_times.npy").astype(float)
    clusters = np.load(folder / "spike_clusters.npy")
    samples[np.flatnonzero(clusters == 5)[2]] = np.nan  # cluster 5 is 'noise': not kept by labels="good"
    np.save(folder / "spike_times.npy", samples)
    for labels in ("good", None):
        with pytest.raises(DataError) as info:
            load_phy(folder, [10.0], window=(0, 1), labels=labels)
        assert "NaN" in str(info.value) and "spike_times.npy" in str(info.value) and "unit 5" in str(info.value)


def test_nwb_nan_spike_time_of_a_left_out_unit_raises(tmp_path):
    # the same file content through NWB and through bin_spikes: one error, whatever the unit selection
    path = write_nwb(tmp_path / "s.nwb", [np.array([0.5, 1.0, 2.0]), np.array([0.2, np.nan, 3.0])],
                     quality=["good", "noise"])
    for units in (None, {"quality": "good"}, [10]):
        with pytest.raises(DataError, match="NaN"):
            load_nwb_spikes(path, events=[0.5], window=(0, 1), units=units)
    from neuroalign.loaders.binning import bin_spikes

    with pytest.raises(DataError, match="NaN"):
        bin_spikes([0.5, 1.0, 0.2, np.nan], [0, 0, 1, 1], [0.5], (0, 1), units=[0])


def test_phy_arrays_of_the_wrong_shape_or_a_nonfinite_sample_rate(phy):
    folder, _ = phy
    samples = np.load(folder / "spike_times.npy").ravel()
    clusters = np.load(folder / "spike_clusters.npy")
    (folder / "params.py").write_text("sample_rate = float('inf')\n")  # not a literal: ignored
    with pytest.raises(FileFormatError, match="sample_rate"):
        load_phy(folder, [10.0], window=(0, 1), labels=None)
    (folder / "params.py").write_text("sample_rate = 1e400\n")  # a literal that is inf
    with pytest.raises(FileFormatError, match="finite"):
        load_phy(folder, [10.0], window=(0, 1), labels=None)
    (folder / "params.py").write_text(f"sample_rate = {FS}\n")
    np.save(folder / "spike_times.npy", np.stack([samples[:2000], samples[2000:]], axis=1))  # (n, 2)
    np.save(folder / "spike_clusters.npy", np.stack([clusters[:2000], clusters[2000:]], axis=1))
    with pytest.raises(FileFormatError, match=r"shape \(2000, 2\)"):
        load_phy(folder, [10.0], window=(0, 1), labels=None)


def test_phy_cluster_tables_with_repeated_ids_or_columns(phy):
    folder, _ = phy
    (folder / "cluster_group.tsv").write_text("cluster_id\tgroup\n3\tgood\n3\tnoise\n5\tnoise\n")
    with pytest.raises(FileFormatError, match=r"cluster\(s\) \[3\] are listed twice"):
        load_phy(folder, [10.0], window=(0, 1))
    (folder / "cluster_group.tsv").write_text("cluster_id\tgroup\n3\tgood\n")
    (folder / "cluster_info.tsv").write_text("cluster_id\tdepth\tdepth\n3\t20\t40\n5\t60\t80\n")
    with pytest.raises(FileFormatError, match="repeats the column name") as info:
        load_phy(folder, [10.0], window=(0, 1))
    assert "cluster_info.tsv" in str(info.value)
    (folder / "cluster_info.tsv").write_text("cluster_id\tdepth\nthree\t20\n")
    with pytest.raises(FileFormatError, match="not integer cluster ids"):
        load_phy(folder, [10.0], window=(0, 1))


def test_phy_events_tables_with_missing_stimuli_repeated_columns_or_text_times(phy, tmp_path):
    folder, _ = phy
    events = tmp_path / "events.tsv"
    events.write_text("onset\tduration\tstim_file\n5.0\t1.0\ta.png\n12.5\t1.0\tn/a\n")
    with pytest.raises(DataError, match="no stimulus id") as info:  # it used to become the id 'nan'
        load_phy(folder, events, window=(0, 1), stimulus_id="stim_file", labels=None)
    assert "stim_file" in str(info.value) and "[1]" in str(info.value)
    events.write_text("onset\tonset\tstim_file\n5.0\t6.0\ta.png\n")  # pandas would rename the second onset.1
    with pytest.raises(FileFormatError, match="repeats the column name"):
        load_phy(folder, events, window=(0, 1), labels=None)
    events.write_text("onset\tstim_file\nfive\ta.png\n")
    with pytest.raises(DataError, match="not numeric"):
        load_phy(folder, events, window=(0, 1), labels=None)
    with pytest.raises(ConfigError, match="shape"):  # (start, stop) pairs are not event times
        load_phy(folder, np.array([[5.0, 6.0], [7.0, 8.0]]), window=(0, 1), labels=None)
    with pytest.raises(ConfigError, match="labels"):
        load_phy(folder, [5.0], window=(0, 1), labels=5)


def test_nwb_nan_observation_interval_raises(tmp_path):
    path = write_nwb(tmp_path / "s.nwb", [np.array([0.5, 1.0, 2.0])], obs=[[[0.0, np.nan]]])
    with pytest.raises(DataError, match="observation interval"):
        load_nwb_spikes(path, events=[0.5], window=(0, 1))
