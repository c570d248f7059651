import numpy as np
import pandas as pd
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


# ---------------------------------------------------------------- ceiling bounds


def test_repr_shows_both_ceiling_bounds():
    s = Score.from_resamples(0.3, np.array([0.2, 0.3, 0.4]), ceiling=(0.4, 0.6), metric="rsa")
    assert "ceiling_lower=0.4, ceiling=0.6, ceiled=0.5" in repr(s)
    assert s.ceiling_bounds[0].item() == 0.4 and float(s.ceiling) == 0.6
    sweep = Score.concat([s, s], "layer", ["a", "b"])
    header = repr(sweep).splitlines()[1].split()
    assert header[:5] == ["layer", "score", "ceiling_lower", "ceiling", "ceiled"]
    one = Score(0.3, ceiling=0.6)
    assert "ceiling=0.6" in repr(one) and "ceiling_lower" not in repr(one) and one.ceiling_bounds is None


def test_ceiling_bounds_from_a_bound_dim():
    bounds = xr.DataArray([[0.2, 0.5], [0.3, 0.7]], dims=("layer", "bound"),
                          coords={"layer": ["a", "b"], "bound": ["lower", "upper"]})
    s = Score(xr.DataArray([0.1, 0.35], dims="layer", coords={"layer": ["a", "b"]}), ceiling=bounds)
    assert s.ceiling_bounds[0].values.tolist() == [0.2, 0.3]
    assert s.ceiled.values.tolist() == pytest.approx([0.2, 0.5])
    with pytest.raises(ScoreError, match="labelled"):
        Score(0.1, ceiling=bounds.assign_coords(bound=["lo", "hi"]))
    with pytest.raises(ScoreError, match="lower noise-ceiling bound .* is NaN"):
        Score(0.1, ceiling=(float("nan"), 0.5))
    with pytest.raises(ScoreError, match="not positive"):
        Score(0.1, ceiling=(0.1, -0.5))


# ---------------------------------------------------------------- rename, isel


def sweep_with_raw_dataset():
    layers = ["conv1", "conv2", "fc"]
    resamples = xr.DataArray(np.random.default_rng(1).normal(0.4, 0.1, size=(3, 50)), dims=("layer", "resample"),
                             coords={"layer": layers})
    per_subject = xr.DataArray(np.arange(6.0).reshape(3, 2) / 10, dims=("layer", "subject"),
                               coords={"layer": layers, "subject": ["s1", "s2"]})
    s = Score.from_resamples(resamples.mean("resample"), resamples.transpose("resample", ...),
                             ceiling=(0.5, 0.8), metric="rsa-corr", params={"n": 3})
    s.raw = xr.Dataset({"resamples": resamples, "per_subject": per_subject},
                       attrs={"neuroalign_version": "x", "parameters": {"seed": 0}, "input_hashes": {"a": "b"}})
    return s


def test_rename_renames_everywhere():
    s = sweep_with_raw_dataset().rename(layer="model")
    assert s.dims == ("model",)
    assert s.raw["per_subject"].dims == ("model", "subject") and "model" in s.raw.coords
    assert s.ceiling_bounds[0].dims == () and s.metric == "rsa-corr"
    with pytest.raises(ScoreError, match="'subject' is not a dim or coordinate of the score"):
        sweep_with_raw_dataset().rename(subject="participant")
    with pytest.raises(ScoreError, match="names a field"):
        sweep_with_raw_dataset().rename(layer="score")


def test_isel_matches_sel_and_subsets_raw():
    s = sweep_with_raw_dataset()
    by_position, by_label = s.isel(layer=1), s.sel(layer="conv2")
    xr.testing.assert_identical(by_position.data, by_label.data)
    xr.testing.assert_identical(by_position.raw, by_label.raw)
    assert by_position.raw["per_subject"].dims == ("subject",)
    assert float(s.isel(layer=[0, 2]).values[1]) == float(s.sel(layer="fc"))
    with pytest.raises(ScoreError, match="cannot select"):
        s.isel(layer=7)
    with pytest.raises(ScoreError, match="'resample' is not a dim of the score"):
        s.isel(resample=0)
    with pytest.raises(ScoreError, match="cannot select"):
        s.sel(layer="nope")


def test_concat_of_scores_with_different_fields():
    with pytest.raises(ScoreError, match="has the fields"):
        Score.concat([Score(0.1, ceiling=0.5), Score(0.2)], "layer", ["a", "b"])


# ---------------------------------------------------------------- save / load


def assert_same_score(a, b):
    xr.testing.assert_identical(a.data, b.data)
    for name in a.data.variables:
        assert a.data[name].dtype == b.data[name].dtype, name
    assert list(a.data.data_vars) == list(b.data.data_vars)
    for dim, index in a.data.indexes.items():
        assert b.data.indexes[dim].dtype == index.dtype, dim  # object labels stay object (idxmax needs it)
    assert type(a.raw) is type(b.raw)
    if a.raw is not None:
        xr.testing.assert_identical(a.raw, b.raw)
        assert a.raw.attrs == b.raw.attrs
        if isinstance(a.raw, xr.DataArray):
            assert a.raw.name == b.raw.name
    assert (a.metric, a.params, a.ci_level) == (b.metric, b.params, b.ci_level)
    assert repr(a) == repr(b)
    pd.testing.assert_frame_equal(a.to_dataframe(), b.to_dataframe())


def scores_to_save():
    scalar = Score.from_resamples(0.5, np.array([0.4, 0.5, 0.6, 0.45]), metric="cka", ceiling=(0.6, 0.9),
                                  ci_level=0.9, params={"seed": 3, "layers": ["a", "b"], "nested": {"x": None},
                                                        "flag": True, "ratio": 0.25})
    scalar.raw = scalar.raw.rename("resamples").assign_attrs(parameters={"seed": 3}, neuroalign_version="1")
    plain = Score(0.2)
    sweep = sweep_with_raw_dataset()
    one_ceiling = Score.concat([Score.from_resamples(v, np.array([v - 0.1, v, v + 0.1]), ceiling=0.9, metric="cka")
                                for v in (0.2, 0.6)], "layer", ["conv1", "conv2"])
    return {"scalar": scalar, "plain": plain, "sweep": sweep, "one-ceiling": one_ceiling}


@pytest.mark.parametrize("kind", ["scalar", "plain", "sweep", "one-ceiling"])
def test_save_load_round_trip_of_every_field(tmp_path, kind):
    score = scores_to_save()[kind]
    path = score.save(tmp_path / "score.nc")
    back = Score.load(path)
    assert_same_score(score, back)
    if score.dims:
        assert str(back.values.idxmax(score.dims[0]).item()) == str(score.values.idxmax(score.dims[0]).item())


def test_evaluate_models_score_round_trips(tmp_path, rng):
    from neuroalign.compare import as_rdm, evaluate_models

    def rdms(n):
        points = rng.normal(size=(n, 8, 4))
        return np.sqrt(((points[:, :, None] - points[:, None]) ** 2).sum(-1))

    ids = [f"img{i}" for i in range(8)]
    models = as_rdm(rdms(3), dims=["model"], stimulus_ids=ids).assign_coords(model=["m1", "m2", "m3"])
    data = as_rdm(rdms(4), dims=["subject"], stimulus_ids=ids)
    score = evaluate_models(models, data, method="spearman", bootstrap="subject", n_bootstrap=50, seed=0)
    assert isinstance(score.raw, xr.Dataset) and score.raw.attrs["input_hashes"]
    assert_same_score(score, Score.load(score.save(tmp_path / "eval.nc")))


def test_load_of_a_file_that_is_not_a_score(tmp_path):
    from neuroalign.data import create_assembly, save
    from neuroalign.errors import FileFormatError

    path = save(create_assembly(np.zeros((2, 2)), stimulus_id=["a", "b"]), tmp_path / "a.nc")
    with pytest.raises(FileFormatError, match="does not hold a score"):
        Score.load(path)
    with pytest.raises(FileFormatError, match="file not found"):
        Score.load(tmp_path / "none.nc")


# ---------------------------------------------------------------- one column order


def test_one_column_order_for_repr_dataframe_and_demo_table():
    from neuroalign.pipelines.demo import SCORE_COLUMNS

    sweep = scores_to_save()["one-ceiling"]
    columns = list(sweep.to_dataframe().columns)
    assert columns == [c for c in SCORE_COLUMNS if c in columns]
    assert ["metric", *repr(sweep).splitlines()[1].split()] == columns
    scalar = scores_to_save()["scalar"]
    fields = [part.split("=")[0] for part in repr(scalar)[len("Score("):-1].split(", ")]
    assert fields == [c for c in list(scalar.to_dataframe().columns)] + ["ci_level"]


@pytest.mark.slow
def test_same_column_order_in_repr_csv_and_cli_table(tmp_path, capsys):
    from neuroalign.cli.main import main

    out = tmp_path / "demo"
    assert main(["demo", "--n-bootstrap", "20", "--n-splits", "2", "--no-progress", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    cli_header = printed[0].split()
    csv_header = pd.read_csv(out / "scores.csv").columns.tolist()
    assert csv_header[:2] == ["analysis", "kind"] and cli_header == ["analysis", *csv_header[2:]]
    csv_header = csv_header[2:]
    assert csv_header == Score.columns(["layer"], present=csv_header)
    sweep = scores_to_save()["one-ceiling"]
    assert list(sweep.to_dataframe().columns) == csv_header
    assert ["metric", *repr(sweep).splitlines()[1].split()] == csv_header
    bounded = sweep_with_raw_dataset()
    columns = Score.columns(["layer"], present=bounded.to_dataframe().columns)
    assert columns == ["metric", "layer", "score", "ceiling_lower", "ceiling", "ceiled", "error", "ci_low", "ci_high"]
    assert list(bounded.to_dataframe().columns) == columns
    assert ["metric", *repr(bounded).splitlines()[1].split()] == columns
