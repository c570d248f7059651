"""Normalising "a mapping of layer name → array" arguments.

Every function that scores several layers at once (:func:`~neuroalign.compare.rsa`,
:func:`~neuroalign.compare.encoding_sweep`, :func:`~neuroalign.compare.compute_rdm`
with a mapping…) takes its layers through :func:`as_layer_mapping`, so that one
DataArray, a ``Dataset`` or a mapping all work the same way, and a list fails
with an error that names the fix.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from ..errors import ConfigError

__all__ = ["LAYER", "as_layer_mapping"]

#: The dim (and neuroid coordinate) that names a model layer.
LAYER = "layer"


def as_layer_mapping(value: object, *, argument: str = "model_data") -> dict[str, xr.DataArray]:
    """Layer name → DataArray, from a mapping, a Dataset or a single DataArray.

    Parameters
    ----------
    value : mapping of str to xarray.DataArray, xarray.Dataset or xarray.DataArray
        - a mapping (``dict``, the output of :func:`neuroalign.extract.extract`)
          or a Dataset: used as it is, in its order;
        - a DataArray with a ``layer`` dim: one entry per label of that dim;
        - any other DataArray: one layer, named by its ``layer`` attribute, else
          the single value of its ``layer`` coordinate (as
          :func:`~neuroalign.extract.extract` writes on ``neuroid``), else its
          ``name``.
    argument : str
        The argument name used in error messages.

    Returns
    -------
    dict of str to xarray.DataArray

    Raises
    ------
    ConfigError
        An empty mapping; a list, tuple or other sequence (the layers would be
        unnamed); a mapping with a key that is not a string or a value that is
        not a DataArray; a single DataArray whose layer name cannot be told.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import as_layer_mapping, create_assembly
    >>> conv1 = create_assembly(np.zeros((3, 2)), stimulus_id=list("abc")).rename("conv1")
    >>> list(as_layer_mapping(conv1))
    ['conv1']
    >>> list(as_layer_mapping({"a": conv1, "b": conv1}))
    ['a', 'b']
    """
    if isinstance(value, xr.DataArray):
        return _from_array(value, argument)
    if isinstance(value, Mapping):  # dict, Dataset, the output of extract()
        return _from_mapping(value, argument)
    if isinstance(value, (list, tuple)):
        items = list(value)
        names = [_layer_name(item) if isinstance(item, xr.DataArray) else None for item in items]
        if names and all(names) and len(set(names)) == len(names):
            example = "{" + ", ".join(f"{n!r}: {argument}[{i}]" for i, n in enumerate(names[:3]))
            example += ", …}" if len(names) > 3 else "}"
        else:
            example = "{'layer1': array1, 'layer2': array2}"
        raise ConfigError(f"got a {type(value).__name__} of {len(items)} item(s), but the layers must be named",
                          source=argument, fix=f"pass a mapping of layer name → DataArray, e.g. {example}")
    raise ConfigError(f"expected a mapping of layer name → xarray.DataArray, got {type(value).__name__}",
                      source=argument,
                      fix="pass {'layer name': array} with arrays from neuroalign.extract.extract or "
                          "neuroalign.data.create_assembly")


def _from_mapping(value: Mapping, argument: str) -> dict[str, xr.DataArray]:
    if len(value) == 0:
        raise ConfigError("the mapping of layers is empty", source=argument, fix="pass at least one layer")
    out: dict[str, xr.DataArray] = {}
    for key, array in value.items():
        if not isinstance(key, str):
            raise ConfigError(f"layer names must be strings, got {key!r} ({type(key).__name__})", source=argument,
                              fix=f"name the layers with strings, e.g. {{{str(key)!r}: array}}")
        if not isinstance(array, xr.DataArray):
            raise ConfigError(f"layer {key!r} is a {type(array).__name__}, not an xarray.DataArray",
                              source=f"{argument}[{key!r}]",
                              fix="wrap plain arrays with neuroalign.data.create_assembly(values, stimulus_id=ids)")
        out[key] = array
    return out


def _from_array(array: xr.DataArray, argument: str) -> dict[str, xr.DataArray]:
    if LAYER in array.dims:
        labels = [str(label) for label in np.asarray(array[LAYER].values)] if LAYER in array.coords \
            else [str(i) for i in range(array.sizes[LAYER])]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"the {LAYER!r} labels of {argument} repeat", source=argument,
                              fix="give each layer a distinct label, or pass a mapping of layer name → array")
        if not labels:
            raise ConfigError(f"{argument} has an empty {LAYER!r} dim", source=argument, fix="pass at least one layer")
        return {label: array.isel({LAYER: i}, drop=True) for i, label in enumerate(labels)}
    name = _layer_name(array)
    if name is None:
        raise ConfigError("got a single DataArray without a layer name (no 'layer' attribute, no single-valued "
                          "'layer' coordinate, no name)", source=argument,
                          fix="pass a mapping such as {'conv1': array}, or name the array with array.rename('conv1')")
    return {name: array}


def _layer_name(array: xr.DataArray) -> str | None:
    """The layer an array holds: its ``layer`` attribute, single ``layer`` coordinate value, or name."""
    attr = array.attrs.get(LAYER)
    if isinstance(attr, str) and attr:
        return attr
    if LAYER in array.coords and LAYER not in array.dims:
        values = np.unique(np.asarray(array[LAYER].values).astype(str))
        if values.size == 1:
            return str(values[0])
    if array.name is not None and str(array.name):
        return str(array.name)
    return None
