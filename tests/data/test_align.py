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


def test_mismatch_shows_ids_from_each_side():
    with pytest.raises(AlignmentError) as info:
        align(arr(["x", "y", "z", "q"]), arr(["x", "y", "w", "v"]), names=("brain", "model"))
    problem = info.value.problem
    assert "2 only in brain (e.g. ['z', 'q'])" in problem
    assert "2 only in model (e.g. ['w', 'v'])" in problem
    assert "defaults" not in info.value.fix


@pytest.mark.parametrize("defaults", [[str(i) for i in range(92)], list(range(92)), [str(i) for i in range(1, 93)]])
def test_mismatch_with_default_ids_suggests_labelling(defaults):
    real = [f"img{i + 1:02d}" for i in range(92)]
    with pytest.raises(AlignmentError) as info:
        align(arr(real), arr(defaults), names=("model", "brain"))
    fix = info.value.fix
    assert "brain's ids" in fix and "look like the defaults" in fix
    assert "brain.assign_coords(stimulus_id=('presentation', ids))" in fix
    assert "'img01'" in fix
    assert "92 only in model (e.g. ['img01', 'img02', 'img03'])" in info.value.problem


@pytest.mark.parametrize("ids", [["01", "02", "03"], ["1.0", "2.0", "3.0"], ["5", "6", "7"], ["0", "2", "3"]])
def test_ids_that_are_not_defaults_get_no_relabelling_hint(ids):
    with pytest.raises(AlignmentError) as info:
        align(arr(["a", "b", "c"]), arr(ids))
    assert "defaults" not in info.value.fix


def test_mismatch_of_rdms_suggests_as_rdm():
    from neuroalign.data.align import stimulus_mismatch_error

    err = stimulus_mismatch_error([f"img{i}" for i in range(5)], [str(i) for i in range(4)], names=("a", "b"),
                                  kind="rdm")
    assert "as_rdm(b_values, stimulus_ids=ids)" in err.fix
    assert "a has 5 stimuli and b 4" in err.problem


def test_inner_join_with_nothing_shared_shows_ids():
    with pytest.raises(AlignmentError, match=r"share no stimulus_id .*only in a \(e.g. \['a', 'b'\]\)"):
        align(arr(["a", "b"]), arr(["c", "d"]), join="inner")
