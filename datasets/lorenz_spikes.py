"""Poisson spikes driven by Lorenz latents: ground truth for spike models and their metrics.

Each trial follows the Lorenz system (σ = 10, ρ = 28, β = 8/3, fourth-order
Runge–Kutta) from a starting point near its condition's point on the
attractor.  The three latents are z-scored over all trials and bins; each
neuron's log-rate is ``latents · W + b`` with ``b`` around ``log(base_rate)``,
and its counts per bin are Poisson draws of that rate.  The last
``n_held_out`` neurons are marked ``held_out`` (the co-smoothing targets).

Conditions give the trials a structure for PSTH R²: trials of a condition
start from points scattered (``jitter``, in the system's units) around the
condition's point, so their rates differ from trial to trial but share a
mean, the true PSTH.  Two behavioural variables are noisy linear read-outs
of the latents (for decoding R²).

Because the rates are known, so is the best any model can do: the true
rates' own bits per spike on the simulated counts.

Examples
--------
>>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
>>> sim = simulate_lorenz_spikes(n_trials=20, n_bins=10, random_state=0)
>>> sim.counts.dims, sim.counts.shape, int(sim.counts.held_out.sum())
(('presentation', 'neuroid', 'time_bin'), (20, 48, 10), 12)
>>> sim.psth.dims, sim.behaviour.dims
(('condition', 'neuroid', 'time_bin'), ('presentation', 'time_bin', 'variable'))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from neuroalign.data import provenance
from neuroalign.errors import ConfigError

__all__ = ["SimulatedSpikes", "simulate_lorenz_spikes", "lorenz_trajectories"]

_SIGMA, _RHO, _BETA = 10.0, 28.0, 8.0 / 3.0


@dataclass
class SimulatedSpikes:
    """Simulated spike counts with the planted truth.

    Attributes
    ----------
    counts : DataArray (presentation, neuroid, time_bin)
        Poisson counts.  Coords: ``stimulus_id`` (``"condition-<k>"``),
        ``condition`` (int) and ``trial`` on presentation; ``neuroid_id`` and
        ``held_out`` (bool) on neuroid; ``time_bin_start``/``time_bin_end`` (s).
    rates : DataArray (presentation, neuroid, time_bin)
        The true rates in counts per bin, same coords.
    latents : DataArray (presentation, time_bin, latent)
        The z-scored Lorenz latents.
    behaviour : DataArray (presentation, time_bin, variable)
        Two noisy linear read-outs of the latents.
    psth : DataArray (condition, neuroid, time_bin)
        The true PSTH: the mean true rate of each condition's trials.
    params : dict
        The simulation's parameters.
    """

    counts: xr.DataArray
    rates: xr.DataArray
    latents: xr.DataArray
    behaviour: xr.DataArray
    psth: xr.DataArray
    params: dict = field(default_factory=dict)

    @property
    def held_out(self) -> list[str]:
        """The ``neuroid_id``s of the held-out neurons."""
        return [str(i) for i in self.counts.neuroid_id.values[self.counts.held_out.values]]


def lorenz_trajectories(starts: np.ndarray, n_steps: int, dt: float) -> np.ndarray:
    """Lorenz trajectories ``(trial, step, 3)`` from ``starts`` ``(trial, 3)``, fourth-order Runge–Kutta.

    The first step is the start itself.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.datasets.lorenz_spikes import lorenz_trajectories
    >>> lorenz_trajectories(np.zeros((1, 3)), 5, 0.01)[0, -1].tolist()  # the origin is a fixed point
    [0.0, 0.0, 0.0]
    """
    def velocity(s: np.ndarray) -> np.ndarray:
        x, y, z = s[:, 0], s[:, 1], s[:, 2]
        return np.stack([_SIGMA * (y - x), x * (_RHO - z) - y, x * y - _BETA * z], axis=1)

    state = np.array(starts, dtype=float)
    out = np.empty((state.shape[0], n_steps, 3))
    for step in range(n_steps):
        out[:, step] = state
        k1 = velocity(state)
        k2 = velocity(state + 0.5 * dt * k1)
        k3 = velocity(state + 0.5 * dt * k2)
        k4 = velocity(state + dt * k3)
        state = state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return out


def simulate_lorenz_spikes(n_trials: int = 1000, n_bins: int = 50, *, n_held_in: int = 36, n_held_out: int = 12,
                           n_conditions: int = 8, bin_size: float = 0.01, base_rate: float = 0.08,
                           gain: float = 0.8, jitter: float = 4.0, dt: float = 0.01,
                           behaviour_noise: float = 0.1, random_state: int = 0) -> SimulatedSpikes:
    """Simulate Poisson spikes of ``n_held_in + n_held_out`` neurons driven by Lorenz latents.

    Parameters
    ----------
    n_trials, n_bins : int
        Trials (presentations) and time bins per trial.
    n_held_in, n_held_out : int
        Neurons a model reads, and neurons it must predict (co-smoothing).
    n_conditions : int
        Conditions; trial ``i`` belongs to condition ``i % n_conditions``.
    bin_size : float
        Bin width in seconds (labels only: rates are per bin).
    base_rate : float
        Median rate in counts per bin (``b ~ log(base_rate)``).
    gain : float
        Each neuron's read-out weights (a column of ``W``) have this norm, so its
        log-rate varies with about this standard deviation.
    jitter : float
        Standard deviation of a trial's start around its condition's point.
    dt : float
        Lorenz time per bin.
    behaviour_noise : float
        Standard deviation of the noise added to the behavioural read-outs.
    random_state : int
        Seed of every draw.

    Returns
    -------
    SimulatedSpikes
    """
    sizes = {"n_trials": n_trials, "n_bins": n_bins, "n_held_in": n_held_in, "n_held_out": n_held_out,
             "n_conditions": n_conditions}
    for name, value in sizes.items():
        minimum = 0 if name == "n_held_out" else 1
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}", source=name,
                              fix=f"pass e.g. {name}=8")
    for name, value in {"bin_size": bin_size, "base_rate": base_rate, "dt": dt}.items():
        if not float(value) > 0:
            raise ConfigError(f"{name} must be positive, got {value!r}", source=name, fix=f"pass e.g. {name}=0.01")
    if n_trials < n_conditions:
        raise ConfigError(f"{n_trials} trials cannot fill {n_conditions} conditions", source="n_trials",
                          fix=f"simulate at least n_conditions={n_conditions} trials, or fewer conditions")
    rng = np.random.default_rng(random_state)
    n_neurons = n_held_in + n_held_out
    burn_in = lorenz_trajectories(rng.normal(0.0, 1.0, (1, 3)) + [0.0, 0.0, 25.0], 3000, dt)[0, 1000:]
    points = burn_in[rng.choice(len(burn_in), n_conditions, replace=False)]
    condition = np.arange(n_trials) % n_conditions
    starts = points[condition] + rng.normal(0.0, jitter, (n_trials, 3))
    latents = lorenz_trajectories(starts, n_bins, dt)
    latents = (latents - latents.mean(axis=(0, 1))) / latents.std(axis=(0, 1))
    weights = rng.normal(0.0, 1.0, (3, n_neurons))
    weights *= gain / np.linalg.norm(weights, axis=0)
    bias = np.log(base_rate) + rng.normal(0.0, 0.2, n_neurons)
    rates = np.exp(latents @ weights + bias)                       # (trial, time, neuron)
    counts = rng.poisson(rates).astype(float)
    readout = rng.normal(0.0, 1.0, (3, 2))
    behaviour = latents @ readout + rng.normal(0.0, behaviour_noise, (n_trials, n_bins, 2))

    params = {"n_trials": n_trials, "n_bins": n_bins, "n_held_in": n_held_in, "n_held_out": n_held_out,
              "n_conditions": n_conditions, "bin_size": bin_size, "base_rate": base_rate, "gain": gain,
              "jitter": jitter, "dt": dt, "behaviour_noise": behaviour_noise, "random_state": random_state}
    starts_s = np.arange(n_bins) * bin_size
    presentation = {"stimulus_id": ("presentation", [f"condition-{c}" for c in condition]),
                    "condition": ("presentation", condition), "trial": ("presentation", np.arange(n_trials))}
    time_bin = {"time_bin_start": ("time_bin", starts_s), "time_bin_end": ("time_bin", starts_s + bin_size)}
    neuroid = {"neuroid_id": ("neuroid", [f"n{j:02d}" for j in range(n_neurons)]),
               "held_out": ("neuroid", np.arange(n_neurons) >= n_held_in)}
    attrs = {"source": "lorenz_spikes", **provenance(params)}

    def binned(values: np.ndarray, name: str, units: str) -> xr.DataArray:
        return xr.DataArray(values.transpose(0, 2, 1), dims=("presentation", "neuroid", "time_bin"),
                            coords={**presentation, **neuroid, **time_bin}, name=name,
                            attrs={**attrs, "units": units})

    psth = np.stack([rates[condition == c].mean(axis=0) for c in range(n_conditions)])
    return SimulatedSpikes(
        counts=binned(counts, "counts", "counts"),
        rates=binned(rates, "rates", "counts/bin"),
        latents=xr.DataArray(latents, dims=("presentation", "time_bin", "latent"),
                             coords={**presentation, **time_bin, "latent": ["x", "y", "z"]}, name="latents",
                             attrs=attrs),
        behaviour=xr.DataArray(behaviour, dims=("presentation", "time_bin", "variable"),
                               coords={**presentation, **time_bin, "variable": ["v0", "v1"]}, name="behaviour",
                               attrs=attrs),
        psth=xr.DataArray(psth.transpose(0, 2, 1), dims=("condition", "neuroid", "time_bin"),
                          coords={"condition": np.arange(n_conditions), **neuroid, **time_bin}, name="psth",
                          attrs={**attrs, "units": "counts/bin"}),
        params=params,
    )
