"""Activation extraction with forward hooks, into data-model arrays."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from ..data.provenance import hash_array, provenance
from ..data.schema import NEUROID, NEUROID_ID, PRESENTATION, STIMULUS_ID, validate
from ..errors import ExtractionError, UnknownNameError
from .stimuli import StimulusSet

__all__ = ["extract", "resolve_layers"]

log = logging.getLogger(__name__)


def resolve_layers(model: nn.Module, layers: str | Sequence[str]) -> list[str]:
    """Check layer names against ``model.named_modules()``; unknown names raise with close matches."""
    names = [layers] if isinstance(layers, str) else list(layers)
    available = dict(model.named_modules())
    available.pop("", None)
    for name in names:
        if name not in available:
            raise UnknownNameError(name, available, what="layer", source="layers")
    return names


@contextmanager
def _recording(model: nn.Module, layers: Sequence[str]):
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    for name in layers:
        def hook(module, inputs, output, _name=name):
            if not isinstance(output, torch.Tensor):
                raise ExtractionError(
                    f"layer {_name!r} returns a {type(output).__name__}, not a tensor",
                    source="layers", fix="hook a submodule that returns a single tensor",
                )
            outputs[_name] = output.detach()
        handles.append(model.get_submodule(name).register_forward_hook(hook))
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def extract(
    model: nn.Module,
    stimuli: StimulusSet,
    layers: str | Sequence[str],
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    model_name: str | None = None,
    progress: bool = True,
) -> dict[str, xr.DataArray]:
    """Run ``model`` on ``stimuli`` and return each layer's activations.

    The model runs in eval mode under ``torch.no_grad()`` (its training flag is
    restored afterwards).  Each layer becomes one ``(presentation, neuroid)``
    array with the stimuli's ids and metadata on ``presentation`` and, on
    ``neuroid``, ``neuroid_id`` = ``"<model>.<layer>.<index>"`` and the same
    coordinate set for every layer: ``model``, ``layer``, ``channel``, ``row``,
    ``col`` (``row``/``col`` are -1 for non-spatial outputs).

    Parameters
    ----------
    model : torch.nn.Module
    stimuli : StimulusSet
    layers : str or sequence of str
        Names from ``model.named_modules()``.
    batch_size : int
    device, dtype
        Where and in what precision the model runs.
    model_name : str, optional
        Name used in coordinates; defaults to the model's class name.
    progress : bool
        Show a progress bar over batches.

    Returns
    -------
    dict of str to xarray.DataArray

    Raises
    ------
    UnknownNameError
        A layer name is not a submodule (the message lists close matches).
    ExtractionError
        A layer never fires during the forward pass, or returns a non-tensor.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.extract import StimulusSet, extract
    >>> from neuroalign.models import ReferenceNet
    >>> stimuli = StimulusSet.from_arrays(["a", "b"], np.zeros((2, 3, 32, 32)))
    >>> acts = extract(ReferenceNet(seed=0), stimuli, ["block1", "fc"], progress=False)
    >>> acts["fc"].dims, acts["fc"].sizes["neuroid"]
    (('presentation', 'neuroid'), 128)
    """
    names = resolve_layers(model, layers)
    model_name = model_name or type(model).__name__
    was_training = model.training
    model.eval().to(device=device)
    buffers: dict[str, np.ndarray] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    n_batches = -(-len(stimuli) // batch_size)
    try:
        with torch.no_grad(), _recording(model, names) as outputs:
            for rows, batch in tqdm(stimuli.batches(batch_size, dtype=dtype), total=n_batches,
                                    desc=f"extract {model_name}", disable=not progress, leave=False):
                outputs.clear()
                model(batch.to(device))
                for name in names:
                    if name not in outputs:
                        raise ExtractionError(
                            f"layer {name!r} did not run during the forward pass",
                            source="layers", fix="pick a module that forward() calls",
                        )
                    flat = outputs[name].reshape(outputs[name].shape[0], -1).to("cpu", torch.float32).numpy()
                    if name not in buffers:
                        shapes[name] = tuple(outputs[name].shape[1:])
                        buffers[name] = np.empty((len(stimuli), flat.shape[1]), dtype=np.float32)
                    buffers[name][rows] = flat
    finally:
        model.train(was_training)
    params = {"layers": names, "batch_size": batch_size, "dtype": str(dtype), "model": model_name}
    weights = hash_array(np.concatenate([p.detach().cpu().numpy().ravel() for p in model.state_dict().values()])
                         if len(model.state_dict()) else np.zeros(0))
    result = {}
    for name in names:
        array = _to_assembly(buffers[name], shapes[name], stimuli, model_name, name)
        array.attrs.update(provenance(params, {"model_weights": weights}))
        result[name] = validate(array, name=f"layer {name}")
    return result


def _to_assembly(values: np.ndarray, shape: tuple[int, ...], stimuli: StimulusSet, model: str, layer: str) -> xr.DataArray:
    n = values.shape[1]
    index = np.arange(n)
    if len(shape) == 3:
        channel, row, col = np.unravel_index(index, shape)
    elif len(shape) == 1:
        channel, row, col = index, np.full(n, -1), np.full(n, -1)
    else:
        channel, row, col = np.full(n, -1), np.full(n, -1), np.full(n, -1)
    coords = {
        STIMULUS_ID: (PRESENTATION, stimuli.stimulus_ids.to_numpy()),
        NEUROID_ID: (NEUROID, np.char.add(f"{model}.{layer}.", index.astype(str))),
        "model": (NEUROID, np.full(n, model, dtype=object)),
        "layer": (NEUROID, np.full(n, layer, dtype=object)),
        "channel": (NEUROID, channel), "row": (NEUROID, row), "col": (NEUROID, col),
    }
    for column in stimuli.metadata.columns:
        coords[column] = (PRESENTATION, stimuli.metadata[column].to_numpy())
    return xr.DataArray(values, dims=(PRESENTATION, NEUROID), coords=coords, name=layer)
