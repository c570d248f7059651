import numpy as np
import pytest
import torch
from torch import nn

from neuroalign.data import validate
from neuroalign.errors import ExtractionError, SchemaError, UnknownNameError
from neuroalign.extract import StimulusSet, extract
from neuroalign.models import ReferenceNet


@pytest.fixture
def stimuli(rng):
    return StimulusSet.from_arrays([f"img{i}" for i in range(10)], rng.normal(size=(10, 3, 32, 32)).astype(np.float32),
                                   category=list("ab") * 5)


def test_matches_a_manual_forward_pass(stimuli):
    net = ReferenceNet(seed=1)
    acts = extract(net, stimuli, ["block2", "fc"], batch_size=3, progress=False)
    with torch.no_grad():
        x = torch.as_tensor(stimuli.content)
        block2 = net.block2(net.block1(x))
        fc = net.fc(net.block4(net.block3(block2)))
    np.testing.assert_allclose(acts["block2"].values, block2.reshape(10, -1).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(acts["fc"].values, fc.numpy(), rtol=1e-4, atol=1e-5)


def test_coordinates_follow_the_data_model(stimuli):
    acts = extract(ReferenceNet(seed=0), stimuli, ["block1", "readout"], progress=False)
    conv, fc = acts["block1"], acts["readout"]
    for a in (conv, fc):
        validate(a)
        assert set(a.coords) == set(conv.coords)  # same coordinate set for every layer
    assert conv.stimulus_id.values.tolist() == [f"img{i}" for i in range(10)]
    assert conv.category.values.tolist() == list("ab") * 5
    assert conv.neuroid_id.values[17] == "ReferenceNet.block1.17"
    # block1 output is 16 x 16 x 16: neuroid 17 is channel 0, row 1, col 1
    assert (int(conv.channel[17]), int(conv.row[17]), int(conv.col[17])) == (0, 1, 1)
    assert set(fc.row.values.tolist()) == {-1}
    assert "model_weights" in conv.attrs["input_hashes"]
    assert conv.attrs["input_hashes"]["stimuli"] == stimuli.content_hash()  # in-memory results name their inputs


def test_batch_size_does_not_change_results(stimuli):
    net = ReferenceNet(seed=2)
    a = extract(net, stimuli, ["block3"], batch_size=1, progress=False)["block3"]
    b = extract(net, stimuli, ["block3"], batch_size=10, progress=False)["block3"]
    np.testing.assert_allclose(a.values, b.values, rtol=1e-4, atol=1e-5)


def test_eval_mode_and_training_flag_restored(stimuli):
    net = nn.Sequential(nn.Flatten(), nn.Dropout(0.9), nn.Linear(3 * 32 * 32, 4))
    net.train()
    a = extract(net, stimuli, ["2"], progress=False)["2"]
    b = extract(net, stimuli, ["2"], progress=False)["2"]
    np.testing.assert_array_equal(a.values, b.values)  # dropout off: deterministic
    assert net.training


def test_cpu_runs_are_identical_without_torch_deterministic_mode(stimuli):
    # torch's deterministic mode is asked for on accelerators only: on CPU it would fill every new
    # tensor and slow convolutions, and the CPU forward kernels repeat exactly anyway
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(torch.are_deterministic_algorithms_enabled())
            return x

    net = nn.Sequential(ReferenceNet(seed=3), Probe())
    a = extract(net, stimuli, ["0.block3"], batch_size=4, progress=False)["0.block3"]
    b = extract(net, stimuli, ["0.block3"], batch_size=4, progress=False)["0.block3"]
    np.testing.assert_array_equal(a.values, b.values)
    assert seen and not any(seen)


def test_unknown_layer_lists_close_matches(stimuli):
    with pytest.raises(UnknownNameError, match="did you mean 'block1'"):
        extract(ReferenceNet(), stimuli, ["blok1"], progress=False)


def test_layer_that_never_fires(stimuli):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Flatten(), nn.ReLU()

        def forward(self, x):
            return self.used(x)

    with pytest.raises(ExtractionError, match="did not run"):
        extract(Net(), stimuli, ["unused"], progress=False)


def test_duplicate_stimulus_ids_rejected(rng):
    with pytest.raises(SchemaError, match="not unique"):
        StimulusSet.from_arrays(["a", "a"], rng.normal(size=(2, 3)))


def test_reference_net_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = ReferenceNet(seed=4), ReferenceNet(seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert not torch.equal(ReferenceNet(seed=5).block1[0].weight, a.block1[0].weight)


def test_recorder_keeps_every_call_in_order():
    from neuroalign.extract.hooks import HookRecorder

    layer = nn.Linear(2, 2)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(self.layer(x))

    net = Twice()
    x = torch.ones(3, 2)
    with torch.no_grad(), HookRecorder(net, ["layer"]) as recorder:
        outputs = recorder.run(x)["layer"]
        again = recorder.run(x)["layer"]
    assert len(outputs) == len(again) == 2  # cleared between passes
    torch.testing.assert_close(outputs[1], layer(layer(x)))
    assert not net.layer._forward_hooks  # hooks removed on exit
    with pytest.raises(ExtractionError, match="not active"):
        recorder.run(x)


def test_nan_activations_name_the_stimulus(rng):
    class Log(nn.Module):
        def forward(self, x):
            return torch.log(x)

    net = nn.Sequential(nn.Flatten(), Log())
    images = np.abs(rng.normal(size=(4, 3, 2, 2))).astype(np.float32) + 0.1
    images[2, 0, 0, 0] = -1.0
    stimuli = StimulusSet.from_arrays(list("abcd"), images)
    from neuroalign.errors import DataError

    with pytest.raises(DataError, match="layer '1' gives NaN or inf for stimulus 'c'"):
        extract(net, stimuli, "1", batch_size=2, progress=False)


def test_finite_activations_whose_sum_overflows_are_kept(rng):
    """The NaN/inf check sums each batch first; a sum that overflows float32 must not be taken for an inf."""
    images = np.full((4, 3, 2, 2), 3e38, dtype=np.float32)
    images[:, 0] = rng.normal(size=(4, 2, 2))
    stimuli = StimulusSet.from_arrays(list("abcd"), images)
    acts = extract(nn.Sequential(nn.Flatten()), stimuli, "0", batch_size=2, progress=False)
    np.testing.assert_array_equal(acts["0"].values, images.reshape(4, -1))


def test_non_tensor_outputs_are_explained(stimuli):
    class Pair(nn.Module):
        def forward(self, x):
            return {"a": x, "b": x * 2}

    net = nn.Sequential(nn.Flatten(), Pair())
    with pytest.raises(ExtractionError, match="returns a dict with keys 'a' \\(Tensor\\), 'b' \\(Tensor\\)"):
        extract(net, stimuli, "1", progress=False)
    acts = extract(net, stimuli, "1", select="b", progress=False)["1"]
    np.testing.assert_allclose(acts.values, 2 * stimuli.content.reshape(10, -1), rtol=1e-6)
