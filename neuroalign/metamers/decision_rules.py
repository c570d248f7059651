"""How a noisy-feature observer answers forced-choice discrimination trials.

Every presentation of a trial produces a response ``r = φ(x) + σ·ε``: the
stimulus's features plus isotropic Gaussian noise, drawn independently for
every presentation of every trial (the target of a 2AFC trial gets its own
draw too).  A *decision rule* turns the distances between the responses of
one trial into a choice:

``"nearest"`` (task ``"2afc"``)
    presentations ``target, match, foil``; choose the comparison nearest
    the target, ``argmin_i ‖r_T − r_i‖`` over ``i ∈ {match, foil}``.
``"max-summed-distance"`` (task ``"oddity"``, the default)
    presentations ``odd, standard_1, …, standard_K``; choose the interval
    farthest from the others in total, ``argmax_i Σ_j ‖r_i − r_j‖``.
``"outside-closest-pair"`` (task ``"oddity"``)
    choose the interval whose nearest other interval is farthest,
    ``argmax_i min_{j≠i} ‖r_i − r_j‖``: with three intervals, the one
    outside the closest pair.  With three intervals the two oddity rules make
    the same choice on every draw (``Σ_j ‖r_i − r_j‖`` is the perimeter
    minus the side opposite ``i``, so both pick the interval opposite the
    shortest side); with four or more they differ.

Exact ties (possible only without noise) split the credit equally among the
tied choices, so identical stimuli give exactly chance at ``σ = 0``.

**Simulation without the feature dimension.**  Only distances matter, and
isotropic noise has the same law in every orthonormal basis.  A trial of
``m`` presentations in ``d`` feature dimensions is therefore simulated in
the ``m − 1`` dimensions spanned by its feature differences (coordinates
from a Gram–Schmidt pass over ``φ_j − φ_0`` with positive diagonals, which
depend only on the trial's pairwise distances) plus the noise orthogonal to
them, whose ``m`` vectors enter the distances only through their Gram
matrix, a Wishart(``d − m + 1``, ``I_m``) matrix drawn exactly with
Bartlett's decomposition.  The simulated distances have exactly the law of
the ``d``-dimensional ones, at a cost independent of ``d``; with
``d < 2m`` the responses are simulated in the ``d`` feature dimensions
directly.

**Common random numbers.**  The standard-normal draws are made once per
trial (from a generator seeded per trial), so the squared distance of each
pair on each draw is the quadratic ``a + 2σ·b + σ²·c`` in σ with fixed
coefficients: every σ is evaluated on the same noise, and the simulated
proportion correct is a deterministic function of σ, free of Monte Carlo
jitter between evaluations (a fine staircase, in steps of one draw).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from ..errors import ConfigError, UnknownNameError

__all__ = ["Task", "TASKS", "DECISION_RULES", "check_rule", "simulate_trials", "SimulatedTrials", "trial_seeds"]


@dataclass(frozen=True)
class Task:
    """A forced-choice task: its presentation roles, which of them are choices, and chance."""

    name: str
    #: the fixed roles (an oddity table adds ``standard_3``, … after ``standard_2``)
    roles: tuple[str, ...]
    #: index (into the roles) of the first choice: the 2AFC target is shown but not chosen
    first_choice: int
    #: index of the correct presentation
    correct: int
    default_rule: str

    def chance(self, n_presentations: int) -> float:
        """Proportion correct of a guessing observer."""
        return 1.0 / (n_presentations - self.first_choice)


TASKS: dict[str, Task] = {
    "2afc": Task("2afc", ("target", "match", "foil"), first_choice=1, correct=1, default_rule="nearest"),
    "oddity": Task("oddity", ("odd", "standard_1", "standard_2"), first_choice=0, correct=0,
                   default_rule="max-summed-distance"),
}


PairDistances = Callable[[int, int], np.ndarray]


def _nearest(dist2: PairDistances, m: int) -> list[np.ndarray]:
    return [dist2(0, i) for i in range(1, m)]


def _max_summed_distance(dist2: PairDistances, m: int) -> list[np.ndarray]:
    root = {(i, j): np.sqrt(dist2(i, j)) for i in range(m) for j in range(i + 1, m)}
    return [-sum(root[min(i, j), max(i, j)] for j in range(m) if j != i) for i in range(m)]


def _outside_closest_pair(dist2: PairDistances, m: int) -> list[np.ndarray]:
    costs = []
    for i in range(m):
        others = [dist2(min(i, j), max(i, j)) for j in range(m) if j != i]
        costs.append(-np.minimum.reduce(others) if len(others) > 1 else -others[0])
    return costs


#: rule name → (task, function of (dist2(i, j), m) → one cost array per choice; the lowest cost is chosen)
DECISION_RULES: dict[str, tuple[str, Callable[[PairDistances, int], list[np.ndarray]]]] = {
    "nearest": ("2afc", _nearest),
    "max-summed-distance": ("oddity", _max_summed_distance),
    "outside-closest-pair": ("oddity", _outside_closest_pair),
}


def _choice_weights(costs: list[np.ndarray]) -> list[np.ndarray]:
    """Probability of each choice: 1 for the lowest cost, shared equally by exact ties."""
    best = np.minimum.reduce(costs) if len(costs) > 1 else costs[0]
    hits = [cost == best for cost in costs]
    count = np.add.reduce(hits, dtype=float) if len(hits) > 1 else hits[0].astype(float)
    return [hit / count for hit in hits]


def check_rule(task: str, rule: str | None) -> tuple[Task, str]:
    """The task and the rule name (the task's default when ``rule`` is None), checked.

    Examples
    --------
    >>> from neuroalign.metamers.decision_rules import check_rule
    >>> check_rule("oddity", None)[1]
    'max-summed-distance'
    """
    if task not in TASKS:
        raise UnknownNameError(task, TASKS, what="task", source="task")
    spec = TASKS[task]
    rule = spec.default_rule if rule is None else rule
    valid = [name for name, (owner, _) in DECISION_RULES.items() if owner == task]
    if rule not in valid:
        raise UnknownNameError(rule, valid, what=f"decision rule of task {task!r}", source="rule")
    return spec, rule


def trial_seeds(random_state: Any, n_trials: int, stream: int = 0) -> list[np.random.SeedSequence]:
    """One seed per trial, so a trial's draws depend only on ``random_state``, ``stream`` and its position.

    Streams 0 and 1 (the proportions correct and the simulated responses of
    :class:`~neuroalign.metamers.observer_models.NoisyFeatureObserver`) are independent.

    ``random_state`` is an int, None (fresh entropy), a :class:`numpy.random.SeedSequence`
    or a :class:`numpy.random.Generator` (one integer is drawn from it).
    """
    if isinstance(random_state, np.random.Generator):
        random_state = np.random.SeedSequence(int(random_state.integers(2**63)))
    elif isinstance(random_state, (bool, float)) or not (
            random_state is None or isinstance(random_state, (int, np.integer, np.random.SeedSequence))):
        raise ConfigError(f"random_state must be an int, None, a SeedSequence or a Generator, got "
                          f"{random_state!r}", source="random_state", fix="pass e.g. random_state=0")
    root = random_state if isinstance(random_state, np.random.SeedSequence) else np.random.SeedSequence(
        None if random_state is None else int(random_state))
    # the children root.spawn(2)[stream].spawn(n_trials) would be, without advancing root's spawn counter
    key = tuple(root.spawn_key) + (stream,)
    return [np.random.SeedSequence(root.entropy, spawn_key=key + (t,), pool_size=root.pool_size)
            for t in range(n_trials)]


@dataclass
class SimulatedTrials:
    """Noise draws of a set of trials, as the coefficients of every pair's squared distance in σ.

    ``dist² = a + 2σ·b + σ²·c`` for the pairs ``pairs`` of presentations.

    Attributes
    ----------
    a : ndarray (pair, trial)
        Squared feature distances.
    b, c : ndarray (pair, trial, draw)
        Noise cross term and noise energy of each draw.
    pairs : ndarray (pair, 2)
    n_presentations : int
    """

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    pairs: np.ndarray
    n_presentations: int

    @property
    def n_draws(self) -> int:
        return self.b.shape[2]

    @property
    def n_trials(self) -> int:
        return self.b.shape[1]

    def pair_distances(self, sigma: np.ndarray) -> PairDistances:
        """``dist2(i, j)``, i < j: the ``(trial, draw)`` squared response distances at per-trial ``sigma``."""
        s = np.asarray(sigma, dtype=float)[:, None]
        lookup = {(int(i), int(j)): p for p, (i, j) in enumerate(self.pairs)}
        cache: dict[int, np.ndarray] = {}

        def dist2(i: int, j: int) -> np.ndarray:
            p = lookup[i, j]
            if p not in cache:  # ≥ 0 up to rounding
                cache[p] = np.maximum(self.a[p][:, None] + s * (2.0 * self.b[p] + s * self.c[p]), 0.0)
            return cache[p]
        return dist2

    def choice_probabilities(self, sigma: np.ndarray, rule: str) -> np.ndarray:
        """``(trial, draw, choice)`` probability of each choice on each draw."""
        costs = DECISION_RULES[rule][1](self.pair_distances(sigma), self.n_presentations)
        return np.stack(_choice_weights(costs), axis=-1)

    def credit(self, sigma: np.ndarray, rule: str, choice: int) -> np.ndarray:
        """``(trial, draw)`` probability of choosing ``choice`` (the credit when it is the correct one)."""
        costs = DECISION_RULES[rule][1](self.pair_distances(sigma), self.n_presentations)
        return _choice_weights(costs)[choice]


def simulate_trials(features: np.ndarray, index: np.ndarray, n_draws: int, random_state: Any,
                    *, stream: int = 0, chunk_bytes: int = 2**26) -> SimulatedTrials:
    """Draw the noise of every trial once (common random numbers for every σ).

    Parameters
    ----------
    features : ndarray (stimulus, unit)
        The (scaled) feature matrix.
    index : ndarray of int (trial, presentation)
        Row of ``features`` shown at each presentation of each trial.
    n_draws : int
        Noise draws per trial.
    random_state : int, SeedSequence, Generator or None
        Seeds one generator per trial (:func:`trial_seeds`).
    stream : int
        Which of the independent streams of ``random_state`` to draw from (0 or 1).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.decision_rules import simulate_trials
    >>> sim = simulate_trials(np.array([[0.0], [1.0]]), np.array([[0, 0, 1]]), n_draws=4, random_state=0)
    >>> sim.b.shape, sim.a.ravel().tolist()
    ((3, 1, 4), [0.0, 1.0, 1.0])
    """
    n_trials, m = index.shape
    d = features.shape[1]
    reduce = d >= 2 * m
    coords = _canonical_coordinates(features, index, chunk_bytes) if reduce else \
        features[index].astype(float) - features[index[:, :1]].astype(float)
    pairs = np.array(list(combinations(range(m), 2)))
    delta_mu = coords[:, pairs[:, 0]] - coords[:, pairs[:, 1]]  # (trial, pair, k)
    a = np.einsum("tpk,tpk->pt", delta_mu, delta_mu)
    b = np.empty((len(pairs), n_trials, n_draws))
    c = np.empty_like(b)
    k = coords.shape[2]
    dof = d - k
    for t, seed in enumerate(trial_seeds(random_state, n_trials, stream)):
        gen = np.random.default_rng(seed)
        eps = gen.standard_normal((n_draws, m, k))
        d_eps = eps[:, pairs[:, 0]] - eps[:, pairs[:, 1]]  # (draw, pair, k)
        b[:, t] = np.einsum("pk,dpk->pd", delta_mu[t], d_eps)
        c[:, t] = np.einsum("dpk,dpk->pd", d_eps, d_eps)
        if reduce:
            z = _bartlett_rows(gen, n_draws, m, dof)
            d_z = z[:, pairs[:, 0]] - z[:, pairs[:, 1]]
            c[:, t] += np.einsum("dpk,dpk->pd", d_z, d_z)
    return SimulatedTrials(a, b, c, pairs, m)


def _bartlett_rows(gen: np.random.Generator, n_draws: int, m: int, dof: int) -> np.ndarray:
    """``m`` vectors whose Gram matrix is Wishart(dof, I_m) (Bartlett: lower-triangular L, Gram = L Lᵀ).

    The rows of L stand in for ``m`` independent N(0, I_dof) vectors: their
    pairwise distances have the same joint law.  Needs ``dof ≥ m``.
    """
    rows = np.zeros((n_draws, m, m))
    below = np.tril_indices(m, -1)
    rows[:, below[0], below[1]] = gen.standard_normal((n_draws, len(below[0])))
    diag = np.arange(m)
    rows[:, diag, diag] = np.sqrt(gen.chisquare(dof - diag, size=(n_draws, m)))
    return rows


def _canonical_coordinates(features: np.ndarray, index: np.ndarray, chunk_bytes: int) -> np.ndarray:
    """``(trial, m, m − 1)`` coordinates of each trial's features in the span of its differences.

    Modified Gram–Schmidt over ``φ_j − φ_0`` (j = 1 … m − 1) with positive
    diagonals: the coordinates depend only on the trial's pairwise distances,
    so they are the same (up to rounding) after any rotation or permutation of
    the feature units.  A difference within 1e-12 (relative) of the span of
    the earlier ones leaves its own axis empty.
    """
    n_trials, m = index.shape
    d = features.shape[1]
    k = m - 1
    coords = np.zeros((n_trials, m, k))
    step = max(1, chunk_bytes // (8 * k * d))
    for start in range(0, n_trials, step):
        rows = slice(start, start + step)
        block = index[rows]
        delta = features[block[:, 1:]].astype(float) - features[block[:, :1]].astype(float)  # (c, k, d)
        basis: list[np.ndarray] = []
        for j in range(k):
            v = delta[:, j].copy()
            for axis, e in enumerate(basis):
                proj = np.einsum("cd,cd->c", v, e)
                coords[rows, j + 1, axis] = proj
                v -= proj[:, None] * e
            norm = np.linalg.norm(v, axis=1)
            keep = norm > 1e-12 * np.linalg.norm(delta[:, j], axis=1)
            coords[rows, j + 1, j] = np.where(keep, norm, 0.0)
            basis.append(np.where(keep[:, None], v / np.where(keep, norm, 1.0)[:, None], 0.0))
    return coords
