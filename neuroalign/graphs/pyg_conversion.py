"""Dense graphs ``(x [S, W, N, F], adj [S, W, N, N])`` to PyTorch Geometric ``Data``/``Batch`` and back.

One ``Data`` per window: ``x`` ``[N, F]``, ``edge_index`` ``[2, E]`` (the
nonzero entries of ``adj`` in row-major order, both directions of every edge,
as ``torch_geometric.utils.dense_to_sparse``), ``edge_attr`` ``[E]`` (the
weights: 1.0 for binary edges), ``subject`` (the id), ``subject_position``
(the subject's position in the dataset; not named ``*_index``, which PyG would
shift by the node count when batching), ``window`` (the window's position)
and, on request, the window's dense connectivity ``fc`` ``[N, N]`` and extra
node features ``extra`` ``[N, K]`` (what :mod:`~neuroalign.graphs.transforms`
act on).  An edge of weight exactly 0 is no edge: the dense convention.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError

__all__ = ["dense_to_data_list", "pyg_to_dense"]


def dense_to_data_list(x: torch.Tensor, adj: torch.Tensor, *, subjects: Sequence[Any], positions: Sequence[int],
                       fc: torch.Tensor | None = None, extra: torch.Tensor | None = None) -> list:
    """One ``torch_geometric.data.Data`` per window of ``x [S, W, N, F]`` and ``adj [S, W, N, N]``.

    Graphs come subject by subject, windows in order.  ``fc`` ``[S, W, N, N]``
    and ``extra`` ``[S, W, N, K]`` are attached when given.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.pyg_conversion import dense_to_data_list, pyg_to_dense
    >>> adj = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).expand(1, 3, 2, 2)
    >>> graphs = dense_to_data_list(torch.ones(1, 3, 2, 1), adj, subjects=["s1"], positions=[0])
    >>> len(graphs), graphs[0].edge_index.tolist()
    (3, [[0, 1], [1, 0]])
    >>> x, back = pyg_to_dense(graphs)
    >>> torch.equal(back, adj)
    True
    """
    from torch_geometric.data import Data

    n_subjects, n_windows, n = adj.shape[:3]
    where = torch.nonzero(adj.reshape(-1, n, n))  # (graph, i, j), row-major within each graph
    counts = torch.bincount(where[:, 0], minlength=n_subjects * n_windows).tolist()
    edges = torch.split(where[:, 1:].t().contiguous(), counts, dim=1)
    weights = torch.split(adj.reshape(-1, n, n)[where[:, 0], where[:, 1], where[:, 2]], counts)
    graphs = []
    for s in range(n_subjects):
        for w in range(n_windows):
            g = s * n_windows + w
            data = Data(x=x[s, w], edge_index=edges[g], edge_attr=weights[g], num_nodes=n,
                        subject=subjects[s], subject_position=int(positions[s]), window=w)
            if fc is not None:
                data.fc = fc[s, w]
            if extra is not None:
                data.extra = extra[s, w]
            graphs.append(data)
    return graphs


def pyg_to_dense(graphs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense ``(x [S, W, N, F], adj [S, W, N, N])`` from a ``Batch`` or list of ``Data`` of :func:`dense_to_data_list`.

    Subjects come in the order of their first graph, windows sorted by
    ``window``; every subject must have the same windows, every graph the same
    number of nodes.  Uses ``torch_geometric.utils.to_dense_batch`` and
    ``to_dense_adj`` (duplicate edges would be summed; these graphs have none).

    Raises
    ------
    ConfigError
        Graphs without ``subject_position``/``window``, with different node
        counts, or subjects with different or repeated windows.
    """
    from torch_geometric.data import Batch
    from torch_geometric.utils import to_dense_adj, to_dense_batch

    batch = graphs if isinstance(graphs, Batch) else Batch.from_data_list(list(graphs))
    if not hasattr(batch, "subject_position") or not hasattr(batch, "window"):
        raise ConfigError("the graphs have no subject_position/window attributes", source="graphs",
                          fix="pass graphs from ConnectivityGraphs.to_pyg or to_batch")
    x, mask = to_dense_batch(batch.x, batch.batch)
    if not bool(mask.all()):
        raise ConfigError("the graphs have different numbers of nodes", source="graphs",
                          fix="convert graphs over the same ROI set")
    n = x.shape[1]
    adj = to_dense_adj(batch.edge_index, batch.batch, edge_attr=batch.edge_attr, max_num_nodes=n)
    subject = np.asarray(batch.subject_position).reshape(-1)
    window = np.asarray(batch.window).reshape(-1)
    _, first = np.unique(subject, return_index=True)
    subjects = subject[np.sort(first)]
    windows = np.sort(window[subject == subjects[0]])
    order = []
    for s in subjects:
        mine = np.flatnonzero(subject == s)
        if not np.array_equal(np.sort(window[mine]), windows) or len(np.unique(window[mine])) != len(mine):
            raise ConfigError(f"subject at position {int(s)} has windows {sorted(window[mine].tolist())}, not "
                              f"{windows.tolist()}", source="graphs",
                              fix="give every subject the same windows, each once")
        order.extend(mine[np.argsort(window[mine], kind="stable")])
    order = torch.as_tensor(np.asarray(order))
    shape = (len(subjects), len(windows))
    return x[order].reshape(*shape, n, x.shape[-1]), adj[order].reshape(*shape, n, n)
