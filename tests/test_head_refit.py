"""The cluster head refitted to k-means on the representation (deepclust.training.head_refit)."""

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
from deepclust.training.head_refit import refit_head_to_kmeans, resolve_head_refit, store_features

from ._estimators import fast

X, _ = make_blobs(n_samples=90, centers=3, n_features=5, random_state=0)
X = X.astype(np.float32)


def _net(seed=0):
    torch.manual_seed(seed)
    return ClusterNet(MLPBackbone(5, hidden=(16,), out_features=8), 8, 3, Standardize(torch.zeros(5), torch.ones(5), image=False), None)


def test_auto_refits_tables_and_keeps_the_head_for_images():
    assert resolve_head_refit("auto", "tabular") == "kmeans"
    assert resolve_head_refit("auto", "image") is None
    assert resolve_head_refit(None, "tabular") is None
    with pytest.raises(ValueError, match="head_refit"):
        resolve_head_refit("gmm", "tabular")


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


@pytest.mark.parametrize("cls, refits", [(DRCClustering, False), (SCLClustering, False), (JCLClustering, True)])
def test_on_images_auto_is_the_estimators_own_choice(cls, refits):
    rng = np.random.default_rng(0)
    images = np.r_[rng.random((20, 8, 8)) * 0.2, 0.8 + rng.random((20, 8, 8)) * 0.2].astype(np.float32)
    auto = fast(cls, n_clusters=2, max_epochs=1).fit(images)
    off = fast(cls, n_clusters=2, max_epochs=1, head_refit=None).fit(images)
    on = fast(cls, n_clusters=2, max_epochs=1, head_refit="kmeans").fit(images)
    assert "head_refit_agreement" not in off.history_[-1]
    assert ("head_refit_agreement" in auto.history_[-1]) is refits
    np.testing.assert_allclose(auto.transform(images), off.transform(images), rtol=1e-6, atol=1e-6)  # same backbone
    same_as = on if refits else off
    np.testing.assert_array_equal(auto.labels_, same_as.labels_)
    np.testing.assert_allclose(auto.predict_proba(images), same_as.predict_proba(images), rtol=1e-6, atol=1e-6)
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
