"""A recorded activation equals the layer's output at the moment it was produced.

Whatever runs later in the forward pass — an in-place module, an in-place
operation in ``forward``, a change to the tensor that the output is a view of —
must not change what was recorded.  Every expected value is computed by
running the pieces of the network by hand.
"""

import copy
import importlib.util
import os
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuroalign
from neuroalign.errors import ExtractionError
from neuroalign.extract import StimulusSet, extract, open_activations
from neuroalign.extract.fx import FxRecorder, trace
from neuroalign.extract.hooks import HookRecorder

ATOL, RTOL = 1e-5, 1e-4


def seeded(module: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter drawn from a seeded generator (no global RNG), eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    return module.eval()


def conv_relu_net() -> nn.Sequential:
    """The torchvision pattern: a conv followed by ``nn.ReLU(inplace=True)``."""
    return seeded(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True), nn.Conv2d(8, 4, 3),
                                nn.ReLU(inplace=True)))


class FunctionalInplace(nn.Module):
    """In-place operations written in ``forward``: ``relu_``, ``+=``, ``F.relu(inplace=True)``."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        x = self.conv(x)
        x.relu_()
        x += 1.0
        F.relu(x - 1.5, inplace=True)  # a temporary: no effect on x
        x = F.relu(x.sub_(1.5), inplace=True)
        return self.fc(x)


class FirstChannels(nn.Module):
    """Returns a view of its input."""

    def forward(self, x):
        return x[:, :4]


class ViewThenInplace(nn.Module):
    """A layer's output is a view of an earlier output; both are then modified in place."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.head = FirstChannels()
        self.flat = nn.Flatten()

    def forward(self, x):
        h = self.conv(x)
        v = self.head(h)  # a view of h
        f = self.flat(v.contiguous())  # nn.Flatten returns a view of its input
        h.mul_(-2.0)  # changes h and v
        f.relu_()  # changes f
        return v.sum() + f.sum()


class Nested(nn.Module):
    """A tuple/dict/list output whose tensors are modified in place afterwards."""

    def forward(self, x):
        y = x * 1.0
        return {"a": y, "pair": (y.transpose(0, 1), [y[:, :2]])}


class NestedParent(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(5, 5)
        self.multi = Nested()

    def forward(self, x):
        out = self.multi(self.lin(x))
        out["a"].relu_()  # the same memory as every tensor of the output
        return out["a"]


class Unrolled(nn.Module):
    """A cell reused three times per pass, each output rectified in place before the next call."""

    def __init__(self):
        super().__init__()
        self.cell = nn.Linear(5, 5)

    def forward(self, x):
        for _ in range(3):
            x = self.cell(x)
            x.relu_()
        return x


class LstmThenInplace(nn.Module):
    """A leaf module with a tuple output (an fx ``call_module`` node), modified in place afterwards."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 4, batch_first=True)

    def forward(self, x):
        out, _ = self.lstm(x)
        out.mul_(0.0)
        return out


@pytest.fixture
def images(rng):
    return StimulusSet.from_arrays([f"img{i}" for i in range(7)], rng.normal(size=(7, 3, 10, 10)).astype(np.float32))


@pytest.fixture
def vectors(rng):
    return StimulusSet.from_arrays([f"v{i}" for i in range(6)], rng.normal(size=(6, 5)).astype(np.float32))


def flat(t: torch.Tensor) -> np.ndarray:
    return t.detach().reshape(len(t), -1).numpy()


# ------------------------------------------------------------------ in-place modules


@pytest.mark.parametrize("backend,conv,next_conv", [("hooks", "0", "2"), ("fx", "_0", "_2")])
def test_a_layer_before_an_inplace_relu_is_recorded_before_it(images, backend, conv, next_conv):
    net = conv_relu_net()
    x = torch.as_tensor(images.content)
    with torch.no_grad():
        want_conv = net[0](x)
        want_next = net[2](torch.relu(want_conv))
    assert (want_conv < 0).any()  # the ReLU would change it
    alone = extract(net, images, conv, backend=backend, batch_size=3, progress=False)[conv]
    np.testing.assert_allclose(alone.values, flat(want_conv), rtol=RTOL, atol=ATOL)
    both = extract(net, images, [conv, next_conv], backend=backend, batch_size=3, progress=False)
    np.testing.assert_allclose(both[conv].values, flat(want_conv), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(both[next_conv].values, flat(want_next), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("pooling", ["avg", "max", (2, 2), "flatten"])
def test_every_pooling_sees_the_output_before_the_inplace_relu(images, pooling):
    net = conv_relu_net()
    with torch.no_grad():
        want = net[0](torch.as_tensor(images.content))
    if pooling == "avg":
        want = want.mean(dim=(2, 3))
    elif pooling == "max":
        want = want.amax(dim=(2, 3))
    elif pooling == (2, 2):
        want = F.adaptive_avg_pool2d(want, (2, 2))
    got = extract(net, images, "0", pooling=pooling, batch_size=4, progress=False)["0"]
    np.testing.assert_allclose(got.values, flat(want), rtol=RTOL, atol=ATOL)


def test_streamed_and_cached_results_are_recorded_before_the_inplace_relu(images, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROALIGN_CACHE", str(tmp_path / "cache"))
    net = conv_relu_net()
    with torch.no_grad():
        want = flat(net[0](torch.as_tensor(images.content)))
    streamed = extract(net, images, "0", batch_size=3, store=tmp_path / "acts.zarr", progress=False)["0"]
    np.testing.assert_allclose(streamed.values, want, rtol=RTOL, atol=ATOL)
    cached = extract(net, images, "0", batch_size=3, cache=True, progress=False)["0"]
    np.testing.assert_allclose(cached.values, want, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ in-place operations in forward


def test_inplace_functional_operations_in_forward(images):
    net = seeded(FunctionalInplace())
    x = torch.as_tensor(images.content)
    with torch.no_grad():
        conv = net.conv(x)
        final = net.fc(torch.relu(torch.relu(conv) + 1.0 - 1.5))
        assert torch.allclose(net(x), final, atol=ATOL)
    hooks = extract(net, images, ["conv", "fc"], batch_size=4, progress=False)
    np.testing.assert_allclose(hooks["conv"].values, flat(conv), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(hooks["fc"].values, flat(final), rtol=RTOL, atol=ATOL)
    # fx: the graph must keep in-place nodes that nothing uses (relu_, F.relu(inplace=True)): they change fc's input
    fx = extract(net, images, ["conv", "fc"], backend="fx", batch_size=4, progress=False)
    np.testing.assert_allclose(fx["conv"].values, flat(conv), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(fx["fc"].values, flat(final), rtol=RTOL, atol=ATOL)
    relu_ = extract(net, images, "relu_", backend="fx", batch_size=4, progress=False)["relu_"]
    np.testing.assert_allclose(relu_.values, flat(torch.relu(conv)), rtol=RTOL, atol=ATOL)


def test_fx_runs_every_node_before_the_last_recorded_one(images):
    net = seeded(FunctionalInplace())
    recorder = FxRecorder(trace(net), ["fc"])
    names = [node.target for node in recorder.module.graph.nodes if node.op == "call_method"]
    assert "relu_" in names and "sub_" in names


# ------------------------------------------------------------------ views


@pytest.mark.parametrize("backend", ["hooks", "fx"])
def test_views_of_outputs_that_are_modified_later(images, backend):
    net = seeded(ViewThenInplace())
    x = torch.as_tensor(images.content)
    with torch.no_grad():
        conv = net.conv(x)
    layers = ["conv", "head", "flat"]
    if backend == "fx":
        layers = ["conv", "getitem", "flat"]  # the module FirstChannels is traced through: its slice is a node
    acts = extract(net, images, layers, backend=backend, batch_size=3, progress=False)
    np.testing.assert_allclose(acts["conv"].values, flat(conv), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(acts[layers[1]].values, flat(conv[:, :4]), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(acts["flat"].values, flat(conv[:, :4]), rtol=RTOL, atol=ATOL)
    assert (conv[:, :4] < 0).any()


def test_a_view_of_the_input_changed_by_the_next_inplace_module(images):
    # nn.Flatten returns a view of the conv output; the in-place ReLU after it changes both
    net = seeded(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.ReLU(inplace=True), nn.Linear(4 * 64, 3)))
    with torch.no_grad():
        conv = net[0](torch.as_tensor(images.content))
    acts = extract(net, images, ["0", "1"], batch_size=4, progress=False)
    np.testing.assert_allclose(acts["0"].values, flat(conv), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(acts["1"].values, flat(conv), rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ structured outputs


def test_nested_outputs_are_recorded_before_later_changes(vectors):
    net = seeded(NestedParent())
    x = torch.as_tensor(vectors.content)
    with torch.no_grad():
        y = net.lin(x)
    assert (y < 0).any()
    for select, want in (("a", y), (lambda o: o["pair"][0].transpose(0, 1), y),
                         (lambda o: o["pair"][1][0], y[:, :2])):
        got = extract(net, vectors, "multi", select=select, batch_size=4, progress=False)["multi"]
        np.testing.assert_allclose(got.values, flat(want), rtol=RTOL, atol=ATOL)


def test_the_recorder_snapshots_the_whole_structure(vectors):
    net = seeded(NestedParent())
    x = torch.as_tensor(vectors.content)
    with torch.no_grad(), HookRecorder(net, ["multi"]) as recorder:
        out = recorder.run(x)["multi"][0]
        y = net.lin(x)
    torch.testing.assert_close(out["a"], y)
    torch.testing.assert_close(out["pair"][0], y.transpose(0, 1))
    torch.testing.assert_close(out["pair"][1][0], y[:, :2])
    assert isinstance(out["pair"], tuple) and isinstance(out["pair"][1], list)


def test_snapshot_keeps_container_types():
    from neuroalign.extract.hooks import snapshot

    Pair = namedtuple("Pair", "left right")
    x = torch.arange(4.0)
    kept = snapshot(Pair(x, {"inner": [x[:2], 3]}))
    x.zero_()
    assert isinstance(kept, Pair) and kept.right["inner"][1] == 3
    assert kept.left.tolist() == [0.0, 1.0, 2.0, 3.0] and kept.right["inner"][0].tolist() == [0.0, 1.0]


@pytest.mark.parametrize("backend", ["hooks", "fx"])
def test_a_leaf_module_tuple_output_modified_later(backend):
    gen = np.random.default_rng(1)
    sequences = StimulusSet.from_arrays([f"s{i}" for i in range(5)], gen.normal(size=(5, 6, 5)).astype(np.float32))
    net = seeded(LstmThenInplace())
    with torch.no_grad():
        want, _ = net.lstm(torch.as_tensor(sequences.content))
    got = extract(net, sequences, "lstm", select=0, pooling="last", backend=backend, progress=False)["lstm"]
    np.testing.assert_allclose(got.values, want[:, -1].numpy(), rtol=RTOL, atol=ATOL)


def test_every_call_of_a_reused_module_before_its_inplace_relu(vectors):
    net = seeded(Unrolled())
    x = torch.as_tensor(vectors.content)
    steps = []
    with torch.no_grad():
        for _ in range(3):
            x = net.cell(x)
            steps.append(x.clone())
            x = torch.relu(x)
    got = extract(net, vectors, "cell", batch_size=4, progress=False)["cell"]
    assert got.dims == ("presentation", "neuroid", "time_bin")
    for t, step in enumerate(steps):
        np.testing.assert_allclose(got.values[..., t], step.numpy(), rtol=RTOL, atol=ATOL)
    for calls, step in (("first", steps[0]), ("last", steps[-1])):
        for batch_size in (4, 6):  # from the second batch on, a copy goes straight into the result's rows
            one = extract(net, vectors, "cell", calls=calls, batch_size=batch_size, progress=False)["cell"]
            np.testing.assert_allclose(one.values, step.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("pooling", ["cls", "last", "mean", "time", "flatten", "max"])
def test_every_sequence_pooling_sees_the_output_before_the_inplace_relu(rng, pooling):
    # 7 stimuli in batches of 3: the first batch, later ones (copied straight into the result's rows) and a
    # partial last batch; cls/last/time/flatten of a token sequence are views of the output until copied
    net = seeded(nn.Sequential(nn.Linear(4, 5), nn.ReLU(inplace=True), nn.Linear(5, 2)))
    x = rng.normal(size=(7, 6, 4)).astype(np.float32)
    stimuli = StimulusSet.from_arrays([f"s{i}" for i in range(7)], x)
    with torch.no_grad():
        tokens = net[0](torch.from_numpy(x))  # (N, T, D)
    assert (tokens < 0).any()
    want = {"cls": tokens[:, 0], "last": tokens[:, -1], "mean": tokens.mean(dim=1), "flatten": tokens,
            "max": tokens.amax(dim=2), "time": tokens}[pooling]
    for backend, layer in (("hooks", "0"), ("fx", "_0")):
        got = extract(net, stimuli, layer, pooling=pooling, backend=backend, batch_size=3, progress=False)[layer]
        if pooling == "time":
            assert got.dims == ("presentation", "neuroid", "time_bin")
            np.testing.assert_allclose(got.values, want.transpose(1, 2).numpy(), rtol=RTOL, atol=ATOL)
        else:
            np.testing.assert_allclose(got.values, flat(want), rtol=RTOL, atol=ATOL)


class SequenceFirst(nn.Module):
    """A layer run on ``(T, N, D)`` (as in ``nn.Transformer*(batch_first=False)``): its first axis is not the batch."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 3)

    def forward(self, x):
        return self.proj(x.transpose(0, 1))


@pytest.mark.parametrize("n_tokens", [3, 5])
def test_an_output_whose_first_axis_is_not_the_batch_raises(rng, n_tokens, tmp_path):
    # in memory a raw numpy ValueError; streamed to a store, 5 tokens for 4 stimuli were written without an
    # error (rows holding tokens of every stimulus).  With as many tokens as stimuli it cannot be seen.
    net = seeded(SequenceFirst())
    stimuli = StimulusSet.from_arrays(list("abcd"), rng.normal(size=(4, n_tokens, 3)).astype(np.float32))
    for store in (None, tmp_path / f"acts{n_tokens}.zarr"):
        with pytest.raises(ExtractionError, match=f"first axis has {n_tokens} entries for a batch of 4 stimuli"):
            extract(net, stimuli, "proj", batch_size=4, store=store, progress=False)
    got = extract(net, stimuli, "proj", select=lambda out: out.transpose(0, 1), batch_size=3, progress=False)
    with torch.no_grad():
        want = net.proj(torch.as_tensor(stimuli.content))
    np.testing.assert_allclose(got["proj"].values, flat(want), rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ Hugging Face


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers is not installed")
def test_hugging_face_layers_before_later_inplace_changes(tmp_path):
    # A tiny BERT whose activation is swapped for nn.ReLU(inplace=True) (as users do), and a pre-hook that
    # scales the pooler's input in place: the encoder's ModelOutput and the dense layer before the ReLU must be
    # recorded as produced.  Reference: the same network with an out-of-place ReLU and no pre-hook, run piece by
    # piece.
    import transformers

    from neuroalign.extract import hf_tokenizer

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "dog", "sat", "on", "mat", "a", "ran"]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    transformers.BertTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    config = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    reference = seeded(transformers.BertModel(config), seed=3)
    reference.encoder.layer[0].intermediate.intermediate_act_fn = nn.ReLU()
    model = copy.deepcopy(reference)
    model.encoder.layer[0].intermediate.intermediate_act_fn = nn.ReLU(inplace=True)
    model.pooler.register_forward_pre_hook(lambda module, args: args[0].mul_(3.0))
    texts = ["the cat sat on the mat", "a dog ran", "the dog sat"]
    stimuli = StimulusSet.from_texts(["s1", "s2", "s3"], texts)
    tokenizer = hf_tokenizer(str(tmp_path))
    dense = "encoder.layer.0.intermediate.dense"
    acts = extract(model, stimuli, [dense, "encoder"], preprocess=tokenizer, pooling="mean",
                   select={"encoder": "last_hidden_state"}, progress=False)

    encoded = tokenizer(texts)
    mask = encoded["attention_mask"][..., None].float()
    layer0 = reference.encoder.layer[0]
    inputs = []  # the attention block's output, as the intermediate block receives it
    handle = layer0.intermediate.register_forward_pre_hook(lambda module, args: inputs.append(args[0].clone()))
    with torch.no_grad():
        hidden = reference(**encoded, output_hidden_states=True).hidden_states
        handle.remove()
        attention = inputs[0]
        want_dense = layer0.intermediate.dense(attention)
        torch.testing.assert_close(layer0.output(layer0.intermediate(attention), attention), hidden[1])
    assert (want_dense < 0).any()
    for name, want in ((dense, want_dense), ("encoder", hidden[-1])):
        np.testing.assert_allclose(acts[name].values, ((want * mask).sum(1) / mask.sum(1)).numpy(),
                                   rtol=1e-5, atol=1e-6)
    # the recorder on its own keeps the ModelOutput, copied
    with torch.no_grad(), HookRecorder(model, ["encoder"]) as recorder:
        recorded = recorder.run(encoded)["encoder"][0]
    assert isinstance(recorded, transformers.utils.ModelOutput)
    torch.testing.assert_close(recorded["last_hidden_state"], hidden[-1])


# ------------------------------------------------------------------ command line

FACTORY = '''
import torch
from torch import nn


def build():
    generator = torch.Generator().manual_seed(5)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True), nn.Conv2d(8, 4, 3), nn.ReLU(inplace=True))
    with torch.no_grad():
        for param in net.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    return net
'''


def test_the_command_line_records_the_conv_before_its_inplace_relu(tmp_path, rng):
    (tmp_path / "inplace_factory.py").write_text(FACTORY)
    images = rng.normal(size=(5, 3, 10, 10)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    out = tmp_path / "acts.zarr"
    result = subprocess.run(
        [sys.executable, "-m", "neuroalign", "extract", "--model", "inplace_factory:build", "--stimuli",
         str(tmp_path / "images.npy"), "--layers", "0,2", "--batch-size", "2", "--no-progress", "--out", str(out)],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    spec = importlib.util.spec_from_file_location("inplace_factory", tmp_path / "inplace_factory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.build().eval()
    with torch.no_grad():
        conv = net[0](torch.as_tensor(images))
        conv2 = net[2](torch.relu(conv))
    stored = open_activations(out, lazy=False)
    assert (conv < 0).any()
    np.testing.assert_allclose(stored["0"].values, flat(conv), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(stored["2"].values, flat(conv2), rtol=RTOL, atol=ATOL)


def _env(folder: Path) -> dict:
    """The environment with the factory's folder and this neuroalign (not another installed one) importable."""
    package_root = Path(neuroalign.__file__).resolve().parents[1]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(package_root)])}
