"""Benchmark: MaskedSpikeModel training throughput on 1 vs 2 torch threads, side by side in one process.

Data: :func:`neuroalign.datasets.lorenz_spikes.simulate_lorenz_spikes` (``--trials`` trials × 50 bins,
36 held-in and 12 held-out neurons).  Each contender fits :class:`neuroalign.spikes.masked_model.MaskedSpikeModel`
with its default model (d_model 64, 2 layers, 2 heads, batch 32) for ``--epochs`` epochs, with ``threads=1``
or ``threads=2`` (the estimator sets torch's thread count during the fit and restores it); the contenders
alternate in each of ``--repeats`` rounds, so a disturbance of the shared machine hits both alike.  The
throughput is training trials × epochs per wall second; the ratio is the median 1-thread throughput over the
median 2-thread one (> 1: one thread is faster).  Both fits use the same seed, so they compute the same
thing (their weights agree to rounding).

Run:  python benchmarks/bench_spike_training_threads.py [--trials 400] [--epochs 3] [--repeats 3]
(do not set OMP_NUM_THREADS: the estimator's ``threads`` sets the count.)

Measured on the shared 2-core CPU machine (default arguments): 1 thread 738 trial-epochs/s, 2 threads 84,
ratio 8.81x (load average 3); a second run 283 vs 16.3, ratio 17.40x (load average 8.5, the 2-thread fits
using 20.5 s of CPU against 1.3 s).  Hence MaskedSpikeModel(threads=1) by default.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import alternating  # noqa: E402

from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes  # noqa: E402
from neuroalign.spikes.masked_model import MaskedSpikeModel  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sim = simulate_lorenz_spikes(n_trials=args.trials, n_bins=50, random_state=0)
    n_train = args.trials - round(0.2 * args.trials)  # validation_fraction=0.2

    def fit(threads: int):
        return lambda: MaskedSpikeModel(epochs=args.epochs, threads=threads, progress=False).fit(
            sim.counts, held_out="held_out")

    fit(1)()  # warm-up (imports, allocator)
    wall, cpu = alternating({"1 thread": fit(1), "2 threads": fit(2)}, args.repeats)
    work = n_train * args.epochs
    rate = {name: work / statistics.median(times) for name, times in wall.items()}
    print(f"{args.trials} trials ({n_train} training) x 50 bins, {args.epochs} epochs, {args.repeats} rounds")
    for name in wall:
        print(f"  {name:9s}: median {statistics.median(wall[name]):6.2f} s wall "
              f"({', '.join(f'{t:.2f}' for t in wall[name])}), CPU {statistics.median(cpu[name]):6.2f} s, "
              f"{rate[name]:7.1f} trial-epochs/s")
    print(f"throughput ratio 1 thread / 2 threads = {rate['1 thread'] / rate['2 threads']:.2f}x")


if __name__ == "__main__":
    main()
