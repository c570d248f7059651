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

from ..compare.common.bootstrap import bootstrap_indices, resample_counts
from ..compare.rsa.rdm import ID_A, ID_B, PAIR, to_square
from ..data import average_repetitions, provenance
from ..errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError
from ..score import Score
from .indexing import PAIRS, SIMILARITIES, pair_similarities
from .scoring import RTOL as SCORE_RTOL
from .scoring import tied_pairs

__all__ = ["all_triplets", "implied_choices", "rdm_implied_choices", "implied_judgements", "rdm_implied_ceiling",
           "score_rdm_implied"]

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


RESAMPLE = ("both", "subjects", "images")
METRIC = "rdm-implied-odd-one-out"
_BLOCK = 64  # resamples per block of the bootstrap (a block's (resample, triplet) weights: 64 x 125,580 floats)


def _aligned_rows(ids: np.ndarray, wanted: np.ndarray, what: str) -> np.ndarray:
    import pandas as pd

    index = pd.Index(np.asarray(ids).astype(str))
    if not index.is_unique:
        raise DataError(f"{what} repeats stimulus ids", source=what, fix="give each stimulus one row")
    rows = index.get_indexer(np.asarray(wanted).astype(str))
    if (rows < 0).any():
        missing = np.asarray(wanted)[rows < 0]
        raise AlignmentError(f"{missing.size} stimulus id(s) of the behaviour RDMs are missing from {what}, e.g. "
                             f"{missing[:5].tolist()}", source=what,
                             fix="compute the candidates on the same images as the behaviour RDMs")
    return rows


def _candidate_similarities(candidates: Any, ids: np.ndarray, triplets: np.ndarray, similarity: str,
                            ) -> tuple[str, list[str], list[np.ndarray]]:
    """(dim, names, [(t, 3) pair similarities]) of model RDMs (s = -d) or of representations."""
    if isinstance(candidates, xr.DataArray) and PAIR in candidates.dims:
        square = to_square(candidates)
        batch = [d for d in square.dims if d not in (ID_A, ID_B)]
        if len(batch) > 1:
            raise SchemaError(f"candidate RDMs need at most one dim besides 'pair', got {batch}", source="candidates",
                              fix="stack them into one dim, e.g. .stack(model=[...])")
        dim = batch[0] if batch else "model"
        values = square.transpose(*batch, ID_A, ID_B).values.reshape(-1, *square.shape[-2:])
        names = [str(v) for v in square[dim].values] if batch else [str(candidates.name or "model")]
        rows = _aligned_rows(square[ID_A].values, ids, "candidates")
        sims = []
        for d in values:
            d = d[np.ix_(rows, rows)]
            sims.append(-np.stack([d[triplets[:, a], triplets[:, b]] for a, b in PAIRS], axis=1))
        return dim, names, sims
    if isinstance(candidates, xr.DataArray):
        candidates = {str(candidates.name or "model"): candidates}
    if not isinstance(candidates, dict) or not candidates:
        raise SchemaError(f"candidates must be vector-form RDMs (dims (model, pair)), a (presentation, neuroid) "
                          f"array or a dict of them, got {type(candidates).__name__}", source="candidates",
                          fix="pass load_model_rdms(), or {layer: activations}")
    if similarity not in SIMILARITIES:
        raise UnknownNameError(similarity, SIMILARITIES, what="similarity", source="similarity")
    sims = []
    for name, array in candidates.items():
        if not isinstance(array, xr.DataArray) or set(array.dims) != {"presentation", "neuroid"}:
            raise SchemaError(f"candidate {name!r} must be a (presentation, neuroid) DataArray",
                              source="candidates", fix="extract activations with neuroalign.extract.extract")
        mean = average_repetitions(array, name=str(name)).transpose("presentation", "neuroid")
        rows = _aligned_rows(mean["stimulus_id"].values, ids, f"candidate {name!r}")
        sims.append(pair_similarities(mean.values[rows], triplets, kind=similarity))
    return "layer", [str(k) for k in candidates], sims


def score_rdm_implied(
    candidates: Any,
    behaviour_rdms: xr.DataArray,
    *,
    similarity: str = "cosine",
    subject: str = "subject",
    resample: str = "both",
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
    rtol: float = RTOL,
    progress: bool = False,
) -> Score:
    """Score models against every subject's RDM-implied choices, with a leave-one-subject-out ceiling.

    Each candidate predicts the odd one of every triplet of the behaviour RDMs'
    images (the item outside its most similar pair); its credit on a triplet is
    1 when that is the subject's RDM-implied choice, 0 otherwise and
    ``1 / #tied`` when the candidate's largest pair similarities tie
    (:func:`neuroalign.triplets.scoring.odd_one_credit`, tie policy
    ``"expected"``).  A subject's agreement is the mean credit over the
    triplets its RDM implies a choice for; the score is the mean over subjects.

    Parameters
    ----------
    candidates : xarray.DataArray or dict
        Model RDMs in vector form with one leading dim (e.g. ``(model, pair)``
        from :func:`~neuroalign.datasets.kriegeskorte2008.load_model_rdms`;
        similarity = −dissimilarity), or a ``(presentation, neuroid)``
        representation, or a dict ``{layer: representation}`` (repetitions
        averaged by ``stimulus_id``).
    behaviour_rdms : xarray.DataArray
        ``(subject, pair)`` RDMs (:func:`rdm_implied_choices`).
    similarity : {"dot", "cosine", "euclidean"}
        Pair similarity of representations (unused for RDMs).
    subject : str
        The subjects' dim of ``behaviour_rdms``.
    resample : {"both", "subjects", "images"}
        Bootstrap unit of the CI: subjects and images drawn together
        (``"both"``), or one of them.  An image drawn ``c`` times gives its
        triplets the weight product of their three images' counts; triplets
        themselves are never resampled.
    n_bootstrap, ci_level, seed
        Bootstrap resamples, CI coverage, and the seed of the draws.
    rtol : float
        Tie tolerance of the behaviour RDMs (:func:`implied_choices`).
    progress : bool
        Show a progress bar over bootstrap blocks.

    Returns
    -------
    Score
        ``value`` on the candidates' dim (``model`` or ``layer``), ``ceiling``
        = the leave-one-subject-out ceiling (:func:`rdm_implied_ceiling`), CI
        and error from the bootstrap (:attr:`~neuroalign.Score.ceiled` divides
        by the ceiling; the chance-corrected ratio is ``raw["normalised"]``).
        ``raw``: ``agreement`` (candidate,
        subject), ``ceiling_per_subject``, ``normalised`` = (score − 1/3) /
        (ceiling − 1/3) clipped at 0 (NaN, with a logged warning, when the
        ceiling is at chance), ``tie_rate`` of each candidate,
        ``n_tied`` of each subject, ``resampled`` (resample, candidate).

    Examples
    --------
    >>> from neuroalign.compare import as_rdm
    >>> rng = np.random.default_rng(0)
    >>> ids = [f"i{k}" for k in range(8)]
    >>> behaviour = as_rdm(rng.random((3, 28)), ids, form="vector", dims=["subject"])
    >>> models = as_rdm(np.stack([behaviour.values[0], np.ones(28)]), ids, form="vector", dims=["model"])
    >>> score = score_rdm_implied(models, behaviour, n_bootstrap=50)
    >>> round(float(score.values[1]), 4), float(score.raw["tie_rate"][1])  # a constant RDM: every triplet tied
    (0.3333, 1.0)
    """
    if resample not in RESAMPLE:
        raise UnknownNameError(resample, RESAMPLE, what="resampling unit", source="resample")
    implied = rdm_implied_choices(behaviour_rdms, subject=subject, rtol=rtol)
    ids, triplets = implied["object"].values, implied.triplet.values
    choices = implied.choice_index.values  # (subject, trial)
    valid = choices >= 0
    dim, names, sims = _candidate_similarities(candidates, ids, triplets, similarity)
    credit = np.zeros((len(names), *choices.shape))
    tie_rate = np.zeros(len(names))
    rows = np.arange(choices.shape[1])
    for m, s in enumerate(sims):  # expected credit (odd_one_credit's rule), the tie mask computed once per candidate
        tied = tied_pairs(s, rtol=SCORE_RTOL)
        n_tied = tied.sum(axis=1)
        tie_rate[m] = float((n_tied > 1).mean())
        credit[m] = np.where(valid, tied[rows, np.maximum(choices, 0)] / n_tied, 0.0)
    agreement = (credit * valid).sum(axis=2) / valid.sum(axis=1)  # (candidate, subject)
    value = agreement.mean(axis=1)
    ceiling, per_subject = rdm_implied_ceiling(choices)
    resampled = _joint_bootstrap(credit * valid, valid, triplets, len(ids), resample, n_bootstrap, seed, progress)
    coords = {dim: names}
    subjects = implied[subject].values
    if ceiling > 1 / 3:
        normalised = np.clip((value - 1 / 3) / (ceiling - 1 / 3), 0, None)
    else:
        log.warning("the subjects' RDM-implied choices agree at chance (ceiling %.4f <= 1/3): the normalised score "
                    "is undefined (NaN)", ceiling)
        normalised = np.full(len(value), np.nan)
    raw = xr.Dataset(
        {"agreement": ((dim, subject), agreement), "ceiling_per_subject": (subject, per_subject),
         "normalised": (dim, normalised), "tie_rate": (dim, tie_rate), "n_tied": (subject, implied.n_tied.values),
         "resampled": (("resample", dim), resampled)},
        coords={dim: names, subject: subjects})
    params = {"similarity": similarity, "resample": resample, "n_bootstrap": n_bootstrap, "seed": seed, "rtol": rtol,
              "tie_policy": "expected", "kind": "RDM-implied choices"}
    score = Score.from_resamples(xr.DataArray(value, dims=[dim], coords=coords), raw["resampled"], metric=METRIC,
                                 ceiling=ceiling, params=params, ci_level=ci_level)
    raw.attrs.update(provenance(params, {"behaviour_rdms": behaviour_rdms.values}))
    score.raw = raw
    return score


def _joint_bootstrap(credit: np.ndarray, valid: np.ndarray, triplets: np.ndarray, n_objects: int, resample: str,
                     n_bootstrap: int, seed: int, progress: bool) -> np.ndarray:
    """(resample, candidate) mean agreement with subjects and/or images drawn with replacement.

    A resample weighs triplet ``(i, j, k)`` by ``c_i c_j c_k`` and subject
    ``s`` by its draw count ``u_s``: its value is the statistic of the point
    estimate on the resampled data, the ``u``-weighted mean over subjects of
    each subject's weighted mean credit over its triplets with an implied
    choice (subjects left with no such triplet are skipped).
    """
    from tqdm.auto import tqdm

    n_cand, n_subj, n_trip = credit.shape
    subject_rng, image_rng = (np.random.default_rng(c) for c in np.random.SeedSequence(seed).spawn(2))
    if resample in ("both", "subjects"):
        if n_subj < 2:
            raise DataError("resampling subjects needs at least two subjects", source="behaviour_rdms",
                            fix="pass resample='images'")
        u = resample_counts(bootstrap_indices(n_subj, n_bootstrap, subject_rng), n_subj).astype(np.float64)
    else:
        u = np.ones((n_bootstrap, n_subj))
    if resample in ("both", "images"):
        c = resample_counts(bootstrap_indices(n_objects, n_bootstrap, image_rng), n_objects).astype(np.float64)
    else:
        c = np.ones((n_bootstrap, n_objects))
    flat = credit.reshape(n_cand * n_subj, n_trip)
    mask = valid.astype(np.float64)
    out = np.full((n_bootstrap, n_cand), np.nan)
    for start in tqdm(range(0, n_bootstrap, _BLOCK), disable=not progress, desc="RDM-implied bootstrap"):
        stop = min(start + _BLOCK, n_bootstrap)
        w = c[start:stop, triplets[:, 0]] * c[start:stop, triplets[:, 1]] * c[start:stop, triplets[:, 2]]
        num = (flat @ w.T).reshape(n_cand, n_subj, stop - start)  # (candidate, subject, resample)
        den = mask @ w.T  # (subject, resample)
        ub = u[start:stop].T * (den > 0)  # (subject, resample): subjects with triplets left
        per_subject = num / np.where(den > 0, den, 1.0)[None]  # each subject's mean credit, as in the estimate
        total_num = (per_subject * ub[None]).sum(axis=1)  # (candidate, resample)
        total_den = ub.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:stop] = np.where(total_den > 0, total_num / np.where(total_den > 0, total_den, 1), np.nan).T
    return out
