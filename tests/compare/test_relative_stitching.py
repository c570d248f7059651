"""Zero-shot stitching: a readout trained on one network's relative representation works on another network's
(two networks trained on MNIST digits from different seeds), while the absolute baseline is near chance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import cosine_similarity

from neuroalign.compare.matching.relative_stitching import StitchingReadout, zero_shot_stitching
from neuroalign.datasets.mnist import load_mnist_5k, split_train_test
from neuroalign.errors import ConfigError, DataError
from neuroalign.extract import StimulusSet, extract
from neuroalign.metamers.training import train_classifier
from neuroalign.models.mnist import MnistCNN, MnistMLP


def rep(values, labels, prefix="n"):
    n, p = values.shape
    return xr.DataArray(values, dims=("presentation", "neuroid"),
                        coords={"stimulus_id": ("presentation", [f"s{i}" for i in range(n)]),
                                "neuroid_id": ("neuroid", [f"{prefix}{j}" for j in range(p)]),
                                "label": ("presentation", labels)})


def test_readout_is_sklearn_logistic_regression_on_cosines_to_the_anchors(rng):
    values = rng.normal(size=(80, 5))
    labels = (values[:, 0] > 0).astype(int)
    anchors = [f"s{i}" for i in range(0, 80, 4)]
    readout = StitchingReadout(anchors, C=0.5, random_state=3).fit(rep(values, labels))
    reference = LogisticRegression(C=0.5, max_iter=1000, random_state=3).fit(
        cosine_similarity(values, values[::4]), labels)
    np.testing.assert_allclose(readout.readout_.coef_, reference.coef_, atol=1e-10)
    # another space that differs by a rotation and a scale: same predictions, zero-shot
    rotated = rep(3 * values @ np.linalg.qr(rng.normal(size=(5, 5)))[0], labels, prefix="m")
    np.testing.assert_array_equal(readout.predict(rotated), readout.predict(rep(values, labels)))
    absolute = StitchingReadout(anchors, relative=False, random_state=3).fit(rep(values, labels))
    assert absolute.score(rep(values, labels)) > 0.9
    with pytest.raises(DataError, match="features"):
        absolute.predict(rep(values[:, :4], labels))
    with pytest.raises(ConfigError, match="not fitted"):
        StitchingReadout(anchors).predict(rotated)
    with pytest.raises(ConfigError, match="label"):
        StitchingReadout(anchors).fit(rep(values, labels).drop_vars("label"))
    with pytest.raises(DataError, match="one class"):
        StitchingReadout(anchors).fit(rep(values, np.zeros(80, int)))
    with pytest.raises(ConfigError, match="test_size"):
        zero_shot_stitching(rep(values, labels), rotated, anchors=10, test_size=1.5)


def _two_networks(network, n_train: int, epochs: int, layer: str):
    torch.set_num_threads(1)
    data = load_mnist_5k()
    train, rest = split_train_test(data, test_size=5000 - n_train, random_state=0)
    held_out = rest.isel(presentation=np.sort(np.random.default_rng(1).permutation(rest.sizes["presentation"])[:800]))
    stimuli = StimulusSet.from_arrays(held_out.stimulus_id.values, held_out.values, label=held_out.label.values)
    acts = []
    for seed in (0, 1):
        net = train_classifier(network(seed=seed), train, epochs=epochs, batch_size=32, lr=2e-3, random_state=seed,
                               progress=False).model
        acts.append(extract(net, stimuli, [layer], progress=False)[layer])
    return acts


def _check_stitching(a, b, anchors=300):
    relative = zero_shot_stitching(a, b, anchors=anchors, random_state=0)
    absolute = zero_shot_stitching(a, b, anchors=anchors, relative=False, random_state=0)
    for score in (relative, absolute):
        assert score.values.sel(applied_to="source") > 0.8  # each readout works on its own network
    assert relative.values.sel(applied_to="target") > 0.75  # far above chance (0.1)
    assert absolute.values.sel(applied_to="target") < 0.35
    farthest = zero_shot_stitching(a, b, anchors=anchors, anchor_method="farthest", random_state=0)
    assert farthest.values.sel(applied_to="target") > 0.75
    return relative, absolute


def test_mlps_from_two_seeds_stitch_with_relative_but_not_absolute_representations():
    a, b = _two_networks(MnistMLP, n_train=500, epochs=2, layer="relu2")
    _check_stitching(a, b, anchors=100)


@pytest.mark.slow
def test_cnns_from_two_seeds_stitch_with_relative_but_not_absolute_representations():
    a, b = _two_networks(MnistCNN, n_train=1500, epochs=2, layer="relu3")
    relative, absolute = _check_stitching(a, b)
    assert relative.values.sel(applied_to="target") > 0.85


@pytest.mark.parametrize("relative", [True, False])
def test_the_target_is_scored_against_the_sources_labels(rng, relative):
    # the target's own label coordinate (absent, or meaning something else) must never be used
    labels = np.repeat([0, 1], 40)
    values = rng.normal(size=(80, 4)) + labels[:, None] * 3.0
    source = rep(values, labels)
    target = rep(values + rng.normal(scale=0.01, size=values.shape), 1 - labels).drop_vars("label")
    score = zero_shot_stitching(source, target, anchors=10, relative=relative, random_state=0)
    assert score.values.sel(applied_to="target") > 0.9
    mislabelled = rep(target.values, 1 - labels)
    again = zero_shot_stitching(source, mislabelled, anchors=10, relative=relative, random_state=0)
    assert float(again.values.sel(applied_to="target")) == float(score.values.sel(applied_to="target"))
