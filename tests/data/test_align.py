import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.data import align, average_repetitions, create_assembly
from neuroalign.errors import AlignmentError, ConfigError


def arr(ids, p=2, offset=0.0):
    values = np.arange(len(ids) * p, dtype=float).reshape(len(ids), p) + offset
    return create_assembly(values, stimulus_id=ids)


def test_exact_join_reorders_b_to_a_by_id():
    a = arr(["x", "y", "z"])
    b = arr(["z", "x", "y"], p=3)
    a2, b2 = align(a, b)
    assert a2.stimulus_id.values.tolist() == ["x", "y", "z"]
    assert b2.stimulus_id.values.tolist() == ["x", "y", "z"]
    # row of stimulus "x" in b was row 1
    np.testing.assert_array_equal(b2.values[0], b.values[1])


def test_exact_join_raises_on_different_sets():
    with pytest.raises(AlignmentError, match="1 only in brain .* 1 only in model") as info:
        align(arr(["x", "y", "z"]), arr(["x", "y", "w"]), names=("brain", "model"))
    assert "join='inner'" in info.value.fix


def test_inner_join_is_explicit_and_logged(caplog):
    with caplog.at_level(logging.INFO):
        a2, b2 = align(arr(["x", "y", "z"]), arr(["w", "z", "x"]), join="inner")
    assert a2.stimulus_id.values.tolist() == ["x", "z"]
    assert b2.stimulus_id.values.tolist() == ["x", "z"]
    assert "dropped 1" in caplog.text


def test_inner_join_with_nothing_shared():
    with pytest.raises(AlignmentError, match="share no stimulus_id"):
        align(arr(["a", "b"]), arr(["c", "d"]), join="inner")


def test_duplicates_must_be_averaged_first():
    with pytest.raises(AlignmentError, match="average_repetitions"):
        align(arr(["x", "x", "y"]), arr(["x", "y"]))


def test_bad_join_value():
    with pytest.raises(ConfigError, match="join must be"):
        align(arr(["x"]), arr(["x"]), join="outer")


def test_average_repetitions_keeps_first_order_and_constant_coords():
    a = create_assembly(np.array([[1.0], [10.0], [3.0], [20.0]]), stimulus_id=["b", "a", "b", "a"],
                        presentation={"repetition": [0, 0, 1, 1], "category": ["x", "y", "x", "y"]})
    m = average_repetitions(a)
    assert m.stimulus_id.values.tolist() == ["b", "a"]
    assert m.values.ravel().tolist() == [2.0, 15.0]
    assert "category" in m.coords and "repetition" not in m.coords


@settings(max_examples=30, deadline=None)
@given(st.permutations(list("abcdef")))
def test_align_is_a_join_not_a_sort(order):
    a = arr(list("abcdef"))
    b = arr(order, offset=100)
    a2, b2 = align(a, b)
    assert b2.stimulus_id.values.tolist() == list("abcdef")
    for i, sid in enumerate("abcdef"):
        np.testing.assert_array_equal(b2.values[i], b.values[order.index(sid)])
