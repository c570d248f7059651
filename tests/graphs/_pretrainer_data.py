"""Tiny synthetic connectivity for the pretrainer's tests, and the child process of the kill-and-resume test.

As a script: ``python -m tests.graphs._pretrainer_data CHECKPOINT EPOCHS`` fits the kill test's
pretrainer with that checkpoint (run with OMP_NUM_THREADS=1; the parent SIGKILLs it).
"""

from __future__ import annotations

import sys

import numpy as np
import xarray as xr


def random_fc(n_subjects: int = 8, n_windows: int = 5, n_rois: int = 6, seed: int = 0,
              n_samples: int = 30) -> xr.DataArray:
    """Sample correlation matrices of Gaussian noise ``(subject, window, neuroid_a, neuroid_b)``.

    Exactly symmetric (the upper triangle mirrored) with a unit diagonal; label coords ``group`` and ``age``.
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n_subjects, n_windows, n_rois, n_samples))
    z -= z.mean(-1, keepdims=True)
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    fc = z @ np.swapaxes(z, -1, -2)
    upper = np.triu(fc, 1)
    fc = upper + np.swapaxes(upper, -1, -2) + np.eye(n_rois)
    rois = [f"roi{i}" for i in range(n_rois)]
    return xr.DataArray(
        fc.astype(np.float32), dims=("subject", "window", "neuroid_a", "neuroid_b"),
        coords={"subject": [f"sub-{i:02d}" for i in range(n_subjects)],
                "group": ("subject", np.arange(n_subjects) % 2),
                "age": ("subject", 20.0 + np.arange(n_subjects)),
                "window": np.arange(n_windows), "neuroid_a": rois, "neuroid_b": rois})


#: The kill test's training: slow enough per epoch for the parent to kill between epochs.
KILL_DATA = {"n_subjects": 48, "n_windows": 6, "n_rois": 10, "seed": 3}
KILL_PARAMS = {"hidden": 32, "epochs": 6, "batch_size": 4, "latent_weight": 0.5, "lr": 1e-3, "random_state": 11,
               "progress": False, "threads": 1}


def kill_dataset():
    from neuroalign.graphs.dataset import ConnectivityGraphs

    return ConnectivityGraphs.from_connectivity(random_fc(**KILL_DATA))


def main(argv: list[str]) -> None:
    import torch

    from neuroalign.graphs.pretrainer import GraphMAEPretrainer

    torch.set_num_threads(1)
    checkpoint, epochs = argv[0], int(argv[1])
    GraphMAEPretrainer(**{**KILL_PARAMS, "epochs": epochs}, checkpoint=checkpoint).fit(kill_dataset())


if __name__ == "__main__":
    main(sys.argv[1:])
