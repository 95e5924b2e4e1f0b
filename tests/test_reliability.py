"""Reliability of the training engine: checkpoint/resume, non-finite steps, out-of-memory
recovery, interrupted fits, degenerate data and cluster collapse (issue 9)."""

import os
import warnings

import numpy as np
import pytest
import torch

from deepclust import ClusterCollapseWarning, DRCClustering, SCLClustering
from deepclust.training.callbacks import Callback, Checkpoint
from deepclust.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from deepclust.training.trainer import NonFiniteError, NonFiniteWarning, OutOfMemoryWarning, Trainer

KW = dict(device="cpu", max_epochs=4, batch_size=32, random_state=0, n_clusters=3, n_init=1)


@pytest.fixture(scope="module")
def X():
    rng = np.random.RandomState(0)
    centers = rng.randn(3, 5) * 4
    return (centers[rng.randint(0, 3, 96)] + rng.randn(96, 5)).astype(np.float32)


class InterruptAt(Callback):
    """Raise ``exc`` at the start of epoch ``epoch`` (or at its second batch, ``mid=True``)."""

    def __init__(self, epoch, exc=KeyboardInterrupt, mid=False):
        self.epoch, self.exc, self.mid = epoch, exc, mid

    def on_epoch_begin(self, trainer, epoch):
        self.current = epoch
        if epoch == self.epoch and not self.mid:
            raise self.exc()

    def on_batch_end(self, trainer, batch, n_batches):
        if self.current == self.epoch and self.mid and batch == 1:
            raise self.exc()


def quiet_fit(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X)


def finite_module(model):
    return all(torch.isfinite(p).all() for p in model.module_.state_dict().values() if p.is_floating_point())


# ---------------------------------------------------------------- checkpoint / resume
@pytest.mark.parametrize("cls", [DRCClustering, SCLClustering])
def test_interrupted_then_resumed_fit_is_exact(cls, X, tmp_path):
    reference = quiet_fit(cls(**KW), X)
    with pytest.warns(UserWarning, match="interrupted"):
        cls(**KW, callbacks=[Checkpoint(tmp_path, every=1), InterruptAt(2, mid=True)]).fit(X)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2
    checkpoint = Checkpoint(tmp_path)
    resumed = quiet_fit(cls(**KW, callbacks=[checkpoint]), X)
    assert checkpoint.resumed_epoch_ == 2
    np.testing.assert_array_equal(resumed.labels_, reference.labels_)
    assert [h["loss"] for h in resumed.history_] == [h["loss"] for h in reference.history_]
    assert resumed.n_iter_ == 4
    for a, b in zip(resumed.module_.state_dict().values(), reference.module_.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_resume_after_a_crash_and_every_n(X, tmp_path):
    reference = quiet_fit(DRCClustering(**KW), X)
    with pytest.raises(RuntimeError):
        quiet_fit(DRCClustering(**KW, callbacks=[Checkpoint(tmp_path, every=2), InterruptAt(3, RuntimeError)]), X)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2  # epoch 3 (index 2) was not a multiple
    resumed = quiet_fit(DRCClustering(**KW, callbacks=[Checkpoint(tmp_path, every=2)]), X)
    np.testing.assert_array_equal(resumed.labels_, reference.labels_)
    # A finished checkpoint: fitting again trains no further and gives the same model.
    again = quiet_fit(DRCClustering(**KW, callbacks=[Checkpoint(tmp_path)]), X)
    np.testing.assert_array_equal(again.labels_, reference.labels_)
    assert again.n_iter_ == 4


def test_checkpoint_contents_and_resume_false(X, tmp_path):
    quiet_fit(DRCClustering(**{**KW, "max_epochs": 1}, callbacks=[Checkpoint(tmp_path)]), X)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    for key in ("module", "optimizer", "scaler", "rng", "epoch", "history", "objective", "batch_size"):
        assert key in state
    assert set(state["rng"]) >= {"shuffle", "augment", "numpy", "torch"}
    assert state["epoch"] == 1 and len(state["history"]) == 1
    # Plain torch.load with weights_only=True reads the payload (after the header).
    model = quiet_fit(DRCClustering(**{**KW, "max_epochs": 2}, callbacks=[Checkpoint(tmp_path, resume=False)]), X)
    assert model.n_iter_ == 2 and load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2
    assert [p for p in os.listdir(tmp_path) if p.startswith(".tmp")] == []


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "foreign"])
def test_corrupted_checkpoint_gives_clear_error_and_is_kept(X, tmp_path, damage):
    quiet_fit(DRCClustering(**{**KW, "max_epochs": 1}, callbacks=[Checkpoint(tmp_path)]), X)
    path = tmp_path / "checkpoint.pt"
    data = path.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data = data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:]
    elif damage == "empty":
        data = b""
    else:
        buf = __import__("io").BytesIO()
        torch.save({"epoch": 1}, buf)
        data = buf.getvalue()
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match="checkpoint"):
        DRCClustering(**KW, callbacks=[Checkpoint(tmp_path)]).fit(X)
    assert path.read_bytes() == data  # never replaced


def test_failed_write_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint({"epoch": 1}, path)
    good = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"epoch": 2}, path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["c.pt"]  # no temporary file left behind
    assert load_checkpoint(path)["epoch"] == 1


def test_mismatching_checkpoint(X, tmp_path):
    quiet_fit(DRCClustering(**{**KW, "max_epochs": 1}, callbacks=[Checkpoint(tmp_path)]), X)
    with pytest.raises(CheckpointError, match="training samples"):
        DRCClustering(**KW, callbacks=[Checkpoint(tmp_path)]).fit(X[:50])
    with pytest.raises(CheckpointError, match="does not match"):
        DRCClustering(**{**KW, "n_clusters": 4}, callbacks=[Checkpoint(tmp_path)]).fit(X)


def test_checkpoint_of_another_estimator_is_refused_before_loading(X, tmp_path):
    quiet_fit(SCLClustering(**{**KW, "max_epochs": 1}, callbacks=[Checkpoint(tmp_path)]), X)
    with pytest.raises(CheckpointError, match="SCL.*nothing from it is loaded"):
        DRCClustering(**KW, callbacks=[Checkpoint(tmp_path)]).fit(X)


# ---------------------------------------------------------------- non-finite steps
class PoisonedDRC(DRCClustering):
    """DRC whose loss is NaN on the steps listed in the class attribute ``poison``."""

    poison: set = set()

    def _make_objective(self):
        objective = super()._make_objective()
        original = objective.__call__
        counter = {"step": 0}
        poison = self.poison

        class Wrapped(type(objective)):
            def __call__(self, *args):
                terms = original(*args)
                step = counter["step"]
                counter["step"] += 1
                if step in poison or "all" in poison:
                    terms["loss"] = terms["loss"] * float("nan")
                return terms

        objective.__class__ = Wrapped
        return objective


def test_nonfinite_steps_are_skipped_with_lr_backoff(X, monkeypatch):
    monkeypatch.setattr(PoisonedDRC, "poison", {1, 2})
    with pytest.warns(NonFiniteWarning, match="epoch 0, batch 1"):
        model = PoisonedDRC(**KW).fit(X)
    assert model.history_[0]["skipped_steps"] == 2 and model.history_[1]["skipped_steps"] == 0
    assert all(np.isfinite(h["loss"]) for h in model.history_)
    assert finite_module(model)
    assert np.isfinite(model.predict_proba(X)).all()


def test_an_epoch_of_skipped_steps_still_reports_every_term(X, monkeypatch):
    monkeypatch.setattr(PoisonedDRC, "poison", {3, 4, 5})  # all 3 steps of epoch 1 (under the limit of 5)
    with pytest.warns(NonFiniteWarning):
        model = PoisonedDRC(**KW).fit(X)
    assert model.history_[1]["skipped_steps"] == 3
    assert set(model.history_[1]) == set(model.history_[0])
    assert np.isnan(model.history_[1]["loss"]) and np.isfinite(model.history_[2]["loss"])


def test_a_skipped_step_leaves_the_scl_memory_bank_finite(X):
    calls = {"n": 0}

    def augment(batch):
        calls["n"] += 1
        noisy = batch + 0.1 * torch.randn_like(batch)
        return noisy * float("nan") if calls["n"] == 2 else noisy

    captured = {}

    class Grab(Callback):
        def on_epoch_end(self, trainer, entry):
            captured["bank"] = trainer.objective.bank.clone()
            captured["seen"] = trainer.objective.seen.clone()

    kw = {**KW, "max_epochs": 3}
    with pytest.warns(NonFiniteWarning, match="epoch 0, batch 1"):
        model = SCLClustering(**kw, warmup_epochs=1, augment=augment, callbacks=[Grab()]).fit(X)
    assert torch.isfinite(captured["bank"]).all() and bool(captured["seen"].all())
    assert model.history_[-1]["consensus_fraction"] > 0  # the semantic terms still act after the bad step


def test_repeated_nonfinite_steps_raise_and_restore(X, monkeypatch):
    monkeypatch.setattr(PoisonedDRC, "poison", {"all"})
    model = PoisonedDRC(**KW)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteWarning)
        with pytest.raises(NonFiniteError, match="epoch 1"):
            model.fit(X)  # 3 steps per epoch: the 5th consecutive failure is in epoch 1


def test_diverging_trainer_restores_last_finite_weights(X, monkeypatch):
    # A step that succeeds but leaves NaN weights: the module goes back to its last finite state.
    original = Trainer.train_step

    def step(self, store, index, epoch):
        terms = original(self, store, index, epoch)
        if epoch == 1:
            with torch.no_grad():
                next(self.module.parameters()).fill_(float("nan"))
        return terms

    monkeypatch.setattr(Trainer, "train_step", step)
    captured = {}

    class Grab(Callback):
        def on_train_begin(self, trainer):
            captured["trainer"] = trainer

    with pytest.raises(NonFiniteError, match="epoch 1"):
        DRCClustering(**KW, callbacks=[Grab()]).fit(X)
    module = captured["trainer"].module
    assert all(torch.isfinite(p).all() for p in module.parameters())


# ---------------------------------------------------------------- out of memory
def oom_above(limit, monkeypatch):
    """Make every step on more than ``limit`` samples fail with OOM; returns the batch sizes tried."""
    original = Trainer.train_step
    sizes = []

    def step(self, store, index, epoch):
        sizes.append(index.numel())
        if index.numel() > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB (injected)")
        return original(self, store, index, epoch)

    monkeypatch.setattr(Trainer, "train_step", step)
    return sizes


def test_oom_halves_the_batch(X, monkeypatch):
    oom_above(20, monkeypatch)
    with pytest.warns(OutOfMemoryWarning, match="batch_size=16"):
        model = DRCClustering(**KW).fit(X)
    assert model.n_iter_ == 4 and finite_module(model)
    assert np.isfinite([h["loss"] for h in model.history_]).all()


def test_oom_on_an_odd_batch_splits_it_in_two_halves(X, monkeypatch):
    sizes = oom_above(20, monkeypatch)
    with pytest.warns(OutOfMemoryWarning, match="batch_size=16"):
        DRCClustering(**{**KW, "batch_size": 33, "max_epochs": 1}).fit(X[:66])
    assert sizes[:3] == [33, 17, 16]  # halves, not thirds of 11 below the floor of 16


def test_a_halved_batch_holds_for_the_later_restarts(X, monkeypatch):
    sizes = oom_above(20, monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OutOfMemoryWarning)
        model = DRCClustering(**{**KW, "n_init": 3}).fit(X)
    assert sum(issubclass(w.category, OutOfMemoryWarning) for w in caught) == 1
    assert model.restart_scores_.shape == (3,)
    # Only the first restart's first epoch tried batches of 32 (its three, each split in two);
    # the later restarts start at 16.
    assert [i for i, size in enumerate(sizes) if size > 20] == [0, 3, 6]


def test_oom_below_the_floor_is_a_clear_error(X, monkeypatch):
    oom_above(8, monkeypatch)  # the floor is 16: a batch of 16 still fails
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfMemoryWarning)
        with pytest.raises(RuntimeError, match="floor of 16"):
            DRCClustering(**KW).fit(X)


# ---------------------------------------------------------------- KeyboardInterrupt
def test_keyboard_interrupt_leaves_a_usable_estimator(X):
    reference = quiet_fit(DRCClustering(**{**KW, "max_epochs": 2}), X)
    with pytest.warns(UserWarning, match="end of epoch 1"):
        model = DRCClustering(**KW, callbacks=[InterruptAt(2, mid=True)]).fit(X)
    assert model.n_iter_ == len(model.history_) == 2
    np.testing.assert_array_equal(model.labels_, reference.labels_)  # weights of epoch 1, not mid-epoch 2
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_keyboard_interrupt_before_the_first_epoch(X):
    with pytest.warns(UserWarning, match="interrupted"):
        model = DRCClustering(**KW, callbacks=[InterruptAt(0)]).fit(X)
    assert model.history_ == [] and model.predict(X).shape == (len(X),)


# ---------------------------------------------------------------- degenerate data
rng = np.random.RandomState(0)
DEGENERATE = {
    "identical": (np.ones((40, 4), np.float32), 3),
    "constant_feature": (np.c_[rng.randn(40, 3), np.full(40, 7.0)].astype(np.float32), 3),
    "huge": (rng.randn(40, 4) * 1e30, 3),
    "huge_constant": (np.full((40, 4), 1e30), 3),
    "n_clusters_eq_n_samples": (rng.randn(6, 4), 6),
    "imbalanced": (np.r_[rng.randn(57, 4), rng.randn(3, 4) + 10], 3),
}


@pytest.mark.parametrize("name", list(DEGENERATE))
def test_degenerate_data_no_crash_no_nan(name):
    X, k = DEGENERATE[name]
    X_before = X.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClusterCollapseWarning)
        warnings.simplefilter("error", NonFiniteWarning)
        model = DRCClustering(n_clusters=k, device="cpu", max_epochs=2, batch_size=16, random_state=0).fit(X)
    np.testing.assert_array_equal(X, X_before)
    assert np.isfinite([h["loss"] for h in model.history_]).all()
    assert np.isfinite(model.predict_proba(X)).all() and np.isfinite(model.transform(X)).all()
    assert model.labels_.shape == (len(X),) and 0 <= model.labels_.min() and model.labels_.max() < k


def test_cluster_collapse_is_warned_and_reported():
    X, _ = DEGENERATE["identical"]
    with pytest.warns(ClusterCollapseWarning, match="of n_clusters=3"):
        model = DRCClustering(n_clusters=3, device="cpu", max_epochs=1, batch_size=16, random_state=0).fit(X)
    assert model.history_[-1]["n_clusters_labels"] == len(np.unique(model.labels_)) < 3
