"""Refitting the cluster head to k-means on the learned representation (ours, not the papers').

After contrastive training the *representation* (the backbone's output) is often better
clustered than the head's own argmax: on the development tables (DRC, session 17, seeds
0-2) k-means on the L2-normalised representation scored ACC 0.876 on digits as rows where
the head gave 0.779, and higher or equal on every one of the eight tables. The head is the
estimators' predictor (``predict``, ``predict_proba``, ``score``), so instead of replacing
it, the refit *trains the head* (backbone frozen) with cross-entropy on the k-means labels
of the un-augmented training data. ``labels_`` and ``predict`` then agree with k-means on
the training data (a linear or two-layer head reproduces the k-means cells: agreement 1.0
on four development tables, DRC and JCL), and ``predict`` stays a forward pass on new data.
The k-means clusters are numbered to match the trained head's (Hungarian matching), so
cluster ``k`` keeps its meaning, and a warm start goes on training from the head training
left (the estimators carry it in their training state), so 2 + 2 epochs still equal 4.

**Held to the input mixture's core** (``head_refit="mixture"``, the tables' default since
session 21). Where the input's full-covariance Gaussian mixture is stable
(:mod:`deepclust.training.input_mixture`), it is often the better partition of a table (the
synthetic table: mixture 0.990, the networks' k-means 0.956-0.975), while the representation
is the better judge of the rows the mixture is unsure of (iris: mixture 0.967, networks
0.973-0.978). The refit's k-means is then constrained k-means (Basu, Banerjee & Mooney 2002):
the rows the mixture assigns with posterior probability at least 0.99 keep its clusters, the
centroids start from their means, and every other row goes to its nearest centroid in the
representation. Development tables with a stable mixture (seeds 0-2, one restart): DRC 0.960
-> 0.962, SCL 0.957 -> 0.963, JCL 0.952 -> 0.962 (synthetic 0.956-0.975 -> 0.986-0.988, wine
+0.008 to +0.017, breast cancer DRC 0.943 -> 0.937, SCL 0.933 -> 0.937). Where the mixture is
unstable, or cannot be fitted, the k-means is the free one above. Since session 27 the rows
whose mixture cluster every refit of the mixture on 80 % of the rows reproduces also keep it
(:func:`~deepclust.training.input_mixture.reproduced_rows`): near a well-estimated boundary the
mixture's posterior is the better judge even where it is unsure (``synthetic_e``, 1,000 rows
of three Gaussian classes: 0.931 -> 0.959 offline), and where the boundary is poorly
estimated (wine) resampling moves those rows and the representation places them.

Nothing of this is in DRC, SCL or JCL; it is the last step of DeepCluster-style pipelines
(k-means pseudo-labels, Caron et al. 2018) and close to SCAN's self-labelling stage (Van
Gansbeke et al. 2020), which also retrains on the fitted network's own clusters. The
estimators use it for tables by default (``head_refit="auto"``); on images "auto" is the
objective's own choice (``Objective.image_head_refit``): JCL refits (k-means on its
representation beat its head on USPS and MNIST and was within 0.003 on digits and COIL-20),
DRC and SCL keep the head as trained where it agrees with that k-means (DRC's head beat
k-means on digits images by 0.01; SCL's agreed with it; benchmarks/results_notes.md,
sessions 10 and 18) and refit it where it does not (``"kmeans_if_disagree"``, since
session 24; ``"graph_if_disagree"`` since session 25, below).

**Only where the head disagrees** (``head_refit="kmeans_if_disagree"``, DRC's and SCL's
choice for images since session 24). A head that agrees with k-means on its own
representation is a labelling of that representation, and the two differ in the rows
between clusters (DRC on digits images: ARI 0.97, head 0.98, k-means 0.97). A head that
disagrees has drifted from the representation: it split a cluster the representation
keeps whole, or merged two (the JCL fit on USPS that split the zeros: ARI 0.82, head 0.866,
k-means 0.983; DRC on COIL-20, seed 0: ARI 0.87, head 0.756, k-means 0.825). So the head
is refitted where the adjusted Rand index between its labels and the k-means' is below
:data:`HEAD_KEPT_ARI` (0.9, set before COIL-20's measurements) and kept elsewhere. DRC on
digits, USPS and MNIST images and SCL on digits and USPS agreed at 0.946-1.0 (sessions 10 and
24), so their fits there are unchanged; on COIL-20 (seeds 0-2) one DRC fit of three was refitted.

**The representation's graph, where it falls apart** (``head_refit="graph"``, JCL's choice
for images, and ``"graph_if_disagree"``, DRC's and SCL's, since session 25). Where the
10-nearest-neighbour graph of the normalised representation falls into a few large
connected pieces, the partition fitted (and, with ``"graph_if_disagree"``, compared with the
head) is the spectral clustering of that graph instead of k-means
(:mod:`deepclust.training.representation_graph`); elsewhere nothing changes. The
history's ``head_kmeans_ari`` is then the head's agreement with that partition.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .prior import cluster_rows, subsampled_kmeans
from .representation_graph import graph_partition

__all__ = [
    "HEAD_KEPT_ARI", "HEAD_REFIT_AUTO", "HEAD_REFITS", "MIN_AGREEMENT", "constrained_kmeans", "refit_head",
    "refit_head_to_kmeans", "resolve_head_refit", "store_features",
]

#: Values of the estimators' ``head_refit`` parameter (besides "auto" and None).
HEAD_REFITS = ("kmeans", "mixture", "kmeans_if_disagree", "graph", "graph_if_disagree")
#: What ``head_refit="auto"`` means for tabular data and, unless the objective says otherwise
#: (its ``image_head_refit``: "graph" for JCL, "graph_if_disagree" for DRC and SCL), for images.
HEAD_REFIT_AUTO = {"tabular": "mixture", "image": None}

# k-means (on at most 20,000 rows, then labelling all of them: subsampled_kmeans).
_KMEANS_INIT = 10
# The head's cross-entropy fit: cheap (features computed once), and enough steps for the
# head to reproduce the k-means cells (agreement 1.0 on the development tables measured).
_STEPS = 300
_BATCH = 1024
_LR = 1e-2
_FEATURE_BATCH = 1024
_CONSTRAINED_MAX_ITER = 100
#: Below this share of training rows on which the refitted head agrees with k-means, the
#: trained head is kept.
MIN_AGREEMENT = 0.9
#: With "kmeans_if_disagree" the trained head is kept where its labels agree with the k-means
#: at this adjusted Rand index or more (session 24: DRC's head on COIL-20 0.87-0.97, on digits,
#: USPS and MNIST images 0.946-0.980; SCL's 0.97-1.0).
HEAD_KEPT_ARI = 0.9


def resolve_head_refit(head_refit: str | None, kind: str, image_auto: str | None = None) -> str | None:
    """``head_refit`` with ``"auto"`` resolved for the input ``kind`` ("tabular" or "image").

    ``image_auto`` is the objective's own choice for images (``Objective.image_head_refit``).

    Examples
    --------
    >>> from deepclust.training.head_refit import resolve_head_refit
    >>> resolve_head_refit("auto", "tabular"), resolve_head_refit("auto", "image"), resolve_head_refit(None, "tabular")
    ('mixture', None, None)
    >>> resolve_head_refit("auto", "image", image_auto="graph")  # JCL
    'graph'
    >>> resolve_head_refit("auto", "image", image_auto="graph_if_disagree")  # DRC, SCL
    'graph_if_disagree'
    """
    if head_refit == "auto":
        return image_auto if kind == "image" else HEAD_REFIT_AUTO[kind]
    if head_refit is not None and head_refit not in HEAD_REFITS:
        raise ValueError(f"head_refit={head_refit!r}: use 'auto', {', '.join(map(repr, HEAD_REFITS))} or None.")
    return head_refit


@torch.no_grad()
def store_features(module: torch.nn.Module, store, batch_size: int = _FEATURE_BATCH, rows=None) -> torch.Tensor:
    """The eval-mode backbone features of the rows of ``store`` (all, or the indices ``rows``;
    float32, on the store's device).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from deepclust.nn.backbones import MLPBackbone
    >>> from deepclust.nn.model import ClusterNet, Standardize
    >>> from deepclust.training.data import TensorStore
    >>> from deepclust.training.head_refit import store_features
    >>> net = ClusterNet(MLPBackbone(2, hidden=(8,), out_features=4), 4, 2, Standardize(torch.zeros(2), torch.ones(2), image=False), None)
    >>> store_features(net, TensorStore(np.ones((5, 2), dtype=np.float32), "cpu"), batch_size=2).shape
    torch.Size([5, 4])
    """
    was_training = module.training
    module.eval()
    try:
        chunks = []
        rows = torch.arange(len(store)) if rows is None else torch.as_tensor(rows, dtype=torch.long)
        for start in range(0, rows.numel(), batch_size):
            chunks.append(module.forward_features(store.get(rows[start : start + batch_size])).float())
        return torch.cat(chunks)
    finally:
        module.train(was_training)


def refit_head(
    refit: str, module: torch.nn.Module, store, n_clusters: int, seed: int, distributed=None, space=None
) -> dict:
    """The head refit ``refit`` (one of :data:`HEAD_REFITS`) of a trained network.

    "mixture" holds the k-means to the confident core of the stable input mixture of
    ``space`` (:meth:`~deepclust.training.input_space.InputSpace.mixture_core`); without one
    (or with "kmeans") the k-means is free. "kmeans_if_disagree" refits to the free k-means
    only where the trained head's labels agree with it at an adjusted Rand index below
    :data:`HEAD_KEPT_ARI`, and keeps the head elsewhere. "graph" and "graph_if_disagree" are
    "kmeans" and "kmeans_if_disagree" with the partition of the representation's neighbour
    graph in place of the k-means where that graph is separated
    (:func:`~deepclust.training.representation_graph.graph_partition`).

    Returns
    -------
    dict
        What the estimators write into the last epoch of ``history_``:
        ``head_refit_target`` ("kmeans", "mixture", "graph", or None where the head was kept),
        ``head_refit_agreement`` (as :func:`refit_head_to_kmeans` returns it; only where the
        head was refitted), with "mixture" ``input_mixture`` (what the engine made of the
        input's mixture: "stable", "unstable" or None,
        :meth:`~deepclust.training.input_space.InputSpace.mixture_state`) and, held to a core,
        ``head_refit_core`` (the share of the rows the mixture labels in that core: all
        training rows, or 20,000 of them) and,
        for the ``*_if_disagree`` refits, ``head_kmeans_ari`` (the trained head's agreement
        with the partition it was compared with).

    Examples
    --------
    The estimators call it at the end of every training run; the history says which ran:

    >>> import numpy as np
    >>> from deepclust import DRCClustering
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (40, 2)), rng.normal(8, 1, (20, 2))].astype(np.float32)
    >>> for refit in ("mixture", "kmeans"):
    ...     model = DRCClustering(n_clusters=2, max_epochs=2, n_init=1, head_refit=refit, random_state=0).fit(X)
    ...     print(model.history_[-1]["head_refit_target"])
    mixture
    kmeans
    """
    if refit not in HEAD_REFITS:
        raise ValueError(f"refit={refit!r}: use one of {HEAD_REFITS}.")
    reads_mixture = refit == "mixture" and space is not None
    core = space.mixture_core(n_clusters) if reads_mixture else None
    keep_from = HEAD_KEPT_ARI if refit.endswith("_if_disagree") else None
    result = _refit(module, store, n_clusters, seed, distributed, core, keep_from, graph=refit.startswith("graph"))
    entries = {} if result.head_ari is None else {"head_kmeans_ari": result.head_ari}
    if reads_mixture:  # why the core is there or not (mixture_core fitted the mixture; cached)
        entries["input_mixture"] = space.mixture_state(n_clusters)
    if core is not None:  # how much of the data the mixture decided (of the rows it labels: at most 20,000)
        entries["head_refit_core"] = core[0].size / space.cluster_rows().size
    if result.kept:
        return {"head_refit_target": None, **entries}
    return {"head_refit_agreement": result.agreement, "head_refit_target": result.target, **entries}


def refit_head_to_kmeans(
    module: torch.nn.Module, store, n_clusters: int, seed: int, distributed=None, seeds=None
) -> tuple[np.ndarray | None, float]:
    """Train ``module.cluster_head`` to reproduce k-means on the normalised representation.

    Parameters
    ----------
    module : ClusterNet
        The trained network; only its ``cluster_head`` changes.
    store : TensorStore
        The training data (un-augmented rows are used).
    n_clusters : int
        Number of clusters of the k-means.
    seed : int
        Seeds the k-means, its row sample and the head's batches.
    distributed : DistributedContext or None
        Under data-parallel training every rank computes the same refit; rank 0's head is
        then broadcast so that the ranks hold identical weights whatever the hardware.
    seeds : tuple of (rows, labels) or None
        Rows whose clusters are given (e.g. the confident core of the input's Gaussian
        mixture, ``head_refit="mixture"``), every cluster among them: the k-means is then
        :func:`constrained_kmeans`, started from and held to those rows. None: k-means++
        with ``10`` initialisations.

    Returns
    -------
    labels : ndarray of shape (n_samples,) or None
        The k-means labels the head was fitted to; None (head unchanged) when the
        representation is not finite (a diverged fit keeps its head) or when the refitted
        head agrees with them on fewer than :data:`MIN_AGREEMENT` of the rows.
    agreement : float
        That share (NaN for a non-finite representation).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from deepclust.nn.backbones import MLPBackbone
    >>> from deepclust.nn.model import ClusterNet, Standardize
    >>> from deepclust.training.data import TensorStore
    >>> from deepclust.training.head_refit import refit_head_to_kmeans
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> X = np.r_[np.zeros((20, 2)), np.full((20, 2), 5.0)].astype(np.float32)
    >>> X += np.random.default_rng(0).normal(scale=0.1, size=X.shape).astype(np.float32)
    >>> net = ClusterNet(MLPBackbone(2, hidden=(8,), out_features=4), 4, 2, Standardize(torch.zeros(2), torch.ones(2), image=False), None)
    >>> labels, agreement = refit_head_to_kmeans(net, TensorStore(X, "cpu"), 2, seed=0)
    >>> head = net.eval()(torch.from_numpy(X)).logits.argmax(1).numpy()
    >>> bool((head == labels).all()), agreement, sorted(np.bincount(labels).tolist())
    (True, 1.0, [20, 20])
    """
    result = _refit(module, store, n_clusters, seed, distributed, seeds)
    return result.labels, result.agreement


class _Refit(NamedTuple):
    labels: np.ndarray | None  # the target the head was fitted to; None where it was not changed
    agreement: float  # share of rows on which the refitted head reproduces the target
    head_ari: float | None  # the trained head's ARI with the target (only when asked to keep)
    kept: bool  # the head was kept for its agreement (rank 0's decision under DDP)
    target: str  # "kmeans", "mixture" or "graph": which clustering made the target


def _refit(
    module, store, n_clusters: int, seed: int, distributed, seeds, keep_from: float | None = None, graph: bool = False
) -> _Refit:
    """:func:`refit_head_to_kmeans`; with ``keep_from`` no refit where the trained head's
    labels agree with the target at that adjusted Rand index or more; with ``graph`` the target
    is the spectral clustering of the representation's neighbour graph where that graph is
    separated (:mod:`deepclust.training.representation_graph`).
    """
    from sklearn.metrics import adjusted_rand_score

    features = store_features(module, store)
    source = "kmeans" if seeds is None else "mixture"
    if not bool(torch.isfinite(features).all()):
        return _Refit(None, float("nan"), None, False, source)
    z = F.normalize(features, dim=1).cpu().numpy().astype(np.float64)
    labels = _graph_labels(z, n_clusters, seed, distributed) if graph and seeds is None else None
    if labels is not None:
        source = "graph"
    elif seeds is None:
        _, kmeans = subsampled_kmeans(z, n_clusters, seed, n_init=_KMEANS_INIT)
        labels = kmeans.predict(z).astype(np.int64)
    else:
        labels = constrained_kmeans(z, *seeds, n_clusters)
    with torch.no_grad():
        trained_labels = module.cluster_head(features).argmax(1).cpu().numpy()
    head_ari = None
    if keep_from is not None:
        head_ari = float(adjusted_rand_score(trained_labels, labels))
        keep = head_ari >= keep_from
        if distributed is not None:
            # Rank 0 decides: a rank that refitted alone would wait at the broadcast below forever.
            keep = bool(distributed.broadcast_int(int(keep)))
        if keep:
            return _Refit(None, float("nan"), head_ari, True, source)
    labels = _matched_to(labels, trained_labels, n_clusters)
    target = torch.from_numpy(labels).to(features.device)
    trained = {k: v.clone() for k, v in module.cluster_head.state_dict().items()}
    _fit_head(module.cluster_head, features, target, seed)
    with torch.no_grad():
        agreement = float((module.cluster_head(features).argmax(1) == target).float().mean())
    if agreement < MIN_AGREEMENT:
        # The head could not draw these cells in its few steps (not seen on the development
        # tables): keep the head training left rather than a poor copy.
        module.cluster_head.load_state_dict(trained)
        labels = None
    if distributed is not None:
        distributed.broadcast_(*(p.data for p in module.cluster_head.parameters()))
    return _Refit(labels, agreement, head_ari, False, source)


def _graph_labels(z: np.ndarray, n_clusters: int, seed: int, distributed) -> np.ndarray | None:
    """The graph partition of the rows of ``z`` (fitted on at most 20,000 of them, the others
    labelled by their nearest fitted row), or None where the graph is not separated; under
    data-parallel training rank 0 decides which.
    """
    from sklearn.neighbors import NearestNeighbors

    rows = cluster_rows(z.shape[0], seed)
    sample = z[rows]
    labels = graph_partition(sample, n_clusters, seed)
    if distributed is not None and bool(distributed.broadcast_int(int(labels is not None))) != (labels is not None):
        # This rank's features (another device's rounding) disagree with rank 0's: follow rank 0.
        labels = None if labels is not None else graph_partition(sample, n_clusters, seed, force=True)
    if labels is None or rows.size == z.shape[0]:
        return labels
    nearest = NearestNeighbors(n_neighbors=1).fit(sample).kneighbors(z, return_distance=False)[:, 0]
    return labels[nearest]


def constrained_kmeans(
    x: np.ndarray, rows: np.ndarray, labels: np.ndarray, n_clusters: int, max_iter: int = _CONSTRAINED_MAX_ITER
) -> np.ndarray:
    """k-means of ``x`` whose rows ``rows`` keep their given ``labels``.

    Constrained k-means (Basu, Banerjee & Mooney 2002, "Semi-supervised clustering by
    seeding"): the centroids start as the means of the given rows of each cluster; each
    iteration assigns every other row to its nearest centroid, keeps the given rows where
    they are, and moves the centroids to the means of their members, until no row moves.

    Parameters
    ----------
    x : ndarray of shape (n, d)
    rows : ndarray of shape (m,)
        Indices of the rows with given clusters.
    labels : ndarray of shape (m,)
        Their clusters, each of ``0 .. n_clusters - 1`` at least once.
    n_clusters : int
    max_iter : int
        Iterations at most (the development tables converged within ten).

    Returns
    -------
    ndarray of shape (n,)
        Every row's cluster; ``labels`` at ``rows``.

    Examples
    --------
    >>> import numpy as np
    >>> from deepclust.training.head_refit import constrained_kmeans
    >>> x = np.array([[0.0], [0.2], [0.4], [3.0], [3.2], [10.0]])
    >>> constrained_kmeans(x, np.array([0, 5]), np.array([0, 1]), 2).tolist()  # 3.0 and 3.2 join 0's cluster
    [0, 0, 0, 0, 0, 1]
    >>> constrained_kmeans(x, np.array([0, 3]), np.array([1, 0]), 2).tolist()
    [1, 1, 1, 0, 0, 0]
    """
    from sklearn.metrics import pairwise_distances_argmin

    rows = np.asarray(rows, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if rows.ndim != 1 or rows.shape != labels.shape:
        raise ValueError(f"rows and labels must be 1-d of the same length, got {rows.shape} and {labels.shape}.")
    if rows.size and (rows.min() < 0 or rows.max() >= x.shape[0]):
        raise ValueError(f"rows must index the {x.shape[0]} rows of x.")
    if labels.size and (labels.min() < 0 or labels.max() >= n_clusters):
        raise ValueError(f"labels must lie in [0, n_clusters={n_clusters}).")
    if np.bincount(labels, minlength=n_clusters).min() < 1:
        raise ValueError("constrained_kmeans needs at least one given row in each of the n_clusters clusters.")
    assigned = np.zeros(x.shape[0], dtype=np.int64)
    assigned[rows] = labels
    members = np.zeros(x.shape[0], dtype=bool)
    members[rows] = True  # the centroids start from the given rows only
    for _ in range(max(int(max_iter), 1)):
        centroids = np.stack([x[members & (assigned == k)].mean(0) for k in range(n_clusters)])
        moved = pairwise_distances_argmin(x, centroids)
        moved[rows] = labels
        if members.all() and np.array_equal(moved, assigned):
            break
        assigned, members = moved, np.ones(x.shape[0], dtype=bool)
    return assigned


def _matched_to(labels: np.ndarray, reference: np.ndarray, n_clusters: int) -> np.ndarray:
    """``labels`` renumbered to agree most with ``reference`` (the Hungarian matching).

    The refitted head's cluster ``k`` is then, as far as possible, the trained head's
    cluster ``k``: the numbering does not depend on the k-means seed, and ``predict_proba``
    keeps its columns' meaning.
    """
    from scipy.optimize import linear_sum_assignment

    overlap = np.zeros((n_clusters, n_clusters), dtype=np.int64)
    np.add.at(overlap, (labels, reference), 1)
    rows, cols = linear_sum_assignment(-overlap)
    mapping = np.empty(n_clusters, dtype=np.int64)
    mapping[rows] = cols
    return mapping[labels]


def _fit_head(head: torch.nn.Module, features: torch.Tensor, labels: torch.Tensor, seed: int) -> None:
    """Cross-entropy fit of ``head`` on fixed ``features`` (its own Adam, its own generator).

    The fit runs on standardised features, with the standardisation folded into the head's
    first linear layer before and after (the same function throughout): a representation
    whose rows share a large common component and differ in small ones (a network early
    in training) is otherwise too badly conditioned for a few hundred Adam steps.
    """
    first = head if isinstance(head, torch.nn.Linear) else next(m for m in head.modules() if isinstance(m, torch.nn.Linear))
    mean = features.mean(0)
    std = features.std(0)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))  # constant columns: nothing to rescale
    with torch.no_grad():  # the same function of standardised features
        first.bias.add_(first.weight @ mean)
        first.weight.mul_(std)
    standardised = (features - mean) / std
    was_training = head.training
    head.train()
    generator = torch.Generator().manual_seed(seed % (2**63))
    optimizer = torch.optim.Adam(head.parameters(), lr=_LR)
    batch = min(_BATCH, features.shape[0])
    with torch.enable_grad():
        for _ in range(_STEPS):
            index = torch.randint(0, features.shape[0], (batch,), generator=generator).to(features.device)
            loss = F.cross_entropy(head(standardised[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():  # back to raw features
        first.weight.div_(std)
        first.bias.sub_(first.weight @ mean)
    head.train(was_training)
