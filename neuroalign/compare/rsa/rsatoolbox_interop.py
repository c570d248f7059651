"""Pattern arrays and RDMs to and from rsatoolbox (``rsatoolbox.data.Dataset``, ``rsatoolbox.rdm.RDMs``).

Patterns ``(presentation, neuroid)`` become a ``Dataset`` whose
``obs_descriptors`` are the presentation coordinates (``stimulus_id``,
``run``, …), whose ``channel_descriptors`` are the neuroid coordinates
(``neuroid_id``, ``voxel_i``, ``x``, …) and whose ``descriptors`` are the
attrs.  Vector-form RDMs ``(*batch, pair)`` become ``RDMs``: one RDM per
element of the batch dims (C order), ``rdm_descriptors`` from the batch
coordinates, ``pattern_descriptors`` with ``stimulus_id`` and the stimulus
metadata.  rsatoolbox's dissimilarity vectors are scipy's ``squareform``
order, which is our ``np.triu_indices(n, 1)`` order, so the values are
passed unchanged.  What rsatoolbox has no place for (the batch dims' names
and sizes, scalar coordinates, the array's name) travels in the
descriptor ``"_neuroalign_layout"``, so both round trips are lossless (attrs
that are lists or dicts go through JSON: numbers, strings, lists and dicts
come back equal, tuples and arrays as lists).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import xarray as xr

from ...data.schema import NEUROID, NEUROID_ID, PRESENTATION, STIMULUS_ID, validate
from ...errors import DependencyError, SchemaError
from .rdm import PAIR, _metadata_of, _n_from_pairs, _pair_coords, rdm_stimulus_ids

__all__ = ["from_rsatoolbox", "from_rsatoolbox_rdms", "to_rsatoolbox", "to_rsatoolbox_rdms"]

LAYOUT = "_neuroalign_layout"


def _rsatoolbox():
    try:
        import rsatoolbox.data
        import rsatoolbox.rdm
    except ImportError:
        raise DependencyError("rsatoolbox is needed to convert to and from rsatoolbox objects", source="rsatoolbox",
                              fix="pip install rsatoolbox") from None
    return rsatoolbox


def _on(array: xr.DataArray, dim: str) -> dict[str, np.ndarray]:
    return {name: np.array(coord.values) for name, coord in array.coords.items() if coord.dims == (dim,)}


def _scalars(array: xr.DataArray) -> dict[str, Any]:
    return {name: coord.values[()] for name, coord in array.coords.items() if coord.ndim == 0}


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float, complex, np.generic))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"attribute value of type {type(value).__name__} cannot be stored in rsatoolbox descriptors")


# ----------------------------------------------------------------------------- patterns
def to_rsatoolbox(patterns: xr.DataArray):
    """A ``(presentation, neuroid)`` pattern array as an ``rsatoolbox.data.Dataset``.

    Parameters
    ----------
    patterns : xarray.DataArray
        Dims ``presentation`` and ``neuroid`` only.

    Returns
    -------
    rsatoolbox.data.Dataset
        ``measurements`` (presentations × neuroids), ``obs_descriptors``
        (every presentation coordinate, ``stimulus_id`` included),
        ``channel_descriptors`` (every neuroid coordinate) and ``descriptors``
        (the scalar attrs; lists and dicts such as ``affine`` and provenance
        travel as JSON in the string descriptor ``"_neuroalign_layout"``:
        rsatoolbox's ``calc_rdm`` turns every descriptor into a one-value RDM
        descriptor, which only scalars can be).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.compare.rsa.rsatoolbox_interop import to_rsatoolbox
    >>> x = create_assembly(np.zeros((4, 2)), stimulus_id=list("abab"), presentation={"run": [0, 0, 1, 1]})
    >>> dataset = to_rsatoolbox(x)
    >>> dataset.n_obs, dataset.obs_descriptors["run"].tolist(), dataset.channel_descriptors["neuroid_id"].tolist()
    (4, [0, 0, 1, 1], ['0', '1'])
    """
    rsatoolbox = _rsatoolbox()
    validate(patterns, dims=(PRESENTATION, NEUROID), name="patterns", allow_nan=True)
    extra = [d for d in patterns.dims if d not in (PRESENTATION, NEUROID)]
    if extra:
        raise SchemaError(f"an rsatoolbox Dataset holds (presentation, neuroid) patterns; these have dims {extra} too",
                          source="patterns", fix=f"select one element of {extra}, e.g. patterns.isel({extra[0]}=0)")
    multi = [name for name, c in patterns.coords.items() if c.ndim == 2]
    if multi:
        raise SchemaError(f"coordinates {multi} lie on both presentation and neuroid", source="patterns",
                          fix="drop them (patterns.drop_vars([...])) before converting")
    # rsatoolbox's calc_rdm turns every dataset descriptor into an rdm descriptor of length 1, so only scalars can
    # be descriptors; lists and dicts (affine, provenance) travel as JSON in one string
    descriptors = {k: copy.deepcopy(v) for k, v in patterns.attrs.items() if _is_scalar(v)}
    layout = {"attrs": {k: v for k, v in patterns.attrs.items() if not _is_scalar(v)},
              "scalar_coords": _scalars(patterns), "name": patterns.name, "dims": list(patterns.dims)}
    try:
        descriptors[LAYOUT] = json.dumps(layout, default=_json_default)
    except TypeError as error:
        raise SchemaError(str(error), source="patterns",
                          fix="keep attrs to numbers, strings, lists and dicts (JSON), or drop that attribute"
                          ) from None
    return rsatoolbox.data.Dataset(np.array(patterns.transpose(PRESENTATION, NEUROID).values),
                                   descriptors=descriptors, obs_descriptors=_on(patterns, PRESENTATION),
                                   channel_descriptors=_on(patterns, NEUROID))


def from_rsatoolbox(dataset: Any, *, stimulus_descriptor: str = STIMULUS_ID) -> xr.DataArray:
    """An ``rsatoolbox.data.Dataset`` as a ``(presentation, neuroid)`` pattern array.

    Parameters
    ----------
    dataset : rsatoolbox.data.Dataset
        Two-dimensional measurements (observations × channels).
    stimulus_descriptor : str
        The obs descriptor that names the stimuli (rsatoolbox's demos often use
        ``"conds"`` or ``"stimulus"``); it becomes ``stimulus_id`` and is also
        kept under its own name.

    Returns
    -------
    xarray.DataArray
        Presentation coords from ``obs_descriptors``, neuroid coords from
        ``channel_descriptors`` (``neuroid_id`` ``"0"``, ``"1"``, … when there
        is none), attrs from ``descriptors``.

    Raises
    ------
    SchemaError
        No such stimulus descriptor, or a temporal dataset.

    Examples
    --------
    >>> import numpy as np
    >>> from rsatoolbox.data import Dataset
    >>> from neuroalign.compare.rsa.rsatoolbox_interop import from_rsatoolbox
    >>> x = from_rsatoolbox(Dataset(np.zeros((3, 2)), obs_descriptors={"conds": ["a", "b", "c"]}),
    ...                     stimulus_descriptor="conds")
    >>> x.dims, x.stimulus_id.values.tolist()
    (('presentation', 'neuroid'), ['a', 'b', 'c'])
    """
    _rsatoolbox()
    measurements = np.asarray(getattr(dataset, "measurements", None))
    if measurements.ndim != 2:
        raise SchemaError(f"expected an rsatoolbox Dataset with 2D measurements, got shape {measurements.shape}",
                          source="dataset", fix="convert a TemporalDataset first (dataset.convert_to_dataset('time'))"
                          " or pass an rsatoolbox.data.Dataset")
    obs = {k: np.array(v) for k, v in dataset.obs_descriptors.items()}
    channels = {k: np.array(v) for k, v in dataset.channel_descriptors.items()}
    if stimulus_descriptor not in obs:
        raise SchemaError(f"the dataset has no obs descriptor {stimulus_descriptor!r} (it has {sorted(obs)})",
                          source="stimulus_descriptor",
                          fix="pass stimulus_descriptor='<the obs descriptor naming the stimuli>'")
    obs[STIMULUS_ID] = obs[stimulus_descriptor]
    channels.setdefault(NEUROID_ID, np.arange(measurements.shape[1]).astype(str))
    attrs = copy.deepcopy(dict(dataset.descriptors))
    layout = json.loads(attrs.pop(LAYOUT, "{}"))
    attrs.update(layout.get("attrs", {}))
    coords: dict[str, Any] = {k: (PRESENTATION, v) for k, v in obs.items()}
    coords.update({k: (NEUROID, v) for k, v in channels.items()})
    coords.update(layout.get("scalar_coords", {}))
    array = xr.DataArray(np.array(measurements), dims=(PRESENTATION, NEUROID), coords=coords, attrs=attrs,
                         name=layout.get("name"))
    validate(array, dims=(PRESENTATION, NEUROID), name="dataset", allow_nan=True)
    return array.transpose(*layout["dims"]) if "dims" in layout else array


# ----------------------------------------------------------------------------- RDMs
def to_rsatoolbox_rdms(rdm: xr.DataArray):
    """A vector-form RDM array ``(*batch, pair)`` as ``rsatoolbox.rdm.RDMs``.

    Parameters
    ----------
    rdm : xarray.DataArray
        From :func:`~neuroalign.compare.compute_rdm` or
        :func:`~neuroalign.compare.as_rdm`.

    Returns
    -------
    rsatoolbox.rdm.RDMs
        One RDM per batch element (C order of the batch dims), the vectors
        unchanged (both use the ``np.triu_indices(n, 1)`` order);
        ``pattern_descriptors`` ``stimulus_id`` and the stimulus metadata;
        ``rdm_descriptors`` the batch coordinates, one value per RDM;
        ``dissimilarity_measure`` the ``method`` attr; ``descriptors`` the
        attrs plus ``"_neuroalign_layout"``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import as_rdm
    >>> from neuroalign.compare.rsa.rsatoolbox_interop import to_rsatoolbox_rdms
    >>> rdms = to_rsatoolbox_rdms(as_rdm(np.arange(6.0).reshape(2, 3), form="vector", dims=["subject"]))
    >>> rdms.n_rdm, rdms.n_cond, rdms.pattern_descriptors["stimulus_id"].tolist()
    (2, 3, ['0', '1', '2'])
    """
    rsatoolbox = _rsatoolbox()
    ids = rdm_stimulus_ids(rdm)
    n = ids.size
    batch = [d for d in rdm.dims if d != PAIR]
    meta = _metadata_of(rdm, n)
    covered = {f"{name}_{side}" for name in meta for side in "ab"}
    stray = [name for name, c in rdm.coords.items() if PAIR in c.dims and name not in covered]
    if stray:
        raise SchemaError(f"pair coordinates {stray} are not stimulus metadata (<name>_a/<name>_b)", source="rdm",
                          fix="drop them (rdm.drop_vars([...])) before converting")
    values = rdm.transpose(*batch, PAIR)
    shape = tuple(rdm.sizes[d] for d in batch)
    rdm_descriptors, coord_dims = {}, {}
    for name, coord in rdm.coords.items():
        if coord.ndim and PAIR not in coord.dims:
            full = np.broadcast_to(coord.transpose(*[d for d in batch if d in coord.dims]).values.reshape(
                [rdm.sizes[d] if d in coord.dims else 1 for d in batch]), shape)
            rdm_descriptors[name] = np.array(full).reshape(-1)
            coord_dims[name] = list(coord.dims)
    descriptors = copy.deepcopy(dict(rdm.attrs))
    descriptors[LAYOUT] = {"dims": batch, "sizes": list(shape), "coords": coord_dims,
                           "scalar_coords": _scalars(rdm), "name": rdm.name, "order": list(rdm.dims)}
    return rsatoolbox.rdm.RDMs(np.array(values.values).reshape(-1, values.sizes[PAIR]),
                               dissimilarity_measure=rdm.attrs.get("method"), descriptors=descriptors,
                               rdm_descriptors=rdm_descriptors, pattern_descriptors=meta)


def _without_default_index(descriptors: dict, size: int) -> dict:
    """rsatoolbox adds ``index`` = 0..n-1 to every RDMs; drop it when it is just that."""
    out = {k: np.array(v) for k, v in descriptors.items()}
    if "index" in out and np.array_equal(out["index"], np.arange(size)):
        del out["index"]
    return out


def from_rsatoolbox_rdms(rdms: Any, *, stimulus_descriptor: str = STIMULUS_ID, dim: str = "rdm") -> xr.DataArray:
    """``rsatoolbox.rdm.RDMs`` as a vector-form RDM array.

    Parameters
    ----------
    rdms : rsatoolbox.rdm.RDMs
        Made by :func:`to_rsatoolbox_rdms` (the batch dims come back) or by
        rsatoolbox (one leading dim ``dim``, its coordinates from the
        ``rdm_descriptors``).
    stimulus_descriptor : str
        The pattern descriptor naming the stimuli (rsatoolbox's ``calc_rdm``
        stores the ``descriptor`` it was given; ``"index"`` numbers them).
    dim : str
        Name of the leading dim of RDMs not made by :func:`to_rsatoolbox_rdms`.

    Returns
    -------
    xarray.DataArray
        Dims ``(*batch, pair)``, ``stimulus_id_a``/``_b`` and metadata pair
        coordinates; attrs from ``descriptors`` and ``method`` from
        ``dissimilarity_measure``.

    Examples
    --------
    >>> import numpy as np
    >>> from rsatoolbox.rdm import RDMs
    >>> from neuroalign.compare.rsa.rsatoolbox_interop import from_rsatoolbox_rdms
    >>> rdm = from_rsatoolbox_rdms(RDMs(np.ones((1, 3)), pattern_descriptors={"stimulus_id": ["a", "b", "c"]}))
    >>> rdm.dims, rdm.stimulus_id_a.values.tolist()
    (('rdm', 'pair'), ['a', 'a', 'b'])
    """
    _rsatoolbox()
    vectors = np.asarray(getattr(rdms, "dissimilarities", None))
    if vectors.ndim != 2:
        raise SchemaError("expected rsatoolbox RDMs (n_rdm × n_pairs dissimilarities)", source="rdms",
                          fix="pass an rsatoolbox.rdm.RDMs object")
    n_rdm, n_pairs = vectors.shape
    n = _n_from_pairs(n_pairs)
    patterns = _without_default_index(rdms.pattern_descriptors, n)
    if stimulus_descriptor not in patterns and stimulus_descriptor == "index":
        patterns["index"] = np.arange(n)
    if stimulus_descriptor not in patterns:
        raise SchemaError(f"the RDMs have no pattern descriptor {stimulus_descriptor!r} (they have "
                          f"{sorted(rdms.pattern_descriptors)})", source="stimulus_descriptor",
                          fix="pass stimulus_descriptor='<the pattern descriptor naming the stimuli>' ('index' "
                              "numbers them)")
    ids = patterns.pop(stimulus_descriptor)
    meta = {STIMULUS_ID: ids, **({} if stimulus_descriptor == STIMULUS_ID else {stimulus_descriptor: ids}),
            **patterns}
    rows, cols = np.triu_indices(n, k=1)
    coords: dict[str, Any] = _pair_coords(meta, rows, cols)
    attrs = copy.deepcopy(dict(rdms.descriptors))
    layout = attrs.pop(LAYOUT, None)
    if rdms.dissimilarity_measure is not None and "method" not in attrs:
        attrs["method"] = rdms.dissimilarity_measure
    descriptors = _without_default_index(rdms.rdm_descriptors, n_rdm)
    descriptors.pop(LAYOUT, None)  # calc_rdm copies a Dataset's descriptors (ours: the layout string) to every RDM
    if layout is None or int(np.prod(layout["sizes"], dtype=int)) != n_rdm:
        coords.update({name: (dim, values) for name, values in descriptors.items()})
        return xr.DataArray(np.array(vectors), dims=(dim, PAIR), coords=coords, attrs=attrs)
    batch, shape = list(layout["dims"]), tuple(layout["sizes"])
    for name, dims in layout["coords"].items():
        full = descriptors[name].reshape(shape)
        index = tuple(slice(None) if d in dims else 0 for d in batch)
        order = [d for d in batch if d in dims]
        coords[name] = (order, full[index])
        if order != list(dims):
            coords[name] = xr.Variable(order, full[index]).transpose(*dims)
    coords.update(layout["scalar_coords"])
    array = xr.DataArray(np.array(vectors).reshape(shape + (n_pairs,)), dims=(*batch, PAIR), coords=coords,
                         attrs=attrs, name=layout["name"])
    return array.transpose(*layout["order"], transpose_coords=False)  # the coords have their own dim order
