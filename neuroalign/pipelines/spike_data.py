"""The data of a spike-pretraining run: binned counts, held-out neurons, the trial split, the run record.

A run's models are trained on one set of counts and evaluated on the same
test trials, possibly by a later command: ``run.json`` records the settings
that decide the data, the held-out neurons, the split and a hash of the
counts, and :func:`read_run_record` refuses a folder whose data have changed
since.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..data.io import write_atomically
from ..data.provenance import provenance
from ..errors import ConfigError, FileFormatError

__all__ = ["DATA_SETTINGS", "SpikeData", "spike_data", "nwb_path", "draw_held_out", "write_run_record",
           "read_run_record", "check_same_data", "recorded_settings", "FILE_SETTINGS"]


@dataclass
class SpikeData:
    """The binned counts of a run, its held-out neurons, its trial split and (simulated) the truth."""

    counts: xr.DataArray
    held_out: list
    train: np.ndarray
    test: np.ndarray
    truth: Any = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "SpikeData":
        """Read or simulate the counts, resolve the held-out neurons, split the trials (seeded, by trial)."""
        from ..spikes.arrays import split_trials

        counts, truth, held_out = spike_data(settings)
        parts = split_trials(counts.sizes["presentation"], {"train": 1 - settings["test_fraction"],
                                                            "test": settings["test_fraction"]},
                             random_state=settings["seed"])
        return cls(counts, held_out, parts["train"], parts["test"], truth)

    @property
    def train_counts(self) -> xr.DataArray:
        return self.counts.isel(presentation=self.train)

    @property
    def test_counts(self) -> xr.DataArray:
        return self.counts.isel(presentation=self.test)

    @property
    def fingerprint(self) -> str:
        """A hash of the counts' values."""
        from ..data.provenance import hash_array

        return hash_array(self.counts.values)


#: The settings that decide a run's data and split (a folder's models are only evaluated on the same).
DATA_SETTINGS = ("nwb", "trials", "window_start", "window_stop", "bin_size", "held_out", "held_out_fraction",
                 "condition", "n_trials", "n_bins", "n_held_in", "n_held_out", "n_conditions", "test_fraction",
                 "seed")


#: The settings that apply to an NWB file only: simulated trials have the simulator's bins and no window.
FILE_SETTINGS = ("nwb", "trials", "window_start", "window_stop", "bin_size")


def recorded_settings(settings: Mapping[str, Any], data: SpikeData) -> dict[str, Any]:
    """The data settings as ``run.json`` records them: on simulated data without the file-only settings
    (which do not apply), and with ``bin_size`` the width of the counts' bins.

    Examples
    --------
    >>> from neuroalign.pipelines.spike_data import SpikeData, recorded_settings
    >>> from neuroalign.pipelines.spike_pretraining import SPIKE_PRETRAINING_DEFAULTS
    >>> settings = {**SPIKE_PRETRAINING_DEFAULTS, "n_trials": 20, "n_bins": 10}
    >>> recorded = recorded_settings(settings, SpikeData.from_settings(settings))
    >>> recorded["bin_size"], "nwb" in recorded
    (0.01, False)
    """
    values = {key: settings[key] for key in DATA_SETTINGS}
    if not settings["nwb"]:
        values = {key: value for key, value in values.items() if key not in FILE_SETTINGS}
        edges = data.counts
        values["bin_size"] = round(float(edges.time_bin_end[0] - edges.time_bin_start[0]), 12)
    return values


def write_run_record(out: Path, settings: Mapping[str, Any], data: SpikeData) -> Path:
    """Write ``run.json``: the data settings, the held-out neurons, the split and the counts' hash."""
    recorded = recorded_settings(settings, data)
    record = {"data": recorded, "held_out": data.held_out, "train": data.train.tolist(), "test": data.test.tolist(),
              "counts": data.fingerprint, **provenance(recorded)}
    text = json.dumps(record, indent=1, default=str)
    return write_atomically(out / "run.json", lambda tmp: Path(tmp).write_text(text))


def read_run_record(out: Path) -> dict[str, Any]:
    """A folder's ``run.json``: ``data`` (the data settings), ``held_out``, ``train``, ``test``, ``counts``.

    Raises
    ------
    FileFormatError
        The folder has no ``run.json``, or it is not a run record.
    """
    path = Path(out) / "run.json"
    try:
        record = json.loads(path.read_text())
        missing = [key for key in ("data", "held_out", "train", "test", "counts") if key not in record]
        if missing or not isinstance(record["data"], dict):
            raise ValueError(f"missing {missing or ['data']}")
    except FileNotFoundError:
        raise FileFormatError("no run.json: this folder holds no spike pretraining", source=str(path),
                              fix="pass the --out folder of 'neuroalign spikes pretrain'") from None
    except (ValueError, TypeError) as exc:
        raise FileFormatError(f"not a run record ({exc})", source=str(path),
                              fix="pretrain again into a new folder (or with --overwrite)") from None
    return record


def check_same_data(out: Path, settings: Mapping[str, Any], data: SpikeData) -> dict[str, Any]:
    """The folder's run record, after checking that ``settings`` and ``data`` are the ones it was made with.

    Raises
    ------
    ConfigError
        A data setting differs (each difference is named), or the counts, held-out neurons or split differ.
    """
    record = read_run_record(out)
    saved, current = record["data"], recorded_settings(settings, data)
    differ = [f"{key}: {saved.get(key)!r} in run.json, {current.get(key)!r} now"
              for key in sorted(set(saved) | set(current), key=DATA_SETTINGS.index) if saved.get(key) != current.get(key)]
    if not differ and record["counts"] != data.fingerprint:
        differ = ["the counts read now differ from the counts the folder's models were trained on"]
    if not differ and (record["held_out"] != data.held_out or record["test"] != data.test.tolist()):
        differ = ["the held-out neurons or the test trials differ"]
    if differ:
        raise ConfigError(f"the folder's models were trained on other data ({'; '.join(differ)})",
                          source=str(Path(out) / "run.json"),
                          fix="use the same data options, another --out folder, or --overwrite to start over")
    return record


def spike_data(settings: Mapping[str, Any]) -> tuple[xr.DataArray, Any, list[str]]:
    """The binned counts, the simulated truth (None for a file) and the held-out neurons of ``settings``.

    Examples
    --------
    >>> from neuroalign.pipelines.spike_data import spike_data
    >>> from neuroalign.pipelines.spike_pretraining import SPIKE_PRETRAINING_DEFAULTS
    >>> counts, truth, held_out = spike_data({**SPIKE_PRETRAINING_DEFAULTS, "n_trials": 20, "n_bins": 10})
    >>> counts.shape, len(held_out), truth is not None
    ((20, 48, 10), 12, True)
    """
    from ..spikes.arrays import check_counts, held_out_ids

    truth = None
    if settings["nwb"]:
        from ..loaders.spikes import load_nwb_spikes

        counts = load_nwb_spikes(nwb_path(settings["nwb"]), settings["trials"] or None,
                                 window=(settings["window_start"], settings["window_stop"]),
                                 bin_size=settings["bin_size"])
    else:
        from ..datasets.lorenz_spikes import simulate_lorenz_spikes

        truth = simulate_lorenz_spikes(n_trials=settings["n_trials"], n_bins=settings["n_bins"],
                                       n_held_in=settings["n_held_in"], n_held_out=settings["n_held_out"],
                                       n_conditions=settings["n_conditions"], random_state=settings["seed"])
        counts = truth.counts
    counts = check_counts(counts, name=settings["nwb"] or "simulated counts")
    if settings["held_out"]:
        held_out = held_out_ids(counts, list(settings["held_out"]))
    elif truth is not None:
        held_out = truth.held_out
    else:
        held_out = draw_held_out(counts, settings["held_out_fraction"], settings["seed"])
    return counts, truth, held_out


def nwb_path(value: str) -> Path:
    """The file an ``nwb`` setting names: a path, or ``dataset://<name>/<file>`` of a registered dataset.

    A dataset's file is fetched (or found under the data home) and its sha256 checked
    (:func:`neuroalign.datasets.fetchers.fetch`).

    Examples
    --------
    >>> from neuroalign.pipelines.spike_data import nwb_path
    >>> nwb_path("session.nwb").name
    'session.nwb'
    """
    prefix = "dataset://"
    if not value.startswith(prefix):
        return Path(value)
    name, _, file = value[len(prefix):].partition("/")
    if not name or not file:
        raise ConfigError(f"{value!r} does not name a dataset's file", source="nwb",
                          fix="write dataset://<dataset>/<file>, e.g. dataset://pynapple/sub-4_ses-4_ecephys+image.nwb")
    from ..datasets.fetchers import fetch

    return fetch(name, [file]) / file


def draw_held_out(counts: xr.DataArray, fraction: float, seed: int) -> list[str]:
    """A seeded draw of ``fraction`` of the neurons (at least one, never all), in the data's order.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.pipelines.spike_data import draw_held_out
    >>> a = xr.DataArray(np.zeros((1, 8, 1)), dims=("presentation", "neuroid", "time_bin"),
    ...                  coords={"neuroid_id": ("neuroid", [f"u{i}" for i in range(8)])})
    >>> len(draw_held_out(a, 0.25, 0)), draw_held_out(a, 0.25, 0) == draw_held_out(a, 0.25, 0)
    (2, True)
    """
    ids = [str(i) for i in counts.neuroid_id.values]
    if len(ids) < 2:
        raise ConfigError(f"{len(ids)} neuron(s): co-smoothing needs held-in and held-out neurons",
                          source="held_out", fix="use data with at least two units")
    n = min(max(1, int(round(fraction * len(ids)))), len(ids) - 1)
    chosen = set(np.random.default_rng(seed).choice(len(ids), n, replace=False).tolist())
    return [i for k, i in enumerate(ids) if k in chosen]


