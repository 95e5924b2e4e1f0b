"""Within-cluster noise for tables (deepclust.training.cluster_noise, CorrelatedNoise, the preset)."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

from deepclust import DRCClustering, JCLClustering, SCLClustering
from deepclust._data import InputLayout
from deepclust.augment import CorrelatedNoise, cluster_noise_preset, resolve_augment
from deepclust.training.callbacks import Callback
from deepclust.training.cluster_noise import ClusterNoiseRefresh, within_cluster_factor
from deepclust.training.data import TensorStore
from deepclust.training.input_space import InputSpace

from ._estimators import fast


def _pooled_within_covariance(rows, labels):
    centred = np.concatenate([rows[labels == c] - rows[labels == c].mean(0) for c in np.unique(labels)])
    return centred.T @ centred / len(rows)


def test_factor_is_the_square_root_of_the_pooled_within_cluster_covariance_on_the_raw_scale():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4))
    labels = rng.integers(0, 3, size=200)
    std = np.array([1.0, 2.0, 0.5, 10.0])
    factor = within_cluster_factor(rows, labels, None, std)
    expected = _pooled_within_covariance(rows, labels) * np.outer(std, std)
    np.testing.assert_allclose(factor.T @ factor, expected, rtol=1e-4, atol=1e-4)


def test_factor_maps_a_reduced_space_back_through_the_components():
    rng = np.random.default_rng(1)
    components = np.linalg.qr(rng.normal(size=(6, 2)))[0].T  # (2, 6), orthonormal rows
    rows = rng.normal(size=(100, 2))
    labels = np.arange(100) % 2
    factor = within_cluster_factor(rows, labels, components, np.ones(6))
    assert factor.shape == (2, 6)
    expected = components.T @ _pooled_within_covariance(rows, labels) @ components
    np.testing.assert_allclose(factor.T @ factor, expected, rtol=1e-4, atol=1e-5)


def test_constant_features_get_no_noise():
    rows = np.c_[np.random.default_rng(2).normal(size=(50, 1)), np.zeros((50, 1))]
    factor = within_cluster_factor(rows, np.zeros(50, dtype=int), None, [1.0, 1.0])
    assert np.isfinite(factor).all() and np.abs(factor[:, 1]).max() == 0.0


def test_correlated_noise_has_the_factors_covariance_and_keeps_the_input():
    factor = torch.tensor([[1.0, 0.5, 0.0], [0.0, 1.0, 2.0]])
    x = torch.full((20000, 3), 3.0)
    out = CorrelatedNoise(factor, scale=0.5)(x, torch.Generator().manual_seed(0))
    assert torch.equal(x, torch.full((20000, 3), 3.0))  # not modified in place
    noise = (out - x).double()
    torch.testing.assert_close(noise.T @ noise / len(noise), 0.25 * (factor.T @ factor).double(), atol=0.03, rtol=0)
    a = CorrelatedNoise(factor)(x[:8], torch.Generator().manual_seed(3))
    assert torch.equal(a, CorrelatedNoise(factor)(x[:8], torch.Generator().manual_seed(3)))  # seeded


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"factor": torch.ones(3)}, "factor"),
        ({"factor": torch.tensor([[float("nan"), 1.0]])}, "factor"),
        ({"factor": torch.eye(2), "scale": -1.0}, "scale"),
        ({"factor": torch.eye(2), "scale": float("inf")}, "scale"),
    ],
)
def test_correlated_noise_rejects_bad_arguments_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CorrelatedNoise(**kwargs)


def test_correlated_noise_names_a_batch_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        CorrelatedNoise(torch.eye(2))(torch.zeros(4, 3), torch.Generator())


def test_input_space_noise_follows_the_clusters_not_the_direction_that_separates_them():
    # Two groups apart along feature 0; feature 1 is noise with the same spread in both.
    rows, _ = make_blobs(n_samples=400, centers=[[0, 0], [30, 0]], cluster_std=[[1.0, 5.0]] * 2, random_state=0)
    rows = rows.astype(np.float32)
    space = InputSpace(rows, rows.mean(0), rows.std(0), seed=0)
    covariance = space.within_cluster_factor(2).T.astype(np.float64) @ space.within_cluster_factor(2)
    assert covariance[1, 1] == pytest.approx(25.0, rel=0.2)  # the noise feature's own variance
    assert covariance[0, 0] == pytest.approx(1.0, rel=0.3)  # only the spread inside a group
    assert space.within_cluster_factor(2) is space.within_cluster_factor(2)  # computed once


def test_wide_tables_get_a_factor_of_the_reduced_rank():
    X = np.random.default_rng(0).normal(size=(120, 70)).astype(np.float32)
    factor = InputSpace(X, X.mean(0), X.std(0), seed=0).within_cluster_factor(3)
    assert factor.shape == (50, 70) and np.isfinite(factor).all()


def test_the_prior_is_unchanged_by_sharing_its_k_means_with_the_noise():
    from deepclust.training.prior import input_cluster_prior

    rows, _ = make_blobs(n_samples=[300, 100], centers=[[0, 0], [20, 20]], random_state=0)
    rows = rows.astype(np.float32)
    space = InputSpace(rows, np.zeros(2), np.ones(2), seed=4)
    np.testing.assert_allclose(space.cluster_prior(2), input_cluster_prior(rows, 2, seed=4))


def test_the_preset_is_resolved_lazily_and_only_for_tables():
    tab = InputLayout("tabular", (3,), "tabular")
    calls = []

    def factor(clusterer):
        calls.append(clusterer)
        return np.eye(3)

    resolve_augment("scarf", tab, np.zeros(3), np.ones(3), within_cluster_factor=factor)
    assert calls == []  # another preset never pays for the clustering
    aug = resolve_augment("pooled_cluster_noise", tab, np.zeros(3), np.ones(3), within_cluster_factor=factor)
    assert calls == ["gmm"] and repr(aug) == repr(cluster_noise_preset(torch.eye(3)))
    resolve_augment("kmeans_cluster_noise", tab, np.zeros(3), np.ones(3), within_cluster_factor=factor)
    resolve_augment("network_cluster_noise", tab, np.zeros(3), np.ones(3), within_cluster_factor=factor)
    assert calls == ["gmm", "kmeans", "gmm"]
    with pytest.raises(ValueError, match="tabular"):
        resolve_augment("cluster_noise", InputLayout("image", (1, 8, 8), "nchw"), [0.0], [1.0])


@pytest.mark.parametrize("cls", [DRCClustering, SCLClustering, JCLClustering])
def test_estimators_fit_with_cluster_noise_and_reject_it_for_images(cls):
    X, _ = make_blobs(n_samples=60, centers=3, n_features=4, random_state=0)
    before = X.copy()
    images = np.random.default_rng(0).integers(0, 256, size=(40, 8, 8, 1), dtype=np.uint8)
    for augment in ("cluster_noise", "mixture_noise", "pooled_cluster_noise"):
        labels = fast(cls, n_clusters=3, augment=augment).fit_predict(X)
        assert labels.shape == (60,) and np.array_equal(X, before)
        with pytest.raises(ValueError, match=f"augment='{augment}'"):
            fast(cls, n_clusters=2, augment=augment).fit(images)


# ------------------------------------------------------------------ the noise follows the network's clusters
@pytest.fixture
def refresh_from_epoch_one(monkeypatch):
    """Refresh after every epoch (the default starts at epoch 10, longer than these fits)."""
    import deepclust.training.cluster_noise as cluster_noise

    monkeypatch.setattr(cluster_noise, "REFRESH_START", 1)


class _RecordNoise(Callback):
    """The noise factor training ends with."""

    def on_train_end(self, trainer):
        self.factor = next(op for op in trainer.augment.ops if isinstance(op, CorrelatedNoise)).factor.clone()


def _stretched_blobs():
    # Three groups along feature 0, each stretched along feature 1 differently from the
    # input's k-means (which cuts along the larger spread).
    rows, _ = make_blobs(n_samples=150, centers=[[0, 0], [6, 0], [12, 0]], cluster_std=[[0.5, 8.0]] * 3, random_state=0)
    return rows.astype(np.float32)


def test_refresh_sets_the_factor_of_the_heads_clusters():
    X = _stretched_blobs()
    model = fast(DRCClustering, n_clusters=3, augment="pooled_cluster_noise", max_epochs=2).fit(X)
    space = InputSpace(X, X.mean(0), X.std(0), seed=0)
    noise = CorrelatedNoise(torch.as_tensor(space.within_cluster_factor(3)))
    trainer = types.SimpleNamespace(module=model.module_, distributed=None, next_epoch=5)
    refresh = ClusterNoiseRefresh(noise, space, 3, TensorStore(X, "cpu"), start=5)
    refresh.on_epoch_end(trainer, {"epoch": 2})  # before the start: the input's k-means
    np.testing.assert_array_equal(noise.factor.numpy(), space.within_cluster_factor(3))
    refresh.on_train_begin(trainer)  # a run resumed past the start recomputes it
    expected = space.within_cluster_factor(3, labels=model.predict(X))
    np.testing.assert_allclose(noise.factor.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(expected, space.within_cluster_factor(3), rtol=1e-2, atol=1e-2)


def test_network_cluster_noise_refreshes_and_pooled_cluster_noise_does_not(refresh_from_epoch_one):
    X = _stretched_blobs()
    # The tables' noise starts from the clusters of a Gaussian mixture.
    initial = InputSpace(X, X.mean(0), X.std(0), seed=0).within_cluster_factor(3, clusterer="gmm")
    factors = {}
    for augment in ("pooled_cluster_noise", "network_cluster_noise"):
        record = _RecordNoise()
        fast(DRCClustering, n_clusters=3, augment=augment, callbacks=[record]).fit(X)
        factors[augment] = record.factor.numpy()
    np.testing.assert_allclose(factors["pooled_cluster_noise"], initial, rtol=1e-5, atol=1e-5)
    assert not np.allclose(factors["network_cluster_noise"], initial, rtol=1e-2, atol=1e-2)


def test_the_preset_names_the_clustering_behind_the_noise():
    # Sheared blobs (scikit-learn's anisotropic example): the mixture is stable and right, and
    # k-means cuts across the groups. (On _stretched_blobs both are wrong, the mixture at ACC 0.77.)
    rows, _ = make_blobs(n_samples=300, random_state=170)
    X = (rows @ np.array([[0.6, -0.6], [-0.4, 0.8]])).astype(np.float32)
    space = InputSpace(X, X.mean(0), X.std(0), seed=0)
    assert space.mixture(3).stable
    factors = {}
    for augment, clusterer in (("pooled_cluster_noise", "gmm"), ("kmeans_cluster_noise", "kmeans")):
        record = _RecordNoise()
        fast(DRCClustering, n_clusters=3, augment=augment, callbacks=[record]).fit(X)
        factors[clusterer] = record.factor.numpy()
        expected = space.within_cluster_factor(3, clusterer=clusterer)
        np.testing.assert_allclose(factors[clusterer], expected, rtol=1e-5, atol=1e-5)
    # k-means cuts the groups differently from the mixture, so the two noises differ.
    assert not np.allclose(factors["kmeans"], factors["gmm"], rtol=1e-2, atol=1e-2)


def test_before_the_start_both_presets_train_the_same_network():
    X = _stretched_blobs()
    a = fast(DRCClustering, n_clusters=3, augment="network_cluster_noise").fit(X)  # 3 epochs < REFRESH_START
    b = fast(DRCClustering, n_clusters=3, augment="pooled_cluster_noise").fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


@pytest.mark.parametrize(
    "cls, extra",
    [(DRCClustering, {}), (SCLClustering, {"warmup_epochs": 1}), (JCLClustering, {})],  # as in test_warm_start
    ids=["DRC", "SCL", "JCL"],
)
def test_warm_start_with_a_refreshed_noise_equals_one_fit(cls, extra, refresh_from_epoch_one):
    X = _stretched_blobs()
    params = dict(n_clusters=3, max_epochs=2, augment="network_cluster_noise", **extra)
    twice = fast(cls, warm_start=True, **params).fit(X).fit(X)
    once = fast(cls, **{**params, "max_epochs": 4}).fit(X)
    assert twice.n_iter_ == 4
    np.testing.assert_allclose(twice.transform(X), once.transform(X), atol=1e-5)
