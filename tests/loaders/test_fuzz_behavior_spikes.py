"""Fuzzing the spike, trial-table, psychophysics and triplet loaders with damaged real files.

Every case writes real files (phy folders as Kilosort writes them, CSV/TSV,
MAT v5 and v7.3, NWB through pynwb) and damages them: truncated, emptied,
wrong type, wrong shape, NaN/inf, duplicate ids, mismatched stimuli.  Two rules
hold for every case:

* nothing but a :class:`~neuroalign.errors.NeuroalignError` escapes (any other
  exception fails the test with its traceback);
* what does come back holds no silent NaN or impossible value: spike counts
  are whole numbers and NaN exactly in the cells counted as unobserved,
  ``correct`` is 1/0/NaN, reaction times are finite and non-negative,
  stimulus ids are never a missing-value marker, triplets have three
  different items and a choice among them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuroalign.datasets.examples import (write_example_events, write_example_phy,
                                          write_example_triplets)
from neuroalign.errors import NeuroalignError
from neuroalign.loaders.behavior import load_trials
from neuroalign.loaders.binning import bin_spikes
from neuroalign.loaders.matfiles import read_mat, read_mat_table
from neuroalign.loaders.phy import load_phy
from neuroalign.loaders.psychophysics import load_metameric_psychophysics
from neuroalign.loaders.spikes import load_nwb_spikes
from neuroalign.loaders.triplets import load_triplets

from .test_behavior import write_mat73
from .test_psychophysics import write_2afc
from .test_spikes import write_nwb

MISSING_MARKERS = {"", "n/a", "nan", "na", "none"}
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# --------------------------------------------------------------------------- the two rules


def outcome(call):
    """The loader's result, or None when it raised a NeuroalignError (anything else propagates)."""
    try:
        return call()
    except NeuroalignError as exc:
        assert exc.source and exc.fix, f"an error without source or fix: {exc}"
        return None


def check_ids(values):
    text = [str(v).strip().lower() for v in np.asarray(values).ravel()]
    assert not MISSING_MARKERS & set(text), f"a missing stimulus came back as an id: {sorted(set(text))[:8]}"


def check_counts(counts):
    values = counts.values
    nan = np.isnan(values)
    assert counts.attrs["unobserved"] != "nan" or nan.sum() == counts.attrs["n_unobserved_bins"], \
        "NaN counts that are not unobserved bins"
    finite = values[~nan]
    assert np.all(np.isfinite(finite)) and np.all(finite >= 0)
    if counts.attrs["units"] == "counts":
        assert np.all(finite == np.round(finite))
    check_ids(counts.stimulus_id.values)


def check_trials(ds):
    if "correct" in ds:
        correct = ds.correct.values.astype(float)
        assert np.all(np.isin(correct[~np.isnan(correct)], (0.0, 1.0))), "correct holds codes other than 0/1"
    if "reaction_time" in ds:
        rt = ds.reaction_time.values.astype(float)
        assert np.all(np.isfinite(rt[~np.isnan(rt)])) and np.all(rt[~np.isnan(rt)] >= 0)
    for name in ("stimulus_id", "subject"):
        if name in ds.coords:
            check_ids(ds[name].values)


def check_triplets(ds):
    ids = ds.stimulus_id.values
    check_ids(ids)
    assert all(len({str(v) for v in row}) == 3 for row in ids.tolist()), "a triplet repeats an item"
    chosen = ids[np.arange(len(ids)), ds.choice_index.values]
    assert np.array_equal(chosen.astype(str), ds.choice.values.astype(str))
    if "reaction_time" in ds:
        rt = ds.reaction_time.values
        assert np.all(rt[~np.isnan(rt)] >= 0) and not np.isinf(rt).any()
    if "subject" in ds.coords:
        check_ids(ds.subject.values)


# --------------------------------------------------------------------------- phy folders


@pytest.fixture(scope="module")
def phy_template(tmp_path_factory):
    return write_example_phy(tmp_path_factory.mktemp("phy") / "ks", seed=1, n_stimuli=4, n_repetitions=2)


@pytest.fixture
def phy_folder(phy_template, tmp_path):
    return Path(shutil.copytree(phy_template, tmp_path / "ks"))


def _load_phy(folder, **kwargs):
    options = {"events": [2.0, 3.5, 9.0], "window": (-0.1, 0.4), "bin_size": 0.1, "labels": None, **kwargs}
    counts = outcome(lambda: load_phy(folder, **options))
    if counts is not None:
        check_counts(counts)
    return counts


def _save(name, array):
    return lambda folder: np.save(folder / name, array, allow_pickle=False)


def _text(name, text):
    return lambda folder: (folder / name).write_text(text)


def _bytes(name, how):
    def damage(folder):
        data = (folder / name).read_bytes()
        (folder / name).write_bytes({"empty": b"", "half": data[: len(data) // 2], "head": data[:20],
                                     "junk": bytes(range(256)) * 3, "tail": data[len(data) // 2:]}[how])
    return damage


def _delete(name):
    return lambda folder: (folder / name).unlink()


PHY_FILES = ["spike_times.npy", "spike_clusters.npy", "spike_templates.npy", "params.py", "cluster_group.tsv",
             "cluster_KSLabel.tsv", "cluster_info.tsv"]
N = 40  # spikes in the small replacement arrays below
PHY_DAMAGE = {
    **{f"{name}-{how}": _bytes(name, how) for name in PHY_FILES for how in ("empty", "half", "head", "junk", "tail")},
    **{f"{name}-deleted": _delete(name) for name in PHY_FILES},
    "both-cluster-files-deleted": lambda f: (_delete("spike_clusters.npy")(f), _delete("spike_templates.npy")(f)),
    "times-float-nan": lambda f: _save("spike_times.npy", np.where(np.arange(_n(f)) == 7, np.nan, _times(f)))(f),
    "times-float-inf": lambda f: _save("spike_times.npy", np.where(np.arange(_n(f)) == 7, np.inf, _times(f)))(f),
    "times-negative": lambda f: _save("spike_times.npy", np.where(np.arange(_n(f)) == 0, -5, _times(f)).astype(
        np.int64))(f),
    "times-fractional": lambda f: _save("spike_times.npy", _times(f) + 0.5)(f),
    "times-seconds": lambda f: _save("spike_times.npy", _times(f) / 30000.0)(f),
    "times-unsorted": lambda f: _save("spike_times.npy", _times(f)[::-1].copy())(f),
    "times-bool": lambda f: _save("spike_times.npy", np.ones(_n(f), dtype=bool))(f),
    "times-complex": lambda f: _save("spike_times.npy", _times(f).astype(complex))(f),
    "times-text": lambda f: _save("spike_times.npy", _times(f).astype(str))(f),
    "times-2-columns": lambda f: _save("spike_times.npy", np.stack([_times(f), _times(f)], axis=1))(f),
    "times-3d": lambda f: _save("spike_times.npy", _times(f).reshape(-1, 1, 1))(f),
    "times-scalar": _save("spike_times.npy", np.array(5, dtype=np.uint64)),
    "times-empty": lambda f: (_save("spike_times.npy", np.zeros(0, np.uint64))(f),
                              _save("spike_clusters.npy", np.zeros(0, np.int32))(f)),
    "times-huge": lambda f: _save("spike_times.npy", np.full(_n(f), np.iinfo(np.uint64).max, np.uint64))(f),
    "times-pickled": lambda f: np.save(f / "spike_times.npy", np.array([{"a": 1}] * 3, dtype=object),
                                       allow_pickle=True),
    "clusters-float": lambda f: _save("spike_clusters.npy", np.load(f / "spike_clusters.npy").astype(float))(f),
    "clusters-negative": lambda f: _save("spike_clusters.npy", -np.load(f / "spike_clusters.npy") - 1)(f),
    "clusters-short": lambda f: _save("spike_clusters.npy", np.load(f / "spike_clusters.npy")[:-1])(f),
    "clusters-2-columns": lambda f: _save("spike_clusters.npy", np.zeros((N, 2), np.int32))(f),
    "clusters-text": lambda f: _save("spike_clusters.npy", np.load(f / "spike_clusters.npy").astype(str))(f),
    "rate-zero": _text("params.py", "sample_rate = 0\n"),
    "rate-negative": _text("params.py", "sample_rate = -30000.\n"),
    "rate-inf": _text("params.py", "sample_rate = 1e999\n"),
    "rate-nan-call": _text("params.py", "sample_rate = float('nan')\n"),
    "rate-text": _text("params.py", "sample_rate = '30000'\n"),
    "rate-bool": _text("params.py", "sample_rate = True\n"),
    "rate-list": _text("params.py", "sample_rate = [30000.]\n"),
    "rate-syntax": _text("params.py", "sample_rate = = 3\n"),
    "params-deep": _text("params.py", "sample_rate = 30000.\nx = " + "[" * 500 + "]" * 500 + "\n"),
    "dat-zero-channels": _text("params.py", "dat_path = 'ks.py'\nn_channels_dat = 0\nsample_rate = 30000.\n"),
    "dat-bad-dtype": _text("params.py", "dat_path = 'params.py'\nn_channels_dat = 2\ndtype = 'nope'\n"
                                        "sample_rate = 30000.\n"),
    "dat-huge-offset": _text("params.py", "dat_path = 'params.py'\nn_channels_dat = 2\noffset = 10**12\n"
                                          "sample_rate = 30000.\n"),
    "dat-list": _text("params.py", "dat_path = ['a.bin', 'b.bin']\nn_channels_dat = 2\nsample_rate = 30000.\n"),
    "dat-empty-list": _text("params.py", "dat_path = []\nsample_rate = 30000.\n"),
    "dat-number": _text("params.py", "dat_path = 3\nn_channels_dat = 2\nsample_rate = 30000.\n"),
    "group-duplicate-id": _text("cluster_group.tsv", "cluster_id\tgroup\n0\tgood\n0\tnoise\n"),
    "group-duplicate-column": _text("cluster_group.tsv", "cluster_id\tgroup\tgroup\n0\tgood\tnoise\n"),
    "group-text-id": _text("cluster_group.tsv", "cluster_id\tgroup\nzero\tgood\n"),
    "group-nan-id": _text("cluster_group.tsv", "cluster_id\tgroup\nn/a\tgood\n1\tgood\n"),
    "group-fractional-id": _text("cluster_group.tsv", "cluster_id\tgroup\n0.5\tgood\n"),
    "group-header-only": _text("cluster_group.tsv", "cluster_id\tgroup\n"),
    "group-commas": _text("cluster_group.tsv", "cluster_id,group\n0,good\n"),
    "group-ragged": _text("cluster_group.tsv", "cluster_id\tgroup\n0\tgood\textra\n"),
    "group-short-row": _text("cluster_group.tsv", "cluster_id\tgroup\n0\tgood\n1\n"),
    "group-missing-label": _text("cluster_group.tsv", "cluster_id\tgroup\n0\tn/a\n1\tgood\n"),
    "group-unknown-clusters": _text("cluster_group.tsv", "cluster_id\tgroup\n77\tgood\n"),
    "group-id-column": _text("cluster_group.tsv", "id\tgroup\n0\tgood\n"),
    "info-duplicate-column": _text("cluster_info.tsv", "cluster_id\tch\tch\n0\t1\t2\n"),
    "info-no-id": _text("cluster_info.tsv", "ch\tdepth\n1\t20\n"),
    "info-mixed-types": _text("cluster_info.tsv", "cluster_id\tdepth\n0\t20\n1\tdeep\n"),
    "info-nan-column": _text("cluster_info.tsv", "cluster_id\tdepth\n0\tn/a\n1\t20\n"),
    "info-utf16": lambda f: (f / "cluster_info.tsv").write_text("cluster_id\tch\n0\t1\n", encoding="utf-16"),
}


def _times(folder):
    return np.load(folder / "spike_times.npy").ravel().astype(float)


def _n(folder):
    return _times(folder).size


#: Damage that leaves a usable folder: optional files gone or unused, the raw file's size unknown, unusual ids.
PHY_STILL_LOADS = {
    "cluster_KSLabel.tsv-deleted", "cluster_group.tsv-deleted", "cluster_info.tsv-deleted", "clusters-negative",
    "dat-bad-dtype", "dat-empty-list", "dat-huge-offset", "dat-list", "dat-number", "dat-zero-channels",
    "group-header-only", "group-id-column", "group-missing-label", "group-unknown-clusters", "info-mixed-types",
    "info-nan-column", "spike_clusters.npy-deleted", "times-huge",
    *(f"spike_templates.npy-{how}" for how in ("deleted", "empty", "half", "head", "junk", "tail")),
}


@pytest.mark.parametrize("damage", sorted(PHY_DAMAGE))
def test_damaged_phy_folders(phy_folder, damage):
    PHY_DAMAGE[damage](phy_folder)
    counts = _load_phy(phy_folder)
    assert (counts is not None) == (damage in PHY_STILL_LOADS), "a damaged required file was accepted"
    if damage == "group-missing-label":  # cluster 0 has no manual group: its Kilosort label counts, never 'nan'
        assert counts.label.values[0] == "good" and "nan" not in counts.group.values.tolist()
    _load_phy(phy_folder, labels=["good", "mua"], unobserved="raise")


EVENT_CASES = {
    "empty-list": [],
    "nan": [2.0, np.nan],
    "inf": [2.0, np.inf],
    "far-negative": [-1e9],
    "far-positive": [1e12],
    "pairs": np.array([[2.0, 2.5], [3.5, 4.0]]),
    "text": ["two"],
    "none": None,
    "mapping": {"onset": [2.0]},
    "nested-ragged": [[2.0], [3.0, 4.0]],
    "bools": [True, False],
    "frame-without-onset": pd.DataFrame({"time": [2.0]}),
    "frame-text-onset": pd.DataFrame({"onset": ["2.0s"]}),
    "frame-nan-onset": pd.DataFrame({"onset": [2.0, np.nan]}),
    "frame-duplicate-columns": pd.DataFrame([[2.0, 3.0]], columns=["onset", "onset"]),
    "frame-reserved-columns": pd.DataFrame({"onset": [2.0], "neuroid_id": ["x"], "trial": [1], "event_time": [9]}),
    "frame-empty": pd.DataFrame({"onset": []}),
}


@pytest.mark.parametrize("case", sorted(EVENT_CASES))
def test_phy_event_inputs(phy_template, case):
    _load_phy(phy_template, events=EVENT_CASES[case])


EVENT_FILES = {
    "good.tsv": "onset\tduration\tstim_file\n2.0\t0.5\ta.png\n3.5\t0.5\tb.png\n",
    "missing-stim.tsv": "onset\tduration\tstim_file\n2.0\t0.5\ta.png\n3.5\t0.5\tn/a\n",
    "empty-stim.csv": "onset,duration,stim_file\n2.0,0.5,a.png\n3.5,0.5,\n",
    "duplicate.tsv": "onset\tonset\tstim_file\n2.0\t0.5\ta.png\n",
    "text-onset.tsv": "onset\tstim_file\nsoon\ta.png\n",
    "nan-onset.tsv": "onset\tstim_file\nn/a\ta.png\n2.0\tb.png\n",
    "ragged.tsv": "onset\tstim_file\n2.0\ta.png\textra\n",
    "short.tsv": "onset\tstim_file\n2.0\ta.png\n3.5\n",
    "header-only.tsv": "onset\tstim_file\n",
    "empty.tsv": "",
    "commas-in-tsv.tsv": "onset,stim_file\n2.0,a.png\n",
    "binary.tsv": "\x00\x01\x02\ufffe",
    "numeric-stim.tsv": "onset\tstim_file\n2.0\t1\n3.5\tn/a\n",
    "stimulus-id-column.tsv": "onset\tstimulus_id\n2.0\ta.png\n3.5\tn/a\n",
}


@pytest.mark.parametrize("name", sorted(EVENT_FILES))
@pytest.mark.parametrize("stimulus_id", [None, "stim_file", "absent"])
def test_phy_event_files(phy_template, tmp_path, name, stimulus_id):
    path = tmp_path / name.replace("-", "_")
    path.write_text(EVENT_FILES[name])
    counts = _load_phy(phy_template, events=path, stimulus_id=stimulus_id)
    if name == "good.tsv" and stimulus_id != "absent":
        assert counts is not None


ARGUMENT_CASES = {
    "window-empty": {"window": (0.0, 0.0)},
    "window-reversed": {"window": (0.4, 0.0)},
    "window-nan": {"window": (np.nan, 0.4)},
    "window-text": {"window": "0-0.4"},
    "window-one": {"window": (0.4,)},
    "bin-zero": {"bin_size": 0.0},
    "bin-negative": {"bin_size": -0.1},
    "bin-nan": {"bin_size": np.nan},
    "bin-not-dividing": {"bin_size": 0.3},
    "bin-text": {"bin_size": "0.1"},
    "bin-larger": {"bin_size": 1.0},
    "labels-number": {"labels": 5},
    "labels-unknown": {"labels": ["excellent"]},
    "labels-mixed": {"labels": ["good", 3]},
    "stimulus-short-list": {"stimulus_id": ["a"]},
    "stimulus-with-none": {"stimulus_id": ["a", None, "c"]},
    "stimulus-with-nan": {"stimulus_id": ["a", float("nan"), "c"]},
    "stimulus-number": {"stimulus_id": 3},
    "stimulus-mapping": {"stimulus_id": {"a": 1}},
    "recording-nan": {"recording": (0.0, np.nan)},
    "recording-reversed": {"recording": (10.0, 0.0)},
    "recording-text": {"recording": "all"},
    "recording-short": {"recording": (0.0, 2.5)},
    "unobserved-unknown": {"unobserved": "zero"},
    "unobserved-count": {"unobserved": "count", "recording": (0.0, 2.5)},
    "unobserved-raise": {"unobserved": "raise", "recording": (0.0, 2.5)},
    "align-unknown": {"align_to": "stop"},
}


@pytest.mark.parametrize("case", sorted(ARGUMENT_CASES))
def test_phy_arguments(phy_template, case):
    _load_phy(phy_template, **ARGUMENT_CASES[case])


def test_phy_folder_that_is_a_file_or_absent(tmp_path):
    (tmp_path / "file").write_text("x")
    for folder in (tmp_path / "file", tmp_path / "absent", tmp_path):
        assert _load_phy(folder) is None


# --------------------------------------------------------------------------- NWB spikes


@pytest.fixture(scope="module")
def nwb_file(tmp_path_factory):
    trials = pd.DataFrame({"start_time": [1.0, 2.0, 3.0], "stop_time": [1.5, 2.5, 3.5],
                           "stimulus_id": ["a", "b", "a"], "label": ["x", "y", "z"]})
    return write_nwb(tmp_path_factory.mktemp("nwb") / "s.nwb",
                     [np.array([0.5, 1.2, 2.2, 3.1]), np.array([0.1, 1.1, 3.3])], quality=["good", "mua"],
                     trials=trials)


@pytest.mark.parametrize("how", ["empty", "half", "head", "junk", "tail", "text"])
def test_damaged_nwb_files(nwb_file, tmp_path, how):
    data = nwb_file.read_bytes()
    damaged = {"empty": b"", "half": data[: len(data) // 2], "head": data[:600], "junk": bytes(range(256)) * 8,
               "tail": data[len(data) // 2:], "text": b"start_time,stop_time\n1,2\n"}[how]
    path = tmp_path / "damaged.nwb"
    path.write_bytes(damaged)
    assert outcome(lambda: load_nwb_spikes(path, window=(0, 0.5))) is None


NWB_CALLS = {
    "trials": {},
    "absent-table": {"trials": "nope"},
    "events-and-trials": {"trials": "trials", "events": [1.0]},
    "events-nan": {"events": [1.0, np.nan]},
    "events-pairs": {"events": np.array([[1.0, 1.5], [2.0, 2.5]])},
    "events-text": {"events": ["one"]},
    "events-frame-without-column": {"events": pd.DataFrame({"t": [1.0]})},
    "align-text-column": {"align_to": "label"},
    "align-absent": {"align_to": "onset"},
    "stimulus-absent": {"stimulus_id": "image"},
    "units-unknown-id": {"units": [99]},
    "units-text-id": {"units": ["x"]},
    "units-unknown-column": {"units": {"depth": 3}},
    "units-no-match": {"units": {"quality": "noise"}},
    "units-mapping-list": {"units": {"quality": ["good", "mua"]}},
    "window-nan": {"window": (0, np.nan)},
}


@pytest.mark.parametrize("case", sorted(NWB_CALLS))
def test_nwb_arguments(nwb_file, case):
    options = {"window": (0.0, 0.4), "bin_size": 0.1, **NWB_CALLS[case]}
    counts = outcome(lambda: load_nwb_spikes(nwb_file, **options))
    if counts is not None:
        check_counts(counts)
    if case in ("trials", "units-mapping-list"):
        assert counts is not None


@pytest.mark.parametrize("trains, obs, trials", [
    ([np.array([0.5, np.nan])], None, None),
    ([np.array([0.5, 1.0]), np.array([np.inf])], None, None),
    ([np.array([0.5, 1.0]), np.array([-0.5, 1.0])], None, None),
    ([np.array([1.0, 0.5])], None, None),
    ([np.array([0.5, 1.0])], [[[0.0, np.nan]]], None),
    ([np.array([0.5, 1.0])], [[[2.0, 1.0]]], None),
    ([np.array([0.5, 1.0])], None, pd.DataFrame({"start_time": [np.nan, 1.0], "stop_time": [1.0, 2.0]})),
    ([np.array([0.5, 1.0])], None, pd.DataFrame({"start_time": [0.2, 1.0], "stop_time": [1.0, 2.0],
                                                 "stimulus_id": [1.5, np.nan]})),
    ([np.array([], dtype=float)], None, pd.DataFrame({"start_time": [0.2], "stop_time": [1.0]})),
])
def test_nwb_bad_contents(tmp_path, trains, obs, trials):
    path = write_nwb(tmp_path / "bad.nwb", trains, obs=obs, trials=trials)
    options = {"events": [0.2]} if trials is None else {}
    counts = outcome(lambda: load_nwb_spikes(path, window=(0.0, 0.5), **options))
    if counts is not None:
        check_counts(counts)


# --------------------------------------------------------------------------- bin_spikes


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                    st.floats(0, 20), st.integers(-3, 20))


@FUZZ
@given(times=st.lists(numbers, max_size=12), units=st.lists(st.one_of(st.integers(0, 3), st.sampled_from(
    ["a", "b", None, float("nan")])), max_size=12), events=st.lists(numbers, max_size=4),
       keep=st.one_of(st.none(), st.lists(st.integers(0, 4), max_size=3)))
def test_bin_spikes_on_arbitrary_arrays(times, units, events, keep):
    units = units[: len(times)] + [0] * (len(times) - len(units))
    counts = outcome(lambda: bin_spikes(times, units, events, (0.0, 1.0), 0.5, units=keep))
    if counts is not None:
        check_counts(counts)
        # reference: every counted spike lies in [event, event + 1) of a kept unit, and none is lost
        finite = np.isfinite(counts.values)
        if finite.all():
            expected = sum(1 for t, u in zip(times, units) for e in events
                           if (keep is None or u in keep) and e <= t < e + 1.0)
            assert counts.values.sum() == expected


# --------------------------------------------------------------------------- trial tables

TRIALS_CSV = ("stimulus,response,correct,rt,condition\n"
              "cat.png,left,1,0.41,easy\n"
              "dog.png,right,0,0.52,hard\n"
              "car.png,left,,,hard\n"
              "cow.png,right,1,0.38,easy\n")


def _n_rows(text):
    return max(0, sum(1 for line in text.splitlines() if line.strip()) - 1)


def test_every_truncation_of_a_trial_table(tmp_path):
    data = TRIALS_CSV.encode()
    for cut in range(len(data) + 1):
        path = tmp_path / f"cut{cut}.csv"
        path.write_bytes(data[:cut])
        ds = outcome(lambda: load_trials(path))
        if ds is not None:
            check_trials(ds)
            assert ds.sizes["trial"] == _n_rows(data[:cut].decode())  # no row dropped on the way
            assert "stimulus_id" in ds.coords


@FUZZ
@given(position=st.integers(0, len(TRIALS_CSV) - 1), byte=st.binary(min_size=1, max_size=3))
def test_corrupted_bytes_in_a_trial_table(tmp_path, position, byte):
    data = TRIALS_CSV.encode()
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "t.csv"
    path.write_bytes(data[:position] + byte + data[position + 1:])
    ds = outcome(lambda: load_trials(path))
    if ds is not None:
        check_trials(ds)


TABLES = {
    "duplicate-header.csv": "stimulus,rt,rt\na,0.4,0.5\n",
    "unnamed.csv": "stimulus,,rt\na,1,0.4\n",
    "bom.csv": "\ufeffstimulus,rt\na,0.4\n",
    "crlf.csv": "stimulus,rt\r\na,0.4\r\n",
    "header-only.csv": "stimulus,rt\n",
    "blank-lines.csv": "\n\n\n",
    "tsv-in-csv.csv": "stimulus\trt\na\t0.4\n",
    "quoted-newline.csv": 'stimulus,rt\n"a\nb",0.4\n',
    "correct-codes.csv": "stimulus,correct\na,2\nb,1\n",
    "correct-text.csv": "stimulus,correct\na,maybe\nb,yes\n",
    "correct-fraction.csv": "stimulus,correct\na,0.5\n",
    "accuracy-codes.csv": "stimulus,accuracy\na,2\nb,1\n",
    "rt-text.csv": "stimulus,rt\na,fast\n",
    "rt-negative.csv": "stimulus,rt\na,-0.4\n",
    "rt-inf.csv": "stimulus,rt\na,inf\n",
    "rt-bool.csv": "stimulus,rt\na,True\n",
    "stimulus-missing.csv": "stimulus,rt\na,0.4\n,0.5\n",
    "stimulus-all-missing.csv": "stimulus,rt\nn/a,0.4\n,0.5\n",
    "stimulus-nan-text.csv": "stimulus,rt\nnan,0.4\n",
    "stimulus-numeric.csv": "stimulus,rt\n1,0.4\n2.5,0.5\n",
    "trial-repeated.csv": "trial,stimulus\n1,a\n1,b\n",
    "trial-text.csv": "trial,stimulus\nfirst,a\n",
    "clash-file.csv": "stimulus,file\na,other.csv\n",
    "participant.csv": "stimulus,participant_id\na,sub-03\n",
    "inf-column.csv": "stimulus,contrast\na,inf\n",
    "huge-number.csv": "stimulus,contrast\na,1e400\n",
    "long-field.csv": "stimulus,rt\n" + "x" * 100_000 + ",0.4\n",
    "sub-01_events.tsv": "stimulus\trt\na\t0.4\n",
    "sub-01_task-x_events.tsv": "onset\tduration\tstim_file\n0\t1\ta.png\n2\t0\tn/a\n",
    "binary.csv": "\x00\x01\x02",
    "table.xlsx": "stimulus,rt\na,0.4\n",
    "no-suffix": "stimulus,rt\na,0.4\n",
}


#: Tables that load with the default options; every other table of TABLES must raise.
TABLES_THAT_LOAD = {"accuracy-codes.csv", "bom.csv", "clash-file.csv", "crlf.csv", "long-field.csv",
                    "participant.csv", "quoted-newline.csv", "stimulus-numeric.csv", "trial-repeated.csv",
                    "trial-text.csv"}


@pytest.mark.parametrize("name", sorted(TABLES))
@pytest.mark.parametrize("options", [{}, {"require": ["correct"]}, {"missing_stimulus": "drop"},
                                     {"correct": "correct", "correct_map": {1: 1.0, 0: 0.0}}],
                         ids=["default", "require", "drop", "map"])
def test_trial_table_contents(tmp_path, name, options):
    path = tmp_path / name
    path.write_text(TABLES[name])
    ds = outcome(lambda: load_trials(path, **options))
    if ds is not None:
        check_trials(ds)
    if not options:
        assert (ds is not None) == (name in TABLES_THAT_LOAD)
    if ds is not None and name == "clash-file.csv":  # the table's own 'file' column is kept, not overwritten
        assert ds.file_column.values.tolist() == ["other.csv"] and ds.file.values.tolist() == [name]
    if ds is not None and name == "participant.csv":
        assert ds.subject.values.tolist() == ["03"]


def test_utf16_and_latin1_tables(tmp_path):
    for encoding in ("utf-16", "latin-1"):
        path = tmp_path / f"{encoding}.csv"
        path.write_text("stimulus,rt\ncafé.png,0.4\n", encoding=encoding)
        ds = outcome(lambda: load_trials(path))
        if ds is not None:
            check_trials(ds)


def test_events_example_survives_a_round_trip_of_damage(tmp_path):
    path = write_example_events(tmp_path / "sub-01_task-images_events.tsv")
    lines = path.read_text().splitlines(keepends=True)
    for i in range(1, len(lines)):
        damaged = tmp_path / f"sub-01_task-images_run-{i}_events.tsv"
        damaged.write_text("".join(lines[:i]) + lines[i].replace("\t", "", 1) + "".join(lines[i + 1:]))
        assert outcome(lambda: load_trials(damaged)) is None  # every row with a field missing is refused


MAT_TABLES = {
    "struct-nan-stimulus": {"trials": {"stimulus": np.array(["a", "b"], dtype=object), "rt": np.array([0.4, 0.5]),
                                       "correct": np.array([1, 2])}},
    "struct-ragged": {"trials": {"stimulus": np.array(["a", "b"], dtype=object), "rt": np.array([0.4, 0.5, 0.6])}},
    "matrix-no-header": {"m": np.ones((3, 2))},
    "matrix-duplicate-header": {"m": np.ones((3, 2)), "colHeaders": np.array(["rt", "rt"], dtype=object)},
    "matrix-nan": {"m": np.array([[np.nan, 0.4], [1, -0.2]]), "colHeaders": np.array(["stimulus", "rt"],
                                                                                    dtype=object)},
    "scalar-only": {"x": np.array(3.0)},
    "cell-of-numbers": {"c": np.array([1, "a", None], dtype=object)},
    "empty-struct": {"trials": {}},
}


@pytest.mark.parametrize("name", sorted(MAT_TABLES))
@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_mat_trial_tables(tmp_path, name, version):
    path = tmp_path / "t.mat"
    variables = MAT_TABLES[name]
    try:
        if version == "v5":
            scipy.io.savemat(path, variables)
        else:
            write_mat73(path, {k: (list(v) if isinstance(v, np.ndarray) and v.dtype == object else v)
                               for k, v in variables.items()})
    except (TypeError, ValueError, KeyError):
        pytest.skip("the writer cannot store this variable in this version")
    ds = outcome(lambda: load_trials(path))
    if ds is not None:
        check_trials(ds)
    data = path.read_bytes()
    for cut in (0, 100, 128, 600, len(data) // 2, len(data) - 1):
        cut_path = tmp_path / f"cut{cut}.mat"
        cut_path.write_bytes(data[:cut])
        outcome(lambda: read_mat(cut_path))
        outcome(lambda: read_mat_table(cut_path))
        ds = outcome(lambda: load_trials(cut_path))
        if ds is not None:
            check_trials(ds)


# --------------------------------------------------------------------------- triplets

TRIPLETS = {
    "repeated-item.csv": "image_1,image_2,image_3,choice\na,b,a,b\n",
    "missing-item.csv": "image_1,image_2,image_3,choice\na,,c,a\n",
    "missing-choice.csv": "image_1,image_2,image_3,choice\na,b,c,\n",
    "choice-outside.csv": "image_1,image_2,image_3,choice\na,b,c,d\n",
    "positions-1.csv": "image_1,image_2,image_3,choice\na,b,c,3\nd,e,f,1\n",
    "positions-0.csv": "image_1,image_2,image_3,choice\na,b,c,0\nd,e,f,2\n",
    "positions-ambiguous.csv": "image_1,image_2,image_3,choice\na,b,c,1\nd,e,f,2\n",
    "positions-out.csv": "image_1,image_2,image_3,choice\na,b,c,7\n",
    "positions-fraction.csv": "image_1,image_2,image_3,choice\na,b,c,1.5\n",
    "numeric-ids.csv": "item_0,item_1,item_2,choice\n10,20,30,20\n",
    "numeric-ids-repeated.csv": "item_0,item_1,item_2,choice\n10,20,20,20\n",
    "numeric-float-ids.csv": "item_0,item_1,item_2,choice\n1,2.0,3,2\n",
    "mixed-ids.csv": "item_0,item_1,item_2,choice\n1,b,3,b\n",
    "nan-text-item.csv": "image_1,image_2,image_3,choice\nnan,b,c,b\n",
    "rt-negative.csv": "image_1,image_2,image_3,choice,rt\na,b,c,a,-1\n",
    "rt-inf.csv": "image_1,image_2,image_3,choice,rt\na,b,c,a,inf\n",
    "rt-text.csv": "image_1,image_2,image_3,choice,rt\na,b,c,a,slow\n",
    "duplicate-header.csv": "image_1,image_2,image_3,choice,choice\na,b,c,a,a\n",
    "no-items.csv": "x,y,z,choice\na,b,c,a\n",
    "two-groups.csv": "a_1,a_2,a_3,b_1,b_2,b_3,choice\na,b,c,d,e,f,a\n",
    "no-choice.csv": "image_1,image_2,image_3\na,b,c\n",
    "header-only.csv": "image_1,image_2,image_3,choice\n",
    "empty.csv": "",
    "subject-missing.csv": "subject,image_1,image_2,image_3,choice\n,a,b,c,a\n",
}


TRIPLETS_THAT_LOAD = {"mixed-ids.csv", "numeric-ids.csv", "positions-0.csv", "positions-1.csv"}


@pytest.mark.parametrize("name", sorted(TRIPLETS))
@pytest.mark.parametrize("options", [{}, {"choice_kind": "index"}, {"choice_kind": "id"},
                                     {"choice_kind": "index", "index_base": 0}],
                         ids=["auto", "index", "id", "index0"])
def test_triplet_tables(tmp_path, name, options):
    path = tmp_path / name
    path.write_text(TRIPLETS[name])
    ds = outcome(lambda: load_triplets(path, **options))
    if ds is not None:
        check_triplets(ds)
    if not options:
        assert (ds is not None) == (name in TRIPLETS_THAT_LOAD)


@pytest.mark.parametrize("options", [{"items": "image_1"}, {"items": ("image_1", "image_2")},
                                     {"items": ("image_1", "image_1", "image_2")}, {"items": ("a", "b", "c")},
                                     {"choice": "nope"}, {"choice_kind": "name"}, {"index_base": 2},
                                     {"rt_unit": "min"}, {"negative_rt": "drop"}, {"subject": "nope"},
                                     {"format": "xlsx"}, {"table": "nope"}])
def test_triplet_arguments(tmp_path, options):
    path = write_example_triplets(tmp_path, n_trials=5, n_subjects=1)
    assert outcome(lambda: load_triplets(path, **options)) is None


def test_every_truncation_of_a_triplet_table(tmp_path):
    data = write_example_triplets(tmp_path, n_trials=3, n_subjects=1).read_bytes()
    for cut in range(len(data) + 1):
        path = tmp_path / f"cut{cut}.csv"
        path.write_bytes(data[:cut])
        ds = outcome(lambda: load_triplets(path))
        if ds is not None:
            check_triplets(ds)
            assert ds.sizes["trial"] == _n_rows(data[:cut].decode())


# --------------------------------------------------------------------------- psychophysics


PSYCHOPHYSICS_VALUES = [np.nan, np.inf, -np.inf, -1.0, 0.0, 0.5, 2.0, 99.0, 1e12]


@pytest.mark.parametrize("column", range(13))
@pytest.mark.parametrize("value", PSYCHOPHYSICS_VALUES)
def test_psychophysics_with_one_bad_cell(tmp_path, column, value):
    import h5py

    path = write_2afc(tmp_path / "ZZ_01_data1.mat", [1, 0, 1, 0, 1, 0])
    with h5py.File(path, "r+") as handle:
        table = handle["full_condtable"][()]
        table[column, 2] = value
        handle["full_condtable"][...] = table
    ds = outcome(lambda: load_metameric_psychophysics(tmp_path, progress=False))
    if ds is not None:
        check_trials(ds)
        assert np.all(np.isin(ds.eccentricity.values, np.arange(5.0, 31.0, 5.0)))
        assert np.all(ds.class_id.values >= 1) and np.all(ds.im_id.values >= 0)


@pytest.mark.parametrize("variables", [
    {"full_condtable": "text"},
    {"colHeaders": 3.0},
    {"colHeaders": ["a"] * 13},
    {"eccentricities": "far"},
    {"eccentricities": np.arange(3.0)},
    {"blocks": np.array([[1.0, np.nan]])},
    {"blocks": "none"},
    {"full_condtable": np.zeros((0, 13))},
    {"full_condtable": np.zeros((4, 12))},
], ids=lambda v: "-".join(f"{k}={type(x).__name__}" for k, x in v.items()))
def test_psychophysics_with_bad_variables(tmp_path, variables):
    good = write_2afc(tmp_path / "good.mat", [1, 0, 1, 0, 1, 0])
    import h5py

    with h5py.File(good, "r") as handle:
        base = {"full_condtable": handle["full_condtable"][()].T, "colHeaders": list(
            __import__("neuroalign.loaders.psychophysics", fromlist=["COLUMNS_2AFC"]).COLUMNS_2AFC),
            "eccentricities": np.arange(5.0, 31.0, 5.0), "blocks": np.arange(1.0, 7.0).reshape(-1, 1)}
    good.unlink()
    write_mat73(tmp_path / "ZZ_01_data1.mat", {**base, **variables})
    ds = outcome(lambda: load_metameric_psychophysics(tmp_path, progress=False))
    if ds is not None:
        check_trials(ds)


@pytest.mark.parametrize("cut", [0, 64, 512, 1024, 4096, -10])
def test_truncated_psychophysics_files(tmp_path, cut):
    path = write_2afc(tmp_path / "ZZ_01_data1.mat", [1, 0] * 50)
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    assert outcome(lambda: load_metameric_psychophysics(tmp_path, progress=False)) is None
    skipped = outcome(lambda: load_metameric_psychophysics(tmp_path, errors="skip", progress=False))
    assert skipped is None  # the only file is skipped: nothing to return, and that is said
