"""A model's fingerprint: a digest of everything that can change its outputs.

The activation cache (:mod:`.cache`) is keyed by this digest, so it must
change whenever the outputs can.  It covers, for every module of the tree in
order (its name, its place and its children):

* its **class**, described by the bytecode (not the source text, which can
  differ from what runs) of every function the class defines, their default
  and closure values, and every global they read (constants, helper
  functions, other classes, recursively); code of installed packages (torch,
  transformers…) and the standard library is identified by the package
  version instead;
* its **configuration**: every non-tensor attribute in its ``__dict__``
  (strides, padding modes, slopes, bounds, ``eps``, ``inplace`` flags, dims,
  functions and lambdas stored as attributes…);
* every **parameter and buffer**, non-persistent buffers included, by dtype,
  shape and content;
* its forward (pre-)hooks, and torch's global module hooks.

The training flag is left out (extraction runs in eval mode), and so are
backward and ``state_dict`` hooks.  Anything that cannot be described
reliably (an object of a C extension type, an open file, a compiled module)
is reported in :attr:`ModelFingerprint.undescribed`; a cache must then be
bypassed rather than risk a stale hit.  An object describes itself with a
``spec()`` method or a ``cache_key`` attribute (as preprocessing callables do).

Cost: one pass over the weights at memory speed (xxh3-128) plus a walk over
the model's code: about 22 ms for a ResNet-18 (11.7 M parameters), of which
10 ms hash the weights.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import importlib.metadata
import json
import logging
import os
import site
import sys
import sysconfig
import types
import uuid
import weakref
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from ..data.provenance import content_digest

__all__ = ["ModelFingerprint", "model_fingerprint", "model_hash", "describe_function"]

#: ``nn.Module`` bookkeeping that cannot change the outputs of a forward pass in eval mode, or is described apart.
_MODULE_INTERNALS = frozenset({
    "training", "_parameters", "_buffers", "_modules", "_non_persistent_buffers_set",
    "_backward_pre_hooks", "_backward_hooks", "_is_full_backward_hook",
    "_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
    "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs",
    "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks",
})
#: Class attributes that never change what the code computes.
_CLASS_SKIP = frozenset({"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__annotations__",
                         "__firstlineno__", "__static_attributes__", "__orig_bases__", "__parameters__",
                         "__abstractmethods__", "_abc_impl", "__slotnames__", "__dataclass_fields__",
                         "__dataclass_params__"})
_SCALARS = (type(None), bool, int, str)
_TORCH_VALUES = (torch.dtype, torch.device, torch.Size, torch.memory_format, torch.layout)
_MAX_DEPTH = 100
_PLAIN_TENSORS = (torch.Tensor, nn.Parameter) + ((nn.parameter.Buffer,) if hasattr(nn.parameter, "Buffer") else ())


class ModelFingerprint(NamedTuple):
    """The digest of a model and the parts of it that could not be described.

    Attributes
    ----------
    digest : str
        32 hex digits.  When ``undescribed`` is not empty it includes a random
        token, so it matches no other digest.
    undescribed : tuple of str
        Where the model holds something that cannot be described reliably
        (``"<module path>.<attribute>: <type>"``); empty when the digest is reliable.
    """

    digest: str
    undescribed: tuple[str, ...]

    @property
    def reliable(self) -> bool:
        """Whether the digest identifies everything that can change the outputs."""
        return not self.undescribed


class _Undescribable(Exception):
    """Raised inside a description; caught where the path of the part is known."""


def model_fingerprint(model: nn.Module) -> ModelFingerprint:
    """Describe a model (see the module docstring) and digest the description.

    Examples
    --------
    >>> from torch import nn
    >>> from neuroalign.extract.fingerprint import model_fingerprint
    >>> a = model_fingerprint(nn.Sequential(nn.LeakyReLU(0.01)))
    >>> b = model_fingerprint(nn.Sequential(nn.LeakyReLU(0.3)))
    >>> a.reliable, a.digest == b.digest
    (True, False)
    """
    walker = _Walker()
    description = {
        "model": walker.module(model, ""),
        "global_hooks": walker.part("<global hooks>", _global_hooks),
    }
    digest = content_digest(json.dumps(description, sort_keys=True, separators=(",", ":")).encode())
    if walker.undescribed:
        digest.update(uuid.uuid4().bytes)
    return ModelFingerprint(digest.hexdigest(), tuple(walker.undescribed))


def model_hash(model: nn.Module) -> str:
    """A digest of everything that can change a model's outputs (see :func:`model_fingerprint`).

    The digest is :func:`~neuroalign.data.provenance.content_digest` (xxh3-128, at memory speed, so
    hashing the weights of a large model costs milliseconds).  Changing one weight, one buffer,
    one constructor argument (a slope, a stride, a padding mode), the module tree, or the code of
    a module class changes the hash; renaming the variable does not.  A model holding something
    that cannot be described reliably gets a digest that matches no other.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.extract import model_hash
    >>> from neuroalign.models import ReferenceNet
    >>> net = ReferenceNet(seed=0)
    >>> before = model_hash(net)
    >>> with torch.no_grad():
    ...     net.fc[1].weight[0, 0] += 1e-3
    >>> model_hash(net) == before
    False
    """
    return model_fingerprint(model).digest


def describe_function(fn: types.FunctionType) -> Any:
    """A function described as the fingerprint describes model code, or ``None`` if part of it cannot be.

    The description covers its bytecode, defaults, closure values and every
    global it reads (constants, helper functions, recursively), so a changed
    global constant changes it.

    Examples
    --------
    >>> from neuroalign.extract.fingerprint import describe_function
    >>> describe_function(lambda x: x * 2) == describe_function(lambda x: x * 3)
    False
    """
    walker = _Walker()
    try:
        described = walker.value(fn)
    except _Undescribable:
        return None
    return None if walker.undescribed else described


def _global_hooks(walker: "_Walker") -> Any:
    from torch.nn.modules import module as torch_module

    hooks = {}
    for name in ("_global_forward_pre_hooks", "_global_forward_hooks", "_global_forward_hooks_always_called"):
        table = getattr(torch_module, name, None)
        if isinstance(table, Mapping):
            hooks[name] = [walker.value(v) for v in table.values()]
    return hooks


class _Walker:
    """One description pass: memos for modules, classes, functions and tensors, and what was undescribable."""

    def __init__(self) -> None:
        self.undescribed: list[str] = []
        self.modules: dict[int, str] = {}
        self.memo: dict[int, Any] = {}
        self.active: set[int] = set()
        self.keep: list[Any] = []  # objects whose id is memoised stay alive for the pass
        self.depth = 0

    # ------------------------------------------------------------ entry points
    def part(self, where: str, describe: Any) -> Any:
        try:
            return describe(self)
        except _Undescribable as exc:
            self.undescribed.append(f"{where}: {exc}")
            return ["undescribed", str(exc)]

    def module(self, module: nn.Module, path: str) -> Any:
        if id(module) in self.modules:
            return ["shared", self.modules[id(module)]]
        self.modules[id(module)] = path
        self.keep.append(module)
        where = path or "<model>"
        config = {}
        for key, value in sorted(vars(module).items()):
            if key not in _MODULE_INTERNALS:
                config[key] = self.part(f"{where}.{key}", lambda w, v=value: w.value(v))
        hooks = self.part(f"{where} (forward hooks)", lambda w: w.hooks(module))
        tensors = {n: self.part(f"{where}.{n}", lambda w, t=t: w.tensor(t))
                   for n, t in [*module._parameters.items(), *module._buffers.items()]}
        return {
            "class": self.part(f"{where} (class)", lambda w: w.value(type(module))),
            "config": config,
            "parameters": [[n, tensors[n]] for n in module._parameters],
            "buffers": [[n, tensors[n], n in module._non_persistent_buffers_set] for n in module._buffers],
            "hooks": hooks,
            "children": [[n, None if c is None else self.module(c, f"{path}.{n}" if path else n)]
                         for n, c in module._modules.items()],
        }

    def hooks(self, module: nn.Module) -> Any:
        pre_kwargs = getattr(module, "_forward_pre_hooks_with_kwargs", {})
        kwargs = getattr(module, "_forward_hooks_with_kwargs", {})
        always = getattr(module, "_forward_hooks_always_called", {})
        return {"pre": [[self.value(h), k in pre_kwargs] for k, h in module._forward_pre_hooks.items()],
                "post": [[self.value(h), k in kwargs, k in always] for k, h in module._forward_hooks.items()]}

    # ------------------------------------------------------------ values
    def tensor(self, tensor: torch.Tensor | None) -> Any:
        if tensor is None:
            return None
        if id(tensor) in self.memo:
            return self.memo[id(tensor)]
        if type(tensor) not in _PLAIN_TENSORS or tensor.layout != torch.strided \
                or tensor.is_quantized or tensor.device.type == "meta":
            raise _Undescribable(f"tensor of type {type(tensor).__name__} ({tensor.layout}, {tensor.device})")
        value = tensor.detach().cpu().resolve_conj().resolve_neg().contiguous()
        digest = content_digest(f"{value.dtype}:{tuple(value.shape)}".encode())
        if value.numel():
            digest.update(memoryview(value.reshape(-1).view(torch.uint8).numpy()))
        self.keep.append(tensor)
        self.memo[id(tensor)] = ["tensor", str(value.dtype), list(value.shape), digest.hexdigest()]
        return self.memo[id(tensor)]

    def value(self, value: Any) -> Any:
        """A JSON-able description of ``value``; raises :class:`_Undescribable`."""
        if isinstance(value, _SCALARS):
            return value if type(value) in _SCALARS else [type(value).__qualname__, repr(value)]
        if isinstance(value, (float, complex)):
            return [type(value).__name__, repr(value)]
        if isinstance(value, (bytes, bytearray)):
            return ["bytes", content_digest(bytes(value)).hexdigest()]
        if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
            if isinstance(value, torch.Tensor):
                return self.tensor(value)
            array = np.asarray(value)
            if array.dtype.hasobject:
                raise _Undescribable(f"numpy array of Python objects {array.shape}")
            return ["ndarray", str(array.dtype), list(array.shape),
                    content_digest(np.ascontiguousarray(array).tobytes()).hexdigest()]
        if isinstance(value, _TORCH_VALUES) or value is Ellipsis or isinstance(value, (slice, range)):
            return [type(value).__name__, repr(value)]
        if isinstance(value, enum.Enum):
            return ["enum", _qualified(type(value)), value.name]
        key = id(value)
        if key in self.memo:
            return self.memo[key]
        if key in self.active:
            return ["cycle", type(value).__qualname__]
        if self.depth >= _MAX_DEPTH:
            raise _Undescribable(f"{type(value).__qualname__} nested more than {_MAX_DEPTH} levels deep")
        self.active.add(key)
        self.depth += 1
        try:
            described = self._compound(value)
        finally:
            self.active.discard(key)
            self.depth -= 1
        if isinstance(value, (type, types.FunctionType, types.CodeType, types.ModuleType)):
            self.keep.append(value)
            self.memo[key] = described  # immutable enough within one pass; shared by many modules
        return described

    def _compound(self, value: Any) -> Any:
        if isinstance(value, (tuple, list)):
            return [type(value).__qualname__, [self.value(v) for v in value]]
        if isinstance(value, (set, frozenset)):
            items = [self.value(v) for v in value]
            return [type(value).__qualname__, sorted(items, key=lambda d: json.dumps(d, sort_keys=True))]
        if isinstance(value, dict):
            factory = self.value(value.default_factory) if isinstance(value, collections.defaultdict) else None
            return [type(value).__qualname__, [[self.value(k), self.value(v)] for k, v in value.items()], factory]
        if isinstance(value, nn.Module):
            if id(value) in self.modules:
                return ["module", self.modules[id(value)]]
            # a unique name: a later reference to it (as a child, say) must say which module it is
            return self.module(value, f"<attribute {len(self.modules)} {type(value).__qualname__}>")
        if isinstance(value, type):
            return self.cls(value)
        if isinstance(value, types.FunctionType):
            return self.function(value)
        if isinstance(value, types.CodeType):
            return self.code(value)
        if isinstance(value, types.ModuleType):
            return ["module", value.__name__, _library(value.__name__) or "user code"]
        if isinstance(value, types.MethodType):
            return ["method", self.value(value.__func__), self.value(value.__self__)]
        if isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType, types.WrapperDescriptorType,
                              types.MethodWrapperType, types.MethodDescriptorType,
                              types.ClassMethodDescriptorType)):
            return self.builtin(value)
        if isinstance(value, (staticmethod, classmethod)):
            return [type(value).__name__, self.value(value.__func__)]
        if isinstance(value, property):
            return ["property", self.value(value.fget), self.value(value.fset), self.value(value.fdel)]
        if isinstance(value, functools.partial):
            return ["partial", self.value(value.func), self.value(value.args), self.value(value.keywords)]
        if isinstance(value, functools.cached_property):
            return ["cached_property", self.value(value.func)]
        if isinstance(value, logging.Logger):
            return ["logger", value.name]
        if isinstance(value, weakref.ref):
            return ["weakref", self.value(value())]
        if isinstance(value, torch.Generator):
            return ["generator", str(value.device), self.tensor(value.get_state())]
        return self.instance(value)

    def instance(self, value: Any) -> Any:
        cls = type(value)
        spec = getattr(value, "spec", None)
        if callable(spec) and not isinstance(value, type):  # the object's own description, as for preprocessing
            return ["spec", self.value(spec())]
        if hasattr(value, "cache_key"):
            return ["cache_key", str(value.cache_key)]
        if cls.__module__.split(".")[0] == "transformers" and callable(getattr(value, "to_dict", None)):
            # a PretrainedConfig; to_dict() leaves out the attention kernel (eager, sdpa, …), whose outputs differ
            return ["config", _qualified(cls), self.value(value.to_dict()),
                    self.value(getattr(value, "_attn_implementation", None))]
        if isinstance(value, types.SimpleNamespace):
            return ["namespace", self.value(dict(sorted(vars(value).items())))]
        if dataclasses.is_dataclass(value):
            fields = [[f.name, self.value(getattr(value, f.name))] for f in dataclasses.fields(value)]
            return ["dataclass", self.cls(cls), fields]
        if _plain_python(cls) and hasattr(value, "__dict__"):
            return ["object", self.cls(cls), self.value(dict(sorted(vars(value).items())))]
        wrapped = getattr(value, "__wrapped__", None)
        if _library(cls.__module__) is not None and isinstance(wrapped, types.FunctionType):
            return ["wrapper", _qualified(cls), _library(cls.__module__), self.value(wrapped)]  # e.g. lru_cache
        raise _Undescribable(f"a {_qualified(cls)} object")

    def builtin(self, value: Any) -> Any:
        owner = getattr(value, "__self__", None)
        module = getattr(value, "__module__", None) or getattr(getattr(value, "__objclass__", None),
                                                             "__module__", None)
        if module is None and isinstance(owner, types.ModuleType):
            module = owner.__name__
        if module is None and isinstance(owner, type):
            module = owner.__module__
        name = getattr(value, "__qualname__", getattr(value, "__name__", "?"))
        described = ["builtin", module, name, _library(module or "builtins") or "user code"]
        if owner is not None and not isinstance(owner, (types.ModuleType, type)):
            described.append(self.value(owner))  # a method bound to an object
        return described

    # ------------------------------------------------------------ code
    def cls(self, cls: type) -> Any:
        name = _qualified(cls)
        library = _library(cls.__module__)
        if library is not None and all(_library(getattr(v, "__module__", None) or cls.__module__) is not None
                                       for v in vars(cls).values() if isinstance(v, types.FunctionType)):
            return ["class", name, library]
        body = []
        for base in cls.__mro__:
            if base is object:
                continue
            if base is not cls and _library(base.__module__) is not None:
                body.append(["base", _qualified(base), _library(base.__module__)])
                continue
            for attr, value in sorted(vars(base).items()):
                if attr not in _CLASS_SKIP:
                    body.append([_qualified(base), attr, self.value(value)])
        return ["class", name, body]

    def function(self, fn: types.FunctionType) -> Any:
        module = fn.__module__ or ""
        library = _library(module) if fn.__module__ else None
        if library is not None:
            return ["function", module, fn.__qualname__, library]
        code = fn.__code__
        closure = [self.value(_cell(c)) for c in (fn.__closure__ or ())]
        globals_ = []
        names = _names(code)
        for name in sorted(names):
            if name in fn.__globals__:
                target = fn.__globals__[name]
                globals_.append([name, self.value(target)])
                if isinstance(target, types.ModuleType) and _library(target.__name__) is None:
                    globals_.extend([f"{name}.{attr}", self.value(vars(target)[attr])]
                                    for attr in sorted(names) if attr in vars(target))
        return ["function", fn.__qualname__, self.code(code), self.value(fn.__defaults__),
                self.value(fn.__kwdefaults__), closure, globals_]

    def code(self, code: types.CodeType) -> Any:
        consts = [self.value(c) for c in code.co_consts]
        return ["code", code.co_code.hex(), consts, list(code.co_names), list(code.co_varnames),
                list(code.co_freevars), list(code.co_cellvars), code.co_argcount, code.co_posonlyargcount,
                code.co_kwonlyargcount, code.co_flags]


def _cell(cell: types.CellType) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return "<empty cell>"


def _names(code: types.CodeType) -> set[str]:
    """Every global or attribute name the code (and the code nested in it) reads."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _plain_python(cls: type) -> bool:
    """Whether instances keep all their state in ``__dict__`` (Python classes only, no slots)."""
    heap = 1 << 9  # Py_TPFLAGS_HEAPTYPE: defined by a class statement, not in C
    return all(base is object or (base.__flags__ & heap and "__slots__" not in vars(base)) for base in cls.__mro__)


@functools.lru_cache(maxsize=None)
def _library(module: str | None) -> str | None:
    """``"package version"`` when ``module`` is installed code (site-packages, stdlib), else ``None`` (user code)."""
    if not module or module == "__main__":
        return None
    top = module.split(".")[0]
    if top in sys.builtin_module_names:
        return f"python {sys.version}"
    if top == "torch":
        return f"torch {torch.__version__}"
    loaded = sys.modules.get(module) or sys.modules.get(top)
    path = getattr(loaded, "__file__", None)
    if top in sys.stdlib_module_names and (not path or os.path.realpath(path).startswith(_stdlib_prefixes())):
        return f"python {sys.version}"  # not a user's file that has a standard module's name (code.py, trace.py)
    if not path or not os.path.realpath(path).startswith(_installed_prefixes()):
        return None  # a local file, __main__, an editable install: described by its code
    version = _distribution_version(top)
    return None if version is None else f"{top} {version}"


@functools.lru_cache(maxsize=1)
def _stdlib_prefixes() -> tuple[str, ...]:
    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")} | {os.path.dirname(os.__file__)}
    return tuple(os.path.join(os.path.realpath(p), "") for p in paths)


@functools.lru_cache(maxsize=1)
def _installed_prefixes() -> tuple[str, ...]:
    paths = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")} | set(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        paths.add(site.getusersitepackages())
    return tuple(os.path.join(os.path.realpath(p), "") for p in paths)


def _distribution_version(top: str) -> str | None:
    try:
        return importlib.metadata.version(top)
    except importlib.metadata.PackageNotFoundError:
        pass
    names = _packages_distributions().get(top, [])
    versions = []
    for name in sorted(set(names)):
        try:
            versions.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            return None
    return ",".join(versions) or None


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()
