"""A pixel-space observer: k nearest neighbours among labelled images, on raw pixels.

It shares none of a network's invariances, so it tells how much of a
metamer's class information survives in the pixels themselves (the baseline
observer of the MNIST metamer study).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from ..errors import ConfigError, DataError
from .classify import as_images

__all__ = ["PixelKNN"]


class PixelKNN:
    """k-nearest-neighbour classification of flattened pixels (scikit-learn's ``KNeighborsClassifier``).

    Parameters
    ----------
    n_neighbors : int
        Number of neighbours that vote.
    metric : str
        Distance between flattened images (any scikit-learn metric name).
    weights : {"uniform", "distance"}
        How the neighbours' votes count.

    Attributes
    ----------
    classifier_ : sklearn.neighbors.KNeighborsClassifier
        The fitted classifier.
    image_shape_ : tuple of int
        ``(C, H, W)`` of the training images; images to classify must match.
    classes_ : numpy.ndarray
        The labels seen in training.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.pixel_observer import PixelKNN
    >>> images = np.zeros((4, 1, 2, 2), dtype=np.float32)
    >>> images[2:] = 1.0
    >>> knn = PixelKNN(n_neighbors=1).fit(images, [0, 0, 1, 1])
    >>> knn(images + 0.1).tolist()
    [0, 0, 1, 1]
    """

    def __init__(self, n_neighbors: int = 1, *, metric: str = "euclidean", weights: str = "uniform"):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.weights = weights

    def fit(self, images: Any, labels: Any) -> "PixelKNN":
        """Store the training images and labels.

        Parameters
        ----------
        images : torch.Tensor, numpy array or xarray.DataArray
            ``(N, C, H, W)`` (a DataArray with dims ``presentation, channel, row, col``).
        labels : array_like
            One label per image.

        Returns
        -------
        PixelKNN
            ``self``.
        """
        if isinstance(self.n_neighbors, bool) or not isinstance(self.n_neighbors, (int, np.integer)) \
                or self.n_neighbors < 1:
            raise ConfigError(f"n_neighbors must be a positive integer, got {self.n_neighbors!r}",
                              source="n_neighbors", fix="pass e.g. n_neighbors=1")
        pixels, shape = _pixels(images, "images")
        labels = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels)
        if labels.shape != (len(pixels),):
            raise DataError(f"labels have shape {labels.shape} for {len(pixels)} images", source="labels",
                            fix="pass one label per training image")
        if len(pixels) < self.n_neighbors:
            raise DataError(f"{len(pixels)} training images for n_neighbors={self.n_neighbors}", source="images",
                            fix="pass more training images or lower n_neighbors")
        try:
            classifier = KNeighborsClassifier(n_neighbors=int(self.n_neighbors), metric=self.metric,
                                              weights=self.weights)
            classifier.fit(pixels, labels)
        except ValueError as exc:
            raise ConfigError(f"scikit-learn rejects the settings ({exc})", source="PixelKNN",
                              fix="use a scikit-learn metric name and weights='uniform' or 'distance'") from exc
        self.classifier_ = classifier
        self.image_shape_ = shape
        self.classes_ = classifier.classes_
        return self

    def predict(self, images: Any) -> np.ndarray:
        """The label of each image: ``(N,)``."""
        if not hasattr(self, "classifier_"):
            raise ConfigError("this PixelKNN is not fitted", source="PixelKNN",
                              fix="call .fit(images, labels) first")
        pixels, shape = _pixels(images, "images")
        if shape != self.image_shape_:
            raise DataError(f"images have shape {shape} per image; the observer was fitted on {self.image_shape_}",
                            source="images", fix="classify images of the training images' size")
        return self.classifier_.predict(pixels)

    def __call__(self, images: Any) -> np.ndarray:
        """Same as :meth:`predict`, so that a PixelKNN is an observer of
        :func:`~neuroalign.metamers.recognition.recognisability`."""
        return self.predict(images)

    def __repr__(self) -> str:
        return f"PixelKNN(n_neighbors={self.n_neighbors!r}, metric={self.metric!r}, weights={self.weights!r})"


def _pixels(images: Any, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    tensor, _ = as_images(images, name)
    values = tensor.cpu().double().numpy()
    return values.reshape(len(values), -1), tuple(values.shape[1:])
