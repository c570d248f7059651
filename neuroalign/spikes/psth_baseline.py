"""The trial-averaged PSTH baseline: every trial's rates are its condition's mean counts over the training trials.

It reads no spikes of the trials it predicts, only their condition, so it measures how much of the
activity the task structure alone explains; a model that beats it in co-bps has found trial-by-trial
variability.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..data.provenance import provenance
from ..errors import AlignmentError, ConfigError, DataError, SchemaError
from ..fitting import state_files as files
from ..fitting.base import check_fitted
from ..fitting.state_files import SPIKES_FORMAT as FORMAT
from .arrays import check_counts, from_neurons_last, held_out_ids, neuroid_labels, neuroid_table, neurons_last
from .metrics import co_bps

__all__ = ["PSTHBaseline"]

_KIND = "psth-baseline"


class PSTHBaseline:
    """Per-condition mean counts per bin (the PSTH) of the training trials, predicted for every trial.

    Parameters
    ----------
    condition : str
        The presentation coordinate naming each trial's condition.

    Attributes
    ----------
    psth_ : DataArray (condition, neuroid, time_bin)
        The fitted PSTHs, counts per bin (held-in then held-out neurons).
    held_in_ids_, held_out_ids_ : list of str
        The neurons; ``held_out_ids_`` is empty when fitted without held-out neurons.
    history_ : pandas.DataFrame
        One row: ``n_trials``, ``n_conditions``.

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.psth_baseline import PSTHBaseline
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=20, random_state=0)
    >>> model = PSTHBaseline().fit(sim.counts[:30], held_out="held_out")
    >>> model.psth_.dims, model.transform(sim.counts[30:]).sizes["presentation"]
    (('condition', 'neuroid', 'time_bin'), 10)
    """

    def __init__(self, condition: str = "condition"):
        self.condition = condition

    def fit(self, counts: xr.DataArray, held_out: Any = None) -> "PSTHBaseline":
        """Average the counts of each condition's trials.

        Parameters
        ----------
        counts : DataArray (presentation, neuroid, time_bin)
            Training trials, with the presentation coordinate ``condition``.
        held_out : list of str or str, optional
            Held-out neurons (for :meth:`score`); they are averaged like the others.

        Returns
        -------
        self
        """
        counts = check_counts(counts)
        conditions = self._conditions(counts)
        ids = [str(i) for i in counts.neuroid_id.values]
        chosen = set() if held_out is None else set(held_out_ids(counts, held_out))
        in_ids = [i for i in ids if i not in chosen]
        out_ids = [i for i in ids if i in chosen]  # the data's order
        order = [ids.index(i) for i in in_ids + out_ids]
        values = neurons_last(counts.isel(neuroid=order))  # (trial, time, neuron)
        labels, index = np.unique(conditions, return_inverse=True)
        n_trials = np.bincount(index, minlength=len(labels))
        sums = np.zeros((len(labels),) + values.shape[1:])
        np.add.at(sums, index, values)
        means = sums / n_trials[:, None, None]
        ordered = counts.isel(neuroid=order)
        self.psth_ = xr.DataArray(
            means.transpose(0, 2, 1), dims=("condition", "neuroid", "time_bin"),
            coords={"condition": labels,
                    **{k: c for k, c in ordered.coords.items() if c.dims in (("neuroid",), ("time_bin",))}},
            name="psth", attrs={"units": "counts/bin", **provenance({"condition": self.condition}, {"counts": counts})})
        self.held_in_ids_, self.held_out_ids_ = in_ids, out_ids
        self._neuroids = neuroid_table(ordered)
        self.history_ = pd.DataFrame([{"n_trials": int(len(index)), "n_conditions": int(len(labels))}])
        return self

    def _conditions(self, counts: xr.DataArray) -> np.ndarray:
        if not isinstance(self.condition, str) or not self.condition:
            raise ConfigError(f"condition must be a coordinate name, got {self.condition!r}", source="condition",
                              fix="pass condition='condition'")
        if self.condition not in counts.coords or counts[self.condition].dims != ("presentation",):
            raise SchemaError(f"counts have no presentation coordinate {self.condition!r}", source="counts",
                              fix="label each trial's condition, or pass condition= the coordinate that does")
        return counts[self.condition].values

    def transform(self, counts: xr.DataArray) -> xr.DataArray:
        """Each trial's condition's PSTH, as rates (counts/bin) with ``counts``' presentation and time coords.

        Raises
        ------
        AlignmentError
            A trial's condition was not in the training trials, or the number of time bins differs.
        """
        check_fitted(self, "psth_")
        counts = check_counts(counts)
        conditions = self._conditions(counts)
        if counts.sizes["time_bin"] != self.psth_.sizes["time_bin"]:
            raise AlignmentError(f"counts have {counts.sizes['time_bin']} time bins, the PSTHs "
                                 f"{self.psth_.sizes['time_bin']}", source="counts",
                                 fix="bin the trials with the training window")
        known = {c: k for k, c in enumerate(self.psth_.condition.values.tolist())}
        unseen = sorted({c for c in conditions.tolist() if c not in known}, key=str)
        if unseen:
            raise AlignmentError(f"{len(unseen)} condition(s) had no training trial, e.g. {unseen[:5]}",
                                 source="counts", fix=f"predict trials of the fitted conditions {list(known)[:8]}, "
                                                      "or fit on trials of every condition")
        index = np.array([known[c] for c in conditions.tolist()], dtype=np.intp)
        rates = self.psth_.values[index].transpose(0, 2, 1)  # (trial, time, neuron)
        out = from_neurons_last(rates, counts, neuroids=neuroid_labels(self._neuroids))
        out.attrs.update(provenance({"condition": self.condition}, {"counts": counts}))
        return out

    def fit_transform(self, counts: xr.DataArray, held_out: Any = None) -> xr.DataArray:
        """``fit(counts, held_out)``, then the rates of the training counts."""
        return self.fit(counts, held_out).transform(counts)

    def score(self, counts: xr.DataArray) -> float:
        """Co-smoothing bits per spike of the held-out neurons of ``counts``."""
        check_fitted(self, "psth_")
        if not self.held_out_ids_:
            raise ConfigError("the baseline was fitted without held-out neurons", source="score",
                              fix="fit with held_out=... to score co-smoothing")
        return co_bps(self.transform(counts), counts, self.held_out_ids_)

    def save(self, path: str | os.PathLike) -> os.PathLike:
        """Write the PSTHs and neurons (``weights_only`` file, no pickled objects)."""
        check_fitted(self, "psth_")
        conditions = self.psth_.condition.values
        if conditions.dtype.kind not in "biu" and conditions.dtype.kind not in "UO":
            raise DataError(f"conditions of dtype {conditions.dtype} cannot be saved", source="condition",
                            fix="label conditions with integers or strings")
        return files.write_state(path, {
            "condition": self.condition, "psth": torch.from_numpy(np.ascontiguousarray(self.psth_.values)),
            "conditions": [c if isinstance(c, int) else str(c) for c in conditions.tolist()],
            "time_bins": {k: [float(v) for v in self.psth_[k].values]
                          for k in ("time_bin_start", "time_bin_end") if k in self.psth_.coords},
            "held_in": self.held_in_ids_, "held_out": self.held_out_ids_, "neuroids": self._neuroids,
            "history": files.history_to_dict(self.history_)}, kind=_KIND, format=FORMAT)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PSTHBaseline":
        """A fitted baseline from a file of :meth:`save`."""
        state = files.read_state(path, kind=_KIND, writer="PSTHBaseline.save", format=FORMAT)
        estimator = cls(condition=state["condition"])
        labels = neuroid_labels(state["neuroids"])
        coords = {"condition": np.asarray(state["conditions"]),
                  **{k: c for k, c in labels.coords.items()},
                  **{k: ("time_bin", np.asarray(v)) for k, v in state["time_bins"].items()}}
        estimator.psth_ = xr.DataArray(state["psth"].numpy(), dims=("condition", "neuroid", "time_bin"),
                                       coords=coords, name="psth", attrs={"units": "counts/bin"})
        estimator.held_in_ids_, estimator.held_out_ids_ = list(state["held_in"]), list(state["held_out"])
        estimator._neuroids = dict(state["neuroids"])
        estimator.history_ = files.history_from_dict(state["history"])
        return estimator
