"""How closely a metamer's activations match its target's, and how closely two different images' do.

Feather et al. (2023) judge a model metamer at its generating layer with three
measures of the match between the metamer's activations ``m`` and the natural
image's (target's) activations ``t``, both flattened to one vector per image:

- Spearman's rank correlation and Pearson's correlation of ``m`` and ``t``;
- the signal-to-noise ratio in decibels, ``10·log10(‖t‖ / ‖t − m‖)``: the
  norms themselves, *not* their squares, as in their ``compute_snr_db``
  (``robustness/tools/distance_measures.py`` of
  jenellefeather/model_metamers_pytorch, called with the original image's
  activations first by ``analysis_scripts/make_metamers_imagenet_16_category_val_400_only_save_metamer_layers.py``);
  this is half the usual power-ratio SNR in dB;

and report the relative L2 error ``‖t − m‖ / ‖t‖``.  A metamer is valid only if
each of the three measures exceeds what two *different* natural images reach:
:func:`null_distribution` measures random pairs of distinct natural images at
the same layer and :func:`null_thresholds` summarises it (the maximum, as
Feather et al., or a quantile).

Correlations need activations that vary across units.  A constant activation
vector (e.g. a ReLU layer where every unit of one image is zero) has no
correlation with anything; by default it raises :class:`~neuroalign.errors.DataError`
naming the images, and ``constant="zero"`` scores such correlations as 0 (no
association), so that such a metamer fails the correlation criteria.  A metamer's
target with zero norm always raises: SNR and relative error are undefined
without a signal.  A perfect match gives ``snr_db = inf`` and ``relative_l2 = 0``.

The null follows Feather et al.'s ``make_null_distributions.py`` in two details:
with ``constant="zero"``, a pair whose first image has all-zero activations
scores 0 for both correlations and 0 dB (signal = noise; ``relative_l2 = 1``),
as theirs does; and the pairs never pair an image with itself.  Two *different*
natural images with identical activations raise: they would put the null's
maximum at a perfect match (``snr_db = inf``), which no metamer can exceed.
Feather et al. draw their null pairs from augmented training images; pass such
images as ``null_images`` to :func:`~neuroalign.metamers.validity.metamer_validity`
(the default null is made of the natural images whose metamers are tested).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import xarray as xr
from scipy.stats import rankdata

from ..data.schema import PRESENTATION, STIMULUS_ID
from ..errors import AlignmentError, ConfigError, DataError

__all__ = ["MEASURES", "CRITERION_MEASURES", "activation_match", "null_distribution", "null_thresholds",
           "null_size_needed"]

#: The measures :func:`activation_match` returns, in order.
MEASURES = ("spearman", "pearson", "snr_db", "relative_l2")
#: The measures a valid metamer must exceed the null with (Feather et al. 2023).
CRITERION_MEASURES = ("spearman", "pearson", "snr_db")

_CHUNK = 256  # null pairs measured per block (bounds memory to 2 × 256 activation vectors)
_SHOWN = 5


def activation_match(metamer_acts: Any, target_acts: Any, *, constant: Literal["raise", "zero"] = "raise",
                     names: tuple[str, str] = ("metamer_acts", "target_acts")) -> xr.Dataset:
    """Per-image match of metamer activations to target activations.

    Parameters
    ----------
    metamer_acts, target_acts : array_like, torch.Tensor or xarray.DataArray
        Activations of the same layer, ``(N, ...)`` with images first; every
        image's activations are flattened to one vector.  Computed in float64.
    constant : {"raise", "zero"}
        What a constant activation vector (zero variance: no correlation is
        defined) does: raise :class:`~neuroalign.errors.DataError` (default),
        or give correlations of 0.
    names : (str, str)
        How to name the two inputs in error messages.

    Returns
    -------
    xarray.Dataset
        ``spearman``, ``pearson``, ``snr_db`` (``10·log10(‖t‖/‖t − m‖)``, +inf
        for a perfect match) and ``relative_l2`` (``‖t − m‖/‖t‖``) along
        ``presentation``, with the ``stimulus_id`` of ``target_acts`` (or of
        ``metamer_acts``) when it is a DataArray that has one.

    Raises
    ------
    AlignmentError
        The two inputs differ in shape.
    DataError
        Non-finite activations, fewer than two units, a constant activation
        vector (with ``constant="raise"``) or a target of zero norm.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.activation_matching import activation_match
    >>> t = np.array([[1.0, 2.0, 3.0, 4.0]])
    >>> match = activation_match(t + [[0.1, -0.1, 0.1, -0.1]], t)
    >>> round(float(match["pearson"][0]), 4), round(float(match["snr_db"][0]), 3)
    (0.9965, 14.375)
    """
    if constant not in ("raise", "zero"):
        raise ConfigError(f"constant must be 'raise' or 'zero', got {constant!r}", source="constant",
                          fix="pass constant='raise' (default) or constant='zero'")
    m, t = _flat(metamer_acts, names[0]), _flat(target_acts, names[1])
    if m.shape != t.shape:
        raise AlignmentError(f"{names[0]} has shape {m.shape} (images × units) and {names[1]} {t.shape}",
                             source=f"{names[0]}/{names[1]}",
                             fix="pass activations of the same layer for the same number of images")
    values = _measures(m, t, constant=constant, names=names)
    ids = _ids(target_acts) if _ids(target_acts) is not None else _ids(metamer_acts)
    coords = {} if ids is None else {STIMULUS_ID: (PRESENTATION, ids)}
    return xr.Dataset({k: (PRESENTATION, v) for k, v in values.items()}, coords=coords)


def null_distribution(activations: Any, n_null: int = 1000, *, random_state: int | np.random.Generator = 0,
                      constant: Literal["raise", "zero"] = "raise", name: str = "activations") -> xr.Dataset:
    """The match measures of random ordered pairs of distinct images: what chance matching reaches.

    Pair ``k`` treats image ``first[k]`` as the target and image ``second[k]``
    as the "metamer"; pairs are drawn without replacement from the
    ``N·(N − 1)`` ordered pairs of distinct images (SNR and relative error are
    not symmetric).  With ``constant="zero"``, a pair whose target has all-zero
    activations scores 0 (both correlations), 0 dB and ``relative_l2 = 1``
    (Feather et al.'s convention for such pairs).

    Parameters
    ----------
    activations : array_like, torch.Tensor or xarray.DataArray
        ``(N, ...)`` activations of natural images at one layer.
    n_null : int
        Number of pairs.
    random_state : int or numpy.random.Generator
        Seed of the pair draw.
    constant : {"raise", "zero"}
        As in :func:`activation_match`; with ``"zero"``, also the convention
        above for targets with all-zero activations (which otherwise raise).
    name : str
        How to name ``activations`` in error messages.

    Returns
    -------
    xarray.Dataset
        The :data:`MEASURES` along a ``null_pair`` dim, with coordinates
        ``first`` and ``second`` (image positions).

    Raises
    ------
    DataError
        Fewer than two images, fewer distinct ordered pairs than ``n_null``, or
        a pair of two images with identical activations.
    ConfigError
        ``n_null`` is not a positive integer.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.activation_matching import null_distribution
    >>> acts = np.random.default_rng(0).normal(size=(6, 50))
    >>> null = null_distribution(acts, n_null=20, random_state=0)
    >>> null.sizes["null_pair"], bool((null["first"] != null["second"]).all())
    (20, True)
    """
    acts = _flat(activations, name)
    n = acts.shape[0]
    if not isinstance(n_null, (int, np.integer)) or isinstance(n_null, bool) or n_null < 1:
        raise ConfigError(f"n_null must be a positive integer, got {n_null!r}", source="n_null",
                          fix="pass e.g. n_null=1000")
    if n < 2:
        raise DataError(f"{name} holds {n} image(s); a null of pairs of distinct images needs at least 2",
                        source=name, fix="pass at least two natural images (null_images=...)")
    available = n * (n - 1)
    if n_null > available:
        raise DataError(f"n_null={n_null} pairs requested, but {n} images give only {available} ordered pairs of "
                        "distinct images", source="n_null",
                        fix=f"pass n_null <= {available}, or more natural images (null_images=...)")
    rng = np.random.default_rng(random_state)
    codes = rng.choice(available, size=int(n_null), replace=False)
    first = codes // (n - 1)
    rest = codes % (n - 1)
    second = rest + (rest >= first)  # skip the diagonal: the pair (i, i) is never drawn
    parts = [_measures(acts[second[s:s + _CHUNK]], acts[first[s:s + _CHUNK]], constant=constant,
                       names=(name, name), rows=(second[s:s + _CHUNK], first[s:s + _CHUNK]), null=True)
             for s in range(0, len(codes), _CHUNK)]
    data = {k: ("null_pair", np.concatenate([p[k] for p in parts])) for k in MEASURES}
    same = np.flatnonzero(data["relative_l2"][1] == 0)
    if len(same):
        pairs = [(int(first[k]), int(second[k])) for k in same[:_SHOWN]]
        raise DataError(f"{name}: different images have identical activations (image pairs {pairs}); the null's "
                        "maximum would be a perfect match, which no metamer can exceed", source=name,
                        fix="remove duplicate images from the natural images (or null_images)")
    return xr.Dataset(data, coords={"first": ("null_pair", first), "second": ("null_pair", second)})


def null_size_needed(criterion: str | float) -> int:
    """The smallest null for a criterion: 1 pair for ``"max"``, ``ceil(1/(1 − q))`` for a quantile ``q``.

    With fewer than ``1/(1 − q)`` pairs, the empirical ``q`` quantile cannot be
    told apart from the maximum.

    Examples
    --------
    >>> from neuroalign.metamers.activation_matching import null_size_needed
    >>> null_size_needed("max"), null_size_needed(0.99)
    (1, 100)
    """
    q = _quantile(criterion)
    if q is None:
        return 1
    return math.ceil(1 / (1 - q) - 1e-9)  # the tolerance keeps 1/(1 - 0.99) = 100.000…01 at 100


def null_thresholds(null: xr.Dataset, criterion: str | float = "max",
                    measures: Sequence[str] = CRITERION_MEASURES) -> dict[str, float]:
    """The value each measure must exceed: the null's maximum, or its ``criterion`` quantile.

    Parameters
    ----------
    null : xarray.Dataset
        From :func:`null_distribution`.
    criterion : "max" or float
        ``"max"`` (Feather et al. 2023) or a quantile ``q`` in (0, 1), which
        needs at least ``1/(1 − q)`` pairs (:func:`null_size_needed`).

    Raises
    ------
    DataError
        The null is smaller than the criterion needs.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.activation_matching import null_distribution, null_thresholds
    >>> null = null_distribution(np.random.default_rng(0).normal(size=(5, 30)), n_null=20)
    >>> bool(null_thresholds(null)["pearson"] == null["pearson"].max())
    True
    """
    q = _quantile(criterion)
    n = null.sizes.get("null_pair", 0)
    needed = null_size_needed(criterion)
    if n < needed:
        raise DataError(f"the null holds {n} pairs; criterion {criterion!r} needs at least {needed}",
                        source="n_null", fix=f"pass n_null >= {needed} (and enough natural images), or "
                                             "criterion='max'")
    out = {}
    for measure in measures:
        values = null[measure].values
        out[measure] = float(values.max() if q is None else np.quantile(values, q))
    return out


def _quantile(criterion: str | float) -> float | None:
    if isinstance(criterion, str) and criterion == "max":
        return None
    if isinstance(criterion, (float, int, np.floating)) and not isinstance(criterion, bool) and 0 < criterion < 1:
        return float(criterion)
    raise ConfigError(f"criterion must be 'max' or a quantile in (0, 1), got {criterion!r}", source="criterion",
                      fix="pass criterion='max' (Feather et al. 2023) or e.g. criterion=0.99")


def _measures(m: np.ndarray, t: np.ndarray, *, constant: str, names: tuple[str, str],
              rows: tuple[np.ndarray, np.ndarray] | None = None, null: bool = False) -> dict[str, np.ndarray]:
    """The four measures of row-paired (n, d) float64 arrays (``null``: Feather et al.'s convention for
    all-zero targets with ``constant="zero"``)."""
    rows = rows or (np.arange(len(m)), np.arange(len(t)))
    if m.shape[1] < 2:
        raise DataError(f"the layer has {m.shape[1]} unit(s); correlations need at least 2", source=names[1],
                        fix="measure a layer with more units")
    t_norm = np.linalg.norm(t, axis=1)
    dead = t_norm == 0
    if null and constant == "zero" and dead.any():
        alive = _measures(m[~dead], t[~dead], constant=constant, names=names,
                          rows=(rows[0][~dead], rows[1][~dead])) if (~dead).any() else {}
        conventions = {"spearman": 0.0, "pearson": 0.0, "snr_db": 0.0, "relative_l2": 1.0}
        out = {}
        for measure, value in conventions.items():
            out[measure] = np.full(len(t), value)
            if alive:
                out[measure][~dead] = alive[measure]
        return out
    if dead.any():
        raise DataError(f"the activations of image(s) {_listed(rows[1][dead])} of {names[1]} are all "
                        "zero: SNR and relative error have no signal to refer to", source=names[1],
                        fix="exclude these images, or choose a layer where they activate some unit"
                            + (" (or pass constant='zero', which scores such null pairs 0)" if null else ""))
    pearson, flat_m, flat_t = _pearson(m, t)
    if (flat_m | flat_t).any() and constant == "raise":
        which = [f"{names[0]} image(s) {_listed(rows[0][flat_m])}" if flat_m.any() else "",
                 f"{names[1]} image(s) {_listed(rows[1][flat_t])}" if flat_t.any() else ""]
        raise DataError(f"constant activations (no variance across units) for {' and '.join(w for w in which if w)}:"
                        " correlations are undefined", source=f"{names[0]}/{names[1]}",
                        fix="exclude these images, or pass constant='zero' to score their correlations as 0")
    spearman, _, _ = _pearson(rankdata(m, axis=1), rankdata(t, axis=1))
    noise = np.linalg.norm(t - m, axis=1)
    with np.errstate(divide="ignore"):
        snr = 10 * np.log10(t_norm / noise)  # +inf where the match is perfect
    return {"spearman": spearman, "pearson": pearson, "snr_db": snr, "relative_l2": noise / t_norm}


def _pearson(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise Pearson correlation (0 where a row is constant), and which rows of a and b are constant."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    # a row is constant when centring leaves (numerically) nothing: relative to the row's scale
    flat_a = na <= 1e-12 * np.maximum(np.abs(a).max(axis=1, initial=0) * np.sqrt(a.shape[1]), 1e-300)
    flat_b = nb <= 1e-12 * np.maximum(np.abs(b).max(axis=1, initial=0) * np.sqrt(b.shape[1]), 1e-300)
    flat_a |= na == 0
    flat_b |= nb == 0
    denominator = np.where(flat_a | flat_b, 1.0, na * nb)
    r = np.where(flat_a | flat_b, 0.0, np.einsum("ij,ij->i", a, b) / denominator)
    return np.clip(r, -1.0, 1.0), flat_a, flat_b


def _flat(acts: Any, name: str) -> np.ndarray:
    """(N, ...) activations as a finite (N, D) float64 array."""
    if isinstance(acts, xr.DataArray):
        if PRESENTATION in acts.dims:
            acts = acts.transpose(PRESENTATION, ...)
        values = acts.values
    elif hasattr(acts, "detach"):  # a torch tensor
        values = acts.detach().cpu().double().numpy()
    else:
        values = acts
    try:
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} is not numeric ({exc})", source=name, fix="pass an array of activations") from exc
    if values.ndim < 2:
        raise DataError(f"{name} has shape {values.shape}; expected (images, units...) with images first",
                        source=name, fix="add the image axis, e.g. acts[None] for one image")
    if values.shape[0] == 0:
        raise DataError(f"{name} holds no image", source=name, fix="pass at least one image's activations")
    values = values.reshape(values.shape[0], -1)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise DataError(f"{name} has NaN or infinite activations for image(s) {_listed(np.flatnonzero(bad))}",
                        source=name, fix="check the model and the images for overflow or NaN")
    return values


def _ids(acts: Any) -> np.ndarray | None:
    if isinstance(acts, xr.DataArray) and STIMULUS_ID in acts.coords and acts[STIMULUS_ID].dims == (PRESENTATION,):
        return acts[STIMULUS_ID].values
    return None


def _listed(positions: np.ndarray) -> str:
    positions = list(dict.fromkeys(np.asarray(positions).tolist()))  # a null names an image once
    more = f" and {len(positions) - _SHOWN} more" if len(positions) > _SHOWN else ""
    return f"{positions[:_SHOWN]}{more}"
