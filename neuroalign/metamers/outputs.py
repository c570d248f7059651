"""Writing the results of a metamer run: validity and recognisability tables, figures, images, JSON.

Every file is written to a temporary sibling first and renamed into place
(:func:`neuroalign.data.io.write_atomically`), so an interrupted run never
leaves a half-written file under its final name.  Used by ``neuroalign
metamers`` (:mod:`neuroalign.cli.metamers_cmd`) and the MNIST metamer study
(:mod:`neuroalign.metamers.study`); the tables are the same for
any run that produces :func:`~neuroalign.metamers.validity.metamer_validity`
results and a :func:`~neuroalign.metamers.recognition.recognisability` score.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data.io import write_atomically
from ..errors import ConfigError
from ..score import Score
from .activation_matching import CRITERION_MEASURES, MEASURES

__all__ = ["VALIDITY_COLUMNS", "validity_table", "recognisability_table", "recognisability_figure", "write_csv",
           "write_json", "write_figure", "write_image_png"]

#: The columns of :func:`validity_table`, in order.
VALIDITY_COLUMNS = ("layer", "seed", "stimulus_id", "label", "predicted_label", "label_preserved", *MEASURES,
                    *(f"{m}_threshold" for m in CRITERION_MEASURES), "valid")


def validity_table(validity: xr.Dataset | Iterable[xr.Dataset]) -> pd.DataFrame:
    """One row per layer × seed × natural image: the measures, the thresholds and whether it is valid.

    Parameters
    ----------
    validity : xarray.Dataset or iterable of them
        Results of :func:`~neuroalign.metamers.validity.metamer_validity` (dims ``layer``, ``seed``,
        ``presentation``), e.g. one per layer and seed; rows follow their order.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`VALIDITY_COLUMNS`.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.outputs import validity_table
    >>> from neuroalign.metamers.validity import metamer_validity
    >>> from neuroalign.models import ReferenceNet
    >>> net = ReferenceNet(seed=0).eval()
    >>> images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> result = metamer_validity(net, "block2", images.clone(), images, net(images).argmax(1), n_null=6)
    >>> table = validity_table(result)
    >>> table.shape, bool(table["valid"].all())
    ((4, 14), True)
    """
    datasets = [validity] if isinstance(validity, xr.Dataset) else list(validity)
    if not datasets or not all(isinstance(d, xr.Dataset) for d in datasets):
        raise ConfigError("validity must be a Dataset (or Datasets) from metamer_validity", source="validity",
                          fix="pass the results of neuroalign.metamers.validity.metamer_validity")
    frames = []
    for dataset in datasets:
        dataset = dataset.transpose("layer", "seed", "presentation")
        for i, layer in enumerate(dataset["layer"].values):
            for j, seed in enumerate(dataset["seed"].values):
                row = dataset.isel(layer=i, seed=j)
                columns: dict[str, Any] = {
                    "layer": str(layer), "seed": int(seed),
                    "stimulus_id": [str(v) for v in row["stimulus_id"].values],
                    "label": row["label"].values,
                }
                for name in ("predicted_label", "label_preserved", *MEASURES):
                    columns[name] = row[name].values
                for measure in CRITERION_MEASURES:
                    columns[f"{measure}_threshold"] = float(row[f"{measure}_threshold"])
                columns["valid"] = row["valid"].values
                frames.append(pd.DataFrame(columns))
    return pd.concat(frames, ignore_index=True)[list(VALIDITY_COLUMNS)]


def recognisability_table(score: Score) -> pd.DataFrame:
    """:meth:`Score.to_dataframe` of a recognisability score, with ``n_images`` (images scored per layer)
    and ``chance``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.outputs import recognisability_table
    >>> from neuroalign.metamers.recognition import recognisability
    >>> images = np.zeros((4, 1, 2, 2), dtype=np.float32)
    >>> score = recognisability({"fc": images}, [0, 1, 0, 1], {"net": lambda x: np.zeros(4, int)}, n_bootstrap=10)
    >>> recognisability_table(score)[["layer", "observer", "score", "n_images", "chance"]].values.tolist()
    [['fc', 'net', 0.5, 4, 0.5]]
    """
    table = score.to_dataframe()
    counts = score.params.get("n_images", {})
    table["n_images"] = [int(counts[str(layer)]) for layer in table["layer"]]
    table["chance"] = float(score.params["chance"])
    return table


def recognisability_figure(score: Score, *, title: str | None = None) -> Any:
    """Curves per generating layer (with CI bands and chance) beside the observer × layer matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.outputs import recognisability_figure
    >>> from neuroalign.metamers.recognition import recognisability
    >>> images = np.zeros((4, 1, 2, 2), dtype=np.float32)
    >>> score = recognisability({"fc": images}, [0, 1, 0, 1], {"net": lambda x: np.zeros(4, int)}, n_bootstrap=10)
    >>> len(recognisability_figure(score).axes)  # curves, matrix, colour bar
    3
    """
    from matplotlib.figure import Figure

    from ..plot.recognisability import plot_recognisability_curves, plot_recognisability_matrix

    n_layers = score.values.sizes["layer"]
    figure = Figure(figsize=(max(9.0, 3.0 + 1.8 * n_layers), 4.2 + (0.3 if title else 0.0)), layout="constrained")
    left, right = figure.subplots(1, 2)
    plot_recognisability_curves(score, ax=left)
    plot_recognisability_matrix(score, ax=right)
    if title:
        figure.suptitle(title, fontsize="medium")
    return figure


def write_csv(path: str | os.PathLike, table: pd.DataFrame) -> Path:
    """Write ``table`` to a CSV file without its index, atomically (floats with 8 significant digits)."""
    return write_atomically(path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.8g"))


def write_json(path: str | os.PathLike, content: Any) -> Path:
    """Write ``content`` as indented JSON, atomically."""
    text = json.dumps(content, indent=2, default=_json_default) + "\n"
    return write_atomically(path, lambda tmp: Path(tmp).write_text(text))


def write_figure(path: str | os.PathLike, figure: Any, *, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG, atomically."""
    return write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", dpi=dpi))


def write_image_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write one ``(C, H, W)`` image with values in [0, 1] (1 or 3 channels) as an 8-bit PNG, atomically.

    Values are rounded to the nearest of 256 levels: the PNG is for looking at (or showing to
    people); the exact float values are in the run's netCDF files.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from neuroalign.metamers.outputs import write_image_png
    >>> path = write_image_png(os.path.join(tempfile.mkdtemp(), "a.png"), np.full((1, 2, 3), 0.5))
    >>> np.asarray(Image.open(path)).tolist()
    [[128, 128, 128], [128, 128, 128]]
    """
    from PIL import Image

    values = np.asarray(image, dtype=np.float64)
    if values.ndim != 3 or values.shape[0] not in (1, 3):
        raise ConfigError(f"an image of shape {values.shape} is not (C, H, W) with 1 or 3 channels",
                          source=str(path), fix="pass a grey (1, H, W) or colour (3, H, W) image")
    pixels = np.round(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)
    picture = Image.fromarray(pixels[0] if pixels.shape[0] == 1 else np.moveaxis(pixels, 0, -1))
    return write_atomically(path, lambda tmp: picture.save(tmp, format="PNG"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
