"""Spectral clustering of a representation whose neighbour graph falls into large pieces
(deepclust.training.representation_graph) and the head refits that use it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score

from deepclust.nn.model import ClusterNet, Standardize
from deepclust.training.data import TensorStore
from deepclust.training.head_refit import HEAD_KEPT_ARI, refit_head, refit_head_to_kmeans
from deepclust.training.representation_graph import graph_partition, neighbor_graph, separated

# Two interleaved half-moons lifted off the origin, so that the head refit's L2 normalisation
# keeps their shape: convex k-means cells cut across them, the neighbour graph does not.
_moons, _moon = make_moons(240, noise=0.04, random_state=0)
MOONS = np.c_[_moons, np.full(len(_moons), 4.0)].astype(np.float32)


def _identity_net(width: int, n_clusters: int) -> ClusterNet:
    """A network whose representation is its input (the refit sees ``MOONS`` as they are), with
    a two-layer head (SCL's and JCL's kind) that can draw curved cells."""
    torch.manual_seed(0)
    standardize = Standardize(torch.zeros(width), torch.ones(width), image=False)
    return ClusterNet(torch.nn.Identity(), width, n_clusters, standardize, None, cluster_head_hidden=64)


def test_the_neighbour_graph_is_symmetric_and_has_no_self_loops():
    graph = neighbor_graph(np.random.default_rng(0).normal(size=(50, 3)), n_neighbors=4)
    assert (graph != graph.T).nnz == 0 and graph.diagonal().sum() == 0
    assert (np.asarray(graph.sum(1)).ravel() >= 4).all()


def test_separated_needs_two_to_k_pieces_and_no_fragment():
    rng = np.random.default_rng(0)
    blobs = lambda sizes: np.concatenate([rng.normal(10 * i, 0.1, (m, 2)) for i, m in enumerate(sizes)])  # noqa: E731
    assert separated(neighbor_graph(blobs([40, 40, 40])), 3)
    assert separated(neighbor_graph(blobs([40, 40, 40])), 6)  # a piece may hold several clusters
    assert not separated(neighbor_graph(blobs([40, 40, 40])), 7)  # but not most of them
    assert not separated(neighbor_graph(blobs([40, 40, 40])), 2)  # more pieces than clusters
    assert not separated(neighbor_graph(blobs([120])), 3)  # one piece: nothing to respect
    assert not separated(neighbor_graph(blobs([55, 55, 11])), 3)  # 11 < half of 121 / 3: a fragment


def test_graph_partition_follows_curved_groups_that_kmeans_cuts():
    rows = MOONS.astype(np.float64)
    before = rows.copy()
    labels = graph_partition(rows, 2, seed=0)
    assert adjusted_rand_score(_moon, labels) == 1.0
    assert adjusted_rand_score(_moon, KMeans(2, n_init=10, random_state=0).fit_predict(rows)) < 0.5
    np.testing.assert_array_equal(graph_partition(rows, 2, seed=0), labels)  # deterministic
    np.testing.assert_array_equal(rows, before)
    X, _ = make_blobs(300, centers=3, cluster_std=3.0, random_state=0)  # touching blobs: one piece
    assert graph_partition(X, 3) is None
    assert graph_partition(X[:5], 3) is None  # too few rows to speak of pieces
    forced = graph_partition(X, 3, force=True)
    assert forced is not None and np.unique(forced).size == 3


def test_the_graph_refit_fits_the_head_to_the_graph_partition_where_the_graph_is_separated():
    store = TensorStore(MOONS, "cpu")
    net = _identity_net(3, 2)
    refit = refit_head("graph", net, store, 2, seed=0)
    assert refit["head_refit_target"] == "graph" and refit["head_refit_agreement"] >= 0.9
    head = net.eval()(torch.from_numpy(MOONS)).logits.argmax(1).numpy()
    assert adjusted_rand_score(_moon, head) >= 0.9
    kmeans = _identity_net(3, 2)
    assert refit_head("kmeans", kmeans, store, 2, seed=0)["head_refit_target"] == "kmeans"
    assert adjusted_rand_score(_moon, kmeans.eval()(torch.from_numpy(MOONS)).logits.argmax(1).numpy()) < 0.5
    # Where the graph is one piece the graph refit is the k-means one.
    X, _ = make_blobs(200, centers=3, n_features=3, cluster_std=3.0, center_box=(5, 15), random_state=0)
    X = X.astype(np.float32)
    a, b = _identity_net(3, 3), _identity_net(3, 3)
    assert refit_head("graph", a, TensorStore(X, "cpu"), 3, seed=0)["head_refit_target"] == "kmeans"
    refit_head("kmeans", b, TensorStore(X, "cpu"), 3, seed=0)
    for p, q in zip(a.cluster_head.parameters(), b.cluster_head.parameters()):
        assert torch.equal(p, q)


def test_graph_if_disagree_compares_the_head_with_the_graph_partition():
    store = TensorStore(MOONS, "cpu")
    on_kmeans = _identity_net(3, 2)
    refit_head_to_kmeans(on_kmeans, store, 2, seed=0)  # a head that draws the k-means cells
    refit = refit_head("graph_if_disagree", on_kmeans, store, 2, seed=0)
    assert refit["head_refit_target"] == "graph" and refit["head_kmeans_ari"] < HEAD_KEPT_ARI
    agreeing = _identity_net(3, 2)
    refit_head("graph", agreeing, store, 2, seed=0)
    head = [p.clone() for p in agreeing.cluster_head.parameters()]
    kept = refit_head("graph_if_disagree", agreeing, store, 2, seed=0)
    assert kept["head_refit_target"] is None and kept["head_kmeans_ari"] >= HEAD_KEPT_ARI
    assert all(torch.equal(p, q) for p, q in zip(agreeing.cluster_head.parameters(), head))


def test_a_large_representation_is_partitioned_on_a_sample_and_the_rest_follows_its_nearest(monkeypatch):
    import deepclust.training.prior as prior

    monkeypatch.setattr(prior, "_FIT_ROWS", 150)
    store = TensorStore(MOONS, "cpu")
    net = _identity_net(3, 2)
    assert refit_head("graph", net, store, 2, seed=0)["head_refit_target"] == "graph"
    assert adjusted_rand_score(_moon, net.eval()(torch.from_numpy(MOONS)).logits.argmax(1).numpy()) >= 0.9


@pytest.mark.parametrize("bad", ["spectral", "graphs"])
def test_a_bad_refit_is_named(bad):
    with pytest.raises(ValueError, match="refit"):
        refit_head(bad, _identity_net(3, 2), TensorStore(MOONS, "cpu"), 2, seed=0)
