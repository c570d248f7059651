"""The Neural Latents Benchmark's smoothing baseline: Gaussian-smoothed held-in spikes, Poisson GLM per held-out neuron.

The recipe of ``nlb_tools/examples/baselines/smoothing/run_smoothing.py`` (Pei et al. 2021):

1. smooth each held-in neuron's counts over time with a normalised Gaussian window,
   ``scipy.signal.windows.gaussian(int(6 * sd / bin), int(sd / bin), sym=True)`` (``sd`` the kernel
   width and ``bin`` the bin width, both in ms), as ``np.convolve(x, window, "same")`` does;
2. take ``log(smoothed + 1e-4)`` as the features of each (trial, bin);
3. fit a scikit-learn ``PoissonRegressor(alpha, max_iter=500)`` per held-out neuron (refitted with
   five times the iterations while it stops at its limit, up to 10,000), and predict, clipping the
   rates to ``[1e-9, 1e20]``;
4. the held-in neurons' rates are their smoothed counts.

NLB sweeps the kernel width by co-bps on held-out trials; here the widths are compared on a seeded
validation split of the trials and the best one is refitted on all of them.  The features are
standardised before the GLM (``standardize=True``; fits are then much faster, and the L2 penalty
treats every held-in neuron alike); ``standardize=False`` runs NLB's recipe exactly.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from scipy.signal import windows
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import PoissonRegressor
from tqdm.auto import tqdm

from ..data.provenance import provenance
from ..errors import AlignmentError, ConfigError, DataError
from ..fitting import state_files as files
from ..fitting.base import check_bool, check_fitted, check_int, check_number, resolve_seed
from ..fitting.state_files import SPIKES_FORMAT as FORMAT
from .arrays import (check_counts, from_neurons_last, held_out_ids, neuroid_labels, neuroid_table, neurons_last,
                     split_trials)
from .metrics import co_bps

__all__ = ["SmoothingBaseline", "gaussian_window", "smooth_counts"]

logger = logging.getLogger(__name__)

_KIND = "smoothing-baseline"
_LOW, _HIGH = 1e-9, 1e20  # NLB's clip of the predicted rates


def gaussian_window(kernel_width: float, bin_size: float) -> np.ndarray:
    """NLB's normalised smoothing window for a Gaussian of ``kernel_width`` ms over bins of ``bin_size`` ms.

    Examples
    --------
    >>> from neuroalign.spikes.smoothing_baseline import gaussian_window
    >>> w = gaussian_window(30, 10)
    >>> len(w), round(float(w.sum()), 12)
    (18, 1.0)
    """
    length, std = int(6 * kernel_width / bin_size), int(kernel_width / bin_size)
    if std < 1:
        raise ConfigError(f"a kernel width of {kernel_width:g} ms is under one bin ({bin_size:g} ms)",
                          source="kernel_widths", fix=f"use kernel widths of at least {bin_size:g} ms")
    window = windows.gaussian(length, std, sym=True)
    return window / window.sum()


def smooth_counts(values: np.ndarray, window: np.ndarray) -> np.ndarray:
    """``np.convolve(x, window, "same")`` along the time axis of ``(trial, time, neuron)`` counts, all at once.

    A window longer than the trials keeps the trials' length (``scipy.signal.convolve(x, window, "same")``,
    which equals numpy's for shorter windows).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.spikes.smoothing_baseline import gaussian_window, smooth_counts
    >>> x = np.random.default_rng(0).poisson(1.0, (2, 30, 3)).astype(float)
    >>> w = gaussian_window(40, 10)
    >>> np.allclose(smooth_counts(x, w)[1, :, 2], np.convolve(x[1, :, 2], w, "same"))
    True
    """
    n_bins, length = values.shape[1], len(window)
    offset = (length - 1) // 2  # "same" keeps the centre of the full convolution
    padded = np.zeros((values.shape[0], n_bins + 2 * (length - 1), values.shape[2]))
    padded[:, length - 1:length - 1 + n_bins] = values
    out = np.zeros(values.shape)
    for k, weight in enumerate(window):  # full[n] = sum_k x[n - k] w[k]; out[i] = full[i + offset]
        start = offset + length - 1 - k
        out += weight * padded[:, start:start + n_bins]
    return out


class SmoothingBaseline:
    """NLB's spike-smoothing baseline with the kernel width chosen on validation trials by co-bps.

    Parameters
    ----------
    kernel_widths : sequence of float
        Standard deviations of the Gaussian kernel to compare, in milliseconds.
    alpha : float
        L2 penalty of each ``PoissonRegressor``.
    log_offset : float
        Added to the smoothed counts before the log.
    standardize : bool
        Standardise the log features (training trials' mean and standard deviation) before the GLM.
        ``False`` is NLB's recipe exactly.
    validation_fraction : float
        Share of the trials that scores the kernel widths (split by trial, seeded).
    max_iter : int
        Starting iteration limit of each GLM fit (NLB: 500, multiplied by 5 while reached).
    random_state : int
        Seed of the validation split.
    progress : bool
        Show a progress bar over the kernel widths and log each one's validation score.

    Attributes
    ----------
    kernel_width_ : float
        The chosen kernel width (ms).
    history_ : pandas.DataFrame
        One row per kernel width: ``kernel_width``, ``valid_co_bps``.
    held_in_ids_, held_out_ids_ : list of str
        The neurons read and predicted.
    coef_, intercept_ : numpy.ndarray
        The GLM weights ``(held-in, held-out)`` and intercepts, on the (standardised) log features.

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.smoothing_baseline import SmoothingBaseline
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=30, n_held_in=10, n_held_out=3, random_state=0)
    >>> model = SmoothingBaseline(kernel_widths=(30, 60), progress=False).fit(sim.counts, held_out="held_out")
    >>> model.history_.columns.tolist(), model.transform(sim.counts).sizes["neuroid"]
    (['kernel_width', 'valid_co_bps'], 13)
    """

    def __init__(self, kernel_widths: tuple[float, ...] = (20.0, 40.0, 60.0, 80.0), *, alpha: float = 0.01,
                 log_offset: float = 1e-4, standardize: bool = True, validation_fraction: float = 0.2,
                 max_iter: int = 500, random_state: Any = 0, progress: bool = True):
        self.kernel_widths = kernel_widths
        self.alpha = alpha
        self.log_offset = log_offset
        self.standardize = standardize
        self.validation_fraction = validation_fraction
        self.max_iter = max_iter
        self.random_state = random_state
        self.progress = progress

    def configuration(self) -> dict[str, Any]:
        """The parameters as plain values."""
        return {"kernel_widths": [float(w) for w in np.atleast_1d(self.kernel_widths)], "alpha": float(self.alpha),
                "log_offset": float(self.log_offset), "standardize": bool(self.standardize),
                "validation_fraction": float(self.validation_fraction), "max_iter": int(self.max_iter),
                "random_state": self.random_state if isinstance(self.random_state, int) else None,
                "progress": bool(self.progress)}

    def _check_params(self) -> list[float]:
        widths = [check_number("kernel_widths", w, low=0, low_open=True) for w in np.atleast_1d(self.kernel_widths)]
        if not widths:
            raise ConfigError("kernel_widths is empty", source="kernel_widths", fix="pass e.g. (20, 40, 60, 80)")
        check_number("alpha", self.alpha, low=0)
        check_number("log_offset", self.log_offset, low=0, low_open=True)
        check_bool("standardize", self.standardize)
        check_number("validation_fraction", self.validation_fraction, low=0, high=1, low_open=True, high_open=True)
        check_int("max_iter", self.max_iter, minimum=1)
        check_bool("progress", self.progress)
        return widths

    def fit(self, counts: xr.DataArray, held_out: Any = None) -> "SmoothingBaseline":
        """Choose the kernel width on validation trials, then fit the GLMs on all trials.

        Parameters
        ----------
        counts : DataArray (presentation, neuroid, time_bin)
            Binned spike counts.
        held_out : list of str or str, optional
            The held-out ``neuroid_id``s or a boolean neuroid coordinate's name; default: the
            coordinate ``"held_out"`` when ``counts`` has one.

        Returns
        -------
        self
        """
        widths = self._check_params()
        counts = check_counts(counts)
        if held_out is None:
            if "held_out" not in counts.coords:
                raise ConfigError("no held-out neurons named", source="held_out",
                                  fix="pass held_out= a list of neuroid_ids or a boolean neuroid coordinate's name")
            held_out = "held_out"
        chosen = set(held_out_ids(counts, held_out))
        ids = [str(i) for i in counts.neuroid_id.values]
        in_ids = [i for i in ids if i not in chosen]
        out_ids = [i for i in ids if i in chosen]  # the data's order
        order = [ids.index(i) for i in in_ids + out_ids]
        values = neurons_last(counts.isel(neuroid=order))
        x_spikes, y_spikes = values[..., :len(in_ids)], values[..., len(in_ids):]
        bin_size = _bin_size_ms(counts)
        seed = resolve_seed(self.random_state)
        rows = []
        if len(widths) > 1:
            parts = split_trials(counts.sizes["presentation"], {"train": 1 - float(self.validation_fraction),
                                                                 "valid": float(self.validation_fraction)},
                                 random_state=seed)
            train, valid = parts["train"], parts["valid"]
            valid_counts = counts.isel(presentation=valid)
            for width in tqdm(widths, desc="kernel widths", unit="width", disable=not self.progress, leave=False):
                window = gaussian_window(width, bin_size)
                weights = self._fit_glms(x_spikes[train], y_spikes[train], window)
                predicted = self._predict(x_spikes[valid], window, *weights)
                rates = from_neurons_last(predicted, valid_counts, neuroids=valid_counts.isel(
                    neuroid=[ids.index(i) for i in out_ids]))
                score = co_bps(rates, valid_counts, out_ids)
                rows.append({"kernel_width": float(width), "valid_co_bps": score})
                if self.progress:
                    logger.info("smoothing baseline: kernel width %g ms, validation co-bps %.4f", width, score)
            best = int(np.argmax([r["valid_co_bps"] for r in rows]))  # the first of tied maxima
        else:
            rows.append({"kernel_width": float(widths[0]), "valid_co_bps": math.nan})
            best = 0
        self.kernel_width_ = float(widths[best])
        self.window_ = gaussian_window(self.kernel_width_, bin_size)
        self.coef_, self.intercept_, self.feature_mean_, self.feature_scale_ = self._fit_glms(
            x_spikes, y_spikes, self.window_)
        self.history_ = pd.DataFrame(rows, columns=["kernel_width", "valid_co_bps"])
        self.held_in_ids_, self.held_out_ids_ = in_ids, out_ids
        self.bin_size_ = bin_size
        self._neuroids = neuroid_table(counts.isel(neuroid=order))
        self.random_state_ = seed
        return self

    def _features(self, x_spikes: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Smoothed held-in counts ``(trial, time, neuron)`` and their log features ``(sample, neuron)``."""
        smoothed = smooth_counts(x_spikes, window)
        return smoothed, np.log(smoothed.reshape(-1, smoothed.shape[-1]) + float(self.log_offset))

    def _fit_glms(self, x_spikes, y_spikes, window):
        _, features = self._features(x_spikes, window)
        if self.standardize:
            mean, scale = features.mean(axis=0), features.std(axis=0)
            scale[scale == 0] = 1.0
        else:
            mean, scale = np.zeros(features.shape[1]), np.ones(features.shape[1])
        features = (features - mean) / scale
        targets = y_spikes.reshape(-1, y_spikes.shape[-1])
        coef, intercept = np.zeros((features.shape[1], targets.shape[1])), np.zeros(targets.shape[1])
        for j in range(targets.shape[1]):
            glm = _fit_poisson(features, targets[:, j], float(self.alpha), int(self.max_iter))
            coef[:, j], intercept[j] = glm.coef_, glm.intercept_
        return coef, intercept, mean, scale

    def _predict(self, x_spikes, window, coef, intercept, mean, scale, with_held_in: bool = False):
        smoothed, features = self._features(x_spikes, window)
        # PoissonRegressor.predict: exp(X @ coef + intercept)
        held_out = np.exp(((features - mean) / scale) @ coef + intercept).reshape(x_spikes.shape[:2] + (-1,))
        held_out = np.clip(held_out, _LOW, _HIGH)
        return np.concatenate([smoothed, held_out], axis=-1) if with_held_in else held_out

    def transform(self, counts: xr.DataArray) -> xr.DataArray:
        """Rates (counts/bin) of every fitted neuron (held-in: smoothed counts; held-out: the GLMs).

        Only the held-in neurons of ``counts`` are read.
        """
        check_fitted(self, "coef_")
        counts = check_counts(counts)
        ids = [str(i) for i in counts.neuroid_id.values]
        position = {i: k for k, i in enumerate(ids)}
        missing = [i for i in self.held_in_ids_ if i not in position]
        if missing:
            raise AlignmentError(f"counts lack {len(missing)} of the {len(self.held_in_ids_)} held-in neurons, "
                                 f"e.g. {missing[:5]}", source="counts",
                                 fix="pass counts with every neuron in held_in_ids_ (any order)")
        x_spikes = neurons_last(counts.isel(neuroid=[position[i] for i in self.held_in_ids_]))
        rates = self._predict(x_spikes, self.window_, self.coef_, self.intercept_, self.feature_mean_,
                              self.feature_scale_, with_held_in=True)
        out = from_neurons_last(rates, counts, neuroids=neuroid_labels(self._neuroids))
        out.attrs.update(provenance({**self.configuration(), "kernel_width": self.kernel_width_},
                                    {"counts": counts}))
        return out

    def fit_transform(self, counts: xr.DataArray, held_out: Any = None) -> xr.DataArray:
        """``fit(counts, held_out)``, then the rates of the training counts."""
        return self.fit(counts, held_out).transform(counts)

    def score(self, counts: xr.DataArray) -> float:
        """Co-smoothing bits per spike of the held-out neurons of ``counts`` (:func:`~neuroalign.spikes.metrics.co_bps`)."""
        check_fitted(self, "coef_")
        return co_bps(self.transform(counts), counts, self.held_out_ids_)

    def save(self, path: str | os.PathLike) -> os.PathLike:
        """Write the fitted weights, neurons and history (``weights_only`` file, no pickled objects)."""
        check_fitted(self, "coef_")
        tensors = {k: torch.from_numpy(np.asarray(getattr(self, k), dtype=np.float64))
                   for k in ("window_", "coef_", "intercept_", "feature_mean_", "feature_scale_")}
        return files.write_state(path, {
            "config": self.configuration(), "tensors": tensors, "kernel_width": self.kernel_width_,
            "bin_size": self.bin_size_, "held_in": self.held_in_ids_, "held_out": self.held_out_ids_,
            "neuroids": self._neuroids, "history": files.history_to_dict(self.history_),
            "seed": self.random_state_}, kind=_KIND, format=FORMAT)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SmoothingBaseline":
        """A fitted baseline from a file of :meth:`save`."""
        state = files.read_state(path, kind=_KIND, writer="SmoothingBaseline.save", format=FORMAT)
        estimator = cls(**state["config"])
        for key, tensor in state["tensors"].items():
            setattr(estimator, key, tensor.numpy())
        estimator.kernel_width_, estimator.bin_size_ = float(state["kernel_width"]), float(state["bin_size"])
        estimator.held_in_ids_, estimator.held_out_ids_ = list(state["held_in"]), list(state["held_out"])
        estimator._neuroids = dict(state["neuroids"])
        estimator.history_ = files.history_from_dict(state["history"])
        estimator.random_state_ = int(state["seed"])
        return estimator


def _fit_poisson(features: np.ndarray, target: np.ndarray, alpha: float, max_iter: int) -> PoissonRegressor:
    """NLB's fit: ``PoissonRegressor(alpha, max_iter)``, refitted with 5x the iterations while it hits the limit."""
    while True:
        glm = PoissonRegressor(alpha=alpha, max_iter=max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            glm.fit(features, target)
        if glm.n_iter_ < glm.max_iter or max_iter >= 10000:
            if glm.n_iter_ >= glm.max_iter:
                logger.warning("smoothing baseline: a Poisson GLM did not converge in %d iterations", max_iter)
            return glm
        max_iter *= 5


def _bin_size_ms(counts: xr.DataArray) -> float:
    if "time_bin_start" not in counts.coords or "time_bin_end" not in counts.coords:
        raise DataError("counts have no time_bin_start/time_bin_end coordinates to read the bin width from",
                        source="counts", fix="bin the spikes with neuroalign's loaders (they label the bins)")
    widths = np.asarray(counts.time_bin_end.values - counts.time_bin_start.values, dtype=float) * 1000.0
    if widths.size == 0 or not np.allclose(widths, widths[0], rtol=1e-6) or widths[0] <= 0:
        raise DataError("the time bins have different or non-positive widths", source="counts",
                        fix="bin every trial with one bin width")
    return round(float(widths[0]), 9)
