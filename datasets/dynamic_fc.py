"""Simulated ROI BOLD time series with planted dynamic connectivity.

A hidden Markov chain switches each subject between ``n_states`` latent
connectivity states.  The ROIs are split into ``n_states`` contiguous blocks;
state ``k`` adds a common signal to the ROIs of block ``k`` on top of a
low-rank structure shared by every state.  At each volume the latent neural
signal of the ROIs is drawn independently with the active state's covariance

    Σ_k = L Lᵀ + c · m_k m_kᵀ + I

(``L``: ``n_rois × shared_rank`` loadings, one draw per simulation; ``m_k``:
the 0/1 membership of block ``k``; ``c``: the block coupling), convolved with
the canonical SPM haemodynamic response (:func:`spm_hrf`, scaled to unit
energy so the filtered signal keeps the covariance of its states) and
measured with white noise of standard deviation ``noise_sd``.

Each subject's chain stays in its state with probability ``p`` (its
``dwell_probability``) and otherwise moves to one of the other states at
random, so a visit lasts ``1 / (1 − p)`` volumes on average and every state is
occupied ``1 / n_states`` of the time, whatever ``p``.  The expected covariance
of a volume is then ``Σ̄ + noise_sd² I`` with ``Σ̄`` the mean of the state
covariances (:meth:`SimulatedDynamicFC.expected_covariance`).

Scenarios (:data:`SCENARIOS`):

``"dynamic-only"``
    group 0 stays with probability ``stay_probability[0]`` (0.95: visits of
    20 volumes, 40 s at TR 2 s), group 1 with ``stay_probability[1]`` (0.75:
    4 volumes); the state covariances and occupancy are the same, so the
    expected static FC of the two groups is identical.
``"static"``
    the positive control: both groups stay with the mean of
    ``stay_probability``; group 1's block coupling is ``static_coupling``
    instead of ``coupling``.
``"null"``
    every subject is simulated with the same parameters (those of
    ``"static"``'s group 0); the group labels are random.

Groups are balanced and assigned in a random order.  Each subject's stay
probability is its group's value moved by ``dwell_sd`` standard deviations
on the logit scale: the continuous regression target ``dwell_probability``.

The defaults (20 ROIs, 400 volumes, TR 2 s, 3 states, stay 0.95 vs 0.75) are
the values of the design this simulator follows; the others (rank-2 shared
structure of loading scale 0.5, coupling 1, static coupling 1.5, noise 1,
logit spread 0.1) were set once, before any model was run on the data.

Examples
--------
>>> from neuroalign.datasets.dynamic_fc import simulate_dynamic_fc
>>> sim = simulate_dynamic_fc("dynamic-only", n_subjects=4, n_volumes=60, seed=0)
>>> sim.timeseries.dims, sim.timeseries.sizes["neuroid"]
(('subject', 'time', 'neuroid'), 20)
>>> sim.timeseries["group"].values.tolist().count(1)
2
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import xarray as xr
from scipy.signal import lfilter
from scipy.special import expit, logit
from scipy.stats import gamma

from neuroalign.data import label_index, provenance, validate
from neuroalign.errors import ConfigError, UnknownNameError

__all__ = ["SCENARIOS", "SimulatedDynamicFC", "simulate_dynamic_fc", "spm_hrf", "transition_matrices"]

#: The scenarios :func:`simulate_dynamic_fc` knows.
SCENARIOS = ("dynamic-only", "static", "null")


def spm_hrf(repetition_time: float, oversampling: int = 50, time_length: float = 32.0,
            onset: float = 0.0) -> np.ndarray:
    """The canonical SPM haemodynamic response: a difference of two gamma densities.

    A peak gamma (shape 6, scale 1 s) minus 0.167 times an undershoot gamma
    (shape 16, scale 1 s), sampled as nilearn's ``spm_hrf`` samples it:
    ``round(time_length / dt)`` points spread evenly over ``[0, time_length]``
    seconds (``dt = repetition_time / oversampling``), minus ``onset``, with
    both densities shifted by ``dt``; normalised to sum 1.

    Parameters
    ----------
    repetition_time : float
        Sampling interval of the scans, in seconds.
    oversampling : int
        Samples per scan.
    time_length : float
        Length of the response, in seconds.
    onset : float
        Onset of the response, in seconds.

    Returns
    -------
    numpy.ndarray
        ``round(time_length * oversampling / repetition_time)`` samples.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.datasets.dynamic_fc import spm_hrf
    >>> np.round(spm_hrf(2.0, oversampling=1, time_length=20.0), 3).tolist()
    [0.0, 0.0, 0.161, 0.443, 0.335, 0.139, 0.022, -0.028, -0.04, -0.033]
    """
    _positive(repetition_time, "repetition_time", "seconds per scan, e.g. 2.0")
    _positive(time_length, "time_length", "the response length in seconds, e.g. 32.0")
    if isinstance(oversampling, bool) or not isinstance(oversampling, Integral) or oversampling < 1:
        raise ConfigError(f"oversampling={oversampling!r} is not a whole number >= 1", source="oversampling",
                          fix="pass the number of samples per scan, e.g. 1 or 50")
    if isinstance(onset, bool) or not isinstance(onset, Real) or not math.isfinite(onset):
        raise ConfigError(f"onset={onset!r} is not a finite number of seconds", source="onset", fix="pass e.g. 0.0")
    dt = repetition_time / oversampling
    n = int(np.rint(time_length / dt))
    if n < 2:
        raise ConfigError(f"time_length={time_length!r} s holds fewer than 2 samples of {dt:g} s",
                          source="time_length", fix="use a longer response or a higher oversampling")
    t = np.linspace(0.0, time_length, n) - onset
    response = gamma.pdf(t, 6.0, loc=dt, scale=1.0) - 0.167 * gamma.pdf(t, 16.0, loc=dt, scale=1.0)
    return response / response.sum()


def transition_matrices(stay_probability: np.ndarray, n_states: int) -> np.ndarray:
    """Each chain's transition matrix: stay with ``p``, else move to one of the other states at random.

    ``P[i, j] = p`` for ``i == j`` and ``(1 − p) / (n_states − 1)`` otherwise;
    every row sums to 1 and, the matrix being symmetric, the uniform
    distribution is stationary.

    Examples
    --------
    >>> from neuroalign.datasets.dynamic_fc import transition_matrices
    >>> transition_matrices([0.9], 3)[0].round(2).tolist()
    [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]]
    """
    p = np.asarray(stay_probability, dtype=float)[..., None, None]
    eye = np.eye(n_states)
    return p * eye + (1 - p) / (n_states - 1) * (1 - eye)


@dataclass(frozen=True)
class SimulatedDynamicFC:
    """A simulated study and its ground truth.

    Attributes
    ----------
    timeseries : xarray.DataArray
        ``(subject, time, neuroid)`` BOLD series: ``time`` in seconds,
        ``neuroid_id`` and ``region`` (the block, ``"block1"`` …) coords,
        subject coords ``group`` (0/1) and ``dwell_probability``; attrs
        ``repetition_time``, ``scenario`` and provenance.
    states : xarray.DataArray
        ``(subject, time)`` index of the active state at each volume.
    state_covariances : xarray.DataArray
        ``(group, state, neuroid_a, neuroid_b)`` covariance of the latent signal in each state.
    transition_matrices : xarray.DataArray
        ``(subject, state_from, state_to)`` each subject's chain.
    hrf : numpy.ndarray
        The response the latent signal was convolved with (unit energy).
    params : dict
        Every argument of :func:`simulate_dynamic_fc` and the shared loadings.
    """

    timeseries: xr.DataArray
    states: xr.DataArray
    state_covariances: xr.DataArray
    transition_matrices: xr.DataArray
    hrf: np.ndarray
    params: dict = field(default_factory=dict)

    def expected_covariance(self) -> xr.DataArray:
        """Each subject's expected covariance of one volume: ``Σ_k π_k Σ_k + noise_sd² I``.

        ``π`` is the stationary distribution of the subject's chain (its left
        eigenvector of eigenvalue 1) and ``Σ_k`` its group's state covariances.

        Returns
        -------
        xarray.DataArray
            ``(subject, neuroid_a, neuroid_b)``.
        """
        p = self.transition_matrices.values
        k = p.shape[-1]
        # π P = π with Σπ = 1: solve (Pᵀ − I) π = 0 with the last equation replaced by the sum
        system = np.swapaxes(p, -1, -2) - np.eye(k)
        system[..., -1, :] = 1.0
        rhs = np.zeros(p.shape[:-1])
        rhs[..., -1] = 1.0
        pi = np.linalg.solve(system, rhs[..., None])[..., 0]
        groups = self.timeseries["group"].values
        cov = self.state_covariances.sel(group=groups).values  # (subject, state, N, N)
        n = cov.shape[-1]
        expected = np.einsum("sk,skab->sab", pi, cov) + self.params["noise_sd"] ** 2 * np.eye(n)
        ids = self.timeseries["neuroid_id"].values
        return xr.DataArray(expected, dims=("subject", "neuroid_a", "neuroid_b"),
                            coords={"subject": self.timeseries["subject"].values, "neuroid_a": ids,
                                    "neuroid_b": ids}, name="expected_covariance")


def simulate_dynamic_fc(
    scenario: str = "dynamic-only",
    *,
    n_subjects: int = 120,
    n_rois: int = 20,
    n_volumes: int = 400,
    n_states: int = 3,
    repetition_time: float = 2.0,
    stay_probability: tuple[float, float] = (0.95, 0.75),
    dwell_sd: float = 0.1,
    coupling: float = 1.0,
    static_coupling: float = 1.5,
    shared_rank: int = 2,
    shared_scale: float = 0.5,
    noise_sd: float = 1.0,
    seed: int = 0,
) -> SimulatedDynamicFC:
    """Simulate ROI BOLD series of two groups with planted dynamic (or static) connectivity structure.

    Parameters
    ----------
    scenario : {"dynamic-only", "static", "null"}
        What tells the groups apart (see the module documentation).
    n_subjects : int
        Number of subjects (≥ 2), split into two balanced groups.
    n_rois, n_volumes, n_states : int
        ROIs (≥ 2 per state: each state's block needs two), volumes per
        subject (≥ 3), latent states (≥ 2).
    repetition_time : float
        Seconds per volume.
    stay_probability : (float, float)
        Each group's probability of staying in its state from one volume to
        the next (in [0, 1)).  ``"static"`` and ``"null"`` give both groups their mean.
    dwell_sd : float
        Spread of the subjects' stay probabilities around their group's
        value, on the logit scale (0: every subject of a group has the same).
    coupling, static_coupling : float
        Variance of the common signal that a state adds to its block;
        group 1 of ``"static"`` has ``static_coupling``.
    shared_rank, shared_scale : int, float
        Rank and loading standard deviation of the structure shared by every state.
    noise_sd : float
        Standard deviation of the measurement noise (the latent signal of
        each ROI has unit unique variance).
    seed : int
        Seeds every draw (a :func:`numpy.random.default_rng`).

    Returns
    -------
    SimulatedDynamicFC
        The series (``.timeseries``), the hidden states, the state
        covariances, the transition matrices and the parameters.

    Raises
    ------
    UnknownNameError
        An unknown scenario.
    ConfigError
        A size, probability or scale out of range.

    Examples
    --------
    >>> from neuroalign.datasets.dynamic_fc import simulate_dynamic_fc
    >>> sim = simulate_dynamic_fc("static", n_subjects=6, n_volumes=50, seed=1)
    >>> sim.states.shape, float(sim.timeseries.attrs["repetition_time"])
    ((6, 50), 2.0)
    """
    if scenario not in SCENARIOS:
        raise UnknownNameError(scenario, SCENARIOS, what="scenario", source="scenario")
    _whole(n_subjects, "n_subjects", 2)
    _whole(n_states, "n_states", 2)
    _whole(n_rois, "n_rois", 2 * n_states, why=f"two ROIs for each of the {n_states} states' blocks")
    _whole(n_volumes, "n_volumes", 3)
    _whole(shared_rank, "shared_rank", 0)
    _whole(seed, "seed", 0)
    _positive(repetition_time, "repetition_time", "seconds per volume, e.g. 2.0")
    for name, value in (("dwell_sd", dwell_sd), ("coupling", coupling), ("static_coupling", static_coupling),
                        ("shared_scale", shared_scale), ("noise_sd", noise_sd)):
        _non_negative(value, name)
    stay = _stay_pair(stay_probability)

    rng = np.random.default_rng(seed)
    blocks = np.array_split(np.arange(n_rois), n_states)
    membership = np.zeros((n_states, n_rois))
    for k, block in enumerate(blocks):
        membership[k, block] = 1.0
    loadings = rng.normal(scale=shared_scale, size=(n_rois, shared_rank))
    group = rng.permutation(np.arange(n_subjects) % 2)
    if scenario == "dynamic-only":
        group_stay, group_coupling = np.array(stay), np.array([coupling, coupling])
    else:
        group_stay = np.full(2, float(np.mean(stay)))
        group_coupling = np.array([coupling, static_coupling if scenario == "static" else coupling])
    dwell = _jitter(group_stay[group], dwell_sd, rng)
    subject_coupling = group_coupling[group]

    hrf = spm_hrf(repetition_time, oversampling=1)
    hrf = hrf / np.linalg.norm(hrf)  # unit energy: the filtered signal has its states' covariance
    burn = hrf.size - 1  # volumes simulated before the first one kept, so every kept volume has a full history
    states = _markov_chains(dwell, n_states, n_volumes + burn, rng)
    n_total = n_volumes + burn
    neural = rng.standard_normal((n_subjects, n_total, shared_rank)) @ loadings.T
    neural += (rng.standard_normal((n_subjects, n_total, 1)) * np.sqrt(subject_coupling)[:, None, None]
               * membership[states])
    neural += rng.standard_normal((n_subjects, n_total, n_rois))
    bold = lfilter(hrf, 1.0, neural, axis=1)[:, burn:]
    bold += noise_sd * rng.standard_normal(bold.shape)
    states = states[:, burn:]

    params = dict(scenario=scenario, n_subjects=n_subjects, n_rois=n_rois, n_volumes=n_volumes, n_states=n_states,
                  repetition_time=float(repetition_time), stay_probability=list(stay), dwell_sd=float(dwell_sd),
                  coupling=float(coupling), static_coupling=float(static_coupling), shared_rank=shared_rank,
                  shared_scale=float(shared_scale), noise_sd=float(noise_sd), seed=seed)
    subjects = label_index([f"sub-{i + 1:0{len(str(n_subjects))}d}" for i in range(n_subjects)], "subject")
    rois = [f"roi{i + 1:0{len(str(n_rois))}d}" for i in range(n_rois)]
    region = [f"block{k + 1}" for k in np.argmax(membership, axis=0)]
    time = np.arange(n_volumes) * float(repetition_time)
    subject_coords = {"subject": subjects, "group": ("subject", group), "dwell_probability": ("subject", dwell)}
    timeseries = xr.DataArray(
        bold, dims=("subject", "time", "neuroid"), name="bold",
        coords={**subject_coords, "time": time, "neuroid_id": ("neuroid", rois), "region": ("neuroid", region)},
        attrs={"repetition_time": float(repetition_time), "scenario": scenario,
               **provenance(params, {"bold": bold})})
    validate(timeseries, dims=("subject", "time", "neuroid"), name="simulated bold")
    state_names = np.arange(n_states)
    shared = loadings @ loadings.T + np.eye(n_rois)
    blocks_cov = membership[:, :, None] * membership[:, None, :]  # (state, N, N)
    covariances = shared + group_coupling[:, None, None, None] * blocks_cov[None]
    return SimulatedDynamicFC(
        timeseries=timeseries,
        states=xr.DataArray(states, dims=("subject", "time"), coords={**subject_coords, "time": time},
                            name="state"),
        state_covariances=xr.DataArray(covariances, dims=("group", "state", "neuroid_a", "neuroid_b"),
                                       coords={"group": [0, 1], "state": state_names, "neuroid_a": rois,
                                               "neuroid_b": rois}, name="state_covariance"),
        transition_matrices=xr.DataArray(transition_matrices(dwell, n_states),
                                         dims=("subject", "state_from", "state_to"),
                                         coords={**subject_coords, "state_from": state_names,
                                                 "state_to": state_names}, name="transition_matrix"),
        hrf=hrf,
        params={**params, "loadings": loadings.tolist()},
    )


def _markov_chains(stay: np.ndarray, n_states: int, n_time: int, rng: np.random.Generator) -> np.ndarray:
    """``(subject, time)`` state indices: one chain per subject from the uniform (stationary) distribution.

    A loop over time, vectorised over subjects: stay with the subject's
    probability, else move to one of the other ``n_states − 1`` states.
    """
    n = stay.size
    states = np.empty((n, n_time), dtype=np.int64)
    states[:, 0] = rng.integers(n_states, size=n)
    move = rng.random((n, n_time - 1)) >= stay[:, None]
    jump = rng.integers(1, n_states, size=(n, n_time - 1))
    for t in range(1, n_time):
        states[:, t] = np.where(move[:, t - 1], (states[:, t - 1] + jump[:, t - 1]) % n_states, states[:, t - 1])
    return states


def _jitter(p: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Move each probability by ``sd`` standard normal deviates on the logit scale (0 stays 0).

    The deviates are drawn whatever ``sd``, so that it changes no other draw; ``sd = 0`` keeps ``p`` exactly.
    """
    noise = rng.standard_normal(p.shape)
    if sd == 0:
        return p.astype(float)
    with np.errstate(divide="ignore"):
        return np.where(p > 0, expit(logit(p) + sd * noise), 0.0)


def _whole(value, name: str, minimum: int, *, why: str | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ConfigError(f"{name}={value!r} is not a whole number >= {minimum}" + (f" ({why})" if why else ""),
                          source=name, fix=f"pass an int >= {minimum}")


def _positive(value, name: str, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name}={value!r} is not a positive finite number", source=name, fix=f"pass {what}")


def _non_negative(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name}={value!r} is not a finite number >= 0", source=name, fix="pass a value >= 0")


def _stay_pair(stay) -> tuple[float, float]:
    try:
        pair = tuple(float(p) for p in stay)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or not all(0 <= p < 1 for p in pair):
        raise ConfigError(f"stay_probability={stay!r} is not two probabilities in [0, 1)", source="stay_probability",
                          fix="pass one probability per group, e.g. (0.95, 0.75); 1 would never leave a state")
    return pair
