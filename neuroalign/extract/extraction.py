"""``extract``: run a model over a stimulus set and keep named layers' activations."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from ..data.provenance import provenance
from ..data.schema import validate
from ..errors import ConfigError, DataError, ExtractionError, NeuroalignError, UnknownNameError
from .assembly import presentation_variables, relabel, to_assembly
from .cache import cache_entry, cache_key
from .devices import check_device
from .fx import FxRecorder, graph_nodes, trace
from .hooks import HookRecorder
from .layers import LayerSpec, describe_layers, resolve_layers, resolve_names
from .models import default_model_name, forward_failed, load_model, model_fingerprint
from .pooling import (CALLS, Pooling, Selection, UnitCoords, check_pooling, check_selection, combine_calls,
                      output_features)
from .preprocessing import describe_preprocessing
from .reduction import Reduction
from .stimuli import StimulusSet
from .store import ActivationStore, open_activations, write_arrays

__all__ = ["extract", "BACKENDS"]

log = logging.getLogger(__name__)

#: How layers are recorded: forward hooks on modules, or torch.fx graph nodes.
BACKENDS = ("hooks", "fx")
#: Bump when a change of this module changes extracted values (invalidates cache entries).
EXTRACTION_VERSION = 2  # 2: outputs recorded before later in-place operations can change them
_LARGE_BYTES = 2 * 2**30


def extract(
    model: nn.Module | str,
    stimuli: StimulusSet,
    layers: LayerSpec,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    model_name: str | None = None,
    progress: bool = True,
    preprocess: Callable | None = None,
    select: Selection | Mapping[str, Selection] = None,
    pooling: Pooling | Mapping[str, Pooling] = "flatten",
    reduce: Reduction | Mapping[str, Reduction] | None = None,
    calls: str = "all",
    backend: str = "hooks",
    store: str | Path | None = None,
    overwrite: bool = False,
    cache: bool = False,
    deterministic: bool = True,
) -> dict[str, xr.DataArray]:
    """Run ``model`` on ``stimuli`` and return each layer's activations.

    The model runs in eval mode under ``torch.no_grad()`` (its training flag,
    device and dtype are restored afterwards).  Each layer becomes one
    ``(presentation, neuroid)`` array — ``(presentation, neuroid, time_bin)``
    for a module that runs several times per pass or ``pooling="time"`` — with
    the stimuli's ids and metadata on ``presentation`` and, on ``neuroid``,
    ``neuroid_id`` = ``"<model>.<layer>.<index>"`` and the same coordinate
    set for every layer: ``model``, ``layer``, ``channel``, ``row``, ``col``
    (``-1`` where an output has no such axis).

    Parameters
    ----------
    model : torch.nn.Module or str
        A module, ``"package.module:factory"`` or ``"hf:<folder>"`` (see :func:`load_model`).
    stimuli : StimulusSet
    layers : str, sequence of str, or callable
        Module names, glob patterns, or a predicate ``(name, module) -> bool``
        (e.g. :func:`leaf_modules`); graph-node names with ``backend="fx"``.
    batch_size : int
    device, dtype
        Where and in what precision the model runs.
    model_name : str, optional
        Name used in coordinates; defaults to the model's class (or factory) name.
    progress : bool
        Show a progress bar over batches.
    preprocess : callable, optional
        Applied to every image tensor ``(C, H, W)`` (built-in transforms run on
        whole batches); for text stimuli, a tokenizer ``list[str] -> inputs``.
    select : int, str, callable, or mapping layer → one of them
        Which element of a tuple/dict output to keep.
    pooling : str, (rows, cols), or mapping layer → one of them
        ``"flatten"`` (default), ``"avg"``, ``"max"``, a spatial grid,
        ``"cls"``, ``"mean"``, ``"last"`` or ``"time"`` (see :mod:`.pooling`).
    reduce : Reduction or mapping layer → Reduction, optional
        :class:`SparseRandomProjection` or :class:`PCA` (cloned per layer).
    calls : {"all", "first", "last"}
        For modules that run several times per pass: every call as a time step, or one.
    backend : {"hooks", "fx"}
        Forward hooks on modules, or ``torch.fx`` graph nodes (functional ops too).
    store : path-like, optional
        Stream activations batch by batch to this zarr store (memory bounded
        by the batch) and resume it if an earlier run was interrupted; the
        result is then read lazily from the store.
    overwrite : bool
        Replace a store of another extraction at ``store``.
    cache : bool
        Look the result up in (and add it to) the content-keyed cache (see :mod:`.cache`).
    deterministic : bool
        On an accelerator (``device="cuda"``, ``"mps"``), ask torch for
        deterministic algorithms while extracting: some GPU kernels add with
        atomics, in a different order each run (CUDA's matrix products also
        need ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` in the environment; torch
        warns when it is missing).  torch's CPU forward kernels give the same
        result every run for a given thread count already, and its
        deterministic mode would only fill every new tensor and slow the
        convolutions (about 30% on a small convnet), so it is not switched on
        for ``device="cpu"``.

    Returns
    -------
    dict of str to xarray.DataArray
        In layer order; dask-backed when ``store`` or ``cache`` is used.

    Raises
    ------
    UnknownNameError
        A layer name is not a submodule (the message lists close matches).
    ExtractionError
        A layer never fires, returns an unselected tuple/dict, or changes shape between batches.
    DataError
        The model produces NaN or inf activations.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.extract import StimulusSet, extract
    >>> from neuroalign.models import ReferenceNet
    >>> stimuli = StimulusSet.from_arrays(["a", "b"], np.zeros((2, 3, 32, 32)))
    >>> acts = extract(ReferenceNet(seed=0), stimuli, ["block1", "fc"], progress=False)
    >>> acts["fc"].dims, acts["fc"].sizes["neuroid"]
    (('presentation', 'neuroid'), 128)
    >>> extract(ReferenceNet(seed=0), stimuli, "block1", pooling="avg", progress=False)["block1"].shape
    (2, 16)
    """
    if not isinstance(stimuli, StimulusSet):
        raise ConfigError(f"stimuli must be a StimulusSet, got {type(stimuli).__name__}", source="stimuli",
                          fix="build one with StimulusSet.from_arrays/from_files/from_folder")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}", source="batch_size",
                          fix="pass e.g. batch_size=64")
    if calls not in CALLS:
        raise UnknownNameError(calls, CALLS, what="calls option", source="calls")
    if backend not in BACKENDS:
        raise UnknownNameError(backend, BACKENDS, what="backend", source="backend")
    if not isinstance(dtype, torch.dtype):
        raise ConfigError(f"dtype must be a torch.dtype, got {dtype!r}", source="dtype",
                          fix="pass e.g. dtype=torch.float32")
    if len(stimuli) == 0:
        raise ConfigError("the stimulus set is empty", source="stimuli", fix="pass at least one stimulus")
    model_name = model_name or default_model_name(model)
    model = load_model(model)
    device = check_device(device)
    fingerprint = model_fingerprint(model)  # everything that can change the outputs
    with _placed(model, device, dtype, deterministic):
        if backend == "fx":
            graph = trace(model)
            names = resolve_names(graph_nodes(graph), layers, what="graph node")
        else:
            names = resolve_layers(model, layers)
        run = _Run(stimuli, names, batch_size, device, dtype, preprocess, check_selection(select, names),
                   check_pooling(pooling, names), _check_reduce(reduce, names), calls, progress, model_name)
        # each output's features are taken (and copied where needed) the moment the layer produces it
        recorder: Any = (FxRecorder(graph, names, keep=run.keep) if backend == "fx"
                         else HookRecorder(model, names, keep=run.keep))
        # no cache entry, no resumed store for a model that cannot be described: either could hold another
        # model's activations
        params, inputs, content = run.describe(fingerprint.digest, backend, layers,
                                               wants_content=bool(cache or store) and fingerprint.reliable)
        use_cache = bool(cache) and content is not None
        if cache and not use_cache:
            log.warning("cache bypassed: %s cannot be described reliably (give it a spec() method or a "
                        "cache_key attribute)", f"the model ({'; '.join(fingerprint.undescribed[:3])})"
                        if not fingerprint.reliable else "the preprocessing or output selection")
        key = cache_key(content) if content is not None else uuid.uuid4().hex
        final = labelled_key = None
        if store is not None:
            labels = _labels(stimuli, model_name)
            labelled_key = cache_key({"content": key, "batch_size": batch_size, "labels": labels})
            final = ActivationStore(store, key=labelled_key, n_stimuli=len(stimuli), batch_size=batch_size,
                                    overwrite=overwrite)
            if final.is_complete:
                log.info("%s: already holds these activations", store)
                return _opened(store, names)
            final.check_target()
        if use_cache:
            sink = ActivationStore(cache_entry(key), key=key, n_stimuli=len(stimuli), batch_size=batch_size,
                                   overwrite=True)
        elif final is not None:
            sink = final
        else:
            with recorder:
                return run.in_memory(recorder, params, inputs)
        if sink.is_complete:
            log.info("cache hit: %s", sink.path)
        else:
            with recorder:
                run.streamed(recorder, sink, params, inputs)
    if not use_cache:
        return _opened(store, names)
    attrs = provenance(params, inputs)
    arrays = {name: relabel(array, stimuli, model_name, name).assign_attrs(attrs)
              for name, array in open_activations(sink.path, layers=names).items()}
    if store is None:
        return {name: array.load() for name, array in arrays.items()}
    write_arrays(arrays, store, root_attrs={"key": labelled_key, "model": model_name}, overwrite=overwrite)
    return _opened(store, names)


def _labels(stimuli: StimulusSet, model_name: str) -> dict[str, Any]:
    return {"ids": [str(s) for s in stimuli.stimulus_ids], "model": model_name,
            "metadata": {str(k): [str(v) for v in values] for k, values in stimuli.metadata.to_dict("list").items()}}


def _opened(store: str | Path, names: Sequence[str]) -> dict[str, xr.DataArray]:
    arrays = open_activations(store, layers=list(names))
    for name, array in arrays.items():
        validate(array, dims=None, name=f"layer {name}", allow_nan=True)  # lazy: values are not scanned
    return arrays


def _check_reduce(reduce: Reduction | Mapping[str, Reduction] | None, names: Sequence[str]) -> dict[str, Any]:
    if reduce is None:
        return {name: None for name in names}
    if isinstance(reduce, Mapping):
        unknown = [k for k in reduce if k not in names]
        if unknown:
            raise UnknownNameError(unknown[0], names, what="layer in reduce", source="reduce")
        chosen = {name: reduce.get(name) for name in names}
    else:
        chosen = {name: reduce for name in names}
    for name, reduction in chosen.items():
        if reduction is not None and not isinstance(reduction, Reduction):
            raise ConfigError(f"reduce for layer {name!r} is a {type(reduction).__name__}", source="reduce",
                              fix="pass SparseRandomProjection(...) or PCA(...)")
    return {name: (r.clone() if r is not None else None) for name, r in chosen.items()}


@contextmanager
def _placed(model: nn.Module, device: torch.device, dtype: torch.dtype, deterministic: bool) -> Iterator[None]:
    """Eval mode, ``no_grad``, device and dtype for the duration; everything restored after."""
    was_training = model.training
    tensors = {("p", n): (t.device, t.dtype) for n, t in model.named_parameters()}
    tensors.update({("b", n): (t.device, t.dtype) for n, t in model.named_buffers()})
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    model.eval()
    moved = any(d != device for d, _ in tensors.values()) or any(
        t.is_floating_point and t != dtype for _, t in tensors.values())
    if moved:
        model.to(device=device, dtype=dtype if dtype.is_floating_point else None)
    try:
        if deterministic and device.type != "cpu":  # CPU forward kernels are deterministic already
            torch.use_deterministic_algorithms(True, warn_only=True)
        with torch.no_grad():
            yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)
        model.train(was_training)
        if moved:
            _restore(model, tensors)


def _restore(model: nn.Module, tensors: dict[tuple[str, str], tuple[torch.device, torch.dtype]]) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.data = param.data.to(*tensors[("p", name)])
        for name, buffer in list(model.named_buffers()):
            owner, _, attr = name.rpartition(".")
            model.get_submodule(owner)._buffers[attr] = buffer.to(*tensors[("b", name)])


def _to_device(inputs: Any, device: torch.device, dtype: torch.dtype) -> Any:
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device=device, dtype=dtype if inputs.is_floating_point() else None)
    if isinstance(inputs, Mapping):
        return {k: _to_device(v, device, dtype) for k, v in inputs.items()}
    return inputs


class _Run:
    """The state of one extraction: options, fitted reductions, feature layouts."""

    def __init__(self, stimuli, names, batch_size, device, dtype, preprocess, select, pooling, reducers, calls,
                 progress, model_name):
        self.stimuli, self.names, self.batch_size = stimuli, names, batch_size
        self.device, self.dtype, self.preprocess = device, dtype, preprocess
        self.select, self.pooling, self.reducers, self.calls = select, pooling, reducers, calls
        self.progress, self.model_name = progress, model_name
        self.layouts: dict[str, UnitCoords] = {}
        self._mask: torch.Tensor | None = None  # the attention mask of the batch being run
        self._out: dict[str, torch.Tensor] = {}  # where a layer's copied features go in this batch (see keep)
        self.n_batches = -(-len(stimuli) // batch_size)

    # ---------------------------------------------------------------- description
    def describe(self, model_digest: str, backend: str, layers: LayerSpec, *,
                 wants_content: bool) -> tuple[dict, dict, dict | None]:
        """Provenance parameters and inputs, and the cache-key content (``None``: not wanted or not describable)."""
        preprocess = describe_preprocessing(self.preprocess)
        select = {n: ("none" if s is None else s if isinstance(s, (int, str)) else describe_preprocessing(s))
                  for n, s in self.select.items()}
        reduce = {}
        for name, reducer in self.reducers.items():
            spec = None if reducer is None else reducer.spec()
            if reducer is not None and reducer.needs_data and wants_content:
                spec["fit_on_content"] = sorted(self._fit_subset(reducer).content_hashes())
            reduce[name] = spec
        pooling = {n: list(p) if isinstance(p, tuple) else p for n, p in self.pooling.items()}
        params = {"model": self.model_name, "layers": self.names, "layer_spec": describe_layers(layers),
                  "backend": backend, "batch_size": self.batch_size, "dtype": str(self.dtype),
                  "device": str(self.device), "select": {n: repr(s) if s is not None else None
                                                         for n, s in self.select.items()},
                  "pooling": pooling, "calls": self.calls,
                  "preprocess": preprocess if preprocess is not None else repr(self.preprocess),
                  "reduce": {n: (None if r is None else {k: v for k, v in r.items() if k != "fit_on_content"})
                             for n, r in reduce.items()}}
        inputs = {"model_weights": model_digest, "stimuli": self.stimuli.content_hash()}
        if preprocess is None or any(v is None for v in select.values()) or not wants_content:
            return params, inputs, None
        content = {"version": EXTRACTION_VERSION, "model": model_digest, "layers": self.names, "backend": backend,
                   "select": select, "pooling": pooling, "calls": self.calls, "preprocess": preprocess,
                   "reduce": reduce, "stimuli": inputs["stimuli"], "dtype": str(self.dtype),
                   "device": self.device.type}
        return params, inputs, content

    def _fit_subset(self, reducer: Any) -> StimulusSet:
        positions = self.stimuli.positions(list(reducer.fit_on), source="PCA(fit_on)")
        subset = self.stimuli.subset(positions)
        order = np.argsort(subset.content_hashes(), kind="stable")  # content order: independent of the set's order
        return subset.subset(order)

    # ---------------------------------------------------------------- batches
    def keep(self, name: str, output: Any) -> tuple[torch.Tensor, UnitCoords] | ExtractionError:
        """The recorders' ``keep``: one output's selected, pooled features, in memory of their own.

        A selection or pooling error is returned, not raised: ``combine_calls`` raises it once the
        layer's calls in the pass are known (an error about a call that is not kept is not raised).
        Features that must be copied go straight into the layer's rows of the result where
        ``in_memory`` offers them (the layer's first call in the pass only).
        """
        try:
            return output_features(output, name, select=self.select[name], pooling=self.pooling[name],
                                   attention_mask=self._mask, out=self._out.pop(name, None))
        except ExtractionError as error:
            return error

    def _features(self, recorder: Any, inputs: Any, n_rows: int) -> dict[str, np.ndarray]:
        """Each layer's features for one batch of ``n_rows`` stimuli (reduced where a reduction is fitted)."""
        inputs = _to_device(inputs, self.device, self.dtype)
        self._mask = inputs.get("attention_mask") if isinstance(inputs, Mapping) else None
        try:
            outputs = recorder.run(inputs)
        except NeuroalignError:
            raise
        except Exception as exc:  # the model's own code: name the inputs it failed on
            raise forward_failed(exc, inputs) from exc
        finally:
            self._mask = None
        features = {}
        for name in self.names:
            tensor, units = combine_calls(outputs[name], name, pooling=self.pooling[name], calls=self.calls)
            if tensor.shape[0] != n_rows:  # e.g. a sequence-first (T, N, D) output: rows would mix stimuli
                raise ExtractionError(
                    f"layer {name!r} gives an output whose first axis has {tensor.shape[0]} entries for a batch of "
                    f"{n_rows} stimuli: the first axis of a recorded output must be the batch", source="layers",
                    fix="record a layer whose output is batch-first (for (T, N, D) outputs pass a callable "
                        "select=, e.g. lambda out: out.transpose(0, 1))")
            values = tensor.to("cpu", torch.float32).numpy()
            reducer = self.reducers[name]
            if reducer is not None:
                if not hasattr(reducer, "n_features_in_"):
                    reducer.fit(values if values.ndim == 2 else values[..., 0])
                values = reducer.transform_features(values)
                units = UnitCoords.plain(values.shape[1], units.n_time)
            features[name] = values
            self._check_layout(name, units, values)
        return features

    def _check_layout(self, name: str, units: UnitCoords, values: np.ndarray) -> None:
        known = self.layouts.get(name)
        if known is None:
            self.layouts[name] = units
        elif (known.n_units, known.n_time) != (units.n_units, units.n_time):
            raise ExtractionError(
                f"layer {name!r} gives {units.n_units} features × {units.n_time or 1} steps in this batch but "
                f"{known.n_units} × {known.n_time or 1} before", source="stimuli",
                fix="give every stimulus the same size (resize images; pad text to max_length), "
                    "or pool sequences with pooling='cls'/'mean'/'last'")

    def _check_finite(self, features: dict[str, np.ndarray], rows: slice) -> None:
        for name, values in features.items():
            # one summing pass on torch's threads (NaN and ±inf propagate; an overflowing sum is checked below).
            # Not numpy's BLAS: its idle threads spin and slow the model's next forward pass (up to 1.5x)
            if values.size == 0 or bool(torch.isfinite(torch.from_numpy(values).sum())):
                continue
            finite = np.isfinite(values)
            if not finite.all():
                row = rows.start + int(np.argwhere(~finite)[0][0])
                raise DataError(f"layer {name!r} gives NaN or inf for stimulus {self.stimuli.stimulus_ids[row]!r}",
                                source="model", fix="check the inputs' scale and the model's numerics (dtype)")

    def fit_reductions(self, recorder: Any) -> None:
        """Fit data-dependent reductions (PCA) on their declared subsets, before the main pass."""
        for name, reducer in self.reducers.items():
            if reducer is None or not reducer.needs_data:
                continue
            subset = self._fit_subset(reducer)
            log.info("fitting %r on %d stimuli for layer %r", reducer, len(subset), name)
            saved, self.reducers = self.reducers, {n: None for n in self.names}
            saved_layouts, self.layouts = self.layouts, {}
            try:
                blocks = [self._features(recorder, inputs, rows.stop - rows.start)[name]
                          for rows, inputs in subset.batches(self.batch_size, dtype=self.dtype,
                                                          preprocess=self.preprocess)]
            finally:
                self.reducers, self.layouts = saved, saved_layouts
            reducer.fit(np.concatenate(blocks))

    def _log_estimate(self, streamed: bool) -> None:
        per_row = sum(u.n_units * (u.n_time or 1) for u in self.layouts.values()) * 4
        total = per_row * len(self.stimuli)
        text = (f"extract {self.model_name}: {len(self.stimuli)} stimuli × "
                f"{per_row // 4} features in {len(self.layouts)} layers = {total / 2**20:.1f} MiB")
        if streamed:
            log.info("%s, streamed to the store (about %.1f MiB per batch in memory)", text,
                     per_row * self.batch_size / 2**20)
        elif total > _LARGE_BYTES:
            log.warning("%s held in memory; pass store=<path.zarr> to stream it to disk", text)
        else:
            log.info("%s held in memory", text)

    def _bar(self, start: int) -> Any:
        return tqdm(total=self.n_batches, initial=start, desc=f"extract {self.model_name}",
                    disable=not self.progress, leave=False, unit="batch")

    def in_memory(self, recorder: Any, params: dict, inputs: dict) -> dict[str, xr.DataArray]:
        self.fit_reductions(recorder)
        buffers: dict[str, np.ndarray] = {}
        with self._bar(0) as bar:
            for rows, batch in self.stimuli.batches(self.batch_size, dtype=self.dtype, preprocess=self.preprocess):
                # one copy of a layer's output, not two: one that is copied in its hook goes into its rows here
                self._out = {n: torch.from_numpy(buffers[n][rows]) for n in self.names
                             if buffers and self.reducers[n] is None and self.layouts[n].n_time is None}
                try:
                    features = self._features(recorder, batch, rows.stop - rows.start)
                finally:
                    self._out = {}
                self._check_finite(features, rows)
                if not buffers:
                    self._log_estimate(streamed=False)
                    buffers = {n: np.empty((len(self.stimuli),) + v.shape[1:], np.float32)
                               for n, v in features.items()}
                for name, values in features.items():
                    if not np.may_share_memory(values, buffers[name]):  # not written in the hook
                        buffers[name][rows] = values
                bar.update()
        attrs = provenance(params, inputs)
        presentation = presentation_variables(self.stimuli)
        arrays = {name: to_assembly(buffers[name], self.layouts[name], presentation, self.model_name, name, attrs)
                  for name in self.names}
        for name, array in arrays.items():  # values were checked batch by batch
            validate(array, dims=None, name=f"layer {name}", check_values=False)
        return arrays

    def streamed(self, recorder: Any, sink: ActivationStore, params: dict, inputs: dict) -> None:
        start = sink.prepare()
        if start < self.n_batches:
            self.fit_reductions(recorder)
        attrs = provenance(params, inputs)
        with self._bar(start) as bar:
            for index, (rows, batch) in enumerate(
                    self.stimuli.batches(self.batch_size, dtype=self.dtype, preprocess=self.preprocess, start=start),
                    start=start):
                features = self._features(recorder, batch, rows.stop - rows.start)
                self._check_finite(features, rows)
                if index == start:
                    self._log_estimate(streamed=True)
                    sink.create(self.layouts, self.stimuli, self.model_name, {n: attrs for n in self.names})
                sink.write(index, rows, features)
                bar.update()
        sink.finish()
