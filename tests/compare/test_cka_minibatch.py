import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

from neuroalign.compare import MinibatchCKA, cka, cka_matrix
from neuroalign.data import create_assembly
from neuroalign.errors import ConfigError, DataError, ScoreError, UnknownNameError

from .test_cka import hsic_biased_reference, hsic_unbiased_reference, rbf_reference


def minibatch_reference(x, y, batches, kernel="linear", threshold=1.0, debiased=True):
    # reference: Nguyen, Raghu & Kornblith (2021), "Do wide and deep networks learn the same things?", eq. 3:
    # CKA_minibatch = mean_i HSIC_1(K_i, L_i) / sqrt(mean_i HSIC_1(K_i, K_i) mean_i HSIC_1(L_i, L_i)),
    # HSIC_1 the unbiased estimator of Song et al. (2012) on minibatch i
    hsic = hsic_unbiased_reference if debiased else hsic_biased_reference
    gram = (lambda z: z @ z.T) if kernel == "linear" else (lambda z: rbf_reference(z, threshold))
    kl = kk = ll = 0.0
    for rows in batches:
        k, l = gram(x[rows]), gram(y[rows])
        kl, kk, ll = kl + hsic(k, l), kk + hsic(k, k), ll + hsic(l, l)
    return kl / np.sqrt(kk * ll)


@pytest.fixture
def xy(rng):
    x = rng.normal(size=(240, 6))
    y = np.tanh(x @ rng.normal(size=(6, 9))) + 0.5 * rng.normal(size=(240, 9))
    return x, y


@pytest.mark.parametrize("kw", [{}, {"kernel": "rbf", "threshold": 0.5}])
def test_one_batch_is_the_full_debiased_cka(xy, kw):
    x, y = xy
    assert MinibatchCKA(**kw).update(x, y).compute() == pytest.approx(cka(x, y, debiased=True, **kw), rel=1e-10)


@pytest.mark.parametrize("kw", [{}, {"debiased": False}, {"kernel": "rbf", "threshold": 0.8}])
def test_matches_the_published_estimator(rng, xy, kw):
    x, y = xy
    batches = np.array_split(rng.permutation(240), 7)  # unequal sizes 35 and 34
    acc = MinibatchCKA(**kw)
    for rows in batches:
        acc.update(x[rows], y[rows])
    assert acc.n_batches_ == 7 and acc.n_samples_ == 240
    assert acc.compute() == pytest.approx(minibatch_reference(x, y, batches, **kw), rel=1e-9)


def test_converges_to_the_full_data_value(rng):
    # each batch's HSIC_1 is unbiased, so averages over many batches approach the full-data estimate
    x = rng.normal(size=(4000, 4))
    y = x @ rng.normal(size=(4, 5)) + 2 * rng.normal(size=(4000, 5))
    acc = MinibatchCKA()
    for rows in np.array_split(np.arange(4000), 20):
        acc.update(x[rows], y[rows])
    assert acc.compute() == pytest.approx(cka(x, y, debiased=True), abs=0.01)
    biased_small = MinibatchCKA(debiased=False)
    for rows in np.array_split(np.arange(4000), 400):  # batches of 10: the biased HSIC's bias stays
        biased_small.update(x[rows], y[rows])
    assert abs(biased_small.compute() - cka(x, y, debiased=True)) > abs(acc.compute() - cka(x, y, debiased=True))


def test_layer_mappings_give_all_pairs(rng, xy):
    x, y = xy
    a = {"x": x, "x3": x ** 3}
    b = {"y": y, "y_noise": rng.normal(size=y.shape)}
    batches = np.array_split(np.arange(240), 4)
    acc, acc_self = MinibatchCKA(), MinibatchCKA()
    for rows in batches:
        acc.update({k: v[rows] for k, v in a.items()}, {k: v[rows] for k, v in b.items()})
        acc_self.update({k: v[rows] for k, v in a.items()})
    result = acc.compute()
    assert result.dims == ("layer_a", "layer_b") and result.layer_b.values.tolist() == ["y", "y_noise"]
    for name_a, xa in a.items():
        for name_b, yb in b.items():
            assert float(result.sel(layer_a=name_a, layer_b=name_b)) == pytest.approx(
                minibatch_reference(xa, yb, batches), rel=1e-9)
    self_matrix = acc_self.compute()
    np.testing.assert_array_equal(np.diag(self_matrix), 1.0)
    assert float(self_matrix[0, 1]) == pytest.approx(minibatch_reference(x, x ** 3, batches), rel=1e-9)
    # a single batch of mappings equals the full-data debiased matrix
    one = MinibatchCKA().update(a, b).compute()
    np.testing.assert_allclose(one.values, cka_matrix(a, b, debiased=True, progress=False).values, rtol=1e-10)
    assert one.attrs["n_batches"] == 1 and "neuroalign_version" in one.attrs


@pytest.mark.parametrize("kw", [{}, {"kernel": "rbf"}])
def test_torch_matches_numpy(xy, kw):
    x, y = xy
    batches = np.array_split(np.arange(240), 3)
    acc_np, acc_t = MinibatchCKA(**kw), MinibatchCKA(backend="torch", device="cpu", **kw)
    for rows in batches:
        acc_np.update(x[rows], y[rows])
        acc_t.update(torch.from_numpy(x[rows]), torch.from_numpy(y[rows]))
    assert acc_t.compute() == pytest.approx(acc_np.compute(), rel=1e-10)
    np.testing.assert_allclose(acc_t.hsic_xy_, acc_np.hsic_xy_, rtol=1e-10)


def test_labelled_batches_are_aligned(rng, xy):
    x, y = xy
    ids = np.array([f"s{i}" for i in range(240)])
    perm = rng.permutation(240)
    acc_plain, acc_labelled = MinibatchCKA(), MinibatchCKA()
    for rows in np.array_split(np.arange(240), 2):
        acc_plain.update(x[rows], y[rows])
        shuffled = rows[rng.permutation(len(rows))]
        acc_labelled.update(create_assembly(x[rows], stimulus_id=ids[rows]),
                            create_assembly(y[shuffled], stimulus_id=ids[shuffled]))
    assert acc_labelled.compute() == pytest.approx(acc_plain.compute(), rel=1e-12)
    assert perm.size == 240


def test_errors_and_reset(rng, xy):
    x, y = xy
    with pytest.raises(ScoreError, match="update"):
        MinibatchCKA().compute()
    with pytest.raises(DataError, match="at least 4 samples, got 3"):
        MinibatchCKA().update(x[:3], y[:3])
    with pytest.raises(DataError, match="samples"):
        MinibatchCKA().update(x[:10], y[:11])
    acc = MinibatchCKA().update({"a": x[:10]}, {"b": y[:10]})
    with pytest.raises(ConfigError, match="layers differ"):
        acc.update({"c": x[:10]}, {"b": y[:10]})
    with pytest.raises(DataError, match="feature counts"):
        acc.update({"a": x[:10, :2]}, {"b": y[:10]})
    with pytest.raises(ConfigError, match="both"):
        MinibatchCKA().update({"a": x[:10]}, y[:10])
    with pytest.raises(UnknownNameError):
        MinibatchCKA(kernel="cosine").update(x[:10], y[:10])
    with pytest.raises(DataError, match="constant"):
        MinibatchCKA().update(np.ones((10, 2)), y[:10]).compute()
    acc.reset()
    assert not hasattr(acc, "n_batches_")
    assert acc.update({"c": x[:10]}, {"b": y[:10]}).n_batches_ == 1


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.floats(0.1, 10))
def test_minibatch_properties(seed, n_batches, scale):
    # one batch: exactly the full-data unbiased CKA; any batching: invariant to orthogonal transforms and
    # isotropic scaling (each per-batch HSIC_1 is), and CKA(X, X) = 1
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(40, 7))
    y[:, :2] += x[:, :2]
    q = ortho_group.rvs(5, random_state=seed % (2**31))
    batches = np.array_split(np.arange(40), n_batches)
    plain, rotated, same = MinibatchCKA(), MinibatchCKA(), MinibatchCKA()
    for rows in batches:
        plain.update(x[rows], y[rows])
        rotated.update(scale * x[rows] @ q, y[rows])
        same.update(x[rows], x[rows])
    assert rotated.compute() == pytest.approx(plain.compute(), rel=1e-8, abs=1e-10)
    assert same.compute() == pytest.approx(1.0)
    if n_batches == 1:
        assert plain.compute() == pytest.approx(cka(x, y, debiased=True), rel=1e-10)
