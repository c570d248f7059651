"""Benchmark: crossnobis RDMs of 300 conditions x 2,000 channels x 6 runs, neuroalign vs rsatoolbox.

Ours: :func:`neuroalign.compare.compute_rdm` (the full public call: validation,
fold means, batched products, labels, provenance hash).  Reference:
``rsatoolbox.rdm.calc_rdm(dataset, method="crossnobis", descriptor=..., cv_descriptor="run")``
(rsatoolbox 0.3), the same leave-one-run-out estimator.  Two cases:

1. no noise model (rsatoolbox's default: the identity precision, which it still
   multiplies as a full 2,000 x 2,000 matrix; we skip it);
2. a full shrinkage noise precision (``prec_from_unbalanced(..., "shrinkage_diag")``,
   estimated once and passed to both), where both sides do the same
   fold x conditions x channels² products, so the ratio measures overheads.

Each case prints the wall times (best of ``--repeats`` runs of each, on the same
machine), the ratio, and the largest difference between the two RDMs; a second
line times our fold-sum kernel alone (no validation, labels or provenance: the
sha256 of the 29 MB input is most of the rest).

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_crossnobis.py [--repeats 5] [--seed 0]

One BLAS thread each keeps the timings steady on a shared machine; with all threads the
ratio varied 1-6x from run to run as other jobs competed for the 2 cores.  Four runs of the
command above on a shared 2-core CPU machine (November 2026, rsatoolbox 0.3.2):
identity precision: ours 0.07-0.15 s, rsatoolbox 0.52-0.79 s, 5.2-7.3x (kernel alone
0.03-0.05 s, 15-20x); full shrinkage precision: ours 0.51-0.82 s, rsatoolbox 0.43-0.75 s,
0.9-1.1x (kernel alone 1.4-1.6x: both do the same folds x conditions x channels^2 products);
largest differences 3e-15.

2026-11-26, quiet machine, provenance digests with xxh3-128 (the runs above hashed with
sha256): identity 0.037 s vs 0.346 s, 9.3x (kernel alone 14.9x); full shrinkage precision
0.282 s vs 0.350 s, 1.2x (kernel alone 1.5x); largest differences 2.7e-15.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_of

from neuroalign.compare import compute_rdm, rdm_methods
from neuroalign.data import create_assembly

N_CONDITIONS, N_CHANNELS, N_RUNS = 300, 2000, 6


def make_data(seed: int):
    rng = np.random.default_rng(seed)
    true = rng.normal(size=(N_CONDITIONS, N_CHANNELS))
    mixing = np.eye(N_CHANNELS) + 0.3 * rng.normal(size=(N_CHANNELS, N_CHANNELS)) / np.sqrt(N_CHANNELS)
    runs = [true + rng.normal(size=true.shape) @ mixing for _ in range(N_RUNS)]  # correlated noise
    values = np.concatenate(runs)
    ids = np.array([f"c{i:03d}" for i in range(N_CONDITIONS)])[np.tile(np.arange(N_CONDITIONS), N_RUNS)]
    run = np.repeat(np.arange(N_RUNS), N_CONDITIONS)
    return values, ids, run




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from rsatoolbox.data import Dataset
    from rsatoolbox.data.noise import prec_from_unbalanced
    from rsatoolbox.rdm import calc_rdm

    values, ids, run = make_data(args.seed)
    data = create_assembly(values, stimulus_id=ids, presentation={"run": run})
    dataset = Dataset(values, obs_descriptors={"stim": ids, "run": run})
    print(f"crossnobis: {N_CONDITIONS} conditions x {N_CHANNELS} channels x {N_RUNS} runs "
          f"({N_CONDITIONS * (N_CONDITIONS - 1) // 2} pairs)")
    precision = prec_from_unbalanced(dataset, "stim", method="shrinkage_diag")
    sums, counts = rdm_methods.fold_sums(values, np.tile(np.arange(N_CONDITIONS), N_RUNS), run, N_CONDITIONS,
                                         N_RUNS, np.arange(N_RUNS), np.unique(ids))
    for label, noise in (("identity precision", None), ("full shrinkage precision", precision)):
        ours_time, ours = best_of(repeats=args.repeats, function=lambda noise=noise: compute_rdm(
            data, "crossnobis", noise=noise, cv_descriptor="run"))
        reference_time, reference = best_of(repeats=args.repeats, function=lambda noise=noise: calc_rdm(
            dataset, method="crossnobis", descriptor="stim", cv_descriptor="run", noise=noise).get_vectors()[0])
        kernel_time, _ = best_of(repeats=args.repeats, function=lambda noise=noise: rdm_methods.crossnobis(
            sums, counts, precision=noise))
        difference = np.abs(ours.values - reference).max()
        print(f"{label:25s} ours {ours_time:7.3f} s   rsatoolbox {reference_time:7.3f} s   "
              f"ratio {reference_time / ours_time:6.1f}x   max |difference| {difference:.1e} "
              f"(values up to {np.abs(reference).max():.2f})")
        print(f"{'':25s} (ours without validation and provenance hashing: {kernel_time:.3f} s, "
              f"ratio {reference_time / kernel_time:.1f}x)")


if __name__ == "__main__":
    main()
