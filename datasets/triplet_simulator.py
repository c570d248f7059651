"""Odd-one-out judgements simulated from a planted embedding.

Objects carry features ``X`` (standard normal, ``n_objects × n_features``).
A hidden "human" similarity is made from a planted transform of them,
``S = (X W)(X W)ᵀ``, rescaled so that its off-diagonal entries have standard
deviation 1.  Each triplet's odd one is drawn from the softmax of the three
pair similarities divided by ``noise`` (a temperature: 0 picks the item
outside the most similar pair every time), with the pair order of
:mod:`neuroalign.triplets`: ``s[:, k]`` is the similarity of the pair that
excludes item ``k``, so ``P(odd = k) = softmax(s / noise)[k]``.

Because ``S`` is known, so is the best any model can do: the planted
similarity's own accuracy on the simulated choices.

Examples
--------
>>> from neuroalign.datasets.triplet_simulator import simulate_triplets
>>> sim = simulate_triplets(30, 8, 200, seed=0)
>>> sim.triplets.shape, sim.judgements.stimulus_id.shape, sim.features.dims
((200, 3), (200, 3), ('presentation', 'neuroid'))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from neuroalign.data import create_assembly, provenance
from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.loaders.behavior import check_trials

__all__ = ["TRANSFORMS", "SimulatedTriplets", "simulate_triplets", "planted_pair_similarities"]

TRANSFORMS = ("low_rank", "linear", "diagonal", "identity")


@dataclass
class SimulatedTriplets:
    """Simulated odd-one-out judgements with the planted truth.

    Attributes
    ----------
    X : ndarray (n_objects, n_features)
        The objects' features (what a model would see).
    transform : ndarray (n_features, rank)
        The planted transform ``W``.
    similarity : ndarray (n_objects, n_objects)
        The planted ("human") similarity ``(X W)(X W)ᵀ``, rescaled.
    triplets : ndarray (n, 3) int
        Object positions of each trial.
    choices : ndarray (n,) int
        Position (0–2) of the odd one within each row.
    subjects : ndarray (n,) int
        Simulated subject of each trial.
    judgements : xarray.Dataset
        The same trials in :func:`neuroalign.loaders.load_triplets` form.
    features : xarray.DataArray
        ``X`` as a ``(presentation, neuroid)`` array with ``stimulus_id``.
    """

    X: np.ndarray
    transform: np.ndarray
    similarity: np.ndarray
    triplets: np.ndarray
    choices: np.ndarray
    subjects: np.ndarray
    judgements: xr.Dataset
    features: xr.DataArray
    noise: float
    params: dict = field(default_factory=dict)

    @property
    def stimulus_ids(self) -> np.ndarray:
        """The objects' ids (``obj0000`` …)."""
        return self.features["stimulus_id"].values


def planted_pair_similarities(similarity: np.ndarray, triplets: np.ndarray) -> np.ndarray:
    """Pair similarities ``s`` (n, 3) of a similarity matrix; ``s[:, k]`` excludes item ``k``.

    Examples
    --------
    >>> import numpy as np
    >>> S = np.arange(9.0).reshape(3, 3)
    >>> planted_pair_similarities(S, np.array([[0, 1, 2]])).tolist()
    [[5.0, 2.0, 1.0]]
    """
    t = np.asarray(triplets)
    return np.stack([similarity[t[:, 1], t[:, 2]], similarity[t[:, 0], t[:, 2]],
                     similarity[t[:, 0], t[:, 1]]], axis=1)


def _planted_transform(kind: str, p: int, rank: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "low_rank":
        return rng.normal(size=(p, rank))
    if kind == "linear":
        return rng.normal(size=(p, p))
    if kind == "diagonal":
        return np.diag(rng.exponential(size=p) ** 2)
    return np.eye(p)


def _random_triplets(n_objects: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of three different objects in random order."""
    rows = np.empty((0, 3), dtype=np.int64)
    while len(rows) < n:
        draw = rng.integers(0, n_objects, size=(2 * (n - len(rows)) + 8, 3))
        ok = (draw[:, 0] != draw[:, 1]) & (draw[:, 0] != draw[:, 2]) & (draw[:, 1] != draw[:, 2])
        rows = np.concatenate([rows, draw[ok]])
    return rows[:n]


def _sample_choices(s: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    if noise == 0:
        return np.argmax(s, axis=1)
    z = s / noise
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random(len(s))[:, None]
    return np.minimum((u > np.cumsum(p, axis=1)).sum(axis=1), 2)


def simulate_triplets(
    n_objects: int,
    n_features: int,
    n_triplets: int,
    *,
    transform: str = "low_rank",
    rank: int = 3,
    noise: float = 0.1,
    n_subjects: int = 1,
    repeats: int = 0,
    seed: int = 0,
) -> SimulatedTriplets:
    """Simulate odd-one-out judgements from a planted similarity.

    Parameters
    ----------
    n_objects, n_features : int
        Size of the feature matrix ``X`` (standard normal).
    n_triplets : int
        Number of random triplets, each of three different objects, drawn independently (so on few
        objects the same unordered triplet can occur more than once, as a repeat with its own choice).
    transform : {"low_rank", "linear", "diagonal", "identity"}
        The planted ``W``: Gaussian ``n_features × rank`` (the default; far
        from what ``X`` alone predicts), Gaussian square, squared-exponential
        diagonal weights, or the identity (``X`` is already aligned).
    rank : int
        Columns of ``W`` for ``"low_rank"``.
    noise : float
        Softmax temperature relative to the spread (sd 1) of the similarities;
        0 gives deterministic choices.
    n_subjects : int
        Trials are spread over this many simulated subjects (ids 0…), who all
        share the planted similarity and differ only by response noise.
    repeats : int
        Number of extra trials repeating already drawn triplets (the same
        three objects in a new random order, a fresh choice and a random
        subject): what repeated-triplet noise ceilings need.
    seed : int
        Seed of the numpy Generator behind every draw.

    Returns
    -------
    SimulatedTriplets

    Raises
    ------
    ConfigError
        A size is too small, ``noise`` is negative, or ``repeats`` is
        negative.
    UnknownNameError
        ``transform`` is not one of :data:`TRANSFORMS`.

    Examples
    --------
    >>> sim = simulate_triplets(20, 5, 100, n_subjects=2, repeats=10, seed=1)
    >>> len(sim.choices), sorted(set(sim.judgements.subject.values.tolist()))
    (110, ['0', '1'])
    """
    if transform not in TRANSFORMS:
        raise UnknownNameError(transform, TRANSFORMS, what="planted transform", source="transform")
    for name, value, low in (("n_objects", n_objects, 3), ("n_features", n_features, 1),
                             ("n_triplets", n_triplets, 1), ("n_subjects", n_subjects, 1), ("rank", rank, 1),
                             ("repeats", repeats, 0)):
        if int(value) != value or value < low:
            raise ConfigError(f"{name} must be an integer ≥ {low}, got {value!r}", source=name,
                              fix=f"pass {name} ≥ {low}")
    if not np.isfinite(noise) or noise < 0:
        raise ConfigError(f"noise must be a finite number ≥ 0, got {noise!r}", source="noise",
                          fix="pass a temperature such as 0.1 (0 for deterministic choices)")
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_objects, n_features))
    W = _planted_transform(transform, n_features, rank, rng)
    Z = X @ W
    S = Z @ Z.T
    off = S[~np.eye(n_objects, dtype=bool)]
    S = (S - off.mean()) / off.std()
    triplets = _random_triplets(n_objects, n_triplets, rng)
    if repeats:
        again = triplets[rng.integers(0, n_triplets, size=repeats)]
        again = np.take_along_axis(again, rng.permuted(np.tile([0, 1, 2], (repeats, 1)), axis=1), axis=1)
        triplets = np.concatenate([triplets, again])
    subjects = rng.integers(0, n_subjects, size=len(triplets))
    choices = _sample_choices(planted_pair_similarities(S, triplets), float(noise), rng)

    params = dict(n_objects=n_objects, n_features=n_features, n_triplets=n_triplets, transform=transform,
                  rank=rank, noise=float(noise), n_subjects=n_subjects, repeats=repeats, seed=seed)
    ids = np.array([f"obj{i:04d}" for i in range(n_objects)], dtype=object)
    item_ids = ids[triplets]
    judgements = xr.Dataset(
        {"stimulus_id": (("trial", "item"), item_ids),
         "choice": ("trial", item_ids[np.arange(len(triplets)), choices]),
         "choice_index": ("trial", choices.astype(np.int64))},
        coords={"trial": np.arange(len(triplets)), "item": np.arange(3),
                "subject": ("trial", np.array([str(s) for s in subjects], dtype=object))},
        attrs={"source": "triplet_simulator", **provenance(params)},
    )
    judgements = check_trials(judgements, name="triplet_simulator")
    features = create_assembly(X, stimulus_id=ids, neuroid_id=[f"f{j:03d}" for j in range(n_features)],
                               attrs=provenance(params), name="simulated_features")
    return SimulatedTriplets(X=X, transform=W, similarity=S, triplets=triplets, choices=choices,
                             subjects=subjects, judgements=judgements, features=features, noise=float(noise),
                             params=params)
