"""Metamer: history, seeding, resume (bit-identical through save/load), stopping, snapshots, Dataset."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import xarray as xr

from neuroalign.errors import ConfigError, FileFormatError
from neuroalign.metamers.stopping import RelativeProgress
from neuroalign.metamers.synthesis import Metamer

from ._nets import images, small_cnn


pytestmark = pytest.mark.usefixtures("one_thread")


def test_history_shapes_and_progress():
    met = Metamer(small_cnn(), "4", images(3), store_every=4).synthesize(10, progress=False)
    assert met.n_iter == 10
    assert met.losses.shape == met.penalties.shape == (11, 3)
    assert met.gradient_norm.shape == met.pixel_change_norm.shape == (10, 3)
    assert met.metamer.shape == (3, 1, 16, 16) and not met.metamer.requires_grad
    assert met.saved_iterations == [0, 4, 8] and met.saved_metamer.shape == (3, 3, 1, 16, 16)
    torch.testing.assert_close(met.saved_metamer[0], met.initial_image)
    assert met.target_activations.shape == (3, 6, 8, 8)
    assert bool((met.losses[-1] < met.losses[0]).all())
    assert met.stopped.tolist() == [False] * 3 and met.stop_iteration.tolist() == [-1] * 3


def test_losses_are_objective_of_each_iterate():
    """losses[k] is loss + λ·penalty of the k-th iterate, recomputed here from the snapshots."""
    net = small_cnn()
    target = images(2)
    met = Metamer(net, "1", target, store_every=1).synthesize(5, progress=False)
    for k, x in zip(met.saved_iterations, met.saved_metamer):
        mse = ((net[:2](x) - net[:2](target)) ** 2).flatten(1).mean(1)
        penalty = (x.clamp(max=0) ** 2 + (x - 1).clamp(min=0) ** 2).flatten(1).sum(1)
        torch.testing.assert_close(met.losses[k], mse + 0.1 * penalty, rtol=1e-12, atol=0)
        torch.testing.assert_close(met.penalties[k], penalty, rtol=1e-12, atol=0)


def test_seeded():
    target = images(2)
    a = Metamer(small_cnn(), "4", target, random_state=3).synthesize(5, progress=False)
    b = Metamer(small_cnn(), "4", target, random_state=3).synthesize(5, progress=False)
    c = Metamer(small_cnn(), "4", target, random_state=4).synthesize(5, progress=False)
    assert torch.equal(a.metamer, b.metamer) and torch.equal(a.losses, b.losses)
    assert not torch.equal(a.initial_image, c.initial_image) and not torch.equal(a.metamer, c.metamer)


def test_start_does_not_depend_on_batch():
    target = images(3)
    batch = Metamer(small_cnn(), "4", target, stimulus_ids=["a", "b", "c"]).initial_image
    alone = Metamer(small_cnn(), "4", target[1:2], stimulus_ids=["b"]).initial_image
    assert torch.equal(batch[1:2], alone)


def test_continuing_equals_one_run():
    target = images(2)
    straight = Metamer(small_cnn(), "4", target).synthesize(12, progress=False)
    pieces = Metamer(small_cnn(), "4", target).synthesize(5, progress=False).synthesize(7, progress=False)
    assert torch.equal(straight.losses, pieces.losses) and torch.equal(straight.metamer, pieces.metamer)


@pytest.mark.parametrize("preset, extra", [
    ("plenoptic", {"stop_window": 3, "stop_tolerance": 0.09}),
    ("feather2023", {"scheduler": functools.partial(__import__("neuroalign.metamers.steps", fromlist=["x"])
                                                    .HalvingScheduler, steps_per_pass=4, n_passes=8)}),
])
def test_resume_after_load_is_bit_identical(tmp_path, preset, extra):
    net, target = small_cnn(), images(3)
    straight = Metamer(net, "4", target, preset=preset, store_every=3, **extra).synthesize(20, progress=False)
    first = Metamer(net, "4", target, preset=preset, store_every=3, **extra).synthesize(10, progress=False)
    first.save(tmp_path / "m.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left
    resumed = Metamer.load(tmp_path / "m.pt", net, scheduler=extra.get("scheduler")).synthesize(10, progress=False)
    assert torch.equal(straight.losses, resumed.losses)
    assert torch.equal(straight.metamer, resumed.metamer)
    assert torch.equal(straight.penalties, resumed.penalties)
    assert torch.equal(straight.gradient_norm.nan_to_num(-1), resumed.gradient_norm.nan_to_num(-1))
    assert torch.equal(straight.stopped, resumed.stopped)
    assert torch.equal(straight.stop_iteration, resumed.stop_iteration)
    assert torch.equal(straight.saved_metamer, resumed.saved_metamer)
    if preset == "plenoptic":
        assert bool(straight.stopped.any())  # the stopping state went through the checkpoint too


def test_load_refuses_another_model(tmp_path):
    met = Metamer(small_cnn(seed=0), "4", images(1)).synthesize(2, progress=False)
    met.save(tmp_path / "m.pt")
    with pytest.raises(ConfigError, match="model differs"):
        Metamer.load(tmp_path / "m.pt", small_cnn(seed=1))


def test_load_needs_custom_parts_again(tmp_path):
    def my_loss(a, t):
        return (a - t).abs().flatten(1).mean(1)

    sgd = functools.partial(torch.optim.SGD, lr=0.5)
    met = Metamer(small_cnn(), "4", images(1), loss=my_loss, optimizer=sgd).synthesize(3, progress=False)
    met.save(tmp_path / "m.pt")
    with pytest.raises(ConfigError, match="loss"):
        Metamer.load(tmp_path / "m.pt", small_cnn(), optimizer=sgd)
    with pytest.raises(ConfigError, match="optimizer"):
        Metamer.load(tmp_path / "m.pt", small_cnn(), loss=my_loss)
    with pytest.raises(ConfigError, match="optimizer"):
        Metamer.load(tmp_path / "m.pt", small_cnn(), loss=my_loss, optimizer=functools.partial(torch.optim.SGD, lr=1))
    resumed = Metamer.load(tmp_path / "m.pt", small_cnn(), loss=my_loss, optimizer=sgd)
    assert resumed.n_iter == 3


def test_load_refuses_other_files(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(FileFormatError, match="not a readable checkpoint"):
        Metamer.load(tmp_path / "junk.pt", small_cnn())
    torch.save({"a": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(FileFormatError, match="not a metamer checkpoint"):
        Metamer.load(tmp_path / "other.pt", small_cnn())
    with pytest.raises(FileFormatError, match="no such"):
        Metamer.load(tmp_path / "missing.pt", small_cnn())


def test_stopping_rule_and_stopped_images_do_not_change():
    rule = RelativeProgress(0.15, window=4)
    met = Metamer(small_cnn(), "4", images(4), stop_tolerance=0.15, stop_window=4,
                  store_every=1).synthesize(40, progress=False)
    losses = met.losses
    assert bool(met.stopped.any())
    for i in range(4):
        k = int(met.stop_iteration[i])
        # the rule, applied by hand to the recorded history: first iterate where it holds
        hits = [j for j in range(losses.shape[0]) if bool(rule.converged(losses[: j + 1, i:i + 1])[0])]
        assert k == (hits[0] if hits and hits[0] < met.n_iter else -1)
        if k >= 0:
            assert bool((losses[k:, i] == losses[k, i]).all())
            assert bool((met.pixel_change_norm[k:, i] == 0).all())
            assert bool(met.gradient_norm[k + 1:, i].isnan().all())
            for snapshot in met.saved_metamer[k:]:
                assert torch.equal(snapshot[i], met.metamer[i])


def test_synthesis_ends_when_all_stopped():
    met = Metamer(small_cnn(), "4", images(2), stop_tolerance=0.5, stop_window=2).synthesize(100, progress=False)
    assert bool(met.stopped.all()) and met.n_iter == int(met.stop_iteration.max()) + 1


def test_no_stopping():
    met = Metamer(small_cnn(), "4", images(1), stop_tolerance=False, stop_window=1).synthesize(30, progress=False)
    assert not bool(met.stopped.any()) and met.n_iter == 30


def test_to_dataset():
    ids = ["cat", "dog"]
    data = xr.DataArray(images(2).numpy(), dims=("presentation", "channel", "row", "col"),
                        coords={"stimulus_id": ("presentation", ids)})
    met = Metamer(small_cnn(), "4", data, random_state=7).synthesize(4, progress=False)
    ds = met.to_dataset()
    assert met.stimulus_ids == ids
    assert ds["metamer"].dims == ("presentation", "channel", "row", "col")
    assert list(ds["stimulus_id"].values) == ids and ds["layer"].item() == "4" and ds["seed"].item() == 7
    assert ds["loss"].dims == ("iteration", "presentation") and ds.sizes["iteration"] == 5
    np.testing.assert_array_equal(ds["metamer"].values, met.metamer.numpy())
    np.testing.assert_array_equal(ds["image"].values, data.values)
    np.testing.assert_array_equal(ds["loss"].values, met.losses.numpy())
    assert ds.attrs["parameters"]["preset"] == "plenoptic" and "model" in ds.attrs["input_hashes"]


def test_images_in_any_form_give_the_same_synthesis():
    """A numpy array, and a DataArray with its dims in another order, are the same images as the tensor."""
    target = images(2)
    reference = Metamer(small_cnn(), "4", target).synthesize(3, progress=False)
    transposed = xr.DataArray(target.permute(0, 2, 3, 1).numpy(), dims=("presentation", "row", "col", "channel"))
    for data in (target.numpy(), transposed):
        met = Metamer(small_cnn(), "4", data).synthesize(3, progress=False)
        assert met.stimulus_ids == ["0", "1"]
        torch.testing.assert_close(met.images, target, rtol=0, atol=0)
        torch.testing.assert_close(met.metamer, reference.metamer, rtol=0, atol=0)


def test_custom_parts():
    scheduler = functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, patience=1)  # step(loss)
    met = Metamer(small_cnn(), "4", images(2), optimizer=functools.partial(torch.optim.SGD, lr=1.0),
                  scheduler=scheduler, penalty=False, initial="feather").synthesize(8, progress=False)
    assert bool((met.penalties == 0).all()) and bool((met.losses[-1] < met.losses[0]).all())


def test_sgd_step_by_hand():
    """One SGD step of the summed per-image objective is each image's own gradient step."""
    net, target = small_cnn(), images(2)
    start = images(2, seed=5)
    met = Metamer(net, "1", target, initial=start, penalty=False,
                  optimizer=functools.partial(torch.optim.SGD, lr=0.3)).synthesize(1, progress=False)
    for i in range(2):
        x = start[i:i + 1].clone().requires_grad_(True)
        ((net[:2](x) - net[:2](target[i:i + 1])) ** 2).mean().backward()
        torch.testing.assert_close(met.metamer[i:i + 1], start[i:i + 1] - 0.3 * x.grad, rtol=0, atol=1e-14)


def test_a_loss_driven_scheduler_sees_the_whole_batch():
    """A scheduler's ``step(loss)`` gets the summed objective of every image; a stopped image counts with its last
    value (dropping it would look like progress to e.g. ReduceLROnPlateau)."""
    received = []

    class Recorder:
        def __init__(self, optimizer):
            pass

        def step(self, metrics):
            received.append(metrics)

    met = Metamer(small_cnn(), "4", images(4), stop_tolerance=0.15, stop_window=4, scheduler=Recorder)
    met.synthesize(40, progress=False)
    assert bool(met.stopped.any()) and int(met.stop_iteration.min()) < met.n_iter - 1
    np.testing.assert_allclose(received, met.losses[:-1].sum(1).numpy(), rtol=1e-12, atol=0)


def test_synthesize_checks_the_model_again():
    """A model unfrozen or put in train mode between two calls is refused (its parameters get no gradient)."""
    net = small_cnn()
    met = Metamer(net, "4", images(1)).synthesize(2, progress=False)
    net.requires_grad_(True)
    with pytest.raises(ConfigError, match=r"requires_grad_\(False\)"):
        met.synthesize(2, progress=False)
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False).train()
    with pytest.raises(ConfigError, match=r"model.eval\(\)"):
        met.synthesize(2, progress=False)
    net.eval()
    assert met.synthesize(2, progress=False).n_iter == 4


def test_load_keeps_the_description_of_the_start(tmp_path):
    met = Metamer(small_cnn(), "4", images(2), initial="feather").synthesize(2, progress=False)
    met.save(tmp_path / "m.pt")
    loaded = Metamer.load(tmp_path / "m.pt", small_cnn())
    assert loaded.describe() == met.describe() and loaded.describe()["initial"] == "feather"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_resume_on_the_gpu_is_bit_identical(tmp_path):
    """Images on the GPU, history and stopping state on the CPU, after ``load(map_location='cuda')`` too."""
    net, target = small_cnn().cuda(), images(3).cuda()
    settings = {"stop_tolerance": 0.09, "stop_window": 3, "store_every": 3}
    straight = Metamer(net, "4", target, **settings).synthesize(20, progress=False)
    Metamer(net, "4", target, **settings).synthesize(10, progress=False).save(tmp_path / "m.pt")
    resumed = Metamer.load(tmp_path / "m.pt", net, map_location="cuda").synthesize(10, progress=False)
    assert resumed.metamer.device.type == "cuda" and resumed.losses.device.type == "cpu"
    assert torch.equal(straight.losses, resumed.losses) and torch.equal(straight.metamer, resumed.metamer)
    assert torch.equal(straight.stopped, resumed.stopped)
    assert resumed.to_dataset()["loss"].shape == (21, 3)
