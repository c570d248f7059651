"""Shared pieces of the probe tests: a simulated study split by objects, and per-triplet reference loops."""

import numpy as np

from neuroalign.datasets.triplet_simulator import simulate_triplets


def loop_accuracy(similarity, triplets, choices):
    """Accuracy of the odd one outside the most similar pair, one triplet at a time (ties: expected credit)."""
    credit = 0.0
    for (i, j, k), c in zip(triplets, choices):
        s = [similarity[j][k], similarity[i][k], similarity[i][j]]
        best = [m for m in range(3) if s[m] == max(s)]
        credit += (c in best) / len(best)
    return credit / len(triplets)


def knn_overlap(a, b, k=5):
    """Mean share of each object's k cosine nearest neighbours in ``a`` also found in ``b``."""
    def knn(x):
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        s = x @ x.T
        np.fill_diagonal(s, -np.inf)
        return np.argsort(-s, axis=1)[:, :k]
    return float(np.mean([len(set(p) & set(q)) / k for p, q in zip(knn(a), knn(b))]))


def split_study(n_objects=100, n_features=8, n_triplets=25000, noise=0.25, test_fraction=0.3, seed=0):
    """A simulation and its train / test triplets (test: all three objects held out; train: none)."""
    sim = simulate_triplets(n_objects, n_features, n_triplets, noise=noise, seed=seed)
    held = np.zeros(n_objects, dtype=bool)
    held[np.random.default_rng(seed + 100).permutation(n_objects)[:round(test_fraction * n_objects)]] = True
    inside = held[sim.triplets]
    return sim, (~inside).all(axis=1), inside.all(axis=1)
