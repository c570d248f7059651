"""Tests of neuroalign.metamers.anova_permutation.permutation_anova.

References:

* Feather et al. (2023), jenellefeather/model_metamers_pytorch: the scheme of
  ``run_permutation_significance_test_network_human.m`` (labels permuted across
  all units; for the interaction, each unit's layers shuffled too; ``p = #{F_null
  >= F} / n``, set to ``1 / n`` when 0) and ``..._layer_effect_human.m`` (layers
  shuffled within each participant), and the p values their runs printed with
  ``NUM_PERMUTATIONS = 10000`` ("p-value main effect", "p-value interaction") in
  ``VisionBehavioralExperiments/EXP{1,3,4,5}_ANALYSIS/17-Mar-2022-EXP*_ANALYSIS_ANOVA_NETWORK_HUMAN_RESULTS.txt``
  and ``EXP6_ANALYSIS/20-Mar-2022-EXP6_ANALYSIS_MAIN_EFFECT_LAYER_HUMAN_RESULTS.txt``
  @ 2dc5d610bd12051479fc5fd0fcb50f6d9e138704, and
  ``EXP12_ANALYSIS/04-Feb-2023-EXP12_ANALYSIS_ANOVA_NETWORK_HUMAN_RESULTS.txt`` @ 7b3dda22.
  Their draws (MATLAB ``rng(517)`` inside ``parfor``) cannot be replayed: a p value
  printed as 0.0001 means that no null F reached the observed one, and the three
  larger ones are compared within their Monte Carlo error.
* SciPy's ``stats.permutation_test`` (exact, ``permutation_type="independent"``)
  with ``stats.f_oneway`` on the unit means, for the between effect;
* textbook sums of squares of the balanced split-plot design (Kirk, *Experimental
  Design*, ch. 12), written out with loops here, for the within effect and the
  interaction over every relabelling.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tests.cli_runner import assert_one_line_error
from tests.metamers.test_anova import LEFT_OUT, PUBLISHED

from neuroalign.errors import ConfigError, DataError, UnknownNameError
from neuroalign.loaders.feather2023 import load_feather2023, load_feather2023_experiment
from neuroalign.metamers.anova import mixed_anova
from neuroalign.metamers.anova_permutation import EXACT_LIMIT, PERMUTATION_COLUMNS, permutation_anova

#: (experiment, model) -> the p values printed for the main effect and the interaction, where not 0.0001
PUBLISHED_P = {
    (3, "resnet50_l2_3_robust"): (0.0094, 0.0001),
    (3, "resnet50_linf_8_robust"): (0.0101, 0.0001),
    (4, "alexnet_l2_3_robust"): (0.1917, 0.0001),
}
N_PUBLISHED = 10_000


@pytest.fixture(scope="module")
def experiments(shared_data):
    root = shared_data / "feather2023"
    return {n: load_feather2023_experiment(root, n) for n in (1, 3, 4, 5, 6, 12)}


def feather(data, permutations=N_PUBLISHED, random_state=0, **kwargs):
    return permutation_anova(data, within="layer", subject="participant", between="observer_type",
                             permutations=permutations, random_state=random_state, **kwargs).set_index("source")


def check_published(experiments, experiment, model):
    data = experiments[experiment][model].drop_sel(layer=LEFT_OUT.get((experiment, model), []))
    table = feather(data)
    assert table["n_permutations"].tolist() == [N_PUBLISHED] * 3
    for source, published in zip(("observer_type", "observer_type:layer"),
                                 PUBLISHED_P.get((experiment, model), (0.0001, 0.0001))):
        ours = float(table.loc[source, "p_permutation"])
        if published == 1 / N_PUBLISHED:  # printed when no null F reached the observed F
            assert table.loc[source, "n_null_ge"] == 0, source
            assert ours == 1 / N_PUBLISHED
        else:  # two Monte Carlo estimates of one p value: 4 standard errors of their difference
            assert abs(ours - published) <= 4 * np.sqrt(2 * published * (1 - published) / N_PUBLISHED), source


@pytest.mark.parametrize("experiment, model", [(1, "alexnet"), *sorted(PUBLISHED_P)])
def test_published_p_values(experiments, experiment, model):
    check_published(experiments, experiment, model)


@pytest.mark.slow
@pytest.mark.parametrize("experiment, model", sorted(PUBLISHED))
def test_published_p_values_every_model(experiments, experiment, model):
    check_published(experiments, experiment, model)


def test_published_hmax_layer_effect(experiments):
    """EXP6: the layer effect of the human data of HMAX ('final' removed), printed p 0.0001."""
    data = experiments[6]["hmax_standard"].sel(observer_type="human").drop_sel(layer="final")
    table = permutation_anova(data, within="layer", subject="participant", permutations=N_PUBLISHED,
                              random_state=1).set_index("source")
    assert round(float(table.loc["layer", "f"]), 4) == 351.8739
    assert table.loc["layer", "n_null_ge"] == 0
    assert table.loc["layer", "p_permutation"] == 1 / N_PUBLISHED


def test_table_is_mixed_anova_plus_columns(experiments):
    data = experiments[1]["alexnet"]
    table = feather(data, permutations=50).reset_index()
    plain = mixed_anova(data, within="layer", subject="participant", between="observer_type")
    assert list(table.columns) == [*plain.columns, *PERMUTATION_COLUMNS]
    assert table[list(plain.columns)].equals(plain)
    assert set(table.attrs["null_f"]) == set(plain["source"])
    assert all(len(v) == 50 for v in table.attrs["null_f"].values())
    assert table.attrs["parameters"]["permutations"] == 50
    assert "permuted across all units" in table.attrs["permutation_test"]["between"]


# ----------------------------------------------------------------------------- exact enumeration


def array(values, groups):
    return xr.DataArray(values, dims=("unit", "level"), coords={"group": ("unit", list(groups))})


def textbook_f(values, groups):
    """F of (between, within, interaction) in a balanced split-plot design, by the textbook formulas."""
    levels = sorted(set(groups))
    a, (n_units, b) = len(levels), values.shape
    n = n_units // a
    grand = values.mean()
    cells = np.array([[values[[i for i, g in enumerate(groups) if g == lv], j].mean() for j in range(b)]
                      for lv in levels])
    rows, cols = cells.mean(axis=1), cells.mean(axis=0)
    ss_a = b * n * sum((r - grand) ** 2 for r in rows)
    ss_b = a * n * sum((c - grand) ** 2 for c in cols)
    ss_ab = n * sum((cells[i, j] - rows[i] - cols[j] + grand) ** 2 for i in range(a) for j in range(b))
    ss_units = ss_err = 0.0
    for s in range(n_units):
        i = levels.index(groups[s])
        unit = values[s].mean()
        ss_units += b * (unit - rows[i]) ** 2
        ss_err += sum((values[s, j] - cells[i, j] - unit + rows[i]) ** 2 for j in range(b))
    ms_err = ss_err / (a * (n - 1) * (b - 1))
    return ((ss_a / (a - 1)) / (ss_units / (a * (n - 1))), (ss_b / (b - 1)) / ms_err,
            (ss_ab / ((a - 1) * (b - 1))) / ms_err)


def exact_p(null, observed):
    null = np.asarray(null)
    return float((null >= observed - 100 * np.finfo(float).eps * abs(observed)).mean())


def test_exact_between_effect_matches_scipy(rng):
    """Unequal groups (3 + 4 units): every one of C(7, 3) = 35 labellings, against scipy's exact test."""
    values = rng.normal(size=(7, 2)) + np.array([0.8, 0.8, 0.8, 0, 0, 0, 0])[:, None]
    groups = ["a"] * 3 + ["b"] * 4
    table = permutation_anova(array(values, groups), within="level", subject="unit", between="group",
                              permutations="exact").set_index("source")
    means = values.mean(axis=1)
    reference = stats.permutation_test((means[:3], means[3:]), lambda x, y: stats.f_oneway(x, y).statistic,
                                       permutation_type="independent", alternative="greater", n_resamples=np.inf)
    assert table.loc["group", "n_permutations"] == 35
    assert table.loc["group", "p_permutation"] == pytest.approx(reference.pvalue, abs=1e-15)
    np.testing.assert_allclose(np.sort(table.attrs["null_f"]["group"]), np.sort(reference.null_distribution),
                               rtol=1e-10)
    assert table.loc["group", "f"] == pytest.approx(stats.f_oneway(means[:3], means[3:]).statistic, rel=1e-12)


def test_exact_within_and_interaction_match_textbook_enumeration(rng):
    """2 groups × 2 units × 3 levels: 6 labellings × 6^4 orders = 7,776 relabellings, enumerated here too."""
    values = rng.normal(size=(4, 3)) + np.array([[0, 0.5, 1], [0, 0.5, 1], [0, 0, 0], [0, 0, 0]])
    groups = ["a", "a", "b", "b"]
    table = permutation_anova(array(values, groups), within="level", subject="unit", between="group",
                              permutations="exact").set_index("source")
    observed = textbook_f(values, groups)
    np.testing.assert_allclose(table["f"].to_numpy(), observed, rtol=1e-12)
    null = []
    for labels in set(itertools.permutations(groups)):
        for orders in itertools.product(itertools.permutations(range(3)), repeat=4):
            shuffled = np.stack([values[u, list(o)] for u, o in enumerate(orders)])
            null.append(textbook_f(shuffled, list(labels))[1:])
    null = np.asarray(null)
    assert len(null) == 7776
    for column, source in ((0, "level"), (1, "group:level")):
        assert table.loc[source, "n_permutations"] == 7776
        assert table.loc[source, "p_permutation"] == exact_p(null[:, column], observed[column + 1])
        np.testing.assert_allclose(np.sort(table.attrs["null_f"][source]), np.sort(null[:, column]), rtol=1e-9)
    assert table.loc["group", "n_permutations"] == 6


def test_exact_repeated_measures(rng):
    """One-way repeated measures (3 units × 3 levels): 6^3 = 216 orders."""
    values = rng.normal(size=(3, 3)) + np.array([0, 1, 2])
    data = xr.DataArray(values, dims=("unit", "level"))
    table = permutation_anova(data, within="level", subject="unit", permutations="exact").set_index("source")
    null = []
    for orders in itertools.product(itertools.permutations(range(3)), repeat=3):
        y = np.stack([values[u, list(o)] for u, o in enumerate(orders)])
        ss_b = 3 * ((y.mean(axis=0) - y.mean()) ** 2).sum()
        resid = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0) + y.mean()
        null.append((ss_b / 2) / ((resid ** 2).sum() / 4))
    observed = float(table.loc["level", "f"])
    assert table.loc["level", "n_permutations"] == 216
    assert table.loc["level", "p_permutation"] == exact_p(null, observed)
    assert table.loc["level", "p_permutation"] >= 1 / 216  # the identity is one of them


def test_random_draws_converge_to_exact(rng):
    values = rng.normal(size=(5, 2)) + np.array([0.6, 0.6, 0, 0, 0])[:, None] * np.array([0, 1])
    data = array(values, ["a", "a", "b", "b", "b"])
    kwargs = {"within": "level", "subject": "unit", "between": "group"}
    exact = permutation_anova(data, permutations="exact", **kwargs).set_index("source")
    n = 20_000
    drawn = permutation_anova(data, permutations=n, random_state=3, **kwargs).set_index("source")
    for source in exact.index:
        p = float(exact.loc[source, "p_permutation"])
        assert abs(drawn.loc[source, "p_permutation"] - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1 / n, source
        support = np.unique(exact.attrs["null_f"][source])  # every drawn value is one of the enumerated ones
        f = drawn.attrs["null_f"][source]
        nearest = support[np.clip(np.searchsorted(support, f), 1, len(support) - 1) - [[1], [0]]]
        assert np.isclose(nearest, f, rtol=1e-9).any(axis=0).all(), source


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), design=st.sampled_from([(2, 2, 3), (2, 3, 2), (3, 2, 2)]),
       scale=st.floats(0.1, 10.0) | st.floats(-10.0, -0.1), shift=st.floats(-5, 5))
def test_exact_p_invariances(seed, design, scale, shift):
    """Exact p values do not change under y -> a·y + c nor under a reordering of the units."""
    n_a, n_b, k = design
    gen = np.random.default_rng(seed)
    values = gen.normal(size=(n_a + n_b, k))
    groups = ["a"] * n_a + ["b"] * n_b
    kwargs = {"within": "level", "subject": "unit", "between": "group", "permutations": "exact"}
    base = permutation_anova(array(values, groups), **kwargs)
    moved = permutation_anova(array(scale * values + shift, groups), **kwargs)
    order = gen.permutation(len(groups))
    reordered = permutation_anova(array(values[order], [groups[i] for i in order]), **kwargs)
    for other in (moved, reordered):
        np.testing.assert_array_equal(other["n_null_ge"], base["n_null_ge"])
        np.testing.assert_array_equal(other["p_permutation"], base["p_permutation"])
    assert (base["p_permutation"] >= 1 / base["n_permutations"]).all()
    assert (base["p_permutation"] <= 1).all()


# ----------------------------------------------------------------------------- seeds, null data, rules


def small(rng, n=4, k=3):
    return array(rng.normal(size=(2 * n, k)), ["a"] * n + ["b"] * n)


def run(data, **kwargs):
    return permutation_anova(data, within="level", subject="unit", between="group", **kwargs)


def test_seeding(rng):
    data = small(rng)
    first, again = run(data, permutations=1500, random_state=7), run(data, permutations=1500, random_state=7)
    for source, null in first.attrs["null_f"].items():
        assert len(null) == 1500  # more than one chunk of draws
        np.testing.assert_array_equal(null, again.attrs["null_f"][source])
    generator = run(data, permutations=1500, random_state=np.random.default_rng(7))
    np.testing.assert_array_equal(generator["p_permutation"], first["p_permutation"])
    other = run(data, permutations=1500, random_state=8)
    assert not np.array_equal(other.attrs["null_f"]["group"], first.attrs["null_f"]["group"])


def test_p_value_rules(rng):
    data = small(rng)
    feather = run(data, permutations=99, random_state=0)
    plus_one = run(data, permutations=99, random_state=0, p_value="plus_one")
    np.testing.assert_array_equal(feather["n_null_ge"], plus_one["n_null_ge"])
    b = feather["n_null_ge"].to_numpy()
    np.testing.assert_allclose(feather["p_permutation"], np.maximum(b, 1) / 99)
    np.testing.assert_allclose(plus_one["p_permutation"], (b + 1) / 100)


def test_uniform_p_under_the_null():
    """i.i.d. data: every relabelling is equally likely, so (b + 1) / (n + 1) is uniform on {1, …, n+1}/(n+1)."""
    gen = np.random.default_rng(11)
    n_sim, n_perm = 200, 99
    p = np.array([run(small(gen, n=3), permutations=n_perm, random_state=gen, p_value="plus_one")["p_permutation"]
                  for _ in range(n_sim)])  # (simulation, effect)
    mean = (n_perm + 2) / (2 * (n_perm + 1))
    sd = np.sqrt(((n_perm + 1) ** 2 - 1) / 12) / (n_perm + 1)
    np.testing.assert_allclose(p.mean(axis=0), mean, atol=4 * sd / np.sqrt(n_sim))
    rate = 5 / (n_perm + 1)  # P(p <= 0.05)
    np.testing.assert_allclose((p <= 0.05).mean(axis=0), rate, atol=4 * np.sqrt(rate * (1 - rate) / n_sim))


def test_missing_units_are_dropped_like_mixed_anova(rng):
    values = rng.normal(size=(8, 3))
    values[2, 1] = np.nan
    groups = ["a"] * 4 + ["b"] * 4
    dropped = run(array(values, groups), permutations=200, random_state=0, missing="drop")
    keep = [i for i in range(8) if i != 2]
    manual = run(array(values[keep], [groups[i] for i in keep]), permutations=200, random_state=0)
    np.testing.assert_array_equal(dropped["p_permutation"], manual["p_permutation"])
    assert dropped.attrs["dropped_units"] == ["2"]
    with pytest.raises(DataError, match="missing"):
        run(array(values, groups), permutations=10)


@pytest.mark.parametrize("permutations", [0, -5, 2.5, True, "all", None])
def test_bad_permutations(rng, permutations):
    with pytest.raises(ConfigError) as info:
        run(small(rng), permutations=permutations)
    assert info.value.source == "permutations"


@pytest.mark.parametrize("random_state", [-1, 1.5, "seed", True, None])
def test_bad_random_state(rng, random_state):
    with pytest.raises(ConfigError) as info:
        run(small(rng), permutations=10, random_state=random_state)
    assert info.value.source == "random_state"


def test_a_zero_f_counts_its_rounded_ties():
    """Parallel group profiles: the interaction F is 0 up to rounding, and every null F (>= 0) counts as at
    least it, so p = 1 whatever the rounding of either."""
    values = np.array([[0.1, 1.3], [0.1, 2.3], [1.1, 2.3], [1.1, 3.3]])
    data = array(values, ["a", "a", "b", "b"])
    table = run(data, permutations="exact").set_index("source")
    assert table.loc["group:level", "f"] == pytest.approx(0, abs=1e-12)
    assert table.loc["group:level", "p_permutation"] == 1.0


def test_exact_too_large(experiments):
    with pytest.raises(ConfigError, match=f"limit {EXACT_LIMIT:,}") as info:
        feather(experiments[1]["alexnet"], permutations="exact")
    assert info.value.source == "permutations"


def test_unknown_p_value_rule(rng):
    with pytest.raises(UnknownNameError) as info:
        run(small(rng), permutations=10, p_value="phipson")
    assert info.value.source == "p_value"


# ----------------------------------------------------------------------------- the command line


def test_cli_permutations(cli, shared_data, tmp_path):
    """``--permutations`` adds the p values to anova.csv; the same seed gives the same numbers as the API."""
    path = (shared_data / "feather2023" / "EXP4_ANALYSIS"
            / "VisionExperiment4_network_vs_humans_datamatrix_alexnet_l2_3_robust_public.mat")
    result = cli("metamer-humans", "--data", path, "--permutations", "2000", "--seed", "5", "--out", tmp_path / "o",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    anova = pd.read_csv(tmp_path / "o" / "anova.csv").set_index("source")
    assert list(anova.columns[-3:]) == list(PERMUTATION_COLUMNS)
    expected = feather(load_feather2023(path), permutations=2000, random_state=5)
    np.testing.assert_allclose(anova["p_permutation"], expected["p_permutation"], rtol=1e-12)
    assert (anova["n_permutations"] == 2000).all()
    # without --permutations the table has no permutation columns
    assert cli("metamer-humans", "--data", path, "--out", tmp_path / "plain", cwd=tmp_path).returncode == 0
    assert "p_permutation" not in pd.read_csv(tmp_path / "plain" / "anova.csv").columns


def test_cli_bad_permutations(cli, shared_data, tmp_path):
    result = cli("metamer-humans", "--data", shared_data / "feather2023", "--permutations", "-1",
                 "--out", tmp_path / "o", cwd=tmp_path)
    assert_one_line_error(result, "--permutations", "at least 0")
