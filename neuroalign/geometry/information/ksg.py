"""k-nearest-neighbour estimators of mutual information: KSG (continuous pairs) and Ross (continuous vs labels).

:func:`ksg_mutual_information` is algorithm 1 of Kraskov, Stögbauer &
Grassberger (2004): for each sample, :math:`\\varepsilon_i` is the max-norm
distance to its ``k``-th neighbour in the joint space :math:`(x, y)`;
:math:`n_x(i)` and :math:`n_y(i)` count the other samples strictly closer than
:math:`\\varepsilon_i` in each marginal space (max-norm there too), and

.. math:: \\hat I(X;Y) = \\psi(k) + \\psi(N) - \\langle \\psi(n_x + 1) + \\psi(n_y + 1) \\rangle .

:func:`ksg_label_information` is Ross (2014)'s estimator for a continuous
variable and a discrete one (class labels): the ``k``-th neighbour is searched
among the samples of the same class (:math:`N_{y_i}` of them), :math:`m_i`
counts the samples of any class strictly closer than that distance (itself
included), and

.. math:: \\hat I(X;Y) = \\psi(N) + \\psi(k) - \\langle \\psi(N_{y_i}) \\rangle - \\langle \\psi(m_i) \\rangle .

Both are the estimators of scikit-learn's ``mutual_info_regression`` and
``mutual_info_classif`` for one feature, extended to vectors (max-norm over
all dims of each space), with neighbours found by :class:`scipy.spatial.cKDTree`
(a KD-tree, ``p=inf``) and the counts by scikit-learn's
:class:`~sklearn.neighbors.KDTree` (Chebyshev metric), never a distance matrix.  From
``SCAN_FROM_DIMS`` dims on (joint dims of ``x`` and ``y``; dims of ``x`` for the labels), where a tree
prunes poorly, both estimators compare every pair instead, by the compiled blocked scan of
:mod:`.ksg_scan`, with the same values to the last bit (``method=`` chooses).  Like scikit-learn, each
dimension is divided by its standard deviation first (``standardize=True``)
and a tiny seeded noise breaks ties; unlike scikit-learn, a negative estimate
(possible when the variables are nearly independent) is returned as it is,
not clipped to 0.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma
from sklearn.neighbors import KDTree

from ...errors import DataError
from ...fitting.base import check_bool, check_choice, check_int, check_number
from ._checks import as_labels, as_samples, check_units
from .ksg_scan import scan_count_closer, scan_kth_distance, scan_neighbour_counts

__all__ = ["ksg_mutual_information", "ksg_label_information", "neighbour_counts", "label_neighbour_counts",
           "SCAN_FROM_DIMS"]

#: ``method="auto"`` scans all pairs from this many joint dims on, and uses KD-trees below.  Measured on
#: 10,000 samples (benchmarks/bench_mi_ksg.py): the scan overtakes the trees at 14-16 joint dims on data
#: near an 8-dim manifold, at about 6 on isotropic Gaussian data.  16 keeps the trees wherever they win
#: on structured data; with more samples the trees gain (their time grows more slowly than the scan's n²).
SCAN_FROM_DIMS = 16
#: the ways to find the neighbours: ``method=`` of :func:`ksg_mutual_information`
METHODS = ("auto", "tree", "scan")


def _prepare(values: np.ndarray, *, standardize: bool, noise: float, rng: np.random.Generator,
             name: str) -> np.ndarray:
    """Scaled to unit standard deviation per dim (when asked) and jittered by ``noise`` × max(1, mean |value|)."""
    values = values.astype(float, copy=True)
    if standardize:
        scale = values.std(axis=0)
        values /= np.where(scale > 0, scale, 1.0)  # a constant dim (a dead unit) adds 0 to every distance
    if noise > 0:
        amplitude = noise * np.maximum(1.0, np.abs(values).mean(axis=0))
        values += amplitude * rng.standard_normal(values.shape)
    return values


def _kth_distance(points: np.ndarray, k: int, name: str, method: str = "tree") -> np.ndarray:
    """Max-norm distance of each point to its ``k``-th other point (a KD-tree query, or the scan)."""
    if method == "scan":
        return _check_radius(scan_kth_distance(points, k), k, name)
    distances, _ = cKDTree(points).query(points, k=k + 1, p=np.inf)
    return _check_radius(distances[:, k], k, name)


def _check_radius(radius: np.ndarray, k: int, name: str) -> np.ndarray:
    """``radius`` itself; DataError where a neighbour distance is 0 (``k`` or more exact duplicates)."""
    if (radius == 0).any():
        raise DataError(f"{int((radius == 0).sum())} sample(s) of {name} have {k} or more exact duplicates, so "
                        "their neighbour distance is 0", source=name,
                        fix="pass noise > 0 (the default 1e-10 breaks ties), or drop the duplicated samples")
    return radius


def _count_closer(points: np.ndarray, radius: np.ndarray, method: str = "tree") -> np.ndarray:
    """How many points (the point itself included) lie strictly within ``radius`` of each point (max-norm).

    scikit-learn's KD-tree counts (``count_only``) without building the neighbour lists; in tens of
    dims it is several times faster at this than ``cKDTree.query_ball_point``.  ``method="scan"``: the scan.
    """
    if method == "scan":
        return scan_count_closer(points, radius)
    strictly = np.nextafter(radius, 0)
    return np.asarray(KDTree(points, metric="chebyshev").query_radius(points, strictly, count_only=True))


def resolve_method(method: Any, joint_dims: int) -> str:
    """``"tree"`` or ``"scan"``: ``method`` itself, or for ``"auto"`` the scan from ``SCAN_FROM_DIMS`` joint dims on.

    Raises
    ------
    UnknownNameError
        ``method`` is not ``"auto"``, ``"tree"`` or ``"scan"``.
    """
    method = check_choice("method", method, METHODS)
    if method == "auto":
        return "scan" if joint_dims >= SCAN_FROM_DIMS else "tree"
    return method


def neighbour_counts(x: np.ndarray, y: np.ndarray, k: int, *,
                     method: Literal["auto", "tree", "scan"] = "auto") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """KSG's per-sample terms on prepared ``(samples, dims)`` arrays: the joint ``k``-th neighbour distance
    :math:`\\varepsilon_i` and the counts :math:`n_x(i)`, :math:`n_y(i)` of other samples strictly closer.

    ``method="tree"`` finds them with KD-trees, ``"scan"`` by comparing every pair (compiled, blocked,
    :mod:`.ksg_scan`), ``"auto"`` by the scan from ``SCAN_FROM_DIMS`` joint dims on; all three give the
    same values to the last bit.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0], [1.0], [3.0], [7.0]])
    >>> radius, n_x, n_y = neighbour_counts(x, 2 * x, 1, method="tree")
    >>> radius.tolist(), n_x.tolist(), n_y.tolist()
    ([2.0, 2.0, 4.0, 8.0], [1, 1, 2, 3], [0, 0, 0, 0])
    """
    if resolve_method(method, x.shape[1] + y.shape[1]) == "scan":
        radius, n_x, n_y = scan_neighbour_counts(x, y, k)
        _check_radius(radius, k, "(x, y)")
        return radius, n_x, n_y
    radius = _kth_distance(np.hstack([x, y]), k, "(x, y)")
    return radius, _count_closer(x, radius) - 1, _count_closer(y, radius) - 1


def label_neighbour_counts(x: np.ndarray, codes: np.ndarray, k: int, *,
                           method: Literal["auto", "tree", "scan"] = "auto"
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ross's per-sample terms on a prepared ``(samples, dims)`` array and class codes ``0 … C-1`` (each
    class at least two samples): the distance to the ``k``-th other sample of the same class (``k`` capped
    at the class size minus one), that ``k``, and the count :math:`m_i` of samples of any class strictly
    closer (the sample itself included).  ``method`` as :func:`neighbour_counts` (by ``x``'s dims).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0], [1.0], [3.0], [7.0]])
    >>> radius, k_used, m = label_neighbour_counts(x, np.array([0, 1, 0, 1]), 1, method="scan")
    >>> radius.tolist(), k_used.tolist(), m.tolist()
    ([3.0, 6.0, 3.0, 6.0], [1.0, 1.0, 1.0, 1.0], [2, 3, 2, 2])
    """
    method = resolve_method(method, x.shape[1])
    sizes = np.bincount(codes)
    radius = np.empty(x.shape[0])
    k_used = np.empty(x.shape[0])
    for label, size in enumerate(sizes):
        members = codes == label
        k_class = min(k, int(size) - 1)
        radius[members] = _kth_distance(x[members], k_class, "x", method)
        k_used[members] = k_class
    return radius, k_used, _count_closer(x, radius, method)


def _settings(k: Any, units: Any, standardize: Any, noise: Any) -> tuple[int, float]:
    k = check_int("k", k, minimum=1)
    check_bool("standardize", standardize)
    check_number("noise", noise, low=0)
    return k, check_units(units)


def ksg_mutual_information(
    x: Any,
    y: Any,
    *,
    k: int = 3,
    units: Literal["nats", "bits"] = "nats",
    standardize: bool = True,
    noise: float = 1e-10,
    random_state: int | None = 0,
    method: Literal["auto", "tree", "scan"] = "auto",
) -> float:
    """The KSG (algorithm 1) estimate of the mutual information between two continuous variables.

    Parameters
    ----------
    x, y : array-like
        ``(samples,)`` or ``(samples, dims)`` values of the two variables, one
        row per sample, the same samples in the same order.
    k : int
        The neighbour whose distance sets each sample's scale (3 by default,
        as scikit-learn's ``n_neighbors``).  Larger ``k``: less variance, more bias.
    units : {"nats", "bits"}
    standardize : bool
        Divide each dim by its standard deviation first (as scikit-learn
        does), so the estimate does not depend on the units of each dim
        (constant dims, such as dead units, are left as they are: they add 0
        to every distance).
    noise : float
        Relative amplitude of the Gaussian jitter that breaks ties (1e-10, as
        scikit-learn); 0 leaves the values as they are.
    random_state : int or None
        Seeds the jitter.
    method : {"auto", "tree", "scan"}
        How the neighbours are found: ``"tree"`` with KD-trees, ``"scan"``
        by comparing every pair of samples in a compiled, vectorised loop
        (no distance matrix is stored), ``"auto"`` (the default) by the
        scan from ``SCAN_FROM_DIMS`` (16) joint dims of ``x`` and ``y``
        on, where a tree prunes poorly, and by trees below.  The estimate
        is the same, to the last bit, whichever is used; only the time
        differs (the scan grows as samples² × dims).

    Returns
    -------
    float
        The estimate, in ``units``; it can be slightly negative when the
        variables are (nearly) independent.

    Raises
    ------
    ConfigError
        ``k`` is not a positive integer, ``units`` is unknown, ``noise`` is negative.
    UnknownNameError
        ``method`` is not ``"auto"``, ``"tree"`` or ``"scan"`` (a ConfigError).
    DataError
        ``x`` and ``y`` differ in length, have at most ``k`` samples, hold NaN
        or inf, or duplicated samples that make a neighbour distance 0.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.geometry.information.ksg import ksg_mutual_information
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=2000)
    >>> y = 0.8 * x + 0.6 * rng.normal(size=2000)        # correlation 0.8
    >>> round(float(-0.5 * np.log(1 - 0.8**2)), 3)              # the closed form, in nats
    0.511
    >>> round(ksg_mutual_information(x, y), 2)
    0.51
    """
    k, divisor = _settings(k, units, standardize, noise)
    check_choice("method", method, METHODS)
    x = as_samples(x, "x", minimum=k + 1)
    y = as_samples(y, "y", minimum=k + 1)
    if x.shape[0] != y.shape[0]:
        raise DataError(f"x has {x.shape[0]} samples and y {y.shape[0]}", source="y",
                        fix="pass the same samples, in the same order, for both variables")
    rng = np.random.default_rng(random_state)
    x = _prepare(x, standardize=standardize, noise=noise, rng=rng, name="x")
    y = _prepare(y, standardize=standardize, noise=noise, rng=rng, name="y")
    n = x.shape[0]
    _, n_x, n_y = neighbour_counts(x, y, k, method=method)
    estimate = digamma(k) + digamma(n) - np.mean(digamma(n_x + 1)) - np.mean(digamma(n_y + 1))
    return float(estimate) / divisor


def ksg_label_information(
    x: Any,
    labels: Any,
    *,
    k: int = 3,
    units: Literal["nats", "bits"] = "nats",
    standardize: bool = True,
    noise: float = 1e-10,
    random_state: int | None = 0,
    method: Literal["auto", "tree", "scan"] = "auto",
) -> float:
    """Ross (2014)'s k-NN estimate of the mutual information between a continuous variable and class labels.

    Parameters
    ----------
    x : array-like
        ``(samples,)`` or ``(samples, dims)`` values.
    labels : array-like
        One class label per sample (any hashable values).  Every class needs
        at least two samples.
    k : int
        The neighbour, within the sample's class, that sets its scale; a
        class with ``k`` or fewer samples uses its size minus one (as
        scikit-learn).
    units, standardize, noise, random_state
        As :func:`ksg_mutual_information`.
    method : {"auto", "tree", "scan"}
        As :func:`ksg_mutual_information`, by the number of dims of ``x``
        (the same estimate whichever is used).

    Returns
    -------
    float
        The estimate, in ``units`` (not clipped at 0).

    Raises
    ------
    ConfigError
        A bad ``k``, ``units`` or ``noise``; an unknown ``method`` (UnknownNameError).
    DataError
        Labels of another length or missing, a class with a single sample,
        non-finite values, duplicated samples.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.geometry.information.ksg import ksg_label_information
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 2, 2000)
    >>> x = 10.0 * labels + rng.normal(size=2000)         # two well-separated classes
    >>> round(ksg_label_information(x, labels, units="bits"), 2)   # one bit
    1.0
    """
    k, divisor = _settings(k, units, standardize, noise)
    check_choice("method", method, METHODS)
    x = as_samples(x, "x", minimum=2)
    codes = as_labels(labels, x.shape[0])
    sizes = np.bincount(codes)
    if (sizes < 2).any():
        raise DataError(f"{int((sizes < 2).sum())} class(es) have a single sample; the estimate needs at least "
                        "two per class", source="labels", fix="drop the classes with one sample first")
    x = _prepare(x, standardize=standardize, noise=noise, rng=np.random.default_rng(random_state), name="x")
    _, k_used, m = label_neighbour_counts(x, codes, k, method=method)
    n = x.shape[0]
    estimate = digamma(n) + np.mean(digamma(k_used)) - np.mean(digamma(sizes[codes])) - np.mean(digamma(m))
    return float(estimate) / divisor
