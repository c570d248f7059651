import numpy as np
import pytest
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from neuroalign import Score
from neuroalign.compare import as_rdm, evaluate_models, pairwise_tests
from neuroalign.errors import ConfigError, ScoreError
from neuroalign.plot import model_comparison_figure, plot_model_comparison


@pytest.fixture(scope="module")
def score():
    rng = np.random.default_rng(0)
    truth = rng.random(120)  # 16 stimuli
    models = np.stack([truth + s * rng.normal(size=120) for s in (0.1, 0.4, 3.0)])
    models = as_rdm(models, form="vector", dims=["model"]).assign_coords(model=["good", "fair", "poor"])
    data = as_rdm(truth + 0.3 * rng.normal(size=(6, 120)), form="vector", dims=["subject"])
    return evaluate_models(models, data, method="corr", n_bootstrap=200, seed=0)


def _lines(ax):
    return [line for line in ax.get_lines() if line.get_gid() == "significance"]


def test_bars_ceiling_band_and_significance_lines(score):
    pairs = pairwise_tests(score)
    ax = plot_model_comparison(score, Figure().subplots(), pairwise=pairs, sort=True)
    bars = [c for c in ax.containers if isinstance(c, BarContainer)][0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["good", "fair", "poor"]
    np.testing.assert_allclose([bar.get_height() for bar in bars], np.sort(score.values.values)[::-1])
    band = [p for p in ax.patches if p.get_label() == "noise ceiling"]
    assert len(band) == 1
    lower, upper = score.raw["noise_ceiling"].values
    assert band[0].get_y() == pytest.approx(lower) and band[0].get_height() == pytest.approx(upper - lower)
    significant = np.triu(pairs.raw["significant"].values, 1).sum()
    assert significant >= 2 and len(_lines(ax)) == significant
    for line in _lines(ax):  # every line sits above the bars and the ceiling
        assert line.get_ydata()[0] > max(upper, float(score.ci[1].max()))


def test_figure_runs_the_tests_and_saves(score, tmp_path):
    figure = model_comparison_figure(score, correction="bonferroni")
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    expected = np.triu(pairwise_tests(score, correction="bonferroni").raw["significant"].values, 1).sum()
    assert len(_lines(figure.axes[0])) == expected
    path = tmp_path / "comparison.png"
    figure.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plain_scores_and_errors():
    s = Score.concat([Score(0.2, ceiling=0.5, error=0.05), Score(0.4, ceiling=0.5, error=0.1)], "model", ["a", "b"])
    ax = plot_model_comparison(s, Figure().subplots(), error_bars="sem")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert any(line.get_linestyle() == "--" for line in ax.get_lines())  # ceiling line without a band
    with pytest.raises(ConfigError, match="error_bars"):
        plot_model_comparison(s, Figure().subplots(), error_bars="std")
    two_d = Score.concat([s, s], "subject", ["x", "y"])
    with pytest.raises(ScoreError, match="one dim"):
        plot_model_comparison(two_d, Figure().subplots())
