"""Model comparison bars: one bar per model, error bars, the noise-ceiling band and significance lines."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..errors import ConfigError, ScoreError
from ..score import Score

__all__ = ["plot_model_comparison", "model_comparison_figure"]


def _levels(pairs: list[tuple[int, int]]) -> list[int]:
    """Stack the lines greedily, shortest first: each gets the lowest level where it overlaps no other."""
    placed: list[tuple[int, int, int]] = []
    out = [0] * len(pairs)
    for k in sorted(range(len(pairs)), key=lambda k: (pairs[k][1] - pairs[k][0], pairs[k][0])):
        lo, hi = pairs[k]
        level = 0
        while any(other == level and lo <= end and start <= hi for start, end, other in placed):
            level += 1
        placed.append((lo, hi, level))
        out[k] = level
    return out


def plot_model_comparison(
    score: Score,
    ax: Axes,
    *,
    pairwise: Score | None = None,
    sort: bool = False,
    error_bars: str = "ci",
    colors=None,
    title: str | None = None,
) -> Axes:
    """Draw model evaluations as bars, with error bars, the noise ceiling and significant differences.

    Parameters
    ----------
    score : Score
        One dim (the models), e.g. from :func:`neuroalign.compare.evaluate_models`.
        Its ``raw["noise_ceiling"]`` (lower, upper) is drawn as a grey band;
        otherwise ``score.ceiling`` as a dashed line.
    ax : matplotlib.axes.Axes
    pairwise : Score, optional
        From :func:`neuroalign.compare.pairwise_tests`: each significant pair
        is a horizontal line above the bars spanning the two models.
    sort : bool
        Order the bars by decreasing score.
    error_bars : {"ci", "sem", None}
        The score's confidence interval, its standard error, or none.
    colors : color or sequence of colors, optional
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from neuroalign import Score
    >>> from neuroalign.plot import plot_model_comparison
    >>> s = Score.concat([Score(0.2, ceiling=0.5), Score(0.4, ceiling=0.5)], "model", ["a", "b"])
    >>> ax = plot_model_comparison(s, Figure().subplots(), sort=True)
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['b', 'a']
    """
    if len(score.dims) != 1:
        raise ScoreError(f"expected a score with one dim (the models), got {score.dims}", source="score",
                         fix="select the other dims away with score.sel(...) first")
    if error_bars not in ("ci", "sem", None):
        raise ConfigError(f"unknown error_bars {error_bars!r}", source="error_bars", fix="use 'ci', 'sem' or None")
    dim = score.dims[0]
    labels = [str(v) for v in score.values[dim].values]
    values = score.values.values
    order = np.argsort(-values, kind="stable") if sort else np.arange(len(values))
    x = np.arange(len(values))
    y = values[order]
    yerr = None
    if error_bars == "ci" and score.ci is not None:
        low, high = score.ci[0].values[order], score.ci[1].values[order]
        yerr = np.vstack([np.clip(y - low, 0, None), np.clip(high - y, 0, None)])
    elif error_bars in ("ci", "sem") and score.error is not None:
        yerr = score.error.values[order]
    ax.bar(x, y, yerr=yerr, capsize=3, color=colors if colors is not None else "C0", edgecolor="none", zorder=2,
           label=score.metric or "score", error_kw={"zorder": 3})
    reach = 0 if yerr is None else (yerr if yerr.ndim == 1 else yerr[1])
    top = float(np.max(y + reach))
    raw = score.raw
    if raw is not None and hasattr(raw, "data_vars") and "noise_ceiling" in raw:
        lower, upper = (float(raw["noise_ceiling"].sel(bound=b)) for b in ("lower", "upper"))
        ax.add_patch(Rectangle((-0.6, lower), len(x) + 0.2, upper - lower, color="0.75", alpha=0.6, zorder=1,
                               linewidth=0, label="noise ceiling"))
        ax.text(len(x) - 0.45, (lower + upper) / 2, "noise ceiling", ha="right", va="center", fontsize="small",
                color="0.3", zorder=1)
        top = max(top, upper)
    elif score.ceiling is not None:
        ax.axhline(float(score.ceiling.mean()), color="0.4", linestyle="--", zorder=1, label="noise ceiling")
        ax.text(len(x) - 0.45, float(score.ceiling.mean()), "noise ceiling", ha="right", va="bottom",
                fontsize="small", color="0.3")
        top = max(top, float(score.ceiling.max()))
    note = ""
    if pairwise is not None:
        significant = np.asarray(pairwise.raw["significant"].values, dtype=bool)[np.ix_(order, order)]
        pairs = [(i, j) for i in range(len(x)) for j in range(i + 1, len(x)) if significant[i, j]]
        step = 0.04 * max(top, 1e-9)
        for (i, j), level in zip(pairs, _levels(pairs), strict=True):
            height = top + step * (level + 1.5)
            ax.plot([i, j], [height, height], color="0.2", linewidth=1, zorder=4, gid="significance")
            ax.plot([i, i, j, j], [height - step / 4, height, height, height - step / 4], color="0.2",
                    linewidth=1, zorder=4)
        correction = pairwise.params.get("correction")
        level = "FDR q" if correction == "fdr" else "p"
        suffix = "" if correction == "fdr" else f" ({correction or 'uncorrected'})"
        note = f"lines: models that differ, {pairwise.params.get('test')}, {level} < {pairwise.params.get('alpha')}"
        note += suffix
    ax.set_xticks(x, [labels[k] for k in order], rotation=45, ha="right")
    ax.set_xlim(-0.6, len(x) - 0.4)
    ax.axhline(0, color="0.2", linewidth=0.8, zorder=2)
    ax.set_ylabel(f"RDM comparison ({score.params.get('method', score.metric)})")
    bars = {"ci": f"{int(score.ci_level * 100)}% CI", "sem": "± error", None: ""}[error_bars]
    details = ", ".join(part for part in (f"error bars: {bars}" if bars else "", note) if part)
    heading = title if title is not None else score.metric
    ax.set_title(f"{heading}\n{details}" if details else heading, fontsize="medium")
    return ax


def model_comparison_figure(
    score: Score,
    *,
    pairwise: Score | None = None,
    test: str = "t-test",
    correction: str | None = "fdr",
    alpha: float = 0.05,
    sort: bool = True,
    error_bars: str = "ci",
    figsize: tuple[float, float] = (8.0, 5.0),
    title: str | None = None,
) -> Figure:
    """A figure with the model-comparison bars of ``score`` (no pyplot state involved).

    When ``pairwise`` is not given and ``score`` comes from
    :func:`neuroalign.compare.evaluate_models`, the pairwise tests are run
    with ``test``, ``correction`` and ``alpha``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import as_rdm, evaluate_models
    >>> from neuroalign.plot import model_comparison_figure
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.random(45)
    >>> models = as_rdm(np.stack([truth, rng.random(45)]), form="vector", dims=["model"])
    >>> data = as_rdm(truth + 0.3 * rng.normal(size=(5, 45)), form="vector", dims=["subject"])
    >>> score = evaluate_models(models, data, n_bootstrap=50)
    >>> len(model_comparison_figure(score).axes)
    1
    """
    if pairwise is None and score.raw is not None and hasattr(score.raw, "data_vars") \
            and "per_subject" in score.raw and len(score.values) > 1:
        from ..compare.rsa.model_tests import pairwise_tests

        pairwise = pairwise_tests(score, test=test, correction=correction, alpha=alpha)
    figure = Figure(figsize=figsize, layout="constrained")
    plot_model_comparison(score, figure.subplots(), pairwise=pairwise, sort=sort, error_bars=error_bars,
                          title=title)
    return figure
