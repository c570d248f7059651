"""Invariances of Metamer (hypothesis): each image's trajectory is the one it has alone; a stopped image
no longer changes; the feather2023 preset keeps images in range."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.metamers.synthesis import Metamer

from ._nets import images, small_cnn

NET = small_cnn()


pytestmark = pytest.mark.usefixtures("one_thread")


@given(seed=st.integers(0, 2**16), preset=st.sampled_from(["plenoptic", "feather2023"]),
       layer=st.sampled_from(["1", "4"]), n_iter=st.integers(1, 6))
@settings(max_examples=6, deadline=None)
def test_batch_equals_each_image_alone(seed, preset, layer, n_iter):
    target = images(2, seed=seed)
    ids = ["a", "b"]
    batch = Metamer(NET, layer, target, preset=preset, stimulus_ids=ids, random_state=seed)
    batch.synthesize(n_iter, progress=False)
    for i, stimulus_id in enumerate(ids):
        alone = Metamer(NET, layer, target[i:i + 1], preset=preset, stimulus_ids=[stimulus_id], random_state=seed)
        alone.synthesize(n_iter, progress=False)
        torch.testing.assert_close(batch.losses[:, i:i + 1], alone.losses, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(batch.metamer[i:i + 1], alone.metamer, rtol=1e-9, atol=1e-12)


@given(order=st.permutations([0, 1, 2]))
@settings(max_examples=5, deadline=None)
def test_order_of_the_batch_does_not_matter(order):
    target, ids = images(3, seed=9), ["x", "y", "z"]
    base = Metamer(NET, "4", target, stimulus_ids=ids).synthesize(4, progress=False)
    permuted = Metamer(NET, "4", target[list(order)], stimulus_ids=[ids[i] for i in order])
    permuted.synthesize(4, progress=False)
    torch.testing.assert_close(permuted.metamer, base.metamer[list(order)], rtol=1e-9, atol=1e-12)


@given(tolerance=st.floats(0.05, 0.3), window=st.integers(1, 5), seed=st.integers(0, 1000))
@settings(max_examples=10, deadline=None)
def test_stopped_images_stay_put(tolerance, window, seed):
    met = Metamer(NET, "4", images(3, seed=seed), stop_tolerance=tolerance, stop_window=window,
                  store_every=1).synthesize(25, progress=False)
    for i in range(3):
        k = int(met.stop_iteration[i])
        if k < 0:
            assert not bool(met.stopped[i])
            continue
        assert bool(met.stopped[i]) and k >= window
        snapshots = met.saved_metamer[k:, i]
        assert bool((snapshots == snapshots[0]).all())
        assert bool((met.losses[k:, i] == met.losses[k, i]).all())


@given(low=st.floats(-1.0, 0.4), width=st.floats(0.7, 2.0), seed=st.integers(0, 1000))
@settings(max_examples=10, deadline=None)
def test_feather_keeps_images_in_range(low, width, seed):
    high = low + width
    target = low + width * images(2, seed=seed)
    met = Metamer(NET, "4", target, preset="feather2023", allowed_range=(low, high), random_state=seed,
                  store_every=1).synthesize(5, progress=False)
    assert float(met.saved_metamer.min()) >= low and float(met.saved_metamer.max()) <= high
