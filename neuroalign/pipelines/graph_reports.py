"""The files of graph pretraining: loss history, loss curve, embeddings and probe scores.

Used by ``neuroalign graphs pretrain|embed|probe`` and by
:func:`~neuroalign.pipelines.graph_pretraining.run_graph_pretraining`, so both
write the same files.  Every file is written atomically (to a temporary
sibling, then renamed): a run killed while writing leaves no half-written file.

- ``history.csv``: one row per epoch, ``epoch``, ``loss`` and the loss's parts;
- ``loss.png``: the loss (and its parts, when there are several) against the epoch (not written
  when no epoch was trained);
- ``<stem>.nc`` and ``<stem>.csv``: embeddings ``(subject, feature)`` or
  ``(subject, window, feature)``; the netCDF keeps every coordinate and the
  provenance (read it with :func:`neuroalign.data.load`), the CSV has one row
  per subject (or subject and window) with the subject's label columns, the
  window coordinates, then one column per feature;
- ``probe.csv``: a :class:`~neuroalign.Score` as :meth:`~neuroalign.Score.to_dataframe`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..data.io import save, write_atomically
from ..errors import SchemaError
from ..score import Score

__all__ = ["write_history", "write_loss_curve", "embeddings_table", "write_embeddings", "write_score"]


def _write_csv(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    return write_atomically(path, lambda tmp: table.to_csv(tmp, index=False))


def write_history(history: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a loss history (``epoch``, ``loss``, parts) as CSV.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> from neuroalign.pipelines.graph_reports import write_history
    >>> path = write_history(pd.DataFrame({"epoch": [1, 2], "loss": [0.5, 0.4]}),
    ...                      pathlib.Path(tempfile.mkdtemp()) / "history.csv")
    >>> pd.read_csv(path)["loss"].tolist()
    [0.5, 0.4]
    """
    return _write_csv(history, path)


def write_loss_curve(history: pd.DataFrame, path: str | os.PathLike) -> Path | None:
    """Write the loss curve (:func:`~neuroalign.plot.graph_ssl.pretraining_curves_figure`) as a PNG.

    Nothing is written (None is returned) when no epoch was trained (``epochs=0``).
    """
    if not len(history):
        return None
    from ..plot.graph_ssl import pretraining_curves_figure

    figure = pretraining_curves_figure(history)
    return write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))


def embeddings_table(embeddings: xr.DataArray) -> pd.DataFrame:
    """Embeddings ``(subject, [window,] feature)`` as a wide table: one row per subject (and window).

    The first columns are ``subject`` (and ``window``), then the coordinates on
    ``subject`` (labels) and on ``window`` (e.g. ``window_start``), then one column per feature.

    Raises
    ------
    SchemaError
        The array's dims are not ``(subject, feature)`` or ``(subject, window, feature)``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.pipelines.graph_reports import embeddings_table
    >>> emb = xr.DataArray(np.arange(4.0).reshape(2, 2), dims=("subject", "feature"),
    ...                    coords={"subject": ["a", "b"], "group": ("subject", [0, 1]), "feature": ["m0", "s0"]})
    >>> embeddings_table(emb).columns.tolist()
    ['subject', 'group', 'm0', 's0']
    """
    rows = [d for d in ("subject", "window") if d in embeddings.dims]
    if "subject" not in rows or set(embeddings.dims) != {*rows, "feature"}:
        raise SchemaError(f"expected embeddings (subject, [window,] feature), got dims {embeddings.dims}",
                          source="embeddings", fix="pass the output of GraphMAEPretrainer.transform or "
                          "transform_windows")
    embeddings = embeddings.transpose(*rows, "feature")
    index = pd.MultiIndex.from_product([np.asarray(embeddings[d].values) for d in rows], names=rows)
    table = pd.DataFrame(index=index).reset_index()
    for dim in rows:
        for name, coord in embeddings.coords.items():
            if coord.dims == (dim,) and name != dim:
                positions = pd.Index(np.asarray(embeddings[dim].values)).get_indexer(table[dim])
                table[name] = np.asarray(coord.values)[positions]
    features = [str(f) for f in embeddings["feature"].values]
    values = pd.DataFrame(embeddings.values.reshape(len(table), len(features)), columns=features)
    return pd.concat([table, values], axis=1)


def write_embeddings(embeddings: xr.DataArray, folder: str | os.PathLike, stem: str) -> tuple[Path, Path]:
    """Write ``<folder>/<stem>.nc`` (every coordinate and the provenance) and ``<folder>/<stem>.csv``.

    Examples
    --------
    >>> import numpy as np, xarray as xr, tempfile
    >>> from neuroalign.data import load
    >>> from neuroalign.pipelines.graph_reports import write_embeddings
    >>> emb = xr.DataArray(np.ones((2, 3)), dims=("subject", "feature"),
    ...                    coords={"subject": ["a", "b"], "feature": ["f0", "f1", "f2"]})
    >>> nc, csv = write_embeddings(emb, tempfile.mkdtemp(), "embeddings")
    >>> load(nc).equals(emb), csv.name
    (True, 'embeddings.csv')
    """
    folder = Path(folder)
    table = embeddings_table(embeddings)
    netcdf = save(embeddings, folder / f"{stem}.nc")
    return netcdf, _write_csv(table, folder / f"{stem}.csv")


def write_score(score: Score, path: str | os.PathLike) -> Path:
    """Write a score as CSV (:meth:`~neuroalign.Score.to_dataframe`: metric, value, error, CI)."""
    return _write_csv(score.to_dataframe(), path)
