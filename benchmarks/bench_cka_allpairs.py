"""All-pairs linear CKA, 12 × 12 layers, 5,000 samples, 512–4,096 features: ours vs a loop over pairs.

References: the two straightforward ways CKA snippets compute a layer × layer
matrix, a loop over pairs of

* the feature-space formula: center both layers and evaluate
  ``‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F)`` (Kornblith et al. recommend it when samples
  outnumber features; the faster of the two here, and the main reference);
* the Gram-matrix formula, Kornblith et al.'s ``cka(gram_linear(X),
  gram_linear(Y))``: both n × n Gram matrices, centered, per pair.
  Ours: :func:`neuroalign.compare.cka_matrix`, which computes each layer's
Gram matrix once, a block of rows at a time, and adds each block's share of
every pair's inner product with one matrix product
(:mod:`neuroalign.compare.cka.tiled`).

The reference takes many minutes on a small machine, so by default it is timed
on 12 pairs that use every layer of each side once (a seeded permutation), and
its total time is scaled by its exact floating-point operation count (the
script says so in its output); ``--reference-pairs all`` times every pair.
Both run in the same process, on the same data, in alternating rounds
(matmul peak, ours, reference); the best time of each is compared, so that
other jobs on a shared machine bias neither side.

The machine's matrix-multiply throughput is measured with a large square
product (numpy, or torch on the chosen device), and ours is reported as the
fraction of it reached: useful FLOPs of our algorithm per second / GEMM
FLOP/s.  Memory stays under ~3 GB in float64 (data 1.7 GB + a 0.5 GB buffer).

Measured 2026-11-26 on the 2-core VM (quiet), default options: ours best
8.3 s (rounds 8.4, 8.3, 8.7 s); feature-space loop best 87.8 s: 10.6x best vs best (10.6x,
10.6x, 10.3x per round); Gram-matrix loop 213.9 s (25.9x); 0.73 of the matrix-multiply
throughput (177.8 GFLOP/s); values agree to 2.6e-15.

Run::

    python benchmarks/bench_cka_allpairs.py                # numpy, float64, 3 rounds, 12 reference pairs
    python benchmarks/bench_cka_allpairs.py --reference-pairs all
    python benchmarks/bench_cka_allpairs.py --backend torch --device cuda
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from neuroalign.compare import cka_matrix
from neuroalign.compare.cka.matrix import plan_forms


def make_layers(rng: np.random.Generator, latent: np.ndarray, widths: np.ndarray, prefix: str, dtype: str) -> dict:
    """ReLU layers driven by a latent shared by both networks, so CKA values are far from 0 and from 1."""
    n = latent.shape[0]
    layers = {}
    for i, p in enumerate(widths):
        values = latent @ rng.standard_normal((64, p)) + rng.standard_normal((n, p))
        layers[f"{prefix}{i}"] = np.maximum(values, 0, out=values).astype(dtype, copy=False)
    return layers


def reference_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of one pair the straightforward way (center, three feature products)."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    return float(np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)))


def reference_gram_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of one pair from its two Gram matrices (Kornblith et al.'s ``cka(gram_linear(X), ...)``)."""
    def centered_gram(z: np.ndarray) -> np.ndarray:
        k = z @ z.T
        means = k.mean(0)
        return k - means[:, None] - means[None, :] + means.mean()

    k, l = centered_gram(x), centered_gram(y)
    return float(np.sum(k * l) / (np.linalg.norm(k) * np.linalg.norm(l)))


def reference_flops(n: int, p: int, q: int) -> float:
    return 2.0 * n * (p * q + p * p + q * q) + 2.0 * n * (p + q)


def reference_gram_flops(n: int, p: int, q: int) -> float:
    return 2.0 * n * n * (p + q) + 12.0 * n * n


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


def reference_pairs(layers: int, count: str, seed: int) -> list[tuple[int, int]]:
    """All pairs, or ``count`` pairs covering every layer of each side equally (a seeded permutation design)."""
    if count == "all":
        return [(i, j) for i in range(layers) for j in range(layers)]
    rng = np.random.default_rng(seed)
    pairs: list[tuple[int, int]] = []
    while len(pairs) < int(count):
        pairs += [(i, int(j)) for i, j in enumerate(rng.permutation(layers)) if (i, int(j)) not in pairs]
    return sorted(pairs[:int(count)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="samples (stimuli)")
    parser.add_argument("--layers", type=int, default=12, help="layers per network")
    parser.add_argument("--min-features", type=int, default=512)
    parser.add_argument("--max-features", type=int, default=4096)
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    parser.add_argument("--backend", default="numpy", choices=("numpy", "torch"))
    parser.add_argument("--device", default=None)
    parser.add_argument("--reference-pairs", default="12",
                        help="pairs to time the reference on (each layer of each side once per 12), or 'all'")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of (matmul peak, ours, reference); the best of each is compared")
    parser.add_argument("--skip-gram-reference", action="store_true",
                        help="do not time the second reference (a Gram-matrix loop over pairs)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    widths = np.geomspace(args.min_features, args.max_features, args.layers).round().astype(int)
    latent = rng.standard_normal((args.n, 64))
    layers_a = make_layers(rng, latent, widths, "a", args.dtype)
    layers_b = make_layers(rng, latent, widths, "b", args.dtype)
    data_gb = 2 * args.n * widths.sum() * np.dtype(args.dtype).itemsize / 1e9
    print(f"all-pairs linear CKA: {args.layers} x {args.layers} layers, n={args.n}, features {widths.tolist()}, "
          f"{args.dtype}, data {data_gb:.2f} GB")
    import torch  # imported once before timing: our numpy path multiplies with torch (MKL); ~1 s, once a process

    device = args.device
    if args.backend == "torch" and device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"

    names_a, names_b = list(layers_a), list(layers_b)
    pairs = reference_pairs(args.layers, args.reference_pairs, args.seed + 1)
    total_ref_flops = sum(reference_flops(args.n, p, q) for p in widths for q in widths)
    timed_ref_flops = sum(reference_flops(args.n, widths[i], widths[j]) for i, j in pairs)
    scale = total_ref_flops / timed_ref_flops
    scale_gram = (sum(reference_gram_flops(args.n, p, q) for p in widths for q in widths)
                  / sum(reference_gram_flops(args.n, widths[i], widths[j]) for i, j in pairs))
    flops = ours_flops(args.n, widths.tolist(), widths.tolist(), syrk=args.backend == "numpy")

    peaks, ours_wall, ours_cpu, ref_wall, ref_cpu, gram_wall, worst = [], [], [], [], [], [], 0.0
    print("round  matmul GFLOP/s   ours s (cpu s)   feature-loop s (cpu s)   ratio   Gram-loop s   ratio")
    for r in range(args.rounds):
        peaks.append(matmul_gflops(args.backend, device, args.dtype))
        start, cpu_start = time.perf_counter(), time.process_time()
        ours = cka_matrix(layers_a, layers_b, backend=args.backend, device=device, dtype=args.dtype,
                          progress=False)
        ours_wall.append(time.perf_counter() - start)
        ours_cpu.append(time.process_time() - cpu_start)
        start, cpu_start = time.perf_counter(), time.process_time()
        for i, j in pairs:
            value = reference_cka(layers_a[names_a[i]], layers_b[names_b[j]])
            worst = max(worst, abs(value - float(ours.values[i, j])))
        ref_wall.append((time.perf_counter() - start) * scale)
        ref_cpu.append((time.process_time() - cpu_start) * scale)
        if not args.skip_gram_reference:
            start = time.perf_counter()
            for i, j in pairs:
                value = reference_gram_cka(layers_a[names_a[i]], layers_b[names_b[j]])
                worst = max(worst, abs(value - float(ours.values[i, j])))
            gram_wall.append((time.perf_counter() - start) * scale_gram)
        gram_text = f"{gram_wall[-1]:11.1f}   {gram_wall[-1] / ours_wall[-1]:5.1f}x" if gram_wall else "-"
        print(f"{r:5d}  {peaks[-1]:14.1f}   {ours_wall[-1]:6.1f} ({ours_cpu[-1]:6.1f})   "
              f"{ref_wall[-1]:14.1f} ({ref_cpu[-1]:6.1f})   {ref_wall[-1] / ours_wall[-1]:5.1f}x   {gram_text}")

    how = "all pairs" if len(pairs) == args.layers**2 else (
        f"timed on {len(pairs)} of {args.layers**2} pairs, scaled to all by FLOP count ({scale:.1f}x)")
    t_ours, t_ref, peak = min(ours_wall), min(ref_wall), max(peaks)
    rate = flops / t_ours / 1e9
    print(f"feature-space loop over pairs ({how}): best {t_ref:.1f} s, {total_ref_flops / 1e12:.2f} TFLOP, "
          f"{total_ref_flops / t_ref / 1e9:.1f} GFLOP/s")
    print(f"ours (cka_matrix, {args.backend}): best {t_ours:.1f} s, {flops / 1e12:.2f} TFLOP, {rate:.1f} GFLOP/s")
    print(f"speed-up: {t_ref / t_ours:.1f}x best vs best (target >= 10x); per round "
          f"{', '.join(f'{a / b:.1f}x' for a, b in zip(ref_wall, ours_wall))}; "
          f"CPU time {min(ref_cpu) / min(ours_cpu):.1f}x")
    if gram_wall:
        print(f"Gram-form loop over pairs (cka(gram_linear(X), gram_linear(Y)) per pair): best {min(gram_wall):.1f} s; "
              f"speed-up {min(gram_wall) / t_ours:.1f}x best vs best; per round "
              f"{', '.join(f'{a / b:.1f}x' for a, b in zip(gram_wall, ours_wall))}")
    print(f"fraction of matrix-multiply throughput reached by ours: {rate / peak:.2f} "
          f"(best {peak:.1f} GFLOP/s, {args.dtype} 4096^3 product)")
    print(f"max |ours - reference| over timed pairs: {worst:.2e} (CKA values {ours.values.min():.2f}-"
          f"{ours.values.max():.2f})")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")


if __name__ == "__main__":
    main()
