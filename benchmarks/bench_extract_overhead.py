"""Benchmark: the overhead of ``extract`` over a plain loop of forward passes.

Ours: :func:`neuroalign.extract.extract` (the full public call: model and stimulus
hashing for provenance, forward hooks on 6 layers, copying each layer's output
into the result, NaN checks, coordinates, validation) on the reference convnet
(:class:`neuroalign.models.ReferenceNet`, 3×32×32 inputs) over 2,000 images.

Reference: the loop a user would write without recording anything,
``for batch in batches: net(batch)`` under ``torch.no_grad()`` in eval mode, over
the same batches.  The target is a ratio of at most 1.10.

A third loop shows the floor of any extraction: the same forward passes with
forward hooks that only copy each layer's output into result arrays allocated
for the call (no checks, labels or provenance).  Writing the 64 MB result into
fresh memory costs about as much as the 10% the target allows for everything,
so its ratio to the plain loop is printed too.

All are timed ``--repeats`` times, alternating, and the best time of each is
kept (the machine is shared; the best time is the least disturbed one).  The
process CPU time (all threads) is printed too: it is less sensitive to other
jobs on a shared machine than wall time.

Run:  python benchmarks/bench_extract_overhead.py [--n 2000] [--batch-size 64] [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from neuroalign.extract import StimulusSet, extract
from neuroalign.models import REFERENCE_LAYERS, ReferenceNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    images = rng.normal(size=(args.n, 3, 32, 32)).astype(np.float32)
    stimuli = StimulusSet.from_arrays([f"img{i}" for i in range(args.n)], images)
    net = ReferenceNet(seed=0).eval()
    tensor = torch.from_numpy(images)

    def plain() -> None:
        with torch.no_grad():
            for start in range(0, args.n, args.batch_size):
                net(tensor[start:start + args.batch_size])

    def minimal() -> dict:
        buffers: dict = {}
        at = [0]

        def hook(name):
            def record(module, inputs, output):
                flat = output.reshape(len(output), -1).numpy()
                if name not in buffers:
                    buffers[name] = np.empty((args.n, flat.shape[1]), np.float32)
                buffers[name][at[0]:at[0] + len(flat)] = flat
            return record

        handles = [net.get_submodule(name).register_forward_hook(hook(name)) for name in REFERENCE_LAYERS]
        try:
            with torch.no_grad():
                for start in range(0, args.n, args.batch_size):
                    at[0] = start
                    net(tensor[start:start + args.batch_size])
        finally:
            for handle in handles:
                handle.remove()
        return buffers

    def ours() -> dict:
        return extract(net, stimuli, list(REFERENCE_LAYERS), batch_size=args.batch_size, progress=False)

    plain()  # warm up (allocator, thread pool, class digests)
    minimal()
    result = ours()
    times: dict[str, list[float]] = {"plain": [], "minimal": [], "extract": []}
    cpu: dict[str, list[float]] = {"plain": [], "minimal": [], "extract": []}
    for _ in range(args.repeats):
        for name, fn in (("plain", plain), ("minimal", minimal), ("extract", ours)):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    n_features = sum(a.sizes["neuroid"] for a in result.values())
    best_plain, best_ours = min(times["plain"]), min(times["extract"])
    print(f"{args.n} images, batch {args.batch_size}, {len(REFERENCE_LAYERS)} layers ({n_features} features), "
          f"torch threads {torch.get_num_threads()}")
    print(f"plain forward loop: best {best_plain:.3f} s  (all: {', '.join(f'{t:.3f}' for t in times['plain'])})")
    best_minimal = min(times["minimal"])
    print(f"hooks + copy only:  best {best_minimal:.3f} s  (all: {', '.join(f'{t:.3f}' for t in times['minimal'])})")
    print(f"extract:            best {best_ours:.3f} s  (all: {', '.join(f'{t:.3f}' for t in times['extract'])})")
    paired = np.median(np.array(times["extract"]) / np.array(times["plain"]))
    print(f"ratio extract / plain loop: {best_ours / best_plain:.3f}x best wall times (target <= 1.10x); "
          f"median of back-to-back pairs {paired:.3f}x; "
          f"{min(cpu['extract']) / min(cpu['plain']):.3f}x best CPU times ({min(cpu['extract']):.3f} s vs "
          f"{min(cpu['plain']):.3f} s)")
    print(f"floor (hooks + copy only) / plain loop: {best_minimal / best_plain:.3f}x; "
          f"extract / floor: {best_ours / best_minimal:.3f}x")


if __name__ == "__main__":
    main()
