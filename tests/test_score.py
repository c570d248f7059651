import numpy as np
import pytest
import xarray as xr

from neuroalign import Score
from neuroalign.errors import ScoreError


def test_from_resamples_error_and_percentile_ci(rng):
    resamples = rng.normal(0.5, 0.1, size=5000)
    s = Score.from_resamples(0.5, resamples, metric="m", ceiling=0.8)
    assert float(s.error) == pytest.approx(np.std(resamples, ddof=1))
    assert float(s.ci[0]) == pytest.approx(np.quantile(resamples, 0.025))
    assert float(s.ci[1]) == pytest.approx(np.quantile(resamples, 0.975))
    assert float(s.ceiled) == pytest.approx(0.625)
    assert s.raw.dims == ("resample",) and s.raw.size == 5000


def test_nan_score_is_an_error():
    with pytest.raises(ScoreError, match="produced NaN"):
        Score(float("nan"), metric="rsa")


def test_non_positive_ceiling_is_an_error():
    with pytest.raises(ScoreError, match="not positive"):
        Score(0.3, ceiling=-0.1)


def test_ceiled_without_ceiling():
    with pytest.raises(ScoreError, match="no ceiling"):
        Score(0.3).ceiled


def test_concat_sweep_dataframe_and_repr():
    scores = [Score.from_resamples(v, np.array([v - 0.1, v, v + 0.1]), ceiling=0.9, metric="cka")
              for v in (0.2, 0.6, 0.4)]
    sweep = Score.concat(scores, "layer", ["conv1", "conv2", "fc"])
    assert sweep.dims == ("layer",)
    assert str(sweep.values.idxmax("layer").item()) == "conv2"
    frame = sweep.to_dataframe()
    assert list(frame.columns) == ["metric", "layer", "score", "ceiling", "ceiled", "error", "ci_low", "ci_high"]
    assert frame.layer.tolist() == ["conv1", "conv2", "fc"]
    assert frame.ceiled.tolist() == pytest.approx([0.2 / 0.9, 0.6 / 0.9, 0.4 / 0.9])
    assert sweep.raw.dims == ("layer", "resample")
    assert "conv2" in repr(sweep) and "cka" in repr(sweep)
    one = sweep.sel(layer="fc")
    assert float(one) == pytest.approx(0.4)
    assert "ceiling=0.9" in repr(one)


def test_float_of_multi_valued_score():
    s = Score(xr.DataArray([0.1, 0.2], dims="layer"))
    with pytest.raises(ScoreError, match="float\\(\\) needs a single value"):
        float(s)


def test_plain_multi_dim_array_needs_names():
    with pytest.raises(ScoreError, match="no dimension names"):
        Score(np.zeros((2, 2)))
