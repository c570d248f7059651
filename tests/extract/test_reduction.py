import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import pdist
from sklearn.decomposition import PCA as SkPCA
from sklearn.random_projection import SparseRandomProjection as SkSRP
from sklearn.random_projection import johnson_lindenstrauss_min_dim

from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.extract import PCA, SparseRandomProjection, StimulusSet, extract
from neuroalign.models import ReferenceNet


def test_random_matrix_has_the_distribution_of_sklearn():
    # reference: sklearn.random_projection.SparseRandomProjection (Li, Hastie & Church 2006)
    x = np.zeros((2, 3000), np.float32)
    ours = SparseRandomProjection(400, seed=0).fit(x)
    theirs = SkSRP(400, density="auto", random_state=0).fit(x)
    assert ours.density_ == pytest.approx(theirs.density_)
    assert ours.components_.shape == theirs.components_.shape == (400, 3000)
    np.testing.assert_allclose(np.unique(np.abs(ours.components_.data)), np.unique(np.abs(theirs.components_.data)),
                               rtol=1e-6)
    n = 400 * 3000
    expected, sd = n * ours.density_, np.sqrt(n * ours.density_ * (1 - ours.density_))
    assert abs(ours.components_.nnz - expected) < 5 * sd
    assert abs(np.mean(ours.components_.data > 0) - 0.5) < 0.01


def test_distances_are_preserved_within_the_johnson_lindenstrauss_bound(rng):
    x = rng.normal(size=(40, 5000)).astype(np.float32)
    k = 1500
    assert k >= johnson_lindenstrauss_min_dim(40, eps=0.3)
    y = SparseRandomProjection(k, seed=3).fit(x).transform(x)
    ratio = pdist(y, "sqeuclidean") / pdist(x, "sqeuclidean")
    assert 0.7 < ratio.min() and ratio.max() < 1.3
    assert abs(ratio.mean() - 1) < 0.05


def test_projection_is_seeded():
    x = np.zeros((1, 500))
    a, b = SparseRandomProjection(50, seed=1).fit(x), SparseRandomProjection(50, seed=1).fit(x)
    c = SparseRandomProjection(50, seed=2).fit(x)
    assert (a.components_ != b.components_).nnz == 0
    assert (a.components_ != c.components_).nnz > 0


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_projection_of_a_row_does_not_depend_on_the_other_rows(n_rows, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(12, 300)).astype(np.float32)
    srp = SparseRandomProjection(64, seed=seed).fit(x)
    rows = rng.permutation(12)[:n_rows]
    np.testing.assert_array_equal(srp.transform(x[rows]), srp.transform(x)[rows])


@pytest.mark.parametrize("gram", [False, True])
def test_pca_matches_sklearn(gram, rng):
    # reference: sklearn.decomposition.PCA(svd_solver="full") (same sign convention since 1.5)
    x = (rng.normal(size=(30, 80)) @ rng.normal(size=(80, 80))).astype(np.float32)
    ours = PCA(5, fit_on=range(30))
    if gram:
        ours.svd_bytes = 0  # force the n × n Gram-matrix path used for wide layers
    ours.fit(x)
    theirs = SkPCA(5, svd_solver="full").fit(x.astype(np.float64))
    np.testing.assert_allclose(ours.components_, theirs.components_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.explained_variance_, theirs.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(ours.transform(x), theirs.transform(x), rtol=1e-4, atol=1e-3)


def test_pca_needs_more_samples_than_components(rng):
    with pytest.raises(ConfigError, match="at least 11 fit samples"):
        PCA(10, fit_on=range(5)).fit(rng.normal(size=(5, 20)))


@pytest.fixture
def stimuli(rng):
    return StimulusSet.from_arrays([f"s{i}" for i in range(16)], rng.normal(size=(16, 3, 32, 32)).astype(np.float32))


@pytest.mark.parametrize("reduction", [SparseRandomProjection(200, seed=5),
                                       PCA(6, fit_on=[f"s{i}" for i in range(0, 16, 2)])])
def test_same_features_for_every_batch_order(stimuli, reduction):
    net = ReferenceNet(seed=2)
    base = extract(net, stimuli, ["block2", "fc"], reduce=reduction, batch_size=5, progress=False)
    order = np.random.default_rng(1).permutation(16)
    shuffled = extract(net, stimuli.subset(order), ["block2", "fc"], reduce=reduction, batch_size=7, progress=False)
    for layer in ("block2", "fc"):
        again = shuffled[layer].set_index(presentation="stimulus_id").sel(presentation=base[layer].stimulus_id.values)
        np.testing.assert_allclose(again.values, base[layer].values, rtol=1e-4, atol=1e-4)
    assert base["fc"].channel.values.tolist() == list(range(base["fc"].sizes["neuroid"]))
    assert set(base["block2"].row.values) == {-1}
    assert base["fc"].attrs["parameters"]["reduce"]["fc"]["reduction"] == type(reduction).__name__


def test_pca_in_extract_equals_pca_on_the_full_features(stimuli):
    net = ReferenceNet(seed=2)
    fit_ids = [f"s{i}" for i in range(12)]
    reduced = extract(net, stimuli, "block3", reduce=PCA(4, fit_on=fit_ids), progress=False)["block3"]
    full = extract(net, stimuli, "block3", progress=False)["block3"]
    reference = SkPCA(4, svd_solver="full").fit(full.values[:12].astype(np.float64))
    np.testing.assert_allclose(reduced.values, reference.transform(full.values), rtol=1e-3, atol=1e-3)


def test_reduction_per_layer_and_errors(stimuli):
    acts = extract(ReferenceNet(), stimuli, ["block1", "fc"], reduce={"block1": SparseRandomProjection(30)},
                   progress=False)
    assert acts["block1"].shape == (16, 30) and acts["fc"].shape == (16, 128)
    with pytest.raises(UnknownNameError, match="layer in reduce"):
        extract(ReferenceNet(), stimuli, "fc", reduce={"fc2": SparseRandomProjection(3)}, progress=False)
    with pytest.raises(ConfigError, match="not in the stimulus set"):
        extract(ReferenceNet(), stimuli, "fc", reduce=PCA(3, fit_on=["nope"]), progress=False)
