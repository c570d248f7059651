import numpy as np
import pytest
import torch
from torch import nn

from neuroalign.data import validate
from neuroalign.errors import ExtractionError, UnknownNameError
from neuroalign.extract import StimulusSet, extract
from neuroalign.models import ReferenceNet


@pytest.fixture
def images(rng):
    return StimulusSet.from_arrays([f"s{i}" for i in range(5)], rng.normal(size=(5, 3, 32, 32)).astype(np.float32))


def test_conv_pooling_closed_forms(images):
    net = ReferenceNet(seed=1)
    flat = extract(net, images, "block1", progress=False)["block1"].values.reshape(5, 16, 16, 16)
    pooled = extract(net, images, ["block1", "block2", "fc"], pooling={"block1": "avg", "block2": (2, 2)},
                     progress=False)
    np.testing.assert_allclose(pooled["block1"].values, flat.mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)
    block2 = extract(net, images, "block2", progress=False)["block2"].values.reshape(5, 32, 8, 8)
    grid = block2.reshape(5, 32, 2, 4, 2, 4).mean(axis=(3, 5))  # 2 × 2 cells of 4 × 4 pixels
    np.testing.assert_allclose(pooled["block2"].values, grid.reshape(5, -1), rtol=1e-5, atol=1e-6)
    assert pooled["block2"].row.values.max() == 1 and pooled["block2"].channel.values[4] == 1
    assert set(pooled["block1"].row.values) == {-1}
    assert pooled["fc"].shape == (5, 128)  # layers not named in the mapping are flattened
    assert set(pooled["block1"].coords) == set(pooled["block2"].coords) == set(pooled["fc"].coords)
    peak = extract(net, images, "block1", pooling="max", progress=False)["block1"].values
    np.testing.assert_array_equal(peak, flat.max(axis=(2, 3)))


def test_pooling_errors(images):
    with pytest.raises(UnknownNameError, match="did you mean 'mean'"):
        extract(ReferenceNet(), images, "fc", pooling="meen", progress=False)
    with pytest.raises(ExtractionError, match="pooling 'avg' needs an output with at least 3 dims"):
        extract(ReferenceNet(), images, "fc", pooling="avg", progress=False)
    with pytest.raises(ExtractionError, match="finer than"):
        extract(ReferenceNet(), images, "block4", pooling=(8, 8), progress=False)
    with pytest.raises(UnknownNameError, match="layer in pooling"):
        extract(ReferenceNet(), images, "fc", pooling={"fc2": "avg"}, progress=False)


class Recurrent(nn.Module):
    """A cell unrolled for three steps (one module, three calls per forward pass)."""

    def __init__(self):
        super().__init__()
        self.cell = nn.Linear(4, 4)
        self.lstm = nn.LSTM(4, 3, batch_first=True)

    def forward(self, x):
        h, steps = x, []
        for _ in range(3):
            h = torch.tanh(self.cell(h))
            steps.append(h)
        out, _ = self.lstm(torch.stack(steps, dim=1))
        return out


@pytest.fixture
def vectors(rng):
    return StimulusSet.from_arrays([f"v{i}" for i in range(6)], rng.normal(size=(6, 4)).astype(np.float32))


def test_time_unrolled_module_gives_time_bins(vectors):
    net = Recurrent()
    acts = extract(net, vectors, "cell", batch_size=4, progress=False)["cell"]
    assert acts.dims == ("presentation", "neuroid", "time_bin") and acts.shape == (6, 4, 3)
    validate(acts, dims=("presentation", "neuroid", "time_bin"))
    assert acts.time_bin_start.values.tolist() == [0, 1, 2] and acts.time_bin_end.values.tolist() == [1, 2, 3]
    h = torch.as_tensor(vectors.content)
    with torch.no_grad():
        for step in range(3):
            pre = net.cell(h)  # the hooked module's output, before the tanh
            np.testing.assert_allclose(acts.values[..., step], pre.numpy(), rtol=1e-5, atol=1e-6)
            h = torch.tanh(pre)
    last = extract(net, vectors, "cell", calls="last", batch_size=4, progress=False)["cell"]
    first = extract(net, vectors, "cell", calls="first", batch_size=4, progress=False)["cell"]
    np.testing.assert_array_equal(last.values, acts.values[..., 2])
    np.testing.assert_array_equal(first.values, acts.values[..., 0])


def test_tuple_outputs_need_a_selection(vectors):
    net = Recurrent()
    with pytest.raises(ExtractionError, match="returns a tuple with indices 0 \\(Tensor\\), 1 \\(tuple\\)"):
        extract(net, vectors, "lstm", progress=False)
    out = extract(net, vectors, "lstm", select=0, pooling="time", progress=False)["lstm"]
    hidden = extract(net, vectors, "lstm", select=lambda o: o[1][0][0], progress=False)["lstm"]
    assert out.dims == ("presentation", "neuroid", "time_bin") and out.shape == (6, 3, 3)
    np.testing.assert_allclose(hidden.values, out.values[..., -1], rtol=1e-5, atol=1e-6)  # h_T = last output
    with pytest.raises(ExtractionError, match="cannot select 5"):
        extract(net, vectors, "lstm", select=5, progress=False)
    with pytest.raises(ExtractionError, match="second time axis"):
        extract(net, vectors, "cell", pooling="time", progress=False)


def test_an_index_or_key_on_a_tensor_output_raises(rng):
    # select=0 on a tensor indexed its batch axis: stimulus a's channels came back as the rows of a, b, c, d
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    x = rng.normal(size=(4, 3, 8, 8)).astype(np.float32)
    stimuli = StimulusSet.from_arrays(list("abcd"), x)
    for select in (0, "T", {"0": 0}):
        with pytest.raises(ExtractionError, match="layer '0' returns a tensor"):
            extract(net, stimuli, "0", select=select, batch_size=4, progress=False)
    whole = extract(net, stimuli, "0", select=lambda o: o, batch_size=4, progress=False)["0"]
    expected = net[0](torch.from_numpy(x)).reshape(4, -1).detach().numpy()
    np.testing.assert_array_equal(whole.values, expected)


class CharTokenizer:
    """Characters → ids, right-padded, with an attention mask (what Hugging Face tokenizers return)."""

    batched = False

    def __call__(self, texts):
        length = max(len(t) for t in texts)
        ids = torch.zeros(len(texts), length, dtype=torch.long)
        mask = torch.zeros(len(texts), length, dtype=torch.long)
        for i, text in enumerate(texts):
            ids[i, :len(text)] = torch.tensor([ord(c) - 96 for c in text])
            mask[i, :len(text)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def spec(self):
        return {"tokenizer": "chars"}


class TextNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(27, 5)
        self.encoder = nn.Linear(5, 5)

    def forward(self, input_ids, attention_mask):
        return self.encoder(self.embed(input_ids))


def test_token_pooling_excludes_padding():
    texts = ["abc", "hello", "z"]
    stimuli = StimulusSet.from_texts(["t1", "t2", "t3"], texts)
    net = TextNet()
    acts = {method: extract(net, stimuli, "encoder", preprocess=CharTokenizer(), pooling=method, batch_size=3,
                            progress=False)["encoder"].values for method in ("cls", "mean", "last")}
    with torch.no_grad():
        for i, text in enumerate(texts):
            tokens = net.encoder(net.embed(torch.tensor([ord(c) - 96 for c in text]))).numpy()
            np.testing.assert_allclose(acts["cls"][i], tokens[0], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(acts["mean"][i], tokens.mean(axis=0), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(acts["last"][i], tokens[-1], rtol=1e-5, atol=1e-6)


def test_sequences_of_varying_length_cannot_be_flattened():
    stimuli = StimulusSet.from_texts(["t1", "t2"], ["ab", "abcd"])
    with pytest.raises(ExtractionError, match="in this batch but .* before"):
        extract(TextNet(), stimuli, "encoder", preprocess=CharTokenizer(), batch_size=1, progress=False)
