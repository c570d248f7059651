"""The validation protocol of graph pretraining as a table: scenario × method, mean ± sd over seeds.

The input is the tidy table of
:func:`neuroalign.graphs.protocol.run_validation_protocol` (its result or its
``.table``): one row per scenario, method, variant, seed and metric, columns
``scenario``, ``method``, ``variant``, ``seed``, ``metric``, ``value``.
Figures are drawn on a :class:`matplotlib.figure.Figure` of their own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..errors import ConfigError, SchemaError, UnknownNameError
from .graph_ssl import CHANCE, METRIC_LABELS

__all__ = ["protocol_summary", "protocol_markdown_table", "protocol_results_figure"]

_TABLE_COLUMNS = ("scenario", "method", "seed", "metric", "value")


def _protocol_table(result: Any, metric: str, variant: str | None) -> pd.DataFrame:
    table = getattr(result, "table", result)
    if not isinstance(table, pd.DataFrame):
        raise ConfigError(f"expected a protocol table (DataFrame) or result, got {type(result).__name__}",
                          source="table", fix="pass run_validation_protocol(...) or its .table")
    missing = [c for c in _TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise SchemaError(f"the table has no column {missing}", source="table",
                          fix=f"pass a tidy table with columns {list(_TABLE_COLUMNS)} (and variant)")
    table = table.assign(variant=table["variant"] if "variant" in table.columns else "default")
    if metric not in set(table["metric"]):
        raise UnknownNameError(metric, sorted(set(table["metric"])), what="metric", source="metric")
    table = table[table["metric"] == metric]
    if variant is not None:
        if variant not in set(table["variant"]):
            raise UnknownNameError(variant, sorted(set(table["variant"])), what="variant", source="variant")
        table = table[table["variant"] == variant]
    return table


def protocol_summary(result: Any, *, metric: str = "auroc", variant: str | None = "default") -> pd.DataFrame:
    """Mean, standard deviation (over seeds, ddof 1) and number of seeds per scenario × method.

    Parameters
    ----------
    result : ProtocolResult or pandas.DataFrame
        The validation protocol's result or its tidy ``table`` (columns
        ``scenario``, ``method``, ``seed``, ``metric``, ``value``, and
        ``variant``).
    metric : str
        Which metric's rows (``"auroc"``, ``"r2_dwell"`` …).
    variant : str or None
        Which variant (``"default"``: the main methods; an ablation such as
        ``"gamma=1.0"``); None keeps every variant, as rows of their own.

    Returns
    -------
    pandas.DataFrame
        Columns ``scenario``, ``variant``, ``method``, ``mean``, ``sd``,
        ``n_seeds``; rows in the table's order of scenarios and variants,
        methods sorted.

    Examples
    --------
    >>> import pandas as pd
    >>> from neuroalign.plot.graph_ssl_table import protocol_summary
    >>> table = pd.DataFrame({"scenario": "null", "method": "C", "variant": "default", "seed": [0, 1],
    ...                       "metric": "auroc", "value": [0.4, 0.6]})
    >>> protocol_summary(table)[["mean", "sd", "n_seeds"]].round(3).values.tolist()
    [[0.5, 0.141, 2.0]]
    """
    table = _protocol_table(result, metric, variant)
    grouped = table.groupby(["scenario", "variant", "method"], sort=False)["value"]
    summary = grouped.agg(mean="mean", sd=lambda v: v.std(ddof=1) if len(v) > 1 else np.nan,
                          n_seeds="count").reset_index()
    order = {name: i for i, name in enumerate(dict.fromkeys(table["scenario"]))}
    variants = {name: i for i, name in enumerate(dict.fromkeys(table["variant"]))}
    summary = summary.assign(_s=summary["scenario"].map(order), _v=summary["variant"].map(variants))
    return summary.sort_values(["_s", "_v", "method"]).drop(columns=["_s", "_v"]).reset_index(drop=True)


def protocol_markdown_table(result: Any, *, metric: str = "auroc", variant: str | None = "default",
                            digits: int = 2) -> str:
    """A Markdown table of the protocol: scenarios down, methods across, "mean ± sd" over seeds.

    A cell with one seed shows the mean alone; a method not run on a
    scenario shows "–".  Rows of variants other than ``"default"`` (with
    ``variant=None``) read ``scenario (variant)``.

    Parameters
    ----------
    result : ProtocolResult or pandas.DataFrame
        See :func:`protocol_summary`.
    metric, variant
        See :func:`protocol_summary`.
    digits : int
        Decimals of means and standard deviations.

    Returns
    -------
    str
        The table, one line per row, ending with a newline.

    Examples
    --------
    >>> import pandas as pd
    >>> from neuroalign.plot.graph_ssl_table import protocol_markdown_table
    >>> table = pd.DataFrame({"scenario": ["null"] * 3, "method": ["A", "A", "C"], "variant": "default",
    ...                       "seed": [0, 1, 0], "metric": "auroc", "value": [0.4, 0.6, 0.52]})
    >>> print(protocol_markdown_table(table), end="")
    | scenario | A | C |
    |---|---|---|
    | null | 0.50 ± 0.14 | 0.52 |
    """
    summary = protocol_summary(result, metric=metric, variant=variant)
    methods = sorted(set(summary["method"]))
    lines = ["| scenario | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for (scenario, name), rows in summary.groupby(["scenario", "variant"], sort=False):
        cells = {}
        for row in rows.itertuples():
            cells[row.method] = (f"{row.mean:.{digits}f}" if row.n_seeds < 2 or not np.isfinite(row.sd)
                                 else f"{row.mean:.{digits}f} ± {row.sd:.{digits}f}")
        label = scenario if name == "default" else f"{scenario} ({name})"
        lines.append(f"| {label} | " + " | ".join(cells.get(m, "–") for m in methods) + " |")
    return "\n".join(lines) + "\n"


def protocol_results_figure(result: Any, *, metric: str = "auroc", variant: str = "default",
                            figsize: tuple[float, float] | None = None) -> Figure:
    """One panel per scenario: every seed's value of every method (dots) and the mean ± sd over seeds.

    Parameters
    ----------
    result : ProtocolResult or pandas.DataFrame
        See :func:`protocol_summary`.
    metric, variant : str
        Which rows to draw.
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes per scenario (title the scenario, x tick labels the methods);
        a dashed line at chance (AUROC 0.5, R² 0).

    Examples
    --------
    >>> import pandas as pd
    >>> from neuroalign.plot.graph_ssl_table import protocol_results_figure
    >>> table = pd.DataFrame({"scenario": "null", "method": ["A", "C"], "seed": 0, "metric": "auroc",
    ...                       "value": [0.45, 0.55]})
    >>> ax = protocol_results_figure(table).axes[0]
    >>> ax.get_title(), [t.get_text() for t in ax.get_xticklabels()]
    ('null', ['A', 'C'])
    """
    table = _protocol_table(result, metric, variant)
    summary = protocol_summary(table, metric=metric, variant=variant)
    scenarios = list(dict.fromkeys(table["scenario"]))
    methods = sorted(set(table["method"]))
    fig = Figure(figsize=figsize or (3.0 * len(scenarios) + 0.6, 3.3), layout="constrained")
    axes = fig.subplots(1, len(scenarios), sharey=True, squeeze=False)[0]
    for ax, scenario in zip(axes, scenarios):
        rows = table[table["scenario"] == scenario]
        for i, method in enumerate(methods):
            values = rows.loc[rows["method"] == method, "value"].to_numpy(dtype=float)
            if values.size:
                ax.scatter(np.full(values.size, i), values, s=10, color=f"C{i % 10}", alpha=0.5, lw=0)
        means = summary[summary["scenario"] == scenario].set_index("method")
        x = [i for i, m in enumerate(methods) if m in means.index]
        shown = means.loc[[methods[i] for i in x]]
        ax.errorbar(x, shown["mean"].to_numpy(dtype=float), yerr=shown["sd"].fillna(0.0).to_numpy(dtype=float),
                    fmt="_", color="k", ms=14, capsize=3, lw=1)
        if metric in CHANCE or metric.startswith("r2"):
            ax.axhline(CHANCE.get(metric, 0.0), color="0.5", lw=0.8, ls="--")
        ax.set_xticks(range(len(methods)), methods)
        ax.set(title=scenario, xlabel="method", xlim=(-0.6, len(methods) - 0.4))
    axes[0].set_ylabel(METRIC_LABELS.get(metric, metric))
    return fig
