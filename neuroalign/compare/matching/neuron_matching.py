"""Matching the units of two networks' layers (Li et al. 2015, "Convergent learning").

- :func:`one_to_one_matching`: the bipartite matching that maximises the summed correlation of matched
  pairs (each unit used once; :func:`scipy.optimize.linear_sum_assignment`).
- :func:`semi_matching`: each unit of A with its best-correlated unit of B (B's units may repeat).
- :func:`matching_profile`: the mean matched correlation per layer, against a baseline of the same
  matching with B's stimuli shuffled.

Why shuffle stimuli, not units: the one-to-one (or semi-) matching of a correlation matrix does not
change when the units of either layer are reordered (the assignment is reordered with them), so a
unit-permutation baseline would equal the observed value and test nothing.  Shuffling B's stimuli
against A's keeps each layer's own statistics (every unit's distribution, the correlations among units of
one layer) and removes only the stimulus correspondence; the best partner out of many units still
correlates above zero by chance, and the baseline includes exactly that selection bias.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment
from tqdm.auto import tqdm

from ...data.align import align
from ...data.layers import LAYER, as_layer_mapping
from ...data.provenance import provenance
from ...data.schema import NEUROID, NEUROID_ID, PRESENTATION
from ...errors import ConfigError
from ...fitting.base import check_int, resolve_seed
from ...score import Score
from .correlation import as_matrix, unit_correlation

__all__ = ["one_to_one_matching", "semi_matching", "matching_profile", "MATCHINGS"]

MATCH = "match"


def one_to_one_matching(corr: xr.DataArray, *, absolute: bool = False) -> xr.DataArray:
    """The one-to-one matching of units that maximises the summed correlation of the matched pairs.

    Parameters
    ----------
    corr : xarray.DataArray
        A unit correlation matrix ``(neuroid_a, neuroid_b)`` (:func:`~.unit_correlation.unit_correlation`).
    absolute : bool
        Match on ``|r|`` (a unit and its sign-flipped copy count as a match); the returned values keep
        their sign.

    Returns
    -------
    xarray.DataArray
        ``(match,)``: the correlation of each matched pair, in the order of A's units, with coords
        ``neuroid_id_a`` and ``neuroid_id_b``.  With layers of different widths, ``min(n_a, n_b)`` pairs.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.compare.matching.neuron_matching import one_to_one_matching
    >>> corr = xr.DataArray([[0.9, 0.8], [0.85, 0.1]], dims=("neuroid_a", "neuroid_b"),
    ...                     coords={"neuroid_id_a": ("neuroid_a", ["a0", "a1"]),
    ...                             "neuroid_id_b": ("neuroid_b", ["b0", "b1"])})
    >>> m = one_to_one_matching(corr)
    >>> m.neuroid_id_b.values.tolist(), float(m.sum())
    (['b1', 'b0'], 1.65)
    """
    corr = as_matrix(corr)
    values = np.abs(corr.values) if absolute else corr.values
    rows, cols = linear_sum_assignment(values, maximize=True)
    return _matched(corr, rows, cols, "one_to_one")


def semi_matching(corr: xr.DataArray, *, absolute: bool = False) -> xr.DataArray:
    """Each unit of A with its best-correlated unit of B (several A units may share a partner).

    Parameters
    ----------
    corr : xarray.DataArray
        A unit correlation matrix ``(neuroid_a, neuroid_b)``.
    absolute : bool
        Pick the partner by ``|r|``; the returned values keep their sign.

    Returns
    -------
    xarray.DataArray
        ``(match,)``, one per unit of A, with coords ``neuroid_id_a`` and ``neuroid_id_b`` (the partner).

    Examples
    --------
    >>> import xarray as xr
    >>> from neuroalign.compare.matching.neuron_matching import semi_matching
    >>> corr = xr.DataArray([[0.9, 0.8], [0.85, 0.1]], dims=("neuroid_a", "neuroid_b"),
    ...                     coords={"neuroid_id_a": ("neuroid_a", ["a0", "a1"]),
    ...                             "neuroid_id_b": ("neuroid_b", ["b0", "b1"])})
    >>> semi_matching(corr).neuroid_id_b.values.tolist()
    ['b0', 'b0']
    """
    corr = as_matrix(corr)
    values = np.abs(corr.values) if absolute else corr.values
    rows = np.arange(values.shape[0])
    return _matched(corr, rows, values.argmax(axis=1), "semi")


#: The matchings :func:`matching_profile` knows.
MATCHINGS = {"one_to_one": one_to_one_matching, "semi": semi_matching}


def _matched(corr: xr.DataArray, rows: np.ndarray, cols: np.ndarray, kind: str) -> xr.DataArray:
    coords = {f"{NEUROID_ID}_a": (MATCH, corr[f"{NEUROID_ID}_a"].values[rows]),
              f"{NEUROID_ID}_b": (MATCH, corr[f"{NEUROID_ID}_b"].values[cols])}
    return xr.DataArray(corr.values[rows, cols], dims=(MATCH,), coords=coords, name=f"{kind}_matching",
                        attrs={"matching": kind})


def matching_profile(
    layers_a: Mapping[str, xr.DataArray] | xr.Dataset,
    layers_b: Mapping[str, xr.DataArray] | xr.Dataset,
    *,
    matching: Literal["one_to_one", "semi"] = "one_to_one",
    absolute: bool = False,
    n_permutations: int = 100,
    random_state: int | None = 0,
    join: Literal["exact", "inner"] = "exact",
    constant: Literal["raise", "drop"] = "raise",
    progress: bool = True,
) -> Score:
    """Mean matched correlation of each pair of same-named layers, against a stimulus-shuffled baseline.

    Parameters
    ----------
    layers_a, layers_b : mapping or xarray.Dataset
        Layer name → ``(presentation, neuroid)`` activations of two networks over the same stimuli (e.g.
        :func:`neuroalign.extract.extract` of two models).  Layers are paired by name, in ``layers_a``'s
        order; both must hold the same names.
    matching : {"one_to_one", "semi"}
        :func:`one_to_one_matching` or :func:`semi_matching`.
    absolute : bool
        Match on ``|r|``.
    n_permutations : int
        Stimulus shuffles of B for the baseline (at least 1).
    random_state : int or None
        Seeds the shuffles (a ``numpy.random.default_rng``).
    join, constant
        As in :func:`~.unit_correlation.unit_correlation`.
    progress : bool
        Show a progress bar over layers.

    Returns
    -------
    Score
        Value ``(layer,)``: the mean matched correlation.  ``raw`` is a Dataset with ``baseline``
        ``(layer, permutation)`` (the mean matched correlation of each shuffle), ``baseline_mean`` and
        ``p_value`` ``(layer,)`` (the share of shuffles at or above the observed value, ``(1 + k) / (1 + n)``).

    Raises
    ------
    ConfigError
        The two networks name different layers, or an unknown ``matching``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.compare.matching.neuron_matching import matching_profile
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(60, 8))
    >>> ids = [f"s{i}" for i in range(60)]
    >>> a = {"l1": create_assembly(x, stimulus_id=ids)}
    >>> b = {"l1": create_assembly(x[:, ::-1] + 0.1 * rng.normal(size=(60, 8)), stimulus_id=ids)}
    >>> score = matching_profile(a, b, n_permutations=20, progress=False)
    >>> bool(score.values.sel(layer="l1") > 0.9), bool(score.raw.baseline_mean.sel(layer="l1") < 0.5)
    (True, True)
    """
    if matching not in MATCHINGS:
        raise ConfigError(f"unknown matching {matching!r}", source="matching",
                          fix=f"pass one of {sorted(MATCHINGS)}")
    n_permutations = check_int("n_permutations", n_permutations, minimum=1)
    seed = resolve_seed(random_state)
    layers_a = as_layer_mapping(layers_a, argument="layers_a")
    layers_b = as_layer_mapping(layers_b, argument="layers_b")
    if set(layers_a) != set(layers_b):
        raise ConfigError(f"the networks name different layers: {sorted(layers_a)} vs {sorted(layers_b)}",
                          source="layers_b", fix="pass the same layer names for both networks (e.g. rename "
                                                 "the keys of one mapping)")
    rng = np.random.default_rng(seed)
    names = list(layers_a)
    observed, baseline = [], []
    for name in tqdm(names, desc="matching layers", disable=not progress):
        a, b = align(layers_a[name], layers_b[name], join=join, names=(f"layers_a[{name!r}]", f"layers_b[{name!r}]"))
        corr = unit_correlation(a, b, constant=constant)
        observed.append(float(MATCHINGS[matching](corr, absolute=absolute).mean()))
        za = _standardised(a, corr[f"{NEUROID_ID}_a"].values)
        zb = _standardised(b, corr[f"{NEUROID_ID}_b"].values)
        baseline.append([_shuffled_mean(za, zb, rng.permutation(len(zb)), corr, matching, absolute)
                         for _ in range(n_permutations)])
    layer = xr.DataArray(names, dims=(LAYER,))
    value = xr.DataArray(observed, dims=(LAYER,), coords={LAYER: layer})
    null = xr.DataArray(np.array(baseline), dims=(LAYER, "permutation"), coords={LAYER: layer})
    p_value = (1 + (null >= value).sum("permutation")) / (1 + n_permutations)
    raw = xr.Dataset({"baseline": null, "baseline_mean": null.mean("permutation"), "p_value": p_value})
    params = {"matching": matching, "absolute": absolute, "n_permutations": n_permutations, "random_state": seed,
              "join": join, "constant": constant, "baseline": "stimulus shuffle of b"}
    value.attrs.update(provenance(params))
    return Score(value, raw=raw, metric=f"matched-correlation-{matching}", params=params)


def _standardised(array: xr.DataArray, ids: np.ndarray) -> np.ndarray:
    """The units named ``ids`` (those the correlation kept), centred and scaled to unit norm, float64."""
    index = {key: i for i, key in enumerate(
        array[NEUROID_ID].values if NEUROID_ID in array.coords else range(array.sizes[NEUROID]))}
    x = array.transpose(PRESENTATION, NEUROID).values[:, [index[i] for i in ids]].astype(np.float64)
    x -= x.mean(axis=0)
    return x / np.linalg.norm(x, axis=0)


def _shuffled_mean(za: np.ndarray, zb: np.ndarray, order: np.ndarray, corr: xr.DataArray, matching: str,
                   absolute: bool) -> float:
    shuffled = corr.copy(data=np.clip(za.T @ zb[order], -1.0, 1.0))
    return float(MATCHINGS[matching](shuffled, absolute=absolute).mean())

