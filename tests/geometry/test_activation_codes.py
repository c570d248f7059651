"""Binary activation codes: the vectorised statistics against brute-force loops over stimuli and pairs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neuroalign.data import create_assembly
from neuroalign.errors import ConfigError, DataError, SchemaError
from neuroalign.geometry.activation_codes import (
    binary_codes,
    class_hamming,
    code_counts,
    code_statistics,
    hamming_distances,
    layer_code_statistics,
)


def _loop_statistics(values, labels, threshold=0.0):
    """Brute force: compare every pair of codes as Python tuples."""
    codes = [tuple(bool(v > threshold) for v in row) for row in values]
    n, d = len(codes), len(codes[0])
    unique = sum(all(codes[i] != codes[j] for j in range(n) if j != i) for i in range(n)) / n
    pairs = list(itertools.combinations(range(n), 2))
    collisions = sum(codes[i] == codes[j] for i, j in pairs) / len(pairs)
    hamming = {(i, j): sum(a != b for a, b in zip(codes[i], codes[j])) / d for i, j in pairs}
    within = [hamming[p] for p in pairs if labels[p[0]] == labels[p[1]]]
    between = [hamming[p] for p in pairs if labels[p[0]] != labels[p[1]]]
    return {"uniqueness": unique, "collision_rate": collisions, "distinct_codes": len(set(codes)) / n,
            "active_fraction": sum(map(sum, codes)) / (n * d), "hamming_within": np.mean(within),
            "hamming_between": np.mean(between)}, hamming


def _assembly(values, labels):
    return create_assembly(values, stimulus_id=[f"s{i}" for i in range(len(values))], presentation={"label": labels})


def test_statistics_equal_brute_force(rng):
    # few units so that codes collide; repeated rows make some codes shared by three stimuli
    values = rng.normal(size=(40, 5))
    values[10:13] = values[3]
    labels = rng.integers(0, 3, size=40)
    a = _assembly(values, labels)
    expected, hamming = _loop_statistics(values, labels)
    stats = code_statistics(a, label="label")
    assert list(stats.statistic.values) == list(expected)
    np.testing.assert_allclose(stats.values, list(expected.values()), rtol=1e-12)
    pairs = class_hamming(a)
    np.testing.assert_allclose(pairs.values, [hamming[p] for p in itertools.combinations(range(40), 2)])
    assert pairs.same_class.values.tolist() == [labels[i] == labels[j] for i, j in itertools.combinations(range(40), 2)]
    assert (pairs.stimulus_id_a.values[:2] == ["s0", "s0"]).all() and pairs.stimulus_id_b.values[0] == "s1"


def test_threshold_and_distances_against_loop(rng):
    values = rng.normal(size=(15, 70))
    a = _assembly(values, np.zeros(15))
    d = hamming_distances(a, threshold=0.3)
    loop = [[int(np.sum((values[i] > 0.3) != (values[j] > 0.3))) for j in range(15)] for i in range(15)]
    assert d.values.tolist() == loop and d.dims == ("stimulus_a", "stimulus_b")
    np.testing.assert_allclose(hamming_distances(a, threshold=0.3, normalize=True), np.array(loop) / 70)
    assert binary_codes(a, threshold=0.3).values.tolist() == (values > 0.3).tolist()


@settings(max_examples=40, deadline=None)
@given(arrays(np.int8, st.tuples(st.integers(2, 12), st.integers(1, 20)), elements=st.integers(-1, 1)),
       st.randoms(use_true_random=False))
def test_invariant_to_unit_order_and_stimulus_order(values, random):
    a = _assembly(values.astype(float), np.arange(len(values)) % 2)
    units = list(range(values.shape[1]))
    stimuli = list(range(values.shape[0]))
    random.shuffle(units)
    random.shuffle(stimuli)
    base = code_statistics(a)
    np.testing.assert_allclose(code_statistics(a.isel(neuroid=units)), base)
    np.testing.assert_allclose(code_statistics(a.isel(presentation=stimuli)), base)
    counts = code_counts(binary_codes(a))
    loop = [sum((values[i] > 0).tolist() == (values[j] > 0).tolist() for j in range(len(values)))
            for i in range(len(values))]
    assert counts.tolist() == loop


def test_all_distinct_and_all_identical():
    eye = create_assembly(np.eye(6), stimulus_id=range(6))
    stats = code_statistics(eye)
    assert stats.sel(statistic="uniqueness") == 1 and stats.sel(statistic="collision_rate") == 0
    same = create_assembly(np.ones((6, 3)), stimulus_id=range(6))
    stats = code_statistics(same)
    assert stats.sel(statistic="uniqueness") == 0 and stats.sel(statistic="collision_rate") == 1
    assert stats.sel(statistic="distinct_codes") == pytest.approx(1 / 6)


def test_layers_and_errors(rng):
    x = rng.normal(size=(20, 30))
    layers = {"a": _assembly(x, np.arange(20) % 4), "b": _assembly(np.abs(x), np.arange(20) % 4)}
    score = layer_code_statistics(layers, label="label")
    assert score.data.score.dims == ("layer", "statistic")
    np.testing.assert_allclose(score.data.score.sel(layer="a"), code_statistics(layers["a"], label="label"))
    assert score.data.score.sel(layer="b", statistic="active_fraction") == 1
    with pytest.raises(SchemaError, match="'digit'"):
        code_statistics(layers["a"], label="digit")
    with pytest.raises(DataError, match="same class"):
        code_statistics(_assembly(x[:3], [0, 1, 2]), label="label")
    with pytest.raises(DataError, match="different classes"):
        code_statistics(_assembly(x[:3], [1, 1, 1]), label="label")
    with pytest.raises(DataError, match="at least 2"):
        code_statistics(_assembly(x[:1], [1]))
    with pytest.raises(ConfigError, match="threshold"):
        binary_codes(layers["a"], threshold=float("nan"))
    with pytest.raises(SchemaError):
        binary_codes(xr.DataArray(x, dims=("presentation", "neuroid")))
