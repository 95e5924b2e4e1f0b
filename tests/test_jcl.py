"""JCL's negative-wise joint contrastive loss and objective, against hand-written references."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import make_blobs

from deepclust import JCLClustering
from deepclust._base import ClusterCollapseWarning
from deepclust.nn.model import ModelOutput
from deepclust.objectives.jcl import JCLObjective, joint_contrastive_loss, same_class_weights


def reference_nt_xent(z_a, z_b, tau):
    """NT-Xent written out anchor by anchor (deliberately not vectorised)."""
    z = torch.cat([F.normalize(z_a, dim=1), F.normalize(z_b, dim=1)]).double()
    n = z_a.shape[0]
    losses = []
    for u in range(2 * n):
        pos = (u + n) % (2 * n)
        sims = [math.exp(float(z[u] @ z[v]) / tau) for v in range(2 * n) if v != u]
        losses.append(-math.log(math.exp(float(z[u] @ z[pos]) / tau) / sum(sims)))
    return sum(losses) / len(losses)


def test_zero_weights_give_exactly_nt_xent():
    g = torch.Generator().manual_seed(0)
    z_a, z_b = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    expected = reference_nt_xent(z_a, z_b, 0.5)
    assert joint_contrastive_loss(z_a, z_b, None, 0.5).item() == pytest.approx(expected, rel=1e-5)
    zeros = torch.zeros(12, 12)
    assert joint_contrastive_loss(z_a, z_b, zeros, 0.5).item() == pytest.approx(expected, rel=1e-5)


def test_hand_computed_weighted_case():
    # Two samples, orthogonal views: every similarity is known.
    z_a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z_b = z_a.clone()
    w = torch.full((4, 4), 0.5)
    tau = 1.0
    # anchor 0: positive is view b of sample 0 (sim 1), negatives are 1 and 3 (sim 0 each).
    # numerator = e + 0.5 + 0.5, denominator = e + 1 + 1 (same for every anchor by symmetry)
    expected = -math.log((math.e + 1.0) / (math.e + 2.0))
    assert joint_contrastive_loss(z_a, z_b, w, tau).item() == pytest.approx(expected, rel=1e-6)
    # all negatives fully weighted: numerator == denominator, loss 0 (its minimum)
    assert joint_contrastive_loss(z_a, z_b, torch.ones(4, 4), tau).item() == pytest.approx(0.0, abs=1e-6)


def test_mean_pull_hand_computed_and_equal_to_sum_below_one():
    z_a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z_b = z_a.clone()
    tau = 1.0
    # Weights 0.5 on both negatives of each anchor sum to exactly 1: the mean pull leaves them.
    w = torch.full((4, 4), 0.5)
    assert joint_contrastive_loss(z_a, z_b, w, tau, "mean").item() == pytest.approx(
        joint_contrastive_loss(z_a, z_b, w, tau, "sum").item(), rel=1e-6
    )
    # Weights 1 sum to 2: divided by 2, numerator e + 0.5 + 0.5 (as the sum with 0.5 above).
    # The diagonal and the positive's entry do not count towards the sum.
    expected = -math.log((math.e + 1.0) / (math.e + 2.0))
    assert joint_contrastive_loss(z_a, z_b, torch.ones(4, 4), tau, "mean").item() == pytest.approx(expected, rel=1e-6)
    # Weights that sum to less than one are used as they are.
    small = torch.full((4, 4), 0.2)
    assert joint_contrastive_loss(z_a, z_b, small, tau, "mean").item() == pytest.approx(
        joint_contrastive_loss(z_a, z_b, small, tau, "sum").item(), rel=1e-6
    )
    with pytest.raises(ValueError, match="negative_pull"):
        joint_contrastive_loss(z_a, z_b, w, tau, "max")


def test_mean_pull_keeps_the_positive_in_charge():
    # Many confident same-class negatives: with the sum they swamp the positive (the loss
    # hardly depends on it), with the mean the positive's similarity still moves the loss.
    g = torch.Generator().manual_seed(0)
    z_a = torch.randn(32, 8, generator=g)
    z_b = z_a + 0.1 * torch.randn(32, 8, generator=g)
    far_b = -z_a  # every positive turned away
    w = torch.ones(64, 64)
    gap = {
        pull: joint_contrastive_loss(z_a, far_b, w, 0.5, pull).item() - joint_contrastive_loss(z_a, z_b, w, 0.5, pull).item()
        for pull in ("sum", "mean")
    }
    assert gap["mean"] > 0.5 > gap["sum"]


def test_nearest_pull_hand_computed():
    # Three samples on the unit circle at 0, 30 and 90 degrees, both views equal. Anchor 0's
    # negatives are sample 1 (cos 30 deg, twice) and sample 2 (cos 90 deg = 0, twice).
    angles = torch.tensor([0.0, math.pi / 6, math.pi / 2])
    z = torch.stack([angles.cos(), angles.sin()], dim=1)
    tau = 1.0
    w = torch.ones(6, 6)
    c = math.cos(math.pi / 6)
    loss = joint_contrastive_loss(z, z.clone(), w, tau, "nearest", pull_neighbors=2).item()
    # Each anchor keeps the weight of its two most similar negatives: anchor 0 (and 3) the two
    # views of sample 1; anchor 1 (and 4) the two views of sample 0 (cos 30 deg beats cos 60);
    # anchor 2 (and 5) the two views of sample 1 (cos 60 deg beats cos 90).
    sim = {(0, 1): c, (0, 2): 0.0, (1, 2): 0.5}
    sim.update({(j, i): v for (i, j), v in list(sim.items())})
    near = {0: 1, 1: 0, 2: 1}
    expected = 0.0
    for i in range(3):
        others = [j for j in range(3) if j != i]
        denominator = math.e + sum(2 * math.exp(sim[i, j]) for j in others)
        numerator = math.e + 2 * math.exp(sim[i, near[i]])
        expected += -math.log(numerator / denominator)
    assert loss == pytest.approx(expected / 3, rel=1e-5)
    # With room for every negative it is the sum; the weights still scale what is kept.
    for scale in (1.0, 0.3):
        assert joint_contrastive_loss(z, z.clone(), scale * w, tau, "nearest", pull_neighbors=10).item() == pytest.approx(
            joint_contrastive_loss(z, z.clone(), scale * w, tau, "sum").item(), rel=1e-6
        )
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="pull_neighbors"):
            joint_contrastive_loss(z, z.clone(), w, tau, "nearest", pull_neighbors=bad)


def test_negative_pull_default_and_opt_in(monkeypatch):
    made = []
    original = JCLClustering._make_objective

    def capture(self):
        made.append(original(self))
        return made[-1]

    monkeypatch.setattr(JCLClustering, "_make_objective", capture)
    table, _ = make_blobs(40, centers=2, random_state=0)
    images = np.random.default_rng(0).integers(0, 256, size=(40, 8, 8), dtype=np.uint8)
    params = dict(n_clusters=2, max_epochs=1, n_init=1, batch_size=16, device="cpu", random_state=0)
    with warnings.catch_warnings():  # one epoch is not meant to converge
        warnings.simplefilter("ignore")
        JCLClustering(**params).fit(table)
        JCLClustering(**params).fit(images)
        JCLClustering(**params, negative_pull="mean").fit(table)
        JCLClustering(**params, negative_pull="nearest", pull_neighbors=3).fit(images)
    assert [objective.negative_pull for objective in made] == ["sum", "sum", "mean", "nearest"]
    assert [objective.pull_neighbors for objective in made] == [5, 5, 5, 3]


@pytest.mark.parametrize(
    "params, name",
    [({"negative_pull": "average"}, "negative_pull"), ({"pull_neighbors": 0}, "pull_neighbors"), ({"pull_neighbors": 2.5}, "pull_neighbors")],
)
def test_negative_pull_validation(params, name):
    X, _ = make_blobs(40, centers=2, random_state=0)
    with pytest.raises(ValueError, match=name):
        JCLClustering(n_clusters=2, max_epochs=1, **params).fit(X)


def test_raising_weight_of_same_class_negative_lowers_loss():
    g = torch.Generator().manual_seed(1)
    z_a, z_b = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    w = torch.zeros(8, 8)
    base = joint_contrastive_loss(z_a, z_b, w, 0.5).item()
    w[0, 1] = w[1, 0] = 0.9  # samples 0 and 1 (view a) probably share a class
    assert joint_contrastive_loss(z_a, z_b, w, 0.5).item() < base


def test_same_class_weights():
    q = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    w = same_class_weights(q)
    np.testing.assert_allclose(w.numpy(), [[1, 0.5, 0], [0.5, 0.5, 0.5], [0, 0.5, 1]])
    sharp = same_class_weights(torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]), sharpen=True)
    np.testing.assert_allclose(sharp.numpy(), [[0.81, 0.72, 0], [0.72, 0.64, 0], [0, 0, 0.49]], rtol=1e-6)


def test_gradients_finite_at_large_magnitudes():
    # AMP-like magnitudes: huge embeddings, tiny temperature, near-one-hot posteriors.
    g = torch.Generator().manual_seed(2)
    z_a = (1e4 * torch.randn(8, 16, generator=g)).requires_grad_()
    z_b = (1e4 * torch.randn(8, 16, generator=g)).requires_grad_()
    logits = (1e3 * torch.randn(16, 5, generator=g)).requires_grad_()
    w = same_class_weights(logits.softmax(dim=1))
    loss = joint_contrastive_loss(z_a, z_b, w, 0.05)
    loss.backward()
    assert torch.isfinite(loss)
    for t in (z_a, z_b, logits):
        assert torch.isfinite(t.grad).all()
    half = joint_contrastive_loss(z_a.detach().bfloat16(), z_b.detach().bfloat16(), w.detach().bfloat16(), 0.05)
    assert torch.isfinite(half)


def test_loss_has_no_python_loop_over_anchors():
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(joint_contrastive_loss)))
    loops = (ast.For, ast.While, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)
    assert not [node for node in ast.walk(tree) if isinstance(node, loops)]


def _outputs(n=6, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        ModelOutput(torch.randn(n, 4, generator=g), F.normalize(torch.randn(n, 4, generator=g), dim=1), torch.randn(n, k, generator=g))
        for _ in range(2)
    ]


def test_warmup_and_ramp_schedule():
    obj = JCLObjective(warmup_fraction=0.2, ramp_fraction=0.3)
    obj.setup(10, 3, torch.device("cpu"), max_epochs=10)
    assert [obj.weight_scale(e) for e in range(10)] == pytest.approx([0, 0, 1 / 3, 2 / 3, 1, 1, 1, 1, 1, 1])
    immediate = JCLObjective(warmup_fraction=0.0, ramp_fraction=0.0)
    immediate.setup(10, 3, torch.device("cpu"), max_epochs=5)
    assert immediate.weight_scale(0) == 1.0


def test_objective_equals_cc_during_warmup_and_diagnostics():
    out_a, out_b = _outputs()
    obj = JCLObjective(warmup_fraction=0.5)
    obj.setup(6, 3, torch.device("cpu"), max_epochs=4)
    obj.on_epoch_begin(0)
    terms = obj(out_a, out_b, torch.arange(6), 0)
    assert terms["joint"].item() == pytest.approx(reference_nt_xent(out_a.embedding, out_b.embedding, 0.5), rel=1e-5)
    assert obj.on_epoch_end(0) == {"weight_scale": 0.0, "same_cluster_weight": 0.0}
    obj.on_epoch_begin(3)
    weighted = obj(out_a, out_b, torch.arange(6), 3)
    assert weighted["joint"].item() < terms["joint"].item()
    diag = obj.on_epoch_end(3)
    assert diag["weight_scale"] == 1.0 and 0.0 < diag["same_cluster_weight"] <= 1.0


@pytest.mark.parametrize("weight_gradient", [False, True])
def test_weight_gradient_switch(weight_gradient):
    out_a, out_b = _outputs()
    logits = out_a.logits.clone().requires_grad_()
    out_a = ModelOutput(out_a.features, out_a.embedding.clone().requires_grad_(), logits)
    obj = JCLObjective(warmup_fraction=0.0, ramp_fraction=0.0, weight_gradient=weight_gradient)
    obj.setup(6, 3, torch.device("cpu"), max_epochs=2)
    obj.on_epoch_begin(0)
    grad = torch.autograd.grad(obj(out_a, out_b, torch.arange(6), 0)["joint"], logits, allow_unused=True)[0]
    assert (grad is not None and grad.abs().sum() > 0) == weight_gradient


@pytest.mark.parametrize("sharpen", [False, True])
def test_fit_tabular_and_images(sharpen):
    from sklearn.metrics import adjusted_rand_score

    X, y = make_blobs(150, centers=3, random_state=0)
    model = JCLClustering(n_clusters=3, max_epochs=20, batch_size=32, device="cpu", random_state=0, sharpen=sharpen).fit(X)
    assert adjusted_rand_score(y, model.labels_) > 0.6
    assert model.history_[-1]["weight_scale"] == 1.0
    images = np.random.default_rng(0).integers(0, 256, size=(40, 8, 8), dtype=np.uint8)
    with warnings.catch_warnings():  # two epochs on noise may well collapse; only the path is tested
        warnings.simplefilter("ignore", ClusterCollapseWarning)
        JCLClustering(n_clusters=2, max_epochs=2, batch_size=16, device="cpu", random_state=0).fit(images)


def test_tiny_temperature_stays_finite_and_exact():
    # s ranges over [-1/tau, 1/tau] = [-500, 500]: a plain exp/sum would overflow or give
    # log(0). The positive is far below the largest (zero-weight) negative here.
    z_a = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    z_b = torch.tensor([[0.0, 1.0], [1.0, 0.0]], requires_grad=True)
    w = torch.zeros(4, 4, requires_grad=True)
    loss = joint_contrastive_loss(z_a, z_b, w, 0.002)
    loss.backward()
    # anchor 0: positive sim 0 -> 0, negatives: view a of 1 (sim 0) and view b of 1 (sim 1/tau)
    expected = 500.0 + math.log1p(2 * math.exp(-500.0))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    for t in (z_a, z_b, w):
        assert torch.isfinite(t.grad).all()
    # a weight on that dominant negative removes almost all of the loss
    w2 = torch.zeros(4, 4)
    w2[0, 3] = w2[3, 0] = w2[1, 2] = w2[2, 1] = 0.5
    assert joint_contrastive_loss(z_a.detach(), z_b.detach(), w2, 0.002).item() == pytest.approx(-math.log(0.5), rel=1e-5)
