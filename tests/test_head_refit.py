"""The cluster head refitted to k-means on the representation, free or held to the input mixture's
core (deepclust.training.head_refit)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import normalize

from deepclust import DRCClustering, JCLClustering, SCLClustering
from deepclust.nn.backbones import MLPBackbone
from deepclust.nn.model import ClusterNet, Standardize
from deepclust.training.data import TensorStore
from deepclust.training.head_refit import (
    HEAD_KEPT_ARI, constrained_kmeans, refit_head, refit_head_to_kmeans, resolve_head_refit, store_features,
)

from ._estimators import fast

X, _truth = make_blobs(n_samples=90, centers=3, n_features=5, random_state=0)
X = X.astype(np.float32)


def _net(seed=0):
    torch.manual_seed(seed)
    return ClusterNet(MLPBackbone(5, hidden=(16,), out_features=8), 8, 3, Standardize(torch.zeros(5), torch.ones(5), image=False), None)


def test_auto_refits_tables_and_keeps_the_head_for_images():
    assert resolve_head_refit("auto", "tabular") == "mixture"
    assert resolve_head_refit("auto", "image") is None
    assert resolve_head_refit(None, "tabular") is None
    with pytest.raises(ValueError, match="head_refit"):
        resolve_head_refit("gmm", "tabular")
    with pytest.raises(ValueError, match="refit='gmm'"):
        refit_head("gmm", _net(), TensorStore(X, "cpu"), 3, seed=0)


@pytest.mark.parametrize("bad", ["gmm", 1, True])
def test_a_bad_head_refit_is_named(bad):
    with pytest.raises(ValueError, match="head_refit"):
        fast(DRCClustering, n_clusters=3, head_refit=bad).fit(X)


def test_the_head_reproduces_kmeans_on_the_normalised_representation_and_only_the_head_changes():
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    store = TensorStore(X, "cpu")
    labels, agreement = refit_head_to_kmeans(net, store, 3, seed=0)
    z = normalize(store_features(net, store).double().numpy())
    expected = KMeans(3, n_init=10, random_state=0).fit(z).predict(z)
    assert adjusted_rand_score(labels, expected) > 0.9  # the same k-means (up to float rounding)
    head = net.eval()(torch.from_numpy(X)).logits.argmax(1).numpy()
    assert (head == labels).mean() == pytest.approx(agreement) and agreement >= 0.95  # the head's cells are not exactly k-means' (measured 0.9996-1.0)
    changed = {k for k, v in net.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("cluster_head.") for k in changed)


def test_the_refit_is_seeded_and_leaves_the_global_generator_and_the_data_alone():
    data = X.copy()
    a, b = _net(), _net()
    state = torch.random.get_rng_state()
    refit_head_to_kmeans(a, TensorStore(data, "cpu"), 3, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    refit_head_to_kmeans(b, TensorStore(data, "cpu"), 3, seed=5)
    np.testing.assert_array_equal(data, X)
    for p, q in zip(a.cluster_head.parameters(), b.cluster_head.parameters()):
        assert torch.equal(p, q)


def test_kmeans_if_disagree_keeps_a_head_that_agrees_with_the_kmeans_and_refits_one_that_does_not():
    store = TensorStore(X, "cpu")
    agreeing = _net()
    refit_head_to_kmeans(agreeing, store, 3, seed=0)  # a head that draws the k-means cells
    head = [p.clone() for p in agreeing.cluster_head.parameters()]
    kept = refit_head("kmeans_if_disagree", agreeing, store, 3, seed=0)
    assert kept["head_refit_target"] is None and "head_refit_agreement" not in kept
    assert kept["head_kmeans_ari"] >= HEAD_KEPT_ARI
    assert all(torch.equal(p, q) for p, q in zip(agreeing.cluster_head.parameters(), head))
    disagreeing = _net()
    with torch.no_grad():
        disagreeing.cluster_head.weight.zero_()  # one cluster for every row: ARI 0 with any k-means
    refit = refit_head("kmeans_if_disagree", disagreeing, store, 3, seed=0)
    assert refit["head_refit_target"] == "kmeans" and refit["head_kmeans_ari"] == pytest.approx(0.0)
    assert refit["head_refit_agreement"] >= 0.9
    labels = disagreeing.eval()(torch.from_numpy(X)).logits.argmax(1).numpy()
    assert adjusted_rand_score(labels, _truth) > 0.9
    # Through the estimators: the history says what happened.
    model = fast(DRCClustering, n_clusters=3, head_refit="kmeans_if_disagree").fit(X)
    assert 0.0 <= model.history_[-1]["head_kmeans_ari"] <= 1.0
    assert (model.history_[-1]["head_refit_target"] is None) is (model.history_[-1]["head_kmeans_ari"] >= HEAD_KEPT_ARI)


def test_a_non_finite_representation_keeps_the_head():
    net = _net()
    with torch.no_grad():
        next(net.backbone.parameters()).fill_(float("nan"))
    head = [p.clone() for p in net.cluster_head.parameters()]
    assert refit_head_to_kmeans(net, TensorStore(X, "cpu"), 3, seed=0)[0] is None
    assert all(torch.equal(p, q) for p, q in zip(net.cluster_head.parameters(), head))


@pytest.mark.parametrize("cls", [DRCClustering, SCLClustering, JCLClustering])
def test_fitted_tables_are_labelled_by_kmeans_on_their_representation(cls):
    kw = dict(warmup_epochs=1) if cls is SCLClustering else {}
    refit = fast(cls, n_clusters=3, **kw).fit(X)
    plain = fast(cls, n_clusters=3, head_refit=None, **kw).fit(X)
    # The refit changes the head only: the same backbone, the same representation.
    np.testing.assert_allclose(refit.transform(X), plain.transform(X), rtol=1e-6, atol=1e-6)
    z = normalize(refit.transform(X))
    assert adjusted_rand_score(KMeans(3, n_init=10, random_state=0).fit_predict(z), refit.labels_) >= 0.9
    np.testing.assert_array_equal(refit.predict(X), refit.labels_)
    assert refit.score(X) == pytest.approx(refit.restart_scores_[refit.best_restart_], rel=1e-6)


@pytest.mark.parametrize(
    "cls, refits, target", [(DRCClustering, False, "graph"), (SCLClustering, False, "graph"), (JCLClustering, True, "graph")]
)
def test_on_images_auto_is_the_estimators_own_choice(cls, refits, target):
    rng = np.random.default_rng(0)
    images = np.r_[rng.random((20, 8, 8)) * 0.2, 0.8 + rng.random((20, 8, 8)) * 0.2].astype(np.float32)
    auto = fast(cls, n_clusters=2, max_epochs=1).fit(images)
    off = fast(cls, n_clusters=2, max_epochs=1, head_refit=None).fit(images)
    on = fast(cls, n_clusters=2, max_epochs=1, head_refit="kmeans").fit(images)
    assert "head_refit_agreement" not in off.history_[-1]
    # JCL always refits; DRC and SCL first measure the head's agreement with the partition of
    # the representation (here the graph's: two separate groups of images) and refit only
    # where it is low (after one epoch their heads use one cluster of two: ARI 0).
    ari = auto.history_[-1].get("head_kmeans_ari")
    assert (ari is None) is refits
    kept = ari is not None and ari >= HEAD_KEPT_ARI
    assert ("head_refit_agreement" in auto.history_[-1]) is not kept
    assert auto.history_[-1]["head_refit_target"] == (None if kept else target)
    np.testing.assert_allclose(auto.transform(images), off.transform(images), rtol=1e-6, atol=1e-6)  # same backbone
    if kept:
        np.testing.assert_array_equal(auto.labels_, off.labels_)
        np.testing.assert_allclose(auto.predict_proba(images), off.predict_proba(images), rtol=1e-6, atol=1e-6)
    else:  # the graph's partition is k-means' here, numbered after a head that uses one cluster
        assert adjusted_rand_score(auto.labels_, on.labels_) == 1.0
    z = normalize(on.transform(images))
    assert adjusted_rand_score(KMeans(2, n_init=10, random_state=0).fit_predict(z), on.labels_) >= 0.9
    assert on.history_[-1]["head_refit_agreement"] >= 0.9


def test_a_head_that_cannot_draw_the_cells_is_kept(monkeypatch):
    import deepclust.training.head_refit as H

    monkeypatch.setattr(H, "_fit_head", lambda head, features, labels, seed: None)  # a fit that learns nothing
    net = _net()
    with torch.no_grad():
        net.cluster_head.weight.zero_()  # one cluster for every row
    labels, agreement = refit_head_to_kmeans(net, TensorStore(X, "cpu"), 3, seed=0)
    assert labels is None and agreement < H.MIN_AGREEMENT


def test_a_warm_start_continues_and_refits_again():
    model = fast(DRCClustering, n_clusters=3, warm_start=True).fit(X)
    model.set_params(max_epochs=2).fit(X)
    assert model.n_iter_ == 5
    z = normalize(model.transform(X))
    assert adjusted_rand_score(KMeans(3, n_init=10, random_state=0).fit_predict(z), model.labels_) >= 0.9


def test_the_refitted_clusters_keep_the_trained_heads_numbering():
    net = _net()
    store = TensorStore(X, "cpu")
    first, _ = refit_head_to_kmeans(net, store, 3, seed=0)
    for seed in range(1, 7):  # other k-means seeds number the same partition otherwise
        again, _ = refit_head_to_kmeans(net, store, 3, seed=seed)
        np.testing.assert_array_equal(again, first)


def test_constrained_kmeans_keeps_the_given_rows_and_starts_from_them():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 0.3, (30, 2)), rng.normal(3, 0.3, (30, 2))]
    before = x.copy()
    rows = np.array([0, 1, 30, 31])
    labels = constrained_kmeans(x, rows, np.array([1, 1, 0, 0]), 2)
    assert (labels[:30] == 1).all() and (labels[30:] == 0).all()  # the seeds name the clusters
    # A given row stays where it was put, even inside the other group.
    held = constrained_kmeans(x, np.array([0, 30, 2]), np.array([0, 1, 1]), 2)
    assert held[2] == 1 and (np.delete(held[:30], 2) == 0).all()
    np.testing.assert_array_equal(x, before)
    with pytest.raises(ValueError, match="each of the n_clusters"):
        constrained_kmeans(x, np.array([0, 1]), np.array([0, 0]), 2)
    with pytest.raises(ValueError, match="labels"):
        constrained_kmeans(x, np.array([0, 1]), np.array([0, -1]), 2)
    with pytest.raises(ValueError, match="rows"):
        constrained_kmeans(x, np.array([0, 1, 60]), np.array([0, 1, 1]), 2)
    with pytest.raises(ValueError, match="rows"):
        constrained_kmeans(x, np.array([0, 1]), np.array([0, 1, 1]), 2)


def test_the_refit_follows_the_seeds():
    store = TensorStore(X, "cpu")
    rows = np.r_[[np.flatnonzero(_truth == k)[:3] for k in range(3)]].ravel()
    given = _truth[rows].copy()
    odd = np.flatnonzero(_truth == 2)[5]  # a row of group 2 held to group 1's cluster
    rows, given = np.r_[rows, odd], np.r_[given, 1]
    net = _net()
    labels, agreement = refit_head_to_kmeans(net, store, 3, seed=0, seeds=(rows, given))
    assert agreement >= 0.9
    assert adjusted_rand_score(labels[rows], given) == 1.0  # the given rows keep their clusters (renumbered)
    assert labels[odd] == labels[np.flatnonzero(_truth == 1)[0]]
    z = normalize(store_features(net, store).double().numpy())
    assert adjusted_rand_score(labels, constrained_kmeans(z, rows, given, 3)) == 1.0  # the constrained k-means


@pytest.mark.parametrize("cls", [DRCClustering, JCLClustering])
def test_auto_holds_the_refit_to_a_stable_mixtures_core_and_falls_back_to_kmeans(cls):
    auto = fast(cls, n_clusters=3).fit(X)
    assert auto.history_[-1]["head_refit_target"] == "mixture"
    assert auto.history_[-1]["head_refit_core"] == 1.0  # separated groups: the mixture decides every row
    assert auto.history_[-1]["input_mixture"] == "stable"
    kmeans = fast(cls, n_clusters=3, head_refit="kmeans").fit(X)
    assert kmeans.history_[-1]["head_refit_target"] == "kmeans" and "head_refit_core" not in kmeans.history_[-1]
    assert "input_mixture" not in kmeans.history_[-1]  # the free k-means does not look at it
    assert adjusted_rand_score(auto.labels_, _truth) == 1.0  # separated groups: both find them
    cloud = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)  # no stable mixture
    fallback = fast(cls, n_clusters=6, head_refit="mixture").fit(cloud)
    plain = fast(cls, n_clusters=6, head_refit="kmeans").fit(cloud)
    assert fallback.history_[-1]["head_refit_target"] == "kmeans" and "head_refit_core" not in fallback.history_[-1]
    assert fallback.history_[-1]["input_mixture"] == "unstable"
    np.testing.assert_array_equal(fallback.labels_, plain.labels_)
