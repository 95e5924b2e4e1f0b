"""Spectral clustering of the representation where its neighbour graph falls into large pieces.

Ours, not the papers'. The head refit (:mod:`deepclust.training.head_refit`) clusters the
L2-normalised representation with k-means, whose cells are convex. Where the classes are
curved manifolds, as the 72 poses of an object turning on a table are (COIL-20), a
contrastive representation keeps each object connected but not round: k-means cuts the
rings into arcs and joins arcs of different objects, although the objects' 10-nearest-
neighbour graph is not even connected across them. On COIL-20 (DRC and SCL, seeds 0-2,
session 25) the 10-NN graph of the representation fell into 14-16 connected pieces of
72-288 rows, every one a union of whole objects, and spectral clustering of that graph
(Shi & Malik 2000; von Luxburg 2007) labelled 0.87-0.94 of the images right where k-means
did 0.75-0.84.

Spectral clustering is not the better choice everywhere: where a few small groups break
off (a dozen unusual handwritten ones), it spends clusters on them and merges two classes
(digits images: 0.78-0.89 where k-means did 0.96-0.98), and where the graph is connected
it only moves the rows between clusters. Where the graph breaks into only a few pieces (one
class apart from all the others), spectral clustering has to cut the big piece into many
clusters, which k-means does better (JCL on digits images, 2-3 pieces for 10 digits:
spectral 0.958-0.973, k-means 0.959-0.979; DRC on digits as rows, 2 pieces: 0.82-0.88
against 0.87-0.94). So the graph partition is used only where the graph is *separated*:
it falls into at least half as many connected pieces as there are clusters (and at least
2), at most K, each of at least half an equal share (``n / (2K)``) of the rows.
Development data (session 25, DRC and SCL fits): COIL-20 separated at all six fits
measured (14-16 pieces for 20 objects), digits images at one of six (SCL, seed 1, 5
pieces: spectral 0.963, k-means 0.959), USPS at none (one connected piece).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["GRAPH_NEIGHBORS", "MIN_PIECES", "MIN_PIECE_SHARE", "graph_partition", "neighbor_graph", "separated"]

#: The neighbours of each row in the graph (symmetrised: an edge where either is among the
#: other's nearest).
GRAPH_NEIGHBORS = 10
#: Smallest piece of a separated graph, as a share of an equal cluster size ``n / K``.
MIN_PIECE_SHARE = 0.5
#: Fewest pieces of a separated graph, as a share of the number of clusters K.
MIN_PIECES = 0.5


def neighbor_graph(z: np.ndarray, n_neighbors: int = GRAPH_NEIGHBORS):
    """The symmetric 0/1 ``n_neighbors``-nearest-neighbour graph of the rows of ``z`` (CSR).

    Examples
    --------
    >>> import numpy as np
    >>> from deepclust.training.representation_graph import neighbor_graph
    >>> neighbor_graph(np.array([[0.0], [1.0], [5.0]]), n_neighbors=1).toarray().astype(int).tolist()
    [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    """
    from sklearn.neighbors import kneighbors_graph

    graph = kneighbors_graph(z, min(n_neighbors, z.shape[0] - 1), include_self=False)
    return ((graph + graph.T) > 0).astype(np.float64).tocsr()


def separated(graph, n_clusters: int) -> bool:
    """Whether ``graph`` falls into ``MIN_PIECES * n_clusters`` (and at least 2) to
    ``n_clusters`` connected pieces, none smaller than ``MIN_PIECE_SHARE * n / n_clusters`` rows.

    Examples
    --------
    >>> import numpy as np
    >>> from deepclust.training.representation_graph import neighbor_graph, separated
    >>> rows = np.r_[np.zeros((6, 1)), np.full((6, 1), 9.0)] + np.arange(12)[:, None] * 0.01
    >>> separated(neighbor_graph(rows, 2), n_clusters=2), separated(neighbor_graph(rows, 2), n_clusters=4)
    (True, True)
    >>> separated(neighbor_graph(rows, 2), n_clusters=5)  # 2 pieces for 5 clusters: too few
    False
    >>> separated(neighbor_graph(rows[:8], 2), n_clusters=2)  # a piece of 2 rows is a fragment
    False
    """
    from scipy.sparse.csgraph import connected_components

    n_pieces, piece = connected_components(graph, directed=False)
    if not max(2, math.ceil(MIN_PIECES * n_clusters)) <= n_pieces <= n_clusters:
        return False
    return bool(np.bincount(piece).min() >= MIN_PIECE_SHARE * graph.shape[0] / n_clusters)


def graph_partition(z: np.ndarray, n_clusters: int, seed: int = 0, force: bool = False) -> np.ndarray | None:
    """Spectral clustering of the neighbour graph of ``z`` where that graph is separated.

    Parameters
    ----------
    z : ndarray of shape (n, d)
        The L2-normalised representation (at most 20,000 rows: the caller samples them).
    n_clusters : int
        K.
    seed : int
        Seeds the eigensolver's start vector (the labels are then deterministic).
    force : bool
        Cluster the graph even where it is not separated (a data-parallel rank that follows
        rank 0's decision).

    Returns
    -------
    ndarray of shape (n,) or None
        The clusters (``n_clusters`` of them, each non-empty), or None where the graph is
        not :func:`separated` (the caller then uses k-means).

    Examples
    --------
    Two interleaved half-moons, which k-means cuts across:

    >>> from sklearn.datasets import make_moons
    >>> from sklearn.metrics import adjusted_rand_score
    >>> from deepclust.training.representation_graph import graph_partition
    >>> X, y = make_moons(200, noise=0.03, random_state=0)
    >>> float(adjusted_rand_score(y, graph_partition(X, 2)))
    1.0
    >>> graph_partition(X[:, :1], 2) is None  # one connected piece: k-means' job
    True
    """
    from sklearn.cluster import SpectralClustering

    if n_clusters < 2 or z.shape[0] <= 2 * n_clusters:
        return None
    graph = neighbor_graph(z)
    if not (force or separated(graph, n_clusters)):
        return None
    spectral = SpectralClustering(
        n_clusters, affinity="precomputed", assign_labels="cluster_qr", random_state=seed % (2**32)
    )
    with warnings.catch_warnings():
        # "Graph is not fully connected": here that is the point (each piece is a union of clusters).
        warnings.filterwarnings("ignore", message="Graph is not fully connected", category=UserWarning)
        labels = spectral.fit_predict(graph).astype(np.int64)
    # cluster_qr can leave a cluster empty; the head needs every one of the K targets.
    return labels if np.unique(labels).size == n_clusters else None
