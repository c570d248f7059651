"""Stimulus sets: a table of stimulus ids, their content and their metadata."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data.schema import STIMULUS_ID
from ..errors import ConfigError, SchemaError

__all__ = ["StimulusSet"]


class StimulusSet:
    """Stimuli to show a model: unique ids, content, and metadata columns.

    Build one with :meth:`from_arrays`.  Iterating with :meth:`batches` yields
    ``(ids, tensor)`` pairs in the set's order.

    Parameters
    ----------
    stimulus_ids : sequence
        Unique id of each stimulus (the ids the brain data use).
    content : sequence of array_like
        One array or tensor per stimulus (e.g. a C×H×W image).
    metadata : pandas.DataFrame, optional
        One row per stimulus; columns become ``presentation`` coordinates.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.extract import StimulusSet
    >>> s = StimulusSet.from_arrays(["a", "b"], np.zeros((2, 3, 8, 8)), category=["x", "y"])
    >>> len(s), s.metadata.category.tolist()
    (2, ['x', 'y'])
    """

    def __init__(self, stimulus_ids: Sequence[Any], content: Sequence[Any], metadata: pd.DataFrame | None = None):
        ids = pd.Index(list(stimulus_ids), name=STIMULUS_ID)
        if not ids.is_unique:
            dup = ids[ids.duplicated()].unique()[:3].tolist()
            raise SchemaError(f"stimulus ids are not unique (e.g. {dup})", source="stimulus_ids",
                              fix="give every stimulus its own id")
        if len(content) != len(ids):
            raise SchemaError(f"{len(content)} stimuli for {len(ids)} ids", source="stimuli",
                              fix="pass one content item per stimulus id")
        metadata = pd.DataFrame(index=range(len(ids))) if metadata is None else metadata.reset_index(drop=True)
        if len(metadata) != len(ids):
            raise SchemaError(f"metadata has {len(metadata)} rows for {len(ids)} stimuli", source="metadata",
                              fix="pass one metadata row per stimulus")
        self.stimulus_ids = ids
        self.content = content
        self.metadata = metadata

    @classmethod
    def from_arrays(cls, stimulus_ids: Sequence[Any], arrays: Any, **metadata: Sequence[Any]) -> "StimulusSet":
        """Stimuli given as arrays or tensors (one per id, or stacked on axis 0).

        Keyword arguments are metadata columns, one value per stimulus.
        """
        if isinstance(arrays, (np.ndarray, torch.Tensor)):
            content = arrays
        else:
            content = list(arrays)
        for key, column in metadata.items():
            if len(column) != len(stimulus_ids):
                raise SchemaError(f"metadata column {key!r} has {len(column)} values for "
                                  f"{len(stimulus_ids)} stimuli", source=key, fix="pass one value per stimulus")
        return cls(stimulus_ids, content, pd.DataFrame({k: list(v) for k, v in metadata.items()}))

    def __len__(self) -> int:
        return len(self.stimulus_ids)

    def __repr__(self) -> str:
        columns = ", ".join(self.metadata.columns) or "none"
        return f"StimulusSet({len(self)} stimuli, metadata: {columns})"

    def batches(self, batch_size: int, *, dtype: torch.dtype = torch.float32) -> Iterator[tuple[slice, torch.Tensor]]:
        """Yield ``(rows, tensor)`` for consecutive batches of the set."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {batch_size}", source="batch_size",
                              fix="pass batch_size >= 1")
        for start in range(0, len(self), batch_size):
            rows = slice(start, min(start + batch_size, len(self)))
            yield rows, self._tensor(rows, dtype)

    def _tensor(self, rows: slice, dtype: torch.dtype) -> torch.Tensor:
        items = self.content[rows]
        if isinstance(items, torch.Tensor):
            return items.to(dtype)
        if isinstance(items, np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(items)).to(dtype)
        return torch.stack([torch.as_tensor(np.asarray(item)).to(dtype) for item in items])
