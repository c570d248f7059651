"""Mixed-design ANOVA: one between-units factor, one within-units (repeated) factor.

The design of Feather et al. (2023): observer type (human or network) between
units, generating layer within units.  Any number of levels of either factor,
groups of unequal size, and no between factor at all (a one-way
repeated-measures ANOVA) are supported.

What is computed (the univariate tests of the general linear model, as in
MATLAB's ``ranova``, SPSS GLM, JASP and R's ``afex``/``car``):

* **between** (``F = MS_between / MS_units``), **within** and
  **between:within** (both over ``MS_error = SS_error / ((k − 1)(N − g))``),
  for ``N`` units in ``g`` groups and ``k`` within levels.  Sums of squares
  are type III: the within main effect is tested on the *unweighted* mean of
  the group profiles.  With equal group sizes this equals types I and II (and
  pingouin's ``mixed_anova``); with unequal sizes pingouin weights the groups
  by size in the within main effect and the two differ there (the between and
  interaction tests agree).
* **partial η²** = ``SS_effect / (SS_effect + SS_error)``.
* **sphericity**, from the pooled within-group covariance ``S`` of the
  ``k − 1`` orthonormal contrasts of the within factor: Mauchly's ``W`` with
  its χ² test (p value with the second-order term of R's ``mauchly.test``),
  the Greenhouse–Geisser ε (``tr(S)² / ((k − 1) tr(S²))``), the Huynh–Feldt
  ε with Lecoutre's (1991) correction for between groups
  (``((N − g + 1)(k − 1)ε − 2) / ((k − 1)(N − g − (k − 1)ε))``, capped at 1;
  MATLAB's and R's choice) and the lower bound ``1 / (k − 1)``, each with the
  p value it gives.  Between effects need no correction.

These reproduce the F values, p values (uncorrected, GG, HF, lower bound) and
partial η² that Feather et al. printed from MATLAB (``*RESULTS.txt`` of
``jenellefeather/model_metamers_pytorch``; see ``docs/metamers-human-data.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from ..data import provenance
from ..errors import DataError, UnknownNameError

__all__ = ["mixed_anova", "ANOVA_COLUMNS"]

logger = logging.getLogger(__name__)

#: Columns of the table :func:`mixed_anova` returns.
ANOVA_COLUMNS = ("source", "ss", "df1", "df2", "ms", "ss_error", "ms_error", "f", "p", "np2",
                 "eps_gg", "p_gg", "eps_hf", "p_hf", "eps_lb", "p_lb",
                 "mauchly_w", "mauchly_chi2", "mauchly_df", "mauchly_p")


def mixed_anova(data: xr.DataArray, *, within: str, subject: str, between: str | None = None,
                missing: str = "raise") -> pd.DataFrame:
    """Mixed-design (split-plot) ANOVA of a labelled array.

    Parameters
    ----------
    data : xarray.DataArray
        The dependent variable, one value per unit and within level.  Its
        dims are ``subject`` and ``within``, plus ``between`` when the groups
        are a dimension.
    within : str
        The dim of the repeated factor (e.g. ``"layer"``).
    subject : str
        The dim of the units (e.g. ``"participant"``).
    between : str, optional
        The between-units factor, either

        * a **dim** of ``data`` (e.g. ``"observer_type"``): every (subject,
          level) pair is a unit of its own, as when the network's values are
          stacked under the participants' (Feather et al.'s design), or
        * a **coordinate** along ``subject`` giving each unit's group.

        Without it, a one-way repeated-measures ANOVA.
    missing : {"raise", "drop"}
        What a unit with a missing (NaN) value does: ``"raise"`` a
        :class:`~neuroalign.errors.DataError`, or ``"drop"`` the unit from
        every level (listwise deletion, logged and listed in
        ``attrs["dropped_units"]``).

    Returns
    -------
    pandas.DataFrame
        One row per effect: ``between`` (when given), ``within`` and
        ``"<between>:<within>"``, with the columns :data:`ANOVA_COLUMNS`:
        sums of squares ``ss``, degrees of freedom ``df1`` (effect) and
        ``df2`` (error), mean square ``ms``, the effect's error term
        ``ss_error``/``ms_error``, ``f``, uncorrected ``p``, partial η²
        ``np2``; for within effects the Greenhouse–Geisser, Huynh–Feldt and
        lower-bound ε with their p values and Mauchly's test (``mauchly_w``,
        ``mauchly_chi2``, ``mauchly_df``, ``mauchly_p``).  Between effects
        need no sphericity: their ε are 1 and their Mauchly columns NaN.
        ``attrs``: ``design`` (units per group, levels), ``dropped_units``,
        ``sum_of_squares`` and provenance.  pingouin 0.7 calls the columns
        ``DF1``, ``DF2``, ``p_unc``, ``np2``, ``eps``, ``p_GG_corr``,
        ``W_spher``, ``p_spher``; MATLAB's ``ranova`` ``pValue``,
        ``pValueGG``, ``pValueHF``, ``pValueLB``.

    Raises
    ------
    UnknownNameError
        ``within``, ``subject`` or ``between`` names no dim or coordinate, or
        ``missing`` is not a valid mode.
    DataError
        Extra dims, a factor with fewer than two levels, an empty group, no
        error degrees of freedom, non-finite values (with
        ``missing="raise"``), or no variance within units.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.metamers.anova import mixed_anova
    >>> y = np.array([[[.9, .8], [.6, .8], [.3, .9]], [[.8, .9], [.5, .7], [.1, .8]],
    ...               [[1., .9], [.7, .9], [.2, .7]]])                  # 3 participants × 3 layers × 2
    >>> data = xr.DataArray(y, dims=("participant", "layer", "observer_type"),
    ...                     coords={"observer_type": ["human", "network"]})
    >>> table = mixed_anova(data, within="layer", subject="participant", between="observer_type")
    >>> table["source"].tolist()
    ['observer_type', 'layer', 'observer_type:layer']
    >>> table["df2"].tolist()
    [4.0, 8.0, 8.0]
    """
    if not isinstance(data, xr.DataArray):
        raise DataError(f"expected an xarray.DataArray, got {type(data).__name__}", source="data",
                        fix="wrap the values with xarray.DataArray(values, dims=(subject, within, ...))")
    if missing not in ("raise", "drop"):
        raise UnknownNameError(missing, ("raise", "drop"), what="missing-value mode", source="missing")
    for name, role in ((within, "within"), (subject, "subject")):
        if name not in data.dims:
            raise UnknownNameError(name, data.dims, what=f"dim ({role} factor)", source=role)
    values, groups, units, levels = _units(data, within=within, subject=subject, between=between)
    values, groups, units, dropped = _complete(values, groups, units, missing)
    group_levels = list(dict.fromkeys(groups.tolist()))
    sizes = {str(g): int((groups == g).sum()) for g in group_levels}
    if len(levels) < 2:
        raise DataError(f"the within factor {within!r} has {len(levels)} level(s); an ANOVA needs at least 2",
                        source="within", fix="pass data with two or more levels along the within dim")
    if between is not None and len(group_levels) < 2:
        raise DataError(f"the between factor {between!r} has {len(group_levels)} level(s) with data; "
                        "an ANOVA needs at least 2", source="between",
                        fix="pass data with two or more groups, or between=None for a repeated-measures ANOVA")
    n_units, k = values.shape
    g = len(group_levels)
    if n_units - g < 1:
        raise DataError(f"{n_units} unit(s) in {g} group(s) leave no error degrees of freedom", source="data",
                        fix="a group needs at least two units")
    rows = _effects(values, groups, group_levels, within, between)
    table = pd.DataFrame(rows, columns=list(ANOVA_COLUMNS))
    table.attrs.update({
        "design": {"within": within, "within_levels": [str(v) for v in levels], "subject": subject,
                   "between": between, "units_per_group": sizes},
        "dropped_units": dropped,
        "sum_of_squares": "type III (unweighted group means; equal to types I and II when groups are equal in size)",
        **provenance({"within": within, "subject": subject, "between": between, "missing": missing},
                     {"data": data}),
    })
    return table


def _units(data: xr.DataArray, *, within: str, subject: str,
           between: str | None) -> tuple[np.ndarray, np.ndarray, list[str], list[Hashable]]:
    """Values as (unit, within level), each unit's group and label, and the within levels."""
    expected = {within, subject} | ({between} if between is not None and between in data.dims else set())
    extra = [d for d in data.dims if d not in expected]
    if extra:
        raise DataError(f"dims {extra} are neither the subject, within nor between factor", source="data",
                        fix=f"select or average them away first, e.g. data.isel({extra[0]}=0)")
    if data.dtype.kind not in "biuf":
        raise DataError(f"values are {data.dtype}, not numbers", source="data", fix="pass numeric values")
    levels = list(data[within].values) if within in data.coords else list(range(data.sizes[within]))
    labels = [str(v) for v in (data[subject].values if subject in data.coords else range(data.sizes[subject]))]
    if between is None:
        values = data.transpose(subject, within).values.astype(np.float64)
        return values, np.zeros(len(values), dtype=np.int64), labels, levels
    if between in data.dims:
        stacked = data.transpose(between, subject, within)
        names = (list(stacked[between].values) if between in stacked.coords
                 else list(range(stacked.sizes[between])))
        values = stacked.values.reshape(-1, stacked.sizes[within]).astype(np.float64)
        groups = np.repeat(np.asarray([str(n) for n in names], dtype=object), len(labels))
        units = [f"{n}/{s}" for n in names for s in labels]
        return values, groups, units, levels
    if between not in data.coords:
        raise UnknownNameError(between, [*data.dims, *data.coords], what="dim or coordinate (between factor)",
                               source="between")
    coord = data[between]
    if coord.dims != (subject,):
        raise DataError(f"coordinate {between!r} lies along {coord.dims}, not ({subject!r},)", source="between",
                        fix=f"give each unit its group with a coordinate on the {subject!r} dim")
    values = data.transpose(subject, within).values.astype(np.float64)
    return values, np.asarray([str(v) for v in coord.values], dtype=object), labels, levels


def _complete(values: np.ndarray, groups: np.ndarray, units: list[str],
              missing: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    if np.isinf(values).any():
        raise DataError(f"{int(np.isinf(values).sum())} infinite value(s)", source="data",
                        fix="replace them with finite values or NaN (missing)")
    incomplete = np.isnan(values).any(axis=1)
    if not incomplete.any():
        return values, groups, units, []
    dropped = [u for u, bad in zip(units, incomplete) if bad]
    if missing == "raise":
        raise DataError(f"{len(dropped)} unit(s) have missing (NaN) values, e.g. {dropped[0]!r}: a "
                        "repeated-measures ANOVA needs every unit at every level", source="data",
                        fix="pass missing='drop' to leave those units out (listwise deletion), or fill the cells")
    logger.warning("mixed_anova: dropping %d unit(s) with missing values (listwise deletion): %s",
                   len(dropped), ", ".join(dropped[:10]) + (" ..." if len(dropped) > 10 else ""))
    keep = ~incomplete
    return values[keep], groups[keep], [u for u, ok in zip(units, keep) if ok], dropped


def _contrasts(k: int) -> np.ndarray:
    """Orthonormal contrasts (k × (k − 1)), orthogonal to the constant: normalised Helmert."""
    basis = np.zeros((k, k - 1))
    for j in range(1, k):
        basis[:j, j - 1] = 1.0
        basis[j, j - 1] = -float(j)
    return basis / np.linalg.norm(basis, axis=0)


def _sums_of_squares(values: np.ndarray, group_of_unit: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    """Sums of squares of the mixed design, vectorised over any leading (batch) axes.

    ``values`` is ``(..., units, levels)``; ``group_of_unit`` ``(..., units)`` holds each unit's group
    index in ``range(n_groups)`` (broadcast against ``values``).  Returns ``between``, ``units`` (the
    between effect's error), ``within`` (type III), ``interaction`` and ``error`` (within units), each of
    shape ``(...)``, and ``residual``, the within-units residuals ``(..., units, levels)``.  Used once by
    :func:`mixed_anova` and over thousands of relabelled copies by the permutation test.
    """
    k = values.shape[-1]
    onehot = (np.asarray(group_of_unit)[..., None] == np.arange(n_groups)).astype(np.float64)  # (..., N, g)
    batch = np.broadcast_shapes(values.shape[:-2], onehot.shape[:-2])
    values = np.broadcast_to(values, (*batch, *values.shape[-2:]))
    onehot = np.broadcast_to(onehot, (*batch, *onehot.shape[-2:]))
    n_g = onehot.sum(axis=-2)  # (..., g)
    cell = np.einsum("...ng,...nk->...gk", onehot, values) / n_g[..., None]  # group × level means
    cell_of_unit = np.einsum("...ng,...gk->...nk", onehot, cell)
    unit_mean = values.mean(axis=-1)
    group_mean = cell.mean(axis=-1)
    # within-units residuals: each unit's profile minus its group's, both centred on their own mean
    residual = values - cell_of_unit
    residual = residual - residual.mean(axis=-1, keepdims=True)
    ss_between = k * (n_g * (group_mean - unit_mean.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
    ss_units = k * ((unit_mean - cell_of_unit.mean(axis=-1)) ** 2).sum(axis=-1)
    # within main effect, type III: tested on the unweighted mean of the group profiles
    profile = cell.mean(axis=-2)
    scale = (1.0 / n_g).sum(axis=-1) / n_groups ** 2
    ss_within = ((profile - profile.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1) / scale
    centred = cell - cell.mean(axis=-1, keepdims=True)
    overall = (n_g[..., None] * centred).sum(axis=-2) / n_g.sum(axis=-1)[..., None]
    ss_interaction = (n_g[..., None] * (centred - overall[..., None, :]) ** 2).sum(axis=(-2, -1))
    return {"between": ss_between, "units": ss_units, "within": ss_within, "interaction": ss_interaction,
            "error": (residual ** 2).sum(axis=(-2, -1)), "residual": residual}


def _group_index(groups: np.ndarray, group_levels: list) -> np.ndarray:
    position = {level: i for i, level in enumerate(group_levels)}
    return np.asarray([position[x] for x in groups], dtype=np.int64)


def _effects(values: np.ndarray, groups: np.ndarray, group_levels: list, within: str,
             between: str | None) -> list[dict]:
    n_units, k = values.shape
    g = len(group_levels)
    p = k - 1
    df_units = n_units - g
    ss = _sums_of_squares(values, _group_index(groups, group_levels), g)
    ss_error = float(ss["error"])
    floor = _rounding_floor(values)
    with np.errstate(invalid="ignore", divide="ignore"):  # no error variance: _row raises before ε is used
        spher = _sphericity(ss["residual"] @ _contrasts(k), df_units)
    rows = []
    if between is not None:
        rows.append(_row(between, float(ss["between"]), g - 1, float(ss["units"]), df_units, None, floor))
    rows.append(_row(within, float(ss["within"]), p, ss_error, p * df_units, spher, floor))
    if between is not None:
        rows.append(_row(f"{between}:{within}", float(ss["interaction"]), p * (g - 1), ss_error, p * df_units,
                         spher, floor))
    return rows


def _rounding_floor(values: np.ndarray) -> float:
    """The largest sum of squares that float64 rounding alone can leave in residuals of ``values``.

    A residual that is exactly 0 in exact arithmetic comes out as a few units in the last place of the
    values (about 1e-32 for values near 1); an error term at or below this floor is zero, and its F is
    not a number but an artefact of rounding.
    """
    centred = values - values.mean()
    return float(values.size * (8 * np.finfo(np.float64).eps) ** 2 * (centred ** 2).sum())


def _sphericity(scores: np.ndarray, df: int) -> dict:
    """ε estimates and Mauchly's test from the within-group residual contrast scores."""
    p = scores.shape[1]
    cov = scores.T @ scores / df
    eig = np.clip(np.linalg.eigvalsh(cov), 0.0, None)
    out = {"eps_lb": 1.0 / p}
    if p == 1:  # two levels: sphericity holds trivially
        return {**out, "eps_gg": 1.0, "eps_hf": 1.0, "mauchly_w": 1.0, "mauchly_chi2": 0.0, "mauchly_df": 0.0,
                "mauchly_p": 1.0}
    gg = float(eig.sum() ** 2 / (p * (eig ** 2).sum()))
    denominator = p * (df - p * gg)
    hf = min(1.0, ((df + 1) * p * gg - 2) / denominator) if denominator > 0 else np.nan
    if df < p:
        logger.warning("mixed_anova: %d error degrees of freedom for %d contrasts: Mauchly's test and the "
                       "Huynh-Feldt epsilon are undefined (NaN)", df, p)
        return {**out, "eps_gg": gg, "eps_hf": np.nan, "mauchly_w": np.nan, "mauchly_chi2": np.nan,
                "mauchly_df": float(p * (p + 1) / 2 - 1), "mauchly_p": np.nan}
    w = float(np.prod(eig / eig.mean()))
    dof = p * (p + 1) / 2 - 1
    # Anderson's (2003) approximation with its second-order term, as R's mauchly.test (which puts the number
    # of levels k = p + 1 where Anderson has p in one place; kept, so that the p values agree with R's)
    rho = 1 - (2 * p ** 2 + p + 2) / (6 * p * df)
    w2 = (p + 2) * (p - 1) * (p - 2) * (2 * p ** 3 + 6 * p ** 2 + 3 * (p + 1) + 2) / (288 * (df * p * rho) ** 2)
    chi2 = float(-df * rho * np.log(w)) if w > 0 else np.inf
    first, second = stats.chi2.sf(chi2, dof), stats.chi2.sf(chi2, dof + 4)
    return {**out, "eps_gg": gg, "eps_hf": float(hf), "mauchly_w": w, "mauchly_chi2": chi2,
            "mauchly_df": float(dof), "mauchly_p": float(first + w2 * (second - first))}


def _row(source: str, ss: float, df1: float, ss_error: float, df2: float, spher: dict | None,
         floor: float = 0.0) -> dict:
    if not ss_error > floor:
        raise DataError(f"the error term of {source!r} is 0 (the values do not vary within "
                        f"{'groups' if spher is None else 'units beyond the group profiles'}), so F is undefined",
                        source="data", fix="check that the data are not constant or copied")
    ms, ms_error = ss / df1, ss_error / df2
    f = ms / ms_error
    row = {"source": source, "ss": ss, "df1": float(df1), "df2": float(df2), "ms": ms, "ss_error": ss_error,
           "ms_error": ms_error, "f": f, "p": float(stats.f.sf(f, df1, df2)), "np2": ss / (ss + ss_error)}
    if spher is None:  # a between effect: no sphericity assumption
        return {**row, "eps_gg": 1.0, "p_gg": row["p"], "eps_hf": 1.0, "p_hf": row["p"], "eps_lb": 1.0,
                "p_lb": row["p"], "mauchly_w": np.nan, "mauchly_chi2": np.nan, "mauchly_df": np.nan,
                "mauchly_p": np.nan}
    for name in ("gg", "hf", "lb"):
        eps = spher[f"eps_{name}"]
        row[f"eps_{name}"] = eps
        row[f"p_{name}"] = float(stats.f.sf(f, df1 * eps, df2 * eps)) if np.isfinite(eps) else np.nan
    return {**row, **{key: spher[key] for key in ("mauchly_w", "mauchly_chi2", "mauchly_df", "mauchly_p")}}
