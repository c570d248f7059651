"""Linear human-alignment probes fitted to odd-one-out choices.

The naive probe (Muttenthaler et al., ICLR 2023) learns a ``p × p`` transform
``W`` (and optionally a bias ``b``) of standardised features so that dot
products of the transformed features predict human odd-one-out choices:

    z = ((x − mean) / std) @ W + b          (one scalar mean and std)
    loss = mean triplet cross-entropy of softmax(s) + λ ‖W‖_F   (not squared)

where ``s[:, k]`` is the dot product of the pair that excludes item ``k``
(the pair order of :mod:`neuroalign.triplets.indexing`).  Training uses Adam
(mini-batches) or L-BFGS (full batch, strong-Wolfe line search), with early
stopping on triplets of held-out OBJECTS (a validation triplet has all three
objects in the validation set).  Fitted transforms are saved in the released
``.npz`` format ``{weights, bias?, mean, std}``.

Examples
--------
>>> import torch; torch.set_num_threads(1)
>>> from neuroalign.datasets.triplet_simulator import simulate_triplets
>>> sim = simulate_triplets(40, 5, 2000, seed=0)
>>> probe = LinearProbe(lam=1e-3, optimizer="lbfgs", max_epochs=5).fit(sim.X, sim.triplets, sim.choices)
>>> probe.transform(sim.X).shape
(40, 5)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from ..data import provenance
from ..errors import DataError
from ..fitting.base import (check_bool, check_choice, check_fitted, check_int, check_number, epoch_bar,
                                     resolve_seed, seeded_generator, stream_seeds)
from .indexing import check_triplets, pair_similarities
from .scoring import choice_probabilities, odd_one_credit, predict_odd_one
from .transform_npz import load_transform, save_transform
from .triplet_loss import _batch_loss, _rescale_to_best, triplet_loss

__all__ = ["LinearProbe", "OPTIMIZERS", "triplet_loss", "load_transform", "save_transform"]

log = logging.getLogger(__name__)
OPTIMIZERS = ("adam", "lbfgs")


def _object_split(n_objects: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask of ``round(fraction · n_objects)`` randomly chosen objects."""
    mask = np.zeros(n_objects, dtype=bool)
    mask[rng.permutation(n_objects)[:int(round(fraction * n_objects))]] = True
    return mask


class LinearProbe(BaseEstimator):
    """The naive linear probe: ``W`` (and ``b``) so that transformed dot products predict choices.

    Parameters
    ----------
    lam : float
        Weight λ of the penalty ``λ ‖W‖_F`` (Frobenius norm, not squared).
    bias : bool
        Learn a bias ``b`` added after the transform.
    optimizer : {"adam", "lbfgs"}
        Adam on mini-batches, or full-batch L-BFGS with a strong-Wolfe line
        search (one "epoch" = ``lbfgs_steps`` iterations).  The loss is flat
        near ``W = 0``, so L-BFGS first scales the initial ``W`` by the best
        power of two (1 … 2^20), and restarts its curvature memory when an
        epoch makes no progress.
    lr : float
        Adam's learning rate (L-BFGS uses step 1 and its line search).
    batch_size : int
        Triplets per Adam step.
    max_epochs : int
        Most passes (epochs) over the training triplets.
    patience : int
        Epochs without a validation-loss improvement of ``tol`` before
        stopping; the best weights are kept.
    validation_fraction : float
        Share of OBJECTS held out for early stopping; their triplets (all three
        objects held out) form the validation set and triplets mixing held-out
        and training objects are dropped.  0 trains on every triplet for
        ``max_epochs`` (or until the loss changes by less than ``tol``).
    tol : float
        Smallest improvement that counts.
    init_scale : float
        Standard deviation of the initial ``W`` (Gaussian).
    lbfgs_steps : int
        L-BFGS iterations per epoch.
    random_state : int or numpy.random.Generator
        Seed of the initial weights, the validation objects and the batches.
    progress : bool
        Show a progress bar over epochs.

    Attributes
    ----------
    weights_ : ndarray (p, p)
    bias_ : ndarray (p,) or None
    mean_, std_ : float
        The scalar standardisation (over the training objects' features).
    n_epochs_ : int
    history_ : dict
        ``train_loss`` and ``val_loss`` per epoch.
    provenance_ : dict
        Parameters and input hashes (:func:`neuroalign.data.provenance`).

    Examples
    --------
    >>> import numpy as np, torch; torch.set_num_threads(1)
    >>> from neuroalign.datasets.triplet_simulator import simulate_triplets
    >>> sim = simulate_triplets(40, 5, 2000, seed=0)
    >>> probe = LinearProbe(lam=1e-3, optimizer="lbfgs", max_epochs=5).fit(sim.X, sim.triplets, sim.choices)
    >>> bool(probe.score(sim.X, sim.triplets, sim.choices) > 0.6)
    True
    """

    def __init__(self, lam: float = 1e-3, *, bias: bool = False, optimizer: str = "adam", lr: float = 1e-3,
                 batch_size: int = 256, max_epochs: int = 100, patience: int = 10,
                 validation_fraction: float = 0.2, tol: float = 1e-4, init_scale: float = 1e-3,
                 lbfgs_steps: int = 20, random_state: Any = 0, progress: bool = False):
        self.lam = lam
        self.bias = bias
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.tol = tol
        self.init_scale = init_scale
        self.lbfgs_steps = lbfgs_steps
        self.random_state = random_state
        self.progress = progress

    # -- hooks that gLocal overrides -------------------------------------------------------------------
    def _initial_weights(self, p: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(p, p, generator=generator, dtype=torch.float64) * self.init_scale

    def _penalty(self, W: torch.Tensor) -> torch.Tensor:
        return self.lam * torch.linalg.matrix_norm(W)

    def _extra_loss(self, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor | float:
        return 0.0

    def _data_weight(self) -> float:
        return 1.0

    def _draw(self, generator: torch.Generator) -> None:
        """Called before each Adam step and each L-BFGS epoch (gLocal draws its reference batch)."""

    def _check_params(self) -> None:
        check_number("lam", self.lam, low=0)
        check_bool("bias", self.bias)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_number("lr", self.lr, low=0, low_open=True)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("max_epochs", self.max_epochs, minimum=1)
        check_int("patience", self.patience, minimum=1)
        check_number("validation_fraction", self.validation_fraction, low=0, high=1, high_open=True)
        check_number("tol", self.tol, low=0)
        check_number("init_scale", self.init_scale, low=0)
        check_int("lbfgs_steps", self.lbfgs_steps, minimum=1)
        check_bool("progress", self.progress)

    # -- fitting ---------------------------------------------------------------------------------------
    def fit(self, X: Any, triplets: Any, choices: Any, *,
            callback: Callable[[int, np.ndarray, np.ndarray | None], bool] | None = None) -> "LinearProbe":
        """Fit the transform to odd-one-out choices.

        Parameters
        ----------
        X : array_like (n_objects, p)
            Every object's features (rows are the positions in ``triplets``).
        triplets : array_like (n, 3) int
        choices : array_like (n,) int
            Position (0–2) of the odd one in each row.
        callback : callable, optional
            Called after every epoch as ``callback(epoch, weights, bias)``
            (copies of the current arrays); a true return value stops the
            fit with the current weights (e.g. once a held-out accuracy is
            reached).

        Returns
        -------
        self

        Raises
        ------
        ConfigError, UnknownNameError
            A parameter is out of range.
        DataError
            Bad triplets or choices, non-finite features, or too few objects
            to hold out a validation set with triplets.
        """
        self._check_params()
        X = _features(X)
        triplets, choices = check_triplets(triplets, len(X), choices, source="triplets")
        seeds = stream_seeds(resolve_seed(self.random_state), ("init", "validation", "batches", "extra"))
        train_t, train_c, val_t, val_c = self._split(triplets, choices, len(X), seeds["validation"])
        used = np.unique(train_t)
        self.mean_ = float(X[used].mean())
        self.std_ = float(X[used].std())
        if not self.std_ > 0:
            raise DataError("the training objects' features are constant (standard deviation 0)", source="X",
                            fix="probe a representation whose features vary")
        Xs = torch.as_tensor((X - self.mean_) / self.std_)
        W = self._initial_weights(X.shape[1], seeded_generator(seeds["init"])).requires_grad_(True)
        b = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True) if self.bias else None
        params = [W] + ([b] if b is not None else [])
        extra_gen = seeded_generator(seeds["extra"])
        tt, tc = torch.as_tensor(train_t), torch.as_tensor(train_c)
        vt, vc = (torch.as_tensor(val_t), torch.as_tensor(val_c)) if val_t is not None else (None, None)

        def objective(t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            return (self._data_weight() * _batch_loss(Xs, W, b, t, c) + self._penalty(W)
                    + self._extra_loss(W, b))

        history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
        best, best_state, stale = np.inf, None, 0
        batch_gen = seeded_generator(seeds["batches"])
        if self.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=self.lr)
        else:
            self._draw(extra_gen)
            _rescale_to_best(W, lambda: objective(tt, tc))
            opt = torch.optim.LBFGS(params, lr=1.0, max_iter=self.lbfgs_steps, history_size=20,
                                    tolerance_grad=1e-10, tolerance_change=1e-12, line_search_fn="strong_wolfe")
        epoch = 0
        for epoch in epoch_bar(0, self.max_epochs, progress=self.progress, desc=type(self).__name__):
            train_loss = self._epoch(opt, objective, tt, tc, batch_gen, extra_gen)
            history["train_loss"].append(train_loss)
            if vt is not None:
                with torch.no_grad():
                    monitored = float(_batch_loss(Xs, W, b, vt, vc))
                history["val_loss"].append(monitored)
            else:
                monitored = train_loss
            if callback is not None and callback(epoch, W.detach().numpy().copy(),
                                                 None if b is None else b.detach().numpy().copy()):
                best_state = [p.detach().clone() for p in params]
                break
            if monitored < best - self.tol:
                best, stale = monitored, 0
                best_state = [p.detach().clone() for p in params]
            else:
                stale += 1
                if stale >= self.patience:
                    break
        with torch.no_grad():
            for p, saved in zip(params, best_state if best_state is not None else params):
                p.copy_(saved)
        self.weights_ = W.detach().numpy().copy()
        self.bias_ = b.detach().numpy().copy() if b is not None else None
        self.n_epochs_ = epoch + 1
        self.history_ = history
        self.n_features_in_ = X.shape[1]
        self.provenance_ = provenance(
            {k: v for k, v in self.get_params().items() if isinstance(v, (int, float, str, bool, type(None)))},
            {"features": X, "triplets": triplets, "choices": choices})
        log.info("%s fitted in %d epochs (best monitored loss %.4f)", type(self).__name__, self.n_epochs_, best)
        return self

    def _split(self, triplets: np.ndarray, choices: np.ndarray, n_objects: int, seed: int):
        if self.validation_fraction == 0:
            return triplets, choices, None, None
        held = _object_split(n_objects, self.validation_fraction, np.random.default_rng(seed))
        inside = held[triplets]
        val, train = inside.all(axis=1), (~inside).all(axis=1)
        if not val.any() or not train.any():
            raise DataError(
                f"holding out {held.sum()} of {n_objects} objects for early stopping leaves "
                f"{int(train.sum())} training and {int(val.sum())} validation triplets",
                source="validation_fraction",
                fix="pass more triplets, another validation_fraction, or validation_fraction=0")
        return triplets[train], choices[train], triplets[val], choices[val]

    def _epoch(self, opt, objective, tt, tc, generator, extra_gen) -> float:
        if isinstance(opt, torch.optim.LBFGS):
            self._draw(extra_gen)

            def closure():
                opt.zero_grad()
                loss = objective(tt, tc)
                loss.backward()
                return loss
            before = float(opt.step(closure).detach())
            with torch.no_grad():
                after = float(objective(tt, tc))
            if not before - after > 1e-12 * max(1.0, abs(before)):
                # no progress: the curvature memory can hold a non-descent direction; restart it once
                opt.state.clear()
                opt.step(closure)
                with torch.no_grad():
                    after = float(objective(tt, tc))
            return after
        order = torch.randperm(len(tt), generator=generator)
        total = 0.0
        for start in range(0, len(tt), self.batch_size):
            idx = order[start:start + self.batch_size]
            self._draw(extra_gen)
            opt.zero_grad()
            loss = objective(tt[idx], tc[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        return total / len(tt)

    # -- using the fitted transform --------------------------------------------------------------------
    def transform(self, X: Any) -> np.ndarray:
        """``((X − mean) / std) @ W + b`` for any objects' features (n, p).

        Examples
        --------
        >>> import numpy as np
        >>> probe = LinearProbe.from_arrays(np.eye(2), mean=1.0, std=2.0)
        >>> probe.transform(np.array([[3.0, 1.0]])).tolist()
        [[1.0, 0.0]]
        """
        check_fitted(self, "weights_")
        X = _features(X)
        if X.shape[1] != self.weights_.shape[0]:
            raise DataError(f"X has {X.shape[1]} features, the transform expects {self.weights_.shape[0]}",
                            source="X", fix="pass features of the representation the probe was fitted on")
        z = ((X - self.mean_) / self.std_) @ self.weights_
        return z + self.bias_ if self.bias_ is not None else z

    def similarity(self, X: Any) -> np.ndarray:
        """The probe's object-by-object similarity (dot products of the transformed features)."""
        z = self.transform(X)
        return z @ z.T

    def pair_similarities(self, X: Any, triplets: Any) -> np.ndarray:
        """``(n, 3)`` dot products of the transformed features, column ``k`` excluding item ``k``."""
        return pair_similarities(self.transform(X), triplets, kind="dot")

    def predict_proba(self, X: Any, triplets: Any) -> np.ndarray:
        """``P(odd = k)`` = softmax of the pair similarities, ``(n, 3)``."""
        return choice_probabilities(self.pair_similarities(X, triplets))

    def predict(self, X: Any, triplets: Any) -> np.ndarray:
        """Predicted odd one (position 0–2): the item outside the most similar pair; ``-1`` for a tie."""
        return predict_odd_one(self.pair_similarities(X, triplets))

    def score(self, X: Any, triplets: Any, choices: Any) -> float:
        """Accuracy on triplets, with expected credit (1 / number tied) on ties."""
        triplets, choices = check_triplets(triplets, len(_features(X)), choices, source="triplets")
        return float(odd_one_credit(self.pair_similarities(X, triplets), choices).mean())

    def loss(self, X: Any, triplets: Any, choices: Any) -> float:
        """The mean triplet cross-entropy of the fitted transform (no penalty)."""
        triplets, choices = check_triplets(triplets, len(_features(X)), choices, source="triplets")
        z = torch.as_tensor(self.transform(X))
        return float(triplet_loss(z, torch.as_tensor(triplets), torch.as_tensor(choices)))

    # -- the released .npz format ----------------------------------------------------------------------
    def save_npz(self, path: str | os.PathLike) -> None:
        """Write ``{weights, bias?, mean, std}`` (numpy ``.npz``, no pickled objects)."""
        check_fitted(self, "weights_")
        save_transform(path, self.weights_, bias=self.bias_, mean=self.mean_, std=self.std_)

    @classmethod
    def from_arrays(cls, weights: Any, *, bias: Any = None, mean: float = 0.0, std: float = 1.0,
                    **params: Any) -> "LinearProbe":
        """A fitted probe from a transform's arrays (e.g. a released one)."""
        for name, value in (("mean", mean), ("std", std)):
            if np.size(value) != 1:
                raise DataError(f"{name} must be one scalar (the released format standardises by one mean and "
                                f"std), got shape {np.shape(value)}", source=name,
                                fix="pass the scalar mean and std of the features the transform was fitted on")
        probe = cls(bias=bias is not None, **params)
        probe.weights_ = np.asarray(weights, dtype=np.float64)
        probe.bias_ = None if bias is None else np.asarray(bias, dtype=np.float64).reshape(-1)
        probe.mean_, probe.std_ = float(np.asarray(mean).reshape(-1)[0]), float(np.asarray(std).reshape(-1)[0])
        probe.n_features_in_ = probe.weights_.shape[0]
        return probe

    @classmethod
    def load_npz(cls, path: str | os.PathLike, **params: Any) -> "LinearProbe":
        """A fitted probe from an ``.npz`` transform ``{weights, bias?, mean, std}``.

        Examples
        --------
        >>> import os, tempfile, numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "t.npz")
        >>> LinearProbe.from_arrays(np.eye(3), mean=0.5, std=2.0).save_npz(path)
        >>> LinearProbe.load_npz(path).std_
        2.0
        """
        return cls.from_arrays(**load_transform(path), **params)


def _features(X: Any) -> np.ndarray:
    values = np.asarray(getattr(X, "values", X), dtype=np.float64)
    if values.ndim != 2:
        raise DataError(f"features must be 2-D (objects × features), got shape {values.shape}", source="X",
                        fix="pass an (n_objects, p) array")
    if not np.isfinite(values).all():
        raise DataError("the features contain NaN or infinite values", source="X",
                        fix="drop or impute the non-finite features first")
    return values
