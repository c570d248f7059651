"""Zero-shot stitching (Moschella et al., 2023): a readout trained on one network's representation, applied to
another's.

:class:`StitchingReadout` is a logistic-regression readout (scikit-learn,
seeded) on the relative representation of a layer (cosine similarities to
anchor stimuli, :func:`~neuroalign.compare.matching.relative.relative_representation`).
Fitted on network A, it predicts from network B's relative representation
built on the *same anchor stimuli* seen by B — no training on B at all.
With ``relative=False`` the readout works on the absolute activations, the
baseline that fails when A's and B's units are not the same.
:func:`zero_shot_stitching` runs the whole comparison on two networks'
activations of the same stimuli.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ...data.align import align
from ...data.schema import NEUROID, PRESENTATION
from ...errors import ConfigError, DataError
from ...fitting.base import check_bool, check_choice, check_fitted, check_int, check_number, resolve_seed
from ...score import Score
from .relative import ANCHOR_METHODS, _matrix, relative_representation, select_anchors

__all__ = ["StitchingReadout", "zero_shot_stitching"]


def _labels(x: xr.DataArray, y: Any, name: str) -> np.ndarray:
    if y is None:
        if "label" not in x.coords:
            raise ConfigError(f"no labels given and {name} has no 'label' coordinate", source="y",
                              fix="pass y=... or add a label coordinate on presentation")
        y = x["label"].values
    y = np.asarray(y)
    if y.shape != (x.sizes[PRESENTATION],):
        raise ConfigError(f"y has shape {y.shape}, expected ({x.sizes[PRESENTATION]},), one label per stimulus",
                          source="y", fix="pass one label per stimulus of x")
    return y


class StitchingReadout:
    """A seeded logistic-regression readout on a relative (or absolute) representation.

    Parameters
    ----------
    anchors : sequence of stimulus ids
        Anchor stimuli; the representation passed to ``fit`` and to
        ``predict`` must each hold them (their own activations of them).
    relative : bool
        Read out from the relative representation (True) or from the
        activations themselves (False, the absolute baseline).
    center : bool
        Center on the anchors' mean before the cosine (see ``relative_representation``).
    C : float
        Inverse L2 regularisation strength of the logistic regression.
    max_iter : int
        Iterations of the solver (lbfgs).
    random_state : int, optional
        Seed of the solver.

    Attributes
    ----------
    readout_ : sklearn.linear_model.LogisticRegression
    classes_ : numpy.ndarray
    n_features_ : int
        Features the readout was fitted on (the anchors, or the units).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.compare.matching.relative_stitching import StitchingReadout
    >>> rng = np.random.default_rng(0)
    >>> v = rng.normal(size=(60, 5)); y = (v[:, 0] > 0).astype(int)
    >>> def rep(values):
    ...     return xr.DataArray(values, dims=("presentation", "neuroid"),
    ...                         coords={"stimulus_id": ("presentation", np.arange(60)),
    ...                                 "neuroid_id": ("neuroid", list("abcde")), "label": ("presentation", y)})
    >>> rotation = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    >>> readout = StitchingReadout(anchors=list(range(0, 60, 3)), random_state=0).fit(rep(v))
    >>> readout.score(rep(2 * v @ rotation)) > 0.9  # another space, same angles: the readout transfers
    True
    """

    def __init__(self, anchors: Sequence[Any], *, relative: bool = True, center: bool = False, C: float = 1.0,
                 max_iter: int = 1000, random_state: int | None = None):
        self.anchors = anchors
        self.relative = relative
        self.center = center
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    def _features(self, x: Any) -> np.ndarray:
        x = _matrix(x, "x")
        if check_bool("relative", self.relative):
            x = relative_representation(x, self.anchors, center=self.center)
        return np.asarray(x.values, dtype=np.float64)

    def fit(self, x: xr.DataArray, y: Any = None) -> "StitchingReadout":
        """Fit on ``x`` (``(presentation, neuroid)``; labels ``y`` or its ``label`` coordinate); returns ``self``."""
        from sklearn.linear_model import LogisticRegression

        C = check_number("C", self.C, low=0, low_open=True)
        max_iter = check_int("max_iter", self.max_iter, minimum=1)
        labels = _labels(_matrix(x, "x"), y, "x")
        features = self._features(x)
        if len(np.unique(labels)) < 2:
            raise DataError("the labels hold one class only", source="y", fix="pass stimuli of at least two classes")
        self.readout_ = LogisticRegression(C=C, max_iter=max_iter, random_state=resolve_seed(self.random_state))
        self.readout_.fit(features, labels)
        self.classes_ = self.readout_.classes_
        self.n_features_ = features.shape[1]
        return self

    def predict(self, x: xr.DataArray) -> np.ndarray:
        """The class of each stimulus of ``x`` (another network's representation, for zero-shot stitching)."""
        check_fitted(self, "readout_")
        features = self._features(x)
        if features.shape[1] != self.n_features_:
            raise DataError(f"x has {features.shape[1]} features but the readout was fitted on {self.n_features_}",
                            source="x", fix="stitch absolute representations only between layers of the same width,"
                                            " or use relative=True")
        return self.readout_.predict(features)

    def score(self, x: xr.DataArray, y: Any = None) -> float:
        """Accuracy on ``x`` (labels ``y`` or its ``label`` coordinate)."""
        labels = _labels(_matrix(x, "x"), y, "x")
        return float(np.mean(self.predict(x) == labels))


def zero_shot_stitching(source: xr.DataArray, target: xr.DataArray, *, anchors: int | Sequence[Any] = 300,
                        anchor_method: str = "random", test_size: float = 0.25, relative: bool = True,
                        center: bool = False, C: float = 1.0, random_state: int | None = None) -> Score:
    """Train a readout on ``source``'s representation and test it on ``target``'s, with no training on ``target``.

    The stimuli (shared by both arrays, aligned on ``stimulus_id``) are split
    into training and test stimuli (stratified by label, seeded); anchors are
    drawn among the training stimuli.  The readout is fitted on the
    source's training stimuli and scored on the test stimuli of the source
    (the within-network accuracy) and of the target (the stitched accuracy).

    Parameters
    ----------
    source, target : xarray.DataArray
        ``(presentation, neuroid)`` activations of two networks for the same
        stimuli, with a ``label`` coordinate (read from ``source``).
    anchors : int or sequence of stimulus ids
        How many anchors to select (``anchor_method``, on the source's
        training stimuli), or the anchors themselves.
    anchor_method : {"random", "farthest"}
    test_size : float
        Share of the stimuli held out for testing, in (0, 1).
    relative : bool
        Stitch relative representations (True) or absolute activations (False, the baseline).
    center, C
        As in :class:`StitchingReadout`.
    random_state : int, optional
        Seeds the split, the anchor draw and the readout.

    Returns
    -------
    Score
        Accuracy, dims ``(applied_to,)`` = ``source`` (within network) and
        ``target`` (zero-shot stitched).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.compare.matching.relative_stitching import zero_shot_stitching
    >>> rng = np.random.default_rng(0)
    >>> v = rng.normal(size=(200, 6)); y = (v[:, 0] + v[:, 1] > 0).astype(int)
    >>> def rep(values):
    ...     return xr.DataArray(values, dims=("presentation", "neuroid"),
    ...                         coords={"stimulus_id": ("presentation", np.arange(200)),
    ...                                 "neuroid_id": ("neuroid", list("abcdef")), "label": ("presentation", y)})
    >>> rotated = rep(v @ np.linalg.qr(rng.normal(size=(6, 6)))[0])
    >>> score = zero_shot_stitching(rep(v), rotated, anchors=40, random_state=0)
    >>> bool(score.values.sel(applied_to="target") > 0.8)
    True
    """
    from sklearn.model_selection import train_test_split

    source, target = align(_matrix(source, "source"), _matrix(target, "target"), names=("source", "target"))
    labels = _labels(source, None, "source")
    test_size = check_number("test_size", test_size, low=0, high=1, low_open=True, high_open=True)
    anchor_method = check_choice("anchor_method", anchor_method, ANCHOR_METHODS)
    seed = resolve_seed(random_state)
    rng = np.random.default_rng(seed)
    ids = source["stimulus_id"].values
    train, test = train_test_split(np.arange(len(ids)), test_size=test_size, stratify=labels,
                                   random_state=int(rng.integers(2**31)))
    train, test = np.sort(train), np.sort(test)
    if isinstance(anchors, (int, np.integer)) and not isinstance(anchors, bool):
        chosen = select_anchors(source.isel({PRESENTATION: train}), int(anchors), method=anchor_method,
                                random_state=rng)
    else:
        chosen = np.asarray(anchors)
    readout = StitchingReadout(list(chosen), relative=relative, center=center, C=C, random_state=seed)
    readout.fit(source.isel({PRESENTATION: train}))

    def scored(x: xr.DataArray) -> float:  # against the source's labels (the stimuli are aligned): never x's own
        if not relative:
            return float(np.mean(readout.predict(x.isel({PRESENTATION: test})) == labels[test]))
        rel = relative_representation(x, list(chosen), center=center).isel({PRESENTATION: test})
        return float(np.mean(readout.readout_.predict(rel.values) == labels[test]))

    value = xr.DataArray([scored(source), scored(target)], dims=("applied_to",),
                         coords={"applied_to": ["source", "target"]})
    return Score(value, metric=f"stitching-accuracy-{'relative' if relative else 'absolute'}",
                 params={"n_anchors": len(chosen), "anchor_method": anchor_method, "test_size": test_size,
                         "relative": relative, "center": center, "C": C, "random_state": seed,
                         "n_train": len(train), "n_test": len(test), "n_neuroids": [source.sizes[NEUROID],
                                                                                      target.sizes[NEUROID]]})
