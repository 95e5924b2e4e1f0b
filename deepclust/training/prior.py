"""The cluster prior: the cluster shares the balance term pulls towards.

Ours, not the papers': DRC, SCL and JCL (like CC and SCAN) balance the clusters towards
equal sizes, which caps the accuracy on unbalanced data (breast cancer, 212/357 samples:
an equal split can be at most 0.87 right). Here the shares are estimated once per fit from
k-means on the input (standardised, PCA-reduced where wide: the same space as the input
neighbour graph), half-way towards equal shares so that no cluster is allowed to vanish.
:func:`input_clusters` also clusters that input with a full-covariance Gaussian mixture,
for the tables' within-cluster noise (:mod:`deepclust.training.cluster_noise`).
Cluster indices are arbitrary, so the balance terms compare the sorted shares
(:func:`deepclust.nn.losses.squared_balance`).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

_FIT_ROWS = 20_000

#: The clusterers the input may be clustered with (``input_clusters``).
INPUT_CLUSTERERS = ("kmeans", "gmm")

#: Weight of the equal shares in the estimated prior (the rest: the k-means shares).
UNIFORM_MIX = 0.5


def input_cluster_prior(
    reduced: np.ndarray, n_clusters: int, seed: int = 0, uniform_mix: float = UNIFORM_MIX, labels=None
) -> np.ndarray:
    """Cluster shares of k-means on ``reduced`` rows, mixed with equal shares.

    Parameters
    ----------
    reduced : ndarray of shape (n, d)
        The input as :func:`deepclust.training.neighbors.reduced_input` returns it.
    n_clusters : int
        K.
    seed : int
        Seeds k-means and the subsample it is fitted on (at most 20,000 rows).
    uniform_mix : float
        Weight of the equal shares.
    labels : ndarray or None
        The k-means labels of :func:`input_clusters`, when the caller has them already.

    Returns
    -------
    ndarray of shape (K,)
        Positive shares summing to one, largest first.

    Examples
    --------
    >>> import numpy as np
    >>> from deepclust.training.prior import input_cluster_prior
    >>> rows = np.r_[np.zeros((30, 2)), np.ones((10, 2)) * 9]
    >>> input_cluster_prior(rows, 2, uniform_mix=0.0).round(3).tolist()
    [0.75, 0.25]
    >>> input_cluster_prior(rows, 2).round(3).tolist()
    [0.625, 0.375]
    """
    if n_clusters < 2 or reduced.shape[0] <= n_clusters:
        return np.full(n_clusters, 1.0 / n_clusters)
    if labels is None:
        labels = input_clusters(reduced, n_clusters, seed)[1]
    return prior_from_labels(labels, n_clusters, uniform_mix)


def prior_from_labels(labels: np.ndarray, n_clusters: int, uniform_mix: float = UNIFORM_MIX) -> np.ndarray:
    """The shares of ``labels`` mixed with equal shares (weight ``uniform_mix``), largest first.

    Examples
    --------
    >>> import numpy as np
    >>> from deepclust.training.prior import prior_from_labels
    >>> prior_from_labels(np.array([0, 0, 0, 1]), 2).round(3).tolist()
    [0.625, 0.375]
    """
    uniform = np.full(n_clusters, 1.0 / n_clusters)
    prior = (1.0 - uniform_mix) * np.bincount(labels, minlength=n_clusters) / labels.size + uniform_mix * uniform
    return np.sort(prior)[::-1] / prior.sum()


def subsampled_kmeans(x: np.ndarray, n_clusters: int, seed: int = 0, n_init: int = 3):
    """k-means (``n_init`` initialisations, seeded) on at most 20,000 of the rows of ``x``.

    The one k-means of the engine: the input clusters of the prior and the noise
    (:func:`input_clusters`) and the head refit
    (:func:`~deepclust.training.head_refit.refit_head_to_kmeans`) both run it.

    Returns
    -------
    rows : ndarray of shape (m,)
        The sorted indices of the rows k-means was fitted on (all rows when ``n <= 20,000``;
        otherwise a random sample drawn from ``seed``).
    kmeans : sklearn.cluster.KMeans
        Fitted on those rows (``kmeans.labels_`` are theirs; ``predict`` labels the others).

    Examples
    --------
    >>> import numpy as np
    >>> from deepclust.training.prior import subsampled_kmeans
    >>> rows, kmeans = subsampled_kmeans(np.r_[np.zeros((3, 2)), np.ones((2, 2))], 2)
    >>> rows.tolist(), sorted(np.bincount(kmeans.labels_).tolist())
    ([0, 1, 2, 3, 4], [2, 3])
    """
    from sklearn.cluster import KMeans

    rows = cluster_rows(x.shape[0], seed)
    fit_rows = x if rows.size == x.shape[0] else x[rows]  # no copy when every row is used
    with warnings.catch_warnings():
        # Duplicated rows give k-means fewer distinct clusters than K (its ConvergenceWarning):
        # it still labels every row, the prior's uniform mix keeps every cluster alive, and
        # the user's fit reports a collapse itself if it happens.
        warnings.simplefilter("ignore", ConvergenceWarning)
        kmeans = KMeans(n_clusters, n_init=n_init, random_state=seed % (2**32)).fit(fit_rows)
    return rows, kmeans


def cluster_rows(n: int, seed: int = 0, limit: int = _FIT_ROWS) -> np.ndarray:
    """The sorted indices of the rows the input is clustered on: all ``n`` up to ``limit``,
    else ``limit`` of them drawn from ``seed``.

    Every clustering of the input (k-means, the mixture) is fitted on these rows, and the
    mixture draws its own, smaller sample the same way.

    Examples
    --------
    >>> from deepclust.training.prior import cluster_rows
    >>> cluster_rows(4).tolist(), cluster_rows(10, seed=0, limit=3).size
    ([0, 1, 2, 3], 3)
    """
    rng = np.random.default_rng(seed)
    return np.arange(n) if n <= limit else np.sort(rng.choice(n, limit, replace=False))


def input_clusters(
    reduced: np.ndarray, n_clusters: int, seed: int = 0, method: str = "kmeans"
) -> tuple[np.ndarray, np.ndarray]:
    """The clusters of at most 20,000 of the ``reduced`` rows: k-means or a Gaussian mixture.

    Parameters
    ----------
    reduced : ndarray of shape (n, d)
        The input as :func:`deepclust.training.neighbors.reduced_input` returns it.
    n_clusters : int
        K.
    seed : int
        Seeds the subsample and the clusterer.
    method : {"kmeans", "gmm"}
        "kmeans": :func:`subsampled_kmeans` (3 initialisations). "gmm": a Gaussian mixture
        with full covariances (:func:`~deepclust.training.input_mixture.gaussian_mixture_labels`), whose clusters may differ in
        shape and orientation, as the classes of a table often do.

    Returns
    -------
    rows : ndarray of shape (m,)
        The sorted indices of the rows the clusterer was fitted on (all rows when ``n <= 20,000``).
    labels : ndarray of shape (m,)
        Their clusters. With ``n_clusters < 2`` or no more rows than clusters, one cluster.

    Examples
    --------
    >>> import numpy as np
    >>> from deepclust.training.prior import input_clusters
    >>> rows, labels = input_clusters(np.r_[np.zeros((3, 2)), np.ones((2, 2))], 2)
    >>> rows.tolist(), sorted(np.bincount(labels).tolist())
    ([0, 1, 2, 3, 4], [2, 3])
    """
    if method not in INPUT_CLUSTERERS:
        raise ValueError(f"method must be one of {INPUT_CLUSTERERS}, got {method!r}")
    n = reduced.shape[0]
    if n_clusters < 2 or n <= n_clusters:
        rows = cluster_rows(n, seed)
        return rows, np.zeros(rows.size, dtype=np.int64)
    if method == "gmm":
        from .input_mixture import gaussian_mixture_labels  # it builds on this module

        rows = cluster_rows(n, seed)
        return rows, gaussian_mixture_labels(reduced[rows], n_clusters, seed)
    rows, kmeans = subsampled_kmeans(reduced, n_clusters, seed)
    return rows, kmeans.labels_
