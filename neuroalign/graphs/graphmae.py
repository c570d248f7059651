"""A masked graph autoencoder (GraphMAE / GraphMAE2 style) on dense dynamic connectivity graphs.

One training step of :meth:`GraphMAE.loss` on connectivity ``fc [B, W, N, N]``:

0. subtract the model's ``reference`` connectivity (a buffer ``[N, N]``, zero
   unless set with :meth:`GraphMAE.set_reference`; :class:`GraphMAEPretrainer`
   sets it to the mean connectivity of the subjects it is fitted on).  Node
   features, edges and targets are then built from each window's deviation
   from the population's connectivity: the part every subject shares (most of
   an FC row's cosine similarity) is no longer what the decoder reconstructs,
   as MAE's normalised-pixel targets do for images;
1. draw a node mask ``[B, W, N]`` from the given :class:`torch.Generator`
   (:func:`~neuroalign.graphs.masking.draw_node_mask`, ``mask_scheme``);
2. build the encoder's input.  With ``leak_fix=True`` (default) it is
   ``spec.build(fc, extra, exclude=mask)``: masked nodes' columns are zeroed in
   the other nodes' FC-row features (their row would otherwise be copied back
   by transposition) and the edge rule runs without them, so nothing of a
   masked node's true connectivity reaches the model.  Masked nodes then have
   no edges of their own: each receives the mean of its window's visible nodes
   (:func:`~neuroalign.graphs.masking.context_adjacency`, weight
   ``1 / n_visible``, in encoder and decoder), plus its ROI embedding and the
   window's temporal context.  With ``leak_fix=False`` it is plain GraphMAE:
   the full graph, masked nodes' features replaced, their edges kept;
3. masked nodes' features become the learnable [MASK] token; the ROI
   embedding is added inside the encoder, after masking;
4. encoder → bias-free linear → re-mask (masked nodes' codes set to zero;
   ``remask=False`` keeps them) → GNN decoder
   (:class:`~neuroalign.graphs.decoder.GINDecoder`);
5. the scaled cosine error ``mean((1 - cos(x̂, x))^γ)`` over masked nodes,
   ``x`` being the node's ORIGINAL features (``spec.build(fc, extra)``: FC row and
   extra statistics).

GraphMAE2's options: ``n_views > 1`` decodes that many views in which a random
``view_remask_rate`` of all nodes get a learnable decoder mask token instead of
their code (instead of the fixed zero re-mask), the losses summed;
``latent_weight > 0`` adds that weight times the scaled cosine error (γ = 1)
between a projector + predictor of the online node codes and a projector of an
EMA target encoder's codes of the unmasked graph, on the masked nodes by default
(``latent_nodes="kept"``: on the visible nodes, as THUDM/GraphMAE2's code does).
Call :meth:`GraphMAE.update_target` after each optimiser step.

Masks (and views) are drawn from the generator passed to :meth:`GraphMAE.loss`
only; dropout, when ``dropout > 0``, draws from torch's global generator.  With
``mask_scheme="window"`` a node masked in one window is visible in the
neighbouring ones, which share most of their volumes when windows overlap; the
temporal model can carry that connectivity across windows.  The default
``"subject"`` masks the same nodes in every window and closes that path too.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..errors import ConfigError, DataError
from ..fitting.base import check_bool, check_choice, check_int, check_number
from .decoder import GINDecoder
from .encoder import EncoderOutput, SpatioTemporalEncoder
from .losses import scaled_cosine_error
from .masking import (MASK_SCHEMES, apply_mask_token, check_generator, context_adjacency, draw_node_mask,
                      mask_count)
from .spec import GraphSpec
from .subject_codes import encoder_codes

__all__ = ["GraphMAE", "MaskedForward", "LATENT_NODES", "mean_connectivity"]

#: Which nodes the latent prediction of GraphMAE2 is scored on.
LATENT_NODES = ("masked", "kept")


class MaskedForward(NamedTuple):
    """One masked forward pass of :class:`GraphMAE` (:meth:`GraphMAE.masked_forward`).

    Attributes
    ----------
    x, adj : torch.Tensor
        The encoder's input: features ``[B, W, N, F]`` (mask token in masked rows) and adjacency.
    encoded : EncoderOutput
        The online encoder's output on them.
    reconstructions : list of torch.Tensor
        The decoder's ``[B, W, N, F]`` output, one per view.
    target : torch.Tensor
        The original node features ``[B, W, N, F]``.
    full_adj : torch.Tensor or None
        The adjacency of the unmasked graph (the EMA target encoder's input), when used.
    """

    x: Tensor
    adj: Tensor
    encoded: EncoderOutput
    reconstructions: list
    target: Tensor
    full_adj: Tensor | None


class GraphMAE(nn.Module):
    """Masked graph autoencoder with a :class:`~neuroalign.graphs.encoder.SpatioTemporalEncoder`.

    Parameters
    ----------
    spec : GraphSpec
        How connectivity becomes node features and edges.
    n_rois : int
        N, the ROIs of every graph.
    n_extra : int
        K, extra node features per ROI (used when the spec has ``"timeseries_stats"``, ignored otherwise).
    hidden, n_layers, roi_embedding, readout, temporal, norm, dropout, temporal_context
        The encoder's (:class:`~neuroalign.graphs.encoder.SpatioTemporalEncoder`).
    mask_ratio : float
        Fraction of nodes masked per window, in (0, 1).
    gamma : float
        γ of the scaled cosine error.
    mask_scheme : {"subject", "window"}
        The same nodes masked in every window of a subject, or new ones per window.
    remask : bool
        Zero masked nodes' codes before the decoder (GraphMAE's re-mask).
    leak_fix : bool
        Hide masked nodes' connectivity from the input (module description).
    n_views : int
        1: GraphMAE's fixed re-mask; more: GraphMAE2's random re-masked views, losses summed.
    view_remask_rate : float
        Fraction of all nodes given the decoder mask token in each view (``n_views > 1``).
    latent_weight : float
        Weight of GraphMAE2's latent prediction (0: off, no target encoder).
    latent_nodes : {"masked", "kept"}
        Nodes the latent prediction is scored on.
    ema_momentum : float
        Momentum of the EMA target encoder, in [0, 1].
    decoder_layers : int
        GIN layers of the decoder.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.graphmae import GraphMAE
    >>> from neuroalign.graphs.spec import GraphSpec
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> a = torch.randn(2, 3, 8, 20)
    >>> fc = torch.nn.functional.normalize(a - a.mean(-1, keepdim=True), dim=-1)
    >>> fc = fc @ fc.transpose(-1, -2)
    >>> fc = torch.triu(fc, 1) + torch.triu(fc, 1).transpose(-1, -2) + torch.eye(8)   # exactly symmetric
    >>> model = GraphMAE(GraphSpec(), n_rois=8, hidden=16)
    >>> loss, parts = model.loss(fc, None, torch.Generator().manual_seed(0))
    >>> loss.shape, sorted(parts)
    (torch.Size([]), ['loss', 'reconstruction'])
    >>> model.encode(fc).windows.shape
    torch.Size([2, 3, 16])
    """

    def __init__(self, spec: GraphSpec, n_rois: int, n_extra: int = 0, *, hidden: int = 64, n_layers: int = 2,
                 roi_embedding: bool = True, readout: str = "mean", temporal: str | None = "transformer",
                 norm: str | None = "layer", dropout: float = 0.0, temporal_context: bool = True,
                 mask_ratio: float = 0.5, gamma: float = 2.0, mask_scheme: str = "subject", remask: bool = True,
                 leak_fix: bool = True, n_views: int = 1, view_remask_rate: float = 0.5, latent_weight: float = 0.0,
                 latent_nodes: str = "masked", ema_momentum: float = 0.996, decoder_layers: int = 1):
        super().__init__()
        if not isinstance(spec, GraphSpec):
            raise ConfigError(f"spec must be a GraphSpec, got {type(spec).__name__}", source="spec",
                              fix="pass neuroalign.graphs.spec.GraphSpec(...)")
        self.spec = spec
        self._features_only = dataclasses.replace(spec, edges="none", edge_value=None)
        self.n_rois = check_int("n_rois", n_rois, minimum=2)
        self.n_extra = check_int("n_extra", n_extra, minimum=0)
        if spec.needs_extra and self.n_extra == 0:
            raise ConfigError("the GraphSpec uses 'timeseries_stats' but n_extra is 0", source="n_extra",
                              fix="pass the number of extra node features (time-series statistics)")
        self.n_features = spec.n_features(self.n_rois, self.n_extra)
        self.mask_ratio = check_number("mask_ratio", mask_ratio, low=0.0, high=1.0, low_open=True, high_open=True)
        mask_count(self.n_rois, self.mask_ratio)
        self.gamma = check_number("gamma", gamma, low=0.0, low_open=True)
        self.mask_scheme = check_choice("mask_scheme", mask_scheme, MASK_SCHEMES)
        self.remask = check_bool("remask", remask)
        self.leak_fix = check_bool("leak_fix", leak_fix)
        self.n_views = check_int("n_views", n_views, minimum=1)
        self.view_remask_rate = check_number("view_remask_rate", view_remask_rate, low=0.0, high=1.0,
                                             low_open=True, high_open=True)
        if self.n_views > 1 and not self.remask:
            raise ConfigError(f"n_views={self.n_views} re-masks random views, which remask=False turns off",
                              source="remask", fix="pass remask=True with n_views > 1, or n_views=1")
        self.latent_weight = check_number("latent_weight", latent_weight, low=0.0)
        self.latent_nodes = check_choice("latent_nodes", latent_nodes, LATENT_NODES)
        self.ema_momentum = check_number("ema_momentum", ema_momentum, low=0.0, high=1.0)
        self.decoder_layers = check_int("decoder_layers", decoder_layers, minimum=1)

        self.encoder = SpatioTemporalEncoder(
            self.n_features, self.n_rois, hidden=hidden, n_layers=n_layers, roi_embedding=roi_embedding,
            readout=readout, temporal=temporal, norm=norm, dropout=dropout, temporal_context=temporal_context)
        width = self.encoder.hidden_size
        # xavier-normal scale of a [1, F] token, as GraphMAE2's enc_mask_token
        self.mask_token = nn.Parameter(torch.randn(self.n_features) * (2.0 / (1 + self.n_features)) ** 0.5)
        self.encoder_to_decoder = nn.Linear(width, width, bias=False)
        self.decoder = GINDecoder(width, self.n_features, self.n_rois, n_layers=self.decoder_layers, norm=norm,
                                  dropout=self.encoder.dropout, roi_embedding=roi_embedding)
        self.decoder_mask_token = (nn.Parameter(torch.randn(width) * (2.0 / (1 + width)) ** 0.5)
                                   if self.n_views > 1 else None)
        if self.latent_weight > 0:
            self.projector = nn.Sequential(nn.Linear(width, 2 * width), nn.PReLU(), nn.Linear(2 * width, width))
            self.predictor = nn.Sequential(nn.PReLU(), nn.Linear(width, width))
            self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
            self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)
        else:
            self.projector = self.predictor = self.target_encoder = self.target_projector = None
        self.register_buffer("reference", torch.zeros(self.n_rois, self.n_rois))

    def set_reference(self, reference: Tensor) -> None:
        """Set the connectivity ``[N, N]`` subtracted from every window before graphs are built."""
        if not isinstance(reference, Tensor) or tuple(reference.shape) != (self.n_rois, self.n_rois) \
                or not bool(torch.isfinite(reference).all()):
            raise DataError(f"the reference must be a finite tensor [{self.n_rois}, {self.n_rois}], got "
                            f"{type(reference).__name__} {tuple(getattr(reference, 'shape', ()))}",
                            source="reference", fix="pass mean_connectivity(fc) of the training subjects")
        if not torch.equal(reference, reference.transpose(0, 1)):
            raise DataError("the reference connectivity is not symmetric", source="reference",
                            fix="pass the mean of symmetric connectivity matrices (mean_connectivity)")
        self.reference.copy_(reference)

    def centred(self, fc: Tensor) -> Tensor:
        """``fc`` minus the reference connectivity (every window's deviation from it)."""
        return fc - self.reference.to(fc.dtype)

    def config(self) -> dict[str, Any]:
        """Every constructor argument but ``spec`` (JSON-able): ``GraphMAE(spec, **model.config())`` rebuilds it."""
        encoder = self.encoder.config()
        for name in ("n_features", "n_rois"):
            encoder.pop(name)
        return {"n_rois": self.n_rois, "n_extra": self.n_extra, **encoder, "mask_ratio": self.mask_ratio,
                "gamma": self.gamma, "mask_scheme": self.mask_scheme, "remask": self.remask,
                "leak_fix": self.leak_fix, "n_views": self.n_views, "view_remask_rate": self.view_remask_rate,
                "latent_weight": self.latent_weight, "latent_nodes": self.latent_nodes,
                "ema_momentum": self.ema_momentum, "decoder_layers": self.decoder_layers}

    # ----------------------------------------------------------------------------------------------- inputs
    def _check(self, fc: Tensor, extra: Tensor | None) -> None:
        if not isinstance(fc, Tensor) or not fc.is_floating_point() or fc.ndim != 4 \
                or tuple(fc.shape[2:]) != (self.n_rois, self.n_rois):
            raise DataError(f"fc must be a floating-point tensor [B, W, {self.n_rois}, {self.n_rois}], got "
                            f"{type(fc).__name__} {tuple(getattr(fc, 'shape', ()))}", source="fc",
                            fix="pass windowed connectivity of the ROI set this model was made for")
        if not bool(torch.isfinite(fc).all()):
            raise DataError("fc has non-finite values", source="fc",
                            fix="drop or repair windows with NaN (too few volumes) before pretraining")
        if self.spec.needs_extra and (not isinstance(extra, Tensor)
                                      or tuple(extra.shape) != (*fc.shape[:3], self.n_extra)):
            raise DataError(f"extra must be a tensor {(*fc.shape[:3], self.n_extra)}, got "
                            f"{type(extra).__name__} {tuple(getattr(extra, 'shape', ()))}", source="extra",
                            fix="pass the extra node features the model was made with")
        if self.spec.needs_extra and not bool(torch.isfinite(extra).all()):
            raise DataError("extra has non-finite values", source="extra",
                            fix="repair or drop the windows whose time-series statistics are NaN")

    def draw_mask(self, fc: Tensor, generator: torch.Generator) -> Tensor:
        """A node mask ``[B, W, N]`` for ``fc`` (``mask_ratio``, ``mask_scheme``), drawn from ``generator`` only."""
        return draw_node_mask(tuple(fc.shape[:3]), self.mask_ratio, self.mask_scheme, generator, device=fc.device)

    def masked_input(self, fc: Tensor, extra: Tensor | None,
                     mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """The encoder's input for ``mask``: ``(x, adj, target, full_adj)``.

        ``x`` has the mask token in masked rows; ``target`` holds the original
        features; ``full_adj`` is the unmasked graph's adjacency, built only when
        it is used (``leak_fix=False`` or latent prediction), None otherwise.
        """
        self._check(fc, extra)
        fc = self.centred(fc)
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != fc.shape[:3]:
            raise DataError(f"mask must be a bool tensor {tuple(fc.shape[:3])}", source="mask",
                            fix="draw it with GraphMAE.draw_mask")
        if self.leak_fix:
            x, adj = self.spec.build(fc, extra, exclude=mask)
            adj = context_adjacency(adj, mask)
            if self.latent_weight > 0:
                target, full_adj = self.spec.build(fc, extra)
            else:   # the features do not depend on the edge rule: skip ranking the full graph's edges
                target, full_adj = self._features_only.build(fc, extra)[0], None
        else:
            target, full_adj = self.spec.build(fc, extra)
            x, adj = target, full_adj
        return apply_mask_token(x, mask, self.mask_token), adj, target, full_adj

    # ------------------------------------------------------------------------------------------- forward
    def masked_forward(self, fc: Tensor, extra: Tensor | None, mask: Tensor,
                       generator: torch.Generator | None = None) -> MaskedForward:
        """Encode the masked graph and decode it (``generator``: needed for ``n_views > 1`` only)."""
        x, adj, target, full_adj = self.masked_input(fc, extra, mask)
        encoded = self.encoder(x, adj)
        codes = self.encoder_to_decoder(encoded.nodes)
        if self.n_views == 1:
            if self.remask:
                codes = codes.masked_fill(mask[..., None], 0.0)
            reconstructions = [self.decoder(codes, adj)]
        else:
            check_generator(generator)
            reconstructions = []
            for _ in range(self.n_views):
                view = draw_node_mask(tuple(mask.shape), self.view_remask_rate, "window", generator,
                                      device=mask.device)
                reconstructions.append(self.decoder(torch.where(view[..., None], self.decoder_mask_token, codes),
                                                    adj))
        return MaskedForward(x, adj, encoded, reconstructions, target, full_adj)

    def loss(self, fc: Tensor, extra: Tensor | None, generator: torch.Generator) -> tuple[Tensor, dict[str, float]]:
        """The pretraining loss of a batch and its parts (``"loss"``, ``"reconstruction"``, ``"latent"``).

        Parameters
        ----------
        fc : torch.Tensor
            Connectivity ``[B, W, N, N]``.
        extra : torch.Tensor or None
            Extra node features ``[B, W, N, K]``.
        generator : torch.Generator
            The only source of the masks' randomness.
        """
        mask = self.draw_mask(fc, check_generator(generator))
        return self.loss_for_mask(fc, extra, mask, generator)

    def loss_for_mask(self, fc: Tensor, extra: Tensor | None, mask: Tensor,
                      generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, float]]:
        """:meth:`loss` for a given node mask ``[B, W, N]``."""
        out = self.masked_forward(fc, extra, mask, generator)
        target = out.target[mask]
        reconstruction = sum(scaled_cosine_error(r[mask], target, self.gamma) for r in out.reconstructions)
        parts = {"reconstruction": float(reconstruction.detach())}
        loss = reconstruction
        if self.latent_weight > 0:
            latent = self._latent_loss(out, mask)
            parts["latent"] = float(latent.detach())
            loss = loss + self.latent_weight * latent
        parts["loss"] = float(loss.detach())
        return loss, parts

    def _latent_loss(self, out: MaskedForward, mask: Tensor) -> Tensor:
        with torch.no_grad():
            target = self.target_projector(self.target_encoder(out.target, out.full_adj).nodes)
        prediction = self.predictor(self.projector(out.encoded.nodes))
        nodes = mask if self.latent_nodes == "masked" else ~mask
        return scaled_cosine_error(prediction[nodes], target[nodes], 1.0)

    @torch.no_grad()
    def update_target(self) -> None:
        """One EMA step of the target encoder and projector: ``θ' ← m θ' + (1 - m) θ``.

        Call it after each optimiser step; a no-op without latent prediction.
        """
        if self.target_encoder is None:
            return
        m = self.ema_momentum
        for online, target in ((self.encoder, self.target_encoder), (self.projector, self.target_projector)):
            for p, q in zip(online.parameters(), target.parameters()):
                q.mul_(m).add_(p.detach(), alpha=1.0 - m)
            for b, c in zip(online.buffers(), target.buffers()):
                c.copy_(b)

    def encode(self, fc: Tensor, extra: Tensor | None = None) -> EncoderOutput:
        """The encoder's output on the unmasked graphs of ``fc`` (what embeddings use).

        Call it under ``torch.no_grad()`` and ``model.eval()`` for embeddings.
        """
        return self.encoder(*self._graphs(fc, extra))

    def codes(self, fc: Tensor, extra: Tensor | None = None, embedding: str = "windows") -> Tensor:
        """The codes a subject embedding summarises (:func:`~neuroalign.graphs.subject_codes.encoder_codes`).

        ``embedding="windows"``: the window codes ``[B, W, H]``; ``"nodes"``: every ROI's code at every
        level ``[B, W, L + 1, N, H]``.  Unmasked graphs, as :meth:`encode`.
        """
        return encoder_codes(self.encoder, *self._graphs(fc, extra), embedding)

    def _graphs(self, fc: Tensor, extra: Tensor | None) -> tuple[Tensor, Tensor]:
        """The unmasked graphs ``(x, adj)`` of ``fc`` (checked, centred on the reference)."""
        self._check(fc, extra)
        return self.spec.build(self.centred(fc), extra)


def mean_connectivity(fc: Tensor) -> Tensor:
    """The mean of connectivity ``[..., N, N]`` over every leading dim, summed in float64.

    Exactly symmetric when every matrix is (each entry is summed on its own,
    in the same order as its mirror).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.graphmae import mean_connectivity
    >>> fc = torch.tensor([[[1.0, 0.2], [0.2, 1.0]], [[1.0, 0.4], [0.4, 1.0]]])
    >>> mean_connectivity(fc)
    tensor([[1.0000, 0.3000],
            [0.3000, 1.0000]])
    """
    if not isinstance(fc, Tensor) or fc.ndim < 2 or fc.shape[-1] != fc.shape[-2]:
        raise DataError(f"fc must be a tensor [..., N, N], got {type(fc).__name__} {tuple(getattr(fc, 'shape', ()))}",
                        source="fc", fix="pass the connectivity of a ConnectivityGraphs (dataset.fc)")
    flat = fc.reshape(-1, *fc.shape[-2:]).to(torch.float64)
    return flat.mean(0).to(fc.dtype)
