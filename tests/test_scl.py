"""SCL-specific tests: the consensus pieces and loss terms on hand-computed cases, the
fallbacks (tiny data, empty consensus set), diagnostics and both input paths.

The shared estimator behaviour (sklearn checks, seeding, pickling, Pipeline/GridSearchCV)
runs on SCLClustering through tests/_estimators.py.
"""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import make_blobs

from deepclust import SCLClustering
from deepclust.nn.model import ModelOutput
from deepclust.objectives.scl import (
    SCLObjective,
    cluster_prototypes,
    knn_agreement,
    nearest_prototype,
    prototype_contrast,
    select_consensus,
    self_labelling,
)


def _unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


# Two tight groups on the x and y axes, plus one point of group y labelled 0 (a disagreeing
# sample): indices 0-2 near (1, 0), 3-5 near (0, 1), 6 at (0.1, 1) but with label 0.
BANK = _unit([1, 0], [1, 0.1], [1, -0.1], [0, 1], [0.1, 1], [-0.1, 1], [0.05, 1])
LABELS = torch.tensor([0, 0, 0, 1, 1, 1, 0])


# ---------------------------------------------------------------- kNN agreement
def test_knn_agreement_hand_computed():
    agreement, neighbors = knn_agreement(BANK, LABELS, n_neighbors=2)
    # 0..2: both neighbours are in their group, label 0 -> 1.
    np.testing.assert_allclose(agreement[:3].numpy(), 1.0)
    # 6 (label 0) sits among 3, 4, 5 (label 1): 0 of 2 neighbours agree.
    assert agreement[6].item() == 0.0
    # 4 = (0.1, 1) has nearest neighbours 6 (0.05, 1) and 3 (0, 1): labels 0 and 1 -> 0.5.
    assert set(neighbors[4].tolist()) == {6, 3}
    assert agreement[4].item() == pytest.approx(0.5)
    # A sample is never its own neighbour.
    assert not (neighbors == torch.arange(7)[:, None]).any()


def test_knn_agreement_chunked_equals_unchunked_and_clips_k():
    g = torch.Generator().manual_seed(0)
    bank = torch.randn(50, 8, generator=g)
    labels = torch.randint(0, 3, (50,), generator=g)
    full, nb_full = knn_agreement(bank, labels, 5, chunk_size=1024)
    chunked, nb_chunked = knn_agreement(bank, labels, 5, chunk_size=7)
    torch.testing.assert_close(full, chunked)
    torch.testing.assert_close(nb_full, nb_chunked)
    # k larger than n - 1 is clipped: with 3 samples every other sample is a neighbour.
    agreement, neighbors = knn_agreement(bank[:3], torch.tensor([0, 0, 1]), n_neighbors=10)
    assert neighbors.shape == (3, 2)
    np.testing.assert_allclose(agreement.numpy(), [0.5, 0.5, 0.0])


# ---------------------------------------------------------------- prototypes
def test_prototypes_are_normalised_member_means_with_fallback():
    bank = _unit([1, 0], [0, 1], [1, 1], [-1, 0])
    labels = torch.tensor([0, 0, 1, 1])
    members = torch.tensor([True, True, False, False])
    protos, valid = cluster_prototypes(bank, labels, members, n_clusters=3)
    # Cluster 0: mean of (1,0) and (0,1), normalised -> (1,1)/sqrt2.
    torch.testing.assert_close(protos[0], torch.tensor([1.0, 1.0]) / math.sqrt(2))
    # Cluster 1 has no member: falls back to all of its samples, mean of (1,1)/sqrt2 and (-1,0).
    expected = F.normalize(torch.tensor([1 / math.sqrt(2) - 1, 1 / math.sqrt(2)]), dim=0)
    torch.testing.assert_close(protos[1], expected)
    # Cluster 2 has no sample at all: invalid, zero prototype.
    assert valid.tolist() == [True, True, False]
    assert protos[2].abs().sum().item() == 0.0
    # Members only: sample 1 excluded from cluster 0.
    protos, _ = cluster_prototypes(bank, labels, torch.tensor([True, False, True, True]), 3)
    torch.testing.assert_close(protos[0], torch.tensor([1.0, 0.0]))


def test_nearest_prototype_skips_invalid():
    protos = _unit([1, 0], [0, 1])
    valid = torch.tensor([False, True])
    assert nearest_prototype(_unit([1, 0.1]), protos, valid).tolist() == [1]
    assert nearest_prototype(_unit([1, 0.1]), protos, torch.tensor([True, True])).tolist() == [0]


# ---------------------------------------------------------------- consensus
def test_consensus_selection_hand_computed():
    consistent, protos, valid, agreement = select_consensus(BANK, LABELS, n_clusters=2, n_neighbors=2, rho=0.5)
    # 6 fails the kNN test; 3, 4, 5 each have 6 among their two neighbours (agreement
    # 0.5 = rho) and pass; 0, 1, 2 agree fully.
    assert consistent.tolist() == [True, True, True, True, True, True, False]
    assert valid.tolist() == [True, True]
    # Prototypes are the means of the consistent members only (6 is excluded from cluster 0).
    torch.testing.assert_close(protos[0], F.normalize(BANK[:3].mean(0), dim=0))
    torch.testing.assert_close(protos[1], F.normalize(BANK[3:6].mean(0), dim=0))
    np.testing.assert_allclose(agreement.numpy(), [1, 1, 1, 0.5, 0.5, 0.5, 0])
    # rho = 1 drops 3, 4 and 5 as well.
    consistent, *_ = select_consensus(BANK, LABELS, 2, 2, rho=1.0)
    assert consistent.tolist() == [True, True, True, False, False, False, False]


def _angles(*degrees):
    rad = torch.tensor(degrees, dtype=torch.float32) * math.pi / 180
    return torch.stack([rad.cos(), rad.sin()], dim=1)


def test_consensus_requires_nearest_prototype_agreement():
    # On the unit circle at -30, 50, 60 (label 0) and 80, 90 degrees (label 1), sample 2
    # (60 deg) has its nearest neighbour in its own cluster (50 deg), but the first-pass
    # prototypes lie at 29.4 deg (cluster 0) and 85 deg (cluster 1): it is nearer to mu_1.
    bank = _angles(-30, 50, 60, 80, 90)
    labels = torch.tensor([0, 0, 0, 1, 1])
    agreement, _ = knn_agreement(bank, labels, 1)
    assert agreement.tolist() == [1.0] * 5
    consistent, protos, _, _ = select_consensus(bank, labels, 2, n_neighbors=1, rho=1.0)
    assert consistent.tolist() == [True, True, False, True, True]
    # The final prototype of cluster 0 is the mean of samples 0 and 1 only (10 deg).
    torch.testing.assert_close(protos[0], _angles(10)[0])


def test_consensus_can_be_empty():
    bank = _unit([1, 0], [1, 0.1], [0, 1], [0.1, 1])
    labels = torch.tensor([0, 1, 0, 1])  # every neighbour disagrees
    consistent, protos, valid, agreement = select_consensus(bank, labels, 2, n_neighbors=1, rho=0.5)
    assert not consistent.any()
    assert valid.all() and torch.isfinite(protos).all()  # fallback prototypes


# ---------------------------------------------------------------- loss terms
def test_prototype_contrast_hand_computed_and_limits():
    protos = _unit([1, 0], [0, 1])
    z = _unit([1, 0])
    # logits (1/tau, 0): loss = log(1 + exp(-1/tau)).
    assert prototype_contrast(z, protos, torch.tensor([0]), 0.5).item() == pytest.approx(math.log(1 + math.exp(-2)))
    assert prototype_contrast(z, protos, torch.tensor([1]), 0.5).item() == pytest.approx(math.log(1 + math.exp(2)))
    # Near zero at the right prototype and a small temperature; log K when z is equidistant.
    assert prototype_contrast(z, protos, torch.tensor([0]), 0.01).item() < 1e-20
    assert prototype_contrast(_unit([1, 1]), protos, torch.tensor([0]), 0.1).item() == pytest.approx(math.log(2))
    # Invalid prototypes leave the softmax: with one valid prototype the loss is zero.
    assert prototype_contrast(z, protos, torch.tensor([1]), 0.5, valid=torch.tensor([False, True])).item() == 0.0
    # Empty batch: zero, differentiable.
    empty = torch.zeros((0, 2), requires_grad=True)
    loss = prototype_contrast(empty, protos, torch.zeros(0, dtype=torch.long), 0.1)
    assert loss.item() == 0.0
    loss.backward()


def test_self_labelling_hand_computed():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    expected = 0.5 * (math.log(1 + math.exp(-2)) + math.log(2))
    assert self_labelling(logits, torch.tensor([0, 1])).item() == pytest.approx(expected)
    assert self_labelling(torch.zeros((0, 2)), torch.zeros(0, dtype=torch.long)).item() == 0.0


def _outputs(z, logits):
    return ModelOutput(features=z, embedding=F.normalize(z, dim=1), logits=logits)


def test_objective_terms_and_warmup():
    obj = SCLObjective(n_neighbors=2, rho=0.5, warmup_epochs=1, bank_momentum=0.0)
    obj.projection_dim = 2  # the bank width follows the instance head
    obj.setup(7, 2, torch.device("cpu"), max_epochs=3)
    assert obj.warmup == 1
    index = torch.arange(7)
    logits = torch.stack([(LABELS == 0).float(), (LABELS == 1).float()], dim=1) * 5.0
    out = _outputs(BANK.clone(), logits)
    obj.on_epoch_begin(0)
    terms = obj(out, out, index, 0)
    # Warm-up: semantic terms exactly zero; total = instance + cluster + balance.
    assert terms["semantic"].item() == 0.0 and terms["self_label"].item() == 0.0
    torch.testing.assert_close(terms["loss"], terms["instance"] + terms["cluster"] + terms["balance"])
    # The bank now holds every sample's embedding and predicted label.
    torch.testing.assert_close(obj.bank, BANK)
    assert obj.bank_labels.tolist() == LABELS.tolist() and obj.seen.all()
    diag = obj.on_epoch_end(0)
    assert diag["consensus_fraction"] == 0.0 and diag["cluster_sizes"] == [4, 3]
    # After warm-up: the consensus set is samples 0-5, and the terms are computed on them.
    obj.on_epoch_begin(1)
    assert obj.active and obj.consistent.tolist() == [True] * 6 + [False]
    terms = obj(out, out, index, 1)
    mask = obj.consistent
    expected_sem = prototype_contrast(BANK[mask], obj.prototypes, LABELS[mask], obj.semantic_temperature)
    torch.testing.assert_close(terms["semantic"], expected_sem)
    torch.testing.assert_close(terms["self_label"], F.cross_entropy(logits[mask], LABELS[mask]))
    torch.testing.assert_close(
        terms["loss"], terms["instance"] + terms["cluster"] + terms["balance"] + terms["semantic"] + terms["self_label"]
    )
    diag = obj.on_epoch_end(1)
    assert diag["consensus_fraction"] == pytest.approx(6 / 7)
    assert diag["semantic_active"] is True
    json.dumps(diag)
    obj.teardown()
    assert obj.bank is None


def test_balance_term_zero_when_balanced_and_maximal_when_collapsed():
    obj = SCLObjective()
    obj.projection_dim = 3
    obj.setup(4, 2, torch.device("cpu"), max_epochs=10)
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    balanced = _outputs(z, torch.tensor([[5.0, 0], [0, 5.0], [5.0, 0], [0, 5.0]]))
    assert obj(balanced, balanced, torch.arange(4), 0)["balance"].item() == pytest.approx(0.0, abs=1e-6)
    collapsed = _outputs(z, torch.tensor([[50.0, 0]] * 4))
    # log K - H(p) = log 2 for each view, summed over both views.
    assert obj(collapsed, collapsed, torch.arange(4), 0)["balance"].item() == pytest.approx(2 * math.log(2), abs=1e-5)


def test_bank_ema_update():
    obj = SCLObjective(bank_momentum=0.5)
    obj.projection_dim = 2
    obj.setup(2, 2, torch.device("cpu"), max_epochs=4)
    first = _outputs(torch.tensor([[1.0, 0], [0, 1.0]]), torch.zeros(2, 2))
    obj._update_bank(first.embedding, first.embedding, first.logits, first.logits, torch.arange(2))
    torch.testing.assert_close(obj.bank, torch.eye(2))  # first visit: copied
    second = _outputs(torch.tensor([[0.0, 1], [0, 1.0]]), torch.zeros(2, 2))
    obj._update_bank(second.embedding, second.embedding, second.logits, second.logits, torch.arange(2))
    torch.testing.assert_close(obj.bank[0], F.normalize(torch.tensor([0.5, 0.5]), dim=0))
    torch.testing.assert_close(obj.bank[1], torch.tensor([0.0, 1.0]))


def test_warmup_length():
    assert SCLObjective(warmup_fraction=0.2).warmup_length(100) == 20
    assert SCLObjective(warmup_fraction=0.2).warmup_length(3) == 1
    assert SCLObjective(warmup_fraction=0.0).warmup_length(3) == 1  # the bank must fill first
    assert SCLObjective(warmup_epochs=5, warmup_fraction=0.9).warmup_length(100) == 5


# ---------------------------------------------------------------- estimator
@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=90, centers=3, n_features=4, random_state=0)
    return X, y


def test_history_diagnostics_are_json_friendly(blobs):
    X, _ = blobs
    model = SCLClustering(n_clusters=3, max_epochs=4, warmup_fraction=0.25, batch_size=32, random_state=0, device="cpu").fit(X)
    history = model.history_
    assert [e["semantic_active"] for e in history] == [False, True, True, True]
    for entry in history:
        json.dumps(entry)
        assert len(entry["cluster_sizes"]) == 3 and sum(entry["cluster_sizes"]) == len(X)
        assert 0.0 <= entry["consensus_fraction"] <= 1.0
        assert entry["prototype_shift"] >= 0.0
    assert history[-1]["consensus_fraction"] > 0.0


def test_tiny_data_and_clipped_neighbours():
    X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    model = SCLClustering(n_clusters=2, n_neighbors=50, max_epochs=3, batch_size=2, random_state=0, device="cpu")
    labels = model.fit_predict(X)
    assert labels.shape == (4,)


def test_empty_consensus_set_falls_back(blobs):
    # rho = 1 with n_neighbors >= n - 1 means every sample must agree with all others: no
    # sample is consistent once more than one cluster is predicted. Training goes on.
    X, _ = blobs
    model = SCLClustering(
        n_clusters=3, n_neighbors=200, rho=1.0, max_epochs=4, batch_size=32, random_state=0, device="cpu"
    ).fit(X)
    active = [e for e in model.history_ if e["semantic_active"]]
    assert active and all(e["consensus_fraction"] == 0.0 for e in active)
    assert all(e["semantic"] == 0.0 and e["self_label"] == 0.0 for e in active)
    assert np.isfinite([e["loss"] for e in model.history_]).all()
    assert model.predict(X).shape == (len(X),)


def test_image_input_path():
    rng = np.random.default_rng(0)
    X = rng.random((40, 8, 8)).astype(np.float32)
    X[:20, :4] += 1.0
    X = np.clip(X, 0, 1)
    model = SCLClustering(n_clusters=2, max_epochs=3, batch_size=16, random_state=0, device="cpu").fit(X)
    assert model.input_shape_ == (1, 8, 8)
    assert model.history_[-1]["semantic_active"]
    assert model.predict(X).shape == (40,)
    # Flat rows with image_shape take the same (CNN) path.
    flat = SCLClustering(
        n_clusters=2, max_epochs=2, batch_size=16, random_state=0, device="cpu", image_shape=(1, 8, 8)
    ).fit(X.reshape(40, -1))
    assert flat.input_shape_ == (1, 8, 8)


def test_clusters_separated_blobs(blobs):
    X, y = blobs
    from sklearn.metrics import adjusted_rand_score

    model = SCLClustering(n_clusters=3, max_epochs=30, batch_size=32, random_state=0, device="cpu").fit(X)
    assert adjusted_rand_score(y, model.labels_) > 0.8


@pytest.mark.parametrize("param, value", [("rho", 1.5), ("n_neighbors", 0), ("warmup_fraction", -0.1), ("semantic_temperature", 0.0)])
def test_invalid_parameters(blobs, param, value):
    X, _ = blobs
    with pytest.raises(ValueError, match=param):
        SCLClustering(device="cpu", max_epochs=1, **{param: value}).fit(X)
