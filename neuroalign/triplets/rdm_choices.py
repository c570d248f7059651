"""RDM-implied choices: the odd-one-out choice every triplet of images implies in a subject's RDM.

A similarity-judgement RDM of ``n`` images (e.g. the 16 subjects of
Kriegeskorte et al. 2008's 92 images, :func:`neuroalign.datasets.kriegeskorte2008.load_behaviour_rdms`)
implies a choice for each of the ``C(n, 3)`` triplets (125,580 for ``n = 92``):
the odd one out is the item outside the pair with the SMALLEST dissimilarity.
These RDM-implied choices are deterministic (no response noise), so they are
not trial data: a model's agreement with them measures how well it predicts
the ordering of a subject's dissimilarities within triplets.

Ties.  When a subject's two (or three) smallest dissimilarities of a triplet are
equal within ``rtol * max(|d|)`` of the triplet (the tie rule of
:func:`neuroalign.triplets.scoring.tied_pairs`), the RDM implies no choice: the
triplet is marked ``-1`` for that subject, counted in ``n_tied`` and left out
of that subject's agreement and ceiling.  Never broken by position.

Conventions of :mod:`neuroalign.triplets.indexing`: triplets are rows
``(i, j, k)`` of object positions (here ``i < j < k``, in the order of
:func:`itertools.combinations`), column ``q`` of the pair arrays belongs to the
pair that EXCLUDES item ``q`` (``PAIRS = ((1, 2), (0, 2), (0, 1))``), and a
choice is the odd one's position 0, 1 or 2.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import xarray as xr

from ..compare.rdm import ID_A, ID_B, PAIR, to_square
from ..data import provenance
from ..errors import ConfigError, DataError, SchemaError
from .indexing import PAIRS

__all__ = ["all_triplets", "implied_choices", "rdm_implied_choices", "implied_judgements", "rdm_implied_ceiling"]

log = logging.getLogger(__name__)

RTOL = 1e-9  # the tie tolerance of neuroalign.triplets.scoring.tied_pairs


def all_triplets(n: int) -> np.ndarray:
    """Every triplet ``i < j < k`` of ``n`` objects, ``(C(n, 3), 3)``, in :func:`itertools.combinations` order.

    Examples
    --------
    >>> all_triplets(4).tolist()
    [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]
    >>> len(all_triplets(92))
    125580
    """
    if int(n) != n or n < 3:
        raise ConfigError(f"triplets need at least 3 objects, got {n}", source="n", fix="pass n >= 3")
    n = int(n)
    i, j, k = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij", sparse=True)
    keep = (i < j) & (j < k)
    return np.argwhere(keep).astype(np.int64)  # row-major order = lexicographic = itertools.combinations


def implied_choices(dissimilarities: Any, triplets: Any = None, *, rtol: float = RTOL) -> np.ndarray:
    """The odd one of each triplet implied by square RDMs: position 0–2, or ``-1`` where the smallest dissimilarity ties.

    Parameters
    ----------
    dissimilarities : array_like
        ``(..., n, n)`` symmetric RDMs (e.g. ``(subject, n, n)``).
    triplets : array_like, optional
        ``(t, 3)`` object positions; default :func:`all_triplets` of ``n``.
    rtol : float
        Two pair dissimilarities within ``rtol * max|d|`` of the triplet's
        smallest are tied.

    Returns
    -------
    numpy.ndarray
        ``(..., t)`` int64: the item outside the least dissimilar pair; ``-1`` for ties.

    Raises
    ------
    DataError
        Not square, not symmetric, NaN/infinite values, or triplet positions out of range.

    Examples
    --------
    >>> d = np.array([[0, 1, 5], [1, 0, 4], [5, 4, 0]], dtype=float)  # items 0 and 1 are closest
    >>> implied_choices(d).tolist()
    [2]
    """
    d = np.asarray(dissimilarities, dtype=np.float64)
    if d.ndim < 2 or d.shape[-1] != d.shape[-2]:
        raise DataError(f"RDMs must be square (..., n, n), got shape {d.shape}", source="dissimilarities",
                        fix="pass square RDMs (neuroalign.compare.to_square turns vector-form RDMs into them)")
    if not np.isfinite(d).all():
        raise DataError(f"the RDMs hold {int((~np.isfinite(d)).sum())} NaN or infinite value(s)",
                        source="dissimilarities", fix="an RDM-implied choice needs every pair's dissimilarity")
    if not np.allclose(d, np.swapaxes(d, -1, -2), rtol=1e-12, atol=0):
        raise DataError("the RDMs are not symmetric", source="dissimilarities",
                        fix="pass symmetric RDMs (e.g. (d + d.T) / 2 if the asymmetry is measurement noise)")
    if not rtol >= 0:
        raise ConfigError(f"rtol must be >= 0, got {rtol}", source="rtol", fix="use e.g. rtol=1e-9")
    n = d.shape[-1]
    t = all_triplets(n) if triplets is None else np.asarray(triplets)
    if t.ndim != 2 or t.shape[1] != 3 or t.dtype.kind not in "iu" or (t.size and (t.min() < 0 or t.max() >= n)):
        raise DataError(f"triplets must be an (t, 3) integer array of positions 0..{n - 1}", source="triplets",
                        fix="pass object positions in the RDMs' order")
    pair = np.stack([d[..., t[:, a], t[:, b]] for a, b in PAIRS], axis=-1)  # (..., t, 3), column q excludes item q
    low = pair.min(axis=-1, keepdims=True)
    tolerance = rtol * np.abs(pair).max(axis=-1, keepdims=True)
    smallest = pair <= low + tolerance
    choices = np.argmin(pair, axis=-1).astype(np.int64)
    choices[smallest.sum(axis=-1) > 1] = -1
    return choices


def _subject_squares(rdms: Any, subject: str) -> xr.DataArray:
    if not isinstance(rdms, xr.DataArray):
        raise SchemaError(f"RDMs must be a labelled DataArray with a {subject!r} dim, got {type(rdms).__name__}",
                          source="rdms", fix="wrap them with neuroalign.compare.as_rdm(values, ids, dims=['subject'])")
    square = to_square(rdms) if PAIR in rdms.dims else rdms
    if ID_A not in square.dims or ID_B not in square.dims:
        raise SchemaError(f"not an RDM (dims {tuple(rdms.dims)})", source="rdms",
                          fix="pass vector-form RDMs from compute_rdm/as_rdm")
    other = [dim for dim in square.dims if dim not in (subject, ID_A, ID_B)]
    if subject not in square.dims or other:
        raise SchemaError(f"RDM-implied choices need RDMs with the dims ({subject!r}, pair), got {tuple(rdms.dims)}",
                          source="rdms", fix=f"name the subjects' dim subject={subject!r} and select one RDM per "
                          "subject (e.g. .sel(session=1))")
    return square.transpose(subject, ID_A, ID_B)


def rdm_implied_choices(rdms: xr.DataArray, *, subject: str = "subject", rtol: float = RTOL) -> xr.Dataset:
    """RDM-implied choices of every triplet for every subject.

    Parameters
    ----------
    rdms : xarray.DataArray
        RDMs with dims ``(subject, pair)`` (vector form) or
        ``(subject, stimulus_id_a, stimulus_id_b)``.
    subject : str
        The subjects' dim.
    rtol : float
        Tie tolerance (module docstring).

    Returns
    -------
    xarray.Dataset
        Dims ``subject``, ``trial`` (the ``C(n, 3)`` triplets) and ``item``:
        ``triplet`` (trial, item) object positions, ``stimulus_id`` (trial,
        item), ``choice_index`` (subject, trial) = position of the odd one, ``-1``
        where the subject's RDM ties; ``n_tied`` (subject); ``stimulus_ids``
        coordinate ``object`` in the RDMs' order.  :func:`implied_judgements`
        gives the trial form of :func:`neuroalign.loaders.load_triplets`.

    Examples
    --------
    >>> from neuroalign.compare import as_rdm
    >>> rdms = as_rdm(np.array([[1.0, 5, 4, 2, 6, 3], [1.0, 2, 3, 4, 5, 6]]), list("abcd"), form="vector",
    ...               dims=["subject"])
    >>> implied = rdm_implied_choices(rdms)
    >>> implied.sizes["trial"], implied.choice_index.values.tolist()
    (4, [[2, 2, 0, 2], [2, 2, 2, 2]])
    """
    square = _subject_squares(rdms, subject)
    ids = np.asarray(square[ID_A].values)
    triplets = all_triplets(len(ids))
    choices = implied_choices(square.values, triplets, rtol=rtol)
    n_tied = (choices < 0).sum(axis=1)
    if n_tied.any():
        log.info("RDM-implied choices: ties (no implied choice) for %d triplet(s) in %d subject(s), left out",
                 int(n_tied.sum()), int((n_tied > 0).sum()))
    out = xr.Dataset(
        {"triplet": (("trial", "item"), triplets), "stimulus_id": (("trial", "item"), ids[triplets]),
         "choice_index": ((subject, "trial"), choices), "n_tied": (subject, n_tied)},
        coords={subject: square[subject].values, "trial": np.arange(len(triplets)), "item": np.arange(3),
                "object": ids},
    )
    out.attrs.update({"kind": "RDM-implied choices", "subject_dim": subject,
                      **provenance({"rtol": rtol, "n_objects": len(ids)}, {})})
    return out


def implied_judgements(implied: xr.Dataset, subjects: Any = None) -> xr.Dataset:
    """RDM-implied choices in the trial form of :func:`neuroalign.loaders.load_triplets`, ties left out.

    Dims ``trial`` (one per subject and untied triplet) and ``item``;
    ``stimulus_id`` (trial, item), ``choice`` and ``choice_index`` (trial), the
    ``subject`` coordinate on ``trial``.

    Examples
    --------
    >>> from neuroalign.compare import as_rdm
    >>> rdms = as_rdm(np.array([[1.0, 5, 4, 2, 6, 3], [1.0, 2, 3, 4, 5, 6]]), list("abcd"), form="vector",
    ...               dims=["subject"])
    >>> judgements = implied_judgements(rdm_implied_choices(rdms))
    >>> judgements.sizes["trial"], judgements.choice.values[:2].tolist()
    (8, ['c', 'd'])
    """
    dim = implied.attrs.get("subject_dim", "subject")
    if subjects is not None:
        implied = implied.sel({dim: list(np.atleast_1d(subjects))})
    choices = implied.choice_index.values  # (subject, trial)
    s_idx, t_idx = np.nonzero(choices >= 0)
    ids = implied.stimulus_id.values[t_idx]
    index = choices[s_idx, t_idx]
    out = xr.Dataset(
        {"stimulus_id": (("trial", "item"), ids), "choice": ("trial", ids[np.arange(len(index)), index]),
         "choice_index": ("trial", index)},
        coords={"trial": np.arange(len(index)), "item": np.arange(3),
                "subject": ("trial", implied[dim].values[s_idx].astype(str))},
    )
    out.attrs.update({"kind": "RDM-implied choices", "source": "RDM-implied choices"})
    return out


def rdm_implied_ceiling(choices: Any) -> tuple[float, np.ndarray]:
    """Leave-one-subject-out ceiling of RDM-implied choices: each subject's agreement with the others' majority.

    For subject ``s`` and a triplet, the other subjects' untied choices vote; the
    credit is ``1 / #tied-majority`` when ``s``'s choice is among the most
    voted items, else 0 (expected credit of a random tie-break).  Triplets
    where ``s`` is tied, or no other subject has a choice, are left out.  The
    ceiling is the mean over subjects of their mean credit.

    Parameters
    ----------
    choices : array_like
        ``(subject, trial)`` choices 0–2, ``-1`` for none (``rdm_implied_choices(...).choice_index``).

    Returns
    -------
    (float, numpy.ndarray)
        The ceiling and the per-subject agreement ``(subject,)``.

    Examples
    --------
    >>> rdm_implied_ceiling([[0, 1, 2], [0, 1, 0], [0, 2, 2]])[1].round(3).tolist()
    [0.667, 0.5, 0.5]
    """
    c = np.asarray(choices)
    if c.ndim != 2 or c.shape[0] < 2:
        raise DataError(f"a leave-one-subject-out ceiling needs (subject, trial) choices of >= 2 subjects, got "
                        f"shape {c.shape}", source="choices", fix="pass the choices of several subjects")
    if c.dtype.kind not in "iu" or ((c < -1) | (c > 2)).any():
        raise DataError("choices must be 0, 1, 2 or -1 (no choice)", source="choices",
                        fix="pass rdm_implied_choices(...).choice_index")
    onehot = (c[..., None] == np.arange(3)).astype(np.float64)  # (subject, trial, 3); -1 rows are all zero
    total = onehot.sum(axis=0)
    per_subject = np.full(c.shape[0], np.nan)
    for s in range(c.shape[0]):
        others = total - onehot[s]
        top = others.max(axis=1)
        majority = (others == top[:, None]) & (top[:, None] > 0)
        valid = (c[s] >= 0) & (top > 0)
        if not valid.any():
            continue
        rows = np.flatnonzero(valid)
        per_subject[s] = float((majority[rows, c[s, rows]] / majority[rows].sum(axis=1)).mean())
    if np.isnan(per_subject).all():
        raise DataError("no triplet has both a subject's choice and another subject's", source="choices",
                        fix="check the RDMs: every triplet is tied")
    return float(np.nanmean(per_subject)), per_subject
