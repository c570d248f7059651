import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import orthogonal_procrustes, subspace_angles
from scipy.stats import ortho_group

from neuroalign.compare import LinearMetric, PermutationMetric, pairwise_shape_distances, shape_distance
from neuroalign.data import create_assembly
from neuroalign.errors import ConfigError, DataError, UnknownNameError


def angle(a, b):
    return np.arccos(np.clip(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))


def naive_linear(x, y, alpha, distance="angular"):
    """Straightforward definition (Williams et al. 2021; netrep's whiten with preserve_variance):
    centre, Z = V diag(α + (1 − α) λ^-½) Vᵀ rescaled to keep the variance, then the best rotation."""
    whitened = []
    for m in (x, y):
        mc = m - m.mean(0)
        lam, v = np.linalg.eigh(mc.T @ mc)
        d = alpha + (1 - alpha) / np.sqrt(lam)
        d *= np.sqrt(lam.sum() / np.sum((alpha * np.sqrt(lam) + 1 - alpha) ** 2))
        whitened.append(mc @ (v * d) @ v.T)
    a, b = whitened
    if a.shape[1] != b.shape[1]:  # zero-pad the smaller one
        width = max(a.shape[1], b.shape[1])
        a, b = (np.pad(m, ((0, 0), (0, width - m.shape[1]))) for m in (a, b))
    rotation, _ = orthogonal_procrustes(a, b)
    return angle(a @ rotation, b) if distance == "angular" else np.linalg.norm(a @ rotation - b)


def brute_force_permutation(x, y, distance="angular"):
    xc, yc = x - x.mean(0), y - y.mean(0)
    width = max(xc.shape[1], yc.shape[1])
    xc, yc = (np.pad(m, ((0, 0), (0, width - m.shape[1]))) for m in (xc, yc))
    best = max(itertools.permutations(range(width)), key=lambda p: np.sum(xc[:, list(p)] * yc))
    xp = xc[:, list(best)]
    return angle(xp, yc) if distance == "angular" else np.linalg.norm(xp - yc)


# ------------------------------------------------------------------ closed forms and references
@pytest.mark.parametrize("distance", ["angular", "euclidean"])
def test_procrustes_matches_scipy_orthogonal_procrustes(rng, distance):
    # reference: scipy.linalg.orthogonal_procrustes on centred data
    x = rng.normal(size=(50, 6))
    y = 0.6 * x @ ortho_group.rvs(6, random_state=0) + rng.normal(size=(50, 6))
    xc, yc = x - x.mean(0), y - y.mean(0)
    rotation, _ = orthogonal_procrustes(xc, yc)
    expected = angle(xc @ rotation, yc) if distance == "angular" else np.linalg.norm(xc @ rotation - yc)
    assert shape_distance(x, y, alpha=1.0, distance=distance) == pytest.approx(expected, rel=1e-10)
    assert LinearMetric(1.0, score_method=distance).fit(x, y).score(x, y) == pytest.approx(expected, rel=1e-10)


def test_procrustes_distance_of_rotated_translated_copy_is_zero(rng):
    x = rng.normal(size=(40, 7))
    y = x @ ortho_group.rvs(7, random_state=3) + rng.normal(size=7)
    assert shape_distance(x, y) < 1e-6
    assert shape_distance(x, y, distance="euclidean") < 1e-6
    assert shape_distance(x, 2.5 * y) < 1e-6  # the angular form ignores isotropic scale
    assert shape_distance(x, 2.5 * y, distance="euclidean") > 1  # the Euclidean form does not


def test_cca_metric_is_arccos_of_mean_canonical_correlation(rng):
    # closed form: alpha = 0 angular distance = arccos(mean canonical correlation); reference for the
    # canonical correlations: cosines of scipy.linalg.subspace_angles between the centred column spaces
    x = rng.normal(size=(80, 5))
    y = x @ rng.normal(size=(5, 5)) + 2.0 * rng.normal(size=(80, 5))
    rho = np.cos(subspace_angles(x - x.mean(0), y - y.mean(0)))
    assert shape_distance(x, y, alpha=0.0) == pytest.approx(np.arccos(rho.mean()), rel=1e-10)
    assert shape_distance(x, x @ rng.normal(size=(5, 5)) + 1.0, alpha=0.0) < 1e-6  # any invertible map
    assert shape_distance(x, x @ rng.normal(size=(5, 5)), alpha=1.0) > 0.05


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.7, 1.0])
@pytest.mark.parametrize("distance", ["angular", "euclidean"])
def test_linear_family_matches_straightforward_definition(rng, alpha, distance):
    x = rng.normal(size=(60, 6)) * np.arange(1, 7)
    y = x[:, :4] @ rng.normal(size=(4, 4)) + rng.normal(size=(60, 4))
    expected = naive_linear(x, y, alpha, distance)
    assert shape_distance(x, y, alpha=alpha, distance=distance) == pytest.approx(expected, rel=1e-9)
    metric = LinearMetric(alpha, score_method=distance).fit(x, y)
    assert metric.score(x, y) == pytest.approx(expected, rel=1e-9)
    tx, ty = metric.transform(x, y)
    assert tx.shape == ty.shape == (60, 6)


def test_cross_validated_score_uses_the_fitted_alignment(rng):
    x = rng.normal(size=(60, 5))
    y = x @ ortho_group.rvs(5, random_state=2) + 0.3 * rng.normal(size=(60, 5))
    metric = LinearMetric(alpha=1.0).fit(x[:40], y[:40])
    rotation, _ = orthogonal_procrustes(x[:40] - x[:40].mean(0), y[:40] - y[:40].mean(0))
    held_x, held_y = x[40:] - x[:40].mean(0), y[40:] - y[:40].mean(0)  # training means, training rotation
    assert metric.score(x[40:], y[40:]) == pytest.approx(angle(held_x @ rotation, held_y), rel=1e-9)


@pytest.mark.parametrize("distance", ["angular", "euclidean"])
def test_permutation_metric_matches_brute_force(rng, distance):
    x = rng.normal(size=(30, 4))
    for y in (x[:, [3, 1, 0, 2]] + 0.5 * rng.normal(size=(30, 4)), rng.normal(size=(30, 5)), rng.normal(size=(30, 3))):
        expected = brute_force_permutation(x, y, distance)
        assert shape_distance(x, y, method="permutation", distance=distance) == pytest.approx(expected, rel=1e-10)
    assert shape_distance(x, x[:, [2, 0, 3, 1]] + 4.0, method="permutation") < 1e-6
    assert shape_distance(x, x @ ortho_group.rvs(4, random_state=0), method="permutation") > 0.05


def test_pairwise_distances_match_pairs_and_label_networks(rng):
    nets = {f"net{i}": rng.normal(size=(25, 3 + i)) + (i > 2) * rng.normal(size=(25, 1)) for i in range(5)}
    for method, alpha in (("linear", 0.0), ("linear", 0.5), ("linear", 1.0), ("permutation", 1.0)):
        d = pairwise_shape_distances(nets, method=method, alpha=alpha, distance="euclidean")
        assert d.dims == ("network_a", "network_b")
        assert d.network_a.values.tolist() == list(nets)
        np.testing.assert_array_equal(d.values, d.values.T)
        np.testing.assert_array_equal(np.diag(d.values), 0.0)
        for a, b in itertools.combinations(nets, 2):
            expected = shape_distance(nets[a], nets[b], method=method, alpha=alpha, distance="euclidean")
            assert float(d.sel(network_a=a, network_b=b)) == pytest.approx(expected, rel=1e-9)
        assert d.attrs["parameters"]["method"] == method and len(d.attrs["input_hashes"]) == 5


def test_pairwise_with_labelled_arrays_aligns_stimuli(rng):
    ids = [f"s{i}" for i in range(20)]
    values = [rng.normal(size=(20, 4)) for _ in range(3)]
    order = rng.permutation(20)
    arrays = [create_assembly(values[0], stimulus_id=ids),
              create_assembly(values[1][order], stimulus_id=np.array(ids)[order]),
              create_assembly(values[2], stimulus_id=ids)]
    d = pairwise_shape_distances(arrays, alpha=0.5)
    assert d.network_a.values.tolist() == [0, 1, 2]
    assert float(d[0, 1]) == pytest.approx(shape_distance(values[0], values[1], alpha=0.5), rel=1e-10)
    assert shape_distance(arrays[0], arrays[1], alpha=0.5) == pytest.approx(float(d[0, 1]), rel=1e-10)


def test_wide_representations_use_their_rank(rng):
    # more units than stimuli: the Procrustes angle still matches the straightforward rotation
    x, y = rng.normal(size=(10, 30)), rng.normal(size=(10, 40))
    xc, yc = np.pad(x - x.mean(0), ((0, 0), (0, 10))), y - y.mean(0)  # zero-pad x to 40 units
    rotation, _ = orthogonal_procrustes(xc, yc)
    assert shape_distance(x, y) == pytest.approx(angle(xc @ rotation, yc), rel=1e-9)
    assert shape_distance(x, x @ rng.normal(size=(30, 30)), alpha=0.0) < 1e-6


def test_shape_errors(rng):
    x = rng.normal(size=(10, 3))
    with pytest.raises(ConfigError, match="alpha"):
        shape_distance(x, x, alpha=1.5)
    with pytest.raises(UnknownNameError, match="angular"):
        shape_distance(x, x, distance="cosine")
    with pytest.raises(UnknownNameError, match="permutation"):
        shape_distance(x, x, method="affine")
    with pytest.raises(DataError, match="stimuli"):
        shape_distance(x, x[:5])
    with pytest.raises(DataError, match="constant"):
        shape_distance(x, np.ones((10, 3)))
    with pytest.raises(ConfigError, match="at least 2 networks"):
        pairwise_shape_distances([x])
    with pytest.raises(ConfigError, match="not fitted"):
        LinearMetric().score(x, x)
    with pytest.raises(ConfigError, match="not fitted"):
        PermutationMetric().score(x, x)


# ------------------------------------------------------------------ metric axioms (hypothesis)
configs = st.sampled_from([("linear", 0.0), ("linear", 0.3), ("linear", 1.0), ("permutation", 1.0)])


def _representations(seed, n, widths, shared):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, max(widths)))
    return [shared * base[:, :w] @ rng.normal(size=(w, w)) + rng.normal(size=(n, w)) for w in widths]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(12, 30), widths=st.lists(st.integers(2, 6), min_size=3,
       max_size=3), shared=st.floats(0, 3), config=configs, distance=st.sampled_from(["angular", "euclidean"]))
def test_metric_axioms_on_random_triplets(seed, n, widths, shared, config, distance):
    method, alpha = config
    x, y, z = _representations(seed, n, widths, shared)
    d = pairwise_shape_distances([x, y, z], method=method, alpha=alpha, distance=distance).values
    scale = 1.0 if distance == "angular" else max(np.linalg.norm(m - m.mean(0)) for m in (x, y, z))
    assert np.all(d >= 0)
    assert shape_distance(x, x, method=method, alpha=alpha, distance=distance) < 1e-6 * scale  # identity
    assert shape_distance(x, y, method=method, alpha=alpha, distance=distance) == pytest.approx(
        shape_distance(y, x, method=method, alpha=alpha, distance=distance), rel=1e-9, abs=1e-9 * scale)
    for i, j, k in itertools.permutations(range(3)):  # triangle inequality
        assert d[i, k] <= d[i, j] + d[j, k] + 1e-9 * scale
    if distance == "angular":  # a nuclear norm is never negative; a matched inner product can be
        assert np.all(d <= (np.pi / 2 if method == "linear" else np.pi) + 1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), width=st.integers(2, 6), alpha=st.floats(0, 1),
       distance=st.sampled_from(["angular", "euclidean"]))
def test_invariance_to_each_metric_group(seed, width, alpha, distance):
    # linear(alpha): orthogonal maps and translations; the angular forms also isotropic scaling, and at
    # alpha = 0 any invertible linear map (the Euclidean form keeps the total variance, so not scale);
    # permutation: unit permutations and translations.
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(25, width)), rng.normal(size=(25, width + 1))
    base = shape_distance(x, y, alpha=alpha, distance=distance)
    rotated = x @ ortho_group.rvs(width, random_state=seed % 2**32) + rng.normal(size=width)
    assert shape_distance(rotated, y, alpha=alpha, distance=distance) == pytest.approx(base, rel=1e-7, abs=1e-7)
    if distance == "angular":
        assert shape_distance(3.0 * x, y, alpha=1.0) == pytest.approx(shape_distance(x, y, alpha=1.0), rel=1e-9)
    mixed = x @ (rng.normal(size=(width, width)) + 3 * np.eye(width))
    assert shape_distance(mixed, y, alpha=0.0) == pytest.approx(shape_distance(x, y, alpha=0.0), rel=1e-6, abs=1e-6)
    permuted = x[:, rng.permutation(width)] + rng.normal(size=width)
    assert shape_distance(permuted, y, method="permutation", distance=distance) == pytest.approx(
        shape_distance(x, y, method="permutation", distance=distance), rel=1e-9, abs=1e-9)
