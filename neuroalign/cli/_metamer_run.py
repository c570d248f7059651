"""The work of ``neuroalign metamers``: per layer and seed, synthesise (resumably), test validity, write;
then score recognisability across observers and write the tables and figures.

Files of one (layer, seed) unit in the output folder:

- ``checkpoints/LAYER/seedS.pt`` while it runs (:meth:`Metamer.save` every ``checkpoint_every`` steps; an
  interrupted unit resumes from it, bit-identically);
- ``metamers/LAYER/seedS.nc`` when it is done (:meth:`Metamer.to_dataset`, with the validity in the group
  ``validity``); a rerun reads it back instead of synthesising again, and the checkpoint is removed.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from ..data.io import load, load_group, save
from ..errors import ConfigError
from ..metamers.classify import IMAGE_DIMS

__all__ = ["MetamerRun", "Unit", "safe_name"]

log = logging.getLogger("neuroalign.cli.metamers")

_GRID_IMAGES = 10  # columns of the per-layer image grids


def safe_name(text: str) -> str:
    """``text`` as a file or folder name: letters, digits, ``.``, ``_`` and ``-`` kept, the rest ``_``
    (and no leading dot).

    Examples
    --------
    >>> from neuroalign.cli._metamer_run import safe_name
    >>> safe_name("features.3"), safe_name("../a b")
    ('features.3', '_._a_b')
    """
    name = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    return ("_" + name[1:] if name.startswith(".") else name) or "_"


@dataclass
class Unit:
    """The metamers of one layer and seed: synthesis Dataset, validity Dataset, whether read back."""

    layer: str
    seed: int
    synthesis: xr.Dataset
    validity: xr.Dataset
    read_back: bool


class MetamerRun:
    """One run of ``neuroalign metamers`` in the folder ``out`` (see the module docstring)."""

    def __init__(self, *, out: Path, key: str, model: torch.nn.Module, generator: str, images: torch.Tensor,
                 ids: list[str], labels: np.ndarray, device: torch.device, settings: dict[str, Any], progress: bool):
        self.out, self.key, self.model, self.generator = out, key, model, generator
        self.images, self.ids, self.labels, self.device = images, ids, labels, device
        self.settings, self.progress = settings, progress
        self.naturals = xr.DataArray(images.numpy(), dims=IMAGE_DIMS,
                                     coords={"stimulus_id": ("presentation", np.asarray(ids, dtype=object)),
                                             "label": ("presentation", labels)})

    # ------------------------------------------------------------------ synthesis and validity
    def synthesise(self, layers: list[str], seeds: list[int], *, checkpoint_every: int) -> list[Unit]:
        """Every (layer, seed) unit: read back when done, else synthesised (resumed) and tested."""
        pairs = [(layer, seed) for layer in layers for seed in seeds]
        units = []
        with tqdm(pairs, desc="metamers", unit="layer", disable=not self.progress) as bar:
            for layer, seed in bar:
                bar.set_postfix_str(f"{layer} seed {seed}", refresh=True)
                unit = self._unit(layer, seed, checkpoint_every)
                valid = unit.validity["valid"]
                tqdm.write(f"{layer} seed {seed}: {int(valid.sum())} of {valid.size} metamers valid, median "
                           f"relative L2 {float(unit.validity['relative_l2'].median()):.3g}, "
                           f"{unit.synthesis.sizes['step']} steps" + (" (read back)" if unit.read_back else ""))
                units.append(unit)
        return units

    def _paths(self, layer: str, seed: int) -> tuple[Path, Path]:
        name = safe_name(layer)
        return (self.out / "metamers" / name / f"seed{seed}.nc", self.out / "checkpoints" / name / f"seed{seed}.pt")

    def _unit(self, layer: str, seed: int, checkpoint_every: int) -> Unit:
        final, checkpoint = self._paths(layer, seed)
        if final.exists():
            synthesis = load(final)
            if synthesis.attrs.get("run_key") != self.key or str(synthesis["layer"].values) != layer:
                raise ConfigError(f"{final} holds metamers of another run", source=str(self.out),
                                  fix="pass --overwrite to start over, or choose another --out")
            log.info("layer %s seed %d: read back from %s", layer, seed, final)
            return Unit(layer, seed, synthesis, load_group(final, "validity"), True)
        metamer = self._metamer(layer, seed, checkpoint)
        self._synthesise(metamer, layer, seed, checkpoint, checkpoint_every)
        synthesis = metamer.to_dataset().assign_coords(label=("presentation", self.labels))
        synthesis.attrs["run_key"] = self.key
        validity = self._validity(layer, seed, synthesis["metamer"])
        save(synthesis, final, groups={"validity": validity})
        checkpoint.unlink(missing_ok=True)
        for folder in (checkpoint.parent, checkpoint.parent.parent):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return Unit(layer, seed, synthesis, validity, False)

    def _scheduler(self) -> Any:
        if self.settings["preset"] != "feather2023":
            return None
        from ..metamers.steps import HalvingScheduler

        passes = self.settings["n_passes"]
        return functools.partial(HalvingScheduler, steps_per_pass=self.settings["max_iter"] // passes, n_passes=passes)

    def _metamer(self, layer: str, seed: int, checkpoint: Path) -> Any:
        from ..metamers.synthesis import Metamer

        if checkpoint.exists():
            metamer = Metamer.load(checkpoint, self.model, scheduler=self._scheduler(), map_location=self.device)
            same = (metamer.layer == layer and metamer.random_state == seed and metamer.preset ==
                    self.settings["preset"] and list(metamer.stimulus_ids) == self.ids)
            if not same:
                raise ConfigError(f"{checkpoint} holds a synthesis of other settings", source=str(self.out),
                                  fix="pass --overwrite to start over, or choose another --out")
            log.info("layer %s seed %d: resuming from step %d (%s)", layer, seed, metamer.n_iter, checkpoint)
            return metamer
        return Metamer(self.model, layer, self.images.to(self.device), preset=self.settings["preset"],
                       scheduler=self._scheduler(), random_state=seed, stimulus_ids=self.ids)

    def _synthesise(self, metamer: Any, layer: str, seed: int, checkpoint: Path, every: int) -> None:
        total = self.settings["max_iter"]
        with tqdm(total=total, initial=metamer.n_iter, desc=f"{layer} seed {seed}", unit="step", leave=False,
                  disable=not self.progress) as bar:
            while metamer.n_iter < total:
                before = metamer.n_iter
                chunk = min(every, total - before)
                metamer.synthesize(chunk, progress=False)
                metamer.save(checkpoint)
                bar.update(metamer.n_iter - before)
                if self.progress:
                    bar.set_postfix(loss=f"{float(metamer.losses[-1].mean()):.3e}",
                                    stopped=int(metamer.stopped.sum()), refresh=False)
                if metamer.n_iter - before < chunk:  # every image stopped, or the schedule ended
                    break

    def _validity(self, layer: str, seed: int, metamers: xr.DataArray) -> xr.Dataset:
        from ..metamers.validity import metamer_validity

        s = self.settings
        return metamer_validity(self.model, layer, metamers, self.naturals, self.labels, seed=seed,
                                n_null=s["n_null"], criterion=s["criterion"], label_subset=s["label_subset"],
                                random_state=s["resample_seed"], constant=s["constant"])

    # ------------------------------------------------------------------ recognisability
    def score(self, units: list[Unit], observers: dict[str, Any], *, classes: list[int], n_bootstrap: int) -> Any:
        """Recognisability of the valid metamers of each layer and of the natural images; with several seeds, the
        bootstrap resamples natural images together with their valid metamers of every seed."""
        from ..metamers.recognition import recognisability

        layers = list(dict.fromkeys(u.layer for u in units))
        metamers, valid = {}, []
        for layer in layers:
            chosen = sorted((u for u in units if u.layer == layer), key=lambda u: u.seed)
            metamers[layer] = xr.concat([u.synthesis["metamer"].drop_vars(["layer", "label"], errors="ignore")
                                         for u in chosen], dim="seed")
            valid.append(xr.concat([u.validity["valid"].isel(layer=0, drop=True) for u in chosen], dim="seed"))
        labels = xr.DataArray(self.labels, dims="presentation",
                              coords={"stimulus_id": ("presentation", np.asarray(self.ids, dtype=object))})
        return recognisability(metamers, labels, observers, valid=xr.concat(valid, dim="layer").assign_coords(
                                   layer=layers), naturals=self.naturals, generator=self.generator, classes=classes,
                               n_bootstrap=n_bootstrap, random_state=self.settings["resample_seed"],
                               empty_layers="drop", progress=self.progress)

    # ------------------------------------------------------------------ outputs
    def write(self, units: list[Unit], score: Any, labels_source: str) -> dict[str, Any]:
        """Per-image PNGs, image grids, validity.csv, recognisability.csv/.nc/.png; returns a summary."""
        from ..metamers.outputs import (recognisability_figure, recognisability_table, validity_table, write_csv,
                                        write_figure, write_image_png)
        from ..plot.metamer_grid import plot_metamer_grid

        names = self._file_names()
        for unit in units:
            if unit.read_back and (self.out / "images" / safe_name(unit.layer) / f"seed{unit.seed}").is_dir():
                continue
            folder = self.out / "images" / safe_name(unit.layer) / f"seed{unit.seed}"
            values = unit.synthesis["metamer"].transpose(*IMAGE_DIMS).values
            for stimulus, image in zip([str(v) for v in unit.synthesis["stimulus_id"].values], values):
                write_image_png(folder / f"{names[stimulus]}.png", image)
        shown = self.ids[:_GRID_IMAGES]
        layers = list(dict.fromkeys(u.layer for u in units))
        for layer in layers:
            rows = [u for u in units if u.layer == layer]
            stack = xr.concat([u.synthesis["metamer"].drop_vars(["layer", "seed", "label"], errors="ignore")
                               for u in rows], dim="layer").assign_coords(layer=[f"seed {u.seed}" for u in rows])
            figure = plot_metamer_grid(stack, self.naturals, stimulus_ids=shown, title=f"metamers of {layer}")
            write_figure(self.out / "images" / f"{safe_name(layer)}.png", figure)
        first = [next(u for u in units if u.layer == layer) for layer in layers]
        stack = xr.concat([u.synthesis["metamer"].drop_vars(["layer", "seed", "label"], errors="ignore")
                           for u in first], dim="layer").assign_coords(layer=layers)
        write_figure(self.out / "metamers.png", plot_metamer_grid(
            stack, self.naturals, stimulus_ids=shown, title=f"metamers of {self.generator} (seed {first[0].seed})"))
        write_csv(self.out / "validity.csv", validity_table([u.validity for u in units]))
        write_csv(self.out / "recognisability.csv", recognisability_table(score))
        score.save(self.out / "recognisability.nc")
        dropped = score.params["dropped_layers"]
        title = f"labels: {labels_source}" + (f"; no valid metamer at {', '.join(dropped)}" if dropped else "")
        write_figure(self.out / "recognisability.png", recognisability_figure(score, title=title))
        valid = {f"{u.layer} seed {u.seed}": int(u.validity["valid"].sum()) for u in units}
        return {"n_stimuli": len(self.ids), "n_valid": valid, "dropped_layers": score.params["dropped_layers"],
                "chance": score.params["chance"], "classes": score.params["classes"]}

    def _file_names(self) -> dict[str, str]:
        """Stimulus id → PNG file name: the id made safe, or prefixed with its position where two would clash."""
        names = [safe_name(i) for i in self.ids]
        if len(set(names)) != len(names):
            names = [f"{k:05d}_{name}" for k, name in enumerate(names)]
        return dict(zip(self.ids, names))
