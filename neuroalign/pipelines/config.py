"""Reading study configs: YAML through ``yaml.safe_load``, checked against known keys."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, FileFormatError, UnknownNameError

__all__ = ["read_config"]


def read_config(path: str | os.PathLike, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Read a YAML config and merge it over ``defaults``.

    Every key must be one of ``defaults`` (a misspelt key raises with the close
    matches), and its value must have the default's type (ints are accepted
    where floats are expected; ``true``/``false`` only where a bool is).  Every
    error names the config file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuroalign.pipelines.config import read_config
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
    >>> _ = path.write_text("seed: 3\\n")
    >>> read_config(path, {"seed": 0, "out": "x"})
    {'seed': 3, 'out': 'x'}
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise FileFormatError("config file not found", source=str(path), fix="check the path") from None
    except IsADirectoryError:
        raise FileFormatError("is a folder, not a config file", source=str(path),
                              fix="pass the YAML file (e.g. pipelines/demo.yaml)") from None
    except OSError as exc:
        raise FileFormatError(f"cannot read the config file ({exc.strerror or exc})", source=str(path),
                              fix="check the path and its permissions") from None
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"not a text file (byte {exc.start} is not UTF-8): a config is YAML text",
                              source=str(path), fix="pass the YAML config (e.g. pipelines/demo.yaml)") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise FileFormatError(f"not valid YAML ({problem})", source=str(path), fix="fix the YAML syntax") from exc
    loaded = {} if loaded is None else loaded
    if not isinstance(loaded, Mapping):
        raise FileFormatError("the config is not a mapping of keys to values", source=str(path),
                              fix="write one 'key: value' per line")
    config = dict(defaults)
    for key, value in loaded.items():
        if key not in defaults:
            raise UnknownNameError(key, defaults, what="config key", source=str(path))
        expected = type(defaults[key])
        if not _fits(value, expected):
            raise ConfigError(f"{key} must be a {expected.__name__}, got {value!r}", source=str(path),
                              fix=f"set e.g. '{key}: {defaults[key]!r}'")
        config[key] = value
    return config


def _fits(value: Any, expected: type) -> bool:
    if isinstance(value, bool) != (expected is bool):  # YAML's true/false only where a bool is expected
        return False
    return isinstance(value, expected) or (expected is float and isinstance(value, int))


def merge_settings(settings: dict[str, Any], more: Mapping[str, Any], defaults: Mapping[str, Any],
                   source: str) -> dict[str, Any]:
    """``settings`` updated with ``more``, each key one of ``defaults`` and its value of the default's type.

    Path-like values of ``out`` become strings.  Errors name ``source`` (e.g.
    ``"overrides"``) and suggest close matches for an unknown key.

    Examples
    --------
    >>> from neuroalign.pipelines.config import merge_settings
    >>> merge_settings({"seed": 0, "out": "x"}, {"seed": 2}, {"seed": 0, "out": "x"}, "overrides")
    {'seed': 2, 'out': 'x'}
    """
    for key, value in more.items():
        if key not in defaults:
            raise UnknownNameError(key, defaults, what="setting", source=source)
        if key == "out" and isinstance(value, os.PathLike):
            value = os.fspath(value)
        expected = type(defaults[key])
        if not _fits(value, expected):
            raise ConfigError(f"{key} must be a {expected.__name__}, got {value!r}", source=source,
                              fix=f"pass e.g. {key}={defaults[key]!r}")
        settings[key] = value
    return settings


def resolve_settings(config: Any, overrides: Mapping[str, Any], defaults: Mapping[str, Any], *,
                     read: Callable[[Any], dict[str, Any]],
                     check: Callable[[dict[str, Any], str], dict[str, Any]]) -> dict[str, Any]:
    """A runner's settings: ``config`` (None, a mapping, or a file ``read`` reads) with ``overrides``, checked.

    Every key must be one of ``defaults``; ``check(settings, source)`` validates the values together and
    names ``source`` (the file, or ``"config"``) in its errors.

    Examples
    --------
    >>> from neuroalign.pipelines.config import resolve_settings
    >>> resolve_settings({"seed": 1}, {"out": "y"}, {"seed": 0, "out": "x"}, read=None,
    ...                  check=lambda values, source: values)
    {'seed': 1, 'out': 'y'}
    """
    if config is None or isinstance(config, Mapping):
        settings, source = merge_settings(dict(defaults), config or {}, defaults, "config"), "config"
    else:
        settings, source = read(config), str(config)
    return check(merge_settings(settings, overrides, defaults, "overrides"), source)
