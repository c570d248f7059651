"""Benchmark: GraphMAE pretraining throughput, dense batched GIN versus PyG's sparse GINConv, same model.

One training step = ``GraphMAE.loss`` (mask drawn from a Generator, graphs built by the GraphSpec, encoder,
decoder, scaled cosine error) + backward + an Adam step.  The two contenders are the SAME model (same
initial parameters, same masks, same loss to 1e-5, see tests/graphs/test_sparse_encoder.py):

- dense: :class:`neuroalign.graphs.graphmae.GraphMAE` as trained (PyG's ``DenseGINConv`` on ``[B*W, N, N]``);
- PyG sparse: ``neuroalign.graphs.sparse_encoder.to_sparse(model)``: every GIN stack runs PyG's ``GINConv``
  (message passing over an edge list of the batch's window graphs, PyG's ``dense_to_sparse``); everything
  else (masking, graph building, readout, transformer, loss) is shared code.

The masked graph changes every step (new mask; with the leak fix, new edges), so the sparse side converts the
adjacency to an edge list in each GIN stack (encoder and decoder: two conversions per step); the time of those
conversions is printed separately, so the ratio without them can be read off.  Throughput is windows per
second (B subjects x W windows per step), the median over ``--repeats`` rounds of ``--steps`` steps, the two
contenders alternating round by round; one torch thread (``torch.set_num_threads(1)``), one process.

Run:  python benchmarks/bench_graph_dense_vs_pyg.py [--rois 100,400] [--steps 3] [--repeats 5]

Measured 2026-12-06 on the shared 2-core CPU machine (busy with other jobs), default arguments, hidden 64:
- 100 ROIs (4 x 16 windows per step): leak_fix=True dense 945 windows/s, PyG 140 windows/s: 6.7x (6.6x without
  the edge-list conversions); leak_fix=False (plain GraphMAE, no mean-context edges) 1048 vs 240: 4.4x (4.2x).
- 400 ROIs (2 x 8 windows per step): leak_fix=True 72.8 vs 6.7: 10.8x (10.1x); leak_fix=False 86.1 vs 11.9:
  7.2x (6.7x).
Losses of the two contenders agree to 1.2e-7.  The masked nodes' mean-context edges (leak fix) make the sparse
graphs denser, hence the larger ratio with the leak fix.  Timings of single rounds varied by up to 2x with the
machine's load; the ratios are of medians over rounds that alternate between the contenders.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from timing import alternating

from neuroalign.graphs.graphmae import GraphMAE
from neuroalign.graphs.spec import GraphSpec
from neuroalign.graphs.sparse_encoder import dense_to_edges, to_sparse

#: (subjects, windows) per step for each ROI count: 64 windows at 100 ROIs, 16 at 400 (memory of the edge lists).
SHAPES = {100: (4, 16), 400: (2, 8)}


def random_fc(batch: int, windows: int, n_rois: int, volumes: int = 50, seed: int = 0) -> torch.Tensor:
    """Window correlations of random series with a shared component (exactly symmetric, diagonal 1)."""
    g = torch.Generator().manual_seed(seed)
    series = torch.randn(batch, windows, n_rois, volumes, generator=g)
    series = series + 0.5 * torch.randn(batch, windows, 1, volumes, generator=g)
    series = series - series.mean(-1, keepdim=True)
    series = series / series.norm(dim=-1, keepdim=True)
    upper = torch.triu(series @ series.transpose(-1, -2), 1)
    return upper + upper.transpose(-1, -2) + torch.eye(n_rois)


def trainer(model: GraphMAE, fc: torch.Tensor, steps: int, seed: int):
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-4)
    generator = torch.Generator().manual_seed(seed)

    def run() -> float:
        for _ in range(steps):
            optimiser.zero_grad(set_to_none=True)
            loss, _ = model.loss(fc, None, generator)
            loss.backward()
            optimiser.step()
        return loss.item()
    return run


def conversion_seconds(model: GraphMAE, fc: torch.Tensor, steps: int) -> float:
    """Time of the sparse side's dense -> edge list conversions (two per step) on masked graphs like the steps'."""
    generator = torch.Generator().manual_seed(99)
    adjs = []
    for _ in range(steps):
        mask = model.draw_mask(fc, generator)
        with torch.no_grad():
            adjs.append(model.masked_input(fc, None, mask)[1])
    start = time.perf_counter()
    for adj in adjs:
        for _ in range(2):
            dense_to_edges(adj)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rois", default="100,400", help="ROI counts, comma-separated (100 and 400 have shapes)")
    parser.add_argument("--steps", type=int, default=3, help="training steps per timed round")
    parser.add_argument("--repeats", type=int, default=5, help="rounds per contender")
    parser.add_argument("--hidden", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread; GraphMAE hidden={args.hidden}, 2 GIN layers, transformer over "
          f"windows, 1-layer GIN decoder, top 30% binary edges, mask ratio 0.5 (subject scheme)")
    for n in (int(v) for v in args.rois.split(",")):
        batch, windows = SHAPES.get(n, (2, 8))
        fc = random_fc(batch, windows, n)
        for leak_fix in (True, False):
            torch.manual_seed(0)
            dense = GraphMAE(GraphSpec(), n, hidden=args.hidden, leak_fix=leak_fix)
            sparse = to_sparse(dense)
            check_dense, _ = dense.loss(fc, None, torch.Generator().manual_seed(7))
            check_sparse, _ = sparse.loss(fc, None, torch.Generator().manual_seed(7))
            gap = abs(check_dense.item() - check_sparse.item())
            contenders = {"dense": trainer(dense, fc, args.steps, 1), "pyg": trainer(sparse, fc, args.steps, 1)}
            for run in contenders.values():   # warm-up
                run()
            wall, _ = alternating(contenders, args.repeats)
            per_round = batch * windows * args.steps
            rate = {name: per_round / statistics.median(times) for name, times in wall.items()}
            convert = conversion_seconds(dense, fc, args.steps)
            pyg_without = per_round / max(statistics.median(wall["pyg"]) - convert, 1e-9)
            print(f"{n} ROIs, {batch} subjects x {windows} windows, leak_fix={leak_fix}: "
                  f"dense {rate['dense']:.1f} windows/s, PyG GINConv {rate['pyg']:.1f} windows/s, "
                  f"ratio {rate['dense'] / rate['pyg']:.2f}x (without the edge-list conversions "
                  f"{rate['dense'] / pyg_without:.2f}x; they take {convert / args.steps * 1e3:.1f} ms/step); "
                  f"loss gap {gap:.1e}; rounds dense {[round(t, 3) for t in wall['dense']]} s, "
                  f"pyg {[round(t, 3) for t in wall['pyg']]} s")


if __name__ == "__main__":
    main()
