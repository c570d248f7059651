"""Row-block Gram inner products against whole centered Gram matrices computed directly."""

from __future__ import annotations

import numpy as np
import pytest

from neuroalign.compare.cka.tiled import MAX_ROWS, MIN_ROWS, rows_per_block, tiled_linear_products


def direct(layers):
    grams = [(x - x.mean(0)) @ (x - x.mean(0)).T for x in layers]
    inner = np.array([[np.sum(a * b) for b in grams] for a in grams])
    return inner, np.array([np.diagonal(g) for g in grams])


@pytest.mark.parametrize("n, rows", [(97, 16), (130, 32), (64, 64), (50, 200), (301, 128)])
def test_equals_whole_gram_matrices(rng, n, rows):
    # offsets far from zero: the rectangles use uncentered rows and a correction, which must stay exact
    layers = [rng.normal(size=(n, p)) + rng.normal(0, 5, size=p) for p in (3, 17, 40)]
    inner, diagonals = tiled_linear_products(layers, rows=rows)
    want_inner, want_diagonals = direct(layers)
    np.testing.assert_allclose(inner, want_inner, rtol=1e-12)
    np.testing.assert_allclose(diagonals, want_diagonals, rtol=1e-12, atol=1e-12)


def test_float32_layers_agree_to_float32_precision(rng):
    layers = [rng.normal(size=(120, p)).astype(np.float32) for p in (8, 30)]
    inner, _ = tiled_linear_products(layers, rows=32)
    want, _ = direct([x.astype(float) for x in layers])
    np.testing.assert_allclose(inner, want, rtol=1e-4)


def test_progress_adds_up_to_one(rng):
    done = []
    tiled_linear_products([rng.normal(size=(100, 5))], rows=32, advance=done.append)
    assert len(done) == 4 and abs(sum(done) - 1.0) < 1e-12


def test_rows_per_block_respects_memory_and_bounds():
    assert rows_per_block(5000, 24, 8, 4 * 2**30) == MAX_ROWS
    assert rows_per_block(5000, 24, 8, 24 * 5000 * 8 * 100) == 100
    assert rows_per_block(5000, 24, 8, 1) == MIN_ROWS
    assert rows_per_block(20, 2, 8, 4 * 2**30) == 20
