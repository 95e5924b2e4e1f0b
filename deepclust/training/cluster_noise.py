"""Within-cluster noise: tabular views that vary a sample the way the samples of its cluster vary.

Ours, not the papers': DRC, SCL and JCL take their views from augmentations written for
images, and for tables the usual views (Gaussian noise, masking, SCARF's marginal
resampling) treat every feature alike, so the network learns to keep uninformative
features as carefully as informative ones. Here the views are Gaussian noise whose
covariance is the *pooled within-cluster covariance* of the input under a clustering of
it (on the standardised and where wide PCA-reduced input: a full-covariance Gaussian
mixture with ``augment="pooled_cluster_noise"``, or k-means, the clustering of the cluster
prior, with ``"kmeans_cluster_noise"``; see :func:`~deepclust.training.prior.input_clusters`;
the tabular default, ``"cluster_noise"``, takes this pooled noise where the mixture is not
stable and each row's own component's covariance where it is,
:mod:`deepclust.training.input_mixture`): a direction in which the data vary only inside clusters (a pure-noise
feature, the length of an iris flower within its species) is perturbed as much as the data
vary along it, a direction that separates the clusters hardly at all. The network then
learns invariance to what varies within clusters, which is what a clustering should
ignore. This is the augmentation counterpart of the within-class scatter of linear
discriminant analysis, and of the Gaussian data model behind GMM; like self-labelling
(SCAN's last stage), it starts from a clustering of the data that training then refines,
and where that clustering is poor (the 64 pixels of digits as a table) it can hide the classes.
A mixture whose clusters may differ in shape gets elongated or tilted clusters right where
k-means cuts them (iris, the synthetic table), and so gives better noise: that is why it has
shaped the default since session 19 (the prior keeps k-means, whose shares served the balance
better on digits as rows).
With ``augment="network_cluster_noise"`` the clusters that shape the noise are the
network's own from epoch 10 on (:class:`ClusterNoiseRefresh`): an alternation of the views
and the clusters, close to the EM of a tied-covariance Gaussian mixture (measured on the
development tables: from k-means clusters better on iris, not on wine or digits as rows; from
the mixture's clusters worse than the mixture's fixed noise: not the default).
"""

from __future__ import annotations

import numpy as np
import torch

from .callbacks import Callback
from .head_refit import store_features

#: The first epoch whose within-cluster noise follows the network's clusters
#: (:class:`ClusterNoiseRefresh`); the epochs before it use the input's clusters.
REFRESH_START = 10


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


class ClusterNoiseRefresh(Callback):
    """Let the within-cluster noise follow the network's own clusters once training has begun.

    The noise of ``augment="network_cluster_noise"`` starts from the input's clusters; from the end
    of epoch ``start - 1`` on, after every epoch, its covariance becomes the pooled
    within-cluster covariance of the clusters the cluster head assigns (un-augmented rows,
    eval mode; the rows the input clusters were fitted on, at most 20,000). The views then vary a row
    the way the rows of *its learned cluster* vary, which a clustering of the input gets wrong
    where the clusters are not round (an alternation close to the EM of a tied-covariance
    Gaussian mixture). Ours, not the papers'.

    The factor is a function of the network at the end of the previous epoch, so a run
    resumed from a checkpoint or warm-started recomputes it at ``on_train_begin`` instead
    of storing it. Under data-parallel training rank 0's factor is broadcast. The
    estimators add it themselves for the ``"network_cluster_noise"`` preset; it is not meant to
    be passed as a user callback.

    Parameters
    ----------
    noise : CorrelatedNoise
        The op whose ``factor`` is replaced.
    space : InputSpace
        The fit's input summary (reduced rows, the rows its clusters are fitted on, standardisation).
    n_clusters : int
        The number of clusters.
    store : TensorStore
        The training data.
    start : int, default=REFRESH_START
        The first epoch trained with the refreshed noise.

    Examples
    --------
    After an epoch past ``start`` the noise is that of the clusters the network predicts:

    >>> import types
    >>> import numpy as np, torch
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering
    >>> from deepclust.augment import CorrelatedNoise
    >>> from deepclust.training.cluster_noise import ClusterNoiseRefresh
    >>> from deepclust.training.data import TensorStore
    >>> from deepclust.training.input_space import InputSpace
    >>> X = make_blobs(n_samples=90, centers=3, random_state=0)[0].astype(np.float32)
    >>> model = DRCClustering(n_clusters=3, max_epochs=2, n_init=1, device="cpu", random_state=0).fit(X)
    >>> space = InputSpace(X, X.mean(0), X.std(0), seed=0)
    >>> noise = CorrelatedNoise(torch.as_tensor(space.within_cluster_factor(3)))
    >>> refresh = ClusterNoiseRefresh(noise, space, 3, TensorStore(X, "cpu"), start=1)
    >>> refresh.on_epoch_end(types.SimpleNamespace(module=model.module_, distributed=None), {"epoch": 0})
    >>> expected = space.within_cluster_factor(3, labels=model.predict(X))
    >>> bool(np.allclose(noise.factor.numpy(), expected, atol=1e-6))
    True
    """

    def __init__(self, noise, space, n_clusters: int, store, start: int | None = None):
        self.noise = noise
        self.space = space
        self.n_clusters = int(n_clusters)
        self.store = store
        self.start = REFRESH_START if start is None else int(start)

    def on_train_begin(self, trainer) -> None:
        if trainer.next_epoch >= self.start:  # resumed or warm-started past the start
            self._refresh(trainer)

    def on_epoch_end(self, trainer, entry) -> None:
        if entry["epoch"] + 1 >= self.start:
            self._refresh(trainer)

    @torch.no_grad()
    def _refresh(self, trainer) -> None:
        rows = self.space.cluster_rows()  # the rows the input's clusters were fitted on
        # store_features runs the backbone in eval mode; the cluster head (Linear/ReLU) has no
        # mode-dependent layers.
        features = store_features(trainer.module, self.store, rows=rows)
        labels = trainer.module.cluster_head(features).argmax(1).cpu().numpy()
        factor = torch.as_tensor(self.space.within_cluster_factor(self.n_clusters, labels=labels))
        if trainer.distributed is not None:
            trainer.distributed.broadcast_(factor)
        self.noise.factor = factor
