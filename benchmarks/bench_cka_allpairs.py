"""All-pairs linear CKA, 12 × 12 layers, 5,000 samples, 512–4,096 features: ours vs a loop over pairs.

Reference: the straightforward way most CKA snippets compute a layer × layer
matrix: for every pair, center both layers and evaluate
``‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F)`` (the feature-space formula Kornblith et
al. recommend when samples outnumber features, the faster of their two
formulas here).  Ours: :func:`neuroalign.compare.cka_matrix`, which computes
each layer's Gram matrix once (BLAS ``syrk``) and every pair's inner product
with one matrix product of the packed Gram matrices.

The reference takes many minutes on a small machine, so by default it is timed
on a seeded random subset of pairs and its total time is extrapolated by its
exact floating-point operation count (the script says so in its output);
``--reference-pairs all`` times every pair.  Both sides run in the same
process, on the same data, one after the other.

The machine's matrix-multiply throughput is measured with a large square
product (numpy, or torch on the chosen device), and ours is reported as the
fraction of it reached: useful FLOPs of our algorithm per second / GEMM
FLOP/s.  Memory stays under ~5 GB in float64 (data 1.7 GB + packed Gram
matrices 2.4 GB).

Run::

    python benchmarks/bench_cka_allpairs.py                # numpy, float64, 24 reference pairs
    python benchmarks/bench_cka_allpairs.py --reference-pairs all
    python benchmarks/bench_cka_allpairs.py --backend torch --device cuda
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from neuroalign.compare import cka_matrix
from neuroalign.compare.cka_matrix import plan_forms


def make_layers(rng: np.random.Generator, n: int, widths: np.ndarray, prefix: str, dtype: str) -> dict:
    """ReLU layers driven by a shared 64-d latent, so CKA values are far from 0 and from 1."""
    latent = rng.standard_normal((n, 64))
    layers = {}
    for i, p in enumerate(widths):
        values = latent @ rng.standard_normal((64, p)) + rng.standard_normal((n, p))
        layers[f"{prefix}{i}"] = np.maximum(values, 0, out=values).astype(dtype, copy=False)
    return layers


def reference_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of one pair the straightforward way (center, three feature products)."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    return float(np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)))


def reference_flops(n: int, p: int, q: int) -> float:
    return 2.0 * n * (p * q + p * p + q * q) + 2.0 * n * (p + q)


def ours_flops(n: int, wa: list[int], wb: list[int], syrk: bool) -> float:
    """Floating-point operations our algorithm performs (its plan of Gram and feature forms)."""
    ga, gb = plan_forms(n, wa, wb, syrk=syrk)
    m = n * (n + 1) / 2
    flops = 0.0
    for widths, grams in ((wa, ga), (wb, gb)):
        for p, g in zip(widths, grams):
            flops += 2.0 * n * p  # centering
            flops += (n * (n + 1) * p if syrk else 2.0 * n * n * p) + 2 * m if g else 2.0 * n * p * p
    for p, gi in zip(wa, ga):
        for q, gj in zip(wb, gb):
            flops += 2 * m if (gi and gj) else 2.0 * n * p * q
    return flops


def matmul_gflops(backend: str, device: str | None, dtype: str, size: int = 4096, repeats: int = 3) -> float:
    """Best-of-``repeats`` throughput of a size × size matrix product, in GFLOP/s."""
    if backend == "numpy":
        rng = np.random.default_rng(0)
        a, b = rng.standard_normal((size, size)).astype(dtype), rng.standard_normal((size, size)).astype(dtype)
        run, sync = (lambda: a @ b), (lambda: None)
    else:
        import torch

        gen = torch.Generator(device=device).manual_seed(0)
        a = torch.randn(size, size, generator=gen, device=device, dtype=getattr(torch, dtype))
        b = torch.randn(size, size, generator=gen, device=device, dtype=getattr(torch, dtype))
        run = lambda: a @ b  # noqa: E731
        sync = (lambda: torch.cuda.synchronize()) if str(device).startswith("cuda") else (lambda: None)
    run(); sync()
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run(); sync()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="samples (stimuli)")
    parser.add_argument("--layers", type=int, default=12, help="layers per network")
    parser.add_argument("--min-features", type=int, default=512)
    parser.add_argument("--max-features", type=int, default=4096)
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    parser.add_argument("--backend", default="numpy", choices=("numpy", "torch"))
    parser.add_argument("--device", default=None)
    parser.add_argument("--reference-pairs", default="24", help="pairs to time the reference on, or 'all'")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of ours (best is reported; the first also pays for first-touch page faults)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    widths = np.geomspace(args.min_features, args.max_features, args.layers).round().astype(int)
    layers_a = make_layers(rng, args.n, widths, "a", args.dtype)
    layers_b = make_layers(rng, args.n, widths, "b", args.dtype)
    data_gb = 2 * args.n * widths.sum() * np.dtype(args.dtype).itemsize / 1e9
    print(f"all-pairs linear CKA: {args.layers} x {args.layers} layers, n={args.n}, features {widths.tolist()}, "
          f"{args.dtype}, data {data_gb:.2f} GB")

    device = args.device
    if args.backend == "torch" and device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    peak = matmul_gflops(args.backend, device, args.dtype)
    print(f"matrix-multiply throughput ({args.backend}{'/' + device if device else ''}, {args.dtype}, "
          f"4096^3): {peak:.1f} GFLOP/s")

    times, cpu_times = [], []
    for _ in range(args.repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        ours = cka_matrix(layers_a, layers_b, backend=args.backend, device=device, dtype=args.dtype,
                          progress=False)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    t_ours, cpu_ours = min(times), min(cpu_times)
    flops = ours_flops(args.n, widths.tolist(), widths.tolist(), syrk=args.backend == "numpy")
    rate = flops / t_ours / 1e9

    names_a, names_b = list(layers_a), list(layers_b)
    pairs = [(i, j) for i in range(args.layers) for j in range(args.layers)]
    if args.reference_pairs != "all":
        pick = np.random.default_rng(args.seed + 1).choice(len(pairs), size=int(args.reference_pairs), replace=False)
        pairs = [pairs[k] for k in sorted(pick)]
    total_ref_flops = sum(reference_flops(args.n, p, q) for p in widths for q in widths)
    timed_ref_flops = sum(reference_flops(args.n, widths[i], widths[j]) for i, j in pairs)
    worst = 0.0
    start, cpu_start = time.perf_counter(), time.process_time()
    for i, j in pairs:
        value = reference_cka(layers_a[names_a[i]], layers_b[names_b[j]])
        worst = max(worst, abs(value - float(ours.values[i, j])))
    t_timed, cpu_timed = time.perf_counter() - start, time.process_time() - cpu_start
    t_ref = t_timed * total_ref_flops / timed_ref_flops
    cpu_ref = cpu_timed * total_ref_flops / timed_ref_flops
    how = "measured on all pairs" if len(pairs) == args.layers**2 else (
        f"extrapolated from {len(pairs)} of {args.layers**2} pairs ({t_timed:.1f} s) by FLOP count")

    print(f"reference (loop over pairs): {t_ref:8.1f} s  [{how}], {total_ref_flops / 1e12:.2f} TFLOP, "
          f"{timed_ref_flops / t_timed / 1e9:.1f} GFLOP/s")
    print(f"ours (cka_matrix, {args.backend}): {t_ours:8.1f} s  [best of {', '.join(f'{t:.1f}' for t in times)} s], "
          f"{flops / 1e12:.2f} TFLOP, {rate:.1f} GFLOP/s")
    print(f"speed-up: {t_ref / t_ours:.1f}x wall-clock (target >= 10x); "
          f"{cpu_ref / cpu_ours:.1f}x in CPU time (less sensitive to other jobs on a shared machine)")
    print(f"fraction of matrix-multiply throughput reached by ours: {rate / peak:.2f}")
    print(f"max |ours - reference| over timed pairs: {worst:.2e}")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")


if __name__ == "__main__":
    main()
