"""Fuzzing the extraction entry points with fixture tables of bad input.

``extract``, the ``StimulusSet`` constructors, ``load_model``/``load_state_dict``
and ``open_activations`` get wrong-type, wrong-shape, non-finite, empty,
duplicated, truncated and garbage input.  Nothing but a ``NeuroalignError``
may escape (any other exception fails the test as it is raised), the error
is of the named class and names its source, and what does come back holds
no NaN.
"""

import os
import pickle
import shutil
import zipfile

import numpy as np
import pytest
import torch
import zarr

from neuroalign.errors import (ConfigError, DataError, ExtractionError, FileFormatError, NeuroalignError,
                               SchemaError, UnknownNameError)
from neuroalign.extract import StimulusSet, extract, load_model, open_activations
from neuroalign.extract.models import load_state_dict
from neuroalign.models import ReferenceNet

IDS = list("abcd")


@pytest.fixture(autouse=True)
def cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROALIGN_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).normal(size=(4, 3, 32, 32)).astype(np.float32)


def named(kind, call, source=None):
    """Run ``call``; it must raise ``kind`` (a NeuroalignError) naming ``source``. Other exceptions propagate."""
    with pytest.raises(NeuroalignError) as info:
        call()
    assert isinstance(info.value, kind), f"{type(info.value).__name__}: {info.value}"
    if source is not None:
        assert info.value.source is not None and source in str(info.value.source), info.value
    return info.value


def finite(arrays):
    for name, array in arrays.items():
        assert np.isfinite(np.asarray(array.values)).all(), name
    return arrays


def run(stimuli, layers="fc", **options):
    return extract(ReferenceNet(seed=0), stimuli, layers, batch_size=2, progress=False, **options)


# ------------------------------------------------------------------ models and layers

MODELS = {
    "None": None, "int": 5, "list": ["fc"], "class": torch.nn.Linear, "function": len, "no colon": "resnet",
    "empty factory": "neuroalign.models:", "no module": ":ReferenceNet", "missing module": "no.such.module:Net",
    "missing factory": "neuroalign.models:Nope", "not a module": "neuroalign.models:REFERENCE_LAYERS",
    "torchscript": torch.jit.script(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3072, 2))),
}


@pytest.mark.parametrize("model", MODELS.values(), ids=MODELS.keys())
def test_a_wrong_model_is_named(images, model):
    named(ConfigError, lambda: extract(model, StimulusSet.from_arrays(IDS, images), "fc", progress=False), "model")


LAYERS = {"None": (None, ConfigError), "int": (5, ConfigError), "bytes": (b"fc", ConfigError),
          "missing": ("nope", UnknownNameError), "empty": ([], ConfigError),
          "a parameter": ("fc.weight", UnknownNameError),
          "not text": ([1], ConfigError), "None in list": (["fc", None], ConfigError),
          "no match": ("block*.9", UnknownNameError), "empty name": ("", UnknownNameError)}


@pytest.mark.parametrize("layers, kind", LAYERS.values(), ids=LAYERS.keys())
def test_a_layer_that_does_not_exist_is_named(images, layers, kind):
    named(kind, lambda: run(StimulusSet.from_arrays(IDS, images), layers), "layers")


# ------------------------------------------------------------------ stimuli

def nan_pixels(images):
    out = images.copy()
    out[2, 1, 5, 5] = np.nan
    return out


MODEL_FAILS = {  # stimuli a StimulusSet holds, but the model cannot take or gives non-finite values for
    "NaN pixel": (nan_pixels, DataError, "model"),
    "inf": (lambda x: np.full_like(x, np.inf), DataError, "model"),
    "overflowing float32": (lambda x: np.full_like(x, 3e38), DataError, "model"),
    "float64 beyond float32": (lambda x: np.full(x.shape, 1e300), DataError, "model"),
    "vectors": (lambda x: x.reshape(4, -1)[:, :5], ExtractionError, "model"),
    "5 channels": (lambda x: np.zeros((4, 5, 32, 32), np.float32), ExtractionError, "model"),
    "one number each": (lambda x: np.zeros(4, np.float32), ExtractionError, "model"),
    "5-d": (lambda x: x[:, None], ExtractionError, "model"),
    "uint8 of no image shape": (lambda x: np.zeros((4, 5, 7), np.uint8), ExtractionError, "model"),
}


@pytest.mark.parametrize("where", ["memory", "store", "cache"])
@pytest.mark.parametrize("make, kind, source", MODEL_FAILS.values(), ids=MODEL_FAILS.keys())
def test_stimuli_the_model_cannot_take_are_named(tmp_path, images, make, kind, source, where):
    stimuli = StimulusSet.from_arrays(IDS, make(images))
    options = {"store": {"store": tmp_path / "acts.zarr"}, "cache": {"cache": True}}.get(where, {})
    named(kind, lambda: run(stimuli, **options), source)
    assert not (tmp_path / "acts.zarr").exists()


NOT_STIMULI = {  # refused when the set is built, before a model is loaded
    "text": np.array(IDS), "bytes": np.array([b"a", b"b", b"c", b"d"]), "objects": np.array([object()] * 4),
    "None": [None] * 4, "complex": np.ones((4, 3, 8, 8), np.complex64), "dates": np.zeros((4, 3), "datetime64[s]"),
    "timedeltas": np.zeros((4, 3), "timedelta64[s]"), "no values": np.zeros((4, 3, 0, 0), np.float32),
    "empty items": [np.zeros(0)] * 4, "ragged item": [[[1.0, 2.0], [1.0]]] * 4,
    "complex tensor": torch.ones(4, 3, dtype=torch.complex64), "meta tensor": torch.zeros(4, 3, device="meta"),
    "tensors with text": [torch.zeros(3), "x", torch.zeros(3), torch.zeros(3)],
}


@pytest.mark.parametrize("content", NOT_STIMULI.values(), ids=NOT_STIMULI.keys())
def test_content_that_is_not_real_numbers_is_refused(content):
    named(SchemaError, lambda: StimulusSet.from_arrays(IDS, content), "stimuli")


def test_accepted_dtypes_give_finite_activations(tmp_path, images):
    for content in (images.astype(np.float16), images.astype(np.float64), (images > 0), np.int64(3) * (images > 0),
                    (images * 40 + 128).clip(0, 255).astype(np.uint8).transpose(0, 2, 3, 1),
                    torch.from_numpy(images).requires_grad_(), images.transpose(0, 1, 3, 2)):
        finite(run(StimulusSet.from_arrays(IDS, content)))
    finite(run(StimulusSet.from_arrays(IDS, images), store=tmp_path / "acts.zarr"))
    ragged = [np.zeros((3, 32, 32)), np.zeros((3, 16, 16)), np.zeros((3, 32, 32)), np.zeros((3, 32, 32))]
    named(ConfigError, lambda: run(StimulusSet.from_arrays(IDS, ragged)), "stimuli")


IDS_CASES = {
    "duplicate": (["a", "a", "b", "c"], "not unique"), "two NaN": ([np.nan, np.nan, 1, 2], "float"),
    "NaN": ([np.nan, 1, 2, 3], "float"), "None": ([None, "b", "c", "d"], "NoneType"),
    "float": ([0.5, 1.0, 2.0, 3.0], "float"), "bool": ([True, False, 1, 2], "bool"),
    "1 and '1'": ([1, "1", 2, 3], "mix text and integers"), "empty text": (["", "b", "c", "d"], "empty"),
    "tuples": ([(1, 2), (3, 4), (5, 6), (7, 8)], "tuple"), "lists": ([[1], [2], [3], [4]], "list"),
    "one string": ("abcd", "str"), "a number": (4, "int"), "nothing": (None, "NoneType"),
    "a table": (np.array([["a", "b"], ["c", "d"]]), "shape (2, 2)"),
    "too few": (["a", "b"], "4 stimuli for 2 ids"), "too many": (list("abcdef"), "4 stimuli for 6 ids"),
}


@pytest.mark.parametrize("ids, message", IDS_CASES.values(), ids=IDS_CASES.keys())
def test_bad_stimulus_ids_are_refused(images, ids, message):
    error = named(SchemaError, lambda: StimulusSet.from_arrays(ids, images))
    assert message in str(error)


def test_integer_ids_and_ids_from_any_iterable_work(images):
    for ids in ([0, 1, 2, 3], np.arange(4), range(4), (c for c in IDS), np.array(IDS)):
        acts = finite(run(StimulusSet.from_arrays(ids, images)))
        assert [str(i) for i in acts["fc"].stimulus_id.values] in (IDS, list("0123"))


METADATA = {
    "short": ({"cat": [1, 2]}, "2 values for 4"), "scalar": ({"cat": 1}, "not one value per stimulus"),
    "one string": ({"cat": "wxyz"}, "not one value per stimulus"),
    "2-d": ({"cat": np.zeros((4, 2))}, "shape (4, 2)"), "objects": ({"cat": [object()] * 4}, "object"),
    "lists": ({"cat": [[1], [2], [3], [4]]}, "list"),
    "text and numbers": ({"cat": ["x", 1, "y", "z"]}, "mixes text"),
    "text with a missing value": ({"cat": ["x", np.nan, "y", "z"]}, "mixes text"),
    "text with None": ({"cat": ["x", None, "y", "z"]}, "mixes text"),
    "reserved name": ({"stimulus_id": IDS}, "name of a coordinate"), "reserved layer": ({"layer": IDS}, "layer"),
}


@pytest.mark.parametrize("metadata, message", METADATA.values(), ids=METADATA.keys())
def test_bad_metadata_is_refused(images, metadata, message):
    error = named(SchemaError, lambda: StimulusSet.from_arrays(IDS, images, **metadata))
    assert message in str(error)


def test_numeric_metadata_with_nan_is_kept(tmp_path, images):
    acts = run(StimulusSet.from_arrays(IDS, images, rt=[0.5, np.nan, 0.7, 0.1]), store=tmp_path / "a.zarr")
    np.testing.assert_array_equal(acts["fc"].rt.values, [0.5, np.nan, 0.7, 0.1])


def test_the_other_constructors_refuse_bad_input(tmp_path, images):
    named(SchemaError, lambda: StimulusSet(IDS, 5), "stimuli")
    named(SchemaError, lambda: StimulusSet(IDS, list(images), metadata=[1, 2, 3, 4]), "metadata")
    named(ConfigError, lambda: StimulusSet(IDS, list(images), kind=5), "kind")
    named(SchemaError, lambda: StimulusSet.from_files(None), "paths")
    named(SchemaError, lambda: StimulusSet.from_files(str(tmp_path / "one.png")), "paths")
    named(FileFormatError, lambda: StimulusSet.from_files([tmp_path / "missing.png"]), "missing.png")
    named(FileFormatError, lambda: StimulusSet.from_files([tmp_path]), str(tmp_path))
    named(FileFormatError, lambda: StimulusSet.from_folder(tmp_path / "nope"), "nope")
    named(FileFormatError, lambda: StimulusSet.from_table(tmp_path / "nope.csv"), "nope.csv")
    named(SchemaError, lambda: StimulusSet.from_texts(["a", "b"], [1, 2]), "texts")
    named(SchemaError, lambda: StimulusSet.from_texts(["a", "b", "c"], "abc"), "texts")
    named(SchemaError, lambda: StimulusSet.from_texts(["a"], None), "texts")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    files = StimulusSet.from_files([tmp_path / "bad.png"])
    named(FileFormatError, lambda: run(files), "bad.png")


# ------------------------------------------------------------------ options


def raise_value_error(x):
    raise ValueError("cannot")


OPTIONS = {
    "batch 0": ({"batch_size": 0}, ConfigError, "batch_size"),
    "batch 1.5": ({"batch_size": 1.5}, ConfigError, "batch_size"),
    "batch True": ({"batch_size": True}, ConfigError, "batch_size"),
    "dtype text": ({"dtype": "float32"}, ConfigError, "dtype"),
    "dtype number": ({"dtype": 5}, ConfigError, "dtype"),
    "device": ({"device": "blah"}, UnknownNameError, "device"),
    "device number": ({"device": 3}, UnknownNameError, "device"),
    "pooling": ({"pooling": "nope"}, UnknownNameError, "pooling"),
    "pooling number": ({"pooling": 3}, ConfigError, "pooling"),
    "select": ({"select": "nope"}, ExtractionError, "select"),
    "reduce": ({"reduce": "nope"}, ConfigError, "reduce"),
    "preprocess not callable": ({"preprocess": 5}, ConfigError, "preprocess"),
    "preprocess raises": ({"preprocess": raise_value_error}, ExtractionError, "preprocess"),
    "preprocess returns text": ({"preprocess": lambda x: "x"}, ConfigError, "preprocess"),
    "preprocess makes NaN": ({"preprocess": lambda x: x * float("nan")}, DataError, "model"),
    "store a number": ({"store": 5}, ConfigError, "store"),
}


@pytest.mark.parametrize("options, kind, source", OPTIONS.values(), ids=OPTIONS.keys())
def test_bad_options_are_named(images, options, kind, source):
    stimuli = StimulusSet.from_arrays(IDS, images)
    named(kind, lambda: extract(ReferenceNet(seed=0), stimuli, "fc", progress=False, **{"batch_size": 2, **options}),
          source)


def test_a_preprocess_failure_names_the_input(images):
    error = named(ExtractionError, lambda: run(StimulusSet.from_arrays(IDS, images), preprocess=raise_value_error))
    assert "raise_value_error failed on a tensor of shape (3, 32, 32)" in str(error)
    assert "ValueError: cannot" in str(error)


# ------------------------------------------------------------------ weights files


class Payload:
    """Unpickling this would create a file: the weights reader must never run it."""

    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def weights_files(folder):
    good = folder / "good.pt"
    torch.save(ReferenceNet(seed=1).state_dict(), good)
    data = good.read_bytes()
    Payload.marker = folder / "executed"
    files = {"truncated.pt": data[: len(data) // 2], "empty.pt": b"", "garbage.pt": os.urandom(2000),
             "pickled object.pt": pickle.dumps(Payload()), "pickled dict.pt": pickle.dumps({"fc.weight": Payload()}),
             "garbage.safetensors": b"garbage", "text.pt": b"fc.weight: 1.0\n"}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    with zipfile.ZipFile(folder / "zip of garbage.pt", "w") as archive:
        archive.writestr("data.pkl", b"not a pickle")
    torch.save({"fc.weight": [1.0, 2.0]}, folder / "lists.pt")
    torch.save([torch.zeros(2)], folder / "a list.pt")
    torch.save(torch.zeros(2), folder / "a tensor.pt")
    torch.save({1: torch.zeros(2)}, folder / "number keys.pt")
    torch.save({"model": {"fc.weight": torch.zeros(2)}}, folder / "other model.pt")
    torch.save({"optimizer": Payload()}, folder / "torch-saved object.pt")
    np.save(folder / "array.npy", np.zeros(3))
    (folder / "a folder.pt").mkdir()
    return folder


WEIGHTS = ["truncated.pt", "empty.pt", "garbage.pt", "pickled object.pt", "pickled dict.pt", "garbage.safetensors",
           "text.pt", "zip of garbage.pt", "lists.pt", "a list.pt", "a tensor.pt", "number keys.pt",
           "torch-saved object.pt", "array.npy", "a folder.pt", "missing.pt"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return weights_files(tmp_path_factory.mktemp("weights"))


@pytest.mark.parametrize("name", WEIGHTS)
def test_a_bad_weights_file_is_named_and_never_executed(weights, name):
    path = weights / name
    if name.endswith(".safetensors"):
        pytest.importorskip("safetensors")
    named(FileFormatError, lambda: load_state_dict(path), str(path))
    named(FileFormatError, lambda: load_model("neuroalign.models:ReferenceNet", weights=path), str(path))
    assert not (weights / "executed").exists()


def test_weights_of_another_model_and_bad_arguments_are_named(weights):
    named(ConfigError, lambda: load_model("neuroalign.models:ReferenceNet", weights=weights / "other model.pt"),
          "other model.pt")
    named(ConfigError, lambda: load_model(ReferenceNet(), weights=5), "weights")
    named(ConfigError, lambda: load_model("neuroalign.models:ReferenceNet", kwargs=[("seed", 1)]), "kwargs")
    named(ConfigError, lambda: load_model(ReferenceNet(), weights=weights / "good.pt", strict="yes"), "strict")
    loaded = load_model("neuroalign.models:ReferenceNet", weights=weights / "good.pt")
    torch.testing.assert_close(loaded.state_dict(), ReferenceNet(seed=1).state_dict(), rtol=0, atol=0)


# ------------------------------------------------------------------ stores


@pytest.fixture(scope="module")
def store(tmp_path_factory, images):
    path = tmp_path_factory.mktemp("store") / "acts.zarr"
    extract(ReferenceNet(seed=0), StimulusSet.from_arrays(IDS, images, cat=list("xyxy")), ["block1", "fc"],
            batch_size=2, store=path, progress=False)
    return path


def rewrite(relative, content):
    def edit(path):
        target = path / relative
        target.write_bytes(content(target.read_bytes()) if callable(content) else content)
    return edit


def reconsolidated(edit):
    def both(path):
        edit(path)
        zarr.consolidate_metadata(str(path), zarr_format=2)
    return both


DAMAGE = {
    "truncated chunk": rewrite("fc/fc/0.0", lambda b: b[: len(b) // 2]),
    "10-byte chunk": rewrite("fc/fc/1.0", lambda b: b[:10]),
    "empty chunk": rewrite("fc/fc/0.0", b""),
    "garbage chunk": rewrite("block1/block1/0.0", lambda b: os.urandom(len(b))),
    "garbage id chunk": rewrite("fc/stimulus_id/0", b"xx"),
    "garbage metadata chunk": rewrite("fc/cat/0", b"\x00" * 3),
    "missing chunk": lambda p: (p / "fc" / "fc" / "1.0").unlink(),
    "missing id chunk": lambda p: (p / "block1" / "stimulus_id" / "0").unlink(),
    "garbage .zattrs": rewrite(".zattrs", b"{garbage"),
    "garbage .zmetadata": rewrite(".zmetadata", b"{garbage"),
    "empty .zmetadata": rewrite(".zmetadata", b""),
    "no .zmetadata": lambda p: (p / ".zmetadata").unlink(),
    "garbage .zarray": rewrite("fc/fc/.zarray", b"[]"),
    "no layer folder": lambda p: shutil.rmtree(p / "fc"),
    "layers not a list": reconsolidated(rewrite(".zattrs",
                                                lambda b: b.replace(b'"layers": [', b'"layers": 5, "x": ['))),
    "attribute not JSON": reconsolidated(rewrite("fc/fc/.zattrs", lambda b: b.replace(b'"json:{', b'"json:{{', 1))),
    "a file": lambda p: (shutil.rmtree(p), p.write_bytes(b"not a store")),
    "an empty folder": lambda p: (shutil.rmtree(p), p.mkdir()),
}


@pytest.mark.parametrize("lazy", [True, False])
@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_store_is_named_eager_and_lazy(tmp_path, store, damage, lazy):
    path = tmp_path / "acts.zarr"
    shutil.copytree(store, path)
    damage(path)

    def read():
        return {name: array.values for name, array in open_activations(path, lazy=lazy).items()}

    named(FileFormatError, read, str(path))


def test_bad_arguments_of_open_activations_are_named(store):
    named(ConfigError, lambda: open_activations(5), "path")
    named(ConfigError, lambda: open_activations(store, layers=5), "layers")
    named(UnknownNameError, lambda: open_activations(store, layers=["nope"]), str(store))
    assert list(open_activations(store, layers="fc")) == ["fc"]
    finite(open_activations(store, lazy=True))
