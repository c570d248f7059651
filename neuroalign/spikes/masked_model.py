"""Masked modelling of binned spikes (NDT-style) as a scikit-learn-style estimator.

:class:`MaskedSpikeModel` trains a :class:`~neuroalign.spikes.ndt.MaskedSpikeTransformer`
to fill in hidden time bins of population counts (Poisson NLL on the masked
entries; held-out neurons are outputs only, always scored), so that
``transform`` infers every neuron's rate from the held-in neurons alone.
Several sessions with different neurons train one model through per-session
input and output adapters.  It keeps the loss history (training and
validation, the validation trials split by trial), writes a checkpoint after
every epoch and resumes from it with the same result as an uninterrupted run.

Every random draw (initial weights, validation split, shuffling, masks,
dropout) comes from generators seeded with ``random_state``: the same
``random_state`` gives bit-identical weights and history on one machine and
thread count.  Small models train faster on one torch thread (``threads=1``,
see benchmarks/bench_spike_training_threads.py) than on two.
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

import numpy as np
import torch
import xarray as xr
from sklearn.base import BaseEstimator

from ..data.provenance import provenance
from ..errors import AlignmentError, ConfigError, DataError, UnknownNameError
from ..fitting import state_files as files
from ..fitting.base import (check_bool, check_choice, check_fitted, check_int, check_number, check_path, check_runtime,
                            check_threads, epoch_bar, fit_configuration, forked_rng, resolve_seed, seeded_generator,
                            stream_seeds, threads_for)
from ..metamers.checkpoint import model_identity
from .arrays import check_counts, check_sessions, from_neurons_last, neuroid_labels, neurons_last
from .masked_state import FORMAT, checkpoint_payload, history_table, new_state, restore
from .masked_state import identity as identity_of
from .masked_training import prepare_sessions, run_epoch, validation_loss, validation_masks
from .masking import MASK_MODES
from .ndt import INPUT_TRANSFORMS, MaskedSpikeTransformer

__all__ = ["MaskedSpikeModel"]

log = logging.getLogger(__name__)

_CHECKPOINT = "masked-spike-checkpoint"
_MODEL = "masked-spike-model"
_WRITER = "MaskedSpikeModel"
_MODEL_PARAMS = ("d_model", "n_layers", "n_heads", "dim_feedforward", "dropout", "input_transform")
_MASK_PARAMS = ("mask_ratio", "mask_mode", "max_span", "zero_ratio", "random_ratio")
_STREAMS = ("init", "split", "shuffle", "mask", "valid", "global")
_SECTIONS = {"config": "other parameters", "data": "another dataset"}


class MaskedSpikeModel(BaseEstimator):
    """Masked modelling of binned population spikes with a transformer over time bins (NDT1-style).

    Parameters
    ----------
    d_model, n_layers, n_heads, dim_feedforward, dropout, input_transform
        The transformer (see :class:`~neuroalign.spikes.ndt.MaskedSpikeTransformer`).
    mask_ratio : float
        Fraction of time bins hidden per trial and step (NDT uses 0.2–0.25).
    mask_mode : {"timestep", "span"}
        Independent time bins, or contiguous spans of up to ``max_span`` bins
        (see :func:`~neuroalign.spikes.masking.draw_mask`).
    max_span : int
        The widest span of ``"span"`` masking.
    zero_ratio, random_ratio : float
        What a masked bin becomes (see :func:`~neuroalign.spikes.masking.corrupt`): zeros with probability
        ``zero_ratio`` (default 1: always), else random counts with probability ``random_ratio``, else unchanged.
    epochs : int
        Passes over the training trials (0 gives the untrained model).
    batch_size : int
        Trials per step (one session per step); also the batch of ``transform``.
    lr, weight_decay : float
        AdamW's learning rate and weight decay.
    validation_fraction : float
        Fraction of each session's trials (split by trial) kept for ``valid_loss``; 0 trains on all.
    patience : int or None
        Stop after this many epochs without a lower ``valid_loss`` and keep the best epoch's weights
        (``best_epoch_``); None trains every epoch.
    random_state : int or None
        Seeds the weights, the validation split, the shuffling, the masks and dropout (None: fresh entropy,
        kept in ``random_state_``).
    progress : bool
        Show a progress bar over epochs.
    checkpoint : path-like or None
        A file written atomically after every epoch; if it exists when ``fit`` starts, training resumes from
        it with the same result as an uninterrupted run (a larger ``epochs`` continues a finished run).
    threads : int or None
        torch threads during ``fit`` and ``transform`` (restored afterwards); None leaves torch's setting.

    Attributes
    ----------
    model_ : MaskedSpikeTransformer
        The trained model, in eval mode.
    history_ : pandas.DataFrame
        One row per epoch: ``epoch``, ``loss`` (training, per scored entry), ``valid_loss`` (NaN without
        validation trials).
    sessions_ : list of str
        The sessions' names (``"session-0"`` for a single array).
    held_in_ids_, held_out_ids_ : dict of str to list of str
        Per session, the input neurons and the output-only neurons.
    n_bins_, n_epochs_, random_state_ : int
        Time bins per trial, epochs trained, and the seed used.
    best_epoch_ : int or None
        The epoch whose weights were kept (``patience`` set), else None.

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.masked_model import MaskedSpikeModel
    >>> sim = simulate_lorenz_spikes(n_trials=20, n_bins=10, random_state=0)
    >>> model = MaskedSpikeModel(d_model=16, epochs=2, progress=False).fit(sim.counts, held_out="held_out")
    >>> model.history_.columns.tolist()
    ['epoch', 'loss', 'valid_loss']
    >>> rates = model.transform(sim.counts.sel(neuroid=~sim.counts.held_out))
    >>> rates.dims, rates.sizes["neuroid"], rates.attrs["units"]
    (('presentation', 'neuroid', 'time_bin'), 48, 'counts/bin')
    """

    def __init__(self, *, d_model: int = 64, n_layers: int = 2, n_heads: int = 2, dim_feedforward: int = 128,
                 dropout: float = 0.2, input_transform: str = "log1p", mask_ratio: float = 0.25,
                 mask_mode: str = "timestep", max_span: int = 3, zero_ratio: float = 1.0, random_ratio: float = 0.0,
                 epochs: int = 100, batch_size: int = 32, lr: float = 2e-3, weight_decay: float = 1e-4,
                 validation_fraction: float = 0.2, patience: int | None = None, random_state: int | None = 0,
                 progress: bool = True, checkpoint: str | os.PathLike | None = None, threads: int | None = 1):
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dim_feedforward = dim_feedforward
        self.dropout = dropout
        self.input_transform = input_transform
        self.mask_ratio = mask_ratio
        self.mask_mode = mask_mode
        self.max_span = max_span
        self.zero_ratio = zero_ratio
        self.random_ratio = random_ratio
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.progress = progress
        self.checkpoint = checkpoint
        self.threads = threads

    # ------------------------------------------------------------------ parameters

    def configuration(self) -> dict[str, Any]:
        """The parameters that determine the result (all but ``progress``, ``checkpoint``, ``threads``)."""
        return fit_configuration(self)

    def _check_params(self) -> None:
        for name in ("d_model", "n_layers", "n_heads", "dim_feedforward", "max_span", "batch_size"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("epochs", self.epochs, minimum=0)
        check_number("dropout", self.dropout, low=0, high=1, high_open=True)
        check_choice("input_transform", self.input_transform, INPUT_TRANSFORMS)
        check_choice("mask_mode", self.mask_mode, MASK_MODES)
        check_number("mask_ratio", self.mask_ratio, low=0, high=1, low_open=True, high_open=True)
        check_number("zero_ratio", self.zero_ratio, low=0, high=1)
        check_number("random_ratio", self.random_ratio, low=0, high=1)
        check_number("lr", self.lr, low=0, low_open=True)
        check_number("weight_decay", self.weight_decay, low=0)
        check_number("validation_fraction", self.validation_fraction, low=0, high=1, high_open=True)
        if self.patience is not None:
            check_int("patience", self.patience, minimum=1)
            if self.validation_fraction == 0:
                raise ConfigError("patience needs validation trials, but validation_fraction=0",
                                  source="patience", fix="pass validation_fraction>0, or patience=None")
        check_bool("progress", self.progress)
        check_path("checkpoint", self.checkpoint)
        check_threads(self.threads)
        if self.random_state is not None:
            check_int("random_state", self.random_state, minimum=0)

    # ------------------------------------------------------------------ fitting

    def fit(self, counts: Any, held_out: Any = None) -> "MaskedSpikeModel":
        """Train on ``counts`` (a DataArray or ``{session: DataArray}``); returns ``self``.

        Parameters
        ----------
        counts : DataArray or mapping of str to DataArray
            ``(presentation, neuroid, time_bin)`` counts; sessions may have different neurons but must have the
            same time bins.
        held_out : list of str, str, mapping or None
            Output-only neurons (co-smoothing targets): ``neuroid_id``s, the name of a boolean neuroid coord
            (e.g. the simulator's ``"held_out"``), a mapping of session names to either, or None (none).

        Raises
        ------
        ConfigError
            A parameter is invalid; the checkpoint was written by another configuration or dataset, or has more
            epochs than ``epochs``.
        AlignmentError
            A held-out neuron is not in the data.
        DataError
            NaN/negative bins; sessions with different trial lengths; too few trials for the validation split;
            the loss became NaN.
        """
        self._check_params()
        sessions = check_sessions(counts)
        seed_hint = None
        path = None if self.checkpoint is None else check_path("checkpoint", self.checkpoint)
        saved = None
        if path is not None and os.path.exists(path):
            saved = files.read_state(path, kind=_CHECKPOINT, writer=f"{_WRITER}(checkpoint=...).fit", format=FORMAT)
            seed_hint = int(saved["seed"])
        seed = seed_hint if seed_hint is not None else resolve_seed(self.random_state)
        seeds = stream_seeds(seed, _STREAMS)
        data = prepare_sessions(sessions, held_out, validation_fraction=float(self.validation_fraction),
                                seed=seeds["split"])
        identity = identity_of(data)
        if saved is not None:
            files.check_same_training({**saved, "config": _without_epochs(saved["config"])},
                                      {"config": _without_epochs(self.configuration()), "data": identity}, path,
                                      sections=_SECTIONS)
            if saved["epoch"] > self.epochs:
                raise ConfigError(f"the checkpoint holds {saved['epoch']} epochs, more than epochs={self.epochs}",
                                  source=str(path), fix=f"pass epochs≥{saved['epoch']}, or another checkpoint path")
        settings = {name: getattr(self, name) for name in _MASK_PARAMS} | {"batch_size": int(self.batch_size)}
        with threads_for(self.threads), forked_rng(seeds["init"]):
            model = self._build([s.shape for s in data], identity["n_bins"])
            torch.manual_seed(seeds["global"])  # dropout draws from torch's global generator
            optimizer = torch.optim.AdamW(model.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
            generators = {"shuffle": seeded_generator(seeds["shuffle"]), "mask": seeded_generator(seeds["mask"])}
            masks = validation_masks(data, settings, seeded_generator(seeds["valid"]))
            state = new_state()
            if saved is not None:
                state = restore(saved, model, optimizer, generators, path)
                log.info("resuming %s after epoch %d of %d", path, len(state["rows"]), self.epochs)
            self._train(model, data, optimizer, generators, masks, settings, state, seed, identity, path)
        if state["best"] is not None:
            model.load_state_dict(state["best"])
        model.eval()
        self.model_ = model
        self.history_ = history_table(state["rows"])
        self.best_epoch_ = state["best_epoch"]
        self._set_data_attributes(identity, seed)
        return self

    def _build(self, shapes: list[tuple[int, int]], n_bins: int) -> MaskedSpikeTransformer:
        return MaskedSpikeTransformer(shapes, n_bins, **{name: getattr(self, name) for name in _MODEL_PARAMS})

    def _train(self, model, data, optimizer, generators, masks, settings, state, seed, identity, path) -> None:
        rows = state["rows"]
        bar = epoch_bar(len(rows), int(self.epochs), progress=bool(self.progress), desc="masked modelling")
        for epoch in bar:
            if state["stopped"]:
                break
            loss = run_epoch(model, data, optimizer, generators, settings, epoch + 1)
            valid = validation_loss(model, data, masks, int(self.batch_size))
            rows.append({"epoch": epoch + 1, "loss": loss, "valid_loss": valid})
            bar.set_postfix(loss=f"{loss:.4f}", valid=f"{valid:.4f}", refresh=False)
            log.info("epoch %d/%d: loss %.5f, valid_loss %.5f", epoch + 1, self.epochs, loss, valid)
            if self.patience is not None:
                if valid < state["best_loss"]:
                    state.update(best=copy.deepcopy(model.state_dict()), best_epoch=epoch + 1, best_loss=valid,
                                 stale=0)
                else:
                    state["stale"] += 1
                    state["stopped"] = state["stale"] >= int(self.patience)
            if path is not None:
                files.write_state(path, {"config": self.configuration(), "data": identity, "seed": seed,
                                         **checkpoint_payload(state, model, optimizer, generators)},
                                  kind=_CHECKPOINT, format=FORMAT)
        bar.close()

    def _set_data_attributes(self, identity: dict[str, Any], seed: int) -> None:
        self.sessions_ = list(identity["sessions"])
        self.held_in_ids_ = dict(zip(self.sessions_, identity["held_in"]))
        self.held_out_ids_ = dict(zip(self.sessions_, identity["held_out"]))
        self._neuroids = dict(zip(self.sessions_, identity["neuroids"]))
        self._identity = identity
        self.n_bins_ = int(identity["n_bins"])
        self.n_epochs_ = len(self.history_)
        self.random_state_ = seed

    # ------------------------------------------------------------------ inference

    def transform(self, counts: xr.DataArray, session: str | None = None) -> xr.DataArray:
        """Inferred rates (counts/bin) of every neuron of ``session``, from the held-in neurons of ``counts``.

        Returns a ``(presentation, neuroid, time_bin)`` DataArray with ``counts``' presentation and time_bin
        coords and the fitted session's neuroid coords (held-in then held-out neurons); attrs carry units and
        provenance.  Other neurons of ``counts`` (e.g. the held-out ones) are not read.

        Raises
        ------
        ConfigError
            Not fitted; ``session`` not given for a multi-session model.
        UnknownNameError
            ``session`` is not one of ``sessions_``.
        AlignmentError
            ``counts`` lacks held-in neurons of the session.
        DataError
            NaN/negative bins, or another number of time bins than in training.
        """
        index = self._session_index(session)
        name = self.sessions_[index]
        counts = check_counts(counts)
        if counts.sizes["time_bin"] != self.n_bins_:
            raise DataError(f"counts have {counts.sizes['time_bin']} time bins, the model was trained on "
                            f"{self.n_bins_}", source="counts", fix="bin the trials with the training window")
        ids = [str(i) for i in counts.neuroid_id.values]
        position = {i: k for k, i in enumerate(ids)}
        held_in = self.held_in_ids_[name]
        missing = [i for i in held_in if i not in position]
        if missing:
            raise AlignmentError(f"counts lack {len(missing)} of the {len(held_in)} held-in neurons of session "
                                 f"{name!r}, e.g. {missing[:5]}", source="counts",
                                 fix="pass counts with every neuron in held_in_ids_[session] (any order)")
        x = torch.from_numpy(neurons_last(counts.isel(neuroid=[position[i] for i in held_in])).astype(np.float32))
        check_threads(self.threads)
        step = int(self.batch_size)
        self.model_.eval()
        with threads_for(self.threads), torch.no_grad():
            log_rates = [self.model_(x[s:s + step], index) for s in range(0, len(x), step)]
        rates = np.exp(torch.cat(log_rates).double().numpy()) if len(x) else np.zeros((0, self.n_bins_, 0))
        out = from_neurons_last(rates, counts, neuroids=neuroid_labels(self._neuroids[name]))
        out.attrs.update(provenance({**self.configuration(), "session": name, "n_epochs": self.n_epochs_,
                                     "random_state": self.random_state_},
                                    {"counts": counts, "weights": model_identity(self.model_)["weights"]}))
        return out

    def fit_transform(self, counts: Any, held_out: Any = None) -> xr.DataArray | dict[str, xr.DataArray]:
        """``fit(counts, held_out)``, then the rates of the training counts (``{session: rates}`` for a mapping)."""
        self.fit(counts, held_out)
        if isinstance(counts, xr.DataArray):
            return self.transform(counts)
        return {name: self.transform(counts[name], session=name) for name in self.sessions_}

    def score(self, counts: xr.DataArray, session: str | None = None) -> float:
        """Co-smoothing bits per spike of the session's held-out neurons in ``counts`` (``metrics.co_bps``)."""
        from .metrics import co_bps

        check_fitted(self)
        name = self.sessions_[self._session_index(session)]
        if not self.held_out_ids_[name]:
            raise ConfigError(f"the model has no held-out neurons for session {name!r}", source="score",
                              fix="fit with held_out=... to score co-smoothing")
        return co_bps(self.transform(counts, session=name), counts, self.held_out_ids_[name])

    def _session_index(self, session: str | None) -> int:
        check_fitted(self)
        if session is None:
            if len(self.sessions_) > 1:
                raise ConfigError(f"the model was fitted on {len(self.sessions_)} sessions", source="session",
                                  fix=f"name one: session= one of {self.sessions_}")
            return 0
        if session not in self.sessions_:
            raise UnknownNameError(str(session), self.sessions_, what="session", source="session")
        return self.sessions_.index(session)

    # ------------------------------------------------------------------ files

    def save(self, path: str | os.PathLike) -> "os.PathLike":
        """Write the weights, configuration, sessions' neurons and history (no pickled objects)."""
        check_fitted(self)
        return files.write_state(path, {
            "config": self.configuration(), "data": self._identity, "seed": self.random_state_,
            "model": self.model_.state_dict(), "history": files.history_to_dict(self.history_),
            "best_epoch": self.best_epoch_}, kind=_MODEL, format=FORMAT)

    @classmethod
    def load(cls, path: str | os.PathLike, **runtime: Any) -> "MaskedSpikeModel":
        """A fitted model from a file of :meth:`save` (``torch.load(weights_only=True)``).

        ``runtime`` sets ``progress``, ``threads`` or ``checkpoint`` of the returned estimator.
        """
        check_runtime(runtime)
        state = files.read_state(path, kind=_MODEL, writer=f"{_WRITER}.save", format=FORMAT)
        try:
            estimator = cls(**state["config"], **runtime)
            data = state["data"]
            shapes = [(len(a), len(b)) for a, b in zip(data["held_in"], data["held_out"])]
            with forked_rng(0):
                model = estimator._build(shapes, int(data["n_bins"]))
            model.load_state_dict(state["model"])
            history = files.history_from_dict(state["history"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise ConfigError(f"the saved model does not fit this version's MaskedSpikeTransformer "
                              f"({' '.join(str(exc).split())[:300]})", source=str(path),
                              fix="load it with the neuroalign version that saved it") from None
        model.eval()
        estimator.model_, estimator.history_, estimator.best_epoch_ = model, history, state["best_epoch"]
        estimator._set_data_attributes(data, int(state["seed"]))
        return estimator


def _without_epochs(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "epochs"}
