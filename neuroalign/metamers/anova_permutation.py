"""Permutation p values for the mixed-design ANOVA, as in Feather et al. (2023).

Feather et al. report p values for their human-vs-network ANOVA (observer
type between units, generating layer within) from permutation tests with
10,000 permutations, not from the F distribution.  Their MATLAB functions
(``run_permutation_significance_test_network_human.m`` and
``run_permutation_significance_test_layer_effect_human.m`` in
``jenellefeather/model_metamers_pytorch``) build one null distribution of F per
effect:

* **between** (observer type): the group labels are permuted across *all*
  units (humans and network rows pooled, ``labels(randperm(n))``), the values
  stay; F of the between effect.  That F depends on the unit means only (the
  authors computed it on the unit means; the value is the same).
* **between:within** (the interaction): the group labels are permuted across
  all units as above, *and* each unit's values are shuffled across the levels
  of the within factor, independently for every unit; F of the interaction.
* **within** (layer): each unit's values are shuffled across the levels,
  independently for every unit (their test of the layer effect of the human
  data of HMAX, a one-way repeated-measures ANOVA).  In a mixed design the
  same draws as the interaction are used (labels permuted too), which leaves
  the null of the within effect unchanged.

The p value is the fraction of null F values at least as large as the
observed F, ``p = #{F_null >= F} / n``, and ``1 / n`` when none is (their
printed "0.0001" with 10,000 permutations means "no null F reached the
observed one").  :func:`permutation_anova` does exactly this
(``p_value="feather2023"``) and can instead give the Phipson & Smyth (2010)
``(#{F_null >= F} + 1) / (n + 1)`` (``"plus_one"``), a valid p value for any
number of permutations.  With ``permutations="exact"`` every relabelling (and
every ordering of the levels within every unit) is enumerated once, and
``p = #{F_null >= F} / (number enumerated)``; the identity is among them, so
p is never 0.  A null F counts as "at least as large" when it is within
``100 × machine epsilon × max(F, 1)`` of the observed F, so that relabellings
that leave F unchanged are not lost to rounding (SciPy's ``permutation_test``
rule, with F = 0 covered too).  The F values come from the same code as
:func:`~neuroalign.metamers.anova.mixed_anova`, evaluated for thousands of
relabellings at once.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import xarray as xr

from ..data import provenance
from ..errors import ConfigError, UnknownNameError
from .anova import _group_index, _sums_of_squares, _units, mixed_anova

__all__ = ["permutation_anova", "PERMUTATION_COLUMNS", "P_VALUE_RULES"]

logger = logging.getLogger(__name__)

#: Columns :func:`permutation_anova` adds to the table of :func:`~neuroalign.metamers.anova.mixed_anova`.
PERMUTATION_COLUMNS = ("p_permutation", "n_permutations", "n_null_ge")
#: How the p value is formed from the count ``b`` of null F values at least the observed one, out of ``n``.
P_VALUE_RULES = {
    "feather2023": "b / n, or 1 / n when b = 0 (Feather et al. 2023)",
    "plus_one": "(b + 1) / (n + 1) (Phipson & Smyth 2010)",
}
#: Most relabellings ``permutations="exact"`` enumerates for one effect.
EXACT_LIMIT = 200_000
_CHUNK = 1024  # relabellings evaluated at once (fixed: the draws, hence the results, do not depend on it)
_TIES = 100 * np.finfo(np.float64).eps


def permutation_anova(data: xr.DataArray, *, within: str, subject: str, between: str | None = None,
                      permutations: int | str = 10_000, random_state: int | np.random.Generator = 0,
                      p_value: str = "feather2023", missing: str = "raise") -> pd.DataFrame:
    """Mixed-design ANOVA with permutation p values (Feather et al.'s 2023 scheme).

    Parameters
    ----------
    data, within, subject, between, missing
        As for :func:`~neuroalign.metamers.anova.mixed_anova`, which runs first (same checks, same
        table).
    permutations : int or "exact"
        The number of random relabellings per effect (Feather et al.: 10,000), or ``"exact"`` to
        enumerate every one (at most :data:`EXACT_LIMIT` per effect).
    random_state : int or numpy.random.Generator
        Seed of the draws (``numpy.random.default_rng(random_state)``); a Generator is used as is.
    p_value : {"feather2023", "plus_one"}
        How the count ``b`` of null F values at least the observed F, out of ``n``, becomes a p value:
        ``b / n`` floored at ``1 / n`` (Feather et al.), or ``(b + 1) / (n + 1)``.  Ignored with
        ``permutations="exact"``, where ``p = b / n`` (the identity is one of the ``n``).

    Returns
    -------
    pandas.DataFrame
        The table of :func:`~neuroalign.metamers.anova.mixed_anova` with the columns
        :data:`PERMUTATION_COLUMNS`: ``p_permutation``, ``n_permutations`` (null values drawn for
        that effect) and ``n_null_ge`` (how many were at least the observed F).  Null values that
        are undefined (0/0, a relabelling without any variance in the error term) never count;
        their number is logged.  ``attrs["null_f"]`` maps each source to its null F values (in
        the order drawn); ``attrs["permutation_test"]`` describes the scheme; the provenance
        records the arguments.

    Raises
    ------
    ConfigError
        ``permutations`` is not a positive integer nor ``"exact"``, ``"exact"`` would enumerate
        more than :data:`EXACT_LIMIT` relabellings, or ``random_state`` is neither a non-negative
        integer nor a Generator.
    UnknownNameError
        ``p_value`` is not one of :data:`P_VALUE_RULES`.
    DataError, UnknownNameError
        Bad data or names, as for :func:`~neuroalign.metamers.anova.mixed_anova`.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.metamers.anova_permutation import permutation_anova
    >>> y = np.array([[[.9, .8], [.6, .8], [.3, .9]], [[.8, .9], [.5, .7], [.1, .8]],
    ...               [[1., .9], [.7, .9], [.2, .7]]])                  # 3 participants × 3 layers × 2
    >>> data = xr.DataArray(y, dims=("participant", "layer", "observer_type"),
    ...                     coords={"observer_type": ["human", "network"]})
    >>> table = permutation_anova(data, within="layer", subject="participant", between="observer_type",
    ...                           permutations=200, random_state=0)
    >>> table[["source", "n_permutations"]].values.tolist()
    [['observer_type', 200], ['layer', 200], ['observer_type:layer', 200]]
    >>> bool(table["p_permutation"].between(1 / 200, 1).all())
    True
    """
    exact = _check_permutations(permutations)
    if isinstance(random_state, bool) or not (isinstance(random_state, np.random.Generator) or (
            isinstance(random_state, (int, np.integer)) and random_state >= 0)):
        raise ConfigError(f"random_state must be a non-negative integer or a numpy Generator, got {random_state!r}",
                          source="random_state", fix="pass e.g. random_state=0")
    if p_value not in P_VALUE_RULES:
        raise UnknownNameError(p_value, P_VALUE_RULES, what="p-value rule", source="p_value")
    table = mixed_anova(data, within=within, subject=subject, between=between, missing=missing)
    values, groups, _, _ = _units(data, within=within, subject=subject, between=between)
    keep = ~np.isnan(values).any(axis=1)  # the units mixed_anova kept (it raised or dropped the others)
    values, groups = values[keep], groups[keep]
    group_levels = list(dict.fromkeys(groups.tolist()))
    group_of_unit = _group_index(groups, group_levels)
    observed = table.set_index("source")["f"]
    effects = _effect_names(between, within)
    if exact:
        draws = _exact_draws(group_of_unit, values.shape[1], between is not None)
    else:
        draws = _random_draws(np.random.default_rng(random_state), permutations, group_of_unit, values.shape[1],
                              between is not None)
    null = _null_f(values, group_of_unit, len(group_levels), draws, effects)
    counts, sizes, p = [], [], []
    for source in table["source"]:
        f, n = null[source], len(null[source])
        undefined = int(np.isnan(f).sum())
        if undefined:
            logger.warning("permutation_anova: %d of %d null F values of %r are undefined (no variance in the "
                           "error term) and count as smaller than the observed F", undefined, n, source)
        b = int((f >= observed[source] - _TIES * max(abs(observed[source]), 1.0)).sum())
        counts.append(b)
        sizes.append(n)
        if exact:
            p.append(b / n)
        elif p_value == "feather2023":
            p.append(max(b, 1) / n)
        else:
            p.append((b + 1) / (n + 1))
    table = table.copy()
    table["p_permutation"] = p
    table["n_permutations"] = sizes
    table["n_null_ge"] = counts
    scheme = {
        "between": "group labels permuted across all units",
        "within": "each unit's values shuffled across the within levels (labels permuted too in a mixed design)",
        "interaction": "group labels permuted across all units and each unit's values shuffled across levels",
        "p_value": "b / n (exact enumeration)" if exact else P_VALUE_RULES[p_value],
        "reference": "Feather et al. (2023), run_permutation_significance_test_network_human.m",
    }
    seed = random_state if isinstance(random_state, (int, np.integer)) else type(random_state).__name__
    table.attrs.update({
        "null_f": null,
        "permutation_test": scheme,
        **provenance({"within": within, "subject": subject, "between": between, "missing": missing,
                      "permutations": permutations, "random_state": seed, "p_value": p_value},
                     {"data": data}),
    })
    return table


def _check_permutations(permutations: object) -> bool:
    """True for ``"exact"``; raises unless a positive integer."""
    if isinstance(permutations, str):
        if permutations != "exact":
            raise ConfigError(f"permutations={permutations!r} is neither a number nor 'exact'",
                              source="permutations", fix="pass e.g. permutations=10000, or 'exact'")
        return True
    if isinstance(permutations, bool) or not isinstance(permutations, (int, np.integer)) or permutations < 1:
        raise ConfigError(f"permutations must be a positive integer, got {permutations!r}", source="permutations",
                          fix="pass e.g. permutations=10000 (Feather et al.), or 'exact' for a small design")
    return False


def _effect_names(between: str | None, within: str) -> dict[str, str]:
    names = {"within": within}
    if between is not None:
        names.update({"between": between, "interaction": f"{between}:{within}"})
    return names


def _random_draws(rng: np.random.Generator, n: int, group_of_unit: np.ndarray, k: int,
                  mixed: bool) -> Iterator[tuple[np.ndarray | None, np.ndarray | None, np.ndarray]]:
    """Chunks of (labels for the between null, labels for the interaction null, level orders)."""
    n_units = len(group_of_unit)
    units = np.broadcast_to(np.arange(n_units), (_CHUNK, n_units))
    levels = np.broadcast_to(np.arange(k), (_CHUNK, n_units, k))
    for start in range(0, n, _CHUNK):
        c = min(_CHUNK, n - start)
        labels_between = group_of_unit[rng.permuted(units[:c], axis=1)] if mixed else None
        labels = group_of_unit[rng.permuted(units[:c], axis=1)] if mixed else None
        yield labels_between, labels, rng.permuted(levels[:c], axis=-1)


def _exact_draws(group_of_unit: np.ndarray, k: int,
                 mixed: bool) -> Iterator[tuple[np.ndarray | None, np.ndarray | None, np.ndarray]]:
    """Every distinct labelling (between null) and every labelling × orders of levels (the others)."""
    n_units = len(group_of_unit)
    counts = np.bincount(group_of_unit)
    n_labels = math.factorial(n_units) // math.prod(math.factorial(int(c)) for c in counts) if mixed else 1
    orders = np.asarray(list(itertools.permutations(range(k))))
    n_orders = len(orders) ** n_units
    total = n_labels * n_orders
    if total > EXACT_LIMIT:
        raise ConfigError(f"an exact test would enumerate {total:,} relabellings (limit {EXACT_LIMIT:,})",
                          source="permutations", fix="pass a number of random permutations, e.g. 10000")
    labellings = _labellings(counts) if mixed else np.zeros((1, n_units), dtype=np.int64)
    digits = len(orders) ** np.arange(n_units)
    for start in range(0, total, _CHUNK):
        flat = np.arange(start, min(start + _CHUNK, total))
        first = flat[flat < n_labels]
        between = labellings[first] if mixed and len(first) else None
        order = orders[(flat % n_orders)[:, None] // digits % len(orders)]  # (c, units, k)
        yield between, labellings[flat // n_orders] if mixed else None, order


def _labellings(counts: np.ndarray) -> np.ndarray:
    """All distinct assignments of ``counts[g]`` units to each group g, as (assignments, units)."""
    n_units = int(counts.sum())
    out: list[np.ndarray] = []

    def place(assign: np.ndarray, free: tuple[int, ...], g: int) -> None:
        if g == len(counts) - 1:
            assign = assign.copy()
            assign[list(free)] = g
            out.append(assign)
            return
        for chosen in itertools.combinations(free, int(counts[g])):
            placed = assign.copy()
            placed[list(chosen)] = g
            place(placed, tuple(u for u in free if u not in chosen), g + 1)

    place(np.zeros(n_units, dtype=np.int64), tuple(range(n_units)), 0)
    return np.stack(out)


def _null_f(values: np.ndarray, group_of_unit: np.ndarray, n_groups: int, draws: Iterator, effects: dict[str, str]
            ) -> dict[str, np.ndarray]:
    """Null F values per effect source, from the draws."""
    n_units, k = values.shape
    df_units, p = n_units - n_groups, k - 1
    null: dict[str, list[np.ndarray]] = {name: [] for name in effects.values()}
    with np.errstate(divide="ignore", invalid="ignore"):
        for labels_between, labels, order in draws:
            if labels_between is not None and len(labels_between):
                ss = _sums_of_squares(values, labels_between, n_groups)
                null[effects["between"]].append((ss["between"] / (n_groups - 1)) / (ss["units"] / df_units))
            shuffled = np.take_along_axis(np.broadcast_to(values, order.shape), order, axis=-1)
            ss = _sums_of_squares(shuffled, group_of_unit if labels is None else labels, n_groups)
            ms_error = ss["error"] / (p * df_units)
            null[effects["within"]].append((ss["within"] / p) / ms_error)
            if "interaction" in effects:
                null[effects["interaction"]].append((ss["interaction"] / (p * (n_groups - 1))) / ms_error)
    return {name: np.concatenate(parts) if parts else np.empty(0) for name, parts in null.items()}
