"""The Neural Latents Benchmark's metrics on labelled arrays: bits per spike, co-bps, fp-bps, PSTH R², decoding R².

Each function gives the number ``nlb_tools.evaluation`` gives (Pei et al. 2021, arXiv:2109.04463) on the
same data, with neurons matched by ``neuroid_id`` rather than by position, presentations checked to be
the same trials, and inputs left untouched (NLB overwrites zero rates in the caller's array).  Rates
are in counts per bin.

- :func:`bits_per_spike`: Poisson log-likelihood gain over each neuron's mean rate, in bits per spike.
- :func:`co_bps`: the same on the held-out neurons (co-smoothing).
- :func:`fp_bps`: the same on the forward-prediction bins.
- :func:`psth_r2`: R² of the per-condition mean predicted rates against the true PSTHs.
- :func:`behaviour_r2`: R² of ridge decoding of behaviour from rates (alpha by 5-fold grid search).
- :func:`evaluate_rates`: the table of one model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import AlignmentError, ConfigError, DataError, SchemaError
from ._poisson import bits_per_spike_mapped
from .arrays import DIMS, held_out_ids
from .decoding import NLB_ALPHAS, r2_uniform, ridge_cv_r2

__all__ = ["bits_per_spike", "co_bps", "fp_bps", "psth_r2", "behaviour_r2", "evaluate_rates"]

PSTH_DIMS = ("condition", "neuroid", "time_bin")
BEHAVIOUR_DIMS = ("presentation", "time_bin", "variable")


def bits_per_spike(rates: xr.DataArray, spikes: xr.DataArray) -> float:
    """Bits per spike of ``rates`` given ``spikes``, as ``nlb_tools.evaluation.bits_per_spike`` computes it.

    ``(NLL_null - NLL_model) / total spikes / ln 2`` with Poisson negative log-likelihoods; the null
    model predicts each neuron's mean count over the evaluated trials and bins.  NaN spike bins are
    dropped (with their rates); a zero rate counts as 1e-9.  Neither input is modified.

    Parameters
    ----------
    rates : DataArray (presentation, neuroid, time_bin)
        Predicted rates in counts per bin, at least 0.
    spikes : DataArray (presentation, neuroid, time_bin)
        Observed counts of the same presentations, time bins and ``neuroid_id``s (any neuron order).

    Returns
    -------
    float

    Raises
    ------
    AlignmentError
        The presentations, time bins or neurons of the two arrays differ.
    DataError
        A rate is negative, NaN or infinite where a spike count was recorded; no spikes at all.

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.metrics import bits_per_spike
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=20, random_state=0)
    >>> bits_per_spike(sim.rates, sim.counts) > 0
    True
    """
    rates, spikes = _pair(rates, spikes)
    _neuron_order(rates, spikes, "rates", "spikes")  # the same neurons (any order)
    return _score(rates, spikes, _ids(spikes, "spikes"))


def co_bps(rates: xr.DataArray, spikes: xr.DataArray, held_out: Any) -> float:
    """Co-smoothing bits per spike: :func:`bits_per_spike` on the held-out neurons.

    Parameters
    ----------
    rates : DataArray (presentation, neuroid, time_bin)
        Rates of (at least) the held-out neurons, counts per bin.
    spikes : DataArray (presentation, neuroid, time_bin)
        Observed counts, including the held-out neurons.
    held_out : list of str or str
        The held-out ``neuroid_id``s, or the name of a boolean neuroid coordinate of ``spikes``
        (e.g. the simulator's ``"held_out"``).

    Returns
    -------
    float

    Raises
    ------
    AlignmentError
        A held-out neuron is missing from ``spikes`` or ``rates``.

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.metrics import co_bps
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=20, random_state=0)
    >>> round(co_bps(sim.rates, sim.counts, "held_out"), 4)
    0.3818
    """
    rates, spikes = _pair(rates, spikes)
    return _score(rates, spikes, held_out_ids(spikes, held_out))


def fp_bps(rates: xr.DataArray, spikes: xr.DataArray, *, start: float | None = None) -> float:
    """Forward-prediction bits per spike: :func:`bits_per_spike` on the forward window's bins.

    Parameters
    ----------
    rates, spikes : DataArray (presentation, neuroid, time_bin)
        Rates predicted for, and counts observed in, the bins after the window the model read.
    start : float, optional
        When given (seconds), only the bins whose ``time_bin_start`` is at or after ``start`` are
        scored, so whole-trial arrays can be passed.

    Returns
    -------
    float

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.metrics import bits_per_spike, fp_bps
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=20, random_state=0)
    >>> forward = sim.counts.time_bin_start >= 0.15
    >>> fp_bps(sim.rates, sim.counts, start=0.15) == bits_per_spike(sim.rates[..., forward], sim.counts[..., forward])
    True
    """
    rates, spikes = _pair(rates, spikes)
    if start is not None:
        if "time_bin_start" not in spikes.coords:
            raise SchemaError("spikes have no time_bin_start coordinate to find the forward bins by",
                              source="spikes", fix="pass the forward bins only and start=None")
        keep = np.nonzero(spikes.time_bin_start.values >= float(start) - 1e-9)[0]
        if keep.size == 0:
            raise DataError(f"no time bin starts at or after {start} s", source="start",
                            fix="pass a start inside the trials")
        if np.array_equal(keep, np.arange(keep[0], keep[0] + keep.size)):
            keep = slice(int(keep[0]), int(keep[0]) + keep.size)  # a view, not a copy
        rates, spikes = rates.isel(time_bin=keep), spikes.isel(time_bin=keep)
    return bits_per_spike(rates, spikes)


def psth_r2(rates: xr.DataArray, psth: xr.DataArray, *, condition: str = "condition") -> float:
    """R² of the per-condition mean of ``rates`` against ``psth``, as ``nlb_tools.evaluation.eval_psth`` (no jitter).

    Each condition's predicted PSTH is the mean of its trials' rates; the rows (condition, time bin)
    of all conditions are stacked and scored with ``sklearn.metrics.r2_score`` (one output per
    neuron, averaged uniformly).  Conditions of ``psth`` without trials are left out, as in NLB;
    time bins where ``psth`` is NaN for every neuron are left out too.

    Parameters
    ----------
    rates : DataArray (presentation, neuroid, time_bin)
        Predicted rates, with a presentation coordinate ``condition``.
    psth : DataArray (condition, neuroid, time_bin)
        The true PSTHs of the same neurons and time bins, with a ``condition`` coordinate.
    condition : str
        The presentation coordinate of ``rates`` that names each trial's condition.

    Returns
    -------
    float

    Raises
    ------
    AlignmentError
        A trial's condition has no PSTH; neurons or time bins differ.

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.metrics import psth_r2
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=20, random_state=0)
    >>> round(psth_r2(sim.rates, sim.psth), 12)
    1.0
    """
    rates = _canonical(rates, "rates")
    psth = _canonical(psth, "psth", PSTH_DIMS)
    if condition not in rates.coords or rates[condition].dims != ("presentation",):
        raise SchemaError(f"rates have no presentation coordinate {condition!r}", source="rates",
                          fix=f"assign each trial's condition: rates.assign_coords({condition}=('presentation', ...))")
    if "condition" not in psth.coords:
        raise SchemaError("psth has no 'condition' coordinate", source="psth",
                          fix="label the PSTHs: psth.assign_coords(condition=[...])")
    _match_time_bins(rates, psth, "rates", "psth")
    order = _neuron_order(rates, psth, "rates", "psth")
    values = rates.values if order is None else rates.values[:, order, :]
    trial_conditions = rates[condition].values
    psth_conditions = psth["condition"].values
    position = {c: k for k, c in enumerate(psth_conditions.tolist())}
    unknown = sorted({c for c in trial_conditions.tolist() if c not in position}, key=str)
    if unknown:
        raise AlignmentError(f"{len(unknown)} condition(s) of the rates have no PSTH, e.g. {unknown[:5]}",
                             source="psth", fix=f"pass PSTHs of every condition; psth has {psth_conditions[:5].tolist()}")
    index = np.array([position[c] for c in trial_conditions.tolist()], dtype=np.intp)
    n_trials = np.bincount(index, minlength=len(psth_conditions))
    indicator = np.zeros((len(psth_conditions), len(index)))
    indicator[index, np.arange(len(index))] = 1.0
    # sum each condition's trials in the values' memory order (a view, never a reshaping copy)
    inner = (1, 2) if values.strides[1] >= values.strides[2] else (2, 1)
    stored = values.transpose(0, *inner)
    sums = (indicator @ stored.reshape(len(index), -1)).reshape((len(psth_conditions),) + stored.shape[1:])
    sums = sums.transpose(0, *np.argsort(inner) + 1)
    has_trials = n_trials > 0
    predicted = sums[has_trials] / n_trials[has_trials, None, None]
    true = psth.values[has_trials]
    missing = np.isnan(true)
    row_missing = missing.all(axis=1)  # (condition, time_bin): no neuron has a PSTH there
    if (missing.any(axis=1) & ~row_missing).any():
        raise DataError("psth is NaN for some neurons but not others at a time bin", source="psth",
                        fix="mark bins outside the trial window NaN for every neuron, or fill the others")
    keep = ~row_missing
    true_rows = true.transpose(0, 2, 1)[keep]  # (row, neuron)
    predicted_rows = predicted.transpose(0, 2, 1)[keep]
    if not np.isfinite(predicted_rows).all():
        raise DataError("rates hold NaN or infinite values within the PSTH's time bins", source="rates",
                        fix="predict finite rates for every bin where the PSTH is defined")
    return r2_uniform(true_rows, predicted_rows)


def behaviour_r2(train_rates: xr.DataArray, train_behaviour: xr.DataArray, eval_rates: xr.DataArray,
                 eval_behaviour: xr.DataArray, *, alphas: Sequence[float] | np.ndarray = NLB_ALPHAS,
                 cv: int = 5) -> float:
    """R² of ridge decoding of behaviour from rates, as ``nlb_tools.evaluation.fit_and_eval_decoder``.

    Every (trial, time bin) is a sample, the neurons are the features.  The ridge's alpha is chosen
    by ``cv``-fold cross-validation on the training samples (scikit-learn's ``GridSearchCV`` over
    ``alphas`` with unshuffled folds, mean fold R²), refitted on all training samples and scored on
    the evaluation samples (R² averaged over the behavioural variables).  Samples whose behaviour is
    NaN in every variable are left out, as in NLB.

    Parameters
    ----------
    train_rates, eval_rates : DataArray (presentation, neuroid, time_bin)
        Rates of the training and evaluation trials (the same ``neuroid_id``s).
    train_behaviour, eval_behaviour : DataArray (presentation, time_bin, variable)
        Behaviour of the same trials and bins.
    alphas : sequence of float
        The ridge penalties searched (NLB: ``np.logspace(-4, 0, 9)``).
    cv : int
        Number of folds.

    Returns
    -------
    float

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.metrics import behaviour_r2
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=20, random_state=0)
    >>> train, test = slice(0, 30), slice(30, 40)
    >>> r2 = behaviour_r2(sim.rates[train], sim.behaviour[train], sim.rates[test], sim.behaviour[test])
    >>> r2 > 0.9
    True
    """
    train_x, train_y = _decoding_samples(train_rates, train_behaviour, "train")
    eval_x, eval_y = _decoding_samples(eval_rates, eval_behaviour, "eval")
    order = _neuron_order(_canonical(eval_rates, "eval_rates"), _canonical(train_rates, "train_rates"),
                          "eval_rates", "train_rates")
    if order is not None:
        eval_x = eval_x[:, order]
    train_vars, eval_vars = _variables(train_behaviour), _variables(eval_behaviour)
    if train_vars is not None and eval_vars is not None and train_vars != eval_vars:
        if sorted(train_vars) != sorted(eval_vars):
            raise AlignmentError(f"behaviour variables differ: train {train_vars[:5]}, eval {eval_vars[:5]}",
                                 source="eval_behaviour", fix="decode the same variables in both")
        eval_y = eval_y[:, [eval_vars.index(v) for v in train_vars]]
    return ridge_cv_r2(train_x, train_y, eval_x, eval_y, alphas=np.asarray(alphas, dtype=float), cv=cv)[0]


def evaluate_rates(rates: xr.DataArray, spikes: xr.DataArray, *, held_out: Any, psth: xr.DataArray | None = None,
                   condition: str = "condition", behaviour: xr.DataArray | None = None,
                   train_rates: xr.DataArray | None = None, train_behaviour: xr.DataArray | None = None,
                   alphas: Sequence[float] | np.ndarray = NLB_ALPHAS, cv: int = 5) -> dict[str, float]:
    """The NLB table of one model on its evaluation trials: co-bps, and PSTH R² and behaviour R² when given.

    Parameters
    ----------
    rates, spikes : DataArray (presentation, neuroid, time_bin)
        The model's rates and the observed counts of the evaluation trials.
    held_out : list of str or str
        The held-out neurons (see :func:`co_bps`).
    psth : DataArray (condition, neuroid, time_bin), optional
        True PSTHs: adds ``"psth_r2"`` (see :func:`psth_r2`; ``condition`` names the trials' coordinate).
    behaviour : DataArray (presentation, time_bin, variable), optional
        The evaluation trials' behaviour: adds ``"behaviour_r2"``, decoded by a ridge fitted on
        ``train_rates`` and ``train_behaviour`` (both needed then).
    alphas, cv
        See :func:`behaviour_r2`.

    Returns
    -------
    dict
        ``{"co_bps": ..., "psth_r2": ..., "behaviour_r2": ...}`` (the last two when asked for).

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.metrics import evaluate_rates
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=20, random_state=0)
    >>> sorted(evaluate_rates(sim.rates, sim.counts, held_out="held_out", psth=sim.psth))
    ['co_bps', 'psth_r2']
    """
    table = {"co_bps": co_bps(rates, spikes, held_out)}
    if psth is not None:
        table["psth_r2"] = psth_r2(rates, psth, condition=condition)
    if behaviour is not None:
        if train_rates is None or train_behaviour is None:
            raise ConfigError("behaviour decoding needs the training trials' rates and behaviour",
                              source="train_rates", fix="pass train_rates= and train_behaviour=, or behaviour=None")
        table["behaviour_r2"] = behaviour_r2(train_rates, train_behaviour, rates, behaviour, alphas=alphas, cv=cv)
    return table


# ---------------------------------------------------------------------------------------------- checks


def _canonical(array: Any, name: str, dims: tuple[str, ...] = DIMS) -> xr.DataArray:
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


def _pair(rates: Any, spikes: Any) -> tuple[xr.DataArray, xr.DataArray]:
    rates, spikes = _canonical(rates, "rates"), _canonical(spikes, "spikes")
    _match_presentations(rates, spikes, "rates", "spikes")
    _match_time_bins(rates, spikes, "rates", "spikes")
    return rates, spikes


def _match_presentations(a: xr.DataArray, b: xr.DataArray, a_name: str, b_name: str) -> None:
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


def _match_time_bins(a: xr.DataArray, b: xr.DataArray, a_name: str, b_name: str) -> None:
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


def _ids(array: xr.DataArray, name: str) -> list[str]:
    ids = [str(i) for i in array.neuroid_id.values]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        twice = [i for i in ids if i in seen or seen.add(i)]
        raise DataError(f"{name} name a neuron twice, e.g. {twice[:3]}", source=name, fix="give unique neuroid_ids")
    return ids


def _neuron_order(source: xr.DataArray, target: xr.DataArray, source_name: str, target_name: str) -> np.ndarray | None:
    """Positions in ``source`` of ``target``'s neurons (None when already in order); both must have one set."""
    mine, theirs = _ids(source, source_name), _ids(target, target_name)
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


def _score(rates: xr.DataArray, spikes: xr.DataArray, ids: list[str]) -> float:
    """Bits per spike of the neurons ``ids``, read from both arrays in place (no copy of the selection)."""
    position = {i: k for k, i in enumerate(_ids(rates, "rates"))}
    missing = [i for i in ids if i not in position]
    if missing:
        raise AlignmentError(f"{len(missing)} neuron(s) to score are not in rates, e.g. {missing[:5]}",
                             source="rates", fix=f"predict every scored neuron; rates have {list(position)[:5]}")
    chosen = dict.fromkeys(ids)
    rows = np.array([position[i] if i in chosen else -1 for i in _ids(spikes, "spikes")], dtype=np.int64)
    return bits_per_spike_mapped(rates.values, spikes.values, rows)


def _variables(behaviour: xr.DataArray) -> list[str] | None:
    if "variable" in behaviour.coords:
        return [str(v) for v in behaviour["variable"].values]
    return None


def _decoding_samples(rates: Any, behaviour: Any, part: str) -> tuple[np.ndarray, np.ndarray]:
    """(sample, neuron) rates and (sample, variable) behaviour, samples = (trial, bin), unobserved ones dropped."""
    rates_name, behaviour_name = f"{part}_rates", f"{part}_behaviour"
    rates = _canonical(rates, rates_name)
    behaviour = _canonical(behaviour, behaviour_name, BEHAVIOUR_DIMS)
    _match_presentations(rates, behaviour, rates_name, behaviour_name)
    _match_time_bins(rates, behaviour, rates_name, behaviour_name)
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
