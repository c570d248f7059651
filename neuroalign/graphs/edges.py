"""Edge rules: which pairs of ROIs of a connectivity matrix become graph edges.

:func:`edge_weights` turns dense functional connectivity ``[..., N, N]`` (any
leading dims: subjects, windows) into a dense symmetric adjacency of the same
shape, for every matrix at once (no Python loop over windows).  The rules,
registered in :data:`EDGE_RULES`:

``"top_k"`` (value: k, default 5)
    Each node keeps its ``k`` largest positive correlations; the graph is
    made symmetric by union (an edge exists when either end chose it), so a
    node can end up with more than ``k`` neighbours.
``"top_percent"`` (value: percent, default 30 as STAGIN)
    Each matrix keeps its ``round(percent / 100 * P)`` largest positive
    correlations of the upper triangle, ``P`` being the number of pairs of
    (non-excluded) nodes; the count is rounded half up.
``"threshold"`` (value: t, default 0.3)
    Pairs with ``|r| >= t``: strong anticorrelations are edges too (weighted
    edges keep the sign of ``r``).
``"full"`` (no value)
    Every pair, weighted by its correlation (always weighted, as BrainGB).
``"none"`` (no value)
    No edge at all: the edge-free control of a graph model.

The two top rules keep positive correlations only (as STAGIN and NeuroGraph):
a negative or zero correlation is never an edge even when it ranks among the
top.  Ties at the cut are broken by index, deterministically: for ``top_k`` the
lower column index wins, for ``top_percent`` the pair that comes first in
``np.triu_indices(N, 1)`` (row-major) order wins, so exactly ``k`` (or the
rounded count) entries are chosen before the positivity filter.

Edges are binary (1.0) by default, or weighted by the correlation with
``binary=False``.  There are never self loops.

``exclude`` (bool ``[..., N]``, True = excluded) removes nodes before the rule
is applied: they get no edges and do not count in rankings, percentages or the
number of pairs, so their rows and columns of ``fc`` have no influence on the
result whatever their values (NaN included).  This is how a masked graph
autoencoder hides masked nodes' connectivity from the encoder.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

import torch

from ..errors import ConfigError, DataError, UnknownNameError

__all__ = ["EdgeRule", "EDGE_RULES", "edge_weights", "check_edge_value"]


@dataclass(frozen=True)
class EdgeRule:
    """One edge rule of :data:`EDGE_RULES`: its default value and what it does."""

    name: str
    default: float | int | None
    description: str
    weighted_only: bool = False


#: The edge rules :func:`edge_weights` knows, by name.
EDGE_RULES: dict[str, EdgeRule] = {
    "top_k": EdgeRule("top_k", 5, "each node's k largest positive correlations, made symmetric by union"),
    "top_percent": EdgeRule("top_percent", 30.0, "the given percentage of the largest positive correlations of "
                            "each matrix's upper triangle (30 as STAGIN)"),
    "threshold": EdgeRule("threshold", 0.3, "pairs with |r| >= value"),
    "full": EdgeRule("full", None, "every pair, weighted by its correlation", weighted_only=True),
    "none": EdgeRule("none", None, "no edges (edge-free control)"),
}


def check_edge_value(rule: str, value: float | int | None, *, source: str = "value") -> float | int | None:
    """The validated value of an edge rule (its default when ``value`` is None).

    Raises
    ------
    UnknownNameError
        ``rule`` is not in :data:`EDGE_RULES`.
    ConfigError
        ``value`` is not valid for ``rule``: k not a whole number >= 1, a
        percentage outside (0, 100], a negative or non-finite threshold, or a
        value given to ``"full"`` or ``"none"``.

    Examples
    --------
    >>> from neuroalign.graphs.edges import check_edge_value
    >>> check_edge_value("top_percent", None)
    30.0
    """
    if rule not in EDGE_RULES:
        raise UnknownNameError(rule, EDGE_RULES, what="edge rule", source="edges")
    if value is None:
        return EDGE_RULES[rule].default
    if rule in ("full", "none"):
        raise ConfigError(f"the edge rule {rule!r} takes no value, got {value!r}", source=source,
                          fix="pass value=None (edge_value=None in a GraphSpec)")
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ConfigError(f"{value!r} is not a finite number", source=source,
                          fix=f"pass a number for the {rule!r} rule (default {EDGE_RULES[rule].default})")
    if rule == "top_k":
        if float(value) != int(value) or int(value) < 1:
            raise ConfigError(f"k={value!r} is not a whole number >= 1", source=source,
                              fix="pass the number of neighbours each node keeps, e.g. 5")
        return int(value)
    if rule == "top_percent" and not 0 < float(value) <= 100:
        raise ConfigError(f"percent={value!r} is outside (0, 100]", source=source,
                          fix="pass the percentage of pairs kept per matrix, e.g. 30")
    if rule == "threshold" and float(value) < 0:
        raise ConfigError(f"threshold={value!r} is negative; the rule compares |r| with it", source=source,
                          fix="pass a threshold >= 0, e.g. 0.3")
    return float(value)


def edge_weights(fc: torch.Tensor, rule: str, value: float | int | None = None, *, binary: bool = True,
                 exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Dense symmetric adjacency ``[..., N, N]`` of every connectivity matrix at once.

    Parameters
    ----------
    fc : torch.Tensor
        Symmetric connectivity ``[..., N, N]`` (floating point; any leading
        dims).  The diagonal is ignored.
    rule : {"top_k", "top_percent", "threshold", "full", "none"}
        The edge rule (see the module description and :data:`EDGE_RULES`).
    value : int or float, optional
        k, percent or threshold; None gives the rule's default (5, 30, 0.3).
    binary : bool
        1.0 for an edge (default) or the correlation as its weight.  ``"full"``
        is always weighted.
    exclude : torch.Tensor, optional
        Bool ``[..., N]`` (broadcastable to ``fc.shape[:-1]``): excluded nodes
        get no edges and do not count in rankings, percentages or pair counts;
        their entries of ``fc`` are never read.

    Returns
    -------
    torch.Tensor
        ``[..., N, N]`` in ``fc``'s dtype, symmetric, zero diagonal, 0 where
        there is no edge.

    Raises
    ------
    UnknownNameError, ConfigError
        Unknown rule or invalid value, ``exclude`` of the wrong shape or dtype.
    DataError
        Non-finite or non-symmetric entries among the pairs of non-excluded nodes.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.edges import edge_weights
    >>> fc = torch.tensor([[1.0, 0.9, 0.1], [0.9, 1.0, -0.5], [0.1, -0.5, 1.0]])
    >>> edge_weights(fc, "top_k", 1)
    tensor([[0., 1., 1.],
            [1., 0., 0.],
            [1., 0., 0.]])
    >>> edge_weights(fc, "threshold", 0.4, binary=False)
    tensor([[ 0.0000,  0.9000,  0.0000],
            [ 0.9000,  0.0000, -0.5000],
            [ 0.0000, -0.5000,  0.0000]])
    """
    value = check_edge_value(rule, value)
    if not isinstance(fc, torch.Tensor) or not fc.is_floating_point() or fc.ndim < 2 \
            or fc.shape[-1] != fc.shape[-2]:
        raise ConfigError(f"fc must be a floating-point tensor [..., N, N], got "
                          f"{type(fc).__name__} {tuple(getattr(fc, 'shape', ()))}", source="fc",
                          fix="pass square connectivity matrices as a float tensor")
    n = fc.shape[-1]
    pairs = _valid_pairs(fc, exclude)
    if rule == "none":
        return torch.zeros_like(fc)
    values = torch.where(pairs, fc, torch.zeros((), dtype=fc.dtype, device=fc.device))
    _check_values(values, pairs)
    if rule == "full":
        return values
    if rule == "threshold":
        keep = pairs & (values.abs() >= value)
    elif rule == "top_k":
        keep = _top_k(values, pairs, min(int(value), max(n - 1, 1)))
    else:
        keep = _top_percent(values, pairs, float(value))
    if binary:
        return keep.to(fc.dtype)
    return torch.where(keep, values, torch.zeros((), dtype=fc.dtype, device=fc.device))


def _valid_pairs(fc: torch.Tensor, exclude: torch.Tensor | None) -> torch.Tensor:
    """Bool ``[..., N, N]``: both ends kept and not the diagonal."""
    n = fc.shape[-1]
    off = ~torch.eye(n, dtype=torch.bool, device=fc.device)
    if exclude is None:
        return off.expand(fc.shape)
    if not isinstance(exclude, torch.Tensor) or exclude.dtype != torch.bool or exclude.shape[-1:] != (n,):
        raise ConfigError(f"exclude must be a bool tensor [..., {n}], got {type(exclude).__name__} "
                          f"{tuple(getattr(exclude, 'shape', ()))} {getattr(exclude, 'dtype', '')}",
                          source="exclude", fix="pass a bool tensor with one entry per node (True = excluded)")
    keep = ~exclude.to(fc.device)
    try:
        return torch.broadcast_to(keep[..., :, None] & keep[..., None, :] & off, fc.shape)
    except RuntimeError as exc:
        raise ConfigError(f"exclude of shape {tuple(exclude.shape)} does not broadcast to the nodes of fc "
                          f"{tuple(fc.shape)}", source="exclude",
                          fix="pass exclude with fc's leading dims and one entry per node") from exc


def _check_values(values: torch.Tensor, pairs: torch.Tensor) -> None:
    if not torch.isfinite(values).all():
        where = torch.nonzero(~torch.isfinite(values))[0].tolist()
        raise DataError(f"the connectivity has a non-finite value at index {where}", source="fc",
                        fix="drop or repair windows with NaN (too few volumes) before building graphs")
    if not torch.equal(values, values.transpose(-1, -2)):
        gap = float((values - values.transpose(-1, -2)).abs().max())
        raise DataError(f"the connectivity is not symmetric (largest |fc - fc.T| = {gap:.3g})", source="fc",
                        fix="symmetrise it, e.g. (fc + fc.transpose(-1, -2)) / 2")


def _first_ties(candidates: torch.Tensor, key: torch.Tensor, cut: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Entries of the last dim with key > cut, plus ties at the cut in index order up to ``count`` in all."""
    above = candidates & (key > cut[..., None])
    ties = candidates & (key == cut[..., None])
    room = count - above.sum(-1)
    return above | (ties & (torch.cumsum(ties.to(torch.int64), -1) <= room[..., None]))


def _ranked(key: torch.Tensor, candidates: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """The ``count`` largest keys among ``candidates`` in the last dim (``count`` per row, ties by index)."""
    size = key.shape[-1]
    kmax = int(count.max()) if count.numel() else 0
    if kmax == 0 or size == 0:
        return torch.zeros_like(candidates)
    ranked = torch.where(candidates, key, torch.full((), -math.inf, dtype=key.dtype, device=key.device))
    top = torch.topk(ranked, min(kmax, size), dim=-1, sorted=True).values
    cut = torch.gather(top, -1, (count.clamp(min=1) - 1).clamp(max=top.shape[-1] - 1)[..., None])[..., 0]
    chosen = _first_ties(candidates, ranked, cut, count)
    return chosen & (count[..., None] > 0)


def _top_k(values: torch.Tensor, pairs: torch.Tensor, k: int) -> torch.Tensor:
    count = torch.clamp(pairs.sum(-1), max=k)
    chosen = _ranked(values, pairs, count) & (values > 0)
    return chosen | chosen.transpose(-1, -2)


def _top_percent(values: torch.Tensor, pairs: torch.Tensor, percent: float) -> torch.Tensor:
    n = values.shape[-1]
    rows, cols = torch.triu_indices(n, n, 1, device=values.device)
    upper, valid = values[..., rows, cols], pairs[..., rows, cols]
    n_pairs = valid.sum(-1)
    # round half up, in float64: 30% of 190 pairs is exactly 57
    count = torch.floor(n_pairs.to(torch.float64) * percent / 100.0 + 0.5).to(torch.int64)
    chosen = _ranked(upper, valid, count) & (upper > 0)
    keep = torch.zeros(values.shape, dtype=torch.bool, device=values.device)
    keep[..., rows, cols] = chosen
    return keep | keep.transpose(-1, -2)
