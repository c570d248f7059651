"""The metrics table of spike pretraining as bars: one panel per metric, one bar per method.

The input is the table of :func:`~neuroalign.pipelines.spike_pretraining.run_spike_pretraining`
(``metrics.csv``): one row per method, columns such as ``co_bps``, ``forward_bps``,
``psth_r2``, ``behaviour_r2``, ``log_rate_r2``.  A ``true rates`` row, when present, is drawn
as a dashed line (the best achievable) instead of a bar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..errors import DataError

__all__ = ["spike_metrics_figure", "METRIC_LABELS", "R2_FLOOR"]

#: The lowest R² an axis shows; a bar below it is clipped and labelled with its value.
R2_FLOOR = -1.0

#: How each metric is labelled.
METRIC_LABELS = {"co_bps": "co-smoothing bits/spike", "forward_bps": "forward bits/spike", "psth_r2": "PSTH R²",
                 "behaviour_r2": "behaviour decoding R²", "log_rate_r2": "log-rate R² vs truth"}


def spike_metrics_figure(metrics: pd.DataFrame, *, metrics_shown: list[str] | None = None,
                         figsize: tuple[float, float] | None = None) -> Figure:
    """Bars of every method's value of each metric; the true rates' value as a dashed line.

    R² axes stop at :data:`R2_FLOOR`; a value below it is written on its clipped bar.

    Parameters
    ----------
    metrics : pandas.DataFrame
        One row per method (index ``method``), one column per metric.
    metrics_shown : list of str, optional
        The columns to draw (default every column of :data:`METRIC_LABELS` present with a value).
    figsize : (float, float), optional

    Examples
    --------
    >>> import pandas as pd
    >>> from neuroalign.plot.spike_metrics import spike_metrics_figure
    >>> table = pd.DataFrame({"co_bps": [0.54, 0.45, 0.49]}, index=["true rates", "smoothing", "masked"])
    >>> fig = spike_metrics_figure(table)
    >>> [ax.get_title() for ax in fig.axes], [t.get_text() for t in fig.axes[0].get_xticklabels()]
    (['co-smoothing bits/spike'], ['smoothing', 'masked'])
    """
    shown = metrics_shown or [c for c in METRIC_LABELS if c in metrics and metrics[c].notna().any()]
    methods = [m for m in metrics.index if m != "true rates"]
    if not shown or not methods:
        raise DataError("the metrics table has no method with a metric to draw", source="metrics",
                        fix="pass the table of run_spike_pretraining (metrics.csv)")
    fig = Figure(figsize=figsize or (2.8 * len(shown), 3.2), constrained_layout=True)
    axes = fig.subplots(1, len(shown), squeeze=False)[0]
    for ax, column in zip(axes, shown):
        values = metrics.loc[methods, column].to_numpy(dtype=float)
        x = np.arange(len(methods))
        present = np.isfinite(values)
        ax.bar(x[present], values[present], color=[f"C{k % 10}" for k in np.nonzero(present)[0]])
        for k in np.nonzero(~present)[0]:
            ax.text(x[k], 0, "n/a", ha="center", va="bottom", fontsize="x-small", color="0.4")
        if "true rates" in metrics.index and np.isfinite(metrics.loc["true rates", column]):
            ax.axhline(metrics.loc["true rates", column], color="k", linestyle="--", linewidth=1,
                       label="true rates")
            ax.legend(frameon=False, fontsize="x-small", loc="lower right")
        ax.axhline(0, color="0.5", linewidth=0.5)
        if column.endswith("r2") and np.nanmin(values, initial=0.0) < R2_FLOOR:
            # an R² far below 0 (e.g. a rate of 0 in log space) would flatten the others: clip, and print its value
            ax.set_ylim(R2_FLOOR, 1.05)
            for k in np.nonzero(present & (values < R2_FLOOR))[0]:
                ax.text(x[k], R2_FLOOR, f"{values[k]:.3g}", ha="center", va="bottom", fontsize="x-small",
                        rotation=90)
        ax.set_xticks(x, methods, rotation=30, ha="right", fontsize="small")
        ax.set_title(METRIC_LABELS.get(column, column), fontsize="small")
    return fig
