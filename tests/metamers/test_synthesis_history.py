"""How Metamer keeps its history: rows recorded as computed and converted to float64 in blocks
(synthesis_state.History) give exactly the values a per-step conversion gives, across block boundaries,
resumes and dtypes; values from a custom loss or penalty that writes into one reused tensor are copied."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.metamers.objectives import get_penalty, is_builtin, mse_loss, normalized_l2_loss, range_penalty
from neuroalign.metamers.stopping import RelativeProgress
from neuroalign.metamers.synthesis import Metamer
from neuroalign.metamers.synthesis_state import History

from ._nets import images, small_cnn

pytestmark = pytest.mark.usefixtures("one_thread")

DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(DTYPES), st.lists(st.floats(-1e4, 1e4, width=16), min_size=3,
                                                            max_size=3)), max_size=40),
       st.integers(1, 7))
def test_history_equals_per_row_conversion(rows, block):
    """Whatever the dtypes and the block size, the rows read back are the rows converted one by one."""
    history = History(3)
    history._BLOCK = block
    expected = []
    for dtype, values in rows:
        row = torch.tensor(values, dtype=dtype)
        history.append(row)
        expected.append(row.to(torch.float64))
        assert len(history) == len(expected)
        assert torch.equal(history[-1], expected[-1]) and history[-1].dtype == torch.float64
    table = history.tensor()
    assert table.shape == (len(rows), 3) and table.dtype == torch.float64 and table.device.type == "cpu"
    assert torch.equal(table, torch.stack(expected) if expected else torch.empty((0, 3), dtype=torch.float64))
    for i in range(-len(rows), len(rows)):
        assert torch.equal(history[i], expected[i])
        assert history.values(i) == expected[i].tolist()


_VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 10), st.just(0.0))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_VALUES, _VALUES), min_size=1, max_size=8), st.floats(0, 1))
def test_stopping_rule_on_floats_equals_float64_tensors(pairs, tolerance):
    """The rule on Python floats (used every step) answers as the same operations on float64 tensors."""
    before = torch.tensor([b for b, _ in pairs], dtype=torch.float64)
    now = torch.tensor([n for _, n in pairs], dtype=torch.float64)
    expected = ((before - now) <= tolerance * before.abs()).tolist()
    rule = RelativeProgress(tolerance, window=1)
    assert rule.stops(before.tolist(), now.tolist()) == expected
    assert rule.converged(torch.stack([before, now])).tolist() == expected


def test_history_from_saved_rows_and_bounds():
    history = History(2, torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    history.append(torch.tensor([5.0, 6.0], dtype=torch.float32))
    assert len(history) == 3 and history[0].tolist() == [1.0, 2.0] and history[-1].tolist() == [5.0, 6.0]
    assert history.tensor().tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    with pytest.raises(IndexError):
        history[3]
    with pytest.raises(IndexError):
        history.values(-4)
    assert History(4).tensor().shape == (0, 4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_long_synthesis_over_block_boundaries_matches_small_blocks(dtype, monkeypatch):
    """600 steps (two full blocks of 256 and a part): the same history as with blocks of one row, i.e. the
    per-step conversion; with images stopping on the way."""
    net = small_cnn(dtype)
    target = images(3, dtype)

    def run():
        met = Metamer(net, "4", target, stop_tolerance=0.005, stop_window=20, store_every=100)
        return met.synthesize(600, progress=False)

    blocks = run()
    monkeypatch.setattr(History, "_BLOCK", 1)
    rows = run()
    assert blocks.n_iter == rows.n_iter > 512 and 0 < int(blocks.stopped.sum())
    for name in ("losses", "penalties", "gradient_norm", "pixel_change_norm", "metamer", "stop_iteration"):
        assert torch.equal(getattr(blocks, name).nan_to_num(-1.0), getattr(rows, name).nan_to_num(-1.0)), name


def test_resume_across_a_block_boundary_is_bit_identical(tmp_path):
    net = small_cnn()
    target = images(2)
    straight = Metamer(net, "4", target, stop_tolerance=1e-3, stop_window=10).synthesize(300, progress=False)
    first = Metamer(net, "4", target, stop_tolerance=1e-3, stop_window=10).synthesize(250, progress=False)
    first.save(tmp_path / "synthesis.pt")
    resumed = Metamer.load(tmp_path / "synthesis.pt", net).synthesize(50, progress=False)
    for name in ("losses", "penalties", "gradient_norm", "pixel_change_norm", "metamer"):
        assert torch.equal(getattr(straight, name), getattr(resumed, name)), name


def test_builtin_objectives_are_known():
    assert is_builtin(mse_loss) and is_builtin(normalized_l2_loss) and is_builtin(range_penalty)
    assert is_builtin(get_penalty("range", (0.0, 2.0)))
    assert not is_builtin(lambda activations, targets: mse_loss(activations, targets))
    assert not is_builtin(None)


class _Reused:
    """A loss or penalty that writes its result into one tensor it hands out at every call."""

    def __init__(self, function):
        self.function = function
        self.out = None

    def __call__(self, *args):
        values = self.function(*args)
        if self.out is None or self.out.shape != values.shape:
            self.out = torch.empty_like(values)
        # a differentiable in-place write into a tensor kept between calls (the graph is rebuilt every call)
        self.out = self.out.detach()
        return self.out.copy_(values)


def test_a_loss_and_penalty_writing_one_tensor_again_are_recorded_step_by_step():
    net = small_cnn()
    target, start = images(2, seed=1), images(2, seed=2)
    reference = Metamer(net, "4", target, initial=start).synthesize(6, progress=False)
    reused = Metamer(net, "4", target, initial=start, loss=_Reused(mse_loss),
                     penalty=_Reused(get_penalty("range"))).synthesize(6, progress=False)
    assert torch.equal(reused.losses, reference.losses)
    assert torch.equal(reused.penalties, reference.penalties)
    # without a penalty the objective is the loss's own tensor
    reference = Metamer(net, "4", target, initial=start, penalty=False).synthesize(6, progress=False)
    reused = Metamer(net, "4", target, initial=start, penalty=False, loss=_Reused(mse_loss)).synthesize(
        6, progress=False)
    assert torch.equal(reused.losses, reference.losses)
    assert len(set(reused.losses[:, 0].tolist())) == 7  # seven different iterates, not one value seven times
    assert not math.isnan(float(reused.losses.sum()))
