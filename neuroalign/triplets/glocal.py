"""gLocal: a human-alignment probe that keeps the representation's local structure.

gLocal (Muttenthaler et al., NeurIPS 2023) fits the same kind of transform as
the naive probe (:class:`~neuroalign.triplets.probes.LinearProbe`), with

    loss = (1 − α) · triplet cross-entropy
         + α · local contrastive term
         + λ ‖W − mean(diag W) · I‖²_F

The local term is a cross-entropy between two softmax distributions over
cosine similarities (temperature τ) within a batch of reference objects: the
teacher from the ORIGINAL features (standardised as the probe's input, so
that ``W ∝ I`` reproduces them), the student from the transformed ones; an
object's similarity to itself is left out.  The penalty pulls ``W`` towards a
scaled identity, and ``W`` starts at ``1e-3 · I``.

Examples
--------
>>> import torch; torch.set_num_threads(1)
>>> from neuroalign.datasets.triplet_simulator import simulate_triplets
>>> sim = simulate_triplets(40, 5, 2000, seed=0)
>>> probe = GLocalProbe(optimizer="lbfgs", max_epochs=3).fit(sim.X, sim.triplets, sim.choices)
>>> probe.weights_.shape
(5, 5)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError
from ..fitting.base import check_int, check_number
from .probes import LinearProbe, _features

__all__ = ["GLocalProbe", "local_contrastive_loss"]


def local_contrastive_loss(teacher: torch.Tensor, student: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Cross-entropy between the teacher's and the student's softmax over cosine similarities.

    Row ``i`` of each distribution is the softmax over ``j ≠ i`` of
    ``cos(x_i, x_j) / τ``; the loss is ``−Σ_j p_teacher log p_student``
    averaged over rows.

    Examples
    --------
    >>> import torch
    >>> x = torch.eye(3, dtype=torch.float64)
    >>> round(float(local_contrastive_loss(x, x)), 4)  # two equal neighbours: log 2
    0.6931
    """
    n = len(teacher)
    mask = torch.eye(n, dtype=torch.bool)
    t = F.normalize(teacher, dim=1)
    s = F.normalize(student, dim=1)
    t_logits = (t @ t.T / tau).masked_fill(mask, -torch.inf)
    s_logits = (s @ s.T / tau).masked_fill(mask, -torch.inf)
    p_teacher = torch.softmax(t_logits, dim=1)
    log_student = torch.log_softmax(s_logits, dim=1).masked_fill(mask, 0.0)
    return -(p_teacher * log_student).sum(dim=1).mean()


class GLocalProbe(LinearProbe):
    """The gLocal probe (triplet term, local contrastive term, pull towards a scaled identity).

    Parameters
    ----------
    alpha : float
        Weight α of the local contrastive term (0 ≤ α < 1).
    lam : float
        Weight λ of ``‖W − mean(diag W)·I‖²_F``.
    tau : float
        Temperature τ of the local term's softmax.
    reference_batch_size : int
        Reference objects per local-term batch (drawn anew before every Adam
        step and every L-BFGS epoch).
    init_scale : float
        ``W`` starts at ``init_scale · I``.
    **params
        The other parameters of :class:`~neuroalign.triplets.probes.LinearProbe`
        (``bias``, ``optimizer``, ``lr``, ``batch_size``, ``max_epochs``,
        ``patience``, ``validation_fraction``, ``tol``, ``lbfgs_steps``,
        ``random_state``, ``progress``).

    Examples
    --------
    >>> import torch; torch.set_num_threads(1)
    >>> from neuroalign.datasets.triplet_simulator import simulate_triplets
    >>> sim = simulate_triplets(40, 5, 2000, seed=0)
    >>> probe = GLocalProbe(alpha=0.5, optimizer="lbfgs", max_epochs=3).fit(sim.X, sim.triplets, sim.choices)
    >>> bool(probe.score(sim.X, sim.triplets, sim.choices) > 0.5)
    True
    """

    def __init__(self, alpha: float = 0.1, lam: float = 0.1, *, tau: float = 1.0, reference_batch_size: int = 256,
                 bias: bool = False, optimizer: str = "adam", lr: float = 1e-3, batch_size: int = 256,
                 max_epochs: int = 100, patience: int = 10, validation_fraction: float = 0.2, tol: float = 1e-4,
                 init_scale: float = 1e-3, lbfgs_steps: int = 20, random_state: Any = 0, progress: bool = False):
        super().__init__(lam=lam, bias=bias, optimizer=optimizer, lr=lr, batch_size=batch_size,
                         max_epochs=max_epochs, patience=patience, validation_fraction=validation_fraction, tol=tol,
                         init_scale=init_scale, lbfgs_steps=lbfgs_steps, random_state=random_state,
                         progress=progress)
        self.alpha = alpha
        self.tau = tau
        self.reference_batch_size = reference_batch_size

    def _check_params(self) -> None:
        super()._check_params()
        check_number("alpha", self.alpha, low=0, high=1, high_open=True)
        check_number("tau", self.tau, low=0, low_open=True)
        check_int("reference_batch_size", self.reference_batch_size, minimum=2)

    def _initial_weights(self, p: int, generator: torch.Generator) -> torch.Tensor:
        return torch.eye(p, dtype=torch.float64) * self.init_scale

    def _penalty(self, W: torch.Tensor) -> torch.Tensor:
        target = torch.diagonal(W).mean() * torch.eye(len(W), dtype=W.dtype)
        return self.lam * ((W - target) ** 2).sum()

    def _data_weight(self) -> float:
        return 1.0 - self.alpha

    def _draw(self, generator: torch.Generator) -> None:
        n = len(self._reference)
        size = min(self.reference_batch_size, n)
        self._batch = torch.randperm(n, generator=generator)[:size]

    def _extra_loss(self, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor | float:
        if self.alpha == 0:
            return 0.0
        ref = (self._reference[self._batch] - self.mean_) / self.std_  # the probe's input, as the teacher
        student = ref @ W + (b if b is not None else 0.0)
        return self.alpha * local_contrastive_loss(ref, student, self.tau)

    def fit(self, X: Any, triplets: Any, choices: Any, reference: Any = None, *,
            callback: Callable[[int, np.ndarray, np.ndarray | None], bool] | None = None) -> "GLocalProbe":
        """Fit to odd-one-out choices, keeping the local structure of ``reference`` features.

        Parameters
        ----------
        X, triplets, choices
            As in :meth:`LinearProbe.fit`.
        reference : array_like (m, p), optional
            Features of the reference objects of the local term (gLocal used
            ImageNet images).  By default the rows of ``X`` of the objects in
            the training triplets (after the early-stopping split), so that
            held-out objects (e.g. the test fold of
            :func:`~neuroalign.triplets.object_folds.cross_validate_probe`)
            never shape the fit.
        callback : callable, optional
            As in :meth:`LinearProbe.fit`.

        Returns
        -------
        self
        """
        ref = _features(X if reference is None else reference)
        if ref.shape[1] != np.shape(X)[1] or len(ref) < 2:
            raise DataError(f"reference features have shape {ref.shape}; need ≥ 2 rows of {np.shape(X)[1]} features",
                            source="reference", fix="pass reference features of the same representation as X")
        self._reference = torch.as_tensor(ref)
        self._default_reference = reference is None
        self._batch = torch.arange(min(self.reference_batch_size, len(ref)))
        try:
            return super().fit(X, triplets, choices, callback=callback)
        finally:
            del self._reference, self._batch, self._default_reference

    def _split(self, triplets: np.ndarray, choices: np.ndarray, n_objects: int, seed: int):
        out = super()._split(triplets, choices, n_objects, seed)
        if self._default_reference:  # only the training objects' features (no held-out object leaks in)
            self._reference = self._reference[torch.as_tensor(np.unique(out[0]))]
            self._batch = torch.arange(min(self.reference_batch_size, len(self._reference)))
        return out
