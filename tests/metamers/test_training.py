"""train_classifier: seeded, frozen result, thread setting restored, keyed checkpoints, named errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.datasets.mnist import load_mnist_5k, split_train_test
from neuroalign.errors import ConfigError, DataError, FileFormatError
from neuroalign.metamers.training import freeze, torch_threads, train_classifier
from neuroalign.models.mnist import MnistCNN, MnistMLP


@pytest.fixture(scope="module")
def small_mnist():
    train, test = split_train_test(load_mnist_5k(), test_size=4000, random_state=0)
    return train, test.isel(presentation=slice(0, 500))  # 1,000 training images, 500 test images


def _accuracy(model, images):
    with torch.no_grad():
        return float((model(torch.as_tensor(images.values)).argmax(1).numpy() == images["label"].values).mean())


def test_mlp_learns_mnist_and_result_is_frozen(small_mnist):
    train, test = small_mnist
    net = MnistMLP(seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fitted = train_classifier(net, train, epochs=5, batch_size=64, lr=1e-3, random_state=0, progress=False)
    assert _accuracy(fitted.model, test) > 0.8  # chance is 0.1
    assert not fitted.model.training and not any(p.requires_grad for p in fitted.model.parameters())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the input model is untouched
    assert list(fitted.history.columns) == ["epoch", "loss", "train_accuracy"] and len(fitted.history) == 5
    assert fitted.history["loss"].iloc[-1] < fitted.history["loss"].iloc[0]


def test_same_seed_same_weights_other_seed_other_weights(small_mnist):
    train = small_mnist[0].isel(presentation=slice(0, 200))
    a, b, c = (train_classifier(MnistMLP(seed=0), train, epochs=1, batch_size=32, random_state=s, progress=False)
               for s in (0, 0, 1))
    assert all(torch.equal(x, y) for x, y in zip(a.model.parameters(), b.model.parameters()))
    assert not torch.equal(a.model.fc1.weight, c.model.fc1.weight)
    assert a.key == b.key != c.key


def test_cross_entropy_matches_a_manual_adam_loop():
    """Independent reference: the same steps written out with torch's functional cross-entropy."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3)).astype(np.float32)
    y = rng.integers(0, 2, size=20)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    fitted = train_classifier(model, x, y, epochs=2, batch_size=8, lr=0.1, random_state=5, progress=False)
    reference = torch.nn.Linear(3, 2)
    reference.load_state_dict(model.state_dict())
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(5)
    losses = []
    for _ in range(2):
        order, total = torch.randperm(20, generator=generator), 0.0
        for start in range(0, 20, 8):
            batch = order[start:start + 8]
            logits = reference(torch.as_tensor(x)[batch])
            loss = -torch.log_softmax(logits, 1)[torch.arange(len(batch)), torch.as_tensor(y)[batch]].mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        losses.append(total / 20)
    np.testing.assert_allclose(fitted.history["loss"], losses, rtol=1e-6)
    torch.testing.assert_close(fitted.model.weight, reference.weight.detach())


def test_thread_setting_is_restored():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError
    assert torch.get_num_threads() == before
    train_classifier(torch.nn.Linear(2, 2), np.zeros((4, 2), np.float32), [0, 1, 0, 1], epochs=1, progress=False)
    assert torch.get_num_threads() == before


def test_checkpoint_is_reused_only_for_the_same_training(tmp_path, small_mnist):
    train = small_mnist[0].isel(presentation=slice(0, 100))
    path = tmp_path / "mlp.pt"
    first = train_classifier(MnistMLP(seed=0), train, epochs=1, random_state=0, checkpoint=path, progress=False)
    assert path.is_file() and not list(tmp_path.glob(".*tmp"))
    mtime = path.stat().st_mtime_ns
    again = train_classifier(MnistMLP(seed=0), train, epochs=1, random_state=0, checkpoint=path, progress=False)
    assert path.stat().st_mtime_ns == mtime  # loaded, not rewritten
    assert all(torch.equal(a, b) for a, b in zip(first.model.parameters(), again.model.parameters()))
    assert not again.model.training and not any(p.requires_grad for p in again.model.parameters())
    assert again.history.equals(first.history)
    other = train_classifier(MnistMLP(seed=0), train, epochs=2, random_state=0, checkpoint=path, progress=False)
    assert len(other.history) == 2 and torch.load(path, weights_only=True)["key"] == other.key


def test_foreign_checkpoint_raises(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(FileFormatError, match="checkpoint"):
        train_classifier(torch.nn.Linear(2, 2), np.zeros((2, 2), np.float32), [0, 1], checkpoint=path,
                         progress=False)
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(FileFormatError, match="not a neuroalign classifier checkpoint"):
        train_classifier(torch.nn.Linear(2, 2), np.zeros((2, 2), np.float32), [0, 1], checkpoint=path,
                         progress=False)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 0}, ConfigError, "epochs"),
    ({"batch_size": 2.0}, ConfigError, "batch_size"),
    ({"lr": -1.0}, ConfigError, "lr"),
    ({"labels": [0, 1, 0]}, ConfigError, "one per image"),
    ({"labels": [0, 5]}, DataError, "outside the model's 2 classes"),
    ({"labels": [0.5, 1]}, DataError, "integers"),
    ({"images": np.array([[np.nan, 0], [0, 0]], np.float32)}, DataError, "NaN"),
])
def test_bad_input_raises_named_errors(kwargs, error, match):
    args = {"images": np.zeros((2, 2), np.float32), "labels": [0, 1], **kwargs}
    with pytest.raises(error, match=match):
        train_classifier(torch.nn.Linear(2, 2), args.pop("images"), args.pop("labels"), progress=False, **args)


def test_frozen_model_cannot_be_trained_again():
    with pytest.raises(ConfigError, match="no trainable parameters"):
        train_classifier(freeze(torch.nn.Linear(2, 2)), np.zeros((2, 2), np.float32), [0, 1], progress=False)


@settings(max_examples=10, deadline=None)
@given(permutation_seed=st.integers(0, 1000))
def test_property_training_ignores_the_order_of_the_input_rows(permutation_seed):
    """Invariance: with one full batch and one epoch, reordering the (image, label) pairs gives the same step."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=12)
    order = np.random.default_rng(permutation_seed).permutation(12)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 3)
    a = train_classifier(model, x, y, epochs=1, batch_size=12, progress=False)
    b = train_classifier(model, x[order], y[order], epochs=1, batch_size=12, progress=False)
    torch.testing.assert_close(a.model.weight, b.model.weight, rtol=1e-5, atol=1e-6)
