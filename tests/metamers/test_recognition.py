"""Recognisability across observers, and the pixel-space kNN observer.

References: the bootstrap distribution of a proportion of n images resampled
with replacement is Binomial(n, p)/n (closed-form quantiles and standard
error); scikit-learn's KNeighborsClassifier on flattened pixels for PixelKNN.
"""

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from neuroalign.compare.bootstrap import bootstrap_indices
from neuroalign.errors import AlignmentError, ConfigError, DataError
from neuroalign.metamers.pixel_observer import PixelKNN
from neuroalign.metamers.recognition import METRIC, recognisability
from neuroalign.metamers.validity import metamer_validity

DIMS = ("presentation", "channel", "row", "col")


def _answers(labels_by_image):
    """An observer that answers from a lookup of each image's first pixel (the image's index)."""
    table = np.asarray(labels_by_image)

    def observer(images):
        return table[np.asarray(images[:, 0, 0, 0]).astype(int)]
    return observer


def _indexed_images(n):
    images = np.zeros((n, 1, 2, 2), dtype=np.float32)
    images[:, 0, 0, 0] = np.arange(n)
    return images


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=12), st.integers(0, 1000))
def test_a_perfect_observer_scores_one_with_zero_width_ci(labels, seed):
    images = _indexed_images(len(labels))
    score = recognisability({"a": images, "b": images}, labels, {"oracle": _answers(labels)},
                            classes=range(5), n_bootstrap=50, random_state=seed)
    np.testing.assert_array_equal(score.values.values, 1.0)
    np.testing.assert_array_equal(score.ci[0].values, 1.0)
    np.testing.assert_array_equal(score.ci[1].values, 1.0)
    np.testing.assert_array_equal(score.error.values, 0.0)
    assert score.params["chance"] == pytest.approx(0.2)


def test_bootstrap_ci_matches_the_binomial_closed_form():
    labels = np.array([0, 1, 0, 1])
    answers = np.array([0, 1, 0, 0])  # 3 of 4 right
    score = recognisability({"conv": _indexed_images(4)}, labels, {"obs": _answers(answers)}, n_bootstrap=20000,
                            random_state=1)
    assert float(score.values.squeeze()) == 0.75
    # resampled proportion ~ Binomial(4, 0.75)/4: P(X <= 0) = 0.004 and P(X <= 1) = 0.051 put the 2.5% quantile at
    # X = 1; P(X = 4) = 0.316 puts the 97.5% quantile at X = 4
    binomial = stats.binom(4, 0.75)
    assert binomial.cdf(0) < 0.025 < binomial.cdf(1) and binomial.sf(3) > 0.025
    assert float(score.ci[0].squeeze()) == 0.25 and float(score.ci[1].squeeze()) == 1.0
    assert float(score.error.squeeze()) == pytest.approx(binomial.std() / 4, rel=0.02)


def test_resamples_follow_the_documented_seeding_and_are_shared_by_observers():
    labels = np.array([0, 1, 1, 0, 1])
    first, second = np.array([0, 1, 0, 0, 1]), np.array([1, 1, 1, 0, 0])
    images = _indexed_images(5)
    score = recognisability({"l1": images, "l2": images}, labels,
                            {"a": _answers(first), "b": _answers(second)}, n_bootstrap=7, random_state=3,
                            valid=xr.DataArray([[True] * 5, [True, True, False, True, True]],
                                               dims=("layer", "presentation"), coords={"layer": ["l1", "l2"]}))
    rng = np.random.default_rng(3)
    idx1 = bootstrap_indices(5, 7, rng)
    idx2 = bootstrap_indices(4, 7, rng)
    correct1 = np.stack([first == labels, second == labels])
    keep = np.array([0, 1, 3, 4])
    correct2 = correct1[:, keep]
    raw = score.raw.sel(generator="model")
    np.testing.assert_allclose(raw.sel(layer="l1").values, correct1[:, idx1].mean(axis=2).T)
    np.testing.assert_allclose(raw.sel(layer="l2").values, correct2[:, idx2].mean(axis=2).T)
    assert score.params["n_images"] == {"l1": 5, "l2": 4}
    assert score.metric == METRIC


def _net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def test_network_observers_dataarray_input_and_natural_layer():
    net = _net()
    g = torch.Generator().manual_seed(1)
    naturals = torch.rand(10, 1, 4, 4, generator=g)
    with torch.no_grad():
        labels = net(naturals).argmax(1).numpy()
        noisy = torch.rand(2, 10, 1, 4, 4, generator=g)
        expected = (net(noisy.flatten(0, 1)).argmax(1).numpy().reshape(2, 10) == labels).mean(axis=1)
    metamers = xr.DataArray(noisy.numpy(), dims=("layer", *DIMS), coords={"layer": ["early", "late"]})
    net.train()
    score = recognisability(metamers, labels, {"generator": net}, naturals=naturals, generator="net",
                            classes=[0, 1, 2], n_bootstrap=30)
    assert net.training  # mode restored
    assert score.values["layer"].values.tolist() == ["natural", "early", "late"]
    assert score.values.sel(layer="natural").item() == 1.0
    np.testing.assert_allclose(score.values.sel(layer=["early", "late"]).values.ravel(), expected)
    assert score.values["generator"].values.tolist() == ["net"]
    # classes restrict a network's forced choice to those logit columns
    assert score.params["chance"] == pytest.approx(1 / 3)
    with torch.no_grad():
        logits = net(naturals)
    two_way = logits[:, :2].argmax(1).numpy()
    restricted = recognisability({"x": naturals}, two_way, {"net": net}, classes=[0, 1], n_bootstrap=10)
    assert restricted.values.item() == 1.0 and restricted.params["chance"] == 0.5


def test_valid_from_metamer_validity_and_id_matching():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3)).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(2)
    naturals = torch.rand(8, 1, 4, 4, generator=g)
    with torch.no_grad():
        labels = net(naturals).argmax(1).numpy()
    ids = np.array([f"im{i}" for i in range(8)])
    metamers = torch.where(torch.arange(8).reshape(8, 1, 1, 1) < 4, naturals, torch.rand(8, 1, 4, 4, generator=g))
    validity = metamer_validity(net, "1", metamers, naturals, labels, stimulus_ids=ids, n_null=40)
    valid = validity["valid"]
    assert valid.values[0, 0, :4].all() and not valid.values[0, 0, 4:].all()
    da = xr.DataArray(metamers.numpy(), dims=DIMS, coords={"stimulus_id": ("presentation", ids)})
    order = np.random.default_rng(0).permutation(8)
    label_da = xr.DataArray(labels[order], dims="presentation", coords={"stimulus_id": ("presentation", ids[order])})
    score = recognisability({"1": da}, label_da, {"net": net}, valid=valid, classes=range(3),
                            n_bootstrap=10)
    kept = valid.values[0, 0]
    with torch.no_grad():
        expected = (net(metamers[torch.as_tensor(kept)]).argmax(1).numpy() == labels[kept]).mean()
    assert score.values.item() == pytest.approx(expected)
    assert score.params["n_images"] == {"1": int(kept.sum())}


def test_empty_layers_raise_or_drop():
    images = _indexed_images(3)
    labels = [0, 1, 0]
    valid = xr.DataArray([[True, False, True], [False] * 3], dims=("layer", "presentation"),
                         coords={"layer": ["a", "b"]})
    observers = {"o": _answers(labels)}
    with pytest.raises(DataError, match="layer 'b' has no valid metamer"):
        recognisability({"a": images, "b": images}, labels, observers, valid=valid, n_bootstrap=5)
    score = recognisability({"a": images, "b": images}, labels, observers, valid=valid, n_bootstrap=5,
                            empty_layers="drop")
    assert score.values["layer"].values.tolist() == ["a"] and score.params["dropped_layers"] == ["b"]
    assert not np.isnan(score.values.values).any()


def test_errors():
    images = _indexed_images(3)
    labels = [0, 1, 0]
    obs = {"o": _answers(labels)}
    with pytest.raises(ConfigError, match="non-empty mapping"):
        recognisability({"a": images}, labels, {})
    with pytest.raises(AlignmentError, match="holds 3 images and labels 2"):
        recognisability({"a": images}, labels[:2], obs)
    with pytest.raises(AlignmentError, match="no layer 'b'"):
        recognisability({"a": images, "b": images}, labels, obs,
                        valid=xr.DataArray([[True] * 3], dims=("layer", "presentation"), coords={"layer": ["a"]}))
    with pytest.raises(ConfigError, match="not among classes"):
        recognisability({"a": images}, labels, obs, classes=[1, 2])
    with pytest.raises(ConfigError, match="network"):
        recognisability({"a": images}, ["x", "y", "x"], {"net": nn.Flatten()})
    with pytest.raises(ConfigError, match="appears twice"):
        recognisability({"natural": images}, labels, obs, naturals=images)
    with pytest.raises(DataError, match="shape"):
        recognisability({"a": images}, labels, {"bad": lambda x: np.zeros(2)})
    with pytest.raises(ConfigError, match="n_bootstrap"):
        recognisability({"a": images}, labels, obs, n_bootstrap=1)
    with pytest.raises(ConfigError, match="seed"):
        recognisability({"a": images}, labels, obs, valid=xr.DataArray(
            np.ones((1, 2, 3), bool), dims=("layer", "seed", "presentation"), coords={"layer": ["a"]}))


def test_pixel_knn_agrees_with_sklearn():
    rng = np.random.default_rng(0)
    train = rng.random((40, 1, 5, 5)).astype(np.float32)
    labels = rng.integers(0, 3, size=40)
    test = rng.random((15, 1, 5, 5)).astype(np.float32)
    for k in (1, 3):
        knn = PixelKNN(n_neighbors=k).fit(torch.from_numpy(train), labels)
        reference = KNeighborsClassifier(n_neighbors=k).fit(train.reshape(40, -1), labels)
        np.testing.assert_array_equal(knn(torch.from_numpy(test)), reference.predict(test.reshape(15, -1)))
    da = xr.DataArray(train, dims=DIMS)
    np.testing.assert_array_equal(PixelKNN().fit(da, labels)(train), labels)  # 1-NN recalls its training set
    score = recognisability({"pixels": train}, labels, {"knn": PixelKNN().fit(train, labels)}, n_bootstrap=5)
    assert score.values.item() == 1.0


def test_pixel_knn_errors():
    train = np.zeros((4, 1, 2, 2), dtype=np.float32)
    with pytest.raises(ConfigError, match="not fitted"):
        PixelKNN()(train)
    with pytest.raises(ConfigError, match="n_neighbors"):
        PixelKNN(n_neighbors=0).fit(train, [0, 1, 0, 1])
    with pytest.raises(DataError, match="n_neighbors=5"):
        PixelKNN(n_neighbors=5).fit(train, [0, 1, 0, 1])
    with pytest.raises(DataError, match="labels"):
        PixelKNN().fit(train, [0, 1])
    knn = PixelKNN().fit(train, [0, 1, 0, 1])
    with pytest.raises(DataError, match="fitted on"):
        knn(np.zeros((2, 1, 3, 3), dtype=np.float32))
    with pytest.raises(ConfigError, match="scikit-learn"):
        PixelKNN(metric="nonsense").fit(train, [0, 1, 0, 1])


def test_score_saves_and_loads(tmp_path):
    from neuroalign import Score

    labels = [0, 1, 2, 1]
    score = recognisability({"a": _indexed_images(4)}, labels, {"o": _answers([0, 1, 1, 1])}, n_bootstrap=20)
    loaded = Score.load(score.save(tmp_path / "recognisability.nc"))
    assert loaded.params == score.params
    assert loaded.values.identical(score.values) and loaded.raw.identical(score.raw)
    assert loaded.params["chance"] == pytest.approx(1 / 3) and loaded.params["classes"] == [0, 1, 2]
