"""Reading study files: YAML, includes, relative paths, ``--set`` overrides, bundled studies.

:func:`load_study` reads a study file with ``yaml.safe_load``, merges the files
it ``include``\\ s, makes the paths it declares absolute (each against the
folder of the file that declares it), applies ``--set key.path=value``
overrides and checks the result against :class:`~.study_schema.StudyConfig`.
Every problem is one :class:`~neuroalign.errors.ConfigError` (or
:class:`~neuroalign.errors.UnknownNameError`, with the close matches) whose
source is ``"<file> (<key.path>)"``.

Examples
--------
>>> import tempfile, pathlib
>>> from neuroalign.pipelines.study_files import load_study
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "study.yaml").write_text('''
... name: tiny
... stimuli: {synthetic: {loader: synthetic_stimuli}}
... data: {brain: {file: brain.nc}}
... models: {net: {factory: "neuroalign.models:ReferenceNet", layers: [fc]}}
... analyses:
...   - {name: rsa, kind: rsa, model: net, stimuli: synthetic, brain: brain}
... ''')
>>> study = load_study(folder / "study.yaml", ["analyses.0.params.n_bootstrap=50"])
>>> study.analyses[0].params.n_bootstrap
50
>>> study.data["brain"].file == str(folder / "brain.nc")
True
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ConfigError, FileFormatError, NeuroalignError, UnknownNameError
from .study_catalog import bundled_studies, find_study, list_studies
from .study_keys import field_info, key_schema, schema_child, valid_keys
from .study_schema import StudyConfig, loader_registry

__all__ = ["load_study", "study_from_dict", "apply_override", "resolved_yaml", "study_hash", "bundled_studies",
           "find_study", "list_studies"]

#: Loader arguments that hold paths (relative to the config file that declares them).
PATH_ARG = re.compile(r"^(path|paths|folder|file|.+_path)$")
#: Analysis params that hold paths (relative to the config file that declares them), by analysis kind.
PATH_PARAMS = {"graph_pretraining": ("timeseries", "labels"), "triplets": ("judgements", "stimulus_ids"),
               "spike_pretraining": ("nwb",)}
PATH_PARAMS_ANY = tuple(sorted({key for keys in PATH_PARAMS.values() for key in keys}))
_OVERRIDE = re.compile(r"^(?P<key>[^=\s][^=]*?)\s*=(?P<value>.*)$", re.DOTALL)


def load_study(path: str | os.PathLike, overrides: Iterable[str] = (), *, source: str | None = None) -> StudyConfig:
    """Read, merge, override and check a study file.

    Parameters
    ----------
    path : path-like
        The study file (YAML).
    overrides : iterable of str
        ``key.path=value`` items (the CLI's ``--set``), applied in order after
        the includes; values are read with ``yaml.safe_load`` (``3`` is an
        int, ``[a, b]`` a list); list items by index (``analyses.0.params.seed=1``).
        Relative paths in override values are relative to the current folder.
    source : str, optional
        How errors name the file (default: ``path`` as given).

    Returns
    -------
    StudyConfig

    Raises
    ------
    FileFormatError
        The file (or an included file) is missing, unreadable or not YAML.
    ConfigError, UnknownNameError
        The config breaks the schema, includes itself, or an override is malformed or names an unknown key.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuroalign.pipelines.study_files import load_study
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "base.yaml").write_text("seed: 7\\ndata: {brain: {loader: synthetic_brain}}\\n")
    >>> _ = (folder / "study.yaml").write_text('''
    ... include: [base.yaml]
    ... name: tiny
    ... data: {candidates: {file: rdms.nc}}
    ... analyses: [{name: models, kind: rsa_models, brain: brain, candidates: [candidates]}]
    ... ''')
    >>> study = load_study(folder / "study.yaml")
    >>> study.seed, sorted(study.data), study.analyses[0].params.seed
    (7, ['brain', 'candidates'], 7)
    """
    path = Path(path)
    label = source or str(path)
    tree = _read_tree(path, label, chain=())
    for text in overrides:
        apply_override(tree, text, source=label, base_dir=Path.cwd())
    return _validate(tree, label, list(overrides))


def study_from_dict(mapping: Mapping[str, Any], *, source: str, base_dir: str | os.PathLike,
                    overrides: Iterable[str] = ()) -> StudyConfig:
    """Check a study built in code, as :func:`load_study` checks a file.

    Parameters
    ----------
    mapping : mapping
        The config, as a study file would hold it (``include`` allowed).
    source : str
        How errors name it (e.g. ``"neuroalign score"``).
    base_dir : path-like
        The folder that relative paths (and includes) are relative to.
    overrides : iterable of str
        ``key.path=value`` items, as for :func:`load_study`.

    Examples
    --------
    >>> from neuroalign.pipelines.study_files import study_from_dict
    >>> study = study_from_dict({"name": "x", "data": {"rdms": {"file": "rdms.nc"}, "brain": {"file": "b.nc"}},
    ...                          "analyses": [{"name": "a", "kind": "rsa_models", "brain": "brain",
    ...                                        "candidates": ["rdms"]}]}, source="code", base_dir="/data")
    >>> study.data["rdms"].file
    '/data/rdms.nc'
    """
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"a study config is a mapping of keys to values, got a {type(mapping).__name__}",
                          source=source, fix="pass a dict such as {'name': ..., 'analyses': [...]}")
    tree = _resolve_tree(copy.deepcopy(dict(mapping)), Path(base_dir), source, chain=(source,))
    for text in overrides:
        apply_override(tree, text, source=source, base_dir=Path.cwd())
    return _validate(tree, source, list(overrides))


def apply_override(tree: dict[str, Any], text: str, *, source: str, base_dir: str | os.PathLike) -> None:
    """Apply one ``key.path=value`` override to a raw config mapping, in place.

    The key path follows the schema: an unknown key is an
    :class:`~neuroalign.errors.UnknownNameError` with the close matches;
    missing mappings on the way are created.

    Examples
    --------
    >>> from neuroalign.pipelines.study_files import apply_override
    >>> tree = {"analyses": [{"name": "a", "kind": "rsa"}]}
    >>> apply_override(tree, "analyses.0.params.n_bootstrap=50", source="s.yaml", base_dir=".")
    >>> tree["analyses"][0]["params"]
    {'n_bootstrap': 50}
    """
    match = _OVERRIDE.match(text) if isinstance(text, str) else None
    parts = match.group("key").strip().split(".") if match else []
    if not match or not all(part.strip() for part in parts):
        raise ConfigError(f"malformed override {text!r}", source=f"{source} (--set {text})",
                          fix="write KEY.PATH=VALUE, e.g. --set analyses.0.params.n_bootstrap=50 or --set seed=1")
    parts = [part.strip() for part in parts]
    try:
        value = yaml.safe_load(match.group("value"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"the value of override {text!r} is not YAML ({' '.join(str(exc).split())})",
                          source=f"{source} (--set {text})",
                          fix="quote it, e.g. --set 'description=\"a: b\"'") from None
    where = f"{source} (--set {text})"
    node: Any = tree
    tp: Any = StudyConfig
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        key: Any = part
        if isinstance(node, list):
            if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
                raise ConfigError(f"{'.'.join(parts[:i]) or 'the config'} is a list of {len(node)} entries: "
                                  f"{part!r} is not one of its indexes", source=where,
                                  fix=f"use an index from 0 to {len(node) - 1}")
            key = int(part)
        elif isinstance(node, dict):
            fields = valid_keys(tp, node)
            if fields is not None and part not in fields:
                raise UnknownNameError(part, fields, what="key", source=where)
            if fields is None and part not in node and not last and tp is not Any:
                raise UnknownNameError(part, node, what=f"{'.'.join(parts[:i])} entry", source=where)
        else:
            raise ConfigError(f"{'.'.join(parts[:i])} is a {type(node).__name__}, not a mapping or list: "
                              f"it has no key {part!r}", source=where, fix="set the whole value instead")
        tp = schema_child(tp, part, node)
        if last:
            node[key] = _resolve(value, parts, base_dir)
        else:
            if isinstance(node, dict) and node.get(key) is None:  # a missing (or empty) mapping on the way
                node[key] = {}
            node = node[key]


def _resolve(value: Any, parts: list[str], base_dir: str | os.PathLike) -> Any:
    """An override's value, with the paths it holds made absolute against ``base_dir``."""
    wrapper: dict[str, Any] = {}
    cursor = wrapper
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    resolved = _absolute_paths(copy.deepcopy(wrapper), Path(base_dir))
    for part in parts:
        resolved = resolved[part]
    return resolved


def resolved_yaml(study: StudyConfig) -> str:
    """The resolved config as YAML (after includes, overrides and defaults): what ``<dir>/study.yaml`` holds.

    Reading it back with :func:`load_study` gives the same study.

    Examples
    --------
    >>> from neuroalign.pipelines.study_files import resolved_yaml, study_from_dict
    >>> study = study_from_dict({"name": "x", "data": {"b": {"file": "/b.nc"}, "m": {"file": "/m.nc"}},
    ...                          "analyses": [{"name": "a", "kind": "rsa_models", "brain": "b",
    ...                                        "candidates": ["m"]}]}, source="code", base_dir="/")
    >>> print(resolved_yaml(study).splitlines()[0])
    name: x
    """
    return yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def study_hash(study: StudyConfig) -> str:
    """A digest (sha256 hex) of the resolved config: equal for equal studies, whatever their files' layout.

    Examples
    --------
    >>> from neuroalign.pipelines.study_files import study_from_dict, study_hash
    >>> spec = {"name": "x", "data": {"b": {"file": "/b.nc"}, "m": {"file": "/m.nc"}},
    ...         "analyses": [{"name": "a", "kind": "rsa_models", "brain": "b", "candidates": ["m"]}]}
    >>> a = study_from_dict(spec, source="code", base_dir="/")
    >>> b = study_from_dict(spec, source="code", base_dir="/", overrides=["seed=1"])
    >>> len(study_hash(a)), study_hash(a) == study_hash(b)
    (64, False)
    """
    text = json.dumps(study.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# -- reading files -------------------------------------------------------------------------------------------------


def _read_mapping(path: Path, label: str) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise FileFormatError("study file not found", source=label,
                              fix="check the path, or pass a bundled study's name (neuroalign studies list)") from None
    except IsADirectoryError:
        raise FileFormatError("is a folder, not a study file", source=label,
                              fix="pass the YAML file (e.g. pipelines/demo.yaml)") from None
    except OSError as exc:
        raise FileFormatError(f"cannot read the study file ({exc.strerror or exc})", source=label,
                              fix="check the path and its permissions") from None
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"not a text file (byte {exc.start} is not UTF-8): a study is YAML text",
                              source=label, fix="pass the YAML study file (e.g. pipelines/demo.yaml)") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FileFormatError(f"not valid YAML ({' '.join(str(exc).split())})", source=label,
                              fix="fix the YAML syntax at the line it names") from None
    if loaded is None:
        raise FileFormatError("the study file is empty", source=label,
                              fix="write 'name: ...', 'analyses: [...]' and the other keys of a study")
    if not isinstance(loaded, dict):
        raise FileFormatError(f"a study file is a mapping of keys to values, this one holds a "
                              f"{type(loaded).__name__}", source=label,
                              fix="write 'name: ...', 'analyses: [...]' and the other keys, one per line")
    return loaded


def _read_tree(path: Path, label: str, chain: tuple[str, ...]) -> dict[str, Any]:
    here = str(path.resolve())
    if here in chain:
        cycle = " -> ".join(list(chain[chain.index(here):]) + [here])
        raise ConfigError(f"include cycle: {cycle}", source=f"{label} (include)",
                          fix="remove one of these includes")
    return _resolve_tree(_read_mapping(path, label), path.resolve().parent, label, chain + (here,))


def _resolve_tree(tree: dict[str, Any], base: Path, label: str, chain: tuple[str, ...]) -> dict[str, Any]:
    """A file's mapping with its paths made absolute and its includes merged under it."""
    includes = tree.pop("include", None) or []
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(item, str) for item in includes):
        raise ConfigError(f"include must be a list of file paths, got {includes!r}", source=f"{label} (include)",
                          fix="write e.g. 'include: [base.yaml]'")
    tree = _absolute_paths(tree, base)
    merged: dict[str, Any] = {}
    for i, item in enumerate(includes):
        target = (base / Path(item).expanduser())
        if not target.is_file():
            raise FileFormatError(f"included file {str(target)!r} not found", source=f"{label} (include[{i}])",
                                  fix="include paths are relative to the including file: check the path")
        merged = _merge(merged, _read_tree(target, f"{label} (include[{i}]: {item})", chain))
    return _merge(merged, tree)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of mappings, ``over`` winning; lists and other values are replaced whole."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _absolute_paths(tree: Any, base: Path) -> Any:
    """``tree`` with the values of its path keys made absolute against ``base``.

    The path keys: ``stimuli.*.folder``, ``stimuli.*.table``, ``data.*.file``,
    ``models.*.weights``, the file of a ``path/file.py:callable`` factory, and
    loader ``args`` named ``path``, ``paths``, ``folder``, ``file`` or ``*_path``
    or declared by the loader (``Loader.path_args`` of :mod:`.sources`), and the
    analysis params of :data:`PATH_PARAMS` (e.g. graph pretraining's ``timeseries``).
    """
    if not isinstance(tree, dict):
        return tree

    def fix(value: Any) -> Any:
        if isinstance(value, str) and value and "://" not in value:
            path = Path(value).expanduser()
            return value if path.is_absolute() else os.path.normpath(base / path)
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    for section, keys in (("stimuli", ("folder", "table")), ("data", ("file",)), ("models", ("weights",))):
        entries = tree.get(section)
        if not isinstance(entries, dict):
            continue
        for entry in entries.values():
            if not isinstance(entry, dict):
                continue
            for key in keys:
                if key in entry:
                    entry[key] = fix(entry[key])
            if section == "models" and isinstance(entry.get("factory"), str):
                module, sep, name = entry["factory"].rpartition(":")
                if sep and module.endswith(".py"):
                    entry["factory"] = f"{fix(module)}:{name}"
            if isinstance(entry.get("args"), dict) and section != "models":
                declared = _path_args(section, entry.get("loader"))
                for arg, value in entry["args"].items():
                    if PATH_ARG.match(str(arg)) or arg in declared:
                        entry["args"][arg] = fix(value)
    analyses = tree.get("analyses")
    for entry in analyses.values() if isinstance(analyses, dict) else analyses if isinstance(analyses, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("params"), dict):  # a --set value has no kind
            for key in PATH_PARAMS.get(entry.get("kind"), () if "kind" in entry else PATH_PARAMS_ANY):
                if isinstance(entry["params"].get(key), str):
                    entry["params"][key] = fix(entry["params"][key])
    return tree


def _path_args(section: str, loader: Any) -> tuple[str, ...]:
    """The arguments a registered loader declares as paths (``Loader.path_args``)."""
    registry = loader_registry("DATA_LOADERS" if section == "data" else "STIMULUS_LOADERS")
    entry = registry.get(loader) if registry is not None and isinstance(loader, str) else None
    return tuple(getattr(entry, "path_args", ()))


# -- checking ------------------------------------------------------------------------------------------------------


def _validate(tree: dict[str, Any], label: str, overrides: list[str]) -> StudyConfig:
    try:
        return StudyConfig.model_validate(tree)
    except ValidationError as exc:
        raise _config_error(exc, tree, label, overrides) from None


def _key_path(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _config_error(exc: ValidationError, tree: dict[str, Any], label: str, overrides: list[str]) -> NeuroalignError:
    """One error out of pydantic's list: the first problem, in words, with the key path and a fix."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    inner = (first.get("ctx") or {}).get("error")
    key = _key_path(loc) or (inner.source if isinstance(inner, NeuroalignError) and inner.source else "")
    source = f"{label} ({key})" if key else label
    more = len({_key_path(e["loc"]) for e in errors[1:]} - {key})
    suffix = f" (and {more} more problem{'s' if more > 1 else ''}: fix this one first)" if more else ""
    hit = [o for o in overrides if key.replace("[", ".").replace("]", "").startswith(o.split("=")[0].strip())]
    if hit:
        suffix = f" (set by --set {hit[-1]})" + suffix
    if isinstance(inner, NeuroalignError):
        error = copy.copy(inner)
        error.source = source
        return _amended(error, suffix)
    if first["type"] == "extra_forbidden":
        valid = valid_keys(*key_schema(StudyConfig, tree, loc[:-1])) or []
        return _amended(UnknownNameError(str(loc[-1]), valid, what="key", source=source), suffix)
    if first["type"] == "literal_error" and isinstance(first["input"], str):  # a misspelt choice
        valid = re.findall(r"'([^']*)'", (first.get("ctx") or {}).get("expected", ""))
        return _amended(UnknownNameError(first["input"], valid, what=f"{loc[-1]}", source=source), suffix)
    message = first["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    if first["type"] == "missing":
        return ConfigError(f"required key {loc[-1]!r} is missing{suffix}", source=source,
                           fix=f"add '{loc[-1]}:' {_described(tree, loc)}".rstrip())
    got = "" if first["type"].startswith(("value_error", "assertion")) else f" (got {first['input']!r})"
    return ConfigError(f"{message}{got}{suffix}", source=source,
                       fix=f"correct the value of {key or 'the config'} {_described(tree, loc)}".rstrip())


def _amended(error: NeuroalignError, suffix: str) -> NeuroalignError:
    """``error`` with ``suffix`` added to its problem (and its message rebuilt)."""
    error.problem += suffix
    error.args = (error.one_line(),)
    return error


def _described(tree: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """``(<description of the field>)`` when the schema has one."""
    info = field_info(StudyConfig, tree, loc)
    return f"({info})" if info else ""
