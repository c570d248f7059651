import collections
import copy
import dataclasses
import functools
import logging
import os
import subprocess
import sys
import threading
import types
import weakref

import numpy as np
import pytest
import torch

from neuroalign.cli.main import main
from neuroalign.errors import ConfigError
from neuroalign.extract import (Normalize, StimulusSet, clear_cache, extract, list_cache, load_model, model_hash,
                               open_activations)
from neuroalign.extract.fingerprint import model_fingerprint
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
    assert main(["cache", "clear", "--yes"]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert len(list_cache()) == 0
    _, calls = run(net, stimuli_of(images))
    assert calls == 2


# ---------------------------------------------------------------- the key covers everything that changes outputs
# Two tables, open-ended: add a row for every new way a model can change.  Builders run under one torch seed, so
# both models of a row get the same weights and differ only in what the row names.

NET_SOURCE = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return {expr}
"""


def from_source(expr="self.linear(x)", module="__main__", **names):
    """A model whose class is defined by running source text (as in a script, a notebook or a REPL)."""
    namespace = {"__name__": module, "torch": torch, "nn": torch.nn, **names}
    exec(NET_SOURCE.format(expr=expr), namespace)
    return namespace["Net"]()


class Apply(torch.nn.Module):
    """Applies a function stored as an attribute."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class Scaled(torch.nn.Module):
    def __init__(self, scale, *, persistent):
        super().__init__()
        self.register_buffer("scale", torch.tensor(scale), persistent=persistent)

    def forward(self, x):
        return x * self.scale


class Listed(torch.nn.Module):
    """Children also kept in a plain list attribute; ``swap`` exchanges which child runs first."""

    def __init__(self, swap):
        super().__init__()
        x, y = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)
        self.first, self.second = (y, x) if swap else (x, y)
        self.stages = [x, y]

    def forward(self, v):
        return self.second(self.first(v))


def scaled_by(k):
    return lambda x: x * k


def hooked(scale):
    net = torch.nn.Sequential(torch.nn.Linear(4, 4))
    net[0].register_forward_hook(lambda module, args, output: output * scale)
    return net


@dataclasses.dataclass
class Options:
    slope: float


SLOPES = [Options(0.1), Options(0.2)]  # alive for the weak references to them


def conv(**kwargs):
    return torch.nn.Conv2d(3, 4, 3, **kwargs)


nn = torch.nn
DIFFERENT = {  # (model a, model b): the outputs can differ, so the keys must
    "leaky-relu slope": (lambda: nn.LeakyReLU(0.01), lambda: nn.LeakyReLU(0.3)),
    "conv stride": (lambda: conv(stride=1), lambda: conv(stride=2)),
    "conv padding mode": (lambda: conv(padding=1), lambda: conv(padding=1, padding_mode="reflect")),
    "conv dilation": (lambda: conv(), lambda: conv(dilation=2)),
    "hardtanh bounds": (lambda: nn.Hardtanh(-1.0, 1.0), lambda: nn.Hardtanh(-2.0, 1.0)),
    "layer-norm eps": (lambda: nn.LayerNorm(4), lambda: nn.LayerNorm(4, eps=1e-2)),
    "softmax dim": (lambda: nn.Softmax(dim=0), lambda: nn.Softmax(dim=1)),
    "flatten start dim": (lambda: nn.Flatten(1), lambda: nn.Flatten(0)),
    "gelu approximation": (lambda: nn.GELU(), lambda: nn.GELU(approximate="tanh")),
    "max-pool ceil mode": (lambda: nn.MaxPool2d(2), lambda: nn.MaxPool2d(2, ceil_mode=True)),
    "upsample mode": (lambda: nn.Upsample(scale_factor=2), lambda: nn.Upsample(scale_factor=2, mode="bilinear")),
    "in-place flag": (lambda: nn.ReLU(), lambda: nn.ReLU(inplace=True)),
    "dropout rate": (lambda: nn.Dropout(0.1), lambda: nn.Dropout(0.5)),
    "one more module of a class already present": (
        lambda: nn.Sequential(nn.Linear(4, 4), nn.ReLU()),
        lambda: nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.ReLU())),
    "module order": (lambda: nn.Sequential(nn.ReLU(), nn.Tanh()), lambda: nn.Sequential(nn.Tanh(), nn.ReLU())),
    "module names": (lambda: nn.Sequential(collections.OrderedDict(a=nn.ReLU(), b=nn.Tanh())),
                     lambda: nn.Sequential(collections.OrderedDict(b=nn.ReLU(), a=nn.Tanh()))),
    "a persistent buffer": (lambda: Scaled(1.0, persistent=True), lambda: Scaled(2.0, persistent=True)),
    "a non-persistent buffer": (lambda: Scaled(1.0, persistent=False), lambda: Scaled(2.0, persistent=False)),
    "batch-norm statistics": (lambda: nn.BatchNorm1d(4), lambda: _with_running_mean(nn.BatchNorm1d(4), 0.5)),
    "forward code of a class in __main__": (lambda: from_source("self.linear(x) * 2"),
                                            lambda: from_source("self.linear(x) * 3")),
    "a global constant read by forward": (lambda: from_source("self.linear(x) * SCALE", SCALE=2),
                                          lambda: from_source("self.linear(x) * SCALE", SCALE=3)),
    "a helper function called by forward": (lambda: from_source("helper(self.linear(x))", helper=torch.relu),
                                            lambda: from_source("helper(self.linear(x))", helper=torch.tanh)),
    "a lambda stored as an attribute": (lambda: Apply(lambda x: x * 0.1), lambda: Apply(lambda x: x * 0.2)),
    "a closure value": (lambda: Apply(scaled_by(0.1)), lambda: Apply(scaled_by(0.2))),
    "a partial's keyword": (lambda: Apply(functools.partial(torch.nn.functional.leaky_relu, negative_slope=0.01)),
                            lambda: Apply(functools.partial(torch.nn.functional.leaky_relu, negative_slope=0.3))),
    "a torch function stored as an attribute": (lambda: Apply(torch.relu), lambda: Apply(torch.tanh)),
    "a tensor in a default argument": (lambda: Apply(lambda x, t=torch.zeros(4): x + t),
                                       lambda: Apply(lambda x, t=torch.ones(4): x + t)),
    "a namespace attribute": (lambda: _with_attribute(nn.ReLU(), options=types.SimpleNamespace(slope=0.1)),
                              lambda: _with_attribute(nn.ReLU(), options=types.SimpleNamespace(slope=0.2))),
    "a dataclass attribute": (lambda: _with_attribute(nn.ReLU(), options=Options(0.1)),
                              lambda: _with_attribute(nn.ReLU(), options=Options(0.2))),
    "an lru-cached helper": (lambda: from_source("helper(x)", helper=functools.lru_cache(lambda x: x * 2)),
                             lambda: from_source("helper(x)", helper=functools.lru_cache(lambda x: x * 3))),
    "a weak reference's target": (lambda: _with_attribute(nn.ReLU(), ref=weakref.ref(SLOPES[0])),
                                  lambda: _with_attribute(nn.ReLU(), ref=weakref.ref(SLOPES[1]))),
    "a generator's state": (lambda: _with_attribute(nn.ReLU(), generator=torch.Generator().manual_seed(0)),
                            lambda: _with_attribute(nn.ReLU(), generator=torch.Generator().manual_seed(1))),
    "which child a module kept in a list attribute is": (lambda: Listed(swap=False), lambda: Listed(swap=True)),
    "a forward hook": (lambda: nn.Sequential(nn.Linear(4, 4)), lambda: hooked(2.0)),
    "a forward hook's closure": (lambda: hooked(2.0), lambda: hooked(3.0)),
}

SAME = {  # (model a, model b): the same outputs by construction, so the same key (a cache hit)
    "identical rebuilt models": (lambda: ReferenceNet(seed=0), lambda: ReferenceNet(seed=0)),
    "a class defined twice from the same source": (lambda: from_source("self.linear(x) * 2"),
                                                   lambda: from_source("self.linear(x) * 2")),
    "equal lambdas": (lambda: Apply(lambda x: x * 0.1), lambda: Apply(lambda x: x * 0.1)),
    "equal closures": (lambda: Apply(scaled_by(0.1)), lambda: Apply(scaled_by(0.1))),
    "equal hooks": (lambda: hooked(2.0), lambda: hooked(2.0)),
    "training mode (extraction runs in eval mode)": (lambda: ReferenceNet(seed=0).train(),
                                                     lambda: ReferenceNet(seed=0).eval()),
    "a deep copy": (lambda: ReferenceNet(seed=0), lambda: copy.deepcopy(ReferenceNet(seed=0))),
}


def _with_running_mean(bn, value):
    bn.running_mean.fill_(value)
    return bn


def _with_attribute(module, **attributes):
    for name, value in attributes.items():
        setattr(module, name, value)
    return module


def seeded(build):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build()


@pytest.mark.parametrize("change", list(DIFFERENT))
def test_a_change_that_can_change_the_outputs_changes_the_key(change):
    build_a, build_b = DIFFERENT[change]
    a, b = model_fingerprint(seeded(build_a)), model_fingerprint(seeded(build_b))
    assert a.reliable and b.reliable, (a.undescribed, b.undescribed)
    assert a.digest != b.digest


@pytest.mark.parametrize("case", list(SAME))
def test_models_with_the_same_outputs_share_the_key(case):
    build_a, build_b = SAME[case]
    a, b = model_fingerprint(seeded(build_a)), model_fingerprint(seeded(build_b))
    assert a.reliable and a.digest == b.digest


def test_the_key_survives_no_op_uses(rng):
    net = ReferenceNet(seed=0)
    before = model_hash(net)
    with torch.no_grad():
        net(torch.zeros(2, 3, 32, 32))
    stimuli = stimuli_of(rng.normal(size=(2, 3, 32, 32)).astype(np.float32))
    extract(net, stimuli, "fc", dtype=torch.float64, progress=False)  # moved to float64 and back
    net.train()
    net.eval()
    assert model_hash(net) == before


def test_a_model_file_edited_between_loads_changes_the_key(tmp_path):
    path = tmp_path / "netfile.py"
    source = NET_SOURCE.replace("class Net", "import torch\nfrom torch import nn\n\n\nclass Net")

    def load(expr):
        path.write_text(source.format(expr=expr))
        return seeded(lambda: load_model(f"{path}:Net"))

    first = load("self.linear(x) * 2")
    edited = load("self.linear(x) * 3")  # same size, same second: no stale bytecode either
    x = torch.ones(1, 4)
    assert torch.equal(edited(x), first(x) * 1.5)
    assert model_hash(first) != model_hash(edited)
    assert model_hash(load("self.linear(x) * 2")) == model_hash(first)


def test_a_model_file_named_like_a_standard_module_is_described_by_its_code(tmp_path, monkeypatch):
    # 'path/to/code.py:Net' is imported as module 'code' (a standard-library name): its classes are the
    # user's code, so an edited forward must change the key (it was identified by the Python version only)
    from neuroalign.extract import fingerprint

    user_module = types.ModuleType("code")
    user_module.__file__ = str(tmp_path / "code.py")
    monkeypatch.setitem(sys.modules, "code", user_module)
    fingerprint._library.cache_clear()
    try:
        a = model_fingerprint(seeded(lambda: from_source("self.linear(x) * 2", module="code")))
        b = model_fingerprint(seeded(lambda: from_source("self.linear(x) * 3", module="code")))
    finally:
        fingerprint._library.cache_clear()
    assert a.reliable and b.reliable
    assert a.digest != b.digest


SELECTED = 0
SCALE = 1.0


def test_a_global_read_by_a_select_or_preprocess_function_is_in_the_key(images):
    # select=lambda out: out[SELECTED] and preprocess=lambda x: x * SCALE were keyed by their source text only:
    # after SELECTED or SCALE changed, the cache served the activations of the old value
    global SELECTED, SCALE
    net = torch.nn.Sequential(torch.nn.Identity())
    net[0].register_forward_hook(lambda module, args, output: (output, -output))
    stimuli = stimuli_of(images)

    def pick(out):
        return out[SELECTED]

    def scale(x):
        return x * SCALE

    def acts():
        return extract(net, stimuli, "0", select=pick, preprocess=scale, cache=True, progress=False)["0"].values

    first = acts()
    try:
        SELECTED = 1
        np.testing.assert_array_equal(acts(), -first)
        SELECTED, SCALE = 0, 2.0
        np.testing.assert_array_equal(acts(), 2 * first)
    finally:
        SELECTED, SCALE = 0, 1.0


def test_undescribable_models_bypass_the_cache(images, caplog):
    net = ReferenceNet(seed=0)
    net.lock = threading.Lock()  # an object of a C type holds state the key cannot see
    fingerprint = model_fingerprint(net)
    assert not fingerprint.reliable and "lock" in fingerprint.undescribed[0]
    assert model_hash(net) != model_hash(net)  # matches no other digest, not even its own
    with caplog.at_level(logging.WARNING, logger="neuroalign.extract"):
        acts, calls = run(net, stimuli_of(images))
    assert "cache bypassed: the model" in caplog.text and "lock" in caplog.text
    assert calls == 2 and len(list_cache()) == 0
    with torch.no_grad():
        np.testing.assert_allclose(acts["fc"].values, net.fc(net.block4(net.block3(net.block2(net.block1(
            torch.from_numpy(images)))))).numpy(), rtol=1e-6, atol=1e-6)


def _with_buffer(module, name, tensor):
    module.register_buffer(name, tensor)
    return module


UNDESCRIBABLE = {  # what the key cannot see: never a stale hit, never a crash
    "a lock": lambda: _with_attribute(nn.ReLU(), lock=threading.Lock()),
    "an open file": lambda: _with_attribute(nn.ReLU(), log=open(__file__)),  # noqa: SIM115
    "a sparse buffer": lambda: _with_buffer(nn.Linear(3, 3), "mask", torch.eye(3).to_sparse()),
    "parameters without values": lambda: nn.Linear(3, 3, device="meta"),
    "a lambda reading an undescribable global": lambda: Apply(lambda x: x if LOCK.locked() else x),
}
LOCK = threading.Lock()


@pytest.mark.parametrize("case", list(UNDESCRIBABLE))
def test_what_cannot_be_described_is_named_and_matches_nothing(case):
    model = UNDESCRIBABLE[case]()
    fingerprint = model_fingerprint(model)
    assert not fingerprint.reliable and fingerprint.undescribed
    assert model_fingerprint(model).digest != fingerprint.digest
    if hasattr(model, "log"):
        model.log.close()


def test_a_changed_slope_misses_the_cache_end_to_end(images):
    def net(slope):
        return seeded(lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(slope), nn.Flatten()))

    stimuli = stimuli_of(images)
    a = extract(net(0.01), stimuli, "2", batch_size=4, cache=True, progress=False)["2"]
    b = extract(net(0.3), stimuli, "2", batch_size=4, cache=True, progress=False)["2"]
    assert len(list_cache()) == 2
    assert not np.array_equal(a.values, b.values)
    with torch.no_grad():
        for slope, acts in ((0.01, a), (0.3, b)):
            np.testing.assert_allclose(acts.values, net(slope)(torch.from_numpy(images)).numpy(), rtol=1e-6,
                                       atol=1e-6)


# ---------------------------------------------------------------- `neuroalign cache clear` asks first


def cache_command(*args, stdin=subprocess.DEVNULL):
    return subprocess.run([sys.executable, "-m", "neuroalign", "cache", *args], stdin=stdin, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def two_entries(images):
    run(ReferenceNet(seed=0), stimuli_of(images))
    run(ReferenceNet(seed=0), stimuli_of(images[:3]))
    assert len(list_cache()) == 2


def test_clear_without_a_terminal_refuses_unless_yes(two_entries):
    refused = cache_command("clear")  # stdin is not a terminal: nobody to ask, so nothing is deleted
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1 and "Traceback" not in refused.stderr
    assert "cache clear: will not delete every cache entry without asking" in lines[0] and "--yes" in lines[0]
    assert len(list_cache()) == 2
    done = cache_command("clear", "--yes")
    assert done.returncode == 0 and "removed 2 entries" in done.stdout and len(list_cache()) == 0


def test_clear_with_a_key_prefix_does_not_ask(two_entries):
    key = list_cache().key[0]
    done = cache_command("clear", "--key", key[:12])
    assert done.returncode == 0 and "removed 1 entries" in done.stdout and len(list_cache()) == 1


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("answer, left", [("n", 2), ("", 2), ("yes", 0)])
def test_clear_asks_on_a_terminal(two_entries, answer, left):
    controller, terminal = os.openpty()
    try:
        os.write(controller, f"{answer}\n".encode())
        done = cache_command("clear", stdin=terminal)
    finally:
        os.close(terminal)
        os.close(controller)
    assert done.returncode == 0, done.stderr
    assert "delete all 2 entries" in done.stdout
    assert len(list_cache()) == left
    assert ("removed 2 entries" in done.stdout) == (left == 0)


def test_an_unwritable_cache_folder_is_named_before_any_forward_pass(images, monkeypatch, tmp_path):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "file" / "cache"))
    net = ReferenceNet(seed=0)
    calls = []
    net.register_forward_pre_hook(lambda module, args: calls.append(1))
    with pytest.raises(ConfigError, match=r"store: cannot create .* is a file, not a folder.*NEUROALIGN_CACHE"):
        extract(net, stimuli_of(images), LAYERS, cache=True, progress=False)
    assert calls == []


def test_the_attention_kernel_of_a_hugging_face_model_is_in_the_key():
    """eager and sdpa attention give outputs that differ (by ~1e-6); to_dict() of the config leaves it out."""
    transformers = pytest.importorskip("transformers")

    def bert(kernel):
        config = transformers.BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=32, attn_implementation=kernel)
        return transformers.BertModel(config)

    eager, sdpa, again = (model_fingerprint(seeded(lambda: bert(k))) for k in ("eager", "sdpa", "eager"))
    assert eager.reliable and sdpa.reliable
    assert eager.digest != sdpa.digest
    assert eager.digest == again.digest
