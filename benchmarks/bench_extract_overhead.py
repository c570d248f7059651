"""Benchmark: what ``extract`` costs on top of a plain loop of forward passes.

Ours: :func:`neuroalign.extract.extract`, the full public call: model and
stimulus hashing for provenance, forward hooks that copy each layer's output
the moment it is produced (so that later in-place operations cannot change
it), the copy into the result, NaN/inf checks, coordinates and validation.

Reference: the loop a user would write without recording anything,
``for batch in batches: net(batch)`` under ``torch.no_grad()`` in eval mode,
over the same batches.

Two networks, two questions:

(a) **Overhead on a mid-sized convnet**: a ResNet-18-like network (basic
    blocks of widths 64/128/256/512, batch norm, ``nn.ReLU(inplace=True)``
    as in torchvision; built here, weights from a seeded generator) on
    3×64×64 inputs, 6 hooked layers (``layer1``–``layer4``, ``avgpool``,
    ``fc``).  Target: extract / plain loop ≤ 1.05 (best wall times).  The
    floor of any extraction that keeps every layer's flattened output in
    memory is timed too: the same loop with hooks that copy each output into
    result arrays allocated for the call, nothing else.
(b) **Absolute cost on the tiny network** (:class:`neuroalign.models.ReferenceNet`,
    3×32×32 inputs, its 6 layers, 8,074 features per image): there a forward
    pass costs about as little as writing its activations, so a ratio says
    little; the script prints the extra time per batch and per hooked layer,
    copy included, and what the copy alone costs: the same forward loop with
    hooks that clone each output, against hooks that do nothing.

All contenders are timed ``--repeats`` times, alternating, and the best time of
each is kept (on a shared machine the best time is the least disturbed one);
the process CPU time (all threads) is printed too.

Run:  python benchmarks/bench_extract_overhead.py [--n 2000] [--n-mid 512] [--batch-size 64] [--repeats 5]
      [--threads N]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import alternating  # noqa: E402

from neuroalign.extract import StimulusSet, extract  # noqa: E402
from neuroalign.models import REFERENCE_LAYERS, ReferenceNet  # noqa: E402

MID_LAYERS = ("layer1", "layer2", "layer3", "layer4", "avgpool", "fc")


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and a shortcut, as in ResNet-18."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNetLike(nn.Module):
    """ResNet-18's layout (2 basic blocks per stage, widths 64/128/256/512), weights from a seeded generator."""

    def __init__(self, seed: int = 0, widths: Sequence[int] = (64, 128, 256, 512), n_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        c_in = widths[0]
        for index, width in enumerate(widths):
            stride = 1 if index == 0 else 2
            setattr(self, f"layer{index + 1}", nn.Sequential(BasicBlock(c_in, width, stride),
                                                             BasicBlock(width, width, 1)))
            c_in = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, n_classes)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    fan_in = module.weight[0].numel()
                    module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=generator)
                    if module.bias is not None:
                        module.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def forward_loop(net: nn.Module, tensor: torch.Tensor, batch_size: int) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            for start in range(0, len(tensor), batch_size):
                net(tensor[start:start + batch_size])
    return run


def with_hooks(net: nn.Module, layers: Sequence[str], hook: Callable, loop: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        handles = [net.get_submodule(name).register_forward_hook(hook) for name in layers]
        try:
            loop()
        finally:
            for handle in handles:
                handle.remove()
    return run


def copy_into_result(net: nn.Module, layers: Sequence[str], tensor: torch.Tensor,
                     batch_size: int) -> Callable[[], None]:
    """The floor: hooks that copy each output into result arrays allocated for the call (no checks or labels)."""
    def run() -> None:
        buffers: dict[str, np.ndarray] = {}
        at = [0]

        def hook(name: str) -> Callable:
            def record(module, inputs, output):
                flat = output.reshape(len(output), -1).numpy()
                if name not in buffers:
                    buffers[name] = np.empty((len(tensor), flat.shape[1]), np.float32)
                buffers[name][at[0]:at[0] + len(flat)] = flat
            return record

        handles = [net.get_submodule(name).register_forward_hook(hook(name)) for name in layers]
        try:
            with torch.no_grad():
                for start in range(0, len(tensor), batch_size):
                    at[0] = start
                    net(tensor[start:start + batch_size])
        finally:
            for handle in handles:
                handle.remove()
    return run


def timed(contenders: dict[str, Callable[[], None]], repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    for function in contenders.values():
        function()  # warm up (allocator, thread pool, class digests)
    wall, cpu = alternating(contenders, repeats)
    for name in contenders:
        print(f"  {name:<22} best {min(wall[name]):.3f} s  (all: {', '.join(f'{t:.3f}' for t in wall[name])}); "
              f"CPU {min(cpu[name]):.3f} s")
    return {k: min(v) for k, v in wall.items()}, {k: min(v) for k, v in cpu.items()}


def images(n: int, size: int) -> tuple[StimulusSet, torch.Tensor]:
    rng = np.random.default_rng(0)
    pixels = rng.normal(size=(n, 3, size, size)).astype(np.float32)
    return StimulusSet.from_arrays([f"img{i}" for i in range(n)], pixels), torch.from_numpy(pixels)


def mid_sized(n: int, batch_size: int, repeats: int) -> None:
    stimuli, tensor = images(n, 64)
    net = ResNetLike(seed=0).eval()
    result = extract(net, stimuli, list(MID_LAYERS), batch_size=batch_size, progress=False)
    n_features = sum(a.sizes["neuroid"] for a in result.values())
    print(f"(a) ResNet-18-like convnet, {n} images 3x64x64, batch {batch_size}, {len(MID_LAYERS)} hooked layers "
          f"({n_features} features per image), torch threads {torch.get_num_threads()}")
    wall, cpu = timed({"plain forward loop": forward_loop(net, tensor, batch_size),
                       "hooks copying only": copy_into_result(net, MID_LAYERS, tensor, batch_size),
                       "extract": lambda: extract(net, stimuli, list(MID_LAYERS), batch_size=batch_size,
                                                  progress=False)}, repeats)
    plain = wall["plain forward loop"]
    print(f"  ratio extract / plain loop: {wall['extract'] / plain:.3f}x best wall times (target <= 1.05x); "
          f"{cpu['extract'] / cpu['plain forward loop']:.3f}x best CPU times; floor (hooks copying only) / plain "
          f"loop: {wall['hooks copying only'] / plain:.3f}x")


def tiny(n: int, batch_size: int, repeats: int) -> None:
    stimuli, tensor = images(n, 32)
    net = ReferenceNet(seed=0).eval()
    layers = list(REFERENCE_LAYERS)
    loop = forward_loop(net, tensor, batch_size)
    n_batches = -(-n // batch_size)
    print(f"(b) ReferenceNet, {n} images 3x32x32, batch {batch_size} ({n_batches} batches), {len(layers)} hooked "
          f"layers (8074 features per image), torch threads {torch.get_num_threads()}")
    wall, cpu = timed({
        "plain forward loop": loop,
        "hooks doing nothing": with_hooks(net, layers, lambda module, inputs, output: None, loop),
        "hooks cloning outputs": with_hooks(net, layers, lambda module, inputs, output: output.detach().clone(),
                                            loop),
        "extract": lambda: extract(net, stimuli, layers, batch_size=batch_size, progress=False),
    }, repeats)
    per = 1e6 / (n_batches * len(layers))  # seconds over the run -> microseconds per batch and layer
    extra = wall["extract"] - wall["plain forward loop"]
    copy = wall["hooks cloning outputs"] - wall["hooks doing nothing"]
    print(f"  extract costs {extra * per:.0f} us per batch and hooked layer over the plain loop "
          f"({wall['extract'] / wall['plain forward loop']:.2f}x best wall times, "
          f"{(cpu['extract'] - cpu['plain forward loop']) * per:.0f} us in CPU time); the copy of each output "
          f"in its hook: {copy * per:.0f} us per batch and layer "
          f"({copy / n_batches * 1e3:.2f} ms per batch of {batch_size} for all {len(layers)} layers)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="images for the tiny network")
    parser.add_argument("--n-mid", type=int, default=512, help="images for the mid-sized convnet")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    mid_sized(args.n_mid, args.batch_size, args.repeats)
    tiny(args.n, args.batch_size, args.repeats)


if __name__ == "__main__":
    main()
