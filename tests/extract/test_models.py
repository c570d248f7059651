import importlib.util

import numpy as np
import pytest
import torch

from neuroalign.errors import ConfigError, DependencyError, FileFormatError, UnknownNameError
from neuroalign.extract import StimulusSet, extract, load_model, model_hash
from neuroalign.extract.models import hf_tokenizer
from neuroalign.models import ReferenceNet


def test_factory_strings():
    net = load_model("neuroalign.models:ReferenceNet", kwargs={"seed": 7})
    assert isinstance(net, ReferenceNet) and net.seed == 7
    assert load_model(net) is net
    with pytest.raises(ConfigError, match="not 'package.module:factory'"):
        load_model("neuroalign.models.ReferenceNet")
    with pytest.raises(ConfigError, match="cannot import module 'neuroalign.nomodels'"):
        load_model("neuroalign.nomodels:ReferenceNet")
    with pytest.raises(UnknownNameError, match="did you mean 'ReferenceNet'"):
        load_model("neuroalign.models:ReferenceNt")
    with pytest.raises(ConfigError, match="not a torch.nn.Module"):
        load_model("numpy:zeros", kwargs={"shape": 3})


def test_state_dict_files_are_read_without_unpickling_code(tmp_path):
    source = ReferenceNet(seed=1)
    torch.save(source.state_dict(), tmp_path / "weights.pt")
    torch.save({"epoch": 3, "state_dict": source.state_dict()}, tmp_path / "checkpoint.pt")
    for name in ("weights.pt", "checkpoint.pt"):
        loaded = load_model("neuroalign.models:ReferenceNet", weights=tmp_path / name)  # seed 0 architecture
        want = source.state_dict()
        assert all(torch.equal(t, want[n]) for n, t in loaded.state_dict().items())
    torch.save(source, tmp_path / "whole_model.pt")  # a pickled module: refused by weights_only=True
    with pytest.raises(FileFormatError, match="whole_model.pt: cannot read it as a state dict"):
        load_model("neuroalign.models:ReferenceNet", weights=tmp_path / "whole_model.pt")
    with pytest.raises(ConfigError, match="cannot build a model by itself"):
        load_model(str(tmp_path / "weights.pt"))
    with pytest.raises(FileFormatError, match="file not found"):
        load_model("neuroalign.models:ReferenceNet", weights=tmp_path / "missing.pt")


def test_extract_accepts_a_model_string(rng):
    stimuli = StimulusSet.from_arrays(["a", "b"], rng.normal(size=(2, 3, 32, 32)).astype(np.float32))
    by_string = extract("neuroalign.models:ReferenceNet", stimuli, "fc", progress=False)["fc"]
    by_module = extract(ReferenceNet(), stimuli, "fc", progress=False)["fc"]
    np.testing.assert_array_equal(by_string.values, by_module.values)
    assert by_string.neuroid_id.values[0] == "ReferenceNet.fc.0"


@pytest.mark.skipif(importlib.util.find_spec("transformers") is not None, reason="transformers is installed")
def test_hugging_face_without_transformers_names_the_extra():
    with pytest.raises(DependencyError, match=r'pip install "neuroalign\[hf\]"'):
        load_model("hf:some-local-folder")


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers is not installed")
def test_hugging_face_models_are_never_downloaded(tmp_path):
    with pytest.raises(FileFormatError, match="neuroalign downloads nothing"):
        load_model(f"hf:{tmp_path / 'not-a-model'}")


def test_model_hash_tracks_weights_buffers_and_class():
    a, b = ReferenceNet(seed=0), ReferenceNet(seed=0)
    assert model_hash(a) == model_hash(b)
    with torch.no_grad():
        b.readout.bias[3] = 1e-7
    assert model_hash(a) != model_hash(b)
    bn = torch.nn.BatchNorm1d(3)
    before = model_hash(bn)
    bn.running_mean[0] = 0.5  # a buffer, not a parameter
    assert model_hash(bn) != before
    assert model_hash(torch.nn.Identity()) != model_hash(torch.nn.Flatten())  # no weights: the class decides


def test_dtype_and_device_are_restored(rng):
    stimuli = StimulusSet.from_arrays(["a", "b"], rng.normal(size=(2, 3, 32, 32)))
    net = ReferenceNet()
    acts = extract(net, stimuli, "fc", dtype=torch.float64, progress=False)["fc"]
    assert net.fc[1].weight.dtype == torch.float32 and acts.dtype == np.float32
    reference = extract(net, stimuli, "fc", progress=False)["fc"]
    np.testing.assert_allclose(acts.values, reference.values, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers is not installed")
def test_hugging_face_model_and_tokenizer_from_a_local_folder(tmp_path):
    # A tiny BERT with random weights and its WordPiece vocabulary, saved the way users save theirs
    # (save_pretrained), then extracted by folder name: nothing is downloaded.  Reference: the model's own
    # hidden_states, mean-pooled over the tokens the attention mask keeps.
    import transformers

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "dog", "sat", "on", "mat", "a", "ran"]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = transformers.BertTokenizer(str(tmp_path / "vocab.txt"))
    tokenizer.save_pretrained(tmp_path)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    model = transformers.BertModel(config).eval()
    model.save_pretrained(tmp_path)
    texts = ["the cat sat on the mat", "a dog ran", "the dog sat"]
    stimuli = StimulusSet.from_texts(["s1", "s2", "s3"], texts)
    layers = ["encoder.layer.0", "encoder.layer.1"]
    acts = extract(f"hf:{tmp_path}", stimuli, layers, preprocess=hf_tokenizer(str(tmp_path)), pooling="mean",
                   progress=False)
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**encoded, output_hidden_states=True).hidden_states
    mask = encoded["attention_mask"][..., None].float()
    for i, name in enumerate(layers):
        want = ((hidden[i + 1] * mask).sum(1) / mask.sum(1)).numpy()
        np.testing.assert_allclose(acts[name].values, want, rtol=1e-5, atol=1e-6)
        assert acts[name].sizes["neuroid"] == 16 and list(acts[name].stimulus_id.values) == ["s1", "s2", "s3"]
    # a different padding (one text alone) must not change a mean-pooled vector
    alone = extract(f"hf:{tmp_path}", stimuli.subset([1]), layers[:1], preprocess=hf_tokenizer(str(tmp_path)),
                    pooling="mean", progress=False)[layers[0]]
    np.testing.assert_allclose(alone.values[0], acts[layers[0]].values[1], rtol=1e-5, atol=1e-6)
