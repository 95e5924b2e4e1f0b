"""Within-cluster noise: tabular views that vary a sample the way the samples of its cluster vary.

Ours, not the papers': DRC, SCL and JCL take their views from augmentations written for
images, and for tables the usual views (Gaussian noise, masking, SCARF's marginal
resampling) treat every feature alike, so the network learns to keep uninformative
features as carefully as informative ones. Here the views are Gaussian noise whose
covariance is the *pooled within-cluster covariance* of the input under a k-means
clustering (the same k-means, on the standardised and where wide PCA-reduced input, as the
cluster prior's): a direction in which the data vary only inside clusters (a pure-noise
feature, the length of an iris flower within its species) is perturbed as much as the data
vary along it, a direction that separates the clusters hardly at all. The network then
learns invariance to what varies within clusters, which is what a clustering should
ignore. This is the augmentation counterpart of the within-class scatter of linear
discriminant analysis, and of the Gaussian data model behind GMM; like self-labelling
(SCAN's last stage), it starts from a clustering of the data that training then refines,
and where k-means is poor (the 64 pixels of digits as a table) it can hide the classes.
"""

from __future__ import annotations

import numpy as np


def within_cluster_factor(reduced: np.ndarray, labels: np.ndarray, components: np.ndarray | None, std) -> np.ndarray:
    """The ``(r, n_features)`` factor ``F`` with ``F.T @ F`` the pooled within-cluster covariance.

    Parameters
    ----------
    reduced : ndarray of shape (m, r)
        Rows of the standardised (and where wide PCA-reduced) input.
    labels : ndarray of shape (m,)
        Their clusters.
    components : ndarray of shape (r, n_features) or None
        The PCA components that map a reduced row to the standardised features (None: the
        rows are the standardised features themselves).
    std : array-like of shape (n_features,)
        Per-feature standard deviations: the factor is returned on the input's own scale.

    Returns
    -------
    ndarray of shape (r, n_features), float32
        ``z @ F`` with ``z ~ N(0, I_r)`` is noise whose covariance (in the raw features) is
        the pooled within-cluster covariance, restricted to the reduced space.

    Examples
    --------
    >>> import numpy as np
    >>> from deepclust.training.cluster_noise import within_cluster_factor
    >>> rows = np.array([[-1.0, -5.0], [1.0, -5.0], [-1.0, 5.0], [1.0, 5.0]])  # feature 1 separates
    >>> F = within_cluster_factor(rows, np.array([0, 0, 1, 1]), None, std=[1.0, 1.0])
    >>> (F.T @ F).round(3).tolist()  # all of the within-cluster variance is along feature 0
    [[1.0, 0.0], [0.0, 0.0]]
    """
    reduced = np.asarray(reduced, dtype=np.float64)
    labels = np.asarray(labels)
    centred = reduced.copy()
    for cluster in np.unique(labels):
        members = labels == cluster
        centred[members] -= reduced[members].mean(axis=0)
    covariance = centred.T @ centred / max(len(reduced), 1)
    # A symmetric square root (eigen-decomposition, not Cholesky): exact zeros, such as a
    # constant feature's, stay zeros instead of failing the decomposition.
    values, vectors = np.linalg.eigh(covariance)
    factor = (vectors * np.sqrt(np.clip(values, 0.0, None))).T
    if components is not None:
        factor = factor @ np.asarray(components, dtype=np.float64)
    return (factor * np.asarray(std, dtype=np.float64).reshape(1, -1)).astype(np.float32)
