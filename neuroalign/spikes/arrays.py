"""Binned spike arrays as the spike models see them: checked, split by name, neurons last.

The loaders give ``(presentation, neuroid, time_bin)`` arrays of counts
(docs/data-model.md).  The models and the Neural Latents Benchmark metrics
work on numpy arrays with **neurons last**, ``(trial, time, neuron)``; this
module converts both ways, so coordinates survive a round trip through a
model.  Held-out neurons are named by ``neuroid_id`` (or by a boolean
neuroid coordinate such as the simulator's ``held_out``), never by position,
and trials are split by presentation, never by window or bin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..data.schema import validate
from ..errors import AlignmentError, ConfigError, DataError

__all__ = ["DIMS", "check_counts", "neurons_last", "from_neurons_last", "held_out_ids", "split_neurons",
           "select_neurons", "split_trials", "check_sessions", "neuroid_table", "neuroid_labels"]

#: The dims of a binned spike array, in the order the spike models use.
DIMS = ("presentation", "neuroid", "time_bin")


def check_counts(counts: Any, name: str = "counts") -> xr.DataArray:
    """``counts`` as a ``(presentation, neuroid, time_bin)`` array of finite, non-negative counts.

    Raises
    ------
    SchemaError
        Not a data-model array with these three dims (or duplicate ``neuroid_id``).
    DataError
        A bin is NaN, infinite or negative; the message counts them and names the first.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.spikes.arrays import check_counts
    >>> a = create_assembly(np.zeros((2, 3, 4)), stimulus_id=["a", "b"], dims=("presentation", "neuroid", "time_bin"),
    ...                     time_bins=[(0.01 * k, 0.01 * (k + 1)) for k in range(4)])
    >>> check_counts(a.transpose("time_bin", "presentation", "neuroid")).dims
    ('presentation', 'neuroid', 'time_bin')
    """
    validate(counts, dims=DIMS, name=name, allow_nan=True, check_values=False)
    extra = [d for d in counts.dims if d not in DIMS]
    if extra:
        raise DataError(f"binned spikes have the extra dims {extra}", source=name,
                        fix=f"select or stack them away: the spike models take {DIMS}")
    counts = counts.transpose(*DIMS)
    values = np.asarray(counts.values, dtype=float)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        p, n, t = (int(i[0]) for i in np.nonzero(bad))
        what = "NaN" if np.isnan(values[p, n, t]) else repr(float(values[p, n, t]))
        raise DataError(
            f"{int(bad.sum())} bin(s) are NaN, infinite or negative, the first ({what}) at presentation {p} "
            f"(stimulus_id {counts.stimulus_id.values[p]!r}), neuroid {counts.neuroid_id.values[n]!r}, time bin {t}",
            source=name,
            fix="drop those trials or neurons, or load with unobserved='count' if the NaN marks bins outside a "
                "unit's observation intervals")
    return counts


def neurons_last(counts: xr.DataArray) -> np.ndarray:
    """The values of a ``(presentation, neuroid, time_bin)`` array as a float64 ``(trial, time, neuron)`` copy.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.spikes.arrays import neurons_last
    >>> a = xr.DataArray(np.arange(24.).reshape(2, 3, 4), dims=("presentation", "neuroid", "time_bin"))
    >>> neurons_last(a).shape
    (2, 4, 3)
    """
    return np.ascontiguousarray(counts.transpose(*DIMS).values.transpose(0, 2, 1), dtype=np.float64)


def from_neurons_last(values: np.ndarray, like: xr.DataArray, *, neuroids: xr.DataArray | None = None,
                      name: str = "rates", units: str = "counts/bin") -> xr.DataArray:
    """A ``(trial, time, neuron)`` array back in the data model, with ``like``'s presentation and time coords.

    Parameters
    ----------
    values : ndarray (trial, time, neuron)
    like : DataArray
        The ``(presentation, neuroid, time_bin)`` array whose presentation and
        time_bin coordinates the result carries.
    neuroids : DataArray, optional
        An array whose ``neuroid`` dimension (and its coordinates) labels the
        neurons of ``values``, e.g. the training data's neurons.  Default: ``like``'s.
    name, units : str
        The result's name and ``attrs["units"]``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.spikes.arrays import from_neurons_last, neurons_last
    >>> a = create_assembly(np.ones((2, 3, 4)), stimulus_id=["a", "b"], dims=("presentation", "neuroid", "time_bin"),
    ...                     time_bins=[(0.01 * k, 0.01 * (k + 1)) for k in range(4)])
    >>> back = from_neurons_last(neurons_last(a), a)
    >>> back.dims, bool((back == a).all())
    (('presentation', 'neuroid', 'time_bin'), True)
    """
    labels = like if neuroids is None else neuroids
    n_neurons = labels.sizes["neuroid"]
    expected = (like.sizes["presentation"], like.sizes["time_bin"], n_neurons)
    values = np.asarray(values)
    if values.shape != expected:
        raise DataError(f"values of shape {values.shape} do not fit (trial, time, neuron) = {expected}",
                        source=name, fix="pass one value per trial, time bin and neuron")
    coords: dict[str, Any] = {}
    for key, coord in like.coords.items():
        if set(coord.dims) <= {"presentation", "time_bin"}:
            coords[key] = coord
    for key, coord in labels.coords.items():
        if coord.dims == ("neuroid",):
            coords[key] = ("neuroid", coord.values)
    out = xr.DataArray(values.transpose(0, 2, 1), dims=DIMS, coords=coords, name=name)
    out.attrs["units"] = units
    return out


def held_out_ids(counts: xr.DataArray, held_out: Any) -> list[str]:
    """The ``neuroid_id``s named by ``held_out``: a list of ids, or the name of a boolean neuroid coordinate.

    Raises
    ------
    AlignmentError
        An id is not in ``counts`` (examples of missing and available ids are shown).
    ConfigError
        ``held_out`` names a coordinate that is not boolean, or selects no neuron or every neuron.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.spikes.arrays import held_out_ids
    >>> a = xr.DataArray(np.zeros((1, 3, 2)), dims=("presentation", "neuroid", "time_bin"),
    ...                  coords={"neuroid_id": ("neuroid", ["u0", "u1", "u2"]),
    ...                          "held_out": ("neuroid", [False, True, True])})
    >>> held_out_ids(a, "held_out"), held_out_ids(a, ["u2"])
    (['u1', 'u2'], ['u2'])
    """
    ids = [str(i) for i in counts.neuroid_id.values]
    if isinstance(held_out, str):
        if held_out in counts.coords and counts[held_out].dims == ("neuroid",):
            flags = counts[held_out].values
            if flags.dtype != bool:
                raise ConfigError(f"the neuroid coordinate {held_out!r} is not boolean ({flags.dtype})",
                                  source="held_out", fix="pass a boolean coordinate or a list of neuroid_ids")
            chosen = [i for i, flag in zip(ids, flags) if flag]
        else:
            chosen = [held_out]
    elif isinstance(held_out, (Sequence, np.ndarray)) and not isinstance(held_out, (bytes, str)):
        chosen = [str(i) for i in held_out]
    else:
        raise ConfigError(f"held_out must be a list of neuroid_ids or a boolean neuroid coordinate's name, "
                          f"got {held_out!r}", source="held_out", fix="pass e.g. held_out=['u1', 'u2']")
    present = set(ids)
    missing = [i for i in chosen if i not in present]
    if missing:
        raise AlignmentError(f"{len(missing)} held-out neuron(s) are not in the data, e.g. {missing[:5]}",
                             source="held_out", fix=f"pick neuroid_ids of the data, e.g. {ids[:5]}")
    if len(set(chosen)) != len(chosen):
        raise ConfigError("held_out names a neuron twice", source="held_out", fix="name each neuron once")
    if not chosen or len(chosen) == len(ids):
        raise ConfigError(f"held_out selects {len(chosen)} of {len(ids)} neurons", source="held_out",
                          fix="hold out some neurons but not all of them (the model reads the others)")
    return chosen


def split_neurons(counts: xr.DataArray, held_out: Any) -> tuple[xr.DataArray, xr.DataArray]:
    """``(held_in, held_out)`` parts of ``counts``, each in ``counts``' neuron order.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.spikes.arrays import split_neurons
    >>> a = xr.DataArray(np.zeros((1, 3, 2)), dims=("presentation", "neuroid", "time_bin"),
    ...                  coords={"neuroid_id": ("neuroid", ["u0", "u1", "u2"])})
    >>> [part.neuroid_id.values.tolist() for part in split_neurons(a, ["u0"])]
    [['u1', 'u2'], ['u0']]
    """
    out = set(held_out_ids(counts, held_out))
    flags = np.array([str(i) in out for i in counts.neuroid_id.values])
    return counts.isel(neuroid=np.nonzero(~flags)[0]), counts.isel(neuroid=np.nonzero(flags)[0])


def select_neurons(counts: xr.DataArray, ids: Sequence[str], name: str = "counts") -> xr.DataArray:
    """The neurons ``ids`` of ``counts``, in the order of ``ids``.

    Raises
    ------
    AlignmentError
        An id is not in ``counts`` (examples of missing and available ids are shown).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.spikes.arrays import select_neurons
    >>> a = xr.DataArray(np.zeros((1, 3, 2)), dims=("presentation", "neuroid", "time_bin"),
    ...                  coords={"neuroid_id": ("neuroid", ["u0", "u1", "u2"])})
    >>> select_neurons(a, ["u2", "u0"]).neuroid_id.values.tolist()
    ['u2', 'u0']
    """
    position = {str(i): k for k, i in enumerate(counts.neuroid_id.values)}
    missing = [str(i) for i in ids if str(i) not in position]
    if missing:
        raise AlignmentError(f"{len(missing)} neuron(s) are not in {name}, e.g. {missing[:5]}", source=name,
                             fix=f"use neuroid_ids of {name}, e.g. {list(position)[:5]}")
    return counts.isel(neuroid=[position[str(i)] for i in ids])


def split_trials(n_trials: int, fractions: Mapping[str, float], *, random_state: int | np.random.Generator,
                 minimum: int = 2) -> dict[str, np.ndarray]:
    """Trial indices split at random into named parts of the given fractions (each sorted).

    The fractions are rounded to whole trials; the last part takes what is
    left.  Whole trials go to one part only: windows or bins of a trial never
    land on both sides.

    Raises
    ------
    DataError
        A part would get fewer than ``minimum`` trials.

    Examples
    --------
    >>> from neuroalign.spikes.arrays import split_trials
    >>> parts = split_trials(10, {"train": 0.8, "valid": 0.2}, random_state=0)
    >>> [len(p) for p in parts.values()], sorted(set(parts["train"]) | set(parts["valid"])) == list(range(10))
    ([8, 2], True)
    """
    names = list(fractions)
    shares = np.array([float(fractions[k]) for k in names])
    if not names or (shares <= 0).any() or not np.isclose(shares.sum(), 1.0):
        raise ConfigError(f"split fractions {dict(fractions)} must be positive and sum to 1", source="fractions",
                          fix="pass e.g. {'train': 0.8, 'valid': 0.2}")
    sizes = [int(round(n_trials * s)) for s in shares[:-1]]
    sizes.append(n_trials - sum(sizes))
    if min(sizes) < minimum:
        raise DataError(
            f"too few trials for the split: {n_trials} trials give {dict(zip(names, sizes))}, each part needs "
            f"at least {minimum}", source="counts",
            fix=f"use more trials (at least {int(np.ceil(minimum / shares.min()))}) or change the fractions")
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    order = rng.permutation(n_trials)
    bounds = np.cumsum([0] + sizes)
    return {name: np.sort(order[bounds[k]:bounds[k + 1]]) for k, name in enumerate(names)}


def check_sessions(sessions: Any, name: str = "counts") -> dict[str, xr.DataArray]:
    """One or several sessions as ``{session name: checked counts}``, all with the same time bins.

    A single array becomes the session ``"session-0"``.

    Raises
    ------
    DataError
        Two sessions' trials differ in length or bin width (name both and their bins).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.spikes.arrays import check_sessions
    >>> a = create_assembly(np.zeros((2, 3, 4)), stimulus_id=["a", "b"], dims=("presentation", "neuroid", "time_bin"),
    ...                     time_bins=[(0.01 * k, 0.01 * (k + 1)) for k in range(4)])
    >>> list(check_sessions(a)), list(check_sessions({"m1": a, "m2": a}))
    (['session-0'], ['m1', 'm2'])
    """
    if isinstance(sessions, xr.DataArray):
        sessions = {"session-0": sessions}
    if not isinstance(sessions, Mapping) or not sessions:
        raise ConfigError(f"expected a DataArray or a mapping of session names to DataArrays, got "
                          f"{type(sessions).__name__}", source=name, fix="pass counts or {'session': counts, ...}")
    checked = {str(k): check_counts(v, name=f"{name}[{k!r}]") for k, v in sessions.items()}
    first, reference = next(iter(checked.items()))
    widths = _bin_widths(reference)
    for session, counts in checked.items():
        other = _bin_widths(counts)
        if len(other) != len(widths) or not np.allclose(other, widths, rtol=1e-6, atol=1e-9):
            raise DataError(
                f"sessions' trials differ in length: {first!r} has {len(widths)} bins of {_describe(widths)}, "
                f"{session!r} has {len(other)} bins of {_describe(other)}",
                source=f"{name}[{session!r}]",
                fix="bin every session with the same window and bin_size (crop to a common window)")
    return checked


def _bin_widths(counts: xr.DataArray) -> np.ndarray:
    if "time_bin_start" in counts.coords and "time_bin_end" in counts.coords:
        return np.asarray(counts.time_bin_end.values - counts.time_bin_start.values, dtype=float)
    return np.ones(counts.sizes["time_bin"])


def _describe(widths: np.ndarray) -> str:
    unique = np.unique(np.round(widths, 9))
    return f"{unique[0]:g} s" if len(unique) == 1 else f"{unique.min():g}–{unique.max():g} s"


def neuroid_table(counts: xr.DataArray) -> dict[str, list]:
    """The neuroid coordinates of ``counts`` as ``{name: list of plain values}`` (what a weights file can hold).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.spikes.arrays import neuroid_labels, neuroid_table
    >>> a = xr.DataArray(np.zeros((1, 2, 1)), dims=("presentation", "neuroid", "time_bin"),
    ...                  coords={"neuroid_id": ("neuroid", ["u0", "u1"]), "depth": ("neuroid", [10, 20])})
    >>> neuroid_table(a)
    {'neuroid_id': ['u0', 'u1'], 'depth': [10, 20]}
    >>> neuroid_labels(neuroid_table(a)).depth.values.tolist()
    [10, 20]
    """
    table = {}
    for key, coord in counts.coords.items():
        if coord.dims != ("neuroid",):
            continue
        values = coord.values
        if values.dtype.kind in "biuf":
            table[str(key)] = values.tolist()
        else:
            table[str(key)] = [str(v) for v in values]
    return table


def neuroid_labels(table: dict[str, list]) -> xr.DataArray:
    """A ``neuroid``-indexed array carrying the coordinates of :func:`neuroid_table`."""
    n = len(table["neuroid_id"])
    return xr.DataArray(np.zeros(n), dims="neuroid", coords={k: ("neuroid", np.asarray(v)) for k, v in table.items()})
