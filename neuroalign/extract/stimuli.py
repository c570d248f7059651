"""Stimulus sets: a table of stimulus ids, their content and their metadata.

Content is one of three kinds:

``"array"``
    arrays or tensors, one per stimulus or stacked on axis 0.  ``uint8``
    arrays are pixels: ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)`` images,
    scaled to ``[0, 1]`` and laid out channels-first.  Float arrays and
    tensors are given to the model as they are.
``"file"``
    image files, read with Pillow when their batch is needed (so a set of a
    million files costs no memory), scaled to ``[0, 1]``, channels-first.
``"text"``
    strings; a tokenizer passed as ``preprocess`` turns a batch of them into
    model inputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data.provenance import content_digest, hash_file
from ..data.schema import STIMULUS_ID
from ..errors import ConfigError, DependencyError, ExtractionError, FileFormatError, NeuroalignError, SchemaError

__all__ = ["StimulusSet", "IMAGE_SUFFIXES"]

#: File suffixes :meth:`StimulusSet.from_folder` treats as images.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

#: Names that cannot be metadata columns: they are coordinates of extracted arrays.
RESERVED = ("stimulus_id", "presentation", "neuroid", "neuroid_id", "model", "layer", "channel", "row", "col",
            "time_bin", "time_bin_start", "time_bin_end")

_KINDS = ("array", "file", "text")


class StimulusSet:
    """Stimuli to show a model: unique ids, content, and metadata columns.

    Build one with :meth:`from_arrays`, :meth:`from_files`, :meth:`from_folder`,
    :meth:`from_table` or :meth:`from_texts`.  :meth:`batches` yields
    ``(rows, inputs)`` pairs in the set's order.

    Parameters
    ----------
    stimulus_ids : sequence
        Unique id of each stimulus (the ids the brain data use): non-empty
        text, or integers, not a mix of both (``1`` and ``"1"`` would be one
        id once saved).
    content : sequence
        One item per stimulus (see the module docstring for the kinds); arrays
        hold real numbers (not complex, text or dates) and at least one value.
    metadata : pandas.DataFrame, optional
        One row per stimulus; columns become ``presentation`` coordinates.
        A column holds text, or numbers and booleans (NaN for a missing
        number), never both.
    kind : {"array", "file", "text"}, optional
        Inferred when omitted: paths are files, strings are text, anything else arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.extract import StimulusSet
    >>> s = StimulusSet.from_arrays(["a", "b"], np.zeros((2, 3, 8, 8)), category=["x", "y"])
    >>> len(s), s.kind, s.metadata.category.tolist()
    (2, 'array', ['x', 'y'])
    """

    def __init__(self, stimulus_ids: Sequence[Any], content: Sequence[Any], metadata: pd.DataFrame | None = None,
                 *, kind: str | None = None):
        ids = pd.Index(_check_ids(_sequence(stimulus_ids, "stimulus_ids")), name=STIMULUS_ID, dtype=object)
        if len(ids) and all(isinstance(v, (int, np.integer)) for v in ids):
            ids = ids.astype(np.int64)
        if not ids.is_unique:
            dup = ids[ids.duplicated()].unique()[:3].tolist()
            raise SchemaError(f"stimulus ids are not unique (e.g. {dup})", source="stimulus_ids",
                              fix="give every stimulus its own id")
        if isinstance(content, (str, bytes)) or not hasattr(content, "__len__") or not hasattr(content, "__getitem__"):
            raise SchemaError(f"the stimuli are a {type(content).__name__}, not a sequence", source="stimuli",
                              fix="pass one content item per stimulus id")
        if len(content) != len(ids):
            raise SchemaError(f"{len(content)} stimuli for {len(ids)} ids", source="stimuli",
                              fix="pass one content item per stimulus id")
        if metadata is not None and not isinstance(metadata, pd.DataFrame):
            raise SchemaError(f"metadata is a {type(metadata).__name__}, not a pandas DataFrame", source="metadata",
                              fix="pass a DataFrame with one row per stimulus (or metadata columns as keywords)")
        metadata = pd.DataFrame(index=range(len(ids))) if metadata is None else metadata.reset_index(drop=True)
        if len(metadata) != len(ids):
            raise SchemaError(f"metadata has {len(metadata)} rows for {len(ids)} stimuli", source="metadata",
                              fix="pass one metadata row per stimulus")
        clash = [c for c in metadata.columns if c in RESERVED]
        if clash:
            raise SchemaError(f"metadata column {clash[0]!r} has the name of a coordinate of extracted arrays",
                              source="metadata", fix=f"rename it (reserved names: {', '.join(RESERVED)})")
        for column in metadata.columns:
            _check_metadata_column(column, metadata[column])
        kind = kind or _infer_kind(content)
        if kind not in _KINDS:
            raise ConfigError(f"unknown stimulus kind {kind!r}", source="kind", fix=f"use one of {_KINDS}")
        if kind == "array":
            _check_arrays(content, ids)
        elif kind == "text":
            _check_texts(content)
        self.stimulus_ids = ids
        self.content = content
        self.metadata = metadata
        self.kind = kind

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_arrays(cls, stimulus_ids: Sequence[Any], arrays: Any, **metadata: Sequence[Any]) -> "StimulusSet":
        """Stimuli given as arrays or tensors (one per id, or stacked on axis 0).

        Keyword arguments are metadata columns, one value per stimulus.
        """
        if isinstance(arrays, (np.ndarray, torch.Tensor)):
            if arrays.ndim == 0:
                raise SchemaError("the stimuli are a single value, not arrays stacked on axis 0", source="stimuli",
                                  fix="pass one array per stimulus, or an array of shape (N, ...)")
            content = arrays
        elif isinstance(arrays, (str, bytes)) or not isinstance(arrays, Iterable):
            raise SchemaError(f"the stimuli are a {type(arrays).__name__}, not a sequence of arrays",
                              source="stimuli", fix="pass one array per stimulus, or an array of shape (N, ...)")
        else:
            content = list(arrays)
        stimulus_ids = _sequence(stimulus_ids, "stimulus_ids")
        return cls(stimulus_ids, content, _metadata_frame(metadata, len(stimulus_ids)), kind="array")

    @classmethod
    def from_files(cls, paths: Sequence[str | os.PathLike], stimulus_ids: Sequence[Any] | None = None,
                   **metadata: Sequence[Any]) -> "StimulusSet":
        """Image files, read with Pillow batch by batch.

        ``stimulus_ids`` default to the file names without their suffix.

        Examples
        --------
        >>> import numpy as np, tempfile, os
        >>> from PIL import Image
        >>> from neuroalign.extract import StimulusSet
        >>> folder = tempfile.mkdtemp()
        >>> Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(os.path.join(folder, "cat.png"))
        >>> s = StimulusSet.from_files([os.path.join(folder, "cat.png")])
        >>> s.stimulus_ids.tolist(), s.load_batch([0]).shape
        (['cat'], torch.Size([1, 3, 4, 6]))
        """
        paths = [Path(p) for p in _sequence(paths, "paths")]
        for path in paths:
            if not path.is_file():
                raise FileFormatError("file not found", source=str(path), fix="check the stimulus paths")
        ids = [p.stem for p in paths] if stimulus_ids is None else _sequence(stimulus_ids, "stimulus_ids")
        return cls(ids, paths, _metadata_frame(metadata, len(ids)), kind="file")

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, *, suffixes: Sequence[str] = IMAGE_SUFFIXES,
                    recursive: bool = True) -> "StimulusSet":
        """Every image under ``folder``, sorted; ids are relative paths without suffix.

        A sub-folder name becomes the ``folder`` metadata column when images
        lie in sub-folders (e.g. one per category).
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise FileFormatError("folder not found", source=str(folder), fix="check the stimulus folder path")
        pattern = "**/*" if recursive else "*"
        wanted = {s.lower() for s in suffixes}
        paths = sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in wanted)
        if not paths:
            raise FileFormatError(f"no image files ({', '.join(sorted(wanted))}) found", source=str(folder),
                                  fix="point --stimuli at a folder of images")
        relative = [p.relative_to(folder) for p in paths]
        ids = [r.with_suffix("").as_posix() for r in relative]
        metadata = {}
        if any(len(r.parts) > 1 for r in relative):
            metadata["folder"] = [r.parent.as_posix() for r in relative]
        return cls.from_files(paths, ids, **metadata)

    @classmethod
    def from_table(cls, table: pd.DataFrame | str | os.PathLike, *, path_column: str = "path",
                   id_column: str = STIMULUS_ID) -> "StimulusSet":
        """Image files listed in a table (a DataFrame or a CSV file).

        Relative paths in a CSV are relative to the CSV's folder; the other
        columns become metadata.
        """
        root = Path(".")
        if not isinstance(table, pd.DataFrame):
            root = Path(table).parent
            if not Path(table).is_file():
                raise FileFormatError("file not found", source=str(table), fix="check the stimulus table path")
            table = pd.read_csv(table)
        for column in (path_column, id_column):
            if column not in table.columns:
                raise SchemaError(f"column {column!r} is missing (columns: {list(table.columns)})",
                                  source="table", fix=f"add a {column!r} column or pass path_column/id_column")
        paths = [p if Path(p).is_absolute() else root / p for p in table[path_column].astype(str)]
        rest = table.drop(columns=[path_column, id_column])
        return cls.from_files(paths, table[id_column].tolist(), **{c: rest[c].tolist() for c in rest.columns})

    @classmethod
    def from_texts(cls, stimulus_ids: Sequence[Any], texts: Sequence[str], **metadata: Sequence[Any]) -> "StimulusSet":
        """Text stimuli; pass a tokenizer as ``preprocess`` when extracting.

        Examples
        --------
        >>> from neuroalign.extract import StimulusSet
        >>> StimulusSet.from_texts(["s1", "s2"], ["a dog", "a cat"]).kind
        'text'
        """
        texts = _sequence(texts, "texts")
        stimulus_ids = _sequence(stimulus_ids, "stimulus_ids")
        return cls(stimulus_ids, texts, _metadata_frame(metadata, len(stimulus_ids)), kind="text")

    # ----------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.stimulus_ids)

    def __repr__(self) -> str:
        columns = ", ".join(self.metadata.columns) or "none"
        return f"StimulusSet({len(self)} {self.kind} stimuli, metadata: {columns})"

    def subset(self, positions: Sequence[int]) -> "StimulusSet":
        """The stimuli at ``positions`` (in that order), with their metadata."""
        positions = np.asarray(positions, dtype=int)
        if isinstance(self.content, (np.ndarray, torch.Tensor)):
            content = self.content[torch.as_tensor(positions) if isinstance(self.content, torch.Tensor) else positions]
        else:
            content = [self.content[i] for i in positions]
        return StimulusSet(self.stimulus_ids[positions], content, self.metadata.iloc[positions], kind=self.kind)

    def positions(self, stimulus_ids: Sequence[Any], *, source: str = "stimulus_ids") -> np.ndarray:
        """Positions of ``stimulus_ids`` in the set; unknown ids raise."""
        index = self.stimulus_ids.get_indexer(list(stimulus_ids))
        if (index < 0).any():
            missing = [s for s, i in zip(stimulus_ids, index) if i < 0][:3]
            raise ConfigError(f"stimulus ids {missing} are not in the stimulus set", source=source,
                              fix="declare ids of stimuli that the set contains")
        return index

    def load(self, position: int) -> Any:
        """One stimulus's raw content: an array (files are read with Pillow) or a string."""
        item = self.content[position]
        if self.kind == "file":
            return _read_image(Path(item))
        return item

    def batches(self, batch_size: int, *, dtype: torch.dtype = torch.float32, preprocess: Callable | None = None,
                start: int = 0) -> Iterator[tuple[slice, Any]]:
        """Yield ``(rows, inputs)`` for consecutive batches, from batch number ``start``.

        ``inputs`` is a ``(N, …)`` tensor (a tokenizer's output for text).
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {batch_size}", source="batch_size",
                              fix="pass batch_size >= 1")
        _check_preprocess(preprocess)
        for first in range(start * batch_size, len(self), batch_size):
            rows = slice(first, min(first + batch_size, len(self)))
            yield rows, self.load_batch(range(rows.start, rows.stop), dtype=dtype, preprocess=preprocess)

    def load_batch(self, positions: Sequence[int], *, dtype: torch.dtype = torch.float32,
                   preprocess: Callable | None = None) -> Any:
        """Model inputs for the stimuli at ``positions``: preprocessed and stacked."""
        positions = list(positions)
        _check_preprocess(preprocess)
        if self.kind == "text":
            if preprocess is None:
                raise ConfigError("text stimuli need a tokenizer", source="preprocess",
                                  fix="pass preprocess=<callable: list of str -> model inputs>, e.g. "
                                      "neuroalign.extract.models.hf_tokenizer(path)")
            return _preprocessed(preprocess, [self.content[i] for i in positions], text=True)
        if isinstance(self.content, (np.ndarray, torch.Tensor)) and _contiguous(positions):
            block = self.content[positions[0]:positions[-1] + 1] if positions else self.content[:0]
            return _finish(_as_tensor(block, batched=True, dtype=dtype), preprocess)
        items = [_as_tensor(self.load(i), batched=False, dtype=dtype) for i in positions]
        if getattr(preprocess, "batched", False) and len({tuple(t.shape) for t in items}) == 1:
            return _finish(torch.stack(items), preprocess)
        if preprocess is not None:
            items = [_preprocessed(preprocess, t) for t in items]
        shapes = {tuple(t.shape) for t in items}
        if len(shapes) > 1:
            raise ConfigError(f"stimuli of one batch have different shapes {sorted(shapes)[:3]}",
                              source="stimuli", fix="resize them to one size, e.g. preprocess=Resize((224, 224))")
        return torch.stack(items)

    # ----------------------------------------------------------------- content hashing
    def content_hashes(self) -> list[str]:
        """One digest per stimulus, of its content only: the sha256 of a file's bytes, the
        :func:`~neuroalign.data.provenance.content_digest` of an array or text."""
        if self.kind == "file":
            return [hash_file(p) for p in self.content]
        if self.kind == "text":
            return [content_digest(t.encode("utf-8")).hexdigest() for t in self.content]
        return [_hash_item(self.content[i]) for i in range(len(self))]

    def content_hash(self) -> str:
        """A digest of every stimulus's content, in order (ids and metadata are left out).

        Examples
        --------
        >>> import numpy as np
        >>> from neuroalign.extract import StimulusSet
        >>> a = StimulusSet.from_arrays(["a", "b"], np.eye(2))
        >>> b = StimulusSet.from_arrays(["x", "y"], np.eye(2))
        >>> a.content_hash() == b.content_hash()
        True
        """
        digest = content_digest(self.kind.encode())
        if self.kind == "array":  # every item's values in one running digest, then every item's dtype and shape
            if isinstance(self.content, (np.ndarray, torch.Tensor)):  # one block: one pass at memory speed
                block = _numpy(self.content)
                digest.update(memoryview(np.ascontiguousarray(block)).cast("B"))
                layout = [f"{block.dtype.str}{block.shape[1:]}"] * len(self)
            else:
                layout = []
                for item in self.content:
                    array = _numpy(item)
                    digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
                    layout.append(f"{array.dtype.str}{array.shape}")
            digest.update("\n".join(layout).encode())
            return digest.hexdigest()
        for item in self.content_hashes():
            digest.update(item.encode())
        return digest.hexdigest()


def _infer_kind(content: Any) -> str:
    if isinstance(content, (np.ndarray, torch.Tensor)):
        return "array"
    items = list(content[:1]) if hasattr(content, "__getitem__") else []
    if items and isinstance(items[0], os.PathLike):
        return "file"
    if items and isinstance(items[0], str):
        return "text"
    return "array"


def _metadata_frame(metadata: dict[str, Sequence[Any]], n: int) -> pd.DataFrame:
    for key, column in metadata.items():
        if isinstance(column, (str, bytes)) or not hasattr(column, "__len__") \
                or (isinstance(column, (np.ndarray, torch.Tensor)) and column.ndim != 1):
            raise SchemaError(f"metadata column {key!r} is a {type(column).__name__}"
                              f"{f' of shape {tuple(column.shape)}' if hasattr(column, 'shape') else ''}, "
                              "not one value per stimulus", source=key, fix="pass a list of one value per stimulus")
        if len(column) != n:
            raise SchemaError(f"metadata column {key!r} has {len(column)} values for {n} stimuli", source=key,
                              fix="pass one value per stimulus")
    return pd.DataFrame({k: list(v) for k, v in metadata.items()}, index=range(n))


def _contiguous(positions: list[int]) -> bool:
    return not positions or positions == list(range(positions[0], positions[0] + len(positions)))


def _finish(batch: torch.Tensor, preprocess: Callable | None) -> torch.Tensor:
    if preprocess is None:
        return batch
    if getattr(preprocess, "batched", False):
        return _preprocessed(preprocess, batch)
    return torch.stack([_preprocessed(preprocess, item) for item in batch])


def _check_preprocess(preprocess: Any) -> None:
    if preprocess is not None and not callable(preprocess):
        raise ConfigError(f"preprocess is a {type(preprocess).__name__}, not a callable", source="preprocess",
                          fix="pass a function or transform that maps a stimulus tensor to a model input, or None")


def _preprocessed(preprocess: Callable, value: Any, *, text: bool = False) -> Any:
    """``preprocess(value)``; its failures (and, for arrays and images, non-tensor results) are named."""
    name = getattr(preprocess, "__name__", type(preprocess).__name__)
    try:
        out = preprocess(value)
    except NeuroalignError:
        raise
    except Exception as exc:  # the user's code: any failure is reported with what it was given
        shape = f"{len(value)} texts" if text else f"a tensor of shape {tuple(value.shape)} {value.dtype}"
        raise ExtractionError(f"preprocess {name} failed on {shape}: {type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:300]}", source="preprocess",
                              fix="check that preprocess accepts what the stimuli hold") from exc
    if not text and not isinstance(out, torch.Tensor):  # a tokenizer's output goes to the model as it is
        raise ConfigError(f"preprocess {name} returned a {type(out).__name__}, not a tensor", source="preprocess",
                          fix="return a torch.Tensor")
    return out


def _as_tensor(item: Any, *, batched: bool, dtype: torch.dtype) -> torch.Tensor:
    """Content → tensor: uint8 pixels are scaled to [0, 1] and put channels-first."""
    if isinstance(item, torch.Tensor):
        tensor = item
    else:
        array = np.asarray(item)
        if array.dtype == object:
            raise ConfigError(f"a stimulus is an array of Python objects ({array.shape})", source="stimuli",
                              fix="pass numeric arrays of one shape, or files")
        if not array.flags.writeable:  # Pillow and read-only memory maps
            array = np.array(array)
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.dtype == torch.uint8:
        tensor = _channels_first(tensor, batched).to(dtype) / 255.0
    return tensor.to(dtype)


def _channels_first(pixels: torch.Tensor, batched: bool) -> torch.Tensor:
    image_ndim = pixels.ndim - int(batched)
    if image_ndim == 2:
        return pixels.unsqueeze(-3)
    if image_ndim == 3:
        if pixels.shape[-1] in (1, 3, 4):
            return pixels.movedim(-1, -3)
        if pixels.shape[-3] in (1, 3, 4):
            return pixels
    raise ConfigError(f"cannot read uint8 stimuli of shape {tuple(pixels.shape)} as images", source="stimuli",
                      fix="pass (H, W), (H, W, C) or (C, H, W) uint8 images, or float arrays ready for the model")


def _numpy(item: Any) -> np.ndarray:
    return item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else np.asarray(item)


def _hash_item(item: Any) -> str:
    array = _numpy(item)
    digest = content_digest(f"{array.dtype.str}{array.shape}".encode())
    digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return digest.hexdigest()


def _read_image(path: Path) -> np.ndarray:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:  # pragma: no cover - Pillow ships with matplotlib
        raise DependencyError("Pillow is needed to read image files", source=str(path),
                              fix="pip install pillow") from exc
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("L", "RGB"):
                return np.asarray(image)
            if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                return np.asarray(image.convert("F"))
            return np.asarray(image.convert("L" if image.mode in ("1", "LA") else "RGB"))
    except FileNotFoundError:
        raise FileFormatError("file not found", source=str(path), fix="check the stimulus paths") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise FileFormatError(f"cannot read it as an image ({exc})", source=str(path),
                              fix="pass image files Pillow can open (PNG, JPEG, ...)") from exc


# ------------------------------------------------------------------ checks of what a set is built from


def _sequence(values: Any, source: str) -> list[Any]:
    """``values`` as a list; one value (a string, a number, None) or a table of them raises."""
    if isinstance(values, (str, bytes, os.PathLike)) or not isinstance(values, Iterable) \
            or (isinstance(values, (np.ndarray, torch.Tensor)) and values.ndim != 1):
        shape = f" of shape {tuple(values.shape)}" if isinstance(values, (np.ndarray, torch.Tensor)) else ""
        raise SchemaError(f"{source} is a {type(values).__name__}{shape}, not a sequence of one value per stimulus",
                          source=source, fix=f"pass a list, e.g. {source}=[...]")
    return list(values)


def _check_ids(ids: list[Any]) -> list[Any]:
    """Ids are non-empty text or integers, not both (1 and "1" would be one id in a store or a file)."""
    for value in ids:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (str, int, np.integer)):
            raise SchemaError(f"stimulus id {value!r} is a {type(value).__name__}; ids are text or integers",
                              source="stimulus_ids",
                              fix="give every stimulus a text or integer id (a missing id cannot be aligned)")
        if isinstance(value, str) and not value:
            raise SchemaError("a stimulus id is empty text", source="stimulus_ids",
                              fix="give every stimulus a non-empty id")
    text = [isinstance(v, str) for v in ids]
    if any(text) and not all(text):
        number = ids[text.index(False)]
        raise SchemaError(f"stimulus ids mix text and integers (e.g. {number!r} and {ids[text.index(True)]!r})",
                          source="stimulus_ids", fix=f"use text for all of them, e.g. {str(number)!r}")
    return ids


def _check_metadata_column(name: Any, column: pd.Series) -> None:
    """A metadata column holds numbers or booleans (NaN allowed), or text: one value type per column."""
    if column.dtype.kind in "biuf":
        return
    kinds = {_value_kind(v) for v in column}
    if None in kinds:
        odd = next(v for v in column if _value_kind(v) is None)
        raise SchemaError(f"metadata column {name!r} holds a {type(odd).__name__} ({odd!r})", source=str(name),
                          fix="give metadata as text, numbers or booleans")
    if "text" in kinds and len(kinds) > 1:
        row = next(i for i, v in enumerate(column) if _value_kind(v) != "text")
        raise SchemaError(f"metadata column {name!r} mixes text with other values (row {row}: {column.iloc[row]!r})",
                          source=str(name), fix="make every value text (e.g. 'n/a' for a missing one), or every "
                          "value a number (NaN for a missing one)")


def _value_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "text"
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        return "number"
    return None


def _check_arrays(content: Any, ids: pd.Index) -> None:
    """Every array stimulus holds real numbers (complex, text and dates would be cast or fail), and some."""
    if isinstance(content, (np.ndarray, torch.Tensor)):
        _check_array(content, "the stimuli", batched=True)
        return
    for stimulus_id, item in zip(ids, content):
        _check_array(item, f"stimulus {stimulus_id!r}", batched=False)


def _check_array(item: Any, where: str, *, batched: bool) -> None:
    if isinstance(item, torch.Tensor):
        if item.is_meta:
            raise SchemaError(f"{where} are a meta tensor, which holds no values", source="stimuli",
                              fix="pass tensors with data (on the CPU or a GPU)")
        kind = "c" if item.is_complex() else "f" if item.is_floating_point() else "b" if item.dtype == torch.bool \
            else "i" if not item.is_quantized else "q"
        dtype, shape = str(item.dtype), tuple(item.shape)
    else:
        try:
            array = np.asarray(item)
        except ValueError as exc:  # ragged nested lists
            raise SchemaError(f"{where} cannot be read as an array ({exc})", source="stimuli",
                              fix="pass numeric arrays of one shape per stimulus") from exc
        kind, dtype, shape = array.dtype.kind, str(array.dtype), array.shape
    if kind not in "biuf":
        what = "complex numbers (the imaginary part would be dropped)" if kind == "c" else f"{dtype} values"
        raise SchemaError(f"{where} hold {what}, not real numbers", source="stimuli",
                          fix="pass real-valued (float, integer, uint8 image or boolean) arrays")
    if int(np.prod(shape[1:] if batched else shape)) == 0 and (not batched or shape[0]):
        raise SchemaError(f"{where} have no values (shape {shape})", source="stimuli",
                          fix="pass non-empty arrays")


def _check_texts(texts: Sequence[Any]) -> None:
    for value in texts:
        if not isinstance(value, str):
            raise SchemaError(f"a text stimulus is a {type(value).__name__} ({value!r})", source="texts",
                              fix="pass one string per stimulus (convert others with str() if that is meant)")
