"""The checks and alignment of the NLB metrics' inputs: dims, the same trials and bins, neurons by ``neuroid_id``."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..errors import AlignmentError, DataError, SchemaError
from ._poisson import bits_per_spike_mapped
from .arrays import DIMS

__all__ = ["BEHAVIOUR_DIMS", "PSTH_DIMS", "canonical", "pair", "match_time_bins", "neuron_ids", "neuron_order",
           "score_neurons", "variables", "decoding_samples"]

PSTH_DIMS = ("condition", "neuroid", "time_bin")
BEHAVIOUR_DIMS = ("presentation", "time_bin", "variable")


def canonical(array: Any, name: str, dims: tuple[str, ...] = DIMS) -> xr.DataArray:
    if not isinstance(array, xr.DataArray):
        raise SchemaError(f"{name} must be an xarray.DataArray with dims {dims}, got {type(array).__name__}",
                          source=name, fix="wrap the values with neuroalign.data.create_assembly")
    if set(array.dims) != set(dims) or array.ndim != len(dims):
        raise SchemaError(f"{name} has dims {array.dims}, expected {dims}", source=name,
                          fix=f"transpose or rename its dims to {dims}")
    if "neuroid" in dims and "neuroid_id" not in array.coords:
        raise SchemaError(f"{name} has no neuroid_id coordinate", source=name,
                          fix="label the neurons: array.assign_coords(neuroid_id=('neuroid', ids))")
    return array.transpose(*dims)


def pair(rates: Any, spikes: Any) -> tuple[xr.DataArray, xr.DataArray]:
    rates, spikes = canonical(rates, "rates"), canonical(spikes, "spikes")
    match_presentations(rates, spikes, "rates", "spikes")
    match_time_bins(rates, spikes, "rates", "spikes")
    return rates, spikes


def match_presentations(a: xr.DataArray, b: xr.DataArray, a_name: str, b_name: str) -> None:
    if a.sizes["presentation"] != b.sizes["presentation"]:
        raise AlignmentError(f"{a_name} have {a.sizes['presentation']} presentations but {b_name} "
                             f"{b.sizes['presentation']}", source=a_name,
                             fix=f"pass the {b_name}' trials, in the same order")
    for key, coord in a.coords.items():
        if coord.dims != ("presentation",) or key not in b.coords or b[key].dims != ("presentation",):
            continue
        mine, theirs = coord.values, b[key].values
        differ = np.nonzero(mine != theirs)[0]
        if differ.size:
            examples = ", ".join(f"#{i}: {mine[i:i + 1].tolist()[0]!r} vs {theirs[i:i + 1].tolist()[0]!r}"
                                 for i in differ[:3])
            raise AlignmentError(f"{differ.size} presentation(s) of {a_name} and {b_name} differ in {key} "
                                 f"({examples})", source=a_name,
                                 fix=f"select the same trials in the same order, e.g. {a_name}.sel(...) by {key}")


def match_time_bins(a: xr.DataArray, b: xr.DataArray, a_name: str, b_name: str) -> None:
    if a.sizes["time_bin"] != b.sizes["time_bin"]:
        raise AlignmentError(f"{a_name} have {a.sizes['time_bin']} time bins but {b_name} {b.sizes['time_bin']}",
                             source=a_name, fix="predict the same time bins as the data")
    if "time_bin_start" in a.coords and "time_bin_start" in b.coords:
        mine, theirs = np.asarray(a.time_bin_start.values, float), np.asarray(b.time_bin_start.values, float)
        differ = np.nonzero(~np.isclose(mine, theirs, rtol=0, atol=1e-9))[0]
        if differ.size:
            raise AlignmentError(f"{differ.size} time bin(s) of {a_name} and {b_name} start at different times "
                                 f"(first: bin {differ[0]}, {mine[differ[0]]:g} s vs {theirs[differ[0]]:g} s)",
                                 source=a_name, fix="use the same bins")


def neuron_ids(array: xr.DataArray, name: str) -> list[str]:
    ids = [str(i) for i in array.neuroid_id.values]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        twice = [i for i in ids if i in seen or seen.add(i)]
        raise DataError(f"{name} name a neuron twice, e.g. {twice[:3]}", source=name, fix="give unique neuroid_ids")
    return ids


def neuron_order(source: xr.DataArray, target: xr.DataArray, source_name: str, target_name: str) -> np.ndarray | None:
    """Positions in ``source`` of ``target``'s neurons (None when already in order); both must have one set."""
    mine, theirs = neuron_ids(source, source_name), neuron_ids(target, target_name)
    if mine == theirs:
        return None
    position = {i: k for k, i in enumerate(mine)}
    missing = [i for i in theirs if i not in position]
    extra = sorted(set(mine) - set(theirs))
    if missing or extra:
        raise AlignmentError(f"{source_name} and {target_name} have different neurons: missing from {source_name} "
                             f"{missing[:5]}, not in {target_name} {extra[:5]}", source=source_name,
                             fix="select the same neuroid_ids in both (co_bps selects the held-out ones)")
    return np.array([position[i] for i in theirs], dtype=np.intp)


def score_neurons(rates: xr.DataArray, spikes: xr.DataArray, ids: list[str]) -> float:
    """Bits per spike of the neurons ``ids``, read from both arrays in place (no copy of the selection)."""
    position = {i: k for k, i in enumerate(neuron_ids(rates, "rates"))}
    missing = [i for i in ids if i not in position]
    if missing:
        raise AlignmentError(f"{len(missing)} neuron(s) to score are not in rates, e.g. {missing[:5]}",
                             source="rates", fix=f"predict every scored neuron; rates have {list(position)[:5]}")
    chosen = dict.fromkeys(ids)
    rows = np.array([position[i] if i in chosen else -1 for i in neuron_ids(spikes, "spikes")], dtype=np.int64)
    return bits_per_spike_mapped(rates.values, spikes.values, rows)


def variables(behaviour: xr.DataArray) -> list[str] | None:
    if "variable" in behaviour.coords:
        return [str(v) for v in behaviour["variable"].values]
    return None


def decoding_samples(rates: Any, behaviour: Any, part: str) -> tuple[np.ndarray, np.ndarray]:
    """(sample, neuron) rates and (sample, variable) behaviour, samples = (trial, bin), unobserved ones dropped."""
    rates_name, behaviour_name = f"{part}_rates", f"{part}_behaviour"
    rates = canonical(rates, rates_name)
    behaviour = canonical(behaviour, behaviour_name, BEHAVIOUR_DIMS)
    match_presentations(rates, behaviour, rates_name, behaviour_name)
    match_time_bins(rates, behaviour, rates_name, behaviour_name)
    x = np.asarray(rates.values, dtype=np.float64).transpose(0, 2, 1).reshape(-1, rates.sizes["neuroid"])
    y = np.asarray(behaviour.values, dtype=np.float64).reshape(-1, behaviour.sizes["variable"])
    missing = np.isnan(y)
    if missing.any():
        unobserved = missing.all(axis=1)
        if (missing.any(axis=1) & ~unobserved).any():
            raise DataError(f"{behaviour_name} is NaN in some variables but not others at a sample",
                            source=behaviour_name, fix="mark unobserved samples NaN in every variable")
        x, y = x[~unobserved], y[~unobserved]
    if not np.isfinite(x).all():
        raise DataError(f"{rates_name} hold NaN or infinite values where behaviour is observed", source=rates_name,
                        fix="predict finite rates for every decoded bin")
    if not np.isfinite(y).all():
        raise DataError(f"{behaviour_name} holds infinite values", source=behaviour_name, fix="pass finite behaviour")
    if len(y) == 0:
        raise DataError(f"{behaviour_name} has no observed sample", source=behaviour_name,
                        fix="pass trials with behaviour")
    constant = np.nonzero(y.max(axis=0) == y.min(axis=0))[0]
    if constant.size:  # R² is 0/0 there: scikit-learn's value would be rounding noise
        raise DataError(f"{behaviour_name} variable(s) {constant.tolist()} are constant: R² is undefined",
                        source=behaviour_name, fix="drop constant behavioural variables before decoding")
    return x, y
