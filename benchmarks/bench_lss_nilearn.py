"""Benchmark: LSS beta series, 1 run x 300 volumes x 60 trials x 20,000 voxels, neuroalign vs nilearn.

Ours: :func:`neuroalign.loaders.glm_lss.lss_estimates` (the full call: masking the
4D NIfTI file, nilearn's mean scaling, the per-trial designs built by nilearn's
``make_first_level_design_matrix``, the closed-form solve).  Reference: nilearn's
documented beta-series loop ("Beta-Series Modeling for Task-Based Functional
Connectivity and Decoding"): per trial, relabel that trial in the events table,
``FirstLevelModel(...).fit(nifti_path, events)`` and
``compute_contrast(trial_name, output_type="effect_size")``.  The data are
simulated (trial responses, AR(1) noise, drift) and written as a real float32
NIfTI file with a 20,000-voxel mask file; the design has three trial types with
jittered onsets (a rapid design) and 6 confound columns.

Each noise model (``ols``; ``ar1``, nilearn's default) prints our time (the median
of ``--repeats`` calls, each listed: the first pays the imports and cold caches),
nilearn's, the ratio (also against our slowest call) and the largest absolute
difference between the betas (and t statistics).  With ``--nilearn-trials K < 60`` only the first K of nilearn's
per-trial fits run and its time is extrapolated linearly to 60 trials (the fits
are independent and of equal size); the output says so, and the differences are
then over those K trials.

Run:  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_lss_nilearn.py [--variant lss-n]
      [--noise-models ols,ar1] [--nilearn-trials 60] [--repeats 3] [--seed 0]

Measured 2026-12-06 on the shared 2-core CPU machine (nilearn 0.14.1, numpy 2.4.6), the command
above with the defaults (LSS-N, all 60 of nilearn's fits run): ols 0.58 s vs 33.4 s, 57.6x; ar1
1.25 s vs 62.9 s, 50.5x (39.2x against our slowest call); largest differences 1.5e-13 (betas),
6.6e-14 (t).  An earlier run of the same command: ols 50.3x, ar1 34.5x.  With --variant lss-1
--nilearn-trials 10 (extrapolated): ols 0.53 s vs 31.0 s, 58.3x; ar1 1.10 s vs 61.4 s, 55.8x.  On a
busier machine (load ~6) an earlier run gave ols 23.6x (a cold first call, 5.3 s) and ar1 45.8x.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from neuroalign.loaders.glm_lss import lss_estimates
from neuroalign.loaders.lss_designs import lss_events

N_VOLUMES, N_TRIALS, N_VOXELS, T_R = 300, 60, 20_000, 2.0
GRID = (32, 32, 24)


def make_files(folder: Path, seed: int) -> tuple[Path, Path, pd.DataFrame, pd.DataFrame]:
    """A 4D float32 NIfTI run, its 20,000-voxel mask, the events and confounds."""
    from nilearn.glm.first_level import make_first_level_design_matrix

    rng = np.random.default_rng(seed)
    gaps = rng.uniform(6.0, 12.0, N_TRIALS)
    onsets = 6.0 + np.cumsum(gaps) - gaps[0]
    onsets *= (N_VOLUMES * T_R - 30.0) / onsets[-1]
    events = pd.DataFrame({"onset": onsets, "duration": 1.0,
                           "trial_type": [f"cond{i % 3}" for i in range(N_TRIALS)]})
    frame_times = np.arange(N_VOLUMES) * T_R
    lsa = make_first_level_design_matrix(frame_times, events.assign(trial_type=[f"t{i}" for i in range(N_TRIALS)]),
                                         drift_model=None)
    responses = rng.normal(1.0, 1.0, (N_TRIALS, N_VOXELS))
    signal = lsa.to_numpy()[:, :N_TRIALS] @ responses
    noise = np.empty((N_VOLUMES, N_VOXELS))
    phi, shocks = rng.uniform(0.0, 0.5, N_VOXELS), rng.normal(size=(N_VOLUMES, N_VOXELS))
    noise[0] = shocks[0]
    for t in range(1, N_VOLUMES):
        noise[t] = phi * noise[t - 1] + shocks[t]
    drift = np.outer(np.linspace(-1, 1, N_VOLUMES), rng.normal(0, 5, N_VOXELS))
    data = 1000.0 + 10 * signal + 8 * noise + drift
    confounds = pd.DataFrame(rng.normal(size=(N_VOLUMES, 6)), columns=[f"motion_{i}" for i in range(6)])

    flat = np.zeros(int(np.prod(GRID)), bool)
    flat[np.sort(rng.choice(flat.size, N_VOXELS, replace=False))] = True
    mask = flat.reshape(GRID)
    volume = np.zeros((*GRID, N_VOLUMES), np.float32)
    volume[mask] = data.T  # C order of the mask = nilearn's masker order
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    run_path, mask_path = folder / "sub-01_task-bench_bold.nii.gz", folder / "mask.nii.gz"
    nib.save(nib.Nifti1Image(volume, affine), run_path)
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine), mask_path)
    return run_path, mask_path, events, confounds


def nilearn_loop(run_path, mask_path, events, confounds, variant, noise_model, n_fit):
    """nilearn's documented LSS loop over the first ``n_fit`` trials: betas, t, seconds."""
    from nilearn.glm.first_level import FirstLevelModel
    from nilearn.maskers import NiftiMasker

    masker = NiftiMasker(mask_img=str(mask_path)).fit()
    betas, stats = [], []
    start = time.perf_counter()
    for trial in range(n_fit):
        trial_events, name = lss_events(events, trial, variant)
        glm = FirstLevelModel(t_r=T_R, mask_img=str(mask_path), noise_model=noise_model)
        glm.fit(str(run_path), trial_events, confounds=confounds)
        betas.append(glm.compute_contrast(name, output_type="effect_size"))
        stats.append(glm.compute_contrast(name, output_type="stat"))
    seconds = time.perf_counter() - start
    return masker.transform(betas), masker.transform(stats), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="lss-n", choices=["lss-1", "lss-n"])
    parser.add_argument("--noise-models", default="ols,ar1")
    parser.add_argument("--nilearn-trials", type=int, default=N_TRIALS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="calls of ours (the first one has cold imports)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    n_fit = min(args.nilearn_trials, N_TRIALS)
    with tempfile.TemporaryDirectory() as tmp:
        run_path, mask_path, events, confounds = make_files(Path(tmp), args.seed)
        print(f"LSS ({args.variant}) of 1 run x {N_VOLUMES} volumes x {N_TRIALS} trials x {N_VOXELS} voxels "
              f"(float32 NIfTI file, 6 confounds)")
        for noise_model in args.noise_models.split(","):
            def ours_call():
                return lss_estimates(str(run_path), events, {"t_r": T_R}, variant=args.variant,
                                     confounds=confounds, noise_model=noise_model, mask_img=str(mask_path))

            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                ours = ours_call()
                times.append(time.perf_counter() - start)
            ours_s = float(np.median(times))
            ref_b, ref_t, ref_s = nilearn_loop(run_path, mask_path, events, confounds, args.variant,
                                               noise_model, n_fit)
            full_s = ref_s * N_TRIALS / n_fit
            note = (f"nilearn timed on {n_fit} of {N_TRIALS} trials ({ref_s:.1f} s), extrapolated linearly"
                    if n_fit < N_TRIALS else "nilearn: all trials fitted")
            print(f"noise_model={noise_model}: neuroalign {ours_s:.2f} s (median of {args.repeats} calls: "
                  f"{', '.join(f'{t:.2f}' for t in times)} s), nilearn loop {full_s:.1f} s -> "
                  f"{full_s / ours_s:.1f}x ({full_s / max(times):.1f}x against our slowest call); "
                  f"max |beta diff| {np.abs(ours.betas[:n_fit] - ref_b).max():.2e}, "
                  f"max |t diff| {np.abs(ours.t[:n_fit] - ref_t).max():.2e} ({note})")


if __name__ == "__main__":
    main()
