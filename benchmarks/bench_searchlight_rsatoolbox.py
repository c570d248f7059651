"""Benchmark: searchlight RSA over a 20,000-voxel mask, radius 3 voxels, 60 stimuli, neuroalign vs rsatoolbox.

Ours: :func:`neuroalign.compare.common.searchlight_grid.searchlight_spheres`,
:func:`neuroalign.compare.rsa.searchlight.searchlight_rdms` (correlation RDMs, one
per sphere, in batched products per sphere size) and
:func:`neuroalign.compare.rsa.searchlight.searchlight_compare` (Pearson r with 3
model RDMs), the full public calls (validation, labels, provenance).
Reference (rsatoolbox 0.3): ``get_volume_searchlight(mask, 3, 0.0,
truncate_at_boundary=True)`` (every mask voxel a centre, spheres cut at the
mask, as ours), ``get_searchlight_RDMs(..., method="correlation")`` and
``evaluate_models_searchlight(rdms, models, eval_fixed, method="corr")``.

The mask is a ball of 20,000-odd voxels in a 40³ grid; 60 stimuli × 2 runs of
random patterns (rsatoolbox averages the runs per stimulus, as we do).
rsatoolbox's RDM and evaluation steps loop in Python over spheres, about
100 s for all 20,000: by default they run on a random subset of ``--subset``
spheres and their time is extrapolated linearly to all spheres (the loops do
the same work per sphere); ``--subset 0`` runs them on every sphere.  The
values are checked on the spheres rsatoolbox ran: centres and neighbours
identical, RDMs and evaluations equal to 1e-10.

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_searchlight_rsatoolbox.py [--subset 2000] [--repeats 3]

Measured on the shared 2-core CPU machine (6 December 2026, rsatoolbox 0.3.2), one process per
command, each side in the same process; CPU seconds count both of our threads.  At a quiet moment
(load average 0.6-1.0), ``--subset 2000 --repeats 3``, two runs: spheres 0.06 s vs 1.8-1.9 s (30x),
RDMs 0.58 s wall (0.98-0.99 s CPU) vs 20.0-20.7 s extrapolated (34-36x wall, 20.4-20.9x CPU),
evaluation 0.43-0.45 s vs 10.6-10.7 s (24-25x), total 1.08-1.09 s vs 32.5-33.2 s: 30.2-30.5x wall,
22.0-22.1x CPU; the code before the one-pass correlation (commit 0287a4a), alternated with it in
the same minutes: RDMs 0.73-0.92 s wall (1.11-1.23 s CPU), total 23.7-26.9x wall, 19.1-20.8x CPU.
``--subset 0`` (rsatoolbox on all 19,952 spheres, nothing extrapolated; load 0.0-0.8):
``--repeats 1`` 1.85 s vs 47.5 s, 25.7x wall, 19.2x CPU (a single run of ours pays the first
touch of fresh memory: its evaluation took 0.82 s, 0.43 s in the runs above); ``--repeats 2``
(load 0.3-0.8): 1.24 s vs 34.7 s, 28.1x wall, 20.2x CPU; the code before, ``--repeats 1``: 1.33 s
vs 35.4 s, 26.6x wall, 19.5x CPU.  Our CPU seconds include the overhead of running the RDM chunks
on 2 threads (about 1.0-1.1 s of CPU for 0.6-0.65 s of wall), so the CPU ratio (19-22x) is below
the wall ratio (26-30x).  Earlier, on the busy machine (load 3-7), the code before gave 13.5-28.3x
wall and 16-20x CPU: the wall ratio depends on the load, the CPU ratio less so.  Largest differences: RDMs 6.7e-16,
evaluations 2.2e-16; identical centres and neighbours; our correlation RDMs are bit-identical to
those before the one-pass path.  Where ours spends its time (one thread): about 0.8 s for the
19,952 correlation RDMs (0.28 s the batched matrix products, 0.12 s gathering the spheres'
patterns, 0.2 s centring and scaling them, 0.06 s keeping the upper triangles, the rest the first
touch of the 282 MB output and the setup) and 0.45 s for the comparisons (0.18 s the kernels; the
rest compare_rdms' labelling, stimulus matching and provenance per chunk of 592 spheres).
Since then the model RDMs are checked and ordered once and the inputs hashed once per map, not per
chunk (values bit-identical).  ``OMP_NUM_THREADS=1``, defaults, on the busy machine (load 3.4-4.1),
this code then the code before it in the same minutes: evaluation 0.50 s wall (0.345 s CPU) vs
0.45 s (0.449 s CPU); totals 28.3x wall, 28.1x CPU vs 19.1x wall, 24.7x CPU (rsatoolbox's side varied
by 40% between the two runs: compare the CPU seconds of our steps).
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import numpy as np

os.environ.setdefault("TQDM_DISABLE", "1")

from neuroalign.compare import as_rdm  # noqa: E402
from neuroalign.compare.rsa.searchlight import searchlight_compare, searchlight_rdms  # noqa: E402
from neuroalign.compare.common.searchlight_grid import searchlight_spheres  # noqa: E402
from neuroalign.data import create_assembly  # noqa: E402

GRID, RADIUS, N_STIMULI, N_RUNS, N_MODELS = (40, 40, 40), 3, 60, 2, 3


def make_data(seed: int):
    rng = np.random.default_rng(seed)
    mask = ((np.indices(GRID) - 19.5) ** 2).sum(axis=0) < 16.85**2
    ijk = np.argwhere(mask)
    stimuli = [f"s{i:02d}" for i in range(N_STIMULI)]
    signal = rng.normal(size=(N_STIMULI, len(ijk)))
    values = np.concatenate([signal + rng.normal(size=signal.shape) for _ in range(N_RUNS)])
    patterns = create_assembly(values, stimulus_id=stimuli * N_RUNS,
                               neuroid={"voxel_i": ijk[:, 0], "voxel_j": ijk[:, 1], "voxel_k": ijk[:, 2]},
                               presentation={"run": np.repeat(np.arange(N_RUNS), N_STIMULI)},
                               attrs={"grid_shape": list(GRID), "affine": [float(v) for v in np.eye(4).ravel()]})
    n_pairs = N_STIMULI * (N_STIMULI - 1) // 2
    models = as_rdm(rng.random((N_MODELS, n_pairs)), stimuli, form="vector", dims=["model"])
    return mask, patterns, models.assign_coords(model=[f"m{i}" for i in range(N_MODELS)])


class _Clock:
    """Wall and process CPU seconds of each step (CPU time counts every thread; the machine may be shared)."""

    def __init__(self, scale: float = 1.0):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.scale = scale

    def run(self, step: str, function, *args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function(*args, **kwargs)
        self.wall[step] = (time.perf_counter() - wall) * (self.scale if step != "spheres" else 1.0)
        self.cpu[step] = (time.process_time() - cpu) * (self.scale if step != "spheres" else 1.0)
        return result


def ours(mask, patterns, models):
    clock = _Clock()
    spheres = clock.run("spheres", searchlight_spheres, mask, RADIUS, threshold=0.0)
    rdms = clock.run("RDMs", searchlight_rdms, patterns, spheres, "correlation")
    scores = clock.run("evaluation", searchlight_compare, rdms, models, "corr")
    return clock, spheres, rdms, scores


def theirs(mask, patterns, models, subset, rng):
    from rsatoolbox.inference import eval_fixed
    from rsatoolbox.model import ModelFixed
    from rsatoolbox.rdm import RDMs
    from rsatoolbox.util.searchlight import evaluate_models_searchlight, get_searchlight_RDMs, get_volume_searchlight

    n_voxels = int(mask.sum())
    chosen = np.arange(n_voxels) if subset <= 0 or subset >= n_voxels else np.sort(
        rng.choice(n_voxels, subset, replace=False))
    clock = _Clock(scale=n_voxels / len(chosen))
    centres, neighbours = clock.run("spheres", get_volume_searchlight, mask, RADIUS, 0.0, truncate_at_boundary=True)
    data = np.zeros((patterns.sizes["presentation"], mask.size))
    data[:, np.ravel_multi_index(np.nonzero(mask), mask.shape)] = patterns.values
    rdms = clock.run("RDMs", get_searchlight_RDMs, data, centres[chosen], [neighbours[i] for i in chosen],
                     patterns.stimulus_id.values, method="correlation", verbose=False)
    fixed = [ModelFixed(str(name), RDMs(models.sel(model=name).values[None])) for name in models.model.values]
    results = clock.run("evaluation", evaluate_models_searchlight, rdms, fixed, eval_fixed, method="corr")
    evaluations = np.array([r.evaluations[0, :, 0] for r in results])
    return clock, centres, neighbours, chosen, rdms.dissimilarities, evaluations


def _best(runs):
    """The last run's results, with each step's best wall (and that run's CPU) time over the runs."""
    best = _Clock()
    for step in runs[0][0].wall:
        fastest = min((run[0] for run in runs), key=lambda clock: clock.wall[step])
        best.wall[step], best.cpu[step] = fastest.wall[step], fastest.cpu[step]
    return (best, *runs[-1][1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=2000, help="spheres rsatoolbox runs on (0: all)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side (each step's best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.getLogger("rsatoolbox").setLevel(logging.ERROR)
    mask, patterns, models = make_data(args.seed)
    ours(mask, patterns, models)  # warm-up (imports, thread pools)
    mine, spheres, rdms, scores = _best([ours(mask, patterns, models) for _ in range(args.repeats)])
    theirs_clock, centres, neighbours, chosen, their_rdms, their_scores = _best(
        [theirs(mask, patterns, models, args.subset, np.random.default_rng(args.seed)) for _ in range(args.repeats)])
    our_centres, our_neighbours = spheres.to_rsatoolbox()
    same_spheres = np.array_equal(our_centres, centres) and all(
        np.array_equal(a, np.sort(b)) for a, b in zip(our_neighbours, neighbours))
    rdm_diff = float(np.abs(rdms.values[chosen] - their_rdms).max())
    score_diff = float(np.abs(scores.values[chosen] - their_scores).max())
    print(f"mask {int(mask.sum())} voxels, {spheres.n_spheres} spheres of radius {RADIUS} voxels "
          f"({int(spheres.sizes.min())}-{int(spheres.sizes.max())} voxels), {N_STIMULI} stimuli x {N_RUNS} runs, "
          f"{N_MODELS} models; rsatoolbox's RDM and evaluation loops timed on {len(chosen)} spheres"
          + (" and extrapolated to all" if len(chosen) < len(centres) else ""))
    print(f"each step the best of {args.repeats} runs; wall seconds (process CPU seconds, all threads)")
    for step in ("spheres", "RDMs", "evaluation", "total"):
        wall = [sum(c.wall.values()) if step == "total" else c.wall[step] for c in (mine, theirs_clock)]
        cpu = [sum(c.cpu.values()) if step == "total" else c.cpu[step] for c in (mine, theirs_clock)]
        print(f"  {step:<11} ours {wall[0]:7.3f} s ({cpu[0]:7.3f})   rsatoolbox {wall[1]:8.3f} s ({cpu[1]:8.3f})   "
              f"{wall[1] / wall[0]:6.1f}x wall, {cpu[1] / cpu[0]:6.1f}x CPU")
    print(f"identical spheres: {same_spheres}; largest difference: RDMs {rdm_diff:.2e}, evaluations {score_diff:.2e}")
    if not same_spheres or rdm_diff > 1e-10 or score_diff > 1e-10:
        raise SystemExit("the values differ")


if __name__ == "__main__":
    main()
