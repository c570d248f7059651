"""Centered linear Gram inner products of many layers, a block of rows at a time.

For the linear kernel, :func:`neuroalign.compare.cka_matrix` needs
``⟨K̃_i, K̃_j⟩_F`` for every pair of layers, with ``K̃ = X_c X_cᵀ`` the Gram
matrix of column-centered features.  Holding every layer's ``n × n`` Gram
matrix (even packed) takes gigabytes of fresh memory for a few thousand
stimuli, and on many machines touching fresh pages costs as much as the
arithmetic.  This module never holds a whole Gram matrix: it walks the lower
triangle in blocks of rows, computes that block of every layer's Gram matrix
into one reused buffer, and adds the block's contribution to all the inner
products with one matrix product.  The work is that of ``syrk`` (half a
product) per layer plus the upper halves of the diagonal sub-squares (``t / 2n``
of it, about 5% for 512-row blocks of 5,000 samples, bought back by running
every product at full speed), plus one small product per block.

A block of rows ``R`` (``t`` rows) of the lower triangle has two parts:

* the square diagonal part ``X_c[R] X_c[R]ᵀ``, split at half the block: two
  ``t/2``-row squares computed whole (both halves; their entries enter the
  Frobenius product once each) and the rectangle between them (entries enter
  twice, as below);
* the rectangle left of it, ``X_c[R] X_c[:r0]ᵀ``, whose entries stand for
  themselves and their mirror image above the diagonal, so they enter twice.
  It is computed against the uncentered rows, ``X_c[R] X[:r0]ᵀ``, and
  corrected by the row vector ``X_c[R] m`` (``m`` the column means), so that
  only the small block ``X[R]`` is ever copied for centering.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["rows_per_block", "tiled_linear_products"]

#: Row-block size bounds: below the lower one matrix products lose efficiency; above the upper one the
#: buffer grows with little gain.
MIN_ROWS, MAX_ROWS = 32, 512


def rows_per_block(n: int, layers: int, itemsize: int, max_memory: int) -> int:
    """Rows per block so that the buffer of ``layers`` row blocks (``rows × n`` each) fits ``max_memory`` bytes."""
    rows = int(max_memory // max(1, layers * n * itemsize))
    return int(min(max(rows, MIN_ROWS), MAX_ROWS, n))


def tiled_linear_products(layers: Sequence[np.ndarray], *, rows: int = 256,
                          advance: Callable[[float], object] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``⟨K̃_i, K̃_j⟩_F`` for all pairs of layers, and the diagonals of the ``K̃_i``.

    Parameters
    ----------
    layers : sequence of (n, p_i) float arrays
        The same n samples in every layer (uncentered; any widths; one dtype).
    rows : int
        Rows per block; the buffer holds ``len(layers) × rows × n`` values.
    advance : callable, optional
        Called with the fraction of the work done by each block (for a progress bar).

    Returns
    -------
    inner : (L, L) float64 array
        Centered Gram inner products (divide by ``(n − 1)²`` for the biased HSIC).
    diagonals : (L, n) float64 array
        Squared row norms of the centered features (the diagonals of the ``K̃_i``).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare.cka.tiled import tiled_linear_products
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(50, 4)), rng.normal(size=(50, 7))
    >>> inner, _ = tiled_linear_products([x, y], rows=16)
    >>> xc, yc = x - x.mean(0), y - y.mean(0)
    >>> bool(np.isclose(inner[0, 1], np.sum((xc @ xc.T) * (yc @ yc.T))))
    True
    """
    import torch

    n = layers[0].shape[0]
    dtype = layers[0].dtype
    count = len(layers)
    xs = [torch.from_numpy(np.asarray(x)) for x in layers]  # views: the products run in torch (MKL), in place
    means = [x.mean(dim=0) for x in xs]
    inner = torch.zeros((count, count), dtype=torch.float64)
    diagonals = np.empty((count, n))
    # numpy allocates the buffers (it asks the kernel for huge pages); torch writes into them.
    twice = torch.from_numpy(np.empty((count, rows * n), dtype=dtype))  # the rectangles left of the blocks
    sub = max(rows // 2, 1)  # diagonal sub-blocks: half the wasted upper halves, still full-speed products
    once = torch.from_numpy(np.empty((count, rows * sub), dtype=dtype))  # their squares, whole
    centred = torch.from_numpy(np.empty(rows * max(x.shape[1] for x in layers), dtype=dtype))
    work = sum((min(r0 + rows, n) - r0) * min(r0 + rows, n) for r0 in range(0, n, rows))
    for r0 in range(0, n, rows):
        r1 = min(r0 + rows, n)
        t = r1 - r0
        at = t * r0
        for i, (x, m) in enumerate(zip(xs, means)):
            xr = torch.sub(x[r0:r1], m, out=centred[:t * x.shape[1]].view(t, x.shape[1]))
            if r0:  # the rectangle left of the block, against uncentered rows, then corrected
                rectangle = torch.mm(xr, x[:r0].T, out=twice[i, :at].view(t, r0))
                rectangle -= (xr @ m)[:, None]
            # the block's own lower triangle, in sub-blocks: the square of each is computed whole (its
            # upper half mirrors the lower, so counting every entry once counts the lower ones twice)
            below, at_square = at, 0
            for k0 in range(0, t, sub):
                k1 = min(k0 + sub, t)
                h = k1 - k0
                if k0:
                    torch.mm(xr[k0:k1], xr[:k0].T, out=twice[i, below:below + h * k0].view(h, k0))
                    below += h * k0
                square = torch.mm(xr[k0:k1], xr[k0:k1].T, out=once[i, at_square:at_square + h * h].view(h, h))
                diagonals[i, r0 + k0:r0 + k1] = square.diagonal().numpy()
                at_square += h * h
        at, squares = below, at_square
        flat = twice[:, :at]
        inner += 2.0 * (flat @ flat.T).double()
        flat = once[:, :squares]
        inner += (flat @ flat.T).double()
        if advance is not None:
            advance(t * r1 / work)
    return inner.numpy(), diagonals
