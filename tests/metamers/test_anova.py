"""Tests of neuroalign.metamers.anova.mixed_anova.

References:

* the F values Feather et al. (2023) printed from MATLAB (``fitrm``/``ranova``
  through their ``simple_mixed_anova_partialeta``, humans and network stacked
  as two groups of units, every layer including ``natural_image``), in
  jenellefeather/model_metamers_pytorch, ``VisionBehavioralExperiments/``:

  - ``EXP1_ANALYSIS/17-Mar-2022-EXP1_ANALYSIS_ANOVA_NETWORK_HUMAN_RESULTS.txt``,
    ``EXP3_ANALYSIS/17-Mar-2022-EXP3_ANALYSIS_ANOVA_NETWORK_HUMAN_RESULTS.txt``,
    ``EXP4_ANALYSIS/17-Mar-2022-EXP4_ANALYSIS_ANOVA_NETWORK_HUMAN_RESULTS.txt``,
    ``EXP5_ANALYSIS/17-Mar-2022-EXP5_ANALYSIS_ANOVA_NETWORK_HUMAN_RESULTS.txt`` and
    ``EXP6_ANALYSIS/20-Mar-2022-EXP6_ANALYSIS_MAIN_EFFECT_LAYER_HUMAN_RESULTS.txt``
    @ 2dc5d610bd12051479fc5fd0fcb50f6d9e138704;
  - ``EXP12_ANALYSIS/04-Feb-2023-EXP12_ANALYSIS_ANOVA_NETWORK_HUMAN_RESULTS.txt``
    @ 7b3dda22abed4b4735f654fdf1a54cf16c78b9f2;

  ("F(observer) main effect" and "F(stage, observer) interaction", four
  decimals by MATLAB's num2str; the full tables to five significant digits);
* pingouin 0.7 (``mixed_anova``, ``rm_anova``, ``sphericity``; test-only; its
  Mauchly p value follows R's ``mauchly.test``);
* the multivariate-regression route of MATLAB's ``ranova`` (effects-coded
  design, type III hypothesis matrices), written out here with numpy.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import DataError, UnknownNameError
from neuroalign.loaders.feather2023 import load_feather2023_experiment
from neuroalign.metamers.anova import ANOVA_COLUMNS, mixed_anova

#: (experiment, model) -> (F observer main effect, F observer × layer interaction), as printed
PUBLISHED = {
    (1, "cornet_s"): (424.3749, 293.6448),
    (1, "vgg_19"): (1612.0788, 268.376),
    (1, "resnet50"): (554.9194, 290.2059),
    (1, "resnet101"): (1001.7123, 345.8264),
    (1, "alexnet"): (935.4408, 195.0267),
    (3, "resnet50"): (705.9463, 258.0704),
    (3, "resnet50_l2_3_robust"): (7.2476, 14.3033),
    (3, "resnet50_random_l2_perturb"): (1447.8401, 412.2766),
    (3, "resnet50_linf_4_robust"): (60.4356, 20.4729),
    (3, "resnet50_linf_8_robust"): (7.5102, 16.5433),
    (3, "resnet50_random_linf8_perturb"): (1417.502, 349.0974),
    (4, "alexnet"): (1483.0764, 112.5101),
    (4, "alexnet_l2_3_robust"): (1.8832, 18.6106),
    (4, "alexnet_random_l2_3_perturb"): (857.958, 140.6296),
    (4, "alexnet_linf_8_robust"): (37.1245, 20.2415),
    (4, "alexnet_random_linf8_perturb"): (1484.3749, 116.3231),
    (5, "resnet50"): (806.2397, 380.9439),
    (5, "resnet50_simclr"): (330.2542, 154.2192),
    (5, "resnet50_moco_v2"): (368.1819, 198.2194),
    (5, "resnet50_byol"): (1139.1589, 318.951),
    (12, "CLIP_resnet50"): (517.2581, 181.1714),
    (12, "CLIP_ViT-B_32"): (604.5389, 110.5291),
    (12, "SWSL_resnet50"): (1159.2727, 164.6985),
    (12, "SWSL_resnext101_32x8d"): (2363.0796, 225.9334),
    (12, "vision_transformer_vit_large_patch16_224"): (852.014, 158.941),
}
#: The published CLIP ResNet50 analysis has 7 layers (layer df 6): the public file's 'final' column was not in it.
LEFT_OUT = {(12, "CLIP_resnet50"): ["final"]}


@pytest.fixture(scope="module")
def experiments(shared_data):
    root = shared_data / "feather2023"
    return {n: load_feather2023_experiment(root, n) for n in sorted({e for e, _ in PUBLISHED} | {6})}


def feather_anova(data):
    return mixed_anova(data, within="layer", subject="participant", between="observer_type").set_index("source")


@pytest.mark.parametrize("experiment, model", sorted(PUBLISHED))
def test_published_f_values_to_four_decimals(experiments, experiment, model):
    data = experiments[experiment][model].drop_sel(layer=LEFT_OUT.get((experiment, model), []))
    table = feather_anova(data)
    main, interaction = PUBLISHED[experiment, model]
    assert round(float(table.loc["observer_type", "f"]), 4) == main
    assert round(float(table.loc["observer_type:layer", "f"]), 4) == interaction
    n = data.sizes["participant"]
    k = data.sizes["layer"]
    assert table["df1"].tolist() == [1, k - 1, k - 1]
    assert table["df2"].tolist() == [2 * n - 2, (k - 1) * (2 * n - 2), (k - 1) * (2 * n - 2)]


def test_published_hmax_human_layer_effect(experiments):
    """EXP6: humans only, the classifier ('final') layer removed, a one-way repeated-measures ANOVA."""
    data = experiments[6]["hmax_standard"].sel(observer_type="human").drop_sel(layer="final")
    table = mixed_anova(data, within="layer", subject="participant").set_index("source")
    assert list(table.index) == ["layer"]
    assert round(float(table.loc["layer", "f"]), 4) == 351.8739
    row = table.loc["layer"]
    np.testing.assert_allclose([row.ss, row.df1, row.df2, row.ms_error, row.np2],
                               [8.5203, 4, 76, 0.0060535, 0.94877], rtol=1e-4)
    np.testing.assert_allclose([row.p, row.p_gg, row.p_hf, row.p_lb],
                               [3.3952e-48, 1.0822e-37, 2.5257e-45, 1.0178e-13], rtol=1e-4)


def test_published_full_table_alexnet(experiments):
    """Every column of MATLAB's table for EXP1 AlexNet (five significant digits)."""
    table = feather_anova(experiments[1]["alexnet"])
    expected = {  # SumSq, DF, MeanSq, F, pValue, pValueGG, pValueHF, pValueLB, partial_etaSquared
        "observer_type": (23.212, 1, 23.212, 935.44, 2.4726e-30, 2.4726e-30, 2.4726e-30, 2.4726e-30, 0.95703),
        "layer": (11.211, 8, 1.4014, 189.07, 1.7841e-119, 5.0085e-90, 3.8677e-106, 3.7919e-17, 0.81823),
        "observer_type:layer": (11.565, 8, 1.4456, 195.03, 2.5157e-121, 2.0664e-91, 8.8692e-108, 2.2155e-17,
                                0.8228),
    }
    for source, values in expected.items():
        row = table.loc[source]
        ours = [row.ss, row.df1, row.ms, row.f, row.p, row.p_gg, row.p_hf, row.p_lb, row.np2]
        np.testing.assert_allclose(ours, values, rtol=1e-4, err_msg=source)
    np.testing.assert_allclose(table.loc["layer", ["ss_error", "df2", "ms_error"]].astype(float),
                               [2.4905, 336, 0.0074123], rtol=1e-4)
    np.testing.assert_allclose(table.loc["observer_type", ["ss_error", "df2", "ms_error"]].astype(float),
                               [1.0422, 42, 0.024814], rtol=1e-4)


# ----------------------------------------------------------------------------- pingouin


def long_form(values, groups):
    """(unit, level) values and per-unit groups as pingouin's long table."""
    n, k = values.shape
    return pd.DataFrame({"subject": np.repeat(np.arange(n), k), "level": np.tile(np.arange(k), n),
                         "group": np.repeat(groups, k), "y": values.ravel()})


def as_array(values, groups):
    return xr.DataArray(values, dims=("unit", "level"), coords={"group": ("unit", list(groups))})


def test_balanced_design_matches_pingouin(rng):
    pg = pytest.importorskip("pingouin")
    values = rng.normal(size=(18, 5)) + np.linspace(0, 1, 5) + np.repeat([0.0, 0.4, 0.2], 6)[:, None]
    groups = np.repeat(["a", "b", "c"], 6)
    ours = mixed_anova(as_array(values, groups), within="level", subject="unit", between="group")
    ref = pg.mixed_anova(long_form(values, groups), dv="y", within="level", subject="subject", between="group",
                         correction=True)
    np.testing.assert_allclose(ours["ss"], ref["SS"], rtol=1e-10)
    np.testing.assert_allclose(ours["df1"], ref["DF1"])
    np.testing.assert_allclose(ours["df2"], ref["DF2"])
    np.testing.assert_allclose(ours["f"], ref["F"], rtol=1e-10)
    np.testing.assert_allclose(ours["p"], ref["p_unc"], rtol=1e-8)
    np.testing.assert_allclose(ours["np2"], ref["np2"], rtol=1e-8)
    # pingouin 0.7 estimates sphericity from the pooled within-group covariance too
    within = ours.iloc[1:]
    np.testing.assert_allclose(within["eps_gg"], ref["eps"].iloc[1:], rtol=1e-10)
    np.testing.assert_allclose(within["p_gg"], ref["p_GG_corr"].iloc[1:], rtol=1e-8)
    np.testing.assert_allclose(within["mauchly_w"], ref["W_spher"].iloc[1:], rtol=1e-10)
    np.testing.assert_allclose(within["mauchly_p"], ref["p_spher"].iloc[1:], rtol=1e-8)


def test_repeated_measures_matches_pingouin_sphericity(rng):
    pg = pytest.importorskip("pingouin")
    values = rng.normal(size=(12, 4)) * np.array([1.0, 2.0, 0.5, 3.0]) + np.arange(4)
    groups = np.zeros(12)
    long = long_form(values, groups)
    ours = mixed_anova(as_array(values, groups).drop_vars("group"), within="level", subject="unit").iloc[0]
    ref = pg.rm_anova(long, dv="y", within="level", subject="subject", correction=True, detailed=False).iloc[0]
    assert ours.f == pytest.approx(ref["F"], rel=1e-10)
    assert ours.eps_gg == pytest.approx(ref["eps"], rel=1e-10)
    assert ours.p_gg == pytest.approx(ref["p_GG_corr"], rel=1e-8)
    spher = pg.sphericity(long, dv="y", within="level", subject="subject")
    assert ours.mauchly_w == pytest.approx(spher.W, rel=1e-10)
    assert ours.mauchly_chi2 == pytest.approx(spher.chi2, rel=1e-10)
    assert ours.mauchly_df == spher.dof
    assert ours.mauchly_p == pytest.approx(spher.pval, rel=1e-8)


def regression_reference(values, groups):
    """F values of ranova's route: effects-coded multivariate regression of the contrast scores, type III."""
    n, k = values.shape
    levels = list(dict.fromkeys(groups))
    x = np.ones((n, len(levels)))
    for i, level in enumerate(levels[:-1]):
        x[:, i + 1] = (groups == level).astype(float) - (groups == levels[-1])
    contrasts = np.linalg.qr(np.column_stack([np.ones(k), np.eye(k)[:, :-1]]))[0][:, 1:]  # any orthonormal set
    scores = values @ contrasts
    inverse = np.linalg.inv(x.T @ x)
    coef = inverse @ x.T @ scores
    error = np.trace((scores - x @ coef).T @ (scores - x @ coef))

    def hypothesis(rows, y, b):
        lb = rows @ b
        return lb.T @ np.linalg.inv(rows @ inverse @ rows.T) @ lb

    g, p = len(levels), k - 1
    ms_error = error / (p * (n - g))
    f_within = np.trace(hypothesis(np.eye(g)[:1], scores, coef)) / p / ms_error
    f_inter = np.trace(hypothesis(np.eye(g)[1:], scores, coef)) / (p * (g - 1)) / ms_error
    means = values.mean(axis=1)
    coef_b = inverse @ x.T @ means
    resid = means - x @ coef_b
    f_between = (k * hypothesis(np.eye(g)[1:], means, coef_b) / (g - 1)) / (k * resid @ resid / (n - g))
    return float(f_between), float(f_within), float(f_inter)


def test_unbalanced_groups_type_three(rng):
    pg = pytest.importorskip("pingouin")
    sizes = [4, 9, 6]
    groups = np.repeat(["a", "b", "c"], sizes)
    values = rng.normal(size=(sum(sizes), 4)) + np.repeat([[0, 1, 2, 3], [0, 0, 1, 1], [3, 2, 1, 0]], sizes, axis=0)
    ours = mixed_anova(as_array(values, groups), within="level", subject="unit", between="group")
    np.testing.assert_allclose(ours["f"], regression_reference(values, groups), rtol=1e-10)
    ref = pg.mixed_anova(long_form(values, groups), dv="y", within="level", subject="subject", between="group",
                         correction=True)
    # between and interaction agree with pingouin; its within effect weights the groups by size (type I/II)
    np.testing.assert_allclose(ours["f"].iloc[[0, 2]], ref["F"].iloc[[0, 2]], rtol=1e-10)
    assert abs(ours["f"].iloc[1] - ref["F"].iloc[1]) > 1e-3
    np.testing.assert_allclose(ours["eps_gg"].iloc[1:], ref["eps"].iloc[1:], rtol=1e-10)
    assert ours.attrs["design"]["units_per_group"] == {"a": 4, "b": 9, "c": 6}


def test_between_as_dim_equals_between_as_coordinate(rng):
    values = rng.uniform(size=(7, 4, 2))
    stacked = xr.DataArray(values, dims=("participant", "layer", "observer_type"),
                           coords={"observer_type": ["human", "network"]})
    flat = np.concatenate([values[:, :, 0], values[:, :, 1]])
    coord = as_array(flat, ["human"] * 7 + ["network"] * 7)
    a = mixed_anova(stacked, within="layer", subject="participant", between="observer_type")
    b = mixed_anova(coord, within="level", subject="unit", between="group")
    np.testing.assert_allclose(a["f"], b["f"], rtol=1e-12)
    np.testing.assert_allclose(a["mauchly_w"].iloc[1:], b["mauchly_w"].iloc[1:], rtol=1e-12)
    assert list(a.columns) == list(ANOVA_COLUMNS)


def test_two_levels_sphericity_trivial(rng):
    table = mixed_anova(as_array(rng.normal(size=(8, 2)), np.repeat(["a", "b"], 4)), within="level",
                        subject="unit", between="group").set_index("source")
    assert table.loc["level", "eps_gg"] == 1.0 and table.loc["level", "mauchly_p"] == 1.0
    assert table.loc["level", "p_gg"] == table.loc["level", "p"]


# ----------------------------------------------------------------------------- invariances


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shift=st.floats(-5, 5), scale=st.floats(0.1, 10))
def test_f_invariances(seed, shift, scale):
    rng = np.random.default_rng(seed)
    values = rng.uniform(size=(5, 4, 2))
    data = xr.DataArray(values, dims=("participant", "layer", "observer_type"),
                        coords={"participant": list("abcde"), "layer": list("wxyz"), "observer_type": ["h", "n"]})
    base = mixed_anova(data, within="layer", subject="participant", between="observer_type")
    moved = [
        data.isel(participant=rng.permutation(5)),                 # relabel / reorder subjects
        data.isel(layer=rng.permutation(4)),                       # reorder layers
        data + shift,                                               # add a constant
        data * scale,                                               # change units
        data.isel(observer_type=[1, 0]),                           # swap group labels
    ]
    for other in moved:
        table = mixed_anova(other, within="layer", subject="participant", between="observer_type")
        np.testing.assert_allclose(table["f"], base["f"], rtol=1e-8)
        np.testing.assert_allclose(table["eps_gg"], base["eps_gg"], rtol=1e-8)
        np.testing.assert_allclose(table["np2"], base["np2"], rtol=1e-8)


# ----------------------------------------------------------------------------- errors


def test_missing_values_raise_or_drop(rng):
    values = rng.uniform(size=(6, 3, 2))
    data = xr.DataArray(values, dims=("participant", "layer", "observer_type"),
                        coords={"participant": list("abcdef"), "observer_type": ["human", "network"]})
    holed = data.copy()
    holed[2, 1, 1] = np.nan
    with pytest.raises(DataError, match="network/c"):
        mixed_anova(holed, within="layer", subject="participant", between="observer_type")
    dropped = mixed_anova(holed, within="layer", subject="participant", between="observer_type", missing="drop")
    assert dropped.attrs["dropped_units"] == ["network/c"]
    flat = np.concatenate([values[:, :, 0], np.delete(values[:, :, 1], 2, axis=0)])
    reference = mixed_anova(as_array(flat, ["human"] * 6 + ["network"] * 5), within="level", subject="unit",
                            between="group")
    np.testing.assert_allclose(dropped["f"], reference["f"], rtol=1e-12)
    with pytest.raises(UnknownNameError):
        mixed_anova(holed, within="layer", subject="participant", between="observer_type", missing="mean")


def test_bad_designs(rng):
    data = xr.DataArray(rng.uniform(size=(4, 3, 2)), dims=("participant", "layer", "observer_type"))
    kw = {"within": "layer", "subject": "participant", "between": "observer_type"}
    with pytest.raises(DataError, match="at least 2"):
        mixed_anova(data.isel(layer=[0]), **kw)
    with pytest.raises(DataError, match="at least 2"):
        mixed_anova(data.isel(observer_type=[0]), **kw)
    with pytest.raises(DataError, match="no error degrees of freedom"):
        mixed_anova(data.isel(participant=[0]), **kw)
    with pytest.raises(DataError, match="neither"):
        mixed_anova(data.expand_dims(seed=2), **kw)
    with pytest.raises(UnknownNameError, match="stage"):
        mixed_anova(data, within="stage", subject="participant", between="observer_type")
    with pytest.raises(UnknownNameError, match="group"):
        mixed_anova(data.isel(observer_type=0), within="layer", subject="participant", between="group")
    with pytest.raises(DataError, match="infinite"):
        mixed_anova(data.where(data < 0.9, np.inf), **kw)
    with pytest.raises(DataError, match="error term"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the named error, not numpy's 0/0 warnings first
        mixed_anova(xr.zeros_like(data) + data.mean("participant"), **kw)   # no variation between units

    with pytest.raises(DataError, match="DataArray"):
        mixed_anova(data.values, **kw)


def test_an_error_term_zero_up_to_rounding_raises():
    """Units that differ only by a constant have no within-unit error; rounding leaves ~1e-32 of it."""
    values = np.array([[0, 1], [0.3, 1.3], [0.1, 1.1], [0.7, 1.7]])
    data = xr.DataArray(values, dims=("unit", "level"), coords={"group": ("unit", list("aabb"))})
    with pytest.raises(DataError, match="error term of 'level' is 0"):
        mixed_anova(data, within="level", subject="unit", between="group")


def test_undefined_mauchly_is_reported(rng, caplog):
    """Fewer error df than contrasts: W cannot be estimated; NaN with a warning, F still valid."""
    data = as_array(rng.normal(size=(4, 6)), ["a", "a", "b", "b"])
    with caplog.at_level("WARNING"):
        table = mixed_anova(data, within="level", subject="unit", between="group").set_index("source")
    assert np.isnan(table.loc["level", "mauchly_w"]) and "undefined" in caplog.text
    assert np.isfinite(table.loc["level", "f"]) and np.isfinite(table.loc["level", "p_gg"])
