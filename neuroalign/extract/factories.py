"""Model factories named by a string: ``"package.module:factory"`` or ``"path/to/file.py:factory"``.

The module part is imported like ``python -m`` would: an installed module, or
one in the current folder (no ``PYTHONPATH`` needed).  A part that ends in
``.py`` or contains a path separator is a file, executed as a module named
after it; its own folder is on ``sys.path`` while it runs, so it can import
the files next to it.

Before the factory is called, its keyword arguments are checked against its
signature: an unknown name raises with the close matches, and a value whose
type contradicts a simple annotation (``int``, ``float``, ``bool``, ``str``)
raises before the factory runs.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import os
import sys
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from torch import nn

from ..data.provenance import content_digest
from ..errors import ConfigError, NeuroalignError, UnknownNameError

__all__ = ["load_factory_model", "resolve_factory", "check_factory_kwargs"]

_SIMPLE_TYPES = (bool, int, float, str)


def load_factory_model(spec: str, kwargs: Mapping[str, Any]) -> nn.Module:
    """Resolve ``spec``, check ``kwargs`` against the factory's signature, call it, check the result."""
    factory = resolve_factory(spec)
    check_factory_kwargs(factory, kwargs, spec=spec)
    try:
        model = factory(**kwargs)
    except NeuroalignError:
        raise
    except SystemExit as exc:  # sys.exit() or argparse in the user's code would end the program without a word
        raise _exited(spec, exc) from exc
    except Exception as exc:  # the user's code: any failure is reported with the call that made it
        arguments = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise ConfigError(f"{spec}({arguments}) raised {type(exc).__name__}: {exc}", source="model",
                          fix="check the model arguments against the factory's signature and code") from exc
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{spec!r} returned a {type(model).__name__}, not a torch.nn.Module", source="model",
                          fix="point at a factory that returns an nn.Module")
    return model


def resolve_factory(spec: str) -> Any:
    """The callable named by ``"package.module:factory"`` or ``"path/to/file.py:factory"``.

    Raises
    ------
    ConfigError
        The spec is malformed, the module or file cannot be imported, or the target is not callable.
    UnknownNameError
        The module has no such attribute (the message lists close matches).

    Examples
    --------
    >>> from neuroalign.extract.factories import resolve_factory
    >>> resolve_factory("neuroalign.models:ReferenceNet").__name__
    'ReferenceNet'
    """
    if os.path.exists(spec) and not _is_file_spec(spec.rpartition(":")[0]):
        raise ConfigError(f"{spec!r} is a file; a weights file cannot build a model by itself", source="model",
                          fix="pass the architecture as 'package.module:factory' or 'file.py:factory' and the "
                              "file as weights=")
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise ConfigError(f"model spec {spec!r} is not 'package.module:factory' or 'path/to/file.py:factory'",
                          source="model", fix="write e.g. 'neuroalign.models:ReferenceNet' or './mynet.py:Net'")
    module = _import_file(Path(module_name)) if _is_file_spec(module_name) else _import_module(module_name)
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(target) if not n.startswith("_")]
            raise UnknownNameError(part, names, what=f"attribute of {module_name}", source="model")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"{spec!r} is not callable", source="model", fix="point at a class or a function")
    return target


def check_factory_kwargs(factory: Any, kwargs: Mapping[str, Any], *, spec: str = "model") -> None:
    """Raise unless every keyword argument is accepted by ``factory`` with a value of a plausible type.

    Raises
    ------
    UnknownNameError
        A name is not a parameter of the factory (and it takes no ``**kwargs``).
    ConfigError
        A value contradicts a simple annotation (``seed: int`` given ``"abc"``).

    Examples
    --------
    >>> from neuroalign.extract.factories import check_factory_kwargs
    >>> from neuroalign.models import ReferenceNet
    >>> check_factory_kwargs(ReferenceNet, {"sed": 0}, spec="ReferenceNet")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    neuroalign.errors.UnknownNameError: ReferenceNet: unknown model argument 'sed'. Fix: did you mean 'seed'? ...
    """
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return
    parameters = signature.parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    named = [n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    hints = _type_hints(factory)
    for key, value in kwargs.items():
        if key not in named:
            if takes_any:
                continue
            raise UnknownNameError(key, named, what="model argument", source=spec)
        allowed = _simple_types(hints.get(key, parameters[key].annotation))
        if allowed and not _matches(value, allowed):
            names = " or ".join(t.__name__ for t in allowed)
            raise ConfigError(f"model argument {key!r} must be {names}, got {value!r} (a {type(value).__name__})",
                              source=spec, fix=f"pass e.g. {key}={_example(allowed[0])}")


def _names_module(name: str, missing: str | None) -> bool:
    """Whether the module that was not found is ``name`` or a package above it."""
    return bool(missing) and (name == missing or name.startswith(f"{missing}."))


def _is_file_spec(module_part: str) -> bool:
    return module_part.endswith(".py") or "/" in module_part or os.sep in module_part


@contextlib.contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def _import_module(name: str) -> types.ModuleType:
    top = name.split(".")[0]
    local = any(p.is_file() for p in (Path.cwd() / f"{top}.py", Path.cwd() / top / "__init__.py"))
    try:
        return _run_import(lambda: importlib.import_module(name), name)
    except _NotFound as exc:
        if not local:
            raise exc.error from exc.__cause__
    with _on_path(Path.cwd()):  # a module in the current folder, as `python -m` finds it
        try:
            return _run_import(lambda: importlib.import_module(name), name)
        except _NotFound as exc:
            raise exc.error from exc.__cause__


class _NotFound(Exception):
    """The module itself (not one it imports) was not found."""

    def __init__(self, error: ConfigError):
        super().__init__(str(error))
        self.error = error


def _import_file(path: Path) -> types.ModuleType:
    if not path.is_file():
        raise ConfigError(f"model file {str(path)!r} not found", source="model",
                          fix="check the path before ':' (e.g. './mynet.py:Net')")
    if path.suffix != ".py":
        raise ConfigError(f"model file {str(path)!r} is not a .py file", source="model",
                          fix="point at the Python file that defines the factory ('path/to/file.py:Net')")
    resolved = path.resolve()
    name = path.stem if path.stem.isidentifier() else "model_file"
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) != str(resolved):
        name = f"{name}_{content_digest(str(resolved).encode()).hexdigest()[:12]}"  # another module has the name
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {str(path)!r} as a module", source="model",
                          fix="point at a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # classes and dataclasses look their module up here

    def run() -> types.ModuleType:
        # compiled from the file as it is now: a cached .pyc can be stale when a file is edited within a second
        exec(compile(resolved.read_bytes(), str(resolved), "exec", dont_inherit=True), module.__dict__)
        return module

    try:
        with _on_path(resolved.parent):  # its neighbours, as `python path/to/file.py` has them
            return _run_import(run, str(path))
    except BaseException:
        sys.modules.pop(name, None)
        raise


def _run_import(load: Any, name: str) -> types.ModuleType:
    try:
        return load()
    except NeuroalignError:
        raise
    except ModuleNotFoundError as exc:
        if _names_module(name, exc.name):
            raise _NotFound(ConfigError(
                f"cannot import module {name!r} ({exc})", source="model",
                fix="check the module path; a module of your own can be a file in the current folder "
                    "or 'path/to/file.py:factory'")) from exc
        raise _import_failed(name, exc) from exc
    except Exception as exc:  # the module's own code failed while it was imported
        raise _import_failed(name, exc) from exc
    except SystemExit as exc:  # e.g. argparse or sys.exit() at the top level of a training script
        raise _exited(f"importing {name}", exc) from exc


def _exited(what: str, exc: SystemExit) -> ConfigError:
    return ConfigError(f"{what} called sys.exit({exc.code!r})", source="model",
                       fix="keep code that parses arguments or exits under `if __name__ == \"__main__\":` in the "
                           "model's file")


def _import_failed(name: str, exc: Exception) -> ConfigError:
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return ConfigError(f"{name} cannot import {exc.name!r} ({exc})", source="model",
                           fix=f"install the package that provides {exc.name!r}")
    where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
    return ConfigError(f"importing {name} failed{where}: {type(exc).__name__}: {exc}", source="model",
                       fix="fix the error in the model's module (run with --debug for the traceback)")


def _type_hints(factory: Any) -> dict[str, Any]:
    target = factory.__init__ if isinstance(factory, type) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable string annotations: check only what inspect already resolved
        return {}


def _simple_types(annotation: Any) -> tuple[type, ...]:
    """The types an annotation allows, when it is made of int/float/bool/str/None only; else ``()``."""
    if annotation in _SIMPLE_TYPES:
        return (annotation,)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        if all(m in _SIMPLE_TYPES or m is type(None) for m in members):
            return tuple(members)
    return ()


def _matches(value: Any, allowed: tuple[type, ...]) -> bool:
    for kind in allowed:
        if kind is type(None) and value is None:
            return True
        if kind is bool and isinstance(value, bool):
            return True
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if kind is str and isinstance(value, str):
            return True
    return False


def _example(kind: type) -> str:
    return {bool: "true", int: "1", float: "0.5", str: "name"}.get(kind, "...")
