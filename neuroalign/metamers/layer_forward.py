"""One layer's activations, with the forward pass stopped right after that layer.

Metamer synthesis evaluates one layer thousands of times; the layers after it
would cost time and compute nothing that is used.  :class:`LayerForward`
resolves the layer name once (with :func:`neuroalign.extract.resolve_layers`,
the toolkit's one way to name layers), registers a forward hook on it, and
ends the forward pass when the layer returns, by raising a private exception
from the hook and catching it.

The activations are the module's output exactly as
:func:`neuroalign.extract.extract` records it (with ``pooling="flatten"``, its
values are ``activations.flatten(1)``), taken from the module's first call in
the pass.

``fake_relu=True`` (for an ``nn.ReLU`` layer only) gives the ReLU's output in
the forward pass and passes the gradient through unchanged, as if the layer
were the identity (the "fake ReLU" of Feather et al. 2023), so that units at
zero still receive gradient.

``memory_format="channels_last"`` runs the model on channels-last copies of the
images, with its 4-d parameters (convolution kernels) stored channels-last
while a ``with`` block of the object runs: their values do not change, only
their memory layout, and each parameter gets its own storage back when the
block ends (also on an error).  The activations are those of the usual layout
up to float rounding; on CPU, oneDNN's convolutions and max-pooling are faster
in this layout on a batch of images.  ``"auto"`` chooses it for a batch of 4-d
images on CPU and a model with frozen convolution kernels
(:meth:`LayerForward.choose_memory_format`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, ExtractionError
from ..extract.layers import LayerSpec, resolve_layers
from ..extract.models import forward_failed
from ..fitting.base import check_choice

__all__ = ["LayerForward", "layer_activations", "FakeReLU", "MEMORY_FORMATS"]

#: ``memory_format`` choices: the images' own layout, channels-last, or channels-last where it helps.
MEMORY_FORMATS = ("contiguous", "channels_last", "auto")


class _Stop(BaseException):
    """Raised by the hook to end the forward pass (a BaseException: a model's ``except Exception`` keeps out)."""


class FakeReLU(torch.autograd.Function):
    """ReLU in the forward pass, the identity in the backward pass.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.layer_forward import FakeReLU
    >>> x = torch.tensor([-1.0, 2.0], requires_grad=True)
    >>> y = FakeReLU.apply(x)
    >>> y.sum().backward()
    >>> y.tolist(), x.grad.tolist()
    ([0.0, 2.0], [1.0, 1.0])
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad


def resolve_one_layer(model: nn.Module, layer: LayerSpec) -> str:
    """The single module name that ``layer`` selects in ``model``.

    Raises
    ------
    UnknownNameError
        The name is not a submodule (the message lists close matches).
    ConfigError
        The spec selects several modules (the message lists them).
    """
    names = resolve_layers(model, layer)
    if len(names) != 1:
        shown = ", ".join(repr(n) for n in names[:10]) + (" …" if len(names) > 10 else "")
        raise ConfigError(f"layer selects {len(names)} modules ({shown}), not one", source="layer",
                          fix="name exactly one module from model.named_modules()")
    return names[0]


class LayerForward:
    """Run a model up to one layer and return that layer's output.

    Parameters
    ----------
    model : torch.nn.Module
    layer : str or layer spec
        Resolved with :func:`neuroalign.extract.resolve_layers`; it must select exactly one module.
    fake_relu : bool
        Replace the layer (an ``nn.ReLU``) by a ReLU whose gradient is the identity.
    memory_format : {"contiguous", "channels_last", "auto"}
        The memory layout the model runs in (the module docstring says how); ``"auto"`` is
        settled by :meth:`choose_memory_format` (``"contiguous"`` until then).

    Notes
    -----
    The hook is registered while the object is used as a context manager (a
    synthesis loop enters it once); a call outside a ``with`` block registers
    it for that call only.  The hook acts only during this object's own calls,
    so other code calling the model inside the block is unaffected.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.layer_forward import LayerForward
    >>> from neuroalign.models import ReferenceNet
    >>> forward = LayerForward(ReferenceNet(seed=0), "block2")
    >>> with forward:
    ...     out = forward(torch.zeros(2, 3, 32, 32))
    >>> tuple(out.shape), forward.layer
    ((2, 32, 8, 8), 'block2')
    """

    def __init__(self, model: nn.Module, layer: LayerSpec, *, fake_relu: bool = False,
                 memory_format: str = "contiguous"):
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model is a {type(model).__name__}, not a torch.nn.Module", source="model",
                              fix="pass a torch module (see neuroalign.extract.load_model for specs)")
        self.model = model
        self.layer = resolve_one_layer(model, layer)
        self.module = model.get_submodule(self.layer)
        self.fake_relu = bool(fake_relu)
        if self.fake_relu and not isinstance(self.module, nn.ReLU):
            raise ConfigError(f"fake_relu needs a ReLU layer, but {self.layer!r} is a {type(self.module).__name__}",
                              source="fake_relu", fix="pass fake_relu=False, or name an nn.ReLU module as the layer")
        self.memory_format = check_choice("memory_format", memory_format, MEMORY_FORMATS)
        self.channels_last = memory_format == "channels_last"
        self._stored: list[tuple[nn.Parameter, torch.Tensor]] = []  # kernels' own storage while channels-last
        self._handles: list[Any] = []
        self._depth = 0  # nested ``with`` blocks: the hook goes when the outermost one ends
        self._armed = False
        self._output: Any = None

    def choose_memory_format(self, images: torch.Tensor) -> bool:
        """Settle ``"auto"`` for ``images``: channels-last for a batch (≥ 2) of 4-d images on CPU and a
        model with 4-d parameters; returns whether the model runs channels-last."""
        if self.memory_format == "auto":
            parameters = list(self.model.parameters())
            self.channels_last = (images.ndim == 4 and images.shape[0] > 1 and images.device.type == "cpu"
                                  and any(p.ndim == 4 for p in parameters)
                                  and not any(p.requires_grad for p in parameters))
            if self._handles:
                self._store_kernels()
        return self.channels_last

    def use_contiguous(self) -> None:
        """Run the model in the images' own layout from now on (e.g. after a channels-last pass failed)."""
        self._restore_kernels()
        self.channels_last = False

    def _store_kernels(self) -> None:
        """Store the 4-d parameters channels-last (same values), keeping their own storage to put back."""
        if not self.channels_last or self._stored:
            return
        trainable = [name for name, p in self.model.named_parameters() if p.requires_grad and p.ndim == 4]
        if trainable:  # a layout change under an optimizer of the model's own parameters is not ours to make
            raise ConfigError(f"memory_format='channels_last' needs frozen kernels; {trainable[0]!r} requires grad",
                              source="memory_format", fix="freeze the model (model.requires_grad_(False)) or pass "
                                                          "memory_format='contiguous'")
        for parameter in self.model.parameters():
            if parameter.ndim == 4:
                self._stored.append((parameter, parameter.data))
                # an explicit channels-last copy: .contiguous() keeps the strides of a kernel with one input
                # channel, which counts as both layouts, and convolutions then keep to the usual layout
                stored = torch.empty_like(parameter.data, memory_format=torch.channels_last)
                parameter.data = stored.copy_(parameter.data)

    def _restore_kernels(self) -> None:
        for parameter, data in reversed(self._stored):
            parameter.data = data
        self._stored.clear()

    # ------------------------------------------------------------------ hooks
    def _pre_hook(self, module: nn.Module, inputs: tuple) -> None:
        if self._armed:  # the fake ReLU replaces the module: computed from its input, the module never runs
            self._output = FakeReLU.apply(inputs[0])
            raise _Stop

    def _hook(self, module: nn.Module, inputs: tuple, output: Any) -> None:
        if self._armed:
            self._output = output
            raise _Stop

    def __enter__(self) -> "LayerForward":
        self._depth += 1
        if not self._handles:
            if self.fake_relu:
                self._handles.append(self.module.register_forward_pre_hook(self._pre_hook))
            else:
                self._handles.append(self.module.register_forward_hook(self._hook))
            try:
                self._store_kernels()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._depth = max(self._depth - 1, 0)
        if not self._depth:
            self.close()

    def close(self) -> None:
        """Remove the hook (whatever the nesting of ``with`` blocks)."""
        self._depth = 0
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._restore_kernels()

    # ------------------------------------------------------------------ calls
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """The layer's output for ``images`` (gradient recorded as the caller's grad mode says)."""
        if not self._handles:
            with self:
                return self(images)
        self._output = None
        self._armed = True
        try:
            self.model(images.contiguous(memory_format=torch.channels_last) if self._stored and images.ndim == 4
                       else images)
        except _Stop:
            pass
        except Exception as exc:  # the model's own code: name the inputs it failed on
            raise _failed(exc, images) from exc
        finally:
            self._armed = False
        output, self._output = self._output, None
        if output is None:
            raise ExtractionError(f"layer {self.layer!r} did not run during the forward pass", source="layer",
                                  fix="pick a module that the model's forward() calls")
        if not isinstance(output, torch.Tensor):
            raise ExtractionError(
                f"layer {self.layer!r} returns a {type(output).__name__}, not a tensor", source="layer",
                fix="pick a module whose output is one tensor (e.g. a submodule of this one)")
        if output.ndim == 0 or output.shape[0] != images.shape[0]:
            raise ExtractionError(
                f"layer {self.layer!r} gives an output of shape {tuple(output.shape)} for {images.shape[0]} images: "
                f"its first axis must be the batch", source="layer", fix="pick a layer whose output is batch-first")
        return output


def _failed(exc: Exception, images: Any) -> ExtractionError:
    """The error for a model that raised ``exc`` on ``images`` (what went in, what torch said)."""
    error = forward_failed(exc, images)
    if "out of memory" in error.problem:
        return ExtractionError(error.problem, source="images", fix="synthesise fewer images at a time")
    return ExtractionError(error.problem, source="images",
                           fix="give the model images of the shape, dtype and device it expects "
                               "(e.g. (N, 3, H, W) float32, resized or cropped to its input size)")


def layer_activations(model: nn.Module, layer: LayerSpec, images: torch.Tensor, *, grad: bool = False,
                      fake_relu: bool = False) -> torch.Tensor:
    """The output of one layer of ``model`` for ``images``; later layers do not run.

    Parameters
    ----------
    model : torch.nn.Module
    layer : str or layer spec
        Must select exactly one module (see :func:`neuroalign.extract.resolve_layers`).
    images : torch.Tensor
        A batch, first axis the images.
    grad : bool
        Record the gradient (``False``: runs under ``torch.no_grad()``).
    fake_relu : bool
        For an ``nn.ReLU`` layer: ReLU forward, identity gradient.

    Returns
    -------
    torch.Tensor
        Shape ``(N, ...)``: the module's output as :func:`neuroalign.extract.extract` records it.

    Raises
    ------
    UnknownNameError
        The layer is not a submodule.
    ConfigError
        The spec selects several modules, or ``fake_relu`` is asked for a module that is not a ReLU.
    ExtractionError
        The layer does not run, returns a tuple (or anything but a tensor), or the model fails on the images.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.layer_forward import layer_activations
    >>> from neuroalign.models import ReferenceNet
    >>> layer_activations(ReferenceNet(seed=0), "block1.1", torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 16, 32, 32])
    """
    forward = LayerForward(model, layer, fake_relu=fake_relu)
    with torch.set_grad_enabled(bool(grad)):
        return forward(images)
