import logging

import numpy as np
import pytest
import torch

from neuroalign.cli.main import main
from neuroalign.extract import (Normalize, StimulusSet, clear_cache, extract, list_cache, open_activations)
from neuroalign.extract.cache import CACHE_ENV, cache_dir
from neuroalign.models import ReferenceNet

LAYERS = ["block2", "fc"]


@pytest.fixture(autouse=True)
def cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def images(rng):
    return rng.normal(size=(6, 3, 32, 32)).astype(np.float32)


def stimuli_of(images, ids=None, **metadata):
    return StimulusSet.from_arrays(ids or [f"s{i}" for i in range(len(images))], images, **metadata)


def run(net, stimuli, **kwargs):
    """Extract with the cache; returns the arrays and the number of forward passes it took."""
    calls = []
    handle = net.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        acts = extract(net, stimuli, LAYERS, batch_size=4, cache=True, progress=False, **kwargs)
    finally:
        handle.remove()
    return acts, len(calls)


def test_location_comes_from_the_environment(cache_folder):
    assert cache_dir() == cache_folder


def test_a_repeated_extraction_is_a_hit(images):
    net = ReferenceNet(seed=0)
    first, n_first = run(net, stimuli_of(images))
    second, n_second = run(net, stimuli_of(images))
    assert n_first == 2 and n_second == 0
    for layer in LAYERS:
        np.testing.assert_array_equal(first[layer].values, second[layer].values)
        assert second[layer].chunks is None  # in memory, like an uncached extraction
    assert len(list_cache()) == 1 and list_cache().complete.all()


def test_changing_one_weight_misses(images):
    net = ReferenceNet(seed=0)
    before, _ = run(net, stimuli_of(images))
    with torch.no_grad():
        net.fc[1].bias[1] += 1e-4  # unit 1 is active (ReLU > 0) for these images
    after, calls = run(net, stimuli_of(images))
    assert calls == 2
    assert not np.array_equal(before["fc"].values, after["fc"].values)
    np.testing.assert_array_equal(before["block2"].values, after["block2"].values)  # upstream of the change


def test_changing_one_preprocessing_parameter_misses(images):
    net = ReferenceNet(seed=0)
    a, _ = run(net, stimuli_of(images), preprocess=Normalize([0.5] * 3, [0.25] * 3))
    b, calls = run(net, stimuli_of(images), preprocess=Normalize([0.5] * 3, [0.26] * 3))
    assert calls == 2 and not np.array_equal(a["fc"].values, b["fc"].values)
    _, calls = run(net, stimuli_of(images), preprocess=Normalize([0.5] * 3, [0.25] * 3))
    assert calls == 0


def test_changing_one_stimulus_misses(images):
    net = ReferenceNet(seed=0)
    run(net, stimuli_of(images))
    changed = images.copy()
    changed[5, 0, 0, 0] += 1e-3  # one value of the last image
    acts, calls = run(net, stimuli_of(changed))
    assert calls == 2
    reference = extract(net, stimuli_of(changed), LAYERS, batch_size=4, progress=False)
    np.testing.assert_array_equal(acts["fc"].values, reference["fc"].values)


def test_the_key_is_content_not_names(images):
    net = ReferenceNet(seed=0)
    run(net, stimuli_of(images, kind=list("aabbcc")))
    renamed = stimuli_of(images, ids=[f"x{i}" for i in range(6)], colour=list("rgbrgb"))
    acts, calls = run(ReferenceNet(seed=0), renamed, model_name="mine")
    assert calls == 0  # same weights and pixels under other names: a hit...
    fc = acts["fc"]
    assert fc.stimulus_id.values.tolist() == [f"x{i}" for i in range(6)]  # ...relabelled with the caller's names
    assert fc.colour.values.tolist() == list("rgbrgb") and "kind" not in fc.coords
    assert fc.neuroid_id.values[0] == "mine.fc.0" and set(fc.model.values) == {"mine"}
    assert fc.attrs["parameters"]["model"] == "mine"


def test_cache_hit_written_to_a_store(tmp_path, images):
    net = ReferenceNet(seed=0)
    run(net, stimuli_of(images))
    acts, calls = run(net, stimuli_of(images, ids=list("abcdef")), store=tmp_path / "acts.zarr")
    assert calls == 0
    stored = open_activations(tmp_path / "acts.zarr", lazy=False)
    assert stored["fc"].stimulus_id.values.tolist() == list("abcdef")
    np.testing.assert_array_equal(stored["fc"].values, acts["fc"].values)
    _, calls = run(net, stimuli_of(images, ids=list("abcdef")), store=tmp_path / "acts.zarr")
    assert calls == 0


def test_undescribable_preprocessing_bypasses_the_cache(images, caplog):
    class Opaque:
        def __call__(self, x):
            return x

    net = ReferenceNet(seed=0)
    with caplog.at_level(logging.WARNING, logger="neuroalign.extract"):
        run(net, stimuli_of(images), preprocess=Opaque())
    _, calls = run(net, stimuli_of(images), preprocess=Opaque())
    assert calls == 2 and len(list_cache()) == 0
    assert "cache bypassed" in caplog.text


def test_list_and_clear(images, capsys, cache_folder):
    assert main(["cache", "list"]) == 0
    assert "is empty" in capsys.readouterr().out
    net = ReferenceNet(seed=0)
    run(net, stimuli_of(images))
    run(net, stimuli_of(images[:3]))
    table = list_cache()
    assert len(table) == 2 and set(table.n_stimuli) == {6, 3} and (table.size_mb > 0).all()
    assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    assert "2 entries" in out and "block2,fc" in out
    assert clear_cache([table.key[0][:10]]) == 1 and len(list_cache()) == 1
    assert main(["cache", "clear"]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert len(list_cache()) == 0
    _, calls = run(net, stimuli_of(images))
    assert calls == 2
