"""Inputs of the model observers: features keyed by stimulus_id, their scale, and trial tables.

See :mod:`neuroalign.metamers.observer_models` for the trial-table layout and the units of σ.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data.schema import STIMULUS_ID
from ..errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError
from .decision_rules import TASKS

__all__ = ["OPTIONAL_COLUMNS", "trial_roles", "feature_matrix", "feature_scale", "trial_index"]

#: Trial-table columns the observer reads when present.
OPTIONAL_COLUMNS = ("eccentricity", "condition")
_SCALES = ("rms", "raw")


def trial_roles(task: str, columns: Any) -> tuple[str, ...]:
    """The presentation roles a trial table of ``task`` must have, given its columns.

    Examples
    --------
    >>> from neuroalign.metamers.observer_inputs import trial_roles
    >>> trial_roles("oddity", ["odd", "standard_1", "standard_2", "standard_3"])
    ('odd', 'standard_1', 'standard_2', 'standard_3')
    """
    if task not in TASKS:
        raise UnknownNameError(task, TASKS, what="task", source="task")
    roles = TASKS[task].roles
    if task == "oddity":
        extra = 3
        while f"standard_{extra}" in set(columns):
            extra += 1
        roles = roles + tuple(f"standard_{i}" for i in range(3, extra))
    return roles


def feature_matrix(features: Any) -> tuple[np.ndarray, pd.Index]:
    """The (presentation, neuroid) values and the stimulus ids (as text), checked."""
    if isinstance(features, dict):
        raise ConfigError(f"features is a dict of {len(features)} layers", source="features",
                          fix="pass one layer's DataArray, e.g. features['block3']")
    if not isinstance(features, xr.DataArray):
        raise ConfigError(f"features must be an xarray DataArray, got {type(features).__name__}", source="features",
                          fix="pass a (presentation, neuroid) array, e.g. observer_features(model, stimuli, layer)")
    if set(features.dims) != {"presentation", "neuroid"}:
        raise SchemaError(f"features have dims {features.dims}, not (presentation, neuroid)", source="features",
                          fix="pool or stack extra dims first (e.g. extract(..., pooling='flatten'))")
    if STIMULUS_ID not in features.coords:
        raise SchemaError("features lack the stimulus_id coordinate", source="features",
                          fix="assign_coords(stimulus_id=('presentation', ids))")
    ids = pd.Index([str(v) for v in features[STIMULUS_ID].values])
    if not ids.is_unique:
        raise SchemaError(f"stimulus ids repeat in the features (e.g. {ids[ids.duplicated()][0]!r})",
                          source="features", fix="average repetitions first: features.groupby('stimulus_id').mean()")
    matrix = np.asarray(features.transpose("presentation", "neuroid").values)
    if matrix.dtype.kind not in "iuf":
        raise DataError(f"features hold {matrix.dtype} values, not real numbers", source="features",
                        fix="pass numeric features")
    if not np.isfinite(matrix).all():
        raise DataError("features contain NaN or inf", source="features", fix="drop or fix those units")
    return matrix, ids


def feature_scale(matrix: np.ndarray, feature_scale: Any) -> float:
    """The divisor of the features: their RMS spread (``"rms"``), 1 (``"raw"``) or the number given.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.observer_inputs import feature_scale
    >>> feature_scale(np.array([[0.0, 0.0], [2.0, 2.0]]), "rms")
    1.0
    """
    if isinstance(feature_scale, str):
        if feature_scale not in _SCALES:
            raise UnknownNameError(feature_scale, _SCALES, what="feature scale", source="feature_scale")
        if feature_scale == "raw":
            return 1.0
        total = 0.0
        for start in range(0, matrix.shape[1], 4096):  # float64 by unit blocks: memory bounded
            total += float(np.var(matrix[:, start:start + 4096], axis=0, dtype=np.float64).sum())
        rms = np.sqrt(total / matrix.shape[1])
        if not rms > 0:
            raise DataError("the features are the same for every stimulus: their RMS spread is 0", source="features",
                            fix="pass feature_scale='raw' (σ in feature units) or a positive number")
        return float(rms)
    if isinstance(feature_scale, bool) or not isinstance(feature_scale, (int, float, np.integer, np.floating)) \
            or not np.isfinite(feature_scale) or feature_scale <= 0:
        raise ConfigError(f"feature_scale must be 'rms', 'raw' or a positive number, got {feature_scale!r}",
                          source="feature_scale", fix="pass feature_scale='rms'")
    return float(feature_scale)


def trial_index(trials: Any, task: str, ids: pd.Index) -> tuple[pd.DataFrame, np.ndarray]:
    """The checked trial table (index reset) and the feature row of each presentation, ``(trial, role)``.

    Ids are matched as text, so ``1`` in a CSV matches the id ``"1"``.

    Examples
    --------
    >>> import pandas as pd
    >>> from neuroalign.metamers.observer_inputs import trial_index
    >>> trial_index(pd.DataFrame({"target": ["b"], "match": ["b"], "foil": ["a"]}), "2afc", pd.Index(["a", "b"]))[1]
    array([[1, 1, 0]])
    """
    if not isinstance(trials, pd.DataFrame):
        raise ConfigError(f"trials must be a pandas DataFrame, got {type(trials).__name__}", source="trials",
                          fix="pass a table with one row per trial (e.g. pandas.read_csv(path))")
    roles = trial_roles(task, trials.columns)
    expected = f"task {task!r} needs columns {', '.join(roles)} (optional: {', '.join(OPTIONAL_COLUMNS)})"
    for role in roles:
        if role not in trials.columns:
            raise SchemaError(f"the trial table lacks column {role!r}", source="trials", fix=expected)
    if trials.empty:
        raise DataError("the trial table has no rows", source="trials", fix="pass at least one trial")
    table = trials.reset_index(drop=True)
    values = table[list(roles)]
    if values.isna().any().any():
        role = values.columns[values.isna().any()][0]
        raise DataError(f"column {role!r} has missing stimulus ids", source="trials",
                        fix="give every presentation a stimulus_id")
    text = values.astype(str).to_numpy()
    index = ids.get_indexer(text.ravel()).reshape(text.shape)
    if (index < 0).any():
        unknown = list(dict.fromkeys(text.ravel()[index.ravel() < 0]))
        raise AlignmentError(f"{len(unknown)} stimulus ids of the trial table are not in the features, e.g. "
                             f"{unknown[:5]}", source="trials",
                             fix=f"use ids of the features (e.g. {list(ids[:5])}) or extract these stimuli' features")
    return table, index
