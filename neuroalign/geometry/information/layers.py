"""A layer's information about its inputs and labels, I(X;T) and I(T;Y), on labelled arrays.

:func:`layer_information` takes one layer's ``(presentation, neuroid)``
activations, the class label of each presentation and, for the k-NN
estimator, the inputs, and returns both quantities as a DataArray over a
``quantity`` dim (``"I_XT"``, ``"I_TY"``).  The estimators are named in
:data:`MI_METHODS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import xarray as xr

from ...data.align import align, stimulus_ids
from ...data.provenance import provenance
from ...data.schema import NEUROID, PRESENTATION, label_index, validate
from ...errors import ConfigError, DataError
from ...fitting.base import check_choice
from .binning import binned_information
from .kernel import kde_information
from .ksg import ksg_label_information, ksg_mutual_information

__all__ = ["layer_information", "MI_METHODS", "QUANTITIES", "QUANTITY"]

#: The dim of the two quantities, and their labels: I(X;T) and I(T;Y).
QUANTITY = "quantity"
QUANTITIES = ("I_XT", "I_TY")

#: Estimator name → the options it accepts (with their defaults, documented in the estimator's module).
MI_METHODS: dict[str, dict[str, Any]] = {
    "binning": {"bins": 30, "value_range": None},
    "adaptive-binning": {"bins": 30},
    "kde": {"noise_variance": 0.1, "bound": "upper"},
    "ksg": {"k": 3, "standardize": True, "noise": 1e-10, "random_state": 0},
}


def _labels_of(activations: xr.DataArray, labels: Any) -> np.ndarray:
    """The label of each presentation: a presentation coordinate by name, a labelled array aligned on
    ``stimulus_id``, or a plain sequence in presentation order."""
    if isinstance(labels, str):
        if labels not in activations.coords or activations[labels].dims != (PRESENTATION,):
            raise ConfigError(f"the activations have no presentation coordinate {labels!r}", source="labels",
                              fix="name the presentation coordinate that holds the class labels, e.g. "
                                  "labels='label', or pass the labels as an array")
        return np.asarray(activations[labels].values)
    if isinstance(labels, xr.DataArray) and PRESENTATION in labels.dims:
        _, labels = align(activations, labels, names=("activations", "labels"))
        return np.asarray(labels.values).ravel()
    return np.asarray(labels)


def _inputs_of(activations: xr.DataArray, inputs: xr.DataArray) -> np.ndarray:
    """The inputs as a ``(presentation, features)`` matrix in the activations' presentation order."""
    if not isinstance(inputs, xr.DataArray) or PRESENTATION not in inputs.dims:
        raise ConfigError(f"inputs must be an xarray.DataArray with a {PRESENTATION!r} dim, got "
                          f"{type(inputs).__name__}", source="inputs",
                          fix="pass the stimuli as a DataArray (presentation, ...) with a stimulus_id coordinate")
    validate(inputs, dims=(PRESENTATION,), name="inputs")
    _, inputs = align(activations, inputs, names=("activations", "inputs"))
    inputs = inputs.transpose(PRESENTATION, ...)
    return np.asarray(inputs.values, dtype=float).reshape(inputs.sizes[PRESENTATION], -1)


def _options(method: str, options: Mapping[str, Any]) -> dict[str, Any]:
    accepted = MI_METHODS[method]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"method {method!r} takes no option(s) {unknown}", source=", ".join(unknown),
                          fix=f"pass only {sorted(accepted)} with method={method!r}")
    return {**accepted, **options}


def layer_information(
    activations: xr.DataArray,
    labels: Any = "label",
    *,
    inputs: xr.DataArray | None = None,
    method: Literal["binning", "adaptive-binning", "kde", "ksg"] = "binning",
    units: Literal["nats", "bits"] = "nats",
    **options: Any,
) -> xr.DataArray:
    """I(X;T) and I(T;Y) of one layer's activations T, for inputs X and labels Y.

    Parameters
    ----------
    activations : xarray.DataArray
        ``(presentation, neuroid)`` activations of one layer, one presentation
        per distinct stimulus (unique ``stimulus_id``).
    labels : str or array-like
        The class of each presentation: the name of a presentation coordinate
        (default ``"label"``), a DataArray over ``presentation`` (matched on
        ``stimulus_id``), or a sequence in presentation order.
    inputs : xarray.DataArray, optional
        The stimuli X, ``(presentation, ...)``, matched on ``stimulus_id``.
        Needed by ``method="ksg"``; the other methods take the network as
        deterministic (:math:`I(X;T) = H(T)` of the binned or noisy layer) and
        only check that the inputs match when given.
    method : {"binning", "adaptive-binning", "kde", "ksg"}
        - ``"binning"``: equal-width bins per unit (options ``bins=30``,
          ``value_range=None``; :func:`~.binning.binned_information`);
        - ``"adaptive-binning"``: equal-mass bins per unit (``bins=30``);
        - ``"kde"``: pairwise-distance bound with Gaussian noise
          (``noise_variance=0.1``, ``bound="upper"``; :func:`~.kernel.kde_information`);
        - ``"ksg"``: k-NN estimators, KSG for I(X;T) and Ross's for I(T;Y)
          (``k=3``, ``standardize=True``, ``noise=1e-10``, ``random_state=0``;
          :mod:`~.ksg`).
    units : {"nats", "bits"}
    **options
        The method's options listed above.

    Returns
    -------
    xarray.DataArray
        Dim ``quantity`` labelled ``"I_XT"``, ``"I_TY"``; attributes ``units``,
        ``method`` and provenance.

    Raises
    ------
    ConfigError
        An option the method does not take, a bad option value, a missing
        label coordinate, ``method="ksg"`` without inputs.
    UnknownNameError
        An unknown ``method`` (the error lists the valid names).
    SchemaError, DataError
        Activations off the data model, NaN values, repeated stimuli, too few samples.
    AlignmentError
        Inputs or labels whose ``stimulus_id`` differ from the activations'.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.geometry.information.layers import layer_information
    >>> t = create_assembly(np.array([[0.1], [0.2], [0.9], [0.95]]), stimulus_id=list("abcd"))
    >>> t = t.assign_coords(label=("presentation", [0, 0, 1, 1]))
    >>> info = layer_information(t, method="binning", bins=2, value_range=(0, 1), units="bits")
    >>> info.sel(quantity="I_XT").item(), info.sel(quantity="I_TY").item()
    (1.0, 1.0)
    """
    check_choice("method", method, tuple(MI_METHODS))
    settings = _options(method, options)
    validate(activations, name="activations")
    ids = stimulus_ids(activations, name="activations")
    if not ids.is_unique:
        raise DataError(f"stimulus_id repeats (e.g. {ids[ids.duplicated()].unique()[:3].tolist()}); the "
                        "estimates take one presentation per distinct input", source="activations",
                        fix="average repetitions first with neuroalign.data.average_repetitions(activations)")
    t = np.asarray(activations.transpose(PRESENTATION, NEUROID).values, dtype=float)
    y = _labels_of(activations, labels)
    x = _inputs_of(activations, inputs) if inputs is not None else None
    if method in ("binning", "adaptive-binning"):
        strategy = "fixed" if method == "binning" else "adaptive"
        values = binned_information(t, y, strategy=strategy, units=units, **settings)
    elif method == "kde":
        values = kde_information(t, y, units=units, **settings)
    else:
        if x is None:
            raise ConfigError("method='ksg' estimates I(X;T) from the inputs, and none were given",
                              source="inputs", fix="pass inputs=stimuli (a DataArray over presentation)")
        values = (ksg_mutual_information(x, t, units=units, **settings),
                  ksg_label_information(t, y, units=units, **settings))
    result = xr.DataArray(np.asarray(values, dtype=float), dims=(QUANTITY,),
                          coords={QUANTITY: label_index(QUANTITIES, QUANTITY)}, name="mutual_information")
    inputs_hashed = {"activations": t, **({"inputs": x} if x is not None else {})}
    result.attrs.update(units=units, method=method,
                        **provenance({"method": method, "units": units, **settings}, inputs_hashed))
    return result
