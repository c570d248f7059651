"""Benchmark: binning 10 million spikes of 500 units into 1000 trials x 40 bins.

Ours: :func:`neuroalign.loaders.binning.bin_spikes` (the full public call: checks,
counting, labels, provenance hashes) and its counting kernel
:func:`~neuroalign.loaders.binning.count_spikes`.

Reference: the loop a user would write, one ``np.histogram`` per trial and per unit
on that unit's spike train (trains split by unit beforehand, not timed).  Also a
stronger loop that first cuts each train to the trial window with
``np.searchsorted``.  Both loops are slow, so by default they run on a subset of
the trials and their time is extrapolated linearly to all 1000 trials (the
printout says so); ``--full`` runs them on every trial.  On the subset, the
values must be identical to ours (exact equality, not a tolerance).

Run:  python benchmarks/bench_binning.py [--full] [--reference-trials N]

One run with --full on a shared 2-core CPU machine (timings vary up to 2x between runs):
bin_spikes 1.35 s (7.4 M spikes/s), count_spikes 0.39 s; np.histogram loop 95.9 s (71x);
searchsorted-cut np.histogram loop 12.2 s (9x); all counts identical.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from timing import best_of

from neuroalign.loaders.binning import bin_edges, bin_spikes, count_spikes

N_SPIKES, N_UNITS, N_TRIALS = 10_000_000, 500, 1000
WINDOW, BIN_SIZE = (-0.5, 1.5), 0.05  # 40 bins


def make_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    duration = N_TRIALS * 5.0 + 10.0
    units = rng.integers(0, N_UNITS, N_SPIKES)
    times = rng.uniform(0, duration, N_SPIKES)
    order = np.lexsort((times, units))  # sorted within each unit, as in a Units table
    times, units = times[order], units[order]
    events = 5.0 + 5.0 * np.arange(N_TRIALS) + rng.uniform(-0.5, 0.5, N_TRIALS)
    return times, units, events, duration


def naive_loop(trains, events, edges):
    out = np.zeros((len(events), len(trains), edges.size - 1))
    for i, event in enumerate(events):
        absolute = event + edges
        for j, train in enumerate(trains):
            out[i, j] = np.histogram(train, bins=absolute)[0]
    return out


def windowed_loop(trains, events, edges):
    out = np.zeros((len(events), len(trains), edges.size - 1))
    for i, event in enumerate(events):
        absolute = event + edges
        for j, train in enumerate(trains):
            lo, hi = np.searchsorted(train, [absolute[0], absolute[-1]], side="left")
            out[i, j] = np.histogram(train[lo:hi], bins=absolute)[0]
    return out




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="run the reference loops on all trials")
    parser.add_argument("--reference-trials", type=int, default=40, help="trials for the reference loops")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    times, units, events, duration = make_data()
    edges = bin_edges(WINDOW, BIN_SIZE)
    print(f"{N_SPIKES:,} spikes, {N_UNITS} units, {N_TRIALS} trials x {edges.size - 1} bins "
          f"(window {WINDOW} s, bins of {BIN_SIZE} s)")

    t_ours, counts = best_of(lambda: bin_spikes(times, units, events, WINDOW, BIN_SIZE,
                                                recording=(0.0, duration)), args.repeats)
    t_kernel, _ = best_of(lambda: count_spikes(times, units, N_UNITS, events, edges), args.repeats)
    print(f"bin_spikes (public call)   : {t_ours:8.3f} s   {N_SPIKES / t_ours / 1e6:6.1f} M spikes/s")
    print(f"count_spikes (kernel only) : {t_kernel:8.3f} s   {N_SPIKES / t_kernel / 1e6:6.1f} M spikes/s")

    trains = np.split(times, np.flatnonzero(np.diff(units)) + 1)  # one sorted train per unit (not timed)
    n_ref = N_TRIALS if args.full else min(args.reference_trials, N_TRIALS)
    subset = np.arange(n_ref) * (N_TRIALS // n_ref)
    scale = N_TRIALS / n_ref
    note = "all trials" if n_ref == N_TRIALS else f"{n_ref} of {N_TRIALS} trials, time extrapolated x{scale:g}"
    for name, loop in [("np.histogram per trial and unit", naive_loop),
                       ("searchsorted cut + np.histogram per trial and unit", windowed_loop)]:
        start = time.perf_counter()
        reference = loop(trains, events[subset], edges)
        elapsed = (time.perf_counter() - start) * scale
        identical = np.array_equal(reference, counts.values[subset])
        print(f"reference: {name} ({note})")
        print(f"    {elapsed:8.3f} s   values identical on those trials: {identical}   "
              f"speed-up of bin_spikes: {elapsed / t_ours:6.1f}x (kernel: {elapsed / t_kernel:6.1f}x)")
        if not identical:
            raise SystemExit("MISMATCH: the counts differ from the reference")


if __name__ == "__main__":
    main()
