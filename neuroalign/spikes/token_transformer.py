"""The transformer of the autoregressive spike-token model (Neuroformer-style).

A window's tokens (:mod:`neuroalign.spikes.tokens`) are embedded as neuron-id
embedding + time-offset embedding + token-position embedding + window-index
embedding, and pass through pre-norm decoder layers: causal self-attention
over the window's tokens, cross-attention to a memory, and a feed-forward
block.  The memory holds the context tokens (the spikes of the bins before the
window: id + context-offset embeddings) and, when given, stimulus and
behaviour tokens (one per time bin of the context and the window, linearly
projected, plus a bin-position and a modality embedding).

The next token is predicted in two steps, so that the product is the exact
joint probability of the token: first its time offset (one of the window's
bins, or END), from the last hidden state; then its neuron id, from the hidden
state plus an embedding of that offset.  (Neuroformer predicts both from the
same state, independently.)  The offset head scores the step from the current
token's bin, and the tokens real windows never hold (an earlier bin; a lower
id in the same bin, since ties are in neuron order) get probability 0, in
training and in sampling alike, so the model's support is exactly the
well-ordered windows.  The loss is the negative log-likelihood of the offsets
(END included) plus that of the ids, each averaged over the batch's tokens,
plus ``contrastive_weight`` times an InfoNCE term aligning the window's
mean-pooled hidden states with its mean-pooled stimulus (and behaviour)
tokens, with ``temperature`` 0.5 as in Neuroformer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SpikeTokenTransformer", "Batch"]

Batch = dict[str, torch.Tensor]


class SpikeTokenTransformer(nn.Module):
    """Causal transformer over a window's spike tokens with cross-attention to context and inputs.

    Parameters
    ----------
    n_neurons, window_bins, context_bins, n_windows : int
        Vocabulary and window sizes; ``n_windows`` windows per trial (the window-index embeddings).
    max_tokens, max_context : int
        The longest token sequence of a window (START and END included) and of a context.
    stimulus_dim, behaviour_dim : int
        Variables per bin of the optional inputs (0: none).
    d_model, n_heads, n_layers, dim_feedforward, dropout
        The transformer's size.
    """

    def __init__(self, n_neurons: int, window_bins: int, context_bins: int, n_windows: int, *, max_tokens: int,
                 max_context: int, stimulus_dim: int = 0, behaviour_dim: int = 0, d_model: int = 64,
                 n_heads: int = 4, n_layers: int = 2, dim_feedforward: int = 128, dropout: float = 0.1):
        super().__init__()
        self.n_neurons, self.window_bins, self.context_bins = n_neurons, window_bins, context_bins
        self.n_windows, self.max_tokens, self.max_context = n_windows, max_tokens, max_context
        self.id_embedding = nn.Embedding(n_neurons + 3, d_model)            # + START, END, PAD
        self.offset_embedding = nn.Embedding(window_bins + 3, d_model)      # + END, START, PAD
        self.context_offset_embedding = nn.Embedding(context_bins + 2, d_model)  # + START, PAD
        self.position_embedding = nn.Embedding(max_tokens, d_model)
        self.window_embedding = nn.Embedding(n_windows, d_model)
        self.next_offset_embedding = nn.Embedding(window_bins + 1, d_model)
        self.bin_embedding = nn.Embedding(context_bins + window_bins, d_model)
        self.modality_embedding = nn.Embedding(3, d_model)                  # context spikes, stimulus, behaviour
        self.inputs = nn.ModuleDict()
        self.alignment = nn.ModuleDict()
        for name, dim in (("stimulus", stimulus_dim), ("behaviour", behaviour_dim)):
            if dim:
                self.inputs[name] = nn.Linear(dim, d_model)
                self.alignment[name] = nn.Linear(d_model, d_model)
        if len(self.inputs):
            self.neural_alignment = nn.Linear(d_model, d_model)
        self.layers = nn.ModuleList(
            nn.TransformerDecoderLayer(d_model, n_heads, dim_feedforward, dropout, batch_first=True, norm_first=True)
            for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.offset_head = nn.Linear(d_model, window_bins + 1)
        self.id_head = nn.Linear(d_model, n_neurons)

    # ------------------------------------------------------------------ encoding

    def memory(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """The cross-attention memory ``(rows, keys, d)``, its padding mask, and each input's pooled features."""
        ids, offsets = batch["context_ids"], batch["context_offsets"]
        parts = [self.id_embedding(ids) + self.context_offset_embedding(offsets) + self.modality_embedding.weight[0]]
        masks = [offsets == self.context_bins + 1]
        pooled = {}
        bins = self.bin_embedding.weight
        for k, name in enumerate(("stimulus", "behaviour"), start=1):
            if name in self.inputs:
                values, valid = batch[name], batch[f"{name}_valid"]              # (rows, bins, dim), (rows, bins)
                tokens = self.inputs[name](values) + bins + self.modality_embedding.weight[k]
                parts.append(tokens)
                masks.append(~valid)
                weight = valid.unsqueeze(-1).to(tokens.dtype)
                pooled[name] = (tokens * weight).sum(1) / weight.sum(1).clamp(min=1)
        return torch.cat(parts, 1), torch.cat(masks, 1), pooled

    def hidden(self, batch: Batch, ids: torch.Tensor, offsets: torch.Tensor,
               memory: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Hidden states ``(rows, length, d)`` of the tokens ``ids``/``offsets`` (each sees itself and earlier ones)."""
        if memory is None:
            memory = self.memory(batch)[:2]
        keys, key_padding = memory
        length = ids.shape[1]
        x = (self.id_embedding(ids) + self.offset_embedding(offsets) + self.position_embedding.weight[:length]
             + self.window_embedding(batch["window"]).unsqueeze(1))
        causal = torch.triu(torch.full((length, length), float("-inf")), diagonal=1)
        padding = offsets == self.window_bins + 2
        for layer in self.layers:
            x = layer(x, keys, tgt_mask=causal, tgt_key_padding_mask=_float_mask(padding),
                      memory_key_padding_mask=_float_mask(key_padding))
        return self.norm(x)

    def offset_log_probs(self, hidden: torch.Tensor, last_offset: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of the next token's offset (the window's bins, then END) after a token in ``last_offset``.

        The head scores the step from the current bin (0 … ``window_bins - 1`` bins later, or END); bins before
        ``last_offset`` (the current token's bin, 0 after START) have probability 0, as in real windows.
        """
        scores = self.offset_head(hidden)                                    # (…, window_bins + 1): steps, END
        bins = torch.arange(self.window_bins)
        step = bins - last_offset.unsqueeze(-1)
        logits = scores[..., :self.window_bins].gather(-1, step.clamp(min=0)).masked_fill(step < 0, float("-inf"))
        return torch.log_softmax(torch.cat([logits, scores[..., self.window_bins:]], -1), -1)

    def id_log_probs(self, hidden: torch.Tensor, next_offset: torch.Tensor, last_offset: torch.Tensor,
                     last_id: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of the next token's neuron id given its bin ``next_offset``.

        In the bin of the current spike (``last_offset``, ``last_id``; ``last_id`` 0 after START) ids below
        ``last_id`` have probability 0, as in real windows (ties are in neuron order).
        """
        logits = self.id_head(hidden + self.next_offset_embedding(next_offset))
        earlier = (next_offset == last_offset).unsqueeze(-1) & (torch.arange(self.n_neurons) < last_id.unsqueeze(-1))
        return torch.log_softmax(logits.masked_fill(earlier, float("-inf")), -1)

    def last_token(self, ids: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(last_offset, last_id)`` of tokens: their bin and id for spikes, 0 and 0 for START."""
        spike = ids < self.n_neurons
        return torch.where(spike, offsets, 0), torch.where(spike, ids, 0)

    # ------------------------------------------------------------------ training

    def loss(self, batch: Batch, *, contrastive_weight: float = 1.0, temperature: float = 0.5
             ) -> tuple[torch.Tensor, dict[str, float]]:
        """Next-token negative log-likelihood (offset and id) plus the weighted InfoNCE alignment; loss and parts."""
        ids, offsets = batch["ids"], batch["offsets"]
        keys, key_padding, pooled = self.memory(batch)
        h = self.hidden(batch, ids[:, :-1], offsets[:, :-1], (keys, key_padding))
        last_offset, last_id = self.last_token(ids[:, :-1], offsets[:, :-1])
        target_offset, target_id = offsets[:, 1:], ids[:, 1:]
        valid = target_offset != self.window_bins + 2                       # spikes and END
        spike = target_id < self.n_neurons
        offset_log_probs = self.offset_log_probs(h[valid], last_offset[valid])
        offset_loss = -offset_log_probs.gather(-1, target_offset[valid].unsqueeze(-1)).mean()
        if spike.any():
            id_log_probs = self.id_log_probs(h[spike], target_offset[spike], last_offset[spike], last_id[spike])
            id_loss = -id_log_probs.gather(-1, target_id[spike].unsqueeze(-1)).mean()
        else:
            id_loss = h.sum() * 0.0
        loss = offset_loss + id_loss
        parts = {"offset_loss": float(offset_loss.detach()), "id_loss": float(id_loss.detach())}
        if pooled:
            weight = valid.unsqueeze(-1).to(h.dtype)
            neural = self.neural_alignment((h * weight).sum(1) / weight.sum(1).clamp(min=1))
            contrastive = sum(info_nce(neural, self.alignment[name](features), temperature)
                              for name, features in pooled.items())
            loss = loss + contrastive_weight * contrastive
            parts["contrastive"] = float(contrastive.detach())
        return loss, parts


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP's loss) of matched rows of ``a`` and ``b`` after L2 normalisation."""
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    target = torch.arange(len(a))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def _float_mask(mask: torch.Tensor) -> torch.Tensor:
    """A boolean padding mask as the additive float mask attention takes (-inf where True)."""
    return torch.zeros(mask.shape).masked_fill(mask, float("-inf"))
