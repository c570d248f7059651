"""The autoregressive spike-token model (Neuroformer-style) as a scikit-learn-style estimator.

:class:`SpikeTokenModel` tokenises binned spikes (:mod:`neuroalign.spikes.tokens`),
trains a :class:`~neuroalign.spikes.token_transformer.SpikeTokenTransformer`
on next-token prediction (Adam on minibatches of windows of the training
trials; the validation trials are whole trials, never windows of a training
trial), keeps the loss history, writes a checkpoint after every epoch and
resumes from it with the same result as an uninterrupted run, generates
spikes window by window, and gives rates as expected counts.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import torch
import xarray as xr
from sklearn.base import BaseEstimator

from ..data.provenance import hash_array, provenance
from ..errors import ConfigError
from ..fitting import state_files as files
from ..fitting.base import (check_bool, check_choice, check_fitted, check_int, check_number, check_path, check_runtime,
                            check_threads, epoch_bar, fit_configuration, forked_rng, resolve_seed, seeded_generator,
                            stream_seeds, threads_for)
from ..fitting.state_files import SPIKES_FORMAT as FORMAT
from .arrays import check_counts, from_neurons_last, split_trials
from .token_data import INPUTS, check_inputs, scaled_inputs, trial_frame
from .metrics import bits_per_spike
from .token_sampling import sample_trials
from .token_training import history_table, restore_training, run_epoch, validation_loss
from .token_transformer import SpikeTokenTransformer
from .tokens import check_window, tokenize

__all__ = ["SpikeTokenModel"]

log = logging.getLogger(__name__)

_CHECKPOINT = "spike-token-checkpoint"
_MODEL = "spike-token-model"
_NET = ("d_model", "n_heads", "n_layers", "dim_feedforward", "dropout")
_STREAMS = ("init", "split", "shuffle", "global")
_SECTIONS = {"config": "other parameters", "data": "another dataset"}


class SpikeTokenModel(BaseEstimator):
    """Autoregressive model of spike tokens: each window's spikes given the previous window (and inputs).

    Parameters
    ----------
    window_bins : int
        Bins per window (must divide the trial length); Neuroformer uses 5 bins of 10 ms.
    context_bins : int or None
        Bins before each window given as its context (default: one window).
    d_model, n_heads, n_layers, dim_feedforward, dropout
        The transformer's size (:class:`~neuroalign.spikes.token_transformer.SpikeTokenTransformer`).
    contrastive_weight, temperature : float
        Weight and temperature of the InfoNCE alignment between neural and stimulus/behaviour features
        (only with stimulus or behaviour inputs).
    epochs, batch_size, lr, weight_decay
        Passes over the training windows, windows per step, Adam's learning rate and weight decay.
    validation_fraction : float
        Share of the trials (whole trials) held out for ``valid_loss``.
    n_samples : int
        Sample paths averaged by :meth:`transform`.
    random_state : int or None
        Seeds the initial weights, the trial split, the shuffling and dropout.
    progress, checkpoint, threads
        Progress bar; a checkpoint file written after every epoch and resumed from (a checkpoint of another
        configuration or dataset is refused); torch threads (1 is fastest for small models on CPU).

    Attributes
    ----------
    model_ : SpikeTokenTransformer
    history_ : pandas.DataFrame
        One row per epoch: ``epoch``, ``loss`` (training, with its parts ``offset_loss``, ``id_loss`` and
        ``contrastive`` when inputs are given) and ``valid_loss`` (the same on the validation trials, no dropout).
    train_trials_, valid_trials_ : ndarray
        Presentation indices of the training and validation trials.
    neuroid_ids_ : list of str

    Examples
    --------
    >>> import torch
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.autoregressive_model import SpikeTokenModel
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=10, n_held_in=6, n_held_out=2, random_state=0)
    >>> model = SpikeTokenModel(window_bins=5, d_model=16, n_heads=2, n_layers=1, dim_feedforward=32,
    ...                         epochs=2, progress=False).fit(sim.counts)
    >>> model.history_.columns.tolist()
    ['epoch', 'loss', 'offset_loss', 'id_loss', 'valid_loss']
    >>> model.generate(3, random_state=0).sizes
    Frozen({'presentation': 3, 'neuroid': 8, 'time_bin': 10})
    >>> rates = model.transform(sim.counts[:4], n_samples=2)
    >>> rates.attrs["units"], bool((rates > 0).all())
    ('counts/bin', True)
    """

    def __init__(self, *, window_bins: int = 5, context_bins: int | None = None, d_model: int = 32, n_heads: int = 4,
                 n_layers: int = 2, dim_feedforward: int = 64, dropout: float = 0.1, contrastive_weight: float = 1.0,
                 temperature: float = 0.5, epochs: int = 10, batch_size: int = 32, lr: float = 3e-3,
                 weight_decay: float = 0.0, validation_fraction: float = 0.2, n_samples: int = 20,
                 random_state: int | None = 0, progress: bool = True, checkpoint: str | os.PathLike | None = None,
                 threads: int | None = 1):
        self.window_bins = window_bins
        self.context_bins = context_bins
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.dim_feedforward = dim_feedforward
        self.dropout = dropout
        self.contrastive_weight = contrastive_weight
        self.temperature = temperature
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.n_samples = n_samples
        self.random_state = random_state
        self.progress = progress
        self.checkpoint = checkpoint
        self.threads = threads

    def configuration(self) -> dict[str, Any]:
        """The parameters that determine the result (all but ``progress``, ``checkpoint``, ``threads``)."""
        return fit_configuration(self)

    def _check_params(self) -> None:
        for name, minimum in (("d_model", 1), ("n_heads", 1), ("n_layers", 1), ("dim_feedforward", 1), ("epochs", 0),
                              ("batch_size", 2), ("n_samples", 1)):
            check_int(name, getattr(self, name), minimum=minimum)
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model={self.d_model} is not a multiple of n_heads={self.n_heads}",
                              source="d_model", fix="pick d_model divisible by n_heads")
        check_number("dropout", self.dropout, low=0, high=1, high_open=True)
        check_number("contrastive_weight", self.contrastive_weight, low=0)
        check_number("temperature", self.temperature, low=0, low_open=True)
        check_number("lr", self.lr, low=0, low_open=True)
        check_number("weight_decay", self.weight_decay, low=0)
        check_number("validation_fraction", self.validation_fraction, low=0, high=1, low_open=True, high_open=True)
        check_bool("progress", self.progress)
        check_path("checkpoint", self.checkpoint)
        check_threads(self.threads)
        if self.random_state is not None:
            check_int("random_state", self.random_state, minimum=0)

    # ------------------------------------------------------------------ fitting

    def fit(self, counts: xr.DataArray, stimulus: xr.DataArray | None = None,
            behaviour: xr.DataArray | None = None) -> "SpikeTokenModel":
        """Train on every window of ``counts``' training trials; returns ``self``.

        Parameters
        ----------
        counts : DataArray (presentation, neuroid, time_bin)
            Whole-number spike counts.
        stimulus, behaviour : DataArray (presentation, time_bin, variable), optional
            Inputs cross-attended by every window (the bins of its context and its own), with the same
            presentations (and ``stimulus_id`` order) and time bins as ``counts``.

        Raises
        ------
        DataError
            NaN, negative or fractional counts; too few trials for the validation split; the loss diverged.
        ConfigError
            A parameter is invalid; ``window_bins`` does not divide the trial length; the checkpoint was written
            by another configuration or for another dataset.
        AlignmentError, SchemaError
            ``stimulus`` or ``behaviour`` does not match ``counts``.
        """
        self._check_params()
        tokens = tokenize(counts, window_bins=self.window_bins, context_bins=self.context_bins)
        counts = check_counts(counts)
        raw = {name: check_inputs(value, counts, name) for name, value in zip(INPUTS, (stimulus, behaviour))}
        raw = {name: value for name, value in raw.items() if value is not None}
        identity = {"counts": hash_array(counts.values), "neuroid_ids": [str(i) for i in counts.neuroid_id.values],
                    "n_bins": tokens.n_bins, **{name: hash_array(value) for name, value in raw.items()}}
        path = None if self.checkpoint is None else check_path("checkpoint", self.checkpoint)
        saved = None
        if path is not None and os.path.exists(path):
            saved = files.read_state(path, kind=_CHECKPOINT, writer="SpikeTokenModel(checkpoint=...).fit",
                                     format=FORMAT)
            current = {"config": _without_epochs(self.configuration()), "data": identity}
            files.check_same_training({**saved, "config": _without_epochs(saved["config"])}, current, path,
                                      sections=_SECTIONS)
            if saved["epoch"] > self.epochs:
                raise ConfigError(f"the checkpoint holds {saved['epoch']} epochs, more than epochs={self.epochs}",
                                  source=str(path), fix=f"pass epochs≥{saved['epoch']}, or another checkpoint path")
        seed = int(saved["seed"]) if saved is not None else resolve_seed(self.random_state)
        seeds = stream_seeds(seed, _STREAMS)
        parts = split_trials(tokens.coords.sizes["presentation"],
                             {"train": 1 - self.validation_fraction, "valid": self.validation_fraction},
                             random_state=seeds["split"])
        scale = {name: _scale(value[parts["train"]]) for name, value in raw.items()}
        inputs = {name: (value - scale[name][0]) / scale[name][1] for name, value in raw.items()}
        shape = {"n_neurons": tokens.n_neurons, "window_bins": tokens.window_bins,
                 "context_bins": tokens.context_bins, "n_windows": tokens.n_windows,
                 "max_tokens": 2 * tokens.ids.shape[1] + 8, "max_context": tokens.context_ids.shape[1],
                 **{f"{name}_dim": int(value.shape[2]) for name, value in raw.items()}}
        rows = {name: np.nonzero(np.isin(tokens.trial, trials))[0] for name, trials in parts.items()}
        with threads_for(self.threads), forked_rng(seeds["init"]):
            model = self._build(shape)
            torch.manual_seed(seeds["global"])  # dropout draws from torch's global generator
            optimizer = torch.optim.Adam(model.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
            shuffle = seeded_generator(seeds["shuffle"])
            history: list[dict[str, float]] = []
            if saved is not None:
                history = restore_training(saved, model, optimizer, shuffle, path)
                log.info("resuming %s after epoch %d of %d", path, len(history), self.epochs)
            bar = epoch_bar(len(history), int(self.epochs), progress=bool(self.progress), desc="spike tokens")
            for epoch in bar:
                losses = {"batch_size": int(self.batch_size), "contrastive_weight": self.contrastive_weight,
                          "temperature": self.temperature}
                row = {"epoch": epoch + 1, **run_epoch(model, optimizer, shuffle, tokens, inputs, rows["train"],
                                                       **losses)}
                row["valid_loss"] = validation_loss(model, tokens, inputs, rows["valid"], **losses)
                history.append(row)
                bar.set_postfix(loss=f"{row['loss']:.4f}", valid=f"{row['valid_loss']:.4f}", refresh=False)
                log.info("epoch %d/%d: loss %.5f, valid_loss %.5f", epoch + 1, self.epochs, row["loss"],
                         row["valid_loss"])
                if path is not None:
                    files.write_state(path, {
                        "config": self.configuration(), "data": identity, "seed": seed, "epoch": epoch + 1,
                        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "generators": {"shuffle": shuffle.get_state(), "global": torch.get_rng_state()},
                        "history": files.history_to_dict(history_table(history))}, kind=_CHECKPOINT, format=FORMAT)
            bar.close()
        model.eval()
        self.model_, self.history_ = model, history_table(history)
        self._set_data(shape, scale, identity, counts, seed)
        self.train_trials_, self.valid_trials_ = parts["train"], parts["valid"]
        return self

    def _build(self, shape: dict[str, int]) -> SpikeTokenTransformer:
        return SpikeTokenTransformer(**shape, **{name: getattr(self, name) for name in _NET})

    def _set_data(self, shape: dict[str, int], scale: dict[str, tuple[np.ndarray, np.ndarray]],
                  identity: dict[str, Any], counts: xr.DataArray, seed: int) -> None:
        self.shape_ = dict(shape)
        self.input_scale_ = {name: (np.asarray(m), np.asarray(s)) for name, (m, s) in scale.items()}
        self.identity_ = dict(identity)
        self.neuroid_ids_ = list(identity["neuroid_ids"])
        self.time_bins_ = counts.coords.to_dataset().drop_dims(["presentation", "neuroid"], errors="ignore")
        self.n_epochs_ = len(self.history_)
        self.random_state_ = seed

    # ------------------------------------------------------------------ generation

    def generate(self, data: xr.DataArray | int, *, stimulus: xr.DataArray | None = None,
                 behaviour: xr.DataArray | None = None, context: str = "generated", expected: bool = False,
                 random_state: int = 0) -> xr.DataArray:
        """Sample spike counts window by window: a ``(presentation, neuroid, time_bin)`` array of counts.

        Parameters
        ----------
        data : DataArray or int
            Counts whose trials to generate (their coords are kept), or a number of trials (presentations
            ``generated-0``, …, the training time bins).
        stimulus, behaviour : DataArray, optional
            The inputs of each trial, required when the model was fitted with them.
        context : {"generated", "observed"}
            ``"generated"``: each window's context is the previous generated window(s) (the first window
            starts from an empty context), so whole trials are generated from the inputs alone.
            ``"observed"``: each window's context is ``data``'s observed bins before it (one window ahead).
        expected : bool
            Return, instead of the sampled counts, the expected counts of each bin along the same sample paths
            (the probability the model gave each (bin, neuron) at every step; counts/bin, positive): a
            lower-variance estimate of the same mean (see :mod:`neuroalign.spikes.token_sampling`).
        random_state : int
            Seeds the sampling.
        """
        check_choice("context", context, ["generated", "observed"])
        check_bool("expected", expected)
        values, like, inputs = self._inputs(data, stimulus, behaviour, need_counts=context == "observed")
        generator = seeded_generator(resolve_seed(random_state))
        sampled, mean = self._sample(values, inputs, context, generator, len(like.presentation))
        if expected:
            return from_neurons_last(mean, like, neuroids=self._neuroids(), name="expected_counts")
        return from_neurons_last(sampled, like, neuroids=self._neuroids(), name="counts", units="counts")

    def transform(self, counts: xr.DataArray, stimulus: xr.DataArray | None = None,
                  behaviour: xr.DataArray | None = None, *, n_samples: int | None = None,
                  random_state: int = 0) -> xr.DataArray:
        """Rates (counts/bin): the model's expected counts of each bin given the observed bins before its window.

        Each window of each trial is sampled ``n_samples`` times (default ``self.n_samples``) with the trial's
        observed previous window(s) as context (as ``generate(counts, context="observed")``); the rate of a bin
        is the mean over the samples of the expected counts accumulated while sampling (the probability the
        model gives each (bin, neuron) at every step; see :mod:`neuroalign.spikes.token_sampling`).  The
        counts inside a window are never an input to its own rates; the first window has an empty context.
        """
        n_samples = check_int("n_samples", self.n_samples if n_samples is None else n_samples, minimum=1)
        values, like, inputs = self._inputs(counts, stimulus, behaviour, need_counts=True)
        # one generator per sample path: a path's draws then depend only on its own earlier windows, so the
        # observed counts of a window (the context of the next) never shift another path's draws for that window
        seeds = stream_seeds(resolve_seed(random_state), [f"path-{k}" for k in range(n_samples)])
        total = np.zeros((len(like.presentation), like.sizes["time_bin"], len(self.neuroid_ids_)))
        for seed in seeds.values():
            total += self._sample(values, inputs, "observed", seeded_generator(seed), len(like.presentation))[1]
        rates = from_neurons_last(total / n_samples, like, neuroids=self._neuroids())
        rates.attrs.update(provenance({**self.configuration(), "n_samples": n_samples, "random_state": random_state,
                                       "n_epochs": self.n_epochs_}, {"counts": hash_array(values)}))
        return rates

    def score(self, counts: xr.DataArray, stimulus: xr.DataArray | None = None,
              behaviour: xr.DataArray | None = None) -> float:
        """Bits per spike of :meth:`transform`'s rates on ``counts`` (every neuron; one window ahead).

        Not co-smoothing: the model reads every neuron's earlier spikes, so no neuron is held out.
        """
        return float(bits_per_spike(self.transform(counts, stimulus, behaviour), check_counts(counts)))

    def _sample(self, values: np.ndarray | None, inputs: dict[str, np.ndarray], context: str,
                generator: torch.Generator, n_trials: int) -> tuple[np.ndarray, np.ndarray]:
        with threads_for(self.threads):
            return sample_trials(self.model_, n_trials, values if context == "observed" else None, inputs,
                                 generator)

    def _inputs(self, data: Any, stimulus: Any, behaviour: Any, *, need_counts: bool
                ) -> tuple[np.ndarray | None, xr.DataArray, dict[str, np.ndarray]]:
        check_fitted(self)
        check_window(self.shape_["n_windows"] * self.shape_["window_bins"], self.shape_["window_bins"],
                     self.shape_["context_bins"])
        values, like = trial_frame(data, stimulus, behaviour, n_bins=self.shape_["n_windows"] *
                                   self.shape_["window_bins"], neuroid_ids=self.neuroid_ids_,
                                   time_bins=self.time_bins_, need_counts=need_counts)
        return values, like, scaled_inputs({"stimulus": stimulus, "behaviour": behaviour}, like, self.input_scale_)

    def _neuroids(self) -> xr.DataArray:
        return xr.DataArray(np.zeros(len(self.neuroid_ids_)), dims="neuroid",
                            coords={"neuroid_id": ("neuroid", self.neuroid_ids_)})

    # ------------------------------------------------------------------ files

    def save(self, path: str | os.PathLike) -> "os.PathLike":
        """Write the weights, configuration, data identity and history (``torch.load(weights_only=True)`` reads it)."""
        check_fitted(self)
        return files.write_state(path, {
            "config": self.configuration(), "shape": self.shape_, "data": self.identity_, "seed": self.random_state_,
            "scale": {name: [torch.as_tensor(m), torch.as_tensor(s)] for name, (m, s) in self.input_scale_.items()},
            "time_bins": {str(k): torch.as_tensor(np.asarray(v.values, dtype=float))
                          for k, v in self.time_bins_.coords.items() if v.dims == ("time_bin",)
                          and np.issubdtype(v.dtype, np.number)},
            "trials": {"train": torch.as_tensor(self.train_trials_), "valid": torch.as_tensor(self.valid_trials_)},
            "model": self.model_.state_dict(), "history": files.history_to_dict(self.history_)},
            kind=_MODEL, format=FORMAT)

    @classmethod
    def load(cls, path: str | os.PathLike, **runtime: Any) -> "SpikeTokenModel":
        """A fitted model from a file of :meth:`save`; ``runtime`` sets ``progress``, ``threads`` or ``checkpoint``."""
        check_runtime(runtime)
        state = files.read_state(path, kind=_MODEL, writer="SpikeTokenModel.save", format=FORMAT)
        try:
            estimator = cls(**state["config"], **runtime)
            with forked_rng(0):
                model = estimator._build(dict(state["shape"]))
            model.load_state_dict(state["model"])
            history = files.history_from_dict(state["history"])
            scale = {name: (m.numpy(), s.numpy()) for name, (m, s) in state["scale"].items()}
            coords = {k: ("time_bin", v.numpy()) for k, v in state["time_bins"].items()}
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise ConfigError(f"the saved model does not fit this version's SpikeTokenTransformer "
                              f"({' '.join(str(exc).split())[:300]})", source=str(path),
                              fix="load it with the neuroalign version that saved it") from None
        model.eval()
        estimator.model_, estimator.history_ = model, history
        n_bins = state["shape"]["n_windows"] * state["shape"]["window_bins"]
        like = xr.DataArray(np.zeros(n_bins), dims="time_bin", coords=coords)
        estimator._set_data(dict(state["shape"]), scale, state["data"], like, int(state["seed"]))
        estimator.train_trials_ = state["trials"]["train"].numpy()
        estimator.valid_trials_ = state["trials"]["valid"].numpy()
        return estimator


def _scale(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per variable over trials and bins (1 where a variable is constant)."""
    flat = values.reshape(-1, values.shape[-1])
    std = flat.std(axis=0)
    return flat.mean(axis=0), np.where(std > 0, std, 1.0)


def _without_epochs(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "epochs"}
