"""CKA is scale invariant: inputs far from unit scale must give the unscaled value, on every CKA path."""

import numpy as np
import pytest
import torch

from neuroalign.compare import MinibatchCKA, cka, cka_from_grams, cka_matrix, linear_gram, rbf_gram
from neuroalign.errors import DataError

SCALES = [1e100, 1e-100, 1e300, 1e-300, 2.0**60, 2.0**-60]


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 5))
    y = x @ rng.normal(size=(5, 4)) + rng.normal(size=(30, 4))
    return x, y


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cka_of_rescaled_inputs_equals_unscaled(pair, scale, kernel, debiased, dtype):
    x, y = pair
    expected = cka(x, y, kernel=kernel, debiased=debiased)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for a, b in ((x * scale, y), (x, y * scale), (x * scale, y * scale)):
        got = cka(a, b, kernel=kernel, debiased=debiased, dtype=dtype)
        assert got == pytest.approx(expected, rel=tol, abs=tol)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_cka_torch_backend_rescales(pair, scale, kernel):
    x, y = pair
    got = cka(torch.from_numpy(x * scale), y, kernel=kernel, backend="torch", device="cpu")
    assert got == pytest.approx(cka(x, y, kernel=kernel), rel=1e-12)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("debiased", [False, True])
def test_cka_matrix_of_rescaled_inputs_equals_unscaled(pair, scale, kernel, debiased):
    x, y = pair
    expected = cka_matrix({"x": x, "y": y}, kernel=kernel, debiased=debiased, progress=False)
    got = cka_matrix({"x": x * scale, "y": y / scale}, kernel=kernel, debiased=debiased, progress=False)
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-12, atol=1e-12)
    tiny_memory = cka_matrix({"x": x * scale}, {"y": y}, kernel=kernel, debiased=debiased, progress=False,
                             max_memory=1)  # the tiled / recomputed-block forms
    np.testing.assert_allclose(tiny_memory.values[0, 0], expected.values[0, 1], rtol=1e-12)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_minibatch_cka_of_rescaled_inputs_equals_unscaled(pair, scale, kernel):
    x, y = pair
    halves = np.array_split(np.arange(len(x)), 2)
    expected = MinibatchCKA(kernel=kernel)
    got = MinibatchCKA(kernel=kernel)
    for rows in halves:
        expected.update(x[rows], y[rows])
        got.update(x[rows] * scale, y[rows])
    assert got.compute() == pytest.approx(expected.compute(), rel=1e-12)


def test_minibatch_scales_every_batch_like_the_first(pair):
    # batches 2**40 apart: scaling each to unit magnitude separately would weight them equally (wrong)
    x, y = pair
    rows = np.array_split(np.arange(len(x)), 2)
    expected = MinibatchCKA(debiased=True).update(x[rows[0]], y[rows[0]]).update(x[rows[1]] * 2.0**40, y[rows[1]])
    got = MinibatchCKA(debiased=True).update(x[rows[0]] * 2.0**80, y[rows[0]])
    got.update(x[rows[1]] * 2.0**120, y[rows[1]])
    assert got.compute() == pytest.approx(expected.compute(), rel=1e-12)


def test_minibatch_batch_out_of_range_of_the_first_raises(pair):
    x, y = pair
    acc = MinibatchCKA(dtype="float32").update(x[:15], y[:15])
    with pytest.raises(DataError, match="out of range"):
        acc.update(x[15:] * 1e200, y[15:])


@pytest.mark.parametrize("scale", [1e100, 1e-100, 2.0**-200])
@pytest.mark.parametrize("debiased", [False, True])
def test_cka_from_grams_of_rescaled_grams_equals_unscaled(pair, scale, debiased):
    x, y = pair
    k, l = linear_gram(x), linear_gram(y)
    expected = float(cka_from_grams(k, l, debiased))
    assert float(cka_from_grams(k * scale, l, debiased)) == pytest.approx(expected, rel=1e-12)
    assert float(cka_from_grams(rbf_gram(x) * scale, l, debiased)) == pytest.approx(
        float(cka_from_grams(rbf_gram(x), l, debiased)), rel=1e-12)


def test_cka_from_grams_non_finite_gram_raises(pair):
    x, y = pair
    k = linear_gram(x)
    k[0, 0] = np.inf
    with pytest.raises(DataError, match="NaN or inf"):
        cka_from_grams(k, linear_gram(y))


def test_constant_representation_still_detected_when_rescaled(pair):
    x, y = pair
    constant = np.ones_like(x) * 1e-200
    with pytest.raises(DataError, match="constant"):
        cka(constant, y)
    with pytest.raises(DataError, match="constant"):
        cka_from_grams(linear_gram(np.ones_like(x) * 3.0), linear_gram(y))
