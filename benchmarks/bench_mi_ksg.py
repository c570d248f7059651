"""Benchmark: the KSG estimate of I(X;T) on 10,000 samples of 64 dims (X: 32 inputs, T: a 32-unit layer).

Ours: :func:`neuroalign.geometry.information.ksg_mutual_information` with each ``method``:
``"tree"`` (KD-trees: scipy's ``cKDTree`` for the joint k-th neighbour, scikit-learn's ``KDTree`` for
the marginal counts), ``"scan"`` (the compiled blocked scan of every pair,
``neuroalign/geometry/information/ksg_scan.py``) and ``"auto"`` (the default: the scan from 16 joint
dims on, the trees below).

Reference: algorithm 1 of Kraskov, Stögbauer & Grassberger (2004) as a brute-force loop, one max-norm
distance row per sample (numpy, vectorised within the row).  Each row costs O(n d), so the loop is
O(n² d): by default it runs on ``--reference-rows`` rows of the full data and its time is
extrapolated linearly in the rows to all n (the printout says so); ``--full`` runs every row.  On those
rows, the loop's k-th neighbour distance and both counts must equal the tree's and the scan's exactly.
The values are also compared in full, the estimates over every row, on ``--check-samples`` samples.
Last, Ross's estimator I(T;Y) for labels (the decile of X's first dim) is timed with both methods.

The data: X = tanh of a random map of 8 latent factors plus small noise (inputs near an
8-dimensional manifold, as images are), T = ReLU(X W) (a layer).  ``--isotropic`` draws X and T as
Gaussian noise in all 64 dims instead: no structure for a tree to exploit, its worst case.

Run:  python benchmarks/bench_mi_ksg.py [--full] [--reference-rows N] [--isotropic] [--dims-x 32 --dims-t 32]
      [--repeats R]

Measured on a shared 2-core AMD EPYC machine (AVX-512; other sessions running, load average 1.2-3.8
during the runs; timings vary up to 2x between runs), ``OMP_NUM_THREADS=1``, one thread throughout:

- ``--full --repeats 3`` (default data): auto (= scan) 0.81 s, tree 2.84 s, scan 0.83 s, loop 19.1 s
  (all rows): loop / auto 23.6x, loop / tree 6.7x, loop / scan 22.9x;
- ``--full --repeats 3 --isotropic``: auto 0.87 s, tree 10.76 s, scan 0.84 s, loop 21.0 s:
  loop / auto 24.1x, loop / tree 1.9x, loop / scan 25.1x;
- the label estimator I(T;Y) on the 32-dim T, 10 classes (same runs): tree 1.19 s, scan 0.40 s (3.0x)
  on the default data, tree 2.67 s, scan 0.42 s (6.3x) isotropic;
- default rows (300, extrapolated): loop / auto 22.9x on the default data, 20.0x isotropic;
- ``--dims-x 8 --dims-t 8`` (16 joint dims, 300 rows): loop / auto 36x (tree 35x, scan 41x);
  with ``--isotropic``: loop / auto 42x (tree 8.5x, scan 44x);
- all: the three estimates equal, the per-row terms of the tree and of the scan identical to the loop's
  (on every row with ``--full``); on 2,000 samples in full, |difference| 0.

In 64 joint dims a KD-tree prunes poorly (each query still visits a good share of the leaves), so the
trees stay below 10x, and near 2x on isotropic data.  The scan compares every pair but in a
vectorised loop (dims-major data, four dims per pass over a distance row, samples in cache-sized tiles
shared by a block of queries).  Crossover measured on 10,000 samples (``neighbour_counts`` timed alone):
the scan overtakes the trees at 14-16 joint dims on the default data (at 12: tree 0.25 s, scan 0.31 s;
at 16: 0.39 s, 0.29 s), at about 6 on isotropic data (at 16: 1.42 s, 0.27 s); ``"auto"`` switches at 16.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.special import digamma
from timing import best_of

from neuroalign.geometry.information.ksg import (ksg_label_information, ksg_mutual_information, neighbour_counts,
                                                 resolve_method)

N_SAMPLES, DIMS_X, DIMS_T, LATENT, K = 10_000, 32, 32, 8, 3


def make_data(n: int, *, isotropic: bool, dims_x: int = DIMS_X, dims_t: int = DIMS_T,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if isotropic:
        x = rng.normal(size=(n, dims_x))
        t = x @ rng.normal(size=(dims_x, dims_t)) / np.sqrt(dims_x) + rng.normal(size=(n, dims_t))
    else:
        latent = rng.normal(size=(n, LATENT))
        x = np.tanh(latent @ rng.normal(size=(LATENT, dims_x)) / np.sqrt(LATENT)) + 0.05 * rng.normal(size=(n, dims_x))
        t = np.maximum(0.0, x @ rng.normal(size=(dims_x, dims_t)) / np.sqrt(dims_x))
    return x / x.std(axis=0), t / t.std(axis=0)  # standardised here, so both sides see the same arrays


def brute_force_rows(x: np.ndarray, t: np.ndarray, rows: np.ndarray, k: int):
    """Algorithm 1's per-row terms by a loop: the joint k-th neighbour distance and the two counts."""
    eps, n_x, n_t = np.empty(len(rows)), np.empty(len(rows), int), np.empty(len(rows), int)
    for out, i in enumerate(rows):
        dx = np.abs(x - x[i]).max(axis=1)
        dt = np.abs(t - t[i]).max(axis=1)
        dz = np.maximum(dx, dt)
        dz[i] = np.inf
        eps[out] = np.partition(dz, k - 1)[k - 1]
        n_x[out] = int((dx < eps[out]).sum()) - 1
        n_t[out] = int((dt < eps[out]).sum()) - 1
    return eps, n_x, n_t


def brute_force_ksg(x: np.ndarray, t: np.ndarray, k: int) -> float:
    n = len(x)
    _, n_x, n_t = brute_force_rows(x, t, np.arange(n), k)
    return float(digamma(k) + digamma(n) - np.mean(digamma(n_x + 1)) - np.mean(digamma(n_t + 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="run the brute-force loop on every row")
    parser.add_argument("--reference-rows", type=int, default=300, help="rows of the loop to time")
    parser.add_argument("--check-samples", type=int, default=2000, help="samples of the full comparison")
    parser.add_argument("--isotropic", action="store_true", help="Gaussian data in all dims (a tree's worst case)")
    parser.add_argument("--dims-x", type=int, default=DIMS_X)
    parser.add_argument("--dims-t", type=int, default=DIMS_T)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    x, t = make_data(N_SAMPLES, isotropic=args.isotropic, dims_x=args.dims_x, dims_t=args.dims_t)
    kind = "isotropic Gaussian" if args.isotropic else f"near a {LATENT}-dim manifold"
    print(f"KSG, k={K}: {N_SAMPLES:,} samples, X {args.dims_x} dims + T {args.dims_t} dims = "
          f"{args.dims_x + args.dims_t} joint dims "
          f"({kind})")

    method_auto = resolve_method("auto", args.dims_x + args.dims_t)
    neighbour_counts(x[:50], t[:50], K, method="scan")  # loads the compiled scan (numba's cache), not timed
    times, values = {}, {}
    for method in ("auto", "tree", "scan"):
        times[method], values[method] = best_of(
            lambda method=method: ksg_mutual_information(x, t, k=K, standardize=False, noise=0, method=method),
            args.repeats)
        how = {"auto": f"auto, here the {method_auto}", "tree": "KD-trees", "scan": "compiled blocked scan"}[method]
        print(f"ksg_mutual_information, method={method!r} ({how}): {times[method]:.2f} s, "
              f"I(X;T) = {values[method]:.10f} nats")
    print(f"the three estimates are equal: {values['auto'] == values['tree'] == values['scan']}")

    rows = np.arange(N_SAMPLES) if args.full else \
        np.random.default_rng(1).choice(N_SAMPLES, size=min(args.reference_rows, N_SAMPLES), replace=False)
    start = time.perf_counter()
    eps, n_x, n_t = brute_force_rows(x, t, rows, K)
    t_rows = time.perf_counter() - start
    t_loop = t_rows * N_SAMPLES / len(rows)
    how = "all rows" if args.full else f"{len(rows)} rows, extrapolated linearly to {N_SAMPLES:,} rows (O(n²) in all)"
    print(f"brute-force loop: {t_loop:.1f} s ({how})")
    for method in ("tree", "scan"):
        m_eps, m_nx, m_nt = neighbour_counts(x, t, K, method=method)
        same_rows = (np.array_equal(eps, m_eps[rows]) and np.array_equal(n_x, m_nx[rows])
                     and np.array_equal(n_t, m_nt[rows]))
        print(f"per-row terms (k-th distance, n_x, n_t) of the {method} on those rows identical to the loop's: "
              f"{same_rows}")
    for method in ("auto", "tree", "scan"):
        print(f"ratio loop / {method}: {t_loop / times[method]:.1f}x")

    small_x, small_t = x[:args.check_samples], t[:args.check_samples]
    loop_small = brute_force_ksg(small_x, small_t, K)
    for method in ("tree", "scan"):
        small = ksg_mutual_information(small_x, small_t, k=K, standardize=False, noise=0, method=method)
        print(f"full comparison on {args.check_samples:,} samples: {method} {small:.10f}, loop {loop_small:.10f}, "
              f"max |difference| {abs(small - loop_small):.2e} nats")

    # I(T;Y) by Ross's estimator, Y = the decile of X's first dim (10 classes of 1,000 samples)
    labels = np.searchsorted(np.quantile(x[:, 0], np.linspace(0.1, 0.9, 9)), x[:, 0])
    label_times, label_values = {}, {}
    for method in ("tree", "scan"):
        label_times[method], label_values[method] = best_of(
            lambda method=method: ksg_label_information(t, labels, k=K, standardize=False, noise=0, method=method),
            args.repeats)
    print(f"ksg_label_information on T ({args.dims_t} dims, 10 classes): tree {label_times['tree']:.2f} s, "
          f"scan {label_times['scan']:.2f} s (auto: the {resolve_method('auto', args.dims_t)}), "
          f"tree / scan {label_times['tree'] / label_times['scan']:.1f}x, "
          f"estimates equal: {label_values['tree'] == label_values['scan']}")


if __name__ == "__main__":
    main()
