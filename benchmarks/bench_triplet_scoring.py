"""Odd-one-out scoring at THINGS scale: neuroalign's scorer against a per-triplet Python loop.

Data (synthetic, seeded): 4.7 M random triplets of three different objects
among 1,854 objects with 768 float32 features (THINGS: 1,854 concepts, the
4.7 M triplets of Hebart et al. 2023); choices drawn from the softmax of a
noisy copy of the features (a "human" embedding), so that accuracy is above
chance and the temperature fit has something to find.

Contenders:

- loop: the per-triplet style of existing evaluation code (SPoSE,
  Brain-Score): for each triplet, the three dot products ``[s01, s02, s12]``
  with ``np.dot`` and an ``argmax``; the predicted odd one is the item
  outside the argmax pair.  It runs on a float64 copy of the features (made
  before timing) so that both sides compute the same numbers.  The loop is
  timed on the first ``--loop-subset`` triplets (50,000 by default) and
  EXTRAPOLATED LINEARLY to all triplets (its cost per triplet is constant),
  best of ``--repeats`` runs like ours;
- neuroalign: :func:`neuroalign.triplets.scoring.score_indices` with
  ``resample=None`` — once with ``temperature=False`` (the loop's work:
  predictions, ties, per-triplet credit, accuracy; the like-for-like ratio)
  and once with the maximum-likelihood temperature and choice probabilities
  too.  Best of ``--repeats`` runs, after a warm-up call that loads the
  compiled kernels (numba, cached on disk).

Checks: on the loop's subset, the loop's predictions equal ours triplet by
triplet; on ALL triplets, ours equal those of an independent vectorised
float64 computation (``np.einsum`` over gathered features, in blocks); the
data are tie-free (tie rate 0).  The object bootstrap (1,000 resamples by
default) is timed separately.

Run::

    OMP_NUM_THREADS=1 python benchmarks/bench_triplet_scoring.py
    python benchmarks/bench_triplet_scoring.py --n-triplets 1000000 --loop-subset 20000

Measured 2026-12-06 on the 2-core development machine (shared with other
jobs), ``OMP_NUM_THREADS=1``::

    4,700,000 triplets, 1,854 objects x 768 features (float32)
    loop: 0.44 s on 50,000 triplets -> 41.3 s for 4,700,000 (extrapolated linearly)
    contender                                         seconds    ratio
    loop (extrapolated)                                 41.29     1.0x
    neuroalign, accuracy + ties (temperature=False)      0.44    93.0x
    neuroalign, + ML temperature and P(choice)           1.02    40.7x
    accuracy 0.4968 (loop on its subset 0.4959, ours there 0.4959); temperature 47.92; tie rate 0
    identical predictions: loop subset True, all 4,700,000 vs vectorised float64 einsum True (check took 39.6 s)
    object bootstrap, 1000 resamples: 4.80 s on top of the score

The like-for-like ratio (the loop's work: predictions, ties, accuracy) is
93x; with the maximum-likelihood temperature and the probability of every
human choice on top (three more compiled passes over the triplets, work the
loop does not do) it is 41x.  The loop's own time varies between runs on
this shared machine (0.44-0.73 s per 50,000 triplets seen), and so do the
ratios (81-110x like-for-like).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import best_of  # noqa: E402

from neuroalign.triplets.indexing import pair_similarities  # noqa: E402
from neuroalign.triplets.scoring import score_indices  # noqa: E402


def make_data(n_triplets: int, n_objects: int, n_features: int, seed: int):
    """Features (float32), triplets of three different objects, choices from a noisy 'human' embedding."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n_objects, n_features)).astype(np.float32)
    triplets = rng.integers(0, n_objects, size=(n_triplets, 3))
    while True:
        t0, t1, t2 = triplets.T
        bad = (t0 == t1) | (t0 == t2) | (t1 == t2)
        if not bad.any():
            break
        triplets[bad] = rng.integers(0, n_objects, size=(int(bad.sum()), 3))
    human = features + 0.7 * rng.normal(size=features.shape).astype(np.float32)
    s = pair_similarities(human, triplets)
    logits = s / s.std()
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    choices = (rng.random(n_triplets)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return features, triplets, np.minimum(choices, 2)


def loop_predictions(features: np.ndarray, triplets: np.ndarray) -> np.ndarray:
    """The per-triplet loop of SPoSE / Brain-Score style evaluation code."""
    odd_of_pair = (2, 1, 0)  # argmax over [s01, s02, s12] -> the item outside that pair
    predictions = np.empty(len(triplets), dtype=np.int64)
    for n, (i, j, k) in enumerate(triplets):
        a, b, c = features[i], features[j], features[k]
        sims = [np.dot(a, b), np.dot(a, c), np.dot(b, c)]
        predictions[n] = odd_of_pair[int(np.argmax(sims))]
    return predictions


def vectorised_predictions(features: np.ndarray, triplets: np.ndarray, block: int = 20_000) -> np.ndarray:
    """An independent float64 check: gathered features, einsum per pair, argmax (blocks of triplets)."""
    x = features.astype(np.float64)
    out = np.empty(len(triplets), dtype=np.int64)
    for start in range(0, len(triplets), block):
        t = triplets[start:start + block]
        a, b, c = x[t[:, 0]], x[t[:, 1]], x[t[:, 2]]
        sims = np.stack([np.einsum("np,np->n", b, c), np.einsum("np,np->n", a, c),
                         np.einsum("np,np->n", a, b)], axis=1)  # column k excludes item k
        out[start:start + block] = sims.argmax(axis=1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-triplets", type=int, default=4_700_000)
    parser.add_argument("--n-objects", type=int, default=1854)
    parser.add_argument("--n-features", type=int, default=768)
    parser.add_argument("--loop-subset", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    features, triplets, choices = make_data(args.n_triplets, args.n_objects, args.n_features, args.seed)
    score_indices(features, triplets[:1000], choices[:1000], n_bootstrap=2)  # warm-up: loads the compiled kernels

    x64 = features.astype(np.float64)
    subset = min(args.loop_subset, args.n_triplets)
    loop_s, loop_pred = best_of(lambda: loop_predictions(x64, triplets[:subset]), args.repeats)
    loop_total = loop_s * args.n_triplets / subset

    plain_s, plain = best_of(lambda: score_indices(features, triplets, choices, resample=None, temperature=False),
                             args.repeats)
    full_s, full = best_of(lambda: score_indices(features, triplets, choices, resample=None), args.repeats)
    predicted = full.raw["predicted"].values
    assert float(full.raw["tie_rate"]) == 0.0, "the synthetic data should be tie-free"
    same_subset = bool(np.array_equal(predicted[:subset], loop_pred))
    loop_accuracy = float(np.mean(loop_pred == choices[:subset]))
    ours_subset_accuracy = float(full.raw["credit"].values[:subset].mean())
    check_s, check = best_of(lambda: vectorised_predictions(features, triplets), 1)
    same_all = bool(np.array_equal(predicted, check))
    boot_s = float("nan")
    if args.n_bootstrap:
        boot_s, _ = best_of(lambda: score_indices(features, triplets, choices, n_bootstrap=args.n_bootstrap,
                                                  temperature=False), 1)
        boot_s -= plain_s

    n = args.n_triplets
    print(f"{n:,} triplets, {args.n_objects:,} objects x {args.n_features} features (float32)")
    print(f"loop: {loop_s:.2f} s on {subset:,} triplets -> {loop_total:.1f} s for {n:,} (extrapolated linearly)")
    print(f"{'contender':48s} {'seconds':>8s} {'ratio':>8s}")
    print(f"{'loop (extrapolated)':48s} {loop_total:8.2f} {1:7.1f}x")
    print(f"{'neuroalign, accuracy + ties (temperature=False)':48s} {plain_s:8.2f} {loop_total / plain_s:7.1f}x")
    print(f"{'neuroalign, + ML temperature and P(choice)':48s} {full_s:8.2f} {loop_total / full_s:7.1f}x")
    print(f"accuracy {float(full):.4f} (loop on its subset {loop_accuracy:.4f}, ours there {ours_subset_accuracy:.4f}); "
          f"temperature {float(full.raw['temperature']):.4g}; tie rate {float(full.raw['tie_rate']):.0f}")
    print(f"identical predictions: loop subset {same_subset}, all {n:,} vs vectorised float64 einsum {same_all} "
          f"(check took {check_s:.1f} s)")
    if args.n_bootstrap:
        print(f"object bootstrap, {args.n_bootstrap} resamples: {boot_s:.2f} s on top of the score")
    if not (same_subset and same_all):
        raise SystemExit("predictions differ")


if __name__ == "__main__":
    main()
