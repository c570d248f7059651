import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import pdist, squareform
from scipy.stats import ortho_group

from neuroalign.compare import center_gram, cka, cka_from_grams, hsic, linear_gram, rbf_gram
from neuroalign.data import create_assembly
from neuroalign.errors import AlignmentError, ConfigError, DataError, UnknownNameError


# ----------------------------------------------------------------------------- references
def hsic_biased_reference(k, l):
    # reference: Gretton et al. (2005) biased HSIC = tr(K H L H) / (n-1)^2
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return np.trace(k @ h @ l @ h) / (n - 1) ** 2


def hsic_unbiased_reference(k, l):
    # reference: Song et al. (2012), JMLR 13, eq. 5: with K~, L~ the Gram matrices with zeroed diagonals,
    # HSIC_1 = [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3))
    n = k.shape[0]
    kt, lt = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    one = np.ones(n)
    return (np.trace(kt @ lt) + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ kt @ lt @ one) / (n * (n - 3))


def rbf_reference(x, threshold):
    # Kornblith et al. (2019) convention: sigma^2 = threshold^2 * median of the n x n squared-distance matrix
    d2 = squareform(pdist(x, "sqeuclidean"))
    return np.exp(-d2 / (2 * threshold**2 * np.median(d2)))


def cka_reference(x, y, kernel="linear", threshold=1.0, debiased=False):
    gram = (lambda z: z @ z.T) if kernel == "linear" else (lambda z: rbf_reference(z, threshold))
    k, l = gram(x), gram(y)
    h = hsic_unbiased_reference if debiased else hsic_biased_reference
    return h(k, l) / np.sqrt(h(k, k) * h(l, l))


# ----------------------------------------------------------------------------- published numbers
def kornblith_demo_data():
    # reference: google-research/google-research, representation_similarity/Demo.ipynb (Kornblith et al. 2019,
    # "Similarity of Neural Network Representations Revisited", ICML): np.random.seed(1337);
    # X = np.random.randn(100, 10); Y = np.random.randn(100, 10) + X.  RandomState(1337) draws the same numbers
    # as the legacy global seed, without touching global state.
    rs = np.random.RandomState(1337)
    x = rs.randn(100, 10)
    y = rs.randn(100, 10) + x
    return x, y


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_reproduces_kornblith_demo_notebook(backend):
    # printed in Demo.ipynb: "Linear CKA from Examples: 0.55761", "RBF CKA: 0.65483" (cka(gram_rbf(X, 0.5), ...)),
    # "Linear CKA from Examples (Debiased): 0.51346"
    x, y = kornblith_demo_data()
    assert round(cka(x, y, backend=backend), 5) == 0.55761
    assert round(cka(x, y, kernel="rbf", threshold=0.5, backend=backend), 5) == 0.65483
    assert round(cka(x, y, debiased=True, backend=backend), 5) == 0.51346
    # the Gram ("from examples") route gives the same numbers as the feature-space route
    assert round(float(cka_from_grams(linear_gram(x), linear_gram(y))), 5) == 0.55761
    assert round(float(cka_from_grams(linear_gram(x), linear_gram(y), debiased=True)), 5) == 0.51346


# ----------------------------------------------------------------------------- against the references
@pytest.mark.parametrize("p,q", [(5, 7), (40, 60), (3, 80)])  # feature-space, Gram, mixed costs
@pytest.mark.parametrize("debiased", [False, True])
def test_linear_cka_matches_reference(rng, p, q, debiased):
    x, y = rng.normal(size=(30, p)), rng.normal(size=(30, q)) + rng.normal(size=(30, 1))
    y[:, :2] += x[:, :2]
    assert cka(x, y, debiased=debiased) == pytest.approx(cka_reference(x, y, debiased=debiased), rel=1e-9)


@pytest.mark.parametrize("threshold", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("debiased", [False, True])
def test_rbf_cka_matches_reference(rng, threshold, debiased):
    x = rng.normal(size=(25, 4))
    y = np.tanh(x @ rng.normal(size=(4, 6))) + 0.3 * rng.normal(size=(25, 6))
    expected = cka_reference(x, y, "rbf", threshold, debiased)
    assert cka(x, y, kernel="rbf", threshold=threshold, debiased=debiased) == pytest.approx(expected, rel=1e-9)


def test_feature_space_identity(rng):
    # Kornblith et al. (2019), eq. for linear CKA: ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on centered X, Y
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 6))
    xc, yc = x - x.mean(0), y - y.mean(0)
    expected = np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))
    assert cka(x, y) == pytest.approx(expected, rel=1e-12)
    assert cka_from_grams(linear_gram(x), linear_gram(y)) == pytest.approx(expected, rel=1e-10)


def test_hsic_estimators_match_definitions(rng):
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 5))
    k, l = linear_gram(x), rbf_gram(y)
    assert float(hsic(k, l)) == pytest.approx(hsic_biased_reference(k, l), rel=1e-10)
    assert float(hsic(k, l, debiased=True)) == pytest.approx(hsic_unbiased_reference(k, l), rel=1e-9)
    # broadcasting over a leading axis
    stacked = hsic(np.stack([k, 2 * k]), np.stack([l, l]), debiased=True)
    np.testing.assert_allclose(stacked, [hsic_unbiased_reference(k, l), 2 * hsic_unbiased_reference(k, l)])


def test_center_gram_is_hkh_and_u_centering(rng):
    k = linear_gram(rng.normal(size=(6, 3)))
    h = np.eye(6) - 1 / 6
    np.testing.assert_allclose(center_gram(k), h @ k @ h, atol=1e-12)
    u = center_gram(k, unbiased=True)
    # Szekely & Rizzo (2014): U-centered matrices have a zero diagonal and zero row sums
    np.testing.assert_allclose(np.diag(u), 0, atol=1e-12)
    np.testing.assert_allclose(u.sum(0), 0, atol=1e-10)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_gram_matches_product(rng, order, dtype):
    x = np.asarray(rng.normal(size=(9, 4)), dtype=dtype, order=order)
    g = linear_gram(x)
    assert g.dtype == dtype
    np.testing.assert_allclose(g, x.astype(float) @ x.T.astype(float), rtol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(g, g.T)
    assert linear_gram(np.arange(6).reshape(3, 2)).dtype == np.float64


def test_rbf_gram_bandwidth_convention(rng):
    x = rng.normal(size=(11, 3))  # odd n: n^2 odd, median is one squared distance
    np.testing.assert_allclose(rbf_gram(x, 0.5), rbf_reference(x, 0.5), rtol=1e-12)
    x = rng.normal(size=(10, 3))  # even: numpy's median averages the middle two; torch matches it
    np.testing.assert_allclose(rbf_gram(torch.from_numpy(x), 0.7).numpy(), rbf_reference(x, 0.7), rtol=1e-12)
    with pytest.raises(DataError, match="bandwidth"):
        rbf_gram(np.vstack([np.zeros((8, 2)), np.ones((2, 2))]))
    with pytest.raises(ConfigError):
        rbf_gram(x, threshold=0)


# ----------------------------------------------------------------------------- backends
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("shape", [(40, 5, 3), (20, 60, 50)])
def test_torch_matches_numpy(rng, kernel, debiased, shape):
    n, p, q = shape
    x = rng.normal(size=(n, p))
    y = x[:, :1] * rng.normal(size=(1, q)) + rng.normal(size=(n, q))
    expected = cka(x, y, kernel=kernel, debiased=debiased)
    assert cka(x, y, kernel=kernel, debiased=debiased, backend="torch", device="cpu") == pytest.approx(expected,
                                                                                                       rel=1e-10)
    assert cka(torch.from_numpy(x), torch.from_numpy(y), kernel=kernel, debiased=debiased,
               backend="torch") == pytest.approx(expected, rel=1e-10)
    assert cka(x, y, kernel=kernel, debiased=debiased, dtype="float32") == pytest.approx(expected, abs=1e-4)
    assert cka(x, y, kernel=kernel, debiased=debiased, backend="torch", dtype="float32") == pytest.approx(
        expected, abs=1e-4)


def test_torch_tensors_on_numpy_backend(rng):
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 4))
    assert cka(torch.from_numpy(x), y) == pytest.approx(cka(x, y), rel=1e-12)


# ----------------------------------------------------------------------------- inputs and errors
def test_labelled_inputs_are_aligned_on_stimulus_id(rng):
    x = rng.normal(size=(10, 4))
    y = x @ rng.normal(size=(4, 5))
    ids = [f"s{i}" for i in range(10)]
    perm = rng.permutation(10)
    a = create_assembly(x, stimulus_id=ids)
    b = create_assembly(y[perm], stimulus_id=np.array(ids)[perm])
    assert cka(a, b) == pytest.approx(cka(x, y))
    assert cka(a, b, kernel="rbf", debiased=True) == pytest.approx(cka(x, y, kernel="rbf", debiased=True))
    with pytest.raises(AlignmentError):
        cka(a, create_assembly(y, stimulus_id=[f"t{i}" for i in range(10)]))


def test_too_few_samples_and_constant_inputs(rng):
    for kwargs in ({}, {"debiased": True}, {"kernel": "rbf"}, {"backend": "torch"}):
        with pytest.raises(DataError, match="at least 4 samples, got 3"):
            cka(rng.normal(size=(3, 5)), rng.normal(size=(3, 5)), **kwargs)
    with pytest.raises(DataError, match="at least 4 samples"):
        cka_from_grams(np.eye(3), np.eye(3))
    for kwargs in ({}, {"debiased": True}, {"kernel": "rbf"}):
        with pytest.raises(DataError, match="constant"):
            cka(np.full((6, 2), 0.1), rng.normal(size=(6, 2)), **kwargs)
    with pytest.raises(DataError, match="constant"):
        cka_from_grams(np.ones((6, 6)), linear_gram(rng.normal(size=(6, 2))))


def test_bad_arguments(rng):
    x = rng.normal(size=(6, 2))
    with pytest.raises(UnknownNameError, match="linear"):
        cka(x, x, kernel="linaer")
    with pytest.raises(UnknownNameError, match="torch"):
        cka(x, x, backend="jax")
    with pytest.raises(ConfigError, match="backend='torch'"):
        cka(x, x, device="cuda")
    with pytest.raises(ConfigError, match="threshold"):
        cka(x, x, kernel="rbf", threshold=-1)
    with pytest.raises(ConfigError, match="dtype"):
        cka(x, x, dtype="float16")
    with pytest.raises(DataError, match="y has 7"):
        cka(x, rng.normal(size=(7, 2)))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        cka(bad, x)
    with pytest.raises(DataError, match="2-D"):
        cka(x.ravel(), x)


# ----------------------------------------------------------------------------- properties
@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.01, 100), st.sampled_from([(15, 6, 9), (8, 12, 20)]),
       st.sampled_from(["linear", "rbf"]), st.booleans())
def test_invariant_to_orthogonal_transform_and_isotropic_scaling(seed, scale, shape, kernel, debiased):
    # Kornblith et al. (2019), section 3: CKA is invariant to orthogonal transforms and isotropic scaling
    # (the RBF bandwidth is relative to the median distance, so RBF CKA is scale invariant too)
    n, p, q = shape
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, p)), rng.normal(size=(n, q))
    y[:, :3] += x[:, :3]
    qmat = ortho_group.rvs(p, random_state=seed % (2**31))
    kw = {"kernel": kernel, "debiased": debiased}
    assert cka(x @ qmat * scale, y, **kw) == pytest.approx(cka(x, y, **kw), rel=1e-7, abs=1e-9)
    assert cka(x, x, **kw) == pytest.approx(1.0)
    value = cka(x, y, **kw)
    assert (-1 - 1e-9 if debiased else -1e-12) <= value <= 1 + 1e-9


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(-1e3, 1e3))
def test_invariant_to_translation(seed, shift):
    # centering makes CKA (biased and debiased) invariant to adding a constant to every feature
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(12, 4)), rng.normal(size=(12, 30))
    for debiased in (False, True):
        assert cka(x + shift, y, debiased=debiased) == pytest.approx(cka(x, y, debiased=debiased), rel=1e-6,
                                                                     abs=1e-9)
