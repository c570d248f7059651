"""What the mutual-information estimators share: checked sample matrices, labels and units."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...errors import ConfigError, DataError

#: The units an estimate can be given in, and the logarithm base of each.
UNITS = {"nats": math.e, "bits": 2.0}


def check_units(units: Any) -> float:
    """The divisor that turns nats into ``units`` (``"nats"`` or ``"bits"``); ConfigError otherwise."""
    if units not in UNITS:
        raise ConfigError(f"units must be 'nats' or 'bits', got {units!r}", source="units",
                          fix="pass units='nats' (natural logarithm) or units='bits' (base 2)")
    return math.log(UNITS[units])


def as_samples(values: Any, name: str, *, minimum: int = 2) -> np.ndarray:
    """``values`` as a float ``(n_samples, n_dims)`` matrix (a 1-D array is one dimension), checked finite.

    Raises
    ------
    DataError
        Not numeric, more than two dimensions, no dimension, fewer than ``minimum`` samples, NaN or inf.
    """
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} is not numeric ({exc})", source=name,
                        fix=f"pass {name} as a numeric (samples, dims) array") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise DataError(f"{name} must be a (samples, dims) array with at least one dim, got shape {array.shape}",
                        source=name, fix=f"reshape {name} to (samples, dims), e.g. values.reshape(len(values), -1)")
    if array.shape[0] < minimum:
        raise DataError(f"{name} has {array.shape[0]} sample(s); the estimate needs at least {minimum}",
                        source=name, fix="pass more samples (presentations)")
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise DataError(f"{name} holds {bad} NaN or infinite value(s)", source=name,
                        fix=f"drop or impute the non-finite values of {name} first")
    return array


def as_labels(labels: Any, n_samples: int, name: str = "labels") -> np.ndarray:
    """Class labels (any hashable values) as integer codes ``0 … n_classes-1``, in sorted label order.

    Raises
    ------
    DataError
        Not one label per sample, or a missing (NaN/None) label.
    """
    array = np.asarray(labels)
    if array.ndim != 1 or array.shape[0] != n_samples:
        raise DataError(f"{name} must hold one label per sample ({n_samples}), got shape {array.shape}",
                        source=name, fix="pass one class label per presentation")
    if (array.dtype.kind == "f" and np.isnan(array).any()) or (array.dtype.kind == "O" and any(
            v is None or (isinstance(v, float) and math.isnan(v)) for v in array)):
        raise DataError(f"{name} holds missing labels (NaN or None)", source=name,
                        fix="drop the unlabelled presentations first")
    return np.unique(array, return_inverse=True)[1].ravel()
