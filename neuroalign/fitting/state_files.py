"""Files of the estimators: training checkpoints and saved models, without pickled objects.

A file is one dictionary of tensors, dictionaries, lists and plain values
(str, int, float, bool, None), written with :func:`torch.save` to a temporary
sibling and renamed into place (:func:`neuroalign.data.io.write_atomically`),
so a run killed while writing leaves the previous file intact; it is read
with ``torch.load(weights_only=True)``, which refuses anything else.  Every
file records its ``format``, ``version`` and ``kind`` (e.g.
``"pretrainer-checkpoint"``, ``"pretrainer-model"``).

A checkpoint is only resumed by the same training: :func:`check_same_training`
compares the saved configuration, graph spec and dataset identity (content
hash, ROI ids) with the current ones and names every difference.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..data.io import write_atomically
from ..errors import ConfigError, FileFormatError

__all__ = ["FORMAT", "SPIKES_FORMAT", "VERSION", "write_state", "read_state", "generator_states", "restore_generators",
           "history_to_dict", "history_from_dict", "differences", "check_same_training"]

FORMAT = "neuroalign.graphs"
#: The ``format`` of the spike estimators' files (masked and token models, baselines).
SPIKES_FORMAT = "neuroalign.spikes"
VERSION = 1


def write_state(path: str | os.PathLike, payload: Mapping[str, Any], *, kind: str, format: str = FORMAT) -> Path:
    """Write ``payload`` (tensors, dicts, lists, plain values) atomically to ``path`` as a file of ``kind``.

    ``format`` names the family whose estimator wrote it (``"neuroalign.graphs"``, ``"neuroalign.spikes"``).

    Examples
    --------
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from neuroalign.fitting.state_files import write_state, read_state
    >>> path = Path(tempfile.mkdtemp()) / "state.pt"
    >>> _ = write_state(path, {"weights": torch.ones(2)}, kind="example")
    >>> read_state(path, kind="example")["weights"]
    tensor([1., 1.])
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder", source=str(path), fix="pass a file name, e.g. pretraining.pt")
    state = {"format": format, "version": VERSION, "kind": kind, **payload}
    return write_atomically(path, lambda tmp: torch.save(state, tmp))


def read_state(path: str | os.PathLike, *, kind: str, writer: str = "neuroalign.graphs",
               format: str = FORMAT) -> dict[str, Any]:
    """The payload of a file of ``kind`` written by :func:`write_state` (read with ``weights_only=True``).

    Raises
    ------
    FileFormatError
        The file is missing, unreadable, holds pickled objects, is of another kind or another version.
        ``writer`` names what writes such files, for the message's fix.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError("no such file", source=str(path), fix="check the path")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, … for bad files
        raise FileFormatError(f"not a readable {kind} file ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})",
                              source=str(path), fix=f"pass a file written by {writer}") from None
    if not isinstance(state, dict) or state.get("format") != format:
        raise FileFormatError(f"not a {format} file", source=str(path), fix=f"pass a file written by {writer}")
    if state.get("kind") != kind:
        raise FileFormatError(f"a {state.get('kind')!r} file where a {kind!r} file was expected", source=str(path),
                              fix=f"pass a file written by {writer}")
    if state.get("version") != VERSION:
        raise FileFormatError(f"file version {state.get('version')!r}, this neuroalign reads {VERSION}",
                              source=str(path), fix="use the neuroalign version that wrote it")
    return state


def generator_states(generators: Mapping[str, torch.Generator]) -> dict[str, torch.Tensor]:
    """The state (a uint8 tensor) of each named ``torch.Generator``."""
    return {name: generator.get_state() for name, generator in generators.items()}


def restore_generators(generators: Mapping[str, torch.Generator], states: Mapping[str, torch.Tensor],
                       source: str) -> None:
    """Set each named generator to its saved state; FileFormatError if one is missing."""
    missing = sorted(set(generators) - set(states))
    if missing:
        raise FileFormatError(f"the file lacks the state of generator(s) {missing}", source=source,
                              fix="delete it to start over")
    for name, generator in generators.items():
        generator.set_state(states[name])


def history_to_dict(history: pd.DataFrame) -> dict[str, list]:
    """A history table as ``{column: list of values}`` (what a checkpoint can hold)."""
    return {str(column): history[column].tolist() for column in history.columns}


def history_from_dict(columns: Mapping[str, list]) -> pd.DataFrame:
    """The history table back from :func:`history_to_dict`, epochs as ints.

    Examples
    --------
    >>> import pandas as pd
    >>> from neuroalign.fitting.state_files import history_from_dict, history_to_dict
    >>> table = pd.DataFrame({"epoch": [1, 2], "loss": [0.5, 0.25]})
    >>> history_from_dict(history_to_dict(table)).equals(table)
    True
    """
    table = pd.DataFrame({column: list(values) for column, values in columns.items()})
    if "epoch" in table:
        table["epoch"] = table["epoch"].astype("int64")
    return table


def differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``"name: A in the file, B now"`` for every key whose values differ (or that only one side has).

    Examples
    --------
    >>> from neuroalign.fitting.state_files import differences
    >>> differences({"lr": 0.001, "hidden": 8}, {"lr": 0.01, "hidden": 8})
    ['lr: 0.001 in the file, 0.01 now']
    """
    out = []
    for key in sorted(set(saved) | set(current), key=str):
        a, b = saved.get(key, "<absent>"), current.get(key, "<absent>")
        if not _same(a, b):
            out.append(f"{key}: {_short(a)} in the file, {_short(b)} now")
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type; ints and floats compare by value (1 == 1.0), bools only with bools."""
    if isinstance(a, bool) or isinstance(b, bool) or not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        if type(a) is not type(b):
            return False
    return bool(a == b)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def check_same_training(saved: Mapping[str, Any], current: Mapping[str, Any], path: str | os.PathLike,
                        *, sections: Mapping[str, str]) -> None:
    """ConfigError naming every difference between a file's training and the current one.

    ``saved`` and ``current`` map section names (e.g. ``"config"``, ``"spec"``, ``"data"``) to dicts;
    ``sections`` maps each compared section to the words that describe it in the message.
    """
    found = []
    for section, words in sections.items():
        diff = differences(dict(saved.get(section) or {}), dict(current.get(section) or {}))
        if diff:
            found.append(f"{words} ({'; '.join(diff)})")
    if found:
        names = sorted({line.split(":", 1)[0] for section in sections
                        for line in differences(dict(saved.get(section) or {}), dict(current.get(section) or {}))})
        raise ConfigError(f"the checkpoint was written by another training: {', and '.join(found)}",
                          source=str(path),
                          fix=f"resume with the checkpoint's values of {', '.join(names)} (and the same dataset), "
                              f"or pass another checkpoint path (or delete the file) to start over")
