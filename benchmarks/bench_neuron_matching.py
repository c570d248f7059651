"""Neuron matching of two 4,096-unit layers over 10,000 stimuli: the unit correlation matrix and the assignment.

Ours: :func:`neuroalign.compare.matching.correlation.unit_correlation` (the full public call:
validation, alignment on ``stimulus_id``, float64 means and norms, the whole 4,096 × 4,096 matrix from one
product of the centred activations accumulated over blocks of stimuli, provenance) and
:func:`neuroalign.compare.matching.neuron_matching.one_to_one_matching` (``scipy.optimize.linear_sum_assignment``).

Reference: the naive loop over unit pairs, ``numpy.corrcoef(a[:, i], b[:, j])[0, 1]`` for each pair.  All
16.8 million pairs would take many minutes, so the loop is timed on a seeded sample of pairs and its time
is extrapolated linearly to every pair (each pair costs the same); the output says so.  The sampled
values are compared with ours.

Synthetic, seeded data: layer A is a ReLU layer driven by a 256-dimensional latent; layer B is A's units in
a planted random order plus independent noise, so the assignment has a known answer (reported as the
share of units matched to their planted partner).

Run::

    python benchmarks/bench_neuron_matching.py                      # 10,000 stimuli, 4,096 units, 2,000 pairs
    python benchmarks/bench_neuron_matching.py --stimuli 2000 --units 512
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from neuroalign.compare.matching.neuron_matching import one_to_one_matching
from neuroalign.compare.matching.correlation import unit_correlation
from neuroalign.data import create_assembly


def make_layers(n_stimuli: int, n_units: int, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n_stimuli, 256), dtype=np.float32)
    a = latent @ rng.standard_normal((256, n_units), dtype=np.float32)
    a += 4 * rng.standard_normal((n_stimuli, n_units), dtype=np.float32)
    np.maximum(a, 0, out=a)
    planted = rng.permutation(n_units)                    # unit j of B is unit planted[j] of A, plus noise
    b = a[:, planted] + 2 * rng.standard_normal((n_stimuli, n_units), dtype=np.float32)
    stimuli = [f"s{i}" for i in range(n_stimuli)]
    layer_a = create_assembly(a, stimulus_id=stimuli, neuroid_id=[f"a{i}" for i in range(n_units)])
    layer_b = create_assembly(b, stimulus_id=stimuli, neuroid_id=[f"b{i}" for i in range(n_units)])
    return layer_a, layer_b, planted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stimuli", type=int, default=10_000)
    parser.add_argument("--units", type=int, default=4_096)
    parser.add_argument("--pairs", type=int, default=2_000, help="unit pairs timed in the naive loop")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    layer_a, layer_b, planted = make_layers(args.stimuli, args.units, args.seed)
    n, p = args.stimuli, args.units
    print(f"two layers of {p:,} units over {n:,} stimuli (float32 activations, float64 products)")

    start, cpu = time.perf_counter(), time.process_time()
    corr = unit_correlation(layer_a, layer_b)
    product, product_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    matched = one_to_one_matching(corr)
    assignment, assignment_cpu = time.perf_counter() - start, time.process_time() - cpu
    partner = dict(zip(matched.neuroid_id_b.values, matched.neuroid_id_a.values))
    recovered = np.mean([partner[f"b{j}"] == f"a{planted[j]}" for j in range(p)])

    xa, xb = layer_a.values, layer_b.values
    rng = np.random.default_rng(args.seed + 1)
    rows, cols = rng.integers(0, p, args.pairs), rng.integers(0, p, args.pairs)
    start, cpu = time.perf_counter(), time.process_time()
    naive = [np.corrcoef(xa[:, i], xb[:, j])[0, 1] for i, j in zip(rows, cols)]
    per_pair, per_pair_cpu = (time.perf_counter() - start) / args.pairs, (time.process_time() - cpu) / args.pairs
    extrapolated, extrapolated_cpu = per_pair * p * p, per_pair_cpu * p * p
    difference = np.abs(np.array(naive) - corr.values[rows, cols]).max()

    flops = 2.0 * n * p * p
    print(f"unit correlation matrix (one blocked product, public call): {product:.2f} s wall, "
          f"{product_cpu:.2f} s CPU ({flops / product / 1e9:.1f} GFLOP/s of the product, wall)")
    print(f"one-to-one assignment (linear_sum_assignment, {p:,} x {p:,}): {assignment:.2f} s wall, "
          f"{assignment_cpu:.2f} s CPU = {assignment / product:.2f} x the product's wall time; "
          f"planted partners recovered: {recovered:.4f}")
    print(f"naive per-pair loop (numpy.corrcoef per pair): {per_pair * 1e6:.1f} us wall, {per_pair_cpu * 1e6:.1f} us "
          f"CPU per pair, measured on {args.pairs:,} sampled pairs and EXTRAPOLATED to all {p * p:,} pairs: "
          f"{extrapolated:.0f} s wall, {extrapolated_cpu:.0f} s CPU")
    print(f"ratio naive (extrapolated) / ours (product): {extrapolated / product:.0f}x wall, "
          f"{extrapolated_cpu / product_cpu:.0f}x CPU; with the assignment: "
          f"{extrapolated / (product + assignment):.0f}x wall, "
          f"{extrapolated_cpu / (product_cpu + assignment_cpu):.0f}x CPU")
    print(f"largest |difference| on the sampled pairs: {difference:.1e}")


if __name__ == "__main__":
    main()
