"""Benchmark: metamer synthesis with ``neuroalign.metamers.synthesis.Metamer`` against plenoptic 2.1's ``Metamer``.

Same model, same start images, same optimizer (the "plenoptic" preset:
MSE + 0.1 × range penalty, ``Adam(lr=0.01, amsgrad=True)``), no early stopping
in either (ours: ``stop_tolerance=False``; plenoptic: ``stop_criterion=0``,
its rule is still evaluated every step, a cheap comparison of two floats), one
torch thread.  Both record the same history every step (loss, penalty,
gradient norm, pixel-change norm).  The network is a small CNN (three
convolution blocks and a classifier, weights from a seeded generator) on
1×28×28 images (``--size 28``, MNIST-sized) or 3×64×64 (``--size 64``, wider);
the metamers are matched at a middle layer, the ReLU of the second block, so
the third block and the classifier are work that stopping the forward pass at
the layer saves.

plenoptic needs a model whose forward returns the layer's activations; it is
timed with two such models:

- ``plenoptic (hook)``: the whole network runs and a forward hook returns the
  layer's output, what one writes for a network that cannot be sliced;
- ``plenoptic (sliced)``: ``net.features[:5]``, the network cut after the
  layer, plenoptic's best case.

plenoptic always shows a progress bar and refreshes it every step (its API has
no switch); that is part of its cost.  Everything the contenders write to
stderr goes to ``os.devnull`` while they are timed, the cheapest place a bar can
be drawn (a terminal costs more), so the bar costs plenoptic as little as it
can.  For reference, (a) also times ``plenoptic (sliced), no bar``, with the
bar switched off by replacing plenoptic's ``tqdm`` (not something its users
can do), and ours with its progress bar on (``progress=True``, our default)
and with the stopping rule evaluated every step.

(a) **Per-iteration cost for one image**: each contender synthesises one image
    for ``--iters`` steps (set-up and validation included), ``--repeats``
    times, alternating; best wall and best process-CPU times (CPU times are
    steadier on a shared machine), and the median of the per-round ratios
    (two contenders run back to back share the machine's load, which bests
    from different rounds may not).  Target: ours / plenoptic (sliced) ≤ 1.0.
(b) **Throughput** (images × iterations per second), all on one thread: ours
    on ``--batch`` images in one batch against plenoptic one image at a time
    (timed on ``--plenoptic-images`` of them; its cost per image does not
    depend on the others).  Target: ≥ 4×.  Ours runs the model channels-last
    on a batch (``memory_format="auto"``, its default; oneDNN's convolutions and
    max-pooling are faster in that layout on CPU); for reference it is also
    timed in the usual layout.  The floor of any batched synthesis
    is timed too: a bare loop of the same objective, backward pass and Adam step
    on the sliced network, recording nothing; the ratio ours / floor shows what
    the bookkeeping costs, and the throughput ratio is bounded by what batching
    saves in the network's own computation.  Best times and per-round ratios.
(c) **Throughput, each side at its best thread count** (``--threads 1 2``, on
    by default; ``--threads`` with no value skips it): ours on the batch and
    plenoptic one image at a time, each run in its own process for every
    thread count (one process per count, since torch's thread pool slows the
    next runs in a process after it is resized); best wall times; the best
    count of each side is used.  This adds to (b), it does not replace it:
    small networks on one image are fastest on one thread, a batch may not be.

Before timing, the losses of ours and plenoptic (sliced) on the same image and
start are compared (they must agree to 1e-5 relative in float32), and so are
the losses of the batch and of the images one at a time.

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_metamer_plenoptic.py [--size 28] [--iters 50] [--batch 32]
      [--repeats 5] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import alternating  # noqa: E402

from neuroalign.metamers.synthesis import Metamer  # noqa: E402

LAYER = "features.4"  # the ReLU of the second block


def network(channels: int, size: int, seed: int = 0) -> nn.Module:
    """conv-relu-pool ×2, conv-relu-pool, linear-relu-linear; frozen, eval, He-normal weights."""
    widths = (16, 32, 64) if size <= 32 else (32, 64, 128)
    features = nn.Sequential(
        nn.Conv2d(channels, widths[0], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(widths[0], widths[1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(widths[1], widths[2], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    n_flat = widths[2] * (size // 8) ** 2
    net = nn.Sequential()
    net.features = features
    net.classifier = nn.Sequential(nn.Flatten(), nn.Linear(n_flat, 256), nn.ReLU(), nn.Linear(256, 10))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.weight.normal_(0.0, (2.0 / module.weight[0].numel()) ** 0.5, generator=generator)
                module.bias.zero_()
    return net.eval().requires_grad_(False)


class HookedLayer(nn.Module):
    """Runs the whole network and returns one layer's output (what plenoptic needs)."""

    def __init__(self, net: nn.Module, layer: str):
        super().__init__()
        self.net = net
        self._output = None
        net.get_submodule(layer).register_forward_hook(self._keep)

    def _keep(self, module, inputs, output):
        self._output = output

    def forward(self, x):
        self.net(x)
        return self._output


def plenoptic_run(model: nn.Module, image: torch.Tensor, start: torch.Tensor, iters: int,
                  bar: bool = True) -> torch.Tensor:
    import plenoptic as po
    from plenoptic._synthesize import metamer as po_metamer

    with warnings.catch_warnings(), _no_plenoptic_bar(po_metamer, not bar):
        warnings.simplefilter("ignore")
        synthesis = po.Metamer(image, model)
        synthesis.setup(initial_image=start)
        synthesis.synthesize(iters, stop_criterion=0.0)
    return synthesis.losses


@contextlib.contextmanager
def _no_plenoptic_bar(module, off: bool) -> Iterator[None]:
    """Replace the ``tqdm`` plenoptic's metamer module uses by a disabled one (reference timings only)."""
    original = module.tqdm
    if off:
        module.tqdm = lambda *args, **kwargs: original(*args, **{**kwargs, "disable": True})
    try:
        yield
    finally:
        module.tqdm = original


def ours_run(net: nn.Module, images: torch.Tensor, starts: torch.Tensor, iters: int, progress: bool = False,
             rule: bool = False, memory_format: str = "auto") -> torch.Tensor:
    # rule: the relative-progress rule evaluated at every step after the first 5, with a tolerance (0) that
    # stops an image only if its objective did not fall at all over 5 steps; checked below not to happen
    stopping = {"stop_tolerance": 0.0, "stop_window": 5} if rule else {"stop_tolerance": False}
    synthesis = Metamer(net, LAYER, images, initial=starts, memory_format=memory_format,
                        **stopping).synthesize(iters, progress=progress)
    if bool(synthesis.stopped.any()):
        raise SystemExit("an image stopped: the timings would compare different numbers of steps")
    return synthesis.losses


def bare_loop(model: nn.Module, images: torch.Tensor, starts: torch.Tensor, iters: int) -> None:
    """The floor: the same objective, gradient and Adam steps on the sliced network, nothing recorded."""
    with torch.no_grad():
        targets = model(images)
    x = starts.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=0.01, amsgrad=True)
    for _ in range(iters):
        optimizer.zero_grad()
        mse = torch.pow(model(x) - targets, 2).flatten(1).mean(1)
        penalty = (torch.clip(x, max=0).pow(2) + torch.clip(x - 1, min=0).pow(2)).flatten(1).sum(1)
        (mse + 0.1 * penalty).sum().backward()
        optimizer.step()


def check(net: nn.Module, sliced: nn.Module, images: torch.Tensor, starts: torch.Tensor, iters: int) -> None:
    ours = ours_run(net, images[:1], starts[:1], iters)[:, 0]
    theirs = plenoptic_run(sliced, images[:1], starts[:1], iters)
    difference = float(((ours - theirs).abs() / theirs.abs()).max())
    batch = ours_run(net, images[:4], starts[:4], iters)
    alone = torch.stack([ours_run(net, images[i:i + 1], starts[i:i + 1], iters)[:, 0] for i in range(4)], 1)
    batch_difference = float(((batch - alone).abs() / alone.abs()).max())
    print(f"  check: losses ours vs plenoptic, max relative difference {difference:.2e}; batch of 4 vs one at a "
          f"time {batch_difference:.2e} (over {iters} iterations)")
    if difference > 1e-5 or batch_difference > 1e-5:
        raise SystemExit("the contenders disagree: timings would compare different computations")


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """Progress bars (plenoptic's, ours when on) are drawn to os.devnull while timed."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
        yield


def timed(contenders: dict[str, Callable[[], object]], repeats: int
          ) -> tuple[dict[str, float], dict[str, float], dict[str, list[float]]]:
    """Best wall and best process-CPU times (the CPU times are steadier on a shared machine), and all CPU times."""
    with _stderr_to_devnull():
        for function in contenders.values():
            function()  # warm up
        wall, cpu = alternating(contenders, repeats)
    for name in contenders:
        print(f"  {name:<34} best {min(wall[name]):.3f} s  (all: {', '.join(f'{t:.3f}' for t in wall[name])}); "
              f"CPU {min(cpu[name]):.3f} s  (all: {', '.join(f'{t:.3f}' for t in cpu[name])})")
    return ({name: min(times) for name, times in wall.items()}, {name: min(times) for name, times in cpu.items()},
            cpu)


def per_round(numerator: list[float], denominator: list[float], scale: float = 1.0) -> str:
    """Median and range of the ratios of the two contenders' CPU times in each round: run back to back, they
    share the machine's load, which a ratio of bests taken from different rounds does not."""
    ratios = sorted(scale * a / b for a, b in zip(numerator, denominator))
    middle = len(ratios) // 2
    median = ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2
    return f"median {median:.3f}x (from {ratios[0]:.3f}x to {ratios[-1]:.3f}x over {len(ratios)} rounds)"


def setting(args: argparse.Namespace) -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor, int]:
    channels = 1 if args.size == 28 else 3
    net = network(channels, args.size)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(args.batch, channels, args.size, args.size, generator=generator)
    starts = torch.rand(args.batch, channels, args.size, args.size, generator=generator)
    return net, net.features[:5], images, starts, channels


def worker(args: argparse.Namespace) -> None:
    """One side of (c) at one thread count, in its own process: best wall time, printed as JSON."""
    torch.set_num_threads(args.worker_threads)
    net, sliced, images, starts, _ = setting(args)
    n_ref = args.plenoptic_images
    if args.worker == "ours":
        function, count = (lambda: ours_run(net, images, starts, args.iters)), args.batch
    else:
        def function():
            for i in range(n_ref):
                plenoptic_run(sliced, images[i:i + 1], starts[i:i + 1], args.iters)
        count = n_ref
    with _stderr_to_devnull():
        function()  # warm up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
    print(json.dumps({"rate": count * args.iters / min(times), "times": times}))


def best_threads(args: argparse.Namespace) -> None:
    print(f"(c) throughput, each side at its best torch thread count among {args.threads} (wall times, each side "
          f"and count in its own process, best of {args.repeats})")
    rates: dict[str, dict[int, float]] = {"ours": {}, "plenoptic": {}}
    for threads in args.threads:
        for side in rates:
            command = [sys.executable, __file__, "--worker", side, "--worker-threads", str(threads),
                       "--size", str(args.size), "--iters", str(args.iters), "--batch", str(args.batch),
                       "--plenoptic-images", str(args.plenoptic_images), "--repeats", str(args.repeats)]
            environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
            done = subprocess.run(command, capture_output=True, text=True, env=environment, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            rates[side][threads] = result["rate"]
            label = f"ours, {args.batch} in one batch" if side == "ours" else "plenoptic (sliced), one at a time"
            print(f"  {label:<34} {threads} thread(s): {result['rate']:.0f} images x iterations per second "
                  f"(all: {', '.join(f'{t:.3f}' for t in result['times'])} s)")
    best = {side: max(by_count, key=by_count.get) for side, by_count in rates.items()}
    ratio = rates["ours"][best["ours"]] / rates["plenoptic"][best["plenoptic"]]
    print(f"  best: ours on {best['ours']} thread(s), plenoptic on {best['plenoptic']}; ratio {ratio:.2f}x "
          f"(wall times; the same-thread ratio is (b)'s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, choices=(28, 64), default=28, help="1x28x28 or 3x64x64 images")
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--plenoptic-images", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2],
                        help="thread counts tried in (c); none: skip (c)")
    parser.add_argument("--worker", choices=("ours", "plenoptic"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    torch.set_num_threads(1)
    net, sliced, images, starts, channels = setting(args)
    hooked = HookedLayer(network(channels, args.size), LAYER)
    print(f"small CNN on {channels}x{args.size}x{args.size} images, layer {LAYER!r} of "
          f"{len(list(net.modules())) - 1} modules, {args.iters} iterations, torch threads {torch.get_num_threads()}")
    with _stderr_to_devnull():
        check(net, sliced, images, starts, min(args.iters, 20))

    print("(a) one image")
    one, one_cpu, one_all = timed({
        "ours": lambda: ours_run(net, images[:1], starts[:1], args.iters),
        "plenoptic (sliced)": lambda: plenoptic_run(sliced, images[:1], starts[:1], args.iters),
        "plenoptic (hook)": lambda: plenoptic_run(hooked, images[:1], starts[:1], args.iters),
        "ours, progress bar on": lambda: ours_run(net, images[:1], starts[:1], args.iters, progress=True),
        "ours, stopping rule every step": lambda: ours_run(net, images[:1], starts[:1], args.iters, rule=True),
        "plenoptic (sliced), no bar": lambda: plenoptic_run(sliced, images[:1], starts[:1], args.iters, bar=False),
    }, args.repeats)
    for label, times in (("wall", one), ("CPU", one_cpu)):
        ratio = times["ours"] / times["plenoptic (sliced)"]
        print(f"  per-iteration cost ours / plenoptic (sliced): {ratio:.3f}x (target <= 1.0); "
              f"ours / plenoptic (hook): {times['ours'] / times['plenoptic (hook)']:.3f}x; "
              f"ours {times['ours'] / args.iters * 1e3:.3f} ms per iteration ({label} times)")
        print(f"    for reference: ours with its progress bar / plenoptic (sliced) "
              f"{times['ours, progress bar on'] / times['plenoptic (sliced)']:.3f}x; ours with the stopping rule "
              f"{times['ours, stopping rule every step'] / times['plenoptic (sliced)']:.3f}x; ours / plenoptic "
              f"(sliced) without its bar {times['ours'] / times['plenoptic (sliced), no bar']:.3f}x ({label} times)")
    print(f"  per round, ours / plenoptic (sliced): {per_round(one_all['ours'], one_all['plenoptic (sliced)'])} "
          f"(CPU times)")

    n_ref = args.plenoptic_images
    print(f"(b) throughput, one thread: ours {args.batch} images in one batch, plenoptic one image at a time "
          f"({n_ref} timed)")

    def plenoptic_each(model: nn.Module) -> Callable[[], None]:
        return lambda: [plenoptic_run(model, images[i:i + 1], starts[i:i + 1], args.iters) for i in range(n_ref)]

    many, many_cpu, many_all = timed({"ours (batch)": lambda: ours_run(net, images, starts, args.iters),
                            "ours (batch), contiguous layout": lambda: ours_run(net, images, starts, args.iters,
                                                                                 memory_format="contiguous"),
                            "bare loop (batch, sliced)": lambda: bare_loop(sliced, images, starts, args.iters),
                            "plenoptic (sliced), each": plenoptic_each(sliced)}, args.repeats)
    for label, times in (("wall", many), ("CPU", many_cpu)):
        ours_rate = args.batch * args.iters / times["ours (batch)"]
        floor_rate = args.batch * args.iters / times["bare loop (batch, sliced)"]
        theirs_rate = n_ref * args.iters / times["plenoptic (sliced), each"]
        print(f"  images x iterations per second: ours {ours_rate:.0f}, plenoptic {theirs_rate:.0f}; "
              f"ratio {ours_rate / theirs_rate:.2f}x (target >= 4); the bare batched loop "
              f"{floor_rate / theirs_rate:.2f}x plenoptic; ours / bare loop (what the bookkeeping costs): "
              f"{times['ours (batch)'] / times['bare loop (batch, sliced)']:.3f}x ({label} times)")
        contiguous_rate = args.batch * args.iters / times["ours (batch), contiguous layout"]
        print(f"    ours with the model in the images' usual layout (memory_format='contiguous'): "
              f"{contiguous_rate / theirs_rate:.2f}x plenoptic ({label} times)")
    throughput = per_round(many_all["plenoptic (sliced), each"], many_all["ours (batch)"], args.batch / n_ref)
    print(f"  per round, throughput ours / plenoptic: {throughput} (CPU times)")
    if args.threads:
        best_threads(args)


if __name__ == "__main__":
    main()
