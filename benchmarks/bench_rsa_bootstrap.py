"""Stimulus-bootstrap evaluation of the 8 model RDMs against the 8 human-IT RDMs (92 images).

Side by side, on the same resamples: rsatoolbox's ``eval_bootstrap_pattern``
(a Python loop over resamples, models and subjects) and neuroalign's
``evaluate_resamples`` (all resamples, models and subjects at once), both
with the noise ceiling of every resample (rsatoolbox's default).  rsatoolbox
draws its resamples with ``np.random``; we replay the same draws, so the two
must agree resample by resample.  Also times :func:`evaluate_models` (which
draws its own resamples) and checks its point estimates against rsatoolbox's
``eval_fixed``.

Data: ``92_modelRDMs.mat`` (8 models) and ``92_brainRDMs.mat`` (4 subjects ×
2 sessions = 8 data RDMs), from ``../shared/data/kriegeskorte2008``.

Run::

    python benchmarks/bench_rsa_bootstrap.py                 # 1,000 resamples, corr, spearman, tau-a
    python benchmarks/bench_rsa_bootstrap.py --n-bootstrap 100 --methods corr
    python benchmarks/bench_rsa_bootstrap.py --no-ceiling    # both sides without per-resample ceilings

Every method is timed with the per-resample noise ceilings on both sides
(rsatoolbox's default ``boot_noise_ceil=True``; :func:`evaluate_models` computes
them too), unless ``--no-ceiling``.

Before each method is timed, both sides run once on 2 resamples (a warm-up):
that loads our compiled Kendall kernel (numba, cached on disk; compiled on the
very first use after an install, about 4 s once) and rsatoolbox's imports.

Measured 2026-11-26 on the 2-core development machine (quiet), after the
warm-up; the ratios are side by side::

    method                rsatoolbox s  neuroalign s    ratio  max |diff| evals  max |diff| ceil  evaluate_models s  max |diff| point
    corr                          8.53          0.23    36.8x          1.20e-14         2.66e-15               0.26          3.11e-15
    spearman                     59.31          1.56    38.0x          1.67e-16         2.22e-16               1.56          2.22e-16
    tau-a                        68.88          2.63    26.2x          5.55e-17         0.00e+00               2.55          0.00e+00
    tau-a (no ceil)              35.17          1.47    23.9x          5.55e-17              nan               1.49          0.00e+00

(the last row: ``--methods tau-a --no-ceiling``).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # rsatoolbox's progress bars

import numpy as np  # noqa: E402
import scipy.io  # noqa: E402

from neuroalign.compare import as_rdm, evaluate_models, evaluate_resamples  # noqa: E402

DATA = Path(os.environ.get("NEUROALIGN_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


def load():
    folder = DATA / "kriegeskorte2008"
    read = lambda name, key: scipy.io.loadmat(folder / name, squeeze_me=True, struct_as_record=False)[key]  # noqa: E731
    models, brain = read("92_modelRDMs.mat", "Models"), read("92_brainRDMs.mat", "RDMs").ravel()
    model_squares = np.stack([m.RDM for m in models]).astype(float)
    data_squares = np.stack([r.RDM for r in brain]).astype(float)
    names = [m.name for m in models]
    return names, model_squares, data_squares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--methods", nargs="+", default=["corr", "spearman", "tau-a"])
    parser.add_argument("--no-ceiling", action="store_true", help="skip per-resample noise ceilings on both sides")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from rsatoolbox.inference import eval_bootstrap_pattern, eval_fixed
    from rsatoolbox.model import ModelFixed
    from rsatoolbox.rdm import RDMs

    names, model_squares, data_squares = load()
    ref_models = [ModelFixed(n, RDMs(s[None])) for n, s in zip(names, model_squares, strict=True)]
    ref_data = RDMs(data_squares)
    models = as_rdm(model_squares, dims=["model"]).assign_coords(model=names)
    data = as_rdm(data_squares, dims=["subject"])
    n = args.n_bootstrap
    print(f"{len(names)} models x {len(data_squares)} data RDMs, 92 stimuli, {n} stimulus resamples; "
          f"per-resample noise ceilings on both sides: {'no' if args.no_ceiling else 'yes'}")
    print(f"{'method':<20}{'rsatoolbox s':>14}{'neuroalign s':>14}{'ratio':>9}{'max |diff| evals':>18}"
          f"{'max |diff| ceil':>17}{'evaluate_models s':>19}{'max |diff| point':>18}")
    for method in args.methods:
        ceiling = not args.no_ceiling
        with warnings.catch_warnings():  # warm-up of both sides, untimed
            warnings.simplefilter("ignore")
            eval_bootstrap_pattern(ref_models, ref_data, method=method, N=2, boot_noise_ceil=ceiling)
        evaluate_resamples(models, data, method=method, stimulus_indices=np.zeros((2, 92), dtype=int) + np.arange(92),
                           ceiling=ceiling)
        np.random.seed(args.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rsatoolbox warns that tau ceilings pool averaged ranks
            start = time.perf_counter()
            ref = eval_bootstrap_pattern(ref_models, ref_data, method=method, N=n, boot_noise_ceil=ceiling)
            t_ref = time.perf_counter() - start
            fixed = eval_fixed(ref_models, ref_data, method=method)
        np.random.seed(args.seed)
        indices = np.stack([np.random.randint(0, 92, size=92) for _ in range(n)])  # the same draws
        start = time.perf_counter()
        ours = evaluate_resamples(models, data, method=method, stimulus_indices=indices, ceiling=ceiling)
        t_ours = time.perf_counter() - start
        diff = np.nanmax(np.abs(ours["evaluations"].values - ref.evaluations))
        diff_nc = np.nanmax(np.abs(ours["noise_ceiling"].values - ref.noise_ceiling.T)) if ceiling else float("nan")
        start = time.perf_counter()
        score = evaluate_models(models, data, method=method, n_bootstrap=n, seed=args.seed,
                                ceiling_resamples=ceiling)
        t_score = time.perf_counter() - start
        diff_point = np.max(np.abs(score.values.values - fixed.get_means()))
        label = method + ("" if ceiling else " (no ceil)")
        print(f"{label:<20}{t_ref:>14.2f}{t_ours:>14.2f}{t_ref / t_ours:>8.1f}x{diff:>18.2e}{diff_nc:>17.2e}"
              f"{t_score:>19.2f}{diff_point:>18.2e}", flush=True)


if __name__ == "__main__":
    main()
