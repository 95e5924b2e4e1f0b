"""The cluster prior of the balance terms (deepclust.training.prior, nn.losses)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

from deepclust import DRCClustering, JCLClustering, SCLClustering
from deepclust.nn.losses import entropy_balance, squared_balance
from deepclust.training.callbacks import Callback
from deepclust.training.prior import input_cluster_prior


@pytest.mark.parametrize("balance", [squared_balance, entropy_balance])
def test_balance_with_a_prior_is_zero_at_the_prior_sizes_in_any_order(balance):
    p = torch.eye(3)[[0, 0, 0, 1, 2, 2]]  # sizes 3, 1, 2
    prior = torch.tensor([1 / 6, 2 / 6, 3 / 6])
    assert float(balance(p, prior)) == pytest.approx(0.0, abs=1e-6)
    assert float(balance(p, torch.full((3,), 1 / 3))) == pytest.approx(float(balance(p)), abs=1e-6)
    assert float(balance(torch.eye(3)[[0] * 6], prior)) > 0.5  # one cluster: far from any prior


@pytest.mark.parametrize("balance", [squared_balance, entropy_balance])
def test_balance_with_a_prior_has_finite_gradients(balance):
    logits = torch.randn(16, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    balance(logits.softmax(dim=1), torch.tensor([0.4, 0.3, 0.2, 0.1])).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_input_prior_follows_unbalanced_groups_and_keeps_every_cluster():
    rows, _ = make_blobs(n_samples=[300, 100], centers=[[0, 0], [20, 20]], random_state=0)
    prior = input_cluster_prior(rows, 2, seed=0)
    np.testing.assert_allclose(prior, [0.625, 0.375])
    assert input_cluster_prior(rows, 3, seed=0).min() >= 0.5 / 3


class _PriorSpy(Callback):
    def on_train_begin(self, trainer):
        self.prior = trainer.objective.cluster_prior


@pytest.mark.filterwarnings("ignore::deepclust.ClusterCollapseWarning")  # one epoch
@pytest.mark.parametrize("cls", [DRCClustering, SCLClustering, JCLClustering])
def test_estimators_hand_the_input_prior_to_their_objective(cls):
    X, _ = make_blobs(n_samples=[60, 20], centers=[[0, 0], [20, 20]], random_state=0)
    spy = _PriorSpy()
    kw = dict(n_clusters=2, max_epochs=1, batch_size=40, device="cpu", random_state=0, callbacks=[spy])
    cls(**kw, cluster_prior="input").fit(X)
    torch.testing.assert_close(spy.prior, torch.tensor([0.625, 0.375]))
    cls(**kw, cluster_prior="uniform").fit(X)
    assert spy.prior is None


def test_bad_cluster_prior_is_named():
    X, _ = make_blobs(n_samples=20, centers=2, random_state=0)
    with pytest.raises(ValueError, match="cluster_prior"):
        DRCClustering(n_clusters=2, max_epochs=1, device="cpu", cluster_prior="kmeans").fit(X)


def _tilted_groups(n_first, n_second):
    # Two long parallel groups side by side, tilted: k-means cuts across them, a full-covariance
    # mixture finds them.
    rng = np.random.default_rng(0)
    along = rng.normal(0, 10, size=(n_first + n_second, 1))
    across = np.r_[rng.normal(-2, 0.3, size=(n_first, 1)), rng.normal(2, 0.3, size=(n_second, 1))]
    tilt = np.array([[1.0, 1.0], [-1.0, 1.0]]) / np.sqrt(2)  # 45 degrees: standardising keeps them long
    return np.hstack([along, across]) @ tilt, np.repeat([0, 1], [n_first, n_second])


def test_the_mixture_finds_clusters_k_means_cuts():
    from sklearn.metrics import adjusted_rand_score

    from deepclust.training.prior import input_clusters

    rows, truth = _tilted_groups(150, 50)
    rows = (rows - rows.mean(0)) / rows.std(0)
    fitted, gmm = input_clusters(rows, 2, seed=0, method="gmm")
    _, kmeans = input_clusters(rows, 2, seed=0, method="kmeans")
    assert fitted.tolist() == list(range(200))
    assert adjusted_rand_score(truth, gmm) == pytest.approx(1.0)
    assert adjusted_rand_score(truth, kmeans) < 0.5
    with pytest.raises(ValueError, match="method"):
        input_clusters(rows, 2, method="spectral")


def test_the_mixture_falls_back_to_k_means_where_it_cannot_be_fitted(monkeypatch):
    from sklearn.mixture import GaussianMixture

    from deepclust.training.input_mixture import gaussian_mixture_labels
    from deepclust.training.prior import subsampled_kmeans

    def fail(self, X, y=None):
        raise ValueError("Fitting the mixture model failed because some components have ill-defined covariance")

    monkeypatch.setattr(GaussianMixture, "fit", fail)
    rows, _ = make_blobs(n_samples=[30, 10], centers=[[0, 0], [9, 9]], random_state=0)
    expected = subsampled_kmeans(rows, 2, seed=3)[1].labels_
    np.testing.assert_array_equal(gaussian_mixture_labels(rows, 2, seed=3), expected)


@pytest.mark.filterwarnings("ignore::deepclust.ClusterCollapseWarning")  # one epoch
def test_the_prior_keeps_k_means_while_the_noise_takes_the_mixture():
    from deepclust.training.prior import prior_from_labels, input_clusters

    X = _tilted_groups(150, 50)[0].astype(np.float32)
    spy = _PriorSpy()
    DRCClustering(n_clusters=2, max_epochs=1, batch_size=50, device="cpu", random_state=0, callbacks=[spy]).fit(X)
    standardised = (X - X.mean(0)) / X.std(0)
    kmeans = prior_from_labels(input_clusters(standardised, 2, seed=0, method="kmeans")[1], 2)
    mixture = prior_from_labels(input_clusters(standardised, 2, seed=0, method="gmm")[1], 2)
    np.testing.assert_allclose(spy.prior.numpy(), kmeans, atol=1e-6)
    assert abs(mixture[0] - kmeans[0]) > 0.05  # the two clusterings disagree on these groups


def test_the_mixture_leaves_undetermined_covariances_to_k_means(monkeypatch):
    import deepclust.training.input_mixture as mixture

    rows, _ = make_blobs(n_samples=60, centers=3, n_features=20, random_state=0)  # 20 rows per cluster < 2 * 20
    expected = mixture.subsampled_kmeans(rows, 3, seed=1)[1].labels_
    np.testing.assert_array_equal(mixture.gaussian_mixture_labels(rows, 3, seed=1), expected)
    # A sample fits the mixture where rows * K * d**2 is large; every row is still labelled.
    monkeypatch.setattr(mixture, "_GMM_BUDGET", 2 * 3 * 2**2 * 50)  # 100 rows of the 400
    monkeypatch.setattr(mixture, "_GMM_MIN_ROWS", 10)
    rows, truth = make_blobs(n_samples=400, centers=[[0, 0], [10, 10], [-10, 10]], random_state=0)
    labels = mixture.gaussian_mixture_labels(rows, 3, seed=0)
    from sklearn.metrics import adjusted_rand_score

    assert labels.shape == (400,) and adjusted_rand_score(truth, labels) == pytest.approx(1.0)
