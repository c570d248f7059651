"""Benchmark: extraction throughput with a sparse random projection to 1,000 dims, versus without.

Ours with projection: :func:`neuroalign.extract.extract` on
:class:`neuroalign.models.ReferenceNet` (2,000 images of 3×32×32, batch 64),
layers ``block1`` (4,096 features), ``block2`` (2,048) and ``block4`` (1,024)
each projected to 1,000 dims by :class:`neuroalign.extract.SparseRandomProjection`
(density 1/sqrt(features), seeded), applied batch by batch.

Reference: the same call without ``reduce=`` (full features).  Both are timed
``--repeats`` times, alternating; the best time of each is kept.  The printout
also gives the time spent drawing the three projection matrices and applying
them, measured alone, and the memory the projected result saves.

Run:  python benchmarks/bench_extract_projection.py [--n 2000] [--components 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from neuroalign.extract import SparseRandomProjection, StimulusSet, extract
from neuroalign.models import ReferenceNet

LAYERS = ["block1", "block2", "block4"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--components", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    stimuli = StimulusSet.from_arrays([f"img{i}" for i in range(args.n)],
                                      rng.normal(size=(args.n, 3, 32, 32)).astype(np.float32))
    net = ReferenceNet(seed=0)
    projection = SparseRandomProjection(args.components, seed=0)

    def run(reduce):
        return extract(net, stimuli, LAYERS, batch_size=args.batch_size, reduce=reduce, progress=False)

    run(None)  # warm up
    times: dict[str, list[float]] = {"full": [], "projected": []}
    for _ in range(args.repeats):
        for name, reduce in (("full", None), ("projected", projection)):
            start = time.perf_counter()
            result = run(reduce)
            times[name].append(time.perf_counter() - start)
            if name == "full":
                full_bytes = sum(a.nbytes for a in result.values())
            else:
                projected_bytes = sum(a.nbytes for a in result.values())

    # the projection alone, on random features of each layer's width
    widths = {"block1": 4096, "block2": 2048, "block4": 1024}
    start = time.perf_counter()
    fitted = {layer: SparseRandomProjection(args.components, seed=0).fit(np.zeros((1, w), np.float32))
              for layer, w in widths.items()}
    draw = time.perf_counter() - start
    batches = {layer: rng.normal(size=(args.n, w)).astype(np.float32) for layer, w in widths.items()}
    start = time.perf_counter()
    for layer, features in batches.items():
        for first in range(0, args.n, args.batch_size):
            fitted[layer].transform(features[first:first + args.batch_size])
    apply = time.perf_counter() - start

    best_full, best_projected = min(times["full"]), min(times["projected"])
    print(f"{args.n} images, batch {args.batch_size}, layers {', '.join(LAYERS)} "
          f"({sum(widths.values())} features) → {args.components} dims each")
    print(f"without projection: best {best_full:.3f} s = {args.n / best_full:7.1f} images/s  "
          f"(result {full_bytes / 2**20:.1f} MiB)")
    print(f"with projection:    best {best_projected:.3f} s = {args.n / best_projected:7.1f} images/s  "
          f"(result {projected_bytes / 2**20:.1f} MiB)")
    print(f"projection alone: drawing the 3 matrices {draw * 1000:.1f} ms, applying them to every batch "
          f"{apply * 1000:.1f} ms")
    print(f"throughput ratio with / without projection: {best_full / best_projected:.3f} "
          f"(time ratio {best_projected / best_full:.3f}x)")


if __name__ == "__main__":
    main()
