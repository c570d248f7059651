"""When one image's synthesis stops: relative progress of its match.

plenoptic stops when the loss changed by less than an ABSOLUTE amount over the
last iterations, which stops small losses long before they converge.  The rule
here is relative: after ``k`` steps (``k ≥ window``), image ``i`` stops when

    L_i(k − window) − L_i(k) ≤ tolerance · |L_i(k − window)|,

that is, when its objective fell by less than the fraction ``tolerance`` of its
value ``window`` steps earlier (an objective that rose, or that reached
exactly zero, stops too).  ``L_i(k)`` is the image's objective (loss plus
weighted penalty) at its ``k``-th iterate, as recorded in ``Metamer.losses``;
the rule assumes objectives ≥ 0, as every built-in one is.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import ConfigError

__all__ = ["RelativeProgress"]


class RelativeProgress:
    """The stopping rule of the module docstring.

    Parameters
    ----------
    tolerance : float or None
        Relative decrease below which an image stops; ``None``: never stop.
    window : int
        Number of steps over which the decrease is measured.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.stopping import RelativeProgress
    >>> rule = RelativeProgress(0.01, window=1)
    >>> history = torch.tensor([[1.0, 1.0], [0.9, 0.5], [0.895, 0.2]])  # 3 iterates of 2 images
    >>> rule.converged(history).tolist()
    [True, False]
    >>> rule.stops([0.9, 0.5], [0.895, 0.2])
    [True, False]
    """

    def __init__(self, tolerance: float | None, window: int):
        if tolerance is not None and (isinstance(tolerance, bool) or not isinstance(tolerance, (int, float))
                                      or not tolerance >= 0):
            raise ConfigError(f"stop_tolerance must be a number ≥ 0 (or False: no stopping), got {tolerance!r}",
                              source="stop_tolerance", fix="pass e.g. stop_tolerance=1e-4")
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ConfigError(f"stop_window must be a positive int, got {window!r}", source="stop_window",
                              fix="pass e.g. stop_window=50")
        self.tolerance = None if tolerance is None else float(tolerance)
        self.window = window

    def applies(self, n_iterates: int) -> bool:
        """Whether the rule can stop an image once ``n_iterates`` iterates are recorded."""
        return self.tolerance is not None and n_iterates > self.window

    def converged(self, history: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """Which images meet the rule at the last iterate of ``history`` (iterates × images, or a list of
        per-iterate rows); computed in float64."""
        if not self.applies(len(history)):
            return torch.zeros(len(history[-1]), dtype=torch.bool)
        return torch.tensor(self.stops(history[-1 - self.window].tolist(), history[-1].tolist()), dtype=torch.bool)

    def stops(self, before: Sequence[float], now: Sequence[float]) -> list[bool]:
        """The rule for each image, from its objective ``window`` steps before and now (Python floats).

        Plain float64 arithmetic, the same operations as on float64 tensors (so the same answers, NaN
        never stopping), without the cost of a tensor operation per comparison, which a synthesis step
        on a small image would feel.
        """
        tolerance = self.tolerance
        return [b - n <= tolerance * abs(b) for b, n in zip(before, now)]

    def describe(self) -> dict:
        """The rule's settings (for provenance)."""
        return {"rule": "relative_progress", "tolerance": self.tolerance, "window": self.window}
