import numpy as np
import pytest
import torch
from torch import nn

from neuroalign.errors import ExtractionError, UnknownNameError
from neuroalign.extract import StimulusSet, extract, graph_nodes, trace
from neuroalign.extract.fx import FxRecorder
from neuroalign.models import ReferenceNet


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.lin = nn.Linear(6, 6)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(6, 6, generator=gen))
        self.out = nn.Linear(6, 2)

    def forward(self, x):
        h = torch.relu(x + self.lin(x))  # functional ops: invisible to forward hooks
        return self.out(h * 2)


class Branchy(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow cannot be traced
            return x
        return -x


@pytest.fixture
def stimuli(rng):
    return StimulusSet.from_arrays([f"s{i}" for i in range(9)], rng.normal(size=(9, 6)).astype(np.float32))


def test_functional_nodes_match_a_manual_pass(stimuli):
    net = Residual()
    assert list(graph_nodes(trace(net))) == ["lin", "add", "relu", "mul", "out"]
    acts = extract(net, stimuli, ["add", "relu"], backend="fx", batch_size=4, progress=False)
    x = torch.as_tensor(stimuli.content)
    with torch.no_grad():
        add = x + net.lin(x)
    np.testing.assert_allclose(acts["add"].values, add.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(acts["relu"].values, torch.relu(add).numpy(), rtol=1e-5, atol=1e-6)
    assert acts["relu"].neuroid_id.values[0] == "Residual.relu.0"


def test_module_nodes_equal_forward_hooks(rng):
    stimuli = StimulusSet.from_arrays(list("abcd"), rng.normal(size=(4, 3, 32, 32)).astype(np.float32))
    net = ReferenceNet(seed=3)
    by_fx = extract(net, stimuli, "block2_2", backend="fx", progress=False)["block2_2"]
    by_hooks = extract(net, stimuli, "block2", progress=False)["block2"]
    np.testing.assert_array_equal(by_fx.values, by_hooks.values)
    assert (by_fx.channel.values == by_hooks.channel.values).all()


def test_the_rewritten_graph_stops_at_the_last_recorded_node():
    recorder = FxRecorder(trace(ReferenceNet().eval()), ["block1_0"])
    names = [node.name for node in recorder.module.graph.nodes]
    assert "block1_0" in names and "readout" not in names and "block2_0" not in names


def test_untraceable_and_unknown(stimuli):
    with pytest.raises(ExtractionError, match="torch.fx cannot trace Branchy"):
        extract(Branchy(), stimuli, "x", backend="fx", progress=False)
    with pytest.raises(UnknownNameError, match="unknown graph node 'relu_1'.*did you mean 'relu'"):
        extract(Residual(), stimuli, "relu_1", backend="fx", progress=False)
