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
