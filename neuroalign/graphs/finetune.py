"""Supervised fine-tuning of a spatio-temporal graph encoder, or its training from scratch.

:class:`GraphFineTuner` puts a linear head on the subject embedding of a
:class:`~neuroalign.graphs.encoder.SpatioTemporalEncoder` — the mean and the
(population) standard deviation over windows of the window codes or of every
ROI's code at every level (``embedding=``, :mod:`neuroalign.graphs.subject_codes`),
the embedding of :meth:`GraphMAEPretrainer.transform
<neuroalign.graphs.pretrainer.GraphMAEPretrainer.transform>` — and trains both
with Adam on cross-entropy (classification) or mean squared error on the
standardised target (regression):

- from a fitted :class:`~neuroalign.graphs.pretrainer.GraphMAEPretrainer`
  (pretrained + fine-tuned; ``freeze_encoder=True`` trains the head only): the
  encoder is a copy, the pretrainer is never changed;
- from scratch (``pretrained=None``): the encoder of
  ``GraphMAEPretrainer(hidden=..., n_layers=..., readout=..., temporal=...,
  epochs=0, random_state=random_state)``, i.e. the untrained encoder that
  seed gives a pretrainer.

The head's initial weights, the shuffling and anything drawn from torch's
global generator (dropout) come from seeds derived from ``random_state``: the
same ``random_state`` gives identical weights and predictions on one machine
and thread count.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from sklearn.base import BaseEstimator
from torch import nn

from ..data.provenance import provenance
from ..errors import ConfigError, DataError
from ..fitting.base import (check_bool, check_choice, check_fitted, check_int, check_number, check_threads,
                            epoch_bar, forked_rng, resolve_seed, seeded_generator, stream_seeds, threads_for)
from ._probe_data import labelled_subjects
from .dataset import ConnectivityGraphs
from .embedding_arrays import statistics_array
from .probes import TASKS, probe_metric
from .subject_codes import (STATISTICS, check_embedding, encoder_codes, n_embedding_features, over_windows,
                            window_statistics)

__all__ = ["GraphFineTuner", "SubjectModel", "subject_embedding"]

log = logging.getLogger(__name__)

# spawned after the pretrainer's four streams (init, shuffle, mask, global), so that with one random_state the
# fine-tuner's draws are independent of those that initialised a from-scratch encoder
_STREAMS = ("pretrainer-init", "pretrainer-shuffle", "pretrainer-mask", "pretrainer-global", "head", "shuffle",
            "global")


def subject_embedding(windows: torch.Tensor) -> torch.Tensor:
    """Mean and population standard deviation over windows: ``[B, W, H]`` → ``[B, 2H]`` (differentiable).

    The standard deviation is 0 with a zero gradient where the codes do not vary
    (one window), where ``torch.std`` would give a NaN gradient.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.finetune import subject_embedding
    >>> subject_embedding(torch.tensor([[[1.0], [3.0]]])).tolist()
    [[2.0, 1.0]]
    """
    return over_windows(windows).flatten(1)


class SubjectModel(nn.Module):
    """An encoder and a linear head on the subject embedding ``embedding`` names (window or node codes).

    ``forward(fc, extra)`` builds the graphs with ``spec`` and returns the
    head's outputs ``[B, outputs]``.
    """

    def __init__(self, encoder: nn.Module, spec: Any, n_outputs: int, reference: torch.Tensor | None = None,
                 embedding: str = "windows"):
        super().__init__()
        self.encoder = encoder
        self.spec = spec
        self.embedding = check_embedding(embedding)
        self.head = nn.Linear(n_embedding_features(self.embedding, encoder), n_outputs)
        n_rois = encoder.n_rois
        self.register_buffer("reference", torch.zeros(n_rois, n_rois) if reference is None else reference.clone())

    def codes(self, fc: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        """The codes the embedding summarises (graphs built from ``fc - reference``)."""
        x, adj = self.spec.build(fc - self.reference.to(fc.dtype), extra)
        return encoder_codes(self.encoder, x, adj, self.embedding)

    def embed(self, fc: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        """Mean and standard deviation over windows of the codes, flattened: ``[B, features]``."""
        return over_windows(self.codes(fc, extra)).flatten(1)

    def forward(self, fc: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        return self.head(self.embed(fc, extra))


class GraphFineTuner(BaseEstimator):
    """Train a graph encoder and a linear head on labels: fine-tuning a pretrained encoder, or from scratch.

    Parameters
    ----------
    pretrained : GraphMAEPretrainer or None
        A fitted pretrainer whose encoder (a copy) is fine-tuned; None trains an
        encoder from scratch.
    task : {"classification", "regression"}
        Cross-entropy on classes, or mean squared error on the target
        standardised with the training mean and standard deviation.
    freeze_encoder : bool
        Train the head only (the encoder stays as pretrained, in eval mode).
    hidden, n_layers, readout, temporal
        The encoder trained from scratch (as :class:`GraphMAEPretrainer`);
        ignored with ``pretrained``, whose encoder keeps its architecture.
    centre : bool
        From scratch: build graphs from each window's deviation from the training subjects' mean
        connectivity, as :class:`GraphMAEPretrainer` does (default).  With ``pretrained``, the
        pretrainer's own reference is used and this is ignored.
    embedding : {"windows", "nodes"} or None
        The subject embedding the head reads (:mod:`neuroalign.graphs.subject_codes`): window codes or
        every ROI's code at every level.  None: the pretrainer's ``embedding`` (``"windows"`` from scratch).
    epochs : int
        Passes over the training subjects.
    batch_size : int
        Subjects per step (also the batch of predictions).
    lr, weight_decay : float
        Adam's learning rate and weight decay.
    random_state : int or None
        Seeds the head, the shuffling, dropout and (from scratch) the encoder's
        initial weights; None draws fresh entropy (kept in ``random_state_``).
    progress : bool
        Show a progress bar over epochs.
    threads : int or None
        torch threads during ``fit`` and predictions (restored afterwards); None leaves torch's setting.

    Attributes
    ----------
    network_ : SubjectModel
        The trained encoder and head, in eval mode.
    encoder_ : SpatioTemporalEncoder
        ``network_.encoder``.
    classes_ : numpy.ndarray
        The classes, sorted (classification); ``decision_function`` scores ``classes_[1]``.
    y_mean_, y_scale_ : float
        The training target's mean and standard deviation (regression).
    history_ : pandas.DataFrame
        One row per epoch: ``epoch``, ``loss`` (subject-weighted mean over the epoch's batches) and, for
        classification, ``train_accuracy`` (on the batches as they were seen).
    spec_, rois_, n_extra_ : GraphSpec, numpy.ndarray, int
        The graphs the model reads; predictions need the same.
    embedding_ : str
        The subject embedding the head reads.
    random_state_ : int

    Examples
    --------
    >>> import numpy as np, torch, xarray as xr
    >>> from neuroalign.graphs.dataset import ConnectivityGraphs
    >>> from neuroalign.graphs.finetune import GraphFineTuner
    >>> rng = np.random.default_rng(0)
    >>> group = np.array([0, 1] * 6)
    >>> z = rng.normal(size=(12, 2, 5, 30))
    >>> z[group == 1, :, :3] += 2 * rng.normal(size=(6, 2, 1, 30))   # group 1: ROIs 0-2 share a signal
    >>> fc = np.einsum("swit,swjt->swij", z, z)
    >>> d = np.sqrt(np.einsum("swii->swi", fc)); fc = fc / d[..., :, None] / d[..., None, :]
    >>> fc = (fc + np.swapaxes(fc, -1, -2)) / 2; fc[..., range(5), range(5)] = 1
    >>> array = xr.DataArray(fc, dims=("subject", "window", "neuroid_a", "neuroid_b"),
    ...                      coords={"subject": [f"s{i}" for i in range(12)], "group": ("subject", group),
    ...                              "neuroid_a": list("abcde"), "neuroid_b": list("abcde")})
    >>> dataset = ConnectivityGraphs.from_connectivity(array)
    >>> tuner = GraphFineTuner(hidden=8, epochs=20, lr=1e-2, batch_size=6, progress=False, threads=1)
    >>> tuner.fit(dataset, "group").score(dataset, "group") > 0.9
    True
    """

    def __init__(self, pretrained: Any = None, *, task: str = "classification", freeze_encoder: bool = False,
                 hidden: int = 64, n_layers: int = 2, readout: str = "mean", temporal: str = "transformer",
                 centre: bool = True, embedding: str | None = None, epochs: int = 30, batch_size: int = 16,
                 lr: float = 5e-4, weight_decay: float = 0.0, random_state: int | None = 0, progress: bool = True,
                 threads: int | None = None):
        self.pretrained = pretrained
        self.task = task
        self.freeze_encoder = freeze_encoder
        self.hidden = hidden
        self.n_layers = n_layers
        self.readout = readout
        self.temporal = temporal
        self.centre = centre
        self.embedding = embedding
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.progress = progress
        self.threads = threads

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        check_choice("task", self.task, TASKS)
        check_bool("freeze_encoder", self.freeze_encoder)
        check_bool("centre", self.centre)
        if self.embedding is not None:
            check_embedding(self.embedding)
        check_int("epochs", self.epochs, minimum=0)
        check_int("batch_size", self.batch_size, minimum=1)
        check_number("lr", self.lr, low=0, low_open=True)
        check_number("weight_decay", self.weight_decay, low=0)
        check_bool("progress", self.progress)
        check_threads(self.threads)
        if self.random_state is not None:
            check_int("random_state", self.random_state, minimum=0)
        if self.pretrained is None and self.freeze_encoder:
            raise ConfigError("freeze_encoder=True without a pretrained encoder would train a random encoder's head",
                              source="freeze_encoder", fix="pass a fitted GraphMAEPretrainer, or freeze_encoder=False")

    def fit(self, dataset: ConnectivityGraphs, target: Any) -> "GraphFineTuner":
        """Train on every subject of ``dataset``; returns ``self``.

        Parameters
        ----------
        dataset : ConnectivityGraphs
        target : str or array-like
            A label name of ``dataset``, labels indexed by subject id (a
            DataArray on ``subject`` or a pandas Series), or an array in the
            dataset's subject order.

        Raises
        ------
        ConfigError
            A parameter is invalid, ``pretrained`` is not fitted, or the dataset's ROIs, graph spec or extra
            features differ from the pretrained encoder's.
        AlignmentError
            The target's subjects differ from the dataset's.
        DataError
            Labels missing for some subjects, a single class, a constant regression target, a non-finite loss.
        """
        self._check_params()
        _check_dataset(dataset)
        y = self._targets(dataset, target, fitting=True)
        seed = resolve_seed(self.random_state)
        seeds = stream_seeds(seed, _STREAMS)
        with threads_for(self.threads):
            encoder, spec, rois, n_extra, reference = self._encoder(dataset, seed)
            _check_compatible(dataset, spec, rois, n_extra, "the pretrained encoder's")
            encoder.requires_grad_(not self.freeze_encoder)
            n_outputs = len(self.classes_) if self.task == "classification" else 1
            with forked_rng(seeds["head"]):
                network = SubjectModel(encoder, spec, n_outputs, reference, self._embedding())
            with forked_rng(seeds["global"]):
                rows = self._train(network, dataset, y, seeded_generator(seeds["shuffle"]))
        network.eval()
        self.network_ = network
        self.history_ = pd.DataFrame(rows, columns=None if rows else ["epoch", "loss"]).astype({"epoch": "int64"})
        self.spec_, self.rois_, self.n_extra_, self.random_state_ = spec, np.asarray(rois), n_extra, seed
        return self

    def _encoder(self, dataset: ConnectivityGraphs,
                 seed: int) -> tuple[nn.Module, Any, np.ndarray, int, torch.Tensor | None]:
        from .pretrainer import GraphMAEPretrainer

        if self.pretrained is not None:
            source = self.pretrained
            if not isinstance(source, GraphMAEPretrainer) and not hasattr(source, "encoder_"):
                raise ConfigError(f"pretrained must be a fitted GraphMAEPretrainer or None, got "
                                  f"{type(source).__name__}", source="pretrained",
                                  fix="pass GraphMAEPretrainer(...).fit(dataset), or None to train from scratch")
            encoder = copy.deepcopy(source.encoder_)  # check_fitted inside; the pretrainer is never changed
            reference = getattr(getattr(source, "model_", None), "reference", None)
            return encoder, source.spec_, np.asarray(source.rois_), int(source.n_extra_), reference
        scratch = GraphMAEPretrainer(hidden=self.hidden, n_layers=self.n_layers, readout=self.readout,
                                     temporal=self.temporal, centre=self.centre, epochs=0, random_state=seed,
                                     progress=False, threads=self.threads).fit(dataset)
        return scratch.encoder_, dataset.spec, np.asarray(dataset.rois), dataset.n_extra, scratch.model_.reference

    def _train(self, network: SubjectModel, dataset: ConnectivityGraphs, y: torch.Tensor,
               generator: torch.Generator) -> list[dict[str, float]]:
        parameters = [p for p in network.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(parameters, lr=float(self.lr), weight_decay=float(self.weight_decay))
        classify = self.task == "classification"
        loss_function = nn.CrossEntropyLoss() if classify else nn.MSELoss()
        n, step = dataset.n_subjects, int(self.batch_size)
        rows = []
        bar = epoch_bar(0, int(self.epochs), progress=bool(self.progress), desc="fine-tuning")
        for epoch in bar:
            network.train()
            if self.freeze_encoder:
                network.encoder.eval()
            order = torch.randperm(n, generator=generator)
            total, correct = 0.0, 0
            for start in range(0, n, step):
                index = order[start:start + step]
                fc, extra = _batch(dataset, index)
                out = network(fc, extra)
                loss = loss_function(out, y[index]) if classify else loss_function(out[:, 0], y[index])
                if not torch.isfinite(loss):
                    raise DataError(f"the loss became {float(loss)} at epoch {epoch + 1}", source="dataset",
                                    fix="lower lr, or check the connectivity for extreme values")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(index)
                if classify:
                    correct += int((out.detach().argmax(1) == y[index]).sum())
            row = {"epoch": epoch + 1, "loss": total / n}
            if classify:
                row["train_accuracy"] = correct / n
            rows.append(row)
            bar.set_postfix(loss=f"{row['loss']:.4f}", refresh=False)
            log.info("fine-tuning epoch %d/%d: loss %.5f", epoch + 1, self.epochs, row["loss"])
        bar.close()
        return rows

    def _targets(self, dataset: ConnectivityGraphs, target: Any, *, fitting: bool) -> torch.Tensor | np.ndarray:
        """Class codes (or standardised targets when fitting) in the dataset's subject order."""
        data = labelled_subjects(dataset.subjects, dataset.labels, target, task=self.task, name="dataset").encoded()
        values = np.empty(len(data.codes), dtype=data.codes.dtype)
        values[data.order] = data.codes
        if self.task == "classification":
            names = np.asarray(data.class_names, dtype=object)
            if not fitting:
                return names[values]
            self.classes_ = np.asarray(data.class_names)
            return torch.as_tensor(values, dtype=torch.long)
        if not fitting:
            return values
        self.y_mean_, self.y_scale_ = float(values.mean()), float(values.std())
        if not self.y_scale_ > 0:
            raise DataError(f"the regression target is constant ({self.y_mean_:g})", source="target",
                            fix="pass a target that varies across subjects")
        return torch.as_tensor((values - self.y_mean_) / self.y_scale_, dtype=torch.float32)

    # ------------------------------------------------------------------ predictions
    @property
    def encoder_(self) -> nn.Module:
        """The trained encoder (``network_.encoder``)."""
        check_fitted(self, "network_")
        return self.network_.encoder

    def _embedding(self) -> str:
        return self.embedding or getattr(self.pretrained, "embedding", "windows")

    @property
    def embedding_(self) -> str:
        """The subject embedding the head reads."""
        check_fitted(self, "network_")
        return self.network_.embedding

    def _outputs(self, dataset: ConnectivityGraphs, statistics: bool = False) -> torch.Tensor:
        check_fitted(self, "network_")
        _check_dataset(dataset)
        _check_compatible(dataset, self.spec_, self.rois_, self.n_extra_, "the training dataset's")
        check_threads(self.threads)
        step = check_int("batch_size", self.batch_size, minimum=1)
        self.network_.eval()
        out = []
        with threads_for(self.threads), torch.no_grad():
            for start in range(0, dataset.n_subjects, step):
                fc, extra = _batch(dataset, torch.arange(start, min(start + step, dataset.n_subjects)))
                out.append(window_statistics(self.network_.codes(fc, extra)) if statistics
                           else self.network_(fc, extra))
        return torch.cat(out).to(torch.float64)

    def _classifier(self, method: str) -> None:
        if self.task != "classification":
            raise ConfigError(f"{method} is for classification; this fine-tuner does regression", source=method,
                              fix="use predict for regression")

    def decision_function(self, dataset: ConnectivityGraphs) -> np.ndarray:
        """Two classes: the logit difference ``z[classes_[1]] − z[classes_[0]]`` ``(subject,)``; more: logits."""
        check_fitted(self, "network_")
        self._classifier("decision_function")
        logits = self._outputs(dataset).numpy()
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, dataset: ConnectivityGraphs) -> np.ndarray:
        """Softmax of the logits: ``(subject, class)`` in the order of ``classes_``."""
        check_fitted(self, "network_")
        self._classifier("predict_proba")
        return torch.softmax(self._outputs(dataset), dim=1).numpy()

    def predict(self, dataset: ConnectivityGraphs) -> np.ndarray:
        """The most probable class (classification) or the predicted target (regression), per subject."""
        check_fitted(self, "network_")
        out = self._outputs(dataset).numpy()
        if self.task == "classification":
            return self.classes_[out.argmax(axis=1)]
        return out[:, 0] * self.y_scale_ + self.y_mean_

    def score(self, dataset: ConnectivityGraphs, target: Any) -> float:
        """Accuracy (classification) or R² (regression) on ``dataset`` (scikit-learn's convention)."""
        check_fitted(self, "network_")
        truth = self._targets(dataset, target, fitting=False)
        predicted = self.predict(dataset)
        if self.task == "classification":
            return float(np.mean(np.asarray(predicted, dtype=object) == truth))
        return float(probe_metric("regression", truth, predicted))

    def transform(self, dataset: ConnectivityGraphs) -> xr.DataArray:
        """The fine-tuned subject embeddings ``(subject, feature)``: mean and std over windows of the codes.

        The features of :meth:`GraphMAEPretrainer.transform
        <neuroalign.graphs.pretrainer.GraphMAEPretrainer.transform>` with ``embedding_``.
        """
        check_fitted(self, "network_")
        attrs = provenance({**{k: v for k, v in self.get_params(deep=False).items() if k != "pretrained"},
                            "pretrained": self.pretrained is not None, "embedding": self.embedding_,
                            "statistics": list(STATISTICS)},
                           {"connectivity": str(dataset.content_hash)})
        return statistics_array(self._outputs(dataset, statistics=True), dataset, attrs, rois=self.rois_)


def _batch(dataset: ConnectivityGraphs, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    return dataset.fc[index], None if dataset.extra is None else dataset.extra[index]


def _check_dataset(dataset: Any) -> None:
    if not isinstance(dataset, ConnectivityGraphs):
        raise ConfigError(f"dataset must be a ConnectivityGraphs, got {type(dataset).__name__}", source="dataset",
                          fix="build one with ConnectivityGraphs.from_connectivity(fc) or .from_timeseries(ts, ...)")
    if dataset.n_subjects < 1:
        raise DataError("the dataset has no subjects", source="dataset", fix="pass at least one subject")


def _check_compatible(dataset: ConnectivityGraphs, spec: Any, rois: np.ndarray, n_extra: int, whose: str) -> None:
    """ConfigError when the dataset's ROIs (ids and order), graph spec or extra features differ."""
    mine = [str(r) for r in dataset.rois]
    theirs = [str(r) for r in rois]
    if mine != theirs:
        missing = [r for r in theirs if r not in mine][:10]
        extra = [r for r in mine if r not in theirs][:10]
        problem = f"missing {missing}, unknown {extra}" if missing or extra else "the same ROIs in another order"
        raise ConfigError(f"the dataset's ROIs differ from {whose} {len(theirs)} ROIs ({problem})", source="dataset",
                          fix="build the dataset with the same ROIs in the same order")
    if dataset.spec.to_dict() != spec.to_dict():
        raise ConfigError(f"the dataset's graph spec {dataset.spec.to_dict()} differs from {whose} "
                          f"{spec.to_dict()}", source="dataset", fix="build the dataset with that spec")
    if dataset.n_extra != n_extra:
        raise ConfigError(f"the dataset has {dataset.n_extra} extra node features per ROI, {whose} {n_extra}",
                          source="dataset", fix="build the dataset with the same time-series statistics")
