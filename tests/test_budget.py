"""The automatic epoch budget, the convergence stop and the progress output (issue 23)."""

import io
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from deepclust import DRCClustering, JCLClustering, SCLClustering
from deepclust.training import budget
from deepclust.training.budget import convergence_state, resolve_max_epochs, steps_per_epoch
from deepclust.training.callbacks import Checkpoint, PrintLog, ProgressBar

from ._estimators import ESTIMATOR_CLASSES, fast

X, _ = make_blobs(n_samples=64, centers=3, random_state=0)


@pytest.fixture
def six_steps(monkeypatch):
    """A tiny automatic budget: 6 steps, i.e. 3 epochs of 2 batches of 32 samples."""
    monkeypatch.setattr(budget, "AUTO_STEPS", 6)


def test_resolve_max_epochs_is_a_step_budget():
    assert [resolve_max_epochs("auto", n, 128) for n in (1797, 9298, 70000)] == [100, 21, 3]
    # The same number of steps whatever the data size (up to the rounding to whole epochs).
    for n in (1797, 9298, 70000, 500_000):
        steps = resolve_max_epochs("auto", n, 128) * steps_per_epoch(n, 128)
        assert budget.AUTO_STEPS <= steps < budget.AUTO_STEPS + steps_per_epoch(n, 128)
    assert resolve_max_epochs(7, 1797, 128) == 7
    assert resolve_max_epochs(0, 1797, 128) == 0


@pytest.mark.parametrize("cls", ESTIMATOR_CLASSES)
def test_auto_is_the_default_and_resolves(cls, six_steps):
    assert cls().max_epochs == "auto"
    model = fast(cls, n_clusters=3, max_epochs="auto", tol=None).fit(X)
    assert model.max_epochs_ == 3 and model.n_iter_ == 3
    assert model.stop_reason_ == "max_epochs"


def test_auto_gives_the_schedules_the_resolved_epochs(six_steps):
    # JCL over 3 epochs: warm-up ceil(0.1 * 3) = 1 epoch, ramp ceil(0.2 * 3) = 1 epoch, so the
    # weight is 1 from epoch 1 on; with the 100 epochs of the old default it would still be 0.
    jcl = fast(JCLClustering, n_clusters=3, max_epochs="auto", tol=None).fit(X)
    assert [h["weight_scale"] for h in jcl.history_] == [0.0, 1.0, 1.0]
    # SCL over 3 epochs: warm-up ceil(0.2 * 3) = 1 epoch, so the semantic terms are on by the
    # last epoch; over 100 epochs (a 20-epoch warm-up) they would not be.
    scl = fast(SCLClustering, n_clusters=3, max_epochs="auto", tol=None).fit(X)
    assert bool(scl.history_[-1]["semantic_active"]) and not scl.history_[0]["semantic_active"]


def test_warm_start_with_auto_adds_one_more_budget(six_steps):
    model = fast(DRCClustering, n_clusters=3, max_epochs="auto", tol=None, warm_start=True).fit(X)
    model.fit(X)
    assert model.n_iter_ == 6 and model.max_epochs_ == 3
    assert [h["epoch"] for h in model.history_] == list(range(6))


def test_convergence_state_compares_window_means():
    values = [1.0, 0.3, 0.2, 0.25, 0.15, 0.2, 0.2, float("nan")]
    history = [{"epoch": i, "labels_changed": v} for i, v in enumerate(values)]
    # A lucky low epoch (0.15) does not make the next ones count as "no improvement":
    # means over the last 2 epochs against the 2 before (the NaN entry is skipped).
    assert convergence_state(history, 2) == pytest.approx((0.25 + 0.15) / 2 - (0.2 + 0.2) / 2)
    assert convergence_state(history, 3) == pytest.approx((0.3 + 0.2 + 0.25) / 3 - (0.15 + 0.2 + 0.2) / 3)
    assert convergence_state(history, 2, start=5) is None  # 2 counted epochs: too few
    assert convergence_state([], 1) is None


def test_convergence_stops_and_says_why():
    # tol=1: labels_changed cannot fall by its whole range, so the stop comes as soon as two
    # windows of counted epochs exist (from epoch 1: epoch 0 compares with no earlier labels).
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = fast(DRCClustering, n_clusters=3, max_epochs=20, tol=1.0, n_iter_no_change=1).fit(X)
    assert model.n_iter_ == 3 and model.stop_reason_ == "converged"
    longer = fast(DRCClustering, n_clusters=3, max_epochs=20, tol=1.0, n_iter_no_change=4).fit(X)
    assert longer.n_iter_ == 9


def test_convergence_ignores_the_warm_up():
    # SCL's loss changes at the end of its warm-up: epochs before it do not count.
    model = fast(SCLClustering, n_clusters=3, max_epochs=20, tol=1.0, n_iter_no_change=1, warmup_epochs=3).fit(X)
    assert model.n_iter_ == 5 and model.stop_reason_ == "converged"


def test_budget_end_warns_when_still_settling():
    # labels_changed of this fit: 1.0, 0.28, 0.20 (epoch 0 not counted): windows of 1 epoch,
    # a fall of 0.08 > tol at the last epoch, so the budget ended before convergence. (The
    # session-19 noise, whose trajectory this is: the default noise of these separated blobs
    # is their mixture components' since session 20.)
    params = dict(n_clusters=3, max_epochs=3, tol=0.01, n_iter_no_change=1, augment="pooled_cluster_noise")
    with pytest.warns(ConvergenceWarning, match="budget of 3 epochs"):
        model = fast(DRCClustering, **params).fit(X)
    assert model.stop_reason_ == "max_epochs"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fast(DRCClustering, **{**params, "tol": None}).fit(X)
        # Too short to judge with the default windows (20 + 20 counted epochs): no warning,
        # which also keeps the tiny fits of the test suite quiet.
        short = fast(DRCClustering, n_clusters=3, max_epochs=5).fit(X)
    assert short.stop_reason_ == "max_epochs"


def test_resumed_converged_checkpoint_trains_no_further(tmp_path):
    params = dict(n_clusters=3, max_epochs=20, tol=1.0, n_iter_no_change=1)
    first = fast(DRCClustering, **params, callbacks=[Checkpoint(tmp_path)]).fit(X)
    assert first.n_iter_ == 3 and first.stop_reason_ == "converged"
    checkpoint = Checkpoint(tmp_path)
    resumed = fast(DRCClustering, **params, callbacks=[checkpoint]).fit(X)
    assert checkpoint.resumed_epoch_ == 3
    assert resumed.n_iter_ == 3 and resumed.stop_reason_ == "converged"
    np.testing.assert_array_equal(resumed.labels_, first.labels_)


@pytest.mark.parametrize(
    "params, name",
    [
        ({"tol": -1e-3}, "tol"),
        ({"tol": "auto"}, "tol"),
        ({"n_iter_no_change": 0}, "n_iter_no_change"),
        ({"n_iter_no_change": 2.5}, "n_iter_no_change"),
        ({"max_epochs": "sometimes"}, "max_epochs"),
    ],
)
def test_new_parameters_are_validated(params, name):
    with pytest.raises(ValueError, match=f"'{name}' parameter"):
        fast(DRCClustering, n_clusters=3, **params).fit(X)


def test_verbose_1_prints_budget_progress_and_milestones(capsys):
    fast(SCLClustering, n_clusters=3, max_epochs=4, warmup_epochs=2, tol=None, verbose=1).fit(X)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "SCLClustering on cpu: MLPBackbone backbone, tabular 2 (tabular) input, max_epochs=4"
    assert lines[1] == "budget: 4 epochs of 2 steps (batch_size 32) = 8 steps"
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split(" |")[0] for line in epochs] == ["epoch 1/4", "epoch 2/4", "epoch 3/4", "epoch 4/4"]
    assert all("elapsed " in line and "left <= " in line for line in epochs)
    warm_up_over = lines.index(epochs[2]) - 1  # printed before the first epoch with the semantic terms
    assert lines[warm_up_over].startswith("SCL warm-up over after 2 epochs")
    assert lines[-1].startswith("stopped after 4 epochs: all epochs of the budget done")


def test_printlog_says_converged():
    log = io.StringIO()
    fast(DRCClustering, n_clusters=3, max_epochs=20, tol=1.0, n_iter_no_change=1, callbacks=[PrintLog(log)]).fit(X)
    assert log.getvalue().splitlines()[-1].startswith("stopped after 3 epochs: converged")


def test_progress_bar_counts_epochs_of_the_budget():
    out = io.StringIO()
    fast(DRCClustering, n_clusters=3, max_epochs=2, tol=None, callbacks=[ProgressBar(out, width=4)]).fit(X)
    ends = [line.split("\r")[-1] for line in out.getvalue().split("\n")[:-1]]
    assert [line[:18] for line in ends] == ["epoch 1/2 [####] 2", "epoch 2/2 [####] 2"]
    assert all("left 0.0s" in line for line in ends)
