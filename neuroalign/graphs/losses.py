"""The scaled cosine error of GraphMAE (Hou et al. 2022).

``SCE(x̂, x) = mean_i (1 - cos(x̂_i, x_i))^γ`` over the rows ``i`` (the masked
nodes), γ ≥ 1 down-weighting rows already reconstructed well.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..errors import DataError
from ..fitting.base import check_number

__all__ = ["scaled_cosine_error"]


def scaled_cosine_error(prediction: Tensor, target: Tensor, gamma: float = 2.0) -> Tensor:
    """``mean((1 - cos(prediction_i, target_i)) ** gamma)`` over the rows of ``[M, F]`` tensors.

    Parameters
    ----------
    prediction, target : torch.Tensor
        ``[M, F]`` (any leading dims; the cosine is along the last).
    gamma : float
        The exponent γ > 0 (GraphMAE: 1 to 3).

    Returns
    -------
    torch.Tensor
        A scalar in ``[0, 2 ** gamma]``; a zero row has cosine 0 with anything.

    Raises
    ------
    DataError
        Shapes differ, or there is no row.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.losses import scaled_cosine_error
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    >>> float(scaled_cosine_error(torch.tensor([[2.0, 0.0], [0.0, -1.0]]), x, gamma=2))   # (0 + 2**2) / 2
    2.0
    """
    gamma = check_number("gamma", gamma, low=0.0, low_open=True)
    if prediction.shape != target.shape or prediction.ndim == 0 or prediction[..., 0].numel() == 0:
        raise DataError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} must have the same, "
                        "non-empty shape", source="target", fix="pass the masked nodes' reconstructions and targets")
    cosine = F.cosine_similarity(prediction, target.to(prediction.dtype), dim=-1, eps=1e-8)
    return (1.0 - cosine).clamp(min=0.0).pow(gamma).mean()
