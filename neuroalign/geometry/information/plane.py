"""The information plane: I(X;T) and I(T;Y) of every layer at every training epoch.

Shwartz-Ziv & Tishby (2017) follow each layer of a network through training as
a point :math:`(I(X;T), I(T;Y))`.  :func:`information_plane` takes the layers'
activations saved at each epoch (e.g. :func:`neuroalign.extract.extract` run
after every epoch of a training loop) and returns one labelled array
``(epoch, layer, quantity)``, drawn by
:func:`neuroalign.plot.information_plane.plot_information_plane`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from ...data.layers import LAYER, as_layer_mapping
from ...data.provenance import provenance
from ...data.schema import label_index
from ...errors import ConfigError
from .layers import QUANTITIES, QUANTITY, layer_information

__all__ = ["information_plane", "EPOCH"]

#: The dim of training epochs.
EPOCH = "epoch"


def _epochs(activations: Any) -> tuple[list[Any], list[Any]]:
    """Epoch labels and the layers of each epoch, from a mapping epoch → layers or a sequence of layers."""
    if isinstance(activations, Mapping) and activations and not isinstance(activations, xr.Dataset) and all(
            not isinstance(v, xr.DataArray) for v in activations.values()):
        return list(activations), list(activations.values())
    if isinstance(activations, Sequence) and not isinstance(activations, str) and len(activations) > 0:
        return list(range(len(activations))), list(activations)
    raise ConfigError("expected the activations of each epoch: a mapping epoch → {layer: DataArray} or a list "
                      f"of such mappings, got {type(activations).__name__}"
                      + (" (empty)" if hasattr(activations, "__len__") and len(activations) == 0 else ""),
                      source="activations",
                      fix="collect extract(model, stimuli, layers) after every epoch into a list or "
                          "a dict {epoch: layers}")


def information_plane(
    activations: Mapping[Any, Any] | Sequence[Any],
    labels: Any = "label",
    *,
    inputs: xr.DataArray | None = None,
    method: Literal["binning", "adaptive-binning", "kde", "ksg"] = "binning",
    units: Literal["nats", "bits"] = "nats",
    progress: bool = True,
    **options: Any,
) -> xr.DataArray:
    """I(X;T) and I(T;Y) of each layer at each epoch, as an ``(epoch, layer, quantity)`` array.

    Parameters
    ----------
    activations : mapping or sequence
        The layers at each epoch: a mapping epoch label → layers, or a list of
        layers (epochs labelled 0, 1, …).  The layers of one epoch are anything
        :func:`neuroalign.data.as_layer_mapping` takes (the dict returned by
        :func:`neuroalign.extract.extract`, a Dataset, a DataArray with a
        ``layer`` dim); every epoch must hold the same layers.
    labels, inputs, method, units, **options
        As :func:`~neuroalign.geometry.information.layers.layer_information`,
        the same for every layer and epoch.  With ``method="binning"`` and no
        ``value_range``, each unit's bins span its range at that epoch.
    progress : bool
        Show a progress bar over epochs.

    Returns
    -------
    xarray.DataArray
        Dims ``(epoch, layer, quantity)``, ``quantity`` labelled ``"I_XT"`` and
        ``"I_TY"``; attributes ``units``, ``method`` and provenance.

    Raises
    ------
    ConfigError
        No epochs, or epochs with different layers; and every error of
        ``layer_information``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.geometry.information.plane import information_plane
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1], 50)
    >>> def layer(spread):   # a layer whose class separation grows with training
    ...     values = np.tanh(spread * labels[:, None] + rng.normal(size=(100, 3)))
    ...     return create_assembly(values, stimulus_id=[f"s{i}" for i in range(100)])
    >>> epochs = [{"hidden": layer(0.0)}, {"hidden": layer(4.0)}]
    >>> plane = information_plane(epochs, labels, bins=4, progress=False, units="bits")
    >>> plane.dims, plane.shape
    (('epoch', 'layer', 'quantity'), (2, 1, 2))
    >>> bool(plane.sel(quantity="I_TY")[1, 0] > plane.sel(quantity="I_TY")[0, 0])
    True
    """
    epoch_labels, per_epoch = _epochs(activations)
    layers = [as_layer_mapping(item, argument=f"activations[{label!r}]") for label, item in
              zip(epoch_labels, per_epoch)]
    names = list(layers[0])
    for label, mapping in zip(epoch_labels, layers):
        if list(mapping) != names:
            raise ConfigError(f"epoch {label!r} holds layers {list(mapping)}, epoch {epoch_labels[0]!r} holds "
                              f"{names}", source="activations",
                              fix="extract the same layers, in the same order, at every epoch")
    values = np.empty((len(epoch_labels), len(names), len(QUANTITIES)))
    for e, mapping in enumerate(tqdm(layers, desc="information plane", disable=not progress)):
        for j, name in enumerate(names):
            values[e, j] = layer_information(mapping[name], labels, inputs=inputs, method=method, units=units,
                                             **options).values
    plane = xr.DataArray(values, dims=(EPOCH, LAYER, QUANTITY), name="mutual_information",
                         coords={EPOCH: label_index(epoch_labels, EPOCH), LAYER: label_index(names, LAYER),
                                 QUANTITY: label_index(QUANTITIES, QUANTITY)})
    plane.attrs.update(units=units, method=method,
                       **provenance({"method": method, "units": units, **options},
                                    {f"{label}/{name}": mapping[name].values for label, mapping in
                                     zip(epoch_labels, layers) for name in names}))
    return plane
