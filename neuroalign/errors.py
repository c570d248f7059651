"""The exception hierarchy of neuroalign.

Every error names three things: the input at fault (a file, an argument or an
array), the problem, and the fix.  The command line prints exactly that, on one
line, and exits with status 2.

Examples
--------
>>> from neuroalign.errors import SchemaError
>>> err = SchemaError("coordinate 'stimulus_id' is missing", source="brain.nc",
...                   fix="add it with array.assign_coords(stimulus_id=('presentation', ids))")
>>> print(err)
brain.nc: coordinate 'stimulus_id' is missing. Fix: add it with array.assign_coords(stimulus_id=('presentation', ids))
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "NeuroalignError",
    "DataError",
    "SchemaError",
    "AlignmentError",
    "ConfigError",
    "UnknownNameError",
    "FileFormatError",
    "DependencyError",
    "ExtractionError",
    "ScoreError",
    "StoreError",
    "SchedulerError",
]


class NeuroalignError(Exception):
    """Base class of every error neuroalign raises on purpose.

    Parameters
    ----------
    problem : str
        What is wrong, in one sentence without a final full stop.
    source : str, optional
        The file, argument or array at fault.
    fix : str, optional
        What the user should do about it.
    """

    def __init__(self, problem: str, *, source: str | None = None, fix: str | None = None):
        self.problem = problem.rstrip(". ")
        self.source = None if source is None else str(source)
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message as the command line prints it: source, problem, fix."""
        text = f"{self.source}: {self.problem}" if self.source else self.problem
        if self.fix:
            text += f". Fix: {self.fix}"
        return text

    def __reduce__(self):  # keep the keyword arguments through copy/multiprocessing
        return (_rebuild, (type(self), self.problem, self.source, self.fix))


def _rebuild(cls, problem, source, fix):
    return cls(problem, source=source, fix=fix)


class DataError(NeuroalignError, ValueError):
    """The values of an array are unusable (NaN or inf, too few samples, constant)."""


class SchemaError(NeuroalignError, ValueError):
    """An array does not follow the data model of ``docs/data-model.md``."""


class AlignmentError(NeuroalignError, ValueError):
    """Two inputs cannot be matched: arrays on ``stimulus_id``, an atlas and an
    image on their voxel grid, stacked series on TR or neuroids."""


class ConfigError(NeuroalignError, ValueError):
    """An argument or configuration value is invalid."""


class UnknownNameError(ConfigError, KeyError):
    """A name (method, layer, dataset) is not one of the valid choices.

    The message lists the closest valid names.
    """

    def __init__(self, name: str, valid: Iterable[str], *, what: str = "name", source: str | None = None):
        valid = sorted(str(v) for v in valid)
        close = difflib.get_close_matches(str(name), valid, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        shown = ", ".join(repr(v) for v in valid[:40]) + (" …" if len(valid) > 40 else "")
        super().__init__(
            f"unknown {what} {name!r}",
            source=source or what,
            fix=f"{hint}valid choices are {shown}",
        )
        self.name = name
        self.valid = valid

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.one_line()

    def __reduce__(self):
        return (Exception.__new__, (type(self),), self.__dict__)


class FileFormatError(NeuroalignError, OSError):
    """A file is missing, truncated, corrupt or not in the expected format."""


class DependencyError(NeuroalignError, ImportError):
    """An optional package needed for this feature is not installed."""


class ExtractionError(NeuroalignError, RuntimeError):
    """Activations could not be extracted from a model."""


class ScoreError(NeuroalignError, ValueError):
    """A score cannot be computed or ceiled meaningfully (it would be NaN)."""


class StoreError(NeuroalignError, OSError):
    """A results store cannot be used: written by another version of neuroalign, or not a store."""


class SchedulerError(NeuroalignError, RuntimeError):
    """A Dask scheduler cannot run a study: unreachable, or its workers cannot import what the study needs."""
