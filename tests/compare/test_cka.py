import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

from neuroalign.compare import center_gram, cka, cka_from_grams, linear_gram
from neuroalign.data import create_assembly
from neuroalign.errors import AlignmentError, DataError, UnknownNameError


def hsic_reference(k, l):
    # reference: Gretton et al. (2005) biased HSIC = tr(K H L H) / (n-1)^2, CKA = HSIC(K,L)/sqrt(HSIC(K,K)HSIC(L,L))
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return np.trace(k @ h @ l @ h) / (n - 1) ** 2


def cka_reference(x, y):
    k, l = x @ x.T, y @ y.T
    return hsic_reference(k, l) / np.sqrt(hsic_reference(k, k) * hsic_reference(l, l))


@pytest.mark.parametrize("p,q", [(5, 7), (40, 60), (3, 80)])
def test_linear_cka_matches_hsic_definition(rng, p, q):
    x, y = rng.normal(size=(20, p)), rng.normal(size=(20, q)) + rng.normal(size=(20, 1))
    assert cka(x, y) == pytest.approx(cka_reference(x, y), rel=1e-10)  # feature-space and Gram paths


def test_feature_space_identity(rng):
    # Kornblith et al. (2019), eq. for linear CKA: ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on centered X, Y
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 6))
    xc, yc = x - x.mean(0), y - y.mean(0)
    expected = np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))
    assert cka(x, y) == pytest.approx(expected, rel=1e-12)
    assert cka_from_grams(linear_gram(x), linear_gram(y)) == pytest.approx(expected, rel=1e-10)


def test_center_gram_is_hkh(rng):
    k = linear_gram(rng.normal(size=(6, 3)))
    h = np.eye(6) - 1 / 6
    np.testing.assert_allclose(center_gram(k), h @ k @ h, atol=1e-12)


def test_labelled_inputs_are_aligned_on_stimulus_id(rng):
    x = rng.normal(size=(10, 4))
    y = x @ rng.normal(size=(4, 5))
    ids = [f"s{i}" for i in range(10)]
    perm = rng.permutation(10)
    a = create_assembly(x, stimulus_id=ids)
    b = create_assembly(y[perm], stimulus_id=np.array(ids)[perm])
    assert cka(a, b) == pytest.approx(cka(x, y))
    with pytest.raises(AlignmentError):
        cka(a, create_assembly(y, stimulus_id=[f"t{i}" for i in range(10)]))


def test_too_few_samples_and_constant_inputs(rng):
    with pytest.raises(DataError, match="at least 4 samples"):
        cka(rng.normal(size=(3, 5)), rng.normal(size=(3, 5)))
    with pytest.raises(DataError, match="constant"):
        cka(np.ones((6, 2)), rng.normal(size=(6, 2)))
    with pytest.raises(UnknownNameError):
        cka(rng.normal(size=(6, 2)), rng.normal(size=(6, 2)), kernel="linaer")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.01, 100))
def test_invariant_to_orthogonal_transform_and_isotropic_scaling(seed, scale):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(15, 6)), rng.normal(size=(15, 9))
    q = ortho_group.rvs(6, random_state=seed % (2**31))
    assert cka(x @ q * scale, y) == pytest.approx(cka(x, y), rel=1e-8)
    assert cka(x, x) == pytest.approx(1.0)
    assert 0 <= cka(x, y) <= 1 + 1e-12
