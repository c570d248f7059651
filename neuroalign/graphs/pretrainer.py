"""Masked graph autoencoder pretraining as a scikit-learn-style estimator.

:class:`GraphMAEPretrainer` trains a :class:`~neuroalign.graphs.graphmae.GraphMAE`
on the subjects of a :class:`~neuroalign.graphs.dataset.ConnectivityGraphs`
without labels (Adam on minibatches of subjects), keeps the loss history,
writes a checkpoint after every epoch and resumes from it with the same
result as an uninterrupted run, and embeds subjects with the trained encoder.

Every random draw (initial weights, shuffling, masks, and anything a layer
draws from torch's global generator) comes from generators seeded with
``random_state``: the same ``random_state`` gives bit-identical weights and
history on one machine and thread count.  Small models train far faster on
one torch thread (``threads=1``) than on several.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from sklearn.base import BaseEstimator

from ..data.provenance import provenance
from ..errors import ConfigError, DataError
from ..fitting import state_files as files
from ..fitting.base import (check_bool, check_fitted, check_int, check_number, check_path, check_runtime, check_threads,
                            epoch_bar, fit_configuration, forked_rng, plain_value, resolve_seed, seeded_generator,
                            stream_seeds, threads_for)
from ..metamers.checkpoint import model_identity
from .dataset import ConnectivityGraphs
from .embedding_arrays import statistics_array, window_code_array
from .graphmae import GraphMAE, mean_connectivity
from .spec import GraphSpec
from .subject_codes import STATISTICS, check_embedding, window_statistics

__all__ = ["GraphMAEPretrainer"]

log = logging.getLogger(__name__)

_CHECKPOINT = "pretrainer-checkpoint"
_MODEL = "pretrainer-model"
#: Parameters passed on to GraphMAE.
_MODEL_PARAMS = ("hidden", "n_layers", "readout", "temporal", "mask_ratio", "gamma", "mask_scheme", "remask",
                 "leak_fix", "n_views", "latent_weight", "ema_momentum")
_STREAMS = ("init", "shuffle", "mask", "global")
_SECTIONS = {"config": "other parameters", "spec": "another graph spec", "data": "another dataset"}


class GraphMAEPretrainer(BaseEstimator):
    """Pretrain a spatio-temporal graph encoder with a masked graph autoencoder (GraphMAE / GraphMAE2).

    Parameters
    ----------
    hidden, n_layers, readout, temporal
        The encoder's width, number of GIN layers, readout over ROIs and model over windows
        (see :class:`~neuroalign.graphs.encoder.SpatioTemporalEncoder`).
    mask_ratio, gamma, mask_scheme, remask, leak_fix, n_views, latent_weight, ema_momentum
        The pretraining objective (see :class:`~neuroalign.graphs.graphmae.GraphMAE`); with
        ``latent_weight > 0`` the EMA target encoder is updated after every step.
    centre : bool
        Subtract the mean connectivity of the fitted subjects (over subjects and windows, kept in the
        model as ``model_.reference`` and used again by ``transform`` and fine-tuning) from every window
        before its graph is built (default).  The connectivity every subject shares dominates the cosine
        similarity of FC rows; without centring the decoder mostly learns to reproduce it and the encoder
        learns little about what varies between windows and subjects.  ``False`` builds graphs from the
        raw connectivity.
    embedding : {"windows", "nodes"}
        What :meth:`transform` summarises over each subject's windows (mean and standard deviation): the
        window codes (``"windows"``, 2 H features) or every ROI's code at every level of the encoder
        (``"nodes"``, 2 (L + 1) N H features: GIN's readout of every layer, kept per ROI; see
        :mod:`neuroalign.graphs.subject_codes`).  It changes no training: a fitted model embeds either
        way (``set_params(embedding=...)``).  ``"nodes"`` holds a batch's codes of every window at once,
        ``batch_size`` × windows × (L + 1) × N × H numbers: lower ``batch_size`` for large atlases.
    epochs : int
        Passes over the subjects; 0 gives the untrained encoder initialised from ``random_state``.
    batch_size : int
        Subjects per step (the last step of an epoch may have fewer); also the batch of ``transform``.
    lr, weight_decay : float
        Adam's learning rate and weight decay.
    random_state : int or None
        Seeds the initial weights, the shuffling and the masks (None: fresh entropy, kept in ``random_state_``).
    progress : bool
        Show a progress bar over epochs.
    checkpoint : path-like or None
        A file written atomically after every epoch (model and optimizer state, generator states, history,
        configuration, graph spec, dataset identity).  If it exists when ``fit`` starts, training resumes
        from it, with the same result as an uninterrupted run; a larger ``epochs`` continues a finished run.
    threads : int or None
        torch threads during ``fit`` and ``transform`` (restored afterwards); None leaves torch's setting.

    Attributes
    ----------
    model_ : GraphMAE
        The trained model, in eval mode.
    encoder_ : SpatioTemporalEncoder
        Its encoder (``model_.encoder``), what fine-tuning starts from.
    history_ : pandas.DataFrame
        One row per epoch: ``epoch``, ``loss`` and the loss's parts (e.g. ``reconstruction``, ``latent``),
        means over the epoch's subjects.
    spec_ : GraphSpec
        The graph spec of the training dataset.
    rois_ : numpy.ndarray
        Its ROI ids; ``transform`` needs the same, in the same order.
    n_rois_, n_extra_, n_epochs_, random_state_ : int
        ROIs, extra node features per ROI, epochs trained, and the seed used.
    content_hash_ : str
        The training dataset's ``content_hash``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.graphs.dataset import ConnectivityGraphs
    >>> from neuroalign.graphs.pretrainer import GraphMAEPretrainer
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(8, 3, 6, 40))
    >>> fc = np.einsum("swit,swjt->swij", z, z) / 40
    >>> d = np.sqrt(np.einsum("swii->swi", fc))
    >>> fc = fc / d[..., :, None] / d[..., None, :]
    >>> fc = (fc + np.swapaxes(fc, -1, -2)) / 2
    >>> fc[..., range(6), range(6)] = 1
    >>> array = xr.DataArray(fc, dims=("subject", "window", "neuroid_a", "neuroid_b"),
    ...                      coords={"subject": [f"s{i}" for i in range(8)], "group": ("subject", [0, 1] * 4),
    ...                              "neuroid_a": list("abcdef"), "neuroid_b": list("abcdef")})
    >>> dataset = ConnectivityGraphs.from_connectivity(array)
    >>> model = GraphMAEPretrainer(hidden=8, epochs=2, batch_size=4, progress=False, threads=1).fit(dataset)
    >>> model.history_.columns[:2].tolist(), len(model.history_)
    (['epoch', 'loss'], 2)
    >>> embedding = model.transform(dataset)
    >>> embedding.dims, embedding.sizes["feature"], embedding["group"].values[:2].tolist()
    (('subject', 'feature'), 16, [0, 1])
    >>> import tempfile, pathlib
    >>> path = model.save(pathlib.Path(tempfile.mkdtemp()) / "pretrained.pt")
    >>> GraphMAEPretrainer.load(path).transform(dataset).equals(embedding)
    True
    """

    def __init__(self, *, hidden: int = 64, n_layers: int = 2, readout: str = "mean", temporal: str = "transformer",
                 mask_ratio: float = 0.5, gamma: float = 2.0, mask_scheme: str = "subject", remask: bool = True,
                 leak_fix: bool = True, n_views: int = 1, latent_weight: float = 0.0, ema_momentum: float = 0.996,
                 centre: bool = True, embedding: str = "windows", epochs: int = 30, batch_size: int = 16,
                 lr: float = 5e-4, weight_decay: float = 0.0,
                 random_state: int | None = 0, progress: bool = True, checkpoint: str | os.PathLike | None = None,
                 threads: int | None = None):
        self.hidden = hidden
        self.n_layers = n_layers
        self.readout = readout
        self.temporal = temporal
        self.mask_ratio = mask_ratio
        self.gamma = gamma
        self.mask_scheme = mask_scheme
        self.remask = remask
        self.leak_fix = leak_fix
        self.n_views = n_views
        self.latent_weight = latent_weight
        self.ema_momentum = ema_momentum
        self.centre = centre
        self.embedding = embedding
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.progress = progress
        self.checkpoint = checkpoint
        self.threads = threads

    # ------------------------------------------------------------------ parameters

    def configuration(self) -> dict[str, Any]:
        """The parameters that determine the result (all but ``progress``, ``checkpoint``, ``threads``)."""
        return fit_configuration(self)

    def _check_params(self) -> None:
        check_int("epochs", self.epochs, minimum=0)
        check_int("batch_size", self.batch_size, minimum=1)
        check_number("lr", self.lr, low=0, low_open=True)
        check_number("weight_decay", self.weight_decay, low=0)
        check_number("latent_weight", self.latent_weight, low=0)
        check_bool("progress", self.progress)
        check_bool("centre", self.centre)
        check_embedding(self.embedding)
        check_path("checkpoint", self.checkpoint)
        check_threads(self.threads)
        if self.random_state is not None:
            check_int("random_state", self.random_state, minimum=0)

    # ------------------------------------------------------------------ fitting

    def fit(self, dataset: ConnectivityGraphs, y: Any = None) -> "GraphMAEPretrainer":
        """Pretrain on every subject of ``dataset`` (``y`` is ignored); returns ``self``.

        Raises
        ------
        ConfigError
            A parameter is invalid; ``dataset`` is not a ConnectivityGraphs; the checkpoint was written by
            another configuration, graph spec or dataset, or has more epochs than ``epochs``.
        DataError
            The loss became NaN or infinite.
        FileFormatError
            The checkpoint file is not a pretraining checkpoint.
        """
        self._check_params()
        _check_dataset(dataset)
        identity = _identity(dataset)
        path = None if self.checkpoint is None else check_path("checkpoint", self.checkpoint)
        saved = None
        if path is not None and os.path.exists(path):
            saved = files.read_state(path, kind=_CHECKPOINT, writer="GraphMAEPretrainer(checkpoint=...).fit")
            current = {"config": _training_configuration(self.configuration()), "spec": dataset.spec.to_dict(),
                       "data": identity}
            files.check_same_training({**saved, "config": _training_configuration(saved["config"])}, current, path,
                                      sections=_SECTIONS)
            if saved["epoch"] > self.epochs:
                raise ConfigError(f"the checkpoint holds {saved['epoch']} epochs, more than epochs={self.epochs}",
                                  source=str(path), fix=f"pass epochs≥{saved['epoch']}, or another checkpoint path")
        seed = int(saved["seed"]) if saved is not None else resolve_seed(self.random_state)
        seeds = stream_seeds(seed, _STREAMS)
        with threads_for(self.threads), forked_rng(seeds["init"]):
            model = self._build(dataset.spec, dataset.n_rois, identity["n_extra"])
            if self.centre:
                model.set_reference(mean_connectivity(dataset.fc))
            torch.manual_seed(seeds["global"])  # layers that draw from torch's global generator (dropout)
            optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=float(self.lr),
                                         weight_decay=float(self.weight_decay))
            generators = {"shuffle": seeded_generator(seeds["shuffle"]), "mask": seeded_generator(seeds["mask"])}
            rows: list[dict[str, float]] = []
            if saved is not None:
                rows = self._restore(saved, model, optimizer, generators, path)
                log.info("resuming %s after epoch %d of %d", path, len(rows), self.epochs)
            self._train(dataset, model, optimizer, generators, rows, seed, identity, path)
        model.eval()
        self.model_ = model
        self.history_ = _history(rows)
        self.spec_ = dataset.spec
        self._set_data_attributes(identity, seed)
        return self

    def _build(self, spec: GraphSpec, n_rois: int, n_extra: int) -> GraphMAE:
        return GraphMAE(spec, n_rois, n_extra, **{name: getattr(self, name) for name in _MODEL_PARAMS})

    def _restore(self, saved: dict, model: GraphMAE, optimizer: torch.optim.Optimizer,
                 generators: dict[str, torch.Generator], path: str) -> list[dict[str, float]]:
        try:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            files.restore_generators(generators, saved["generators"], path)
            torch.set_rng_state(saved["generators"]["global"])
            history = files.history_from_dict(saved["history"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise ConfigError(f"the checkpoint does not fit the model ({' '.join(str(exc).split())[:300]})",
                              source=str(path), fix="pass another checkpoint path (or delete the file) to start over"
                              ) from None
        return history.to_dict("records")

    def _train(self, dataset: ConnectivityGraphs, model: GraphMAE, optimizer: torch.optim.Optimizer,
               generators: dict[str, torch.Generator], rows: list[dict[str, float]], seed: int,
               identity: dict[str, Any], path: str | None) -> None:
        ema = float(self.latent_weight) > 0
        bar = epoch_bar(len(rows), int(self.epochs), progress=bool(self.progress), desc="pretraining")
        for epoch in bar:
            row = {"epoch": epoch + 1, **_run_epoch(dataset, model, optimizer, generators, int(self.batch_size),
                                                   ema, epoch + 1)}
            rows.append(row)
            bar.set_postfix(loss=f"{row['loss']:.4f}", refresh=False)
            log.info("epoch %d/%d: %s", epoch + 1, self.epochs,
                     ", ".join(f"{k} {v:.5f}" for k, v in row.items() if k != "epoch"))
            if path is not None:
                files.write_state(path, {
                    "config": self.configuration(), "spec": dataset.spec.to_dict(), "data": identity,
                    "seed": seed, "epoch": epoch + 1, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "generators": {**files.generator_states(generators), "global": torch.get_rng_state()},
                    "history": files.history_to_dict(_history(rows)),
                }, kind=_CHECKPOINT)
        bar.close()

    def _set_data_attributes(self, identity: dict[str, Any], seed: int) -> None:
        self.rois_ = np.asarray(identity["rois"])
        self.n_rois_ = len(identity["rois"])
        self.n_extra_ = identity["n_extra"]
        self.n_epochs_ = len(self.history_)
        self.random_state_ = seed
        self.content_hash_ = identity["content_hash"]

    @property
    def encoder_(self) -> torch.nn.Module:
        """The trained encoder (``model_.encoder``)."""
        check_fitted(self)
        return self.model_.encoder

    # ------------------------------------------------------------------ embedding

    def transform_windows(self, dataset: ConnectivityGraphs) -> xr.DataArray:
        """The encoder's code of every window: a DataArray ``(subject, window, feature)``.

        Features ``code_<unit>`` (coord ``unit``); subject ids, label coords and window coords are kept;
        attrs carry provenance.  Computed in eval mode without gradients, ``batch_size`` subjects at a time.
        """
        return window_code_array(self._codes(dataset), dataset, self._provenance(dataset, "windows"))

    def transform(self, dataset: ConnectivityGraphs) -> xr.DataArray:
        """Per-subject embeddings: mean and standard deviation over windows of the codes ``embedding`` names.

        Returns a DataArray ``(subject, feature)``: with ``embedding="windows"`` features ``mean_<unit>``
        then ``std_<unit>`` (coords ``statistic``, ``unit``); with ``"nodes"`` features
        ``<statistic>_l<level>_<roi>_<unit>`` (coords ``statistic``, ``level``, ``roi``, ``unit``).  Subject
        ids and label coords are kept; attrs carry provenance.  Computed ``batch_size`` subjects at a time,
        in float64 from the codes.

        Raises
        ------
        ConfigError
            Not fitted; ``dataset`` is not a ConnectivityGraphs, or has other ROIs, another graph spec or
            another number of extra node features than the training dataset.
        """
        embedding = check_embedding(self.embedding)
        statistics = torch.cat([window_statistics(codes) for codes in self._batches(dataset, embedding)])
        return statistics_array(statistics, dataset, self._provenance(dataset, "subjects"), rois=self.rois_)

    def fit_transform(self, dataset: ConnectivityGraphs, y: Any = None) -> xr.DataArray:
        """``fit(dataset).transform(dataset)``."""
        return self.fit(dataset).transform(dataset)

    def _codes(self, dataset: ConnectivityGraphs) -> torch.Tensor:
        return torch.cat(list(self._batches(dataset, "windows")))

    def _batches(self, dataset: ConnectivityGraphs, embedding: str):
        """The codes of ``embedding``, ``batch_size`` subjects at a time (eval mode, no gradients)."""
        check_fitted(self)
        _check_dataset(dataset)
        self._check_compatible(dataset)
        check_threads(self.threads)
        step = check_int("batch_size", self.batch_size, minimum=1)
        self.model_.eval()
        with threads_for(self.threads), torch.no_grad():
            for start in range(0, dataset.n_subjects, step):
                index = torch.arange(start, min(start + step, dataset.n_subjects))
                fc, extra = _batch(dataset, index)
                yield self.model_.codes(fc, extra, embedding)

    def _check_compatible(self, dataset: ConnectivityGraphs) -> None:
        rois = _identity(dataset)["rois"]
        if rois != [plain_value(r) for r in self.rois_]:
            missing = [r for r in self.rois_ if r not in rois]
            extra = [r for r in rois if r not in self.rois_]
            problem = (f"missing {missing[:10]}, not in training {extra[:10]}" if missing or extra
                       else "the same ROIs in another order")
            raise ConfigError(f"the dataset's ROIs differ from the {len(self.rois_)} ROIs the encoder was trained "
                              f"on ({problem})", source="dataset",
                              fix="build the dataset with the training ROIs in the training order (rois_)")
        diff = files.differences(self.spec_.to_dict(), dataset.spec.to_dict())
        if diff:
            raise ConfigError(f"the dataset's graph spec differs from the training one ({'; '.join(diff)})"
                              .replace("in the file", "in training"), source="dataset",
                              fix="build the dataset with spec=model.spec_")
        n_extra = _identity(dataset)["n_extra"]
        if n_extra != self.n_extra_:
            raise ConfigError(f"the dataset has {n_extra} extra node features per ROI, the encoder was trained "
                              f"on {self.n_extra_}", source="dataset",
                              fix="build the dataset with the same time-series statistics as in training")

    def _provenance(self, dataset: ConnectivityGraphs, per: str) -> dict[str, Any]:
        parameters = {**self.configuration(), "spec": self.spec_.to_dict(), "n_epochs": self.n_epochs_,
                      "random_state": self.random_state_, "codes": per}
        if per == "subjects":
            parameters["statistics"] = list(STATISTICS)
        inputs = {"connectivity": str(dataset.content_hash), "weights": model_identity(self.model_)["weights"],
                  "training_data": str(self.content_hash_)}
        return provenance(parameters, inputs)

    # ------------------------------------------------------------------ files

    def save(self, path: str | os.PathLike) -> "os.PathLike":
        """Write the trained weights, configuration, graph spec, ROI ids and history (no pickled objects)."""
        check_fitted(self)
        return files.write_state(path, {
            "config": self.configuration(), "spec": self.spec_.to_dict(),
            "data": {"content_hash": str(self.content_hash_), "rois": [plain_value(r) for r in self.rois_],
                     "n_extra": self.n_extra_},
            "seed": self.random_state_, "model": self.model_.state_dict(),
            "history": files.history_to_dict(self.history_),
        }, kind=_MODEL)

    @classmethod
    def load(cls, path: str | os.PathLike, **runtime: Any) -> "GraphMAEPretrainer":
        """A fitted pretrainer from a file of :meth:`save` (``torch.load(weights_only=True)``).

        ``runtime`` sets ``progress``, ``threads`` or ``checkpoint`` of the returned estimator.
        """
        check_runtime(runtime)
        state = files.read_state(path, kind=_MODEL, writer="GraphMAEPretrainer.save")
        try:
            estimator = cls(**state["config"], **runtime)
            spec = GraphSpec.from_dict(state["spec"])
            data = state["data"]
            with forked_rng(0):
                model = estimator._build(spec, len(data["rois"]), int(data["n_extra"]))
            model.load_state_dict(state["model"])
            history = files.history_from_dict(state["history"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise ConfigError(f"the saved model does not fit this version's GraphMAE "
                              f"({' '.join(str(exc).split())[:300]})", source=str(path),
                              fix="load it with the neuroalign version that saved it") from None
        model.eval()
        estimator.model_, estimator.history_, estimator.spec_ = model, history, spec
        estimator._set_data_attributes(data, int(state["seed"]))
        return estimator


def _run_epoch(dataset: ConnectivityGraphs, model: GraphMAE, optimizer: torch.optim.Optimizer,
               generators: dict[str, torch.Generator], batch_size: int, ema: bool, epoch: int) -> dict[str, float]:
    """One pass over the subjects in a shuffled order; the subject-weighted mean loss and parts."""
    model.train()
    n = dataset.n_subjects
    order = torch.randperm(n, generator=generators["shuffle"])
    totals: dict[str, float] = {"loss": 0.0}
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        fc, extra = _batch(dataset, index)
        loss, parts = model.loss(fc, extra, generators["mask"])
        if not torch.isfinite(loss):
            raise DataError(f"the loss became {float(loss)} at epoch {epoch}", source="dataset",
                            fix="lower lr, or check the connectivity for extreme values")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if ema:
            model.update_target()
        totals["loss"] += float(loss.detach()) * len(index)
        for name, value in parts.items():
            if name != "loss":
                totals[name] = totals.get(name, 0.0) + float(value) * len(index)
    return {name: value / n for name, value in totals.items()}


def _batch(dataset: ConnectivityGraphs, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    extra = dataset.extra
    return dataset.fc[index], None if extra is None else extra[index]


def _check_dataset(dataset: Any) -> None:
    if not isinstance(dataset, ConnectivityGraphs):
        raise ConfigError(f"dataset must be a ConnectivityGraphs, got {type(dataset).__name__}", source="dataset",
                          fix="build one with ConnectivityGraphs.from_connectivity(fc) or .from_timeseries(ts, ...)")
    if dataset.n_subjects < 1:
        raise DataError("the dataset has no subjects", source="dataset", fix="pass at least one subject")


def _identity(dataset: ConnectivityGraphs) -> dict[str, Any]:
    extra = dataset.extra
    return {"content_hash": str(dataset.content_hash), "rois": [plain_value(r) for r in list(dataset.rois)],
            "n_extra": 0 if extra is None else int(extra.shape[-1])}


def _history(rows: list[dict[str, float]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=None if rows else ["epoch", "loss"])
    return table.astype({"epoch": "int64"})


def _training_configuration(config: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint must share with a run that resumes it: all but ``epochs`` and ``embedding``."""
    return {k: v for k, v in config.items() if k not in ("epochs", "embedding")}
