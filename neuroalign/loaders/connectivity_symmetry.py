"""Exactly symmetric connectivity matrices: batched Gram products and triangle mirroring.

A BLAS product ``A @ A.T`` is not bit-symmetric on every CPU: the two halves
of the output can come from different kernel paths (edge tiles, vector
widths, thread splits) and differ in the last bit.  Connectivity matrices are
symmetric by definition, so :func:`symmetric_gram` copies the upper triangle
onto the lower one right after each chunk of products, while the chunk is
still in the CPU cache, and :func:`mirror_upper` does the same for matrices
computed otherwise (inverses, matrix logarithms).
"""

from __future__ import annotations

import numpy as np

from .._compiled import compiled

__all__ = ["symmetric_gram", "mirror_upper"]

#: Bytes of products computed before their lower triangles are mirrored (a few MB: they stay in cache).
_CHUNK_BYTES = 4 << 20
#: Side of the square tiles the mirror copies (an 8 KB tile of float64 stays in L1 while it is transposed).
_TILE = 32


@compiled
def _mirror_tiles(m, tile):  # pragma: no cover - compiled
    """``m[b, i, j] = m[b, j, i]`` for every ``i > j``, one square tile at a time."""
    n, p = m.shape[0], m.shape[1]
    for b in range(n):
        for i0 in range(0, p, tile):
            i1 = min(i0 + tile, p)
            for j0 in range(0, i0 + 1, tile):
                for i in range(i0, i1):
                    for j in range(j0, min(j0 + tile, i)):
                        m[b, i, j] = m[b, j, i]


def mirror_upper(m: np.ndarray) -> np.ndarray:
    """Copy the upper triangle of every ``(..., p, p)`` matrix onto its lower one, in place.

    Afterwards ``np.array_equal(m, m.swapaxes(-1, -2))`` holds exactly (NaN
    entries aside).  Returns ``m``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.loaders.connectivity_symmetry import mirror_upper
    >>> mirror_upper(np.array([[1.0, 2.0], [2.0000001, 3.0]])).tolist()
    [[1.0, 2.0], [2.0, 3.0]]
    """
    p = m.shape[-1]
    if m.ndim < 2 or m.shape[-2] != p:
        raise ValueError(f"expected square matrices, got shape {m.shape}")
    if m.size == 0:
        return m
    if m.dtype == np.float64 and m.flags.c_contiguous:
        _mirror_tiles(m.reshape(-1, p, p), _TILE)
    else:  # other layouts and dtypes: the same copy in numpy, a block of rows at a time
        for i in range(0, p, _TILE):
            j = min(i + _TILE, p)
            m[..., i:j, :i] = np.swapaxes(m[..., :i, i:j], -1, -2)
            rows, cols = np.tril_indices(j - i, -1)
            m[..., i + rows, i + cols] = m[..., i + cols, i + rows]
    return m


def symmetric_gram(rows: np.ndarray) -> np.ndarray:
    """``rows @ rows.T`` for every leading index of ``(..., p, k)``, exactly symmetric.

    The products run in torch's ``bmm`` (its intra-op threads split the batch;
    ~1.3x faster than ``np.matmul``'s per-matrix BLAS calls at one thread)
    into an output allocated by numpy (which asks the kernel for huge pages).
    They are computed a few MB at a time and each chunk's lower triangle is
    overwritten with its upper one while the chunk is in cache, so symmetry
    costs no extra pass over a large output.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.loaders.connectivity_symmetry import symmetric_gram
    >>> x = np.random.default_rng(0).normal(size=(3, 5, 7))
    >>> g = symmetric_gram(x)
    >>> bool(np.array_equal(g, g.swapaxes(-1, -2))), bool(np.allclose(g, x @ x.swapaxes(-1, -2)))
    (True, True)
    """
    import torch

    lead, (p, length) = rows.shape[:-2], rows.shape[-2:]
    out = np.empty((*lead, p, p))
    flat_out = out.reshape(-1, p, p)
    batch = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float64).reshape(-1, p, length))
    target = torch.from_numpy(flat_out)
    threads = max(1, torch.get_num_threads())
    per_chunk = max(1, _CHUNK_BYTES // max(1, p * p * 8))
    chunk = max(threads, per_chunk // threads * threads)  # whole matrices per thread, no idle thread
    for start in range(0, batch.shape[0], chunk):
        stop = min(start + chunk, batch.shape[0])
        part = batch[start:stop]
        torch.bmm(part, part.transpose(1, 2), out=target[start:stop])
        _mirror_tiles(flat_out[start:stop], _TILE)
    return out
