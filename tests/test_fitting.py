"""The estimators' shared files (neuroalign.fitting.state_files) and helpers (neuroalign.fitting.base)."""

from __future__ import annotations

import fractions
import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuroalign.errors import ConfigError, FileFormatError, UnknownNameError
from neuroalign.fitting import state_files as files
from neuroalign.fitting.base import (check_bool, check_choice, check_int, check_number, check_path,
                                              check_threads, forked_rng, resolve_seed, seeded_generator,
                                              stream_seeds, threads_for)


def test_write_read_round_trip(tmp_path):
    path = tmp_path / "a" / "state.pt"
    payload = {"model": {"w": torch.arange(4.0)}, "history": {"epoch": [1], "loss": [0.5]}, "seed": 3,
               "rois": ["x", "y"], "spec": {"edges": "top_percent", "edge_value": None}}
    files.write_state(path, payload, kind="pretrainer-checkpoint")
    state = files.read_state(path, kind="pretrainer-checkpoint")
    assert state["format"] == files.FORMAT and state["version"] == files.VERSION
    assert torch.equal(state["model"]["w"], torch.arange(4.0))
    assert {k: state[k] for k in payload if k != "model"} == {k: v for k, v in payload.items() if k != "model"}


def test_a_failed_write_leaves_the_previous_file(tmp_path):
    path = tmp_path / "state.pt"
    files.write_state(path, {"epoch": 1}, kind="k")
    with pytest.raises(Exception):
        files.write_state(path, {"epoch": 2, "bad": lambda: None}, kind="k")  # torch.save cannot pickle a lambda
    assert files.read_state(path, kind="k")["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # no temporary left behind


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "state.pt"
    torch.save({"format": files.FORMAT, "version": files.VERSION, "kind": "k", "x": fractions.Fraction(1, 3)}, path)
    with pytest.raises(FileFormatError, match="not a readable"):
        files.read_state(path, kind="k")


@pytest.mark.parametrize("content, match", [
    ({"format": "other"}, "not a neuroalign.graphs file"),
    ({"format": files.FORMAT, "version": files.VERSION, "kind": "pretrainer-model"}, "'pretrainer-model' file"),
    ({"format": files.FORMAT, "version": 99, "kind": "k"}, "version 99"),
])
def test_foreign_files_are_named(tmp_path, content, match):
    path = tmp_path / "state.pt"
    torch.save(content, path)
    with pytest.raises(FileFormatError, match=match):
        files.read_state(path, kind="k")


def test_missing_truncated_and_folder_paths(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        files.read_state(tmp_path / "none.pt", kind="k")
    path = tmp_path / "state.pt"
    files.write_state(path, {"w": torch.zeros(100)}, kind="k")
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(FileFormatError, match="not a readable"):
        files.read_state(path, kind="k")
    with pytest.raises(ConfigError, match="is a folder"):
        files.write_state(tmp_path, {}, kind="k")


def test_generator_states_round_trip(tmp_path):
    generators = {"a": seeded_generator(1), "b": seeded_generator(2)}
    torch.rand(3, generator=generators["a"])
    path = files.write_state(tmp_path / "g.pt", {"g": files.generator_states(generators)}, kind="k")
    expected = {name: torch.rand(5, generator=g) for name, g in generators.items()}
    fresh = {"a": seeded_generator(0), "b": seeded_generator(0)}
    files.restore_generators(fresh, files.read_state(path, kind="k")["g"], str(path))
    assert all(torch.equal(torch.rand(5, generator=fresh[n]), expected[n]) for n in fresh)
    with pytest.raises(FileFormatError, match="generator"):
        files.restore_generators({"c": seeded_generator(0)}, {}, "x.pt")


@settings(deadline=None)
@given(st.lists(st.floats(allow_nan=False, width=64), min_size=0, max_size=6))
def test_history_round_trip_is_exact(losses):
    table = pd.DataFrame({"epoch": np.arange(1, len(losses) + 1, dtype="int64"), "loss": np.array(losses, float)})
    back = files.history_from_dict(files.history_to_dict(table))
    assert back["epoch"].dtype == np.int64
    assert [x.hex() for x in back["loss"]] == [float(x).hex() for x in losses]  # bit-exact, signed zeros too


_VALUES = st.one_of(st.integers(-2, 2), st.sampled_from([0.0, -0.0, 1.0, 0.5, 2.0]), st.sampled_from(["", "a"]),
                    st.none(), st.booleans())
_CONFIGS = st.dictionaries(st.sampled_from("abcd"), _VALUES, max_size=4)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_CONFIGS, _CONFIGS)
def test_differences_name_exactly_the_differing_keys(a, b):
    named = {line.split(":", 1)[0] for line in files.differences(a, b)}
    expected = {k for k in set(a) | set(b) if k not in a or k not in b or not _same(a[k], b[k])}
    assert named == expected
    assert files.differences(a, a) == []


def _same(x, y):
    numbers = (int, float)
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    if isinstance(x, numbers) and isinstance(y, numbers):
        return x == y
    return type(x) is type(y) and x == y


def test_check_same_training_names_parameters_and_fix():
    saved = {"config": {"lr": 0.001, "hidden": 8}, "data": {"content_hash": "aa", "rois": ["a", "b"]}}
    current = {"config": {"lr": 0.01, "hidden": 8}, "data": {"content_hash": "bb", "rois": ["a", "b"]}}
    with pytest.raises(ConfigError) as info:
        files.check_same_training(saved, current, "c.pt", sections={"config": "other parameters",
                                                                     "data": "another dataset"})
    text = str(info.value)
    assert "lr: 0.001 in the file, 0.01 now" in text and "content_hash" in text and "hidden" not in text
    assert info.value.source == "c.pt" and "start over" in info.value.fix and "lr" in info.value.fix
    files.check_same_training(saved, saved, "c.pt", sections={"config": "x", "data": "y"})


# ---------------------------------------------------------------- fitting.base

def test_stream_seeds_are_reproducible_independent_and_63_bit():
    a = stream_seeds(5, ["init", "shuffle", "mask"])
    assert a == stream_seeds(5, ["init", "shuffle", "mask"])
    assert len(set(a.values())) == 3 and all(0 <= v < 2**63 for v in a.values())
    assert stream_seeds(6, ["init"])["init"] != a["init"]
    # the same as numpy's SeedSequence.spawn, the reference
    child = np.random.SeedSequence(5).spawn(3)[1]
    assert a["shuffle"] == int(child.generate_state(1, dtype=np.uint64)[0]) >> 1


def test_forked_rng_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    with forked_rng(0):
        first = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), before)
    with forked_rng(state=torch.manual_seed(0).get_state()):
        assert torch.equal(torch.rand(3), first)
    torch.manual_seed(123)
    assert torch.equal(torch.get_rng_state(), before)


def test_threads_are_restored():
    before = torch.get_num_threads()
    with threads_for(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with threads_for(None):
        assert torch.get_num_threads() == before


def test_resolve_seed():
    assert resolve_seed(4) == 4
    fresh = resolve_seed(None)
    assert isinstance(fresh, int) and 0 <= fresh < 2**63
    with pytest.raises(ConfigError, match="random_state"):
        resolve_seed(-1)


@pytest.mark.parametrize("call, name", [
    (lambda: check_int("epochs", -1), "epochs"),
    (lambda: check_int("epochs", True), "epochs"),
    (lambda: check_int("batch_size", 2.0, minimum=1), "batch_size"),
    (lambda: check_number("lr", 0, low=0, low_open=True), "lr"),
    (lambda: check_number("lr", math.nan, low=0), "lr"),
    (lambda: check_number("mask_ratio", 1.0, low=0, high=1, high_open=True), "mask_ratio"),
    (lambda: check_number("lr", "0.1"), "lr"),
    (lambda: check_bool("progress", 1), "progress"),
    (lambda: check_threads(0), "threads"),
    (lambda: check_path("checkpoint", 3), "checkpoint"),
])
def test_bad_values_name_the_parameter(call, name):
    with pytest.raises(ConfigError) as info:
        call()
    assert info.value.source == name and name in str(info.value)


def test_check_choice_lists_the_choices():
    assert check_choice("readout", "mean", ["mean", "max"]) == "mean"
    with pytest.raises(UnknownNameError, match="'max'"):
        check_choice("readout", "maxx", ["mean", "max"])


def test_check_path_refuses_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="folder"):
        check_path("checkpoint", tmp_path)
    assert check_path("checkpoint", tmp_path / "a.pt") == str(tmp_path / "a.pt")
