"""Noise ceilings of odd-one-out accuracy and the chance-normalised score.

References: a per-response Python loop with collections.Counter over unordered triplets, the
population limit max_k p_k of the leave-one-out majority agreement, and hand-computed cases.
"""

from collections import Counter

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign import Score
from neuroalign.errors import DataError, ScoreError
from neuroalign.triplets.ceilings import (leave_one_subject_out_ceiling, normalised_score, repeated_agreement,
                                          repeated_triplet_ceiling)


def _loop_agreement(triplets, choices, subjects=None, include_self=False):
    """Per response: credit against the majority of the others (other subjects when subjects are given)."""
    key = [frozenset(row) for row in triplets]
    chosen = [row[c] for row, c in zip(triplets, choices)]
    out = {}
    for n in range(len(triplets)):
        others = Counter(chosen[m] for m in range(len(triplets))
                         if key[m] == key[n] and (m != n or include_self)
                         and (subjects is None or subjects[m] != subjects[n] or (m == n and include_self)))
        if not others:
            continue
        top = max(others.values())
        modes = [obj for obj, k in others.items() if k == top]
        out[n] = (1.0 / len(modes)) if chosen[n] in modes else 0.0
    return out


def _responses(seed, n_triplets=12, repeats=4, n_objects=8):
    rng = np.random.default_rng(seed)
    base = np.stack([rng.choice(n_objects, 3, replace=False) for _ in range(n_triplets)])
    rows = np.repeat(base, rng.integers(1, repeats + 1, n_triplets), axis=0)
    rows = np.stack([rng.permutation(r) for r in rows])
    return rows, rng.integers(0, 3, len(rows))


@pytest.mark.parametrize("include_self", [False, True])
def test_repeated_agreement_matches_loop(include_self):
    t, c = _responses(0)
    agreement, rows = repeated_agreement(t, c, include_self=include_self)
    reference = _loop_agreement(t.tolist(), c.tolist(), include_self=include_self)
    if include_self:  # with itself counted, every response of a triplet seen twice has "others"
        reference = {n: v for n, v in reference.items() if sum(frozenset(r) == frozenset(t[n]) for r in t) >= 2}
    assert rows.tolist() == sorted(reference)
    np.testing.assert_allclose(agreement, [reference[n] for n in rows.tolist()], rtol=0, atol=1e-15)


def test_repeated_ceiling_on_judgements_with_string_ids():
    t, c = _responses(1)
    ids = np.array([f"img{i}" for i in range(8)], dtype=object)
    judgements = xr.Dataset({"stimulus_id": (("trial", "item"), ids[t]), "choice_index": ("trial", c)},
                            coords={"trial": np.arange(len(c)) + 100})
    score = repeated_triplet_ceiling(judgements)
    reference = _loop_agreement(t.tolist(), c.tolist())
    assert float(score) == pytest.approx(np.mean(list(reference.values())), abs=1e-15)
    assert score.raw["trial"].values.tolist() == [n + 100 for n in sorted(reference)]
    assert score.metric == "repeated-triplet-ceiling"


def test_repeated_ceiling_approaches_the_modal_probability():
    rng = np.random.default_rng(2)
    p = np.array([0.6, 0.3, 0.1])  # the population's choice probabilities of each triplet's three objects
    rows, choices = [], []
    for g in range(200):
        objs = rng.choice(1000, 3, replace=False)
        for _ in range(40):
            odd = rng.choice(3, p=p)
            order = rng.permutation(3)
            rows.append(objs[order])
            choices.append(int(np.flatnonzero(order == odd)[0]))
    ceiling = float(repeated_triplet_ceiling(triplets=np.array(rows), choices=np.array(choices)))
    assert ceiling == pytest.approx(0.6, abs=0.02)  # max_k p_k: the best any model can do


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_ceilings_ignore_item_order_and_row_order(seed):
    t, c = _responses(seed % 1000, n_objects=6)
    rng = np.random.default_rng(seed)
    subjects = rng.choice(["a", "b", "c"], len(c))
    perms = np.array([rng.permutation(3) for _ in range(len(t))])
    t2 = np.take_along_axis(t, perms, axis=1)
    c2 = np.argmax(perms == c[:, None], axis=1)
    order = rng.permutation(len(c))
    try:
        a = float(repeated_triplet_ceiling(triplets=t, choices=c))
    except DataError:
        return
    assert float(repeated_triplet_ceiling(triplets=t2[order], choices=c2[order])) == pytest.approx(a, abs=1e-14)
    try:
        b = leave_one_subject_out_ceiling(triplets=t, choices=c, subjects=subjects)
    except DataError:
        return
    b2 = leave_one_subject_out_ceiling(triplets=t2[order], choices=c2[order], subjects=subjects[order])
    assert float(b2) == pytest.approx(float(b), abs=1e-14)


def test_leave_one_subject_out_matches_loop():
    t, c = _responses(3, n_triplets=10, repeats=6, n_objects=7)
    subjects = np.random.default_rng(3).choice(["s1", "s2", "s3", "s4"], len(c))
    score = leave_one_subject_out_ceiling(triplets=t, choices=c, subjects=subjects)
    reference = _loop_agreement(t.tolist(), c.tolist(), subjects.tolist())
    per_subject = {s: np.mean([v for n, v in reference.items() if subjects[n] == s])
                   for s in dict.fromkeys(subjects[sorted(reference)])}
    got = dict(zip(score.raw["subject"].values.tolist(), score.raw["agreement"].values.tolist()))
    assert got.keys() == per_subject.keys()
    for s in got:
        assert got[s] == pytest.approx(per_subject[s], abs=1e-15)
    assert float(score) == pytest.approx(np.mean(list(per_subject.values())), abs=1e-15)


def test_leave_one_subject_out_excludes_the_subjects_own_repeats():
    # subject a answers one triplet twice (object 0 both times), subject b once (object 1)
    t, choices, subjects = [[0, 1, 2]] * 3, [0, 0, 1], ["a", "a", "b"]
    loso = leave_one_subject_out_ceiling(triplets=t, choices=choices, subjects=subjects)
    assert loso.raw["agreement"].values.tolist() == [0.0, 0.0]  # a's majority would be a's own repeat
    # the repeated-triplet ceiling counts a's other response: a gets 1/2 (a tie 0 vs 1) twice, b gets 0
    assert float(repeated_triplet_ceiling(triplets=t, choices=choices)) == pytest.approx(1 / 3)


def test_ceiling_errors():
    with pytest.raises(DataError, match="more than once"):
        repeated_triplet_ceiling(triplets=[[0, 1, 2], [0, 1, 3]], choices=[0, 0])
    with pytest.raises(DataError, match="no subject labels"):
        leave_one_subject_out_ceiling(triplets=[[0, 1, 2]] * 2, choices=[0, 0])
    with pytest.raises(DataError, match="at least two subjects"):
        leave_one_subject_out_ceiling(triplets=[[0, 1, 2]] * 2, choices=[0, 0], subjects=["a", "a"])
    with pytest.raises(DataError, match="two different subjects"):
        leave_one_subject_out_ceiling(triplets=[[0, 1, 2], [0, 1, 3]], choices=[0, 0], subjects=["a", "b"])
    with pytest.raises(DataError, match="not one of the three items"):
        repeated_triplet_ceiling(triplets=[[0, 1, 2]] * 2, choices=[0, 3])
    with pytest.raises(DataError, match="repeat an object"):
        repeated_triplet_ceiling(triplets=[[0, 1, 1]] * 2, choices=[0, 0])
    with pytest.raises(DataError, match="either"):
        repeated_triplet_ceiling(xr.Dataset(), triplets=[[0, 1, 2]], choices=[0])


def test_normalised_score():
    assert normalised_score(0.6767, 0.6767) == pytest.approx(1.0)
    assert normalised_score(1 / 3, 0.6767) == 0.0
    assert normalised_score(0.2, 0.6767) == 0.0  # clipped at chance
    assert normalised_score(0.5, 0.6) == pytest.approx((0.5 - 1 / 3) / (0.6 - 1 / 3))
    score = Score.from_resamples(0.5, np.array([0.45, 0.5, 0.55, 0.3]), metric="odd-one-out-accuracy")
    out = normalised_score(score, Score(0.6))
    assert out.metric == "odd-one-out-accuracy-normalised"
    assert float(out) == pytest.approx(0.625)
    assert float(out.ci[0]) == pytest.approx(max((float(score.ci[0]) - 1 / 3) / (0.6 - 1 / 3), 0))
    assert float(out.error) == pytest.approx(float(score.error) / (0.6 - 1 / 3))
    for bad in (0.3, 1 / 3, 1.2):
        with pytest.raises(ScoreError, match="chance"):
            normalised_score(0.5, bad)
