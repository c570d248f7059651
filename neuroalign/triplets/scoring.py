"""Odd-one-out scoring: predicted odd one with an explicit tie policy, choice probabilities, accuracy.

A model's similarities ``s`` ``(n, 3)`` (column ``k`` = similarity of the pair
that excludes item ``k``, :mod:`neuroalign.triplets.indexing`) predict the odd
one ``argmax(s, axis=1)`` and the choice probabilities ``softmax(s / T)``.

Ties.  Pair similarities within ``rtol * max(|s|)`` of their row's maximum
(``rtol`` = 1e-9 by default: far above the float64 rounding of a 768-feature
dot product, ~1e-13 relative, and far below the gaps of distinct real
similarities) count as tied.  The tie policies:

- ``"expected"`` (default): credit ``1 / #tied`` when the human's choice is
  among the tied, else 0 — the expected accuracy of a uniformly random
  tie-break, with no randomness;
- ``"random"``: a seeded uniform draw among the tied;
- ``"first"``: the first maximal pair in the order (0, 1), (0, 2), (1, 2), i.e.
  ``argmax([s01, s02, s12])``, the positional tie-break of the reference
  implementations (in Brain-Score's THINGS benchmark a model with constant
  features predicts the last column, the stored odd one, and scores 100%).
  Wrong: on data stored odd-one-last it gives every tie to the human's
  choice; kept only to reproduce published numbers.

The scorer is permutation-invariant: reordering the three items of a triplet
(and its choice) changes nothing, and a constant-feature model scores exactly
1/3 under ``"expected"``.  Confidence intervals resample OBJECTS (a triplet
weighs the product of its three objects' draw counts) or SUBJECTS, never
triplets, which share objects and are not independent.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import xarray as xr

from .._compiled import compiled
from ..data import average_repetitions, provenance, validate
from ..errors import ConfigError, DataError, UnknownNameError
from ..score import Score
from .indexing import _pair_similarities, check_triplets, checked_features, triplet_positions, used_objects
from .resampling import object_resamples, subject_resamples
from .temperature import _choices, _fit, _similarities, choice_probabilities, fit_temperature

__all__ = ["TIE_POLICIES", "RESAMPLING", "RTOL", "tied_pairs", "predict_odd_one", "odd_one_credit",
           "choice_probabilities", "fit_temperature", "score_similarities", "score_indices", "score_triplets"]

log = logging.getLogger(__name__)

TIE_POLICIES = ("expected", "random", "first")
RESAMPLING = ("objects", "subjects")
RTOL = 1e-9
METRIC = "odd-one-out-accuracy"


def tied_pairs(similarities: Any, *, rtol: float = RTOL) -> np.ndarray:
    """Which pair similarities are maximal in their row, within ``rtol * max|s|``: a bool ``(n, 3)`` mask.

    Examples
    --------
    >>> tied_pairs([[1.0, 1.0, 0.5], [0.2, 0.1, 0.0]]).tolist()
    [[True, True, False], [True, False, False]]
    """
    s = _similarities(similarities)
    if not rtol >= 0:
        raise ConfigError(f"rtol must be >= 0, got {rtol}", source="rtol", fix="use e.g. rtol=1e-9")
    top = s.max(axis=1, keepdims=True)
    return s >= top - rtol * np.abs(s).max(axis=1, keepdims=True)


def predict_odd_one(similarities: Any, *, tie_policy: str = "expected", rtol: float = RTOL,
                    random_state: int | np.random.Generator = 0) -> np.ndarray:
    """The predicted odd one of each triplet (0, 1 or 2), ``-1`` for ties under ``"expected"``.

    Parameters
    ----------
    similarities : array_like
        ``(n, 3)`` pair similarities, column ``k`` excluding item ``k``.
    tie_policy : {"expected", "random", "first"}
        See the module docstring.  ``"expected"`` predicts no single item for a
        tied triplet (``-1``); its credit is shared (:func:`odd_one_credit`).
    rtol : float
        Relative tolerance of a tie.
    random_state : int or Generator
        Seeds the draws of ``"random"``.

    Examples
    --------
    >>> predict_odd_one([[0.9, 0.1, 0.2], [1.0, 1.0, 1.0]]).tolist()
    [0, -1]
    >>> predict_odd_one([[1.0, 1.0, 1.0]], tie_policy="first").tolist()  # the positional trap
    [2]
    """
    if tie_policy not in TIE_POLICIES:
        raise UnknownNameError(tie_policy, TIE_POLICIES, what="tie policy", source="tie_policy")
    tied = tied_pairs(similarities, rtol=rtol)
    predicted = np.where(tied.sum(axis=1) > 1, -1, np.argmax(tied, axis=1)).astype(np.int64)
    return _break_ties(predicted, tied, tie_policy, random_state)


def _break_ties(predicted: np.ndarray, tied: np.ndarray, tie_policy: str,
                random_state: int | np.random.Generator) -> np.ndarray:
    """Replace the -1 of tied rows by the policy's pick (``tied``: the masks of all rows, or of the tied rows only)."""
    rows = np.flatnonzero(predicted < 0)
    if tie_policy == "expected" or rows.size == 0:
        return predicted
    masks = tied[rows] if len(tied) == len(predicted) else tied
    if tie_policy == "first":  # the last item (pair (0, 1)) wins, then item 1 (pair (0, 2)), then item 0
        predicted[rows] = 2 - np.argmax(masks[:, ::-1], axis=1)
    else:
        keys = np.where(masks, np.random.default_rng(random_state).random((rows.size, 3)), -1.0)
        predicted[rows] = np.argmax(keys, axis=1)
    return predicted


@compiled
def _tie_pass(s: np.ndarray, c: np.ndarray, rtol: float, credit: np.ndarray, predicted: np.ndarray,
              n_tied: np.ndarray) -> None:  # pragma: no cover - compiled
    """Per triplet, as tied_pairs / odd_one_credit: #tied maxima, expected credit, argmax (-1 when tied)."""
    for n in range(s.shape[0]):
        s0, s1, s2 = s[n, 0], s[n, 1], s[n, 2]
        top = max(s0, max(s1, s2))
        threshold = top - rtol * max(abs(s0), max(abs(s1), abs(s2)))
        t0, t1, t2 = s0 >= threshold, s1 >= threshold, s2 >= threshold
        k = int(t0) + int(t1) + int(t2)
        n_tied[n] = k
        hit = t0 if c[n] == 0 else (t1 if c[n] == 1 else t2)
        credit[n] = hit / k
        predicted[n] = -1 if k > 1 else (0 if t0 else (1 if t1 else 2))


def odd_one_credit(similarities: Any, choices: Any, *, tie_policy: str = "expected", rtol: float = RTOL,
                   random_state: int | np.random.Generator = 0) -> np.ndarray:
    """Per-triplet agreement with the human's choice: 1, 0, or ``1 / #tied`` under ``"expected"``.

    Examples
    --------
    >>> odd_one_credit([[0.9, 0.1, 0.2], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]], [0, 2, 1]).tolist()
    [1.0, 0.0, 0.3333333333333333]
    """
    s = _similarities(similarities)
    c = _choices(choices, len(s))
    if tie_policy == "expected":
        tied = tied_pairs(s, rtol=rtol)
        return tied[np.arange(len(s)), c] / tied.sum(axis=1)
    predicted = predict_odd_one(s, tie_policy=tie_policy, rtol=rtol, random_state=random_state)
    return (predicted == c).astype(np.float64)


def score_similarities(
    similarities: Any,
    choices: Any,
    *,
    triplets: Any = None,
    subjects: Any = None,
    tie_policy: str = "expected",
    rtol: float = RTOL,
    temperature: bool = True,
    resample: str | None = "objects",
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
    progress: bool = False,
    params: dict | None = None,
    inputs: dict | None = None,
) -> Score:
    """Odd-one-out accuracy of pair similarities against human choices, as a :class:`~neuroalign.Score`.

    The core of :func:`score_indices` and :func:`score_triplets`, for similarities
    that come from elsewhere (e.g. an RDM: ``s = −d``).  ``triplets`` (object
    positions) are needed to resample objects, ``subjects`` (one label per
    triplet) to resample subjects.  See :func:`score_triplets` for the
    parameters and the result.

    Examples
    --------
    >>> s = np.array([[0.9, 0.1, 0.2], [0.0, 0.3, 0.1], [0.5, 0.5, 0.5]])
    >>> score = score_similarities(s, [0, 1, 2], resample=None)
    >>> round(float(score), 4), float(score.raw["tie_rate"])
    (0.7778, 0.3333333333333333)
    """
    s = _similarities(similarities)
    c = _choices(choices, len(s))
    if triplets is not None:
        triplets, _ = check_triplets(triplets, int(np.max(triplets)) + 1 if np.size(triplets) else 0,
                                     source="triplets")
        if len(triplets) != len(s):
            raise DataError(f"{len(triplets)} triplets for {len(s)} similarity rows", source="triplets",
                            fix="pass the triplets the similarities were computed for")
    return _score(s, c, triplets, subjects, tie_policy=tie_policy, rtol=rtol, temperature=temperature,
                  resample=resample, n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed, progress=progress,
                  params=params, inputs=inputs or {"similarities": s, "choices": c})


def _check_options(tie_policy: str, rtol: float, resample: str | None, n: int, triplets: Any,
                   subjects: Any) -> None:
    if tie_policy not in TIE_POLICIES:
        raise UnknownNameError(tie_policy, TIE_POLICIES, what="tie policy", source="tie_policy")
    if not rtol >= 0:
        raise ConfigError(f"rtol must be >= 0, got {rtol}", source="rtol", fix="use e.g. rtol=1e-9")
    if resample not in (*RESAMPLING, None):
        raise UnknownNameError(str(resample), RESAMPLING, what="resampling unit", source="resample")
    if n == 0:
        raise DataError("there are no triplets to score", source="choices", fix="pass some judgements")
    if resample == "objects" and triplets is None:
        raise ConfigError("resampling objects needs the triplets' object positions", source="triplets",
                          fix="pass triplets=, or resample='subjects' / None")
    if resample == "subjects" and subjects is None:
        raise ConfigError("resampling subjects needs subject labels", source="resample",
                          fix="load the judgements with a subject column, or pass resample='objects'")


def _score(s: np.ndarray, c: np.ndarray, t: np.ndarray | None, subjects: Any, *, tie_policy: str, rtol: float,
           temperature: bool, resample: str | None, n_bootstrap: int, ci_level: float, seed: int, progress: bool,
           params: dict | None, inputs: dict) -> Score:
    """score_similarities on checked arrays."""
    _check_options(tie_policy, rtol, resample, len(s), t, subjects)
    tie_seed, boot_seed = (np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(2))
    credit, predicted, n_tied = np.empty(len(s)), np.empty(len(s), dtype=np.int64), np.empty(len(s), np.int64)
    _tie_pass(s, c, float(rtol), credit, predicted, n_tied)
    if tie_policy != "expected":
        rows = np.flatnonzero(n_tied > 1)
        predicted = _break_ties(predicted, tied_pairs(s[rows], rtol=rtol), tie_policy, tie_seed)
        credit = (predicted == c).astype(np.float64)
    accuracy = float(credit.mean())
    tie_rate = float((n_tied > 1).mean())
    if tie_rate > 0:
        log.info("%d of %d triplets (%.1f%%) have tied maximal similarities (tie policy %r)",
                 int((n_tied > 1).sum()), len(s), 100 * tie_rate, tie_policy)
    coords: dict[str, Any] = {"trial": np.arange(len(s))}
    if subjects is not None:
        coords["subject"] = ("trial", np.asarray(subjects))
    fields: dict[str, Any] = {"credit": ("trial", credit), "predicted": ("trial", predicted),
                              "n_tied": ("trial", n_tied), "tie_rate": tie_rate, "n_triplets": len(s)}
    infinite_note = None
    if temperature:
        fitted, log_likelihood, p_choice = _fit(s, c, True)
        fields.update(p_choice=("trial", p_choice), log_likelihood=log_likelihood)
        if np.isfinite(fitted):
            fields["temperature"] = fitted
        else:  # an infinite value could not be stored with the score: say what it means instead
            log.warning("the maximum-likelihood temperature is infinite: the similarities carry no information "
                        "about the choices (every P(choice) is 1/3)")
            infinite_note = ("the maximum-likelihood temperature is infinite: the similarities carry no "
                             "information about the choices")
    raw = xr.Dataset(fields, coords=coords)
    if infinite_note:
        raw.attrs["temperature_note"] = infinite_note
    all_params = {**dict(params or {}), "tie_policy": tie_policy, "rtol": rtol, "temperature": temperature,
                  "resample": resample,
                  "n_bootstrap": n_bootstrap if resample else None, "ci_level": ci_level, "seed": seed}
    raw.attrs.update(provenance(all_params, inputs))
    if resample is None:
        return Score(accuracy, raw=raw, metric=METRIC, params=all_params, ci_level=ci_level)
    if resample == "objects":
        values = object_resamples(credit, t, n_bootstrap=n_bootstrap, random_state=boot_seed, progress=progress)
    else:
        values = subject_resamples(credit, subjects, n_bootstrap=n_bootstrap, random_state=boot_seed)
    score = Score.from_resamples(accuracy, values, metric=METRIC, params=all_params, ci_level=ci_level)
    score.raw = raw.assign(resampled=("resample", values))
    return score


def score_indices(
    features: Any,
    triplets: Any,
    choices: Any,
    *,
    similarity: str = "dot",
    subjects: Any = None,
    tie_policy: str = "expected",
    rtol: float = RTOL,
    temperature: bool = True,
    resample: str | None = "objects",
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
    chunk: int | None = None,
    progress: bool = False,
) -> Score:
    """Odd-one-out accuracy of features in index form (the fast core of :func:`score_triplets`).

    Parameters
    ----------
    features : array_like
        ``(n_objects, p)``.
    triplets : array_like
        ``(n, 3)`` object positions (rows of ``features``).
    choices : array_like
        ``(n,)`` position of the odd one in each row, 0, 1 or 2.
    similarity : {"dot", "cosine", "euclidean"}
        Pair similarity (negative distance for ``"euclidean"``).
    subjects : array_like, optional
        One subject label per triplet (needed for ``resample="subjects"``).
    chunk : int, optional
        Passed to :func:`~neuroalign.triplets.indexing.pair_similarities`.
    tie_policy, rtol, temperature, resample, n_bootstrap, ci_level, seed, progress
        As in :func:`score_triplets`.

    Examples
    --------
    >>> x = np.ones((4, 3))  # a constant model: every triplet is a three-way tie
    >>> float(score_indices(x, [[0, 1, 2], [1, 2, 3]], [2, 2], resample=None))
    0.3333333333333333
    """
    x = checked_features(features, similarity)
    t, c = check_triplets(triplets, len(x), choices, source="triplets")
    _check_options(tie_policy, rtol, resample, len(t), t, subjects)
    objects, codes = used_objects(t, len(x))  # only the judged objects enter the similarities
    s = _pair_similarities(x if len(objects) == len(x) else x[objects], codes, similarity, chunk)
    return _score(s, c, t, subjects, tie_policy=tie_policy, rtol=rtol, temperature=temperature, resample=resample,
                  n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed, progress=progress,
                  params={"similarity": similarity}, inputs={"features": x, "triplets": t, "choices": c})


def score_triplets(
    representation: xr.DataArray,
    judgements: xr.Dataset,
    *,
    similarity: str = "dot",
    tie_policy: str = "expected",
    rtol: float = RTOL,
    temperature: bool = True,
    resample: str | None = "objects",
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
    progress: bool = False,
) -> Score:
    """How well a representation's similarities predict human odd-one-out choices.

    Parameters
    ----------
    representation : xarray.DataArray
        ``(presentation, neuroid)`` with a ``stimulus_id`` coordinate (model
        features, embeddings, or any representation); repetitions of a
        stimulus are averaged first.
    judgements : xarray.Dataset
        From :func:`neuroalign.loaders.load_triplets`: ``stimulus_id`` (trial,
        item), ``choice_index`` (trial), optional ``subject`` (trial).
    similarity : {"dot", "cosine", "euclidean"}
        Dot product (SPoSE, the probes, Brain-Score), cosine (the zero-shot
        evaluation of Muttenthaler et al. 2023) or negative euclidean distance.
    tie_policy : {"expected", "random", "first"}
        ``"expected"``: a tied triplet earns ``1/#tied`` when the choice is
        among the tied.  ``"random"``: a seeded draw.  ``"first"``: the
        positional tie-break of reference implementations such as Brain-Score
        (wrong; for reproducing their numbers only: on odd-one-last data a
        constant model scores 1.0).
    rtol : float
        Relative tolerance of a tie (see the module docstring).
    temperature : bool
        Fit the temperature of the choice probabilities by maximum likelihood
        (:func:`fit_temperature`; a few passes over the triplets, the larger
        part of the time on millions of triplets).  ``False`` leaves
        ``temperature``, ``log_likelihood`` and ``p_choice`` out of ``raw``.
    resample : {"objects", "subjects"} or None
        Bootstrap unit of the CI: objects (a triplet weighs the product of its
        objects' draw counts) or subjects; never triplets.  None: no CI.
    n_bootstrap : int
    ci_level : float
    seed : int
        Seeds the ``"random"`` tie-break and the bootstrap.
    progress : bool
        Show a progress bar over the object bootstrap.

    Returns
    -------
    Score
        Value: accuracy (mean credit; chance 1/3).  Error and CI from the
        bootstrap.  ``raw``: a Dataset with, per trial, ``credit`` (the
        per-triplet agreement), ``predicted`` (−1 for ties under
        ``"expected"``), ``n_tied`` and ``p_choice`` (the probability of the
        human's choice under the fitted temperature); scalars ``tie_rate``,
        ``temperature`` (maximum likelihood, :func:`fit_temperature`),
        ``log_likelihood`` and ``n_triplets``; ``resampled`` (the bootstrap
        accuracies); provenance in its attributes.

    Raises
    ------
    AlignmentError
        Judged stimuli missing from the representation (some are listed).
    DataError
        Bad triplets or choices; non-finite features.
    ConfigError
        ``resample="subjects"`` without subject labels.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.data import create_assembly
    >>> rep = create_assembly(np.array([[1., 0.], [.9, .1], [0., 1.], [.1, .9]]), stimulus_id=list("abcd"))
    >>> judgements = xr.Dataset({"stimulus_id": (("trial", "item"), [list("abc"), list("bcd"), list("acd")]),
    ...                          "choice_index": ("trial", [2, 0, 0])})
    >>> score = score_triplets(rep, judgements, n_bootstrap=50)
    >>> float(score), float(score.raw["tie_rate"])
    (1.0, 0.0)
    """
    validate(representation, name="representation")
    rep = average_repetitions(representation, name="representation").transpose("presentation", "neuroid")
    triplets, choices = triplet_positions(judgements, rep["stimulus_id"].values)
    subjects = judgements["subject"].values if "subject" in judgements.variables else None
    score = score_indices(rep.values, triplets, choices, similarity=similarity, subjects=subjects,
                          tie_policy=tie_policy, rtol=rtol, temperature=temperature, resample=resample,
                          n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed, progress=progress)
    if "trial" in judgements.coords:
        score.raw = score.raw.assign_coords(trial=judgements["trial"].values)
    return score
