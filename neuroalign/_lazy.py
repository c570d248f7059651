"""Public names of a package imported on first use (PEP 562), so importing the package stays fast."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose names live in the submodules ``where`` names.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    where : mapping
        Public name → the relative module that defines it (e.g. ``{"GraphSpec": ".spec"}``).

    Examples
    --------
    >>> from neuroalign._lazy import lazy_exports
    >>> getattr_, dir_ = lazy_exports("neuroalign.graphs", {"GraphSpec": ".spec"})
    >>> getattr_("GraphSpec").__name__
    'GraphSpec'
    """
    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name], package), name)
        setattr(sys.modules[package], name, value)  # imported once: later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__
