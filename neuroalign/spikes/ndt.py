"""The Neural Data Transformer (NDT1-style) as a torch module, with per-session adapters.

:class:`MaskedSpikeTransformer` reads binned population counts ``(trial,
time, held-in neuron)`` and returns log-rates ``(trial, time, held-in +
held-out neuron)``.  As in NDT1 (Ye & Pandarinath, 2021,
snel-repo/neural-data-transformers ``src/model.py``) every time bin is one
token holding the held-in population's counts; a learned positional
embedding is added; a bidirectional transformer encoder (no causal mask) mixes
the bins; a linear read-out gives a log-rate per neuron, held-out neurons
included (they are outputs only, never inputs).

Several sessions with different neurons train one model through per-session
linear input and output adapters around the shared positional embedding and
encoder (the idea of NDT2's context tokens and POYO's unit embeddings, in
their simplest form): a session's counts enter through its own
``Linear(n_held_in, d_model)`` and leave through its own
``Linear(d_model, n_held_in + n_held_out)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError, DataError
from ..fitting.base import check_choice, check_int, check_number

__all__ = ["INPUT_TRANSFORMS", "MaskedSpikeTransformer"]

#: How counts are scaled before the input adapter.
INPUT_TRANSFORMS = ("log1p", "none")


class MaskedSpikeTransformer(nn.Module):
    """A bidirectional transformer over time bins with per-session linear input/output adapters.

    Parameters
    ----------
    sessions : sequence of (int, int)
        Per session, its numbers of held-in (input) and held-out (output-only) neurons.
    n_bins : int
        Time bins per trial (the length of the learned positional embedding).
    d_model, n_layers, n_heads, dim_feedforward, dropout
        The encoder's width, depth, attention heads (dividing ``d_model``), feed-forward width and dropout
        (also applied to the embedded tokens).
    input_transform : {"log1p", "none"}
        Counts enter as ``log(1 + n)`` (tames bursts) or as they are.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.spikes.ndt import MaskedSpikeTransformer
    >>> model = MaskedSpikeTransformer([(5, 2), (3, 1)], n_bins=10, d_model=8, n_heads=2)
    >>> model(torch.zeros(4, 10, 5), session=0).shape, model(torch.zeros(4, 10, 3), session=1).shape
    (torch.Size([4, 10, 7]), torch.Size([4, 10, 4]))
    """

    def __init__(self, sessions: Sequence[tuple[int, int]], n_bins: int, *, d_model: int = 64, n_layers: int = 2,
                 n_heads: int = 2, dim_feedforward: int = 128, dropout: float = 0.1,
                 input_transform: str = "log1p"):
        super().__init__()
        sessions = [(check_int("n_held_in", a, minimum=1), check_int("n_held_out", b, minimum=0)) for a, b in sessions]
        check_int("sessions", len(sessions), minimum=1)
        self.n_bins = check_int("n_bins", n_bins, minimum=1)
        self.d_model = check_int("d_model", d_model, minimum=1)
        n_heads = check_int("n_heads", n_heads, minimum=1)
        if d_model % n_heads:
            raise ConfigError(f"n_heads={n_heads} does not divide d_model={d_model}", source="n_heads",
                              fix="pick n_heads among the divisors of d_model")
        self.input_transform = check_choice("input_transform", input_transform, INPUT_TRANSFORMS)
        dropout = check_number("dropout", dropout, low=0, high=1, high_open=True)
        self.sessions = sessions
        self.inputs = nn.ModuleList(nn.Linear(n_in, d_model) for n_in, _ in sessions)
        self.outputs = nn.ModuleList(nn.Linear(d_model, n_in + n_out) for n_in, n_out in sessions)
        self.position = nn.Parameter(torch.randn(self.n_bins, d_model) * 0.02)
        self.embedding_dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=check_int("dim_feedforward",
                                           dim_feedforward, minimum=1), dropout=dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, check_int("n_layers", n_layers, minimum=1),
                                             enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, counts: torch.Tensor, session: int = 0) -> torch.Tensor:
        """Log-rates ``(trial, time, held-in + held-out)`` of session ``session`` from its held-in counts."""
        if counts.ndim != 3 or counts.shape[1] != self.n_bins or counts.shape[2] != self.sessions[session][0]:
            raise DataError(f"expected (trial, {self.n_bins}, {self.sessions[session][0]}) counts for session "
                            f"{session}, got {tuple(counts.shape)}", source="counts",
                            fix="pass the session's held-in counts, neurons last, with the trained number of bins")
        x = torch.log1p(counts) if self.input_transform == "log1p" else counts
        tokens = self.inputs[session](x) * math.sqrt(self.d_model) + self.position
        hidden = self.encoder(self.embedding_dropout(tokens))
        return self.outputs[session](self.norm(hidden))
