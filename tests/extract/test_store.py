import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neuroalign.errors import ConfigError, ExtractionError, FileFormatError
from neuroalign.extract import StimulusSet, extract, open_activations
from neuroalign.extract.store import partial_path, progress_path
from neuroalign.models import ReferenceNet

REPO = Path(__file__).resolve().parents[2]

JOB = '''
import sys, time
import numpy as np
from neuroalign.extract import StimulusSet, extract
from neuroalign.models import ReferenceNet


def stimuli():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(24, 3, 32, 32)).astype(np.float32)
    return StimulusSet.from_arrays([f"s{i}" for i in range(24)], images, half=[i // 12 for i in range(24)])


class Slow:
    """A forward pre-hook that counts and slows passes; it changes no output, and says so with a fixed
    cache_key (a hook is part of the model's key), so the killed run and the resumed one share the key."""

    cache_key = "slow probe"

    def __init__(self, delay):
        self.delay, self.calls = delay, 0

    def __call__(self, module, args):
        self.calls += 1
        time.sleep(self.delay)


def run(out, delay=0.0):
    net = ReferenceNet(seed=0)
    slow = Slow(delay)
    net.register_forward_pre_hook(slow)
    extract(net, stimuli(), ["block2", "fc"], batch_size=4, store=out, progress=False)
    return slow.calls


if __name__ == "__main__":
    run(sys.argv[1], float(sys.argv[2]))
'''
N_BATCHES = 6


class Probe:
    """A forward pre-hook that counts passes and can fail on one.  It changes no output and says so with a
    fixed ``cache_key`` (a hook is part of the model's key), so the model keeps one key whatever its state."""

    cache_key = "test probe"

    def __init__(self):
        self.calls = []
        self.fail_at = None

    def __call__(self, module, args):
        self.calls.append(1)
        if len(self.calls) == self.fail_at:
            raise RuntimeError("simulated crash")


def counting(net):
    probe = Probe()
    net.register_forward_pre_hook(probe)
    return probe


@pytest.fixture
def stimuli(rng):
    return StimulusSet.from_arrays([f"s{i}" for i in range(10)], rng.normal(size=(10, 3, 32, 32)).astype(np.float32),
                                   category=list("ab") * 5)


def test_store_is_read_back_by_xarray(tmp_path, stimuli):
    net = ReferenceNet(seed=1)
    in_memory = extract(net, stimuli, ["block1", "fc"], batch_size=3, progress=False)
    streamed = extract(net, stimuli, ["block1", "fc"], batch_size=3, store=tmp_path / "acts.zarr", progress=False)
    for layer in ("block1", "fc"):
        raw = xr.open_zarr(tmp_path / "acts.zarr", group=layer)[layer]
        np.testing.assert_array_equal(raw.values, in_memory[layer].values)
        assert raw.chunks[0][0] == 3  # one chunk row per batch
        assert streamed[layer].chunks is not None  # returned lazily
        xr.testing.assert_equal(streamed[layer].load().drop_attrs(), in_memory[layer].drop_attrs())
    assert streamed["fc"].attrs["parameters"]["layers"] == ["block1", "fc"]  # provenance decoded
    assert streamed["fc"].category.values.tolist() == list("ab") * 5
    assert not partial_path(tmp_path / "acts.zarr").exists()
    assert not progress_path(tmp_path / "acts.zarr").exists()


def test_time_bins_are_stored(tmp_path, rng):
    from tests.extract.test_pooling import Recurrent

    vectors = StimulusSet.from_arrays(list("abcde"), rng.normal(size=(5, 4)).astype(np.float32))
    net = Recurrent()
    streamed = extract(net, vectors, "cell", batch_size=2, store=tmp_path / "t.zarr", progress=False)["cell"]
    in_memory = extract(net, vectors, "cell", batch_size=2, progress=False)["cell"]
    assert streamed.dims == ("presentation", "neuroid", "time_bin")
    np.testing.assert_array_equal(streamed.values, in_memory.values)
    np.testing.assert_array_equal(streamed.time_bin_end.values, [1.0, 2.0, 3.0])


def test_a_finished_store_is_not_recomputed_and_not_overwritten(tmp_path, stimuli):
    out = tmp_path / "acts.zarr"
    net = ReferenceNet(seed=1)
    calls = counting(net).calls
    extract(net, stimuli, "fc", batch_size=4, store=out, progress=False)
    calls.clear()
    extract(net, stimuli, "fc", batch_size=4, store=out, progress=False)
    assert calls == []
    with pytest.raises(ConfigError, match="already exists and holds a store of another extraction"):
        extract(net, stimuli, "block4", batch_size=4, store=out, progress=False)
    replaced = extract(net, stimuli, "block4", batch_size=4, store=out, overwrite=True, progress=False)
    assert list(replaced) == ["block4"] and list(open_activations(out)) == ["block4"]
    (tmp_path / "file.zarr").write_text("not a store")
    with pytest.raises(ConfigError, match="holds something else"):
        extract(net, stimuli, "fc", store=tmp_path / "file.zarr", progress=False)


def test_an_interrupted_run_resumes_from_the_last_completed_batch(tmp_path, stimuli):
    out = tmp_path / "acts.zarr"
    net = ReferenceNet(seed=1)
    probe = counting(net)
    calls = probe.calls
    probe.fail_at = 3
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract(net, stimuli, ["block3", "fc"], batch_size=3, store=out, progress=False)
    probe.fail_at = None
    assert not out.exists() and partial_path(out).is_dir()
    assert json.loads(progress_path(out).read_text())["done"] == 2
    with pytest.raises(FileFormatError, match="an unfinished one is at .partial"):
        open_activations(out)
    calls.clear()
    resumed = extract(net, stimuli, ["block3", "fc"], batch_size=3, store=out, progress=False)
    assert len(calls) == 2  # batches 3 and 4 of 4 (10 stimuli, 3 per batch)
    uninterrupted = extract(net, stimuli, ["block3", "fc"], batch_size=3, progress=False)
    for layer in ("block3", "fc"):
        np.testing.assert_array_equal(resumed[layer].values, uninterrupted[layer].values)


def test_a_partial_store_of_another_run_is_discarded(tmp_path, stimuli):
    out = tmp_path / "acts.zarr"
    net = ReferenceNet(seed=1)
    probe = counting(net)
    calls = probe.calls
    probe.fail_at = 2
    with pytest.raises(RuntimeError):
        extract(net, stimuli, "fc", batch_size=3, store=out, progress=False)
    probe.fail_at = None
    calls.clear()
    extract(net, stimuli, "fc", batch_size=5, store=out, progress=False)  # other batch size: start over
    assert len(calls) == 2
    incomplete = tmp_path / "other.zarr"
    partial_path(incomplete).mkdir()
    with pytest.raises(FileFormatError, match="store not found"):
        open_activations(incomplete)


def test_open_activations_refuses_a_store_not_marked_complete(tmp_path, stimuli):
    import zarr

    out = tmp_path / "acts.zarr"
    extract(ReferenceNet(), stimuli, "fc", store=out, progress=False)
    zarr.open_group(str(out), mode="a", zarr_format=2).attrs["complete"] = False
    zarr.consolidate_metadata(str(out), zarr_format=2)
    with pytest.raises(ExtractionError, match="not complete"):
        open_activations(out)


def _wait_for(predicate, process, timeout=180.0):
    start = time.monotonic()
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"the job ended before it could be killed:\n{process.stderr.read()}")
        if time.monotonic() - start > timeout:
            process.kill()
            raise AssertionError("the job made no progress")
        time.sleep(0.005)


@pytest.mark.parametrize("when", [pytest.param("store_created", marks=pytest.mark.slow), "mid_run"])
def test_kill_9_then_resume_gives_exactly_the_uninterrupted_array(tmp_path, when):
    job = tmp_path / "killjob.py"
    job.write_text(JOB)
    out = tmp_path / "acts.zarr"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, str(job), str(out), "0.25"], env=env, cwd=tmp_path,
                               stderr=subprocess.PIPE, text=True)
    try:
        if when == "store_created":
            _wait_for(lambda: partial_path(out).exists(), process)
        else:
            def done():
                try:
                    return json.loads(progress_path(out).read_text())["done"] >= 2
                except (FileNotFoundError, json.JSONDecodeError):
                    return False
            _wait_for(done, process)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert not out.exists()  # never marked complete
    try:
        done_at_kill = json.loads(progress_path(out).read_text())["done"]
    except FileNotFoundError:  # killed before the store was fully created
        done_at_kill = 0
    assert done_at_kill < N_BATCHES
    namespace = runpy.run_path(str(job))
    calls = namespace["run"](out, 0.0)
    assert calls == N_BATCHES - done_at_kill
    resumed = open_activations(out, lazy=False)
    uninterrupted = extract(ReferenceNet(seed=0), namespace["stimuli"](), ["block2", "fc"], batch_size=4,
                            progress=False)
    for layer in ("block2", "fc"):
        np.testing.assert_array_equal(resumed[layer].values, uninterrupted[layer].values)
        assert resumed[layer].stimulus_id.values.tolist() == uninterrupted[layer].stimulus_id.values.tolist()
        assert resumed[layer].half.values.tolist() == uninterrupted[layer].half.values.tolist()
        assert resumed[layer].neuroid_id.values.tolist() == uninterrupted[layer].neuroid_id.values.tolist()


# ------------------------------------------------------------------ missing chunk files


def _one_unit_net():
    """A layer of one unit whose outputs are all 0 (the neuroid coords are one chunk of 0s)."""
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(4, 1), torch.nn.ReLU())
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.zero_()
    return net


def _plain_stimuli():
    # a metadata column of empty strings and one of zeros: chunks equal to zarr's fill value
    return StimulusSet.from_arrays(list("abcd"), np.ones((4, 4), np.float32), note=[""] * 4, zero=[0] * 4)


def test_every_chunk_is_written_even_one_equal_to_the_fill_value(tmp_path):
    from neuroalign.data.io import missing_zarr_chunks
    from neuroalign.extract import write_arrays

    net = _one_unit_net()
    extract(net, _plain_stimuli(), "1", batch_size=2, store=tmp_path / "acts.zarr", cache=False, progress=False)
    in_memory = extract(net, _plain_stimuli(), "1", batch_size=2, cache=False, progress=False)
    write_arrays(in_memory, tmp_path / "copy.zarr")
    for store in ("acts.zarr", "copy.zarr"):
        assert missing_zarr_chunks(tmp_path / store) == {}, store
        xr.testing.assert_identical(open_activations(tmp_path / store, lazy=False)["1"].drop_attrs(),
                                    in_memory["1"].drop_attrs())


@pytest.fixture
def two_batch_store(tmp_path, stimuli):
    out = tmp_path / "acts.zarr"
    extract(ReferenceNet(seed=1), stimuli, ["block1", "fc"], batch_size=5, store=out, cache=False,
            progress=False)
    return out


@pytest.mark.parametrize("lazy", [True, False])
@pytest.mark.parametrize("chunk", ["fc/fc/1.0", "block1/stimulus_id/0", "fc/category/0", "fc/neuroid_id/0"])
def test_a_store_with_a_missing_chunk_file_is_refused(two_batch_store, chunk, lazy):
    (two_batch_store / chunk).unlink()
    layer, variable, key = chunk.split("/")
    with pytest.raises(FileFormatError) as info:
        open_activations(two_batch_store, lazy=lazy)
    message = str(info.value)
    assert str(two_batch_store) in message and f"{layer}/{variable}: {key}" in message
    assert "chunk file(s) are missing" in message and "overwrite=True" in message
    other = {"fc": "block1"}.get(layer, "fc")
    with pytest.raises(FileFormatError, match="missing"):  # the store is damaged, whichever layer is asked for
        open_activations(two_batch_store, lazy=lazy, layers=[other])


def test_a_damaged_store_is_not_taken_for_a_finished_extraction(two_batch_store, stimuli):
    (two_batch_store / "fc" / "fc" / "0.0").unlink()
    net = ReferenceNet(seed=1)
    with pytest.raises(FileFormatError, match=r"fc/fc: 0\.0"):
        extract(net, stimuli, ["block1", "fc"], batch_size=5, store=two_batch_store, cache=False, progress=False)
    again = extract(net, stimuli, ["block1", "fc"], batch_size=5, store=two_batch_store, cache=False,
                    overwrite=True, progress=False)
    expected = extract(net, stimuli, ["block1", "fc"], batch_size=5, cache=False, progress=False)
    np.testing.assert_array_equal(again["fc"].values, expected["fc"].values)


def test_a_damaged_cache_entry_is_computed_again(tmp_path, stimuli, monkeypatch, caplog):
    from neuroalign.extract.cache import CACHE_ENV, list_cache

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    net = ReferenceNet(seed=1)
    probe = counting(net)  # before the first run: a hook is part of the model's key
    expected = extract(net, stimuli, "fc", batch_size=5, cache=False, progress=False)["fc"]
    extract(net, stimuli, "fc", batch_size=5, cache=True, progress=False)
    (entry,) = list_cache()["path"]
    (Path(entry) / "fc" / "stimulus_id" / "0").unlink()
    (Path(entry) / "fc" / "fc" / "1.0").unlink()
    probe.calls.clear()
    with caplog.at_level("WARNING"):
        served = extract(net, stimuli, "fc", batch_size=5, cache=True, progress=False)["fc"]
    assert len(probe.calls) == 2  # both batches computed again
    assert [r.getMessage().count("is damaged and is computed again") for r in caplog.records] == [1]
    xr.testing.assert_identical(served.drop_attrs(), expected.drop_attrs())
    assert served.stimulus_id.values.tolist() == [f"s{i}" for i in range(10)]
