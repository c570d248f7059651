"""Benchmark: peak memory (RSS) of ``extract(..., store=...)`` for N and 10·N stimuli.

Ours: :func:`neuroalign.extract.extract` streaming the 6 layers of
:class:`neuroalign.models.ReferenceNet` (8,074 features, 32 KB per stimulus) batch
by batch to a zarr store, for N and 10·N PNG images read from disk with Pillow
(the images are written to a temporary folder first, not timed).

Each run happens in a fresh subprocess that reports its peak RSS
(``resource.getrusage(...).ru_maxrss``, which includes the ~0.3–0.5 GB of the
Python, torch, xarray and zarr imports) and its RSS just before extracting.
The target is a 10·N / N ratio of peaks below 1.10.  For contrast the same
10·N run without ``store=`` (everything held in memory) is measured too: it
shows how much the peak would grow if activations were not streamed.

Run:  python benchmarks/bench_extract_memory.py [--n 500] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r'''
import json, resource, sys
from neuroalign.extract import StimulusSet, extract
from neuroalign.models import REFERENCE_LAYERS, ReferenceNet

folder, n, out, batch_size = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
paths = sorted(__import__("pathlib").Path(folder).glob("*.png"))[:n]
stimuli = StimulusSet.from_files(paths)
net = ReferenceNet(seed=0)


def rss_now():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) * 1024


before = rss_now()
acts = extract(net, stimuli, list(REFERENCE_LAYERS), batch_size=batch_size, progress=False,
               store=None if out == "-" else out)
print(json.dumps({"before": before, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "n": len(stimuli), "features": sum(a.sizes["neuroid"] for a in acts.values())}))
'''


def run_child(folder: Path, n: int, out: str, batch_size: int) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(n), out, str(batch_size)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(10 * args.n):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"img{i:06d}.png")
        small = run_child(folder, args.n, str(Path(tmp) / "small.zarr"), args.batch_size)
        large = run_child(folder, 10 * args.n, str(Path(tmp) / "large.zarr"), args.batch_size)
        in_memory = run_child(folder, 10 * args.n, "-", args.batch_size)
    mib = 2**20
    bytes_per_stimulus = small["features"] * 4
    print(f"ReferenceNet, 6 layers, {small['features']} features ({bytes_per_stimulus / 1024:.1f} KiB per stimulus), "
          f"batch {args.batch_size}")
    for label, row in ((f"store, N = {small['n']}", small), (f"store, 10N = {large['n']}", large),
                       (f"in memory, 10N = {in_memory['n']}", in_memory)):
        print(f"{label:24s} peak RSS {row['peak'] / mib:8.1f} MiB  (before extracting {row['before'] / mib:7.1f} MiB, "
              f"growth {(row['peak'] - row['before']) / mib:7.1f} MiB; activations would take "
              f"{row['n'] * bytes_per_stimulus / mib:7.1f} MiB)")
    print(f"ratio of peaks, streamed 10N / N: {large['peak'] / small['peak']:.3f} (target < 1.10)")
    print(f"for contrast, in memory 10N / streamed N: {in_memory['peak'] / small['peak']:.3f}")


if __name__ == "__main__":
    main()
