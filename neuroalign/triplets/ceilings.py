"""Noise ceilings of odd-one-out accuracy: repeated triplets, leave one subject out; chance-normalised scores.

A triplet is the same whatever the order of its three objects, and a choice
is the chosen OBJECT (not its position), so repetitions shown in different
orders are pooled.

Repeated-triplet ceiling (:func:`repeated_triplet_ceiling`).  For every
response to a triplet that was answered at least twice, the agreement with
the majority choice of the OTHER responses to the same unordered triplet: 1
when the response is the unique most frequent choice among the others, 0 when
it is not among the most frequent, and ``1 / #modes`` when the others' counts
tie (the expected credit of a random tie-break, as in the scorer).  The
ceiling is the mean agreement over these responses.  It estimates the accuracy
of predicting a new response with the consensus of the rest, so it approaches
the best accuracy any model can reach on these triplets (``max_k p_k``, the
population's modal choice probability) from below as repetitions grow.
``include_self=True`` counts the response itself in the majority (a
looser, upward-biased estimate).  For THINGS, Brain-Score's Hebart2023
benchmark uses the fixed ceiling 0.6767, the agreement on repeated triplets
reported by Hebart et al. 2023 (eLife 12:e82580); the plots of Muttenthaler et
al. (ICLR 2023) use 0.673.

Leave-one-subject-out ceiling (:func:`leave_one_subject_out_ceiling`).  The
same agreement, but the majority comes from the OTHER SUBJECTS' responses to
the same unordered triplet (all of the left-out subject's own responses are
excluded); one value per subject (the mean over that subject's responses to
triplets that others answered too), and the ceiling is the mean over subjects.

Normalised score (:func:`normalised_score`): ``(raw − 1/3) / (ceiling − 1/3)``,
clipped at 0 (below chance), not clipped above.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data import provenance
from ..errors import DataError, ScoreError
from ..score import Score
from .indexing import check_triplets

__all__ = ["CHANCE", "repeated_agreement", "repeated_triplet_ceiling", "leave_one_subject_out_ceiling",
           "normalised_score"]

#: Chance accuracy of an odd-one-out judgement.
CHANCE = 1.0 / 3.0


def _canonical(items: Any, choices: Any, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Group codes of the unordered triplets and the chosen object's slot (0-2) in the sorted triplet."""
    items = np.asarray(items)
    if items.ndim != 2 or items.shape[1] != 3:
        raise DataError(f"triplets must have shape (n, 3), got {items.shape}", source=source,
                        fix="pass one row of three objects per response")
    codes = pd.factorize(items.ravel(), sort=False)[0].reshape(items.shape).astype(np.int64)
    codes, c = check_triplets(codes, int(codes.max()) + 1 if codes.size else 0, choices, source=source)
    chosen = codes[np.arange(len(codes)), c]
    ordered = np.sort(codes, axis=1)
    groups = np.unique(ordered, axis=0, return_inverse=True)[1].reshape(-1)
    slot = np.argmax(ordered == chosen[:, None], axis=1)
    return groups, slot


def _agreement(others: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """Credit of each response (its slot) against the majority of ``others`` (counts per slot, (m, 3))."""
    modes = others == others.max(axis=1, keepdims=True)
    return modes[np.arange(len(slot)), slot] / modes.sum(axis=1)


def repeated_agreement(triplets: Any, choices: Any, *, include_self: bool = False,
                       source: str = "triplets") -> tuple[np.ndarray, np.ndarray]:
    """Each repeated response's agreement with the majority of the other responses to the same triplet.

    Parameters
    ----------
    triplets : array_like
        ``(n, 3)`` objects of each response (positions or ids, any order).
    choices : array_like
        ``(n,)`` position of the odd one within each row.
    include_self : bool
        Count the response itself in the majority.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The agreement (1, 0 or ``1/#modes``) of the responses to triplets
        answered at least twice, and their row numbers.

    Examples
    --------
    >>> t = [[0, 1, 2], [2, 1, 0], [1, 0, 2], [3, 4, 5]]  # one triplet three times, in three orders
    >>> agreement, rows = repeated_agreement(t, [2, 0, 2, 1])  # object 2 chosen thrice
    >>> agreement.tolist(), rows.tolist()
    ([1.0, 1.0, 1.0], [0, 1, 2])
    """
    groups, slot = _canonical(triplets, choices, source)
    n_groups = int(groups.max()) + 1 if groups.size else 0
    counts = np.bincount(groups * 3 + slot, minlength=3 * n_groups).reshape(n_groups, 3)
    repeated = np.flatnonzero(counts.sum(axis=1)[groups] >= 2)
    others = counts[groups[repeated]] - (0 if include_self else np.eye(3, dtype=np.int64)[slot[repeated]])
    return _agreement(others, slot[repeated]), repeated


def repeated_triplet_ceiling(judgements: xr.Dataset | None = None, *, triplets: Any = None, choices: Any = None,
                             include_self: bool = False) -> Score:
    """The repeated-triplet noise ceiling (see the module docstring for the exact definition).

    Parameters
    ----------
    judgements : xarray.Dataset, optional
        From :func:`neuroalign.loaders.load_triplets` (``stimulus_id``,
        ``choice_index``); or give ``triplets`` and ``choices`` in index form.
    triplets, choices : array_like, optional
        ``(n, 3)`` objects (positions or ids) and ``(n,)`` odd-one positions.
    include_self : bool
        Count each response in its own majority (upward-biased).

    Returns
    -------
    Score
        Value: the mean agreement.  ``raw``: per response of a repeated
        triplet, ``agreement`` on dim ``response`` with the ``trial`` it came
        from; ``n_triplets`` (repeated unordered triplets) and ``n_responses``.

    Raises
    ------
    DataError
        No triplet was answered twice.

    Examples
    --------
    >>> t = [[0, 1, 2], [2, 1, 0], [1, 0, 2], [3, 4, 5], [5, 3, 4]]
    >>> ceiling = repeated_triplet_ceiling(triplets=t, choices=[2, 0, 0, 0, 1])  # objects 2, 2, 1; 3, 3
    >>> round(float(ceiling), 4)  # (1/2 + 1/2 + 0 + 1 + 1) / 5
    0.6
    """
    items, c, trial, source = _inputs(judgements, triplets, choices)
    agreement, rows = repeated_agreement(items, c, include_self=include_self, source=source)
    if rows.size == 0:
        raise DataError("no triplet was answered more than once, so there is no repeated-triplet ceiling",
                        source=source, fix="collect repeated triplets, or use the leave-one-subject-out ceiling")
    groups, _ = _canonical(np.asarray(items)[rows], c[rows], source)
    raw = xr.Dataset({"agreement": ("response", agreement), "n_triplets": int(groups.max()) + 1,
                      "n_responses": rows.size}, coords={"trial": ("response", trial[rows])})
    params = {"include_self": include_self}
    raw.attrs.update(provenance(params, {"triplets": np.asarray(items).astype(str), "choices": c}))
    return Score(float(agreement.mean()), raw=raw, metric="repeated-triplet-ceiling", params=params)


def leave_one_subject_out_ceiling(judgements: xr.Dataset | None = None, *, triplets: Any = None,
                                  choices: Any = None, subjects: Any = None) -> Score:
    """The leave-one-subject-out ceiling: each subject's agreement with the other subjects' majority.

    Parameters
    ----------
    judgements : xarray.Dataset, optional
        From :func:`neuroalign.loaders.load_triplets`, with a ``subject``
        coordinate; or give ``triplets``, ``choices`` and ``subjects``.
    triplets, choices, subjects : array_like, optional
        Index form: ``(n, 3)`` objects, ``(n,)`` odd-one positions, ``(n,)`` subject labels.

    Returns
    -------
    Score
        Value: the mean over subjects.  ``raw``: ``agreement`` per subject (dim
        ``subject``) and ``n_responses`` per subject (responses to triplets
        that another subject answered too).

    Raises
    ------
    DataError
        No subject labels, a single subject, or no triplet answered by two subjects.

    Examples
    --------
    >>> t = [[0, 1, 2]] * 3 + [[3, 4, 5]] * 3
    >>> ceiling = leave_one_subject_out_ceiling(triplets=t, choices=[2, 2, 1, 0, 0, 0],
    ...                                          subjects=["a", "b", "c"] * 2)
    >>> ceiling.raw["agreement"].values.round(3).tolist()  # a, b agree with the other two's majority half the time
    [0.75, 0.75, 0.5]
    """
    items, c, trial, source = _inputs(judgements, triplets, choices)
    if subjects is None and judgements is not None and "subject" in judgements.variables:
        subjects = judgements["subject"].values
    if subjects is None:
        raise DataError("the judgements have no subject labels", source=source,
                        fix="load them with a subject column, or use repeated_triplet_ceiling")
    labels = np.asarray(subjects)
    if labels.shape != (len(c),):
        raise DataError(f"need one subject per response, got {labels.shape} for {len(c)} responses",
                        source="subjects", fix="pass the subject of each response")
    subject_codes, names = pd.factorize(labels, sort=False)
    if len(names) < 2:
        raise DataError(f"a leave-one-subject-out ceiling needs at least two subjects, got {len(names)}",
                        source=source, fix="use repeated_triplet_ceiling for one subject's repeated triplets")
    groups, slot = _canonical(items, c, source)
    n_groups = int(groups.max()) + 1
    counts = np.bincount(groups * 3 + slot, minlength=3 * n_groups).reshape(n_groups, 3)
    pair = groups * len(names) + subject_codes  # (triplet, subject)
    pair_codes, pair_index = np.unique(pair, return_inverse=True)
    own = np.bincount(pair_index.reshape(-1) * 3 + slot, minlength=3 * len(pair_codes)).reshape(-1, 3)
    others = counts[groups] - own[pair_index.reshape(-1)]
    keep = others.sum(axis=1) > 0
    if not keep.any():
        raise DataError("no triplet was answered by two different subjects", source=source,
                        fix="a leave-one-subject-out ceiling needs triplets shown to several subjects")
    agreement = _agreement(others[keep], slot[keep])
    per_subject = np.bincount(subject_codes[keep], weights=agreement, minlength=len(names))
    n_responses = np.bincount(subject_codes[keep], minlength=len(names))
    present = n_responses > 0
    values = per_subject[present] / n_responses[present]
    raw = xr.Dataset({"agreement": ("subject", values), "n_responses": ("subject", n_responses[present])},
                     coords={"subject": np.asarray(names)[present]})
    raw.attrs.update(provenance({}, {"triplets": np.asarray(items).astype(str), "choices": c,
                                     "subjects": labels.astype(str)}))
    return Score(float(values.mean()), raw=raw, metric="leave-one-subject-out-ceiling")


def _inputs(judgements: xr.Dataset | None, triplets: Any, choices: Any) -> tuple[np.ndarray, np.ndarray,
                                                                                   np.ndarray, str]:
    """(objects (n, 3), choices, trial labels, source) from a judgements Dataset or index-form arrays."""
    if judgements is not None:
        if triplets is not None or choices is not None:
            raise DataError("pass either judgements or triplets= and choices=, not both", source="judgements",
                            fix="drop one of them")
        if not isinstance(judgements, xr.Dataset) or not {"stimulus_id", "choice_index"} <= set(judgements):
            raise DataError("judgements must be a Dataset with 'stimulus_id' and 'choice_index'",
                            source="judgements", fix="load them with neuroalign.loaders.load_triplets")
        ids = judgements["stimulus_id"]
        items = ids.transpose(..., "item").values if "item" in ids.dims else ids.values
        c = np.asarray(judgements["choice_index"].values)
        trial = judgements["trial"].values if "trial" in judgements.coords else np.arange(len(c))
        return items, c, trial, "judgements"
    if triplets is None or choices is None:
        raise DataError("no judgements given", source="judgements",
                        fix="pass a judgements Dataset, or triplets= and choices=")
    c = np.asarray(choices)
    return np.asarray(triplets), c, np.arange(len(c)), "triplets"


def normalised_score(raw: float | Score, ceiling: float | Score) -> float | Score:
    """``(raw − 1/3) / (ceiling − 1/3)``, clipped at 0: chance is 0, the ceiling is 1.

    A :class:`~neuroalign.Score` comes back as a Score whose value and CI are
    mapped the same way (metric ``"<metric>-normalised"``); a float as a float.

    Raises
    ------
    ScoreError
        A ceiling at or below chance (1/3), or above 1.

    Examples
    --------
    >>> round(normalised_score(0.55, 0.6767), 4)
    0.631
    >>> normalised_score(0.30, 0.6767)  # below chance
    0.0
    """
    top = float(ceiling)
    if not CHANCE < top <= 1:
        raise ScoreError(f"the ceiling {top:.4g} is not between chance (1/3) and 1", source="ceiling",
                         fix="check the ceiling: responses at chance cannot normalise a score")

    def scale(value: Any) -> Any:
        return np.maximum((value - CHANCE) / (top - CHANCE), 0.0)

    if not isinstance(raw, Score):
        return float(scale(float(raw)))
    data = raw.data.copy()
    for name in ("score", "ci_low", "ci_high"):
        if name in data:
            data[name] = scale(data[name])
    if "error" in data:
        data["error"] = data["error"] / (top - CHANCE)
    out = raw._replace(data, raw.raw)
    out.metric = f"{raw.metric}-normalised" if raw.metric else "normalised"
    out.params = {**raw.params, "normalised_by_ceiling": top}
    return out
