"""Minibatch CKA (Nguyen, Raghu & Kornblith, 2021): CKA of activations that do not fit in memory.

For minibatches i = 1 … k of the same stimuli seen by two representations,

    CKA_minibatch = mean_i HSIC_u(K_i, L_i) / sqrt(mean_i HSIC_u(K_i, K_i) · mean_i HSIC_u(L_i, L_i)),

with ``HSIC_u`` the unbiased estimator of Song et al. (2012) on the batch's
Gram matrices.  Because each ``HSIC_u`` is unbiased, the averages converge to
the population HSIC whatever the batch size; with a single batch holding all
stimuli the result is exactly the full-data debiased CKA
(``cka(x, y, debiased=True)``).  It is *not* the full-data CKA for several
batches: pairs of stimuli in different batches never enter (see
``docs/compare-cka.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from ...data.align import align
from ...data.provenance import provenance
from ...data.schema import label_index
from ...errors import ConfigError, DataError, ScoreError, UnknownNameError
from .core import CKA_KERNELS, MIN_SAMPLES, _constant_error, make_backend, scaled_samples
from .matrix import DEFAULT_MAX_MEMORY, LAYER_A, LAYER_B, centered_products

__all__ = ["MinibatchCKA"]


class MinibatchCKA:
    """Accumulate CKA over minibatches, for one pair of representations or all layer pairs.

    Parameters
    ----------
    kernel : {"linear", "rbf"}
        The kernel.  For ``"rbf"`` the bandwidth is set per batch from that
        batch's median distance.
    threshold : float
        RBF bandwidth as a fraction of the median distance.
    debiased : bool
        ``True`` (default, Nguyen et al.): average the unbiased HSIC of each
        batch.  ``False`` averages the biased HSIC, whose bias does not shrink
        as batches accumulate; offered for comparison only.
    backend, device, dtype
        As in :func:`neuroalign.compare.cka`.
    max_memory : int
        Passed to the all-pairs computation of each batch.

    Attributes
    ----------
    hsic_xy_ : numpy.ndarray
        (layers_a, layers_b) sum over batches of the per-batch HSIC.
    hsic_xx_, hsic_yy_ : numpy.ndarray
        Per-layer sums of the per-batch self-HSIC.
    n_batches_, n_samples_ : int
        Batches and samples seen.
    layers_a_, layers_b_ : list of str or None
        Layer names (``None`` when plain arrays were passed).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import MinibatchCKA, cka
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 5))
    >>> y = x @ rng.normal(size=(5, 3)) + rng.normal(size=(200, 3))
    >>> acc = MinibatchCKA()
    >>> for rows in np.array_split(np.arange(200), 4):
    ...     _ = acc.update(x[rows], y[rows])
    >>> acc.n_batches_, 0 < acc.compute() < 1
    (4, True)
    >>> one = MinibatchCKA().update(x, y).compute()  # one batch: the full-data debiased CKA
    >>> bool(np.isclose(one, cka(x, y, debiased=True)))
    True
    """

    def __init__(self, kernel: str = "linear", threshold: float = 1.0, debiased: bool = True,
                 backend: str = "numpy", device: Any = None, dtype: str = "float64",
                 max_memory: int = DEFAULT_MAX_MEMORY):
        self.kernel = kernel
        self.threshold = threshold
        self.debiased = debiased
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.max_memory = max_memory

    def _check_params(self) -> None:
        if self.kernel not in CKA_KERNELS:
            raise UnknownNameError(self.kernel, CKA_KERNELS, what="CKA kernel", source="kernel")
        if not self.threshold > 0:
            raise ConfigError(f"threshold must be > 0, got {self.threshold!r}", source="threshold",
                              fix="pass the RBF bandwidth as a positive fraction of the median distance")

    def reset(self) -> "MinibatchCKA":
        """Forget every batch seen."""
        for name in ("hsic_xy_", "hsic_xx_", "hsic_yy_", "n_batches_", "n_samples_", "layers_a_", "layers_b_",
                     "_paired", "_same", "_exponents"):
            self.__dict__.pop(name, None)
        return self

    def update(self, x_batch: Any, y_batch: Any = None) -> "MinibatchCKA":
        """Add one minibatch.

        Parameters
        ----------
        x_batch : array_like, torch.Tensor, xarray.DataArray, or mapping of str to those
            ``(batch, p)`` activations of the a side: one representation, or
            layer name → activations for all layer pairs.
        y_batch : same kinds as ``x_batch``, optional
            The b side for the same stimuli (labelled arrays are aligned on
            ``stimulus_id``).  ``None``: compare ``x_batch`` with itself, each
            Gram matrix computed once.

        Returns
        -------
        MinibatchCKA
            ``self``.

        Raises
        ------
        DataError
            A batch of fewer than 4 samples, or with different sample counts.
        ConfigError
            Layer names or kinds of input that change between batches.
        """
        self._check_params()
        ops = make_backend(self.backend, self.device, self.dtype)
        paired = not isinstance(x_batch, Mapping)
        same = y_batch is None
        names_a, xa = _side(x_batch, "x_batch")
        names_b, xb = (None, None) if same else _side(y_batch, "y_batch")
        if not same and isinstance(y_batch, Mapping) == paired:
            raise ConfigError("x_batch and y_batch must both be arrays or both be mappings of layers",
                              source="y_batch", fix="pass the same kind of input for both sides")
        if hasattr(self, "n_batches_"):
            if (paired, same, names_a, names_b) != (self._paired, self._same, self.layers_a_, self.layers_b_):
                raise ConfigError("this batch's layers differ from the previous batches'", source="x_batch/y_batch",
                                  fix="pass the same layers (names and order) in every batch, or call reset()")
        xa, xb = _align_batch(xa, xb, names_a, names_b)
        labels_a = names_a if paired else [f"x_batch[{k!r}]" for k in names_a]
        labels_b = names_b if paired or same else [f"y_batch[{k!r}]" for k in names_b]
        # every batch is scaled by the powers of two of the first (exact; see scaled_samples), so the sums stay
        # consistent and cannot overflow for inputs of extreme scale
        exponents = getattr(self, "_exponents", None) or [None] * (len(xa) + len(xb or []))
        scaled = [scaled_samples(v, label, ops, e) for label, v, e in zip(labels_a + (labels_b or []),
                                                                           xa + (xb or []), exponents)]
        xa, xb = [v for v, _ in scaled[:len(xa)]], (None if xb is None else [v for v, _ in scaled[len(xa):]])
        n = xa[0].shape[0]
        for name, x in zip(labels_a + (labels_b or []), xa + (xb or [])):
            if x.shape[0] != n:
                raise DataError(f"{x.shape[0]} samples where the first layer of x_batch has {n}", source=name,
                                fix="pass the same stimuli for every layer of a batch")
        if n < MIN_SAMPLES:
            raise DataError(f"a minibatch needs at least {MIN_SAMPLES} samples, got {n}", source="x_batch",
                            fix="use larger batches (the unbiased HSIC divides by n (n - 3))")
        cross, self_a, self_b = centered_products(xa, xb, kernel=self.kernel, threshold=self.threshold,
                                                  debiased=self.debiased, ops=ops, max_memory=self.max_memory)
        if not (np.isfinite(cross).all() and np.isfinite(self_a).all() and np.isfinite(self_b).all()):
            raise DataError("this batch's HSIC overflows: its values are far larger than the first batch's",
                            source="x_batch/y_batch", fix="pass batches of a similar scale, or call reset()")
        scale = n * (n - 3.0) if self.debiased else (n - 1.0) ** 2
        if not hasattr(self, "n_batches_"):
            self.hsic_xy_ = np.zeros_like(cross)
            self.hsic_xx_, self.hsic_yy_ = np.zeros_like(self_a), np.zeros_like(self_b)
            self.n_batches_, self.n_samples_ = 0, 0
            self.layers_a_, self.layers_b_ = names_a, names_b
            self._paired, self._same = paired, same
            self._widths = [x.shape[1] for x in xa + (xb or [])]
            self._exponents = [e for _, e in scaled]
        widths = [x.shape[1] for x in xa + (xb or [])]
        if widths != self._widths:
            raise DataError(f"feature counts {widths} differ from the first batch's {self._widths}",
                            source="x_batch/y_batch", fix="pass the same layers in every batch")
        self.hsic_xy_ += cross / scale
        self.hsic_xx_ += self_a / scale
        self.hsic_yy_ += self_b / scale
        self.n_batches_ += 1
        self.n_samples_ += n
        return self

    def compute(self) -> float | xr.DataArray:
        """The minibatch CKA of the batches seen so far.

        Returns
        -------
        float or xarray.DataArray
            A float when arrays were passed; a ``(layer_a, layer_b)``
            DataArray when mappings of layers were.

        Raises
        ------
        ScoreError
            No batch has been added.
        DataError
            A layer has no variance in any batch.
        """
        if not hasattr(self, "n_batches_"):
            raise ScoreError("no minibatch has been added", source="MinibatchCKA",
                             fix="call update(x_batch, y_batch) at least once before compute()")
        names_b = self.layers_a_ if self._same else self.layers_b_
        for side, names, norms in (("x", self.layers_a_, self.hsic_xx_), ("y", names_b, self.hsic_yy_)):
            bad = [k for k, v in zip(names, norms) if not v > 0]
            if bad:
                raise _constant_error(f"{side}_batch[{bad[0]!r}]" if not self._paired else f"{side}_batch")
        values = self.hsic_xy_ / np.sqrt(np.outer(self.hsic_xx_, self.hsic_yy_))
        if self._same:
            np.fill_diagonal(values, 1.0)
        if self._paired:
            return float(values[0, 0])
        result = xr.DataArray(values, dims=(LAYER_A, LAYER_B), name="cka",
                              coords={LAYER_A: label_index(self.layers_a_, LAYER_A),
                                      LAYER_B: label_index(names_b, LAYER_B)})
        params = {"kernel": self.kernel, "threshold": self.threshold if self.kernel == "rbf" else None,
                  "debiased": self.debiased, "estimator": "minibatch (Nguyen et al. 2021)",
                  "n_batches": self.n_batches_, "n_samples": self.n_samples_}
        result.attrs.update({"kernel": self.kernel, "debiased": int(self.debiased), "n_samples": self.n_samples_,
                             "n_batches": self.n_batches_})
        result.attrs.update(provenance(params, {}))
        return result


def _side(batch: Any, name: str) -> tuple[list[str], list[Any]]:
    if isinstance(batch, Mapping):
        if not batch:
            raise ConfigError("no layers", source=name, fix="pass at least one layer")
        return [str(k) for k in batch], list(batch.values())
    return [name], [batch]


def _align_batch(xa: list, xb: list | None, names_a: list[str], names_b: list[str] | None) -> tuple[list, list]:
    everything = xa + (xb or [])
    names = names_a + (names_b or [])
    labelled = [i for i, v in enumerate(everything) if isinstance(v, xr.DataArray)]
    if not labelled:
        return xa, xb
    ref = everything[labelled[0]]
    out = [align(ref, v, names=(names[labelled[0]], k))[1] if isinstance(v, xr.DataArray) else v
           for v, k in zip(everything, names)]
    return out[:len(xa)], (out[len(xa):] if xb is not None else None)
