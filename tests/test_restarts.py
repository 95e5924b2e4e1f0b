"""Restarts (``n_init``): deepclust.training.restarts and the estimators' use of it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from deepclust import DRCClustering, JCLClustering, SCLClustering
from deepclust.training.restarts import (
    input_inertia,
    mutual_information,
    resolve_n_init,
    restart_seeds,
    restart_value,
    trial_epochs,
)

X, _ = make_blobs(n_samples=90, centers=3, n_features=4, random_state=0)
FAST = dict(max_epochs=2, batch_size=32, device="cpu", random_state=0)


def test_restart_seeds_start_with_the_seed_and_are_distinct():
    assert restart_seeds(3, 1) == [3]
    seeds = restart_seeds(3, 4)
    assert seeds[0] == 3 and len(set(seeds)) == 4
    assert restart_seeds(3, 4) == seeds  # deterministic
    assert not set(restart_seeds(4, 4)[1:]) & set(seeds[1:])  # not seed + r


def test_mutual_information_is_high_for_confident_even_assignments():
    assert mutual_information(np.eye(3)[[0, 1, 2, 0, 1, 2]]) == pytest.approx(np.log(3))
    assert mutual_information(np.eye(3)[[0] * 6]) == pytest.approx(0.0, abs=1e-9)  # one cluster
    assert mutual_information(np.full((6, 3), 1 / 3)) == pytest.approx(0.0, abs=1e-9)  # unsure


@pytest.mark.filterwarnings("ignore::deepclust.ClusterCollapseWarning")  # 24 random images, 2 epochs
def test_auto_means_three_restarts_for_tables_and_one_for_images():
    assert resolve_n_init("auto", "tabular") == 3
    assert resolve_n_init("auto", "image") == 1
    model = DRCClustering(n_clusters=3, **FAST).fit(X)
    assert model.restart_scores_.shape == (3,)
    images = np.random.default_rng(0).random((24, 8, 8)).astype(np.float32)
    assert DRCClustering(n_clusters=2, **FAST).fit(images).restart_scores_.shape == (1,)


def test_trial_epochs_are_a_share_of_the_budget_at_least_one():
    assert trial_epochs("auto", "image", 100) == 30
    assert trial_epochs("auto", "tabular", 100) == 100
    assert trial_epochs(0.3, "tabular", 10) == 3  # no float round-up to 4
    assert trial_epochs(0.01, "image", 6) == 1
    assert trial_epochs(1.0, "image", 7) == 7


IMAGES = np.random.default_rng(1).random((48, 8, 8)).astype(np.float32)


@pytest.mark.filterwarnings("ignore::deepclust.ClusterCollapseWarning")  # random images, 4 epochs
@pytest.mark.parametrize("cls", [DRCClustering, SCLClustering, JCLClustering])
def test_a_trial_restart_that_trains_on_is_the_network_its_seed_trains_alone(cls):
    # The trial pauses after 2 of 4 epochs; the kept run resumes with the whole budget's
    # schedules and its random streams (views, batches, dropout), so it equals one
    # uninterrupted fit from its seed. No input graph or prior: those come from the fit's seed.
    kw = dict(FAST, max_epochs=4, tol=None, neighbor_positives=None, cluster_prior="uniform")
    if cls is SCLClustering:
        kw["warmup_epochs"] = 1
    multi = cls(n_clusters=3, n_init=3, restart_fraction=0.5, **kw).fit(IMAGES)
    assert multi.n_iter_ == 4 and multi.stop_reason_ == "max_epochs"
    seed = restart_seeds(FAST["random_state"], 3)[multi.best_restart_]
    alone = cls(n_clusters=3, n_init=1, **{**kw, "random_state": seed}).fit(IMAGES)
    np.testing.assert_array_equal(multi.labels_, alone.labels_)
    assert [h["loss"] for h in multi.history_] == pytest.approx([h["loss"] for h in alone.history_], rel=1e-6)
    # The restarts were compared after their trial: the kept score is not the final one.
    assert multi.best_restart_ == int(np.argmax(multi.restart_scores_))


@pytest.mark.filterwarnings("ignore::deepclust.ClusterCollapseWarning")
def test_every_trial_ends_for_its_callbacks_and_dropped_trials_say_so(capsys):
    from deepclust.training.callbacks import Callback

    class Ends(Callback):
        def __init__(self):
            self.begun, self.ended = 0, []

        def on_train_begin(self, trainer):
            self.begun += 1

        def on_train_end(self, trainer):
            self.ended.append((trainer.stop_reason, len(trainer.history)))

    ends = Ends()
    model = DRCClustering(n_clusters=3, n_init=3, restart_fraction=0.5, callbacks=[ends], verbose=1, **{**FAST, "max_epochs": 4, "tol": None}).fit(IMAGES)
    assert ends.begun == 3 and len(ends.ended) == 3
    assert sorted(ends.ended) == [("max_epochs", 4), ("restart_dropped", 2), ("restart_dropped", 2)]
    out = capsys.readouterr().out
    scored = [line for line in out.splitlines() if line.startswith("restart ")]
    assert len(scored) == 3 and all(line.endswith("after 2 epochs") for line in scored)
    assert out.count("restart dropped after its trial") == 2
    assert f"kept restart {model.best_restart_ + 1} of 3 (the highest score) (trains on)" in out


@pytest.mark.parametrize("bad", [0, -0.5, 1.5, "half"])
def test_bad_restart_fraction_is_named(bad):
    with pytest.raises(ValueError, match="restart_fraction"):
        DRCClustering(n_clusters=2, restart_fraction=bad, **FAST).fit(X)


@pytest.mark.parametrize("cls", [DRCClustering, SCLClustering, JCLClustering])
def test_the_kept_network_is_the_highest_scoring_and_the_first_is_n_init_1s(cls):
    # head_refit=None: on these easy blobs every refitted head is a perfect, balanced
    # partition, so all restarts would tie at log(3) (the refit has its own tests).
    kw = dict(FAST, head_refit=None)
    kw = dict(kw, warmup_epochs=1) if cls is SCLClustering else kw
    single = cls(n_clusters=3, n_init=1, **kw).fit(X)
    multi = cls(n_clusters=3, n_init=3, **kw).fit(X)
    # Restart 0 is the network n_init=1 trains (same seed, same stream).
    assert multi.restart_scores_[0] == pytest.approx(single.restart_scores_[0], rel=1e-6)
    assert multi.best_restart_ == int(np.argmax(multi.restart_scores_))
    assert multi.score(X) == pytest.approx(multi.restart_scores_.max(), rel=1e-6)
    assert len(set(np.round(multi.restart_scores_, 6))) > 1  # different seeds, different networks
    if multi.best_restart_ == 0:
        np.testing.assert_array_equal(multi.labels_, single.labels_)
    again = cls(n_clusters=3, n_init=3, **kw).fit(X)
    np.testing.assert_array_equal(again.labels_, multi.labels_)  # deterministic under random_state


def test_the_restarts_share_one_reduction_graph_and_prior_from_the_fits_seed(monkeypatch):
    import deepclust.training.input_space as input_space

    calls = {"reduced": [], "neighbors": [], "clusters": [], "mixture": []}

    def counting(name, func):
        def wrapped(*args, **kwargs):
            calls[name].append(args)
            return func(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(input_space, "reduced_input", counting("reduced", input_space.reduced_input))
    monkeypatch.setattr(input_space, "input_neighbors", counting("neighbors", input_space.input_neighbors))
    monkeypatch.setattr(input_space, "input_clusters", counting("clusters", input_space.input_clusters))
    monkeypatch.setattr(input_space, "fit_input_mixture", counting("mixture", input_space.fit_input_mixture))
    wide = np.random.default_rng(0).normal(size=(90, 60)).astype(np.float32)  # > 50 columns: PCA, seeded

    def counts(data, **params):
        """Fit DRC on ``data`` and say how often each summary of the input was computed."""
        for made in calls.values():
            made.clear()
        DRCClustering(n_clusters=3, **params, **FAST).fit(data)
        return [len(c) for c in calls.values()]

    # One reduction and graph; one mixture (too few rows for it here), so one clustering: the
    # prior's k-means, which the pooled noise takes in place of the mixture's clusters.
    assert counts(wide, n_init=3, neighbor_positives="input", cluster_prior="input") == [1, 1, 1, 1]
    assert calls["reduced"][0][-1] == FAST["random_state"]  # the fit's seed, restart 0's
    assert [args[-1] for args in calls["clusters"]] == ["kmeans"]
    assert all(args[-2] == FAST["random_state"] for args in calls["clusters"])
    assert calls["mixture"][0][-1] == FAST["random_state"]
    # The within-cluster noise (the tabular default) alone: one mixture per fit, whose labels
    # are the pooled noise's clusters where it is not stable.
    assert counts(X, n_init=2, neighbor_positives=None, cluster_prior="uniform") == [1, 0, 0, 1]
    # With the k-means noise and the free k-means refit the prior and the noise share one
    # k-means, and no mixture is fitted.
    assert counts(
        X, n_init=2, neighbor_positives=None, cluster_prior="input", augment="kmeans_cluster_noise", head_refit="kmeans"
    ) == [1, 0, 1, 0]
    # Nothing is reduced when neither the input graph, the input prior, the noise nor the
    # refit uses the input.
    assert counts(
        X, n_init=2, neighbor_positives=None, cluster_prior="uniform", augment="scarf", head_refit="kmeans"
    ) == [0, 0, 0, 0]
    # The default refit alone: one mixture per fit, shared by the restarts' refits.
    assert counts(X, n_init=2, neighbor_positives=None, cluster_prior="uniform", augment="scarf") == [1, 0, 0, 1]


def test_a_warm_start_continues_the_kept_network_without_restarts():
    model = DRCClustering(n_clusters=3, n_init=3, warm_start=True, **FAST).fit(X)
    kept = model.restart_scores_.max()
    assert model.score(X) == pytest.approx(kept, rel=1e-6)
    model.fit(X)
    assert model.restart_scores_.shape == (1,) and model.n_iter_ == 4


@pytest.mark.parametrize("bad", [0, -1, 1.5, "many"])
def test_bad_n_init_is_named(bad):
    with pytest.raises(ValueError, match="n_init"):
        DRCClustering(n_clusters=2, n_init=bad, **FAST).fit(X)


def test_callbacks_make_auto_one_restart_and_an_explicit_n_init_runs_them_all():
    from deepclust.training.callbacks import Callback

    class CountFits(Callback):
        def __init__(self):
            self.fits = 0

        def on_train_begin(self, trainer):
            self.fits += 1

    counter = CountFits()
    DRCClustering(n_clusters=3, callbacks=[counter], **FAST).fit(X)
    assert counter.fits == 1
    counter = CountFits()
    DRCClustering(n_clusters=3, n_init=2, callbacks=[counter], **FAST).fit(X)
    assert counter.fits == 2


def test_verbose_says_each_restarts_score_and_which_was_kept(capsys):
    model = DRCClustering(n_clusters=3, n_init=2, verbose=1, **FAST).fit(X)
    lines = capsys.readouterr().out.splitlines()
    assert [line[:12] for line in lines if line.startswith("restart ")] == ["restart 1/2:", "restart 2/2:"]
    assert lines[-1] == f"kept restart {model.best_restart_ + 1} of 2 (the highest score)"



def test_only_a_paused_trainer_resumes_or_stops():
    from deepclust.training.trainer import Trainer

    trainer = Trainer.__new__(Trainer)
    trainer.paused = False
    with pytest.raises(RuntimeError, match="not paused"):
        trainer.resume(None)
    with pytest.raises(RuntimeError, match="not paused"):
        trainer.stop("restart_dropped")


@pytest.mark.filterwarnings("ignore::deepclust.ClusterCollapseWarning")
def test_an_interrupt_during_a_later_trial_ends_the_kept_trial_where_it_paused():
    from deepclust.training.callbacks import Callback

    class InterruptSecondRestart(Callback):
        begun = 0

        def on_train_begin(self, trainer):
            self.begun += 1

        def on_epoch_end(self, trainer, entry):
            if self.begun == 2:
                raise KeyboardInterrupt

    kw = {**FAST, "max_epochs": 4, "tol": None}
    with pytest.warns(UserWarning, match="interrupted"):
        model = DRCClustering(n_clusters=3, n_init=3, restart_fraction=0.5, callbacks=[InterruptSecondRestart()], **kw).fit(IMAGES)
    assert len(model.restart_scores_) == 2  # no third restart
    assert model.stop_reason_ == "interrupted"
    # The kept run ends where it stopped: the first trial at its pause (2 epochs), the second
    # after the one epoch it completed before the interrupt (its head refitted if it disagreed
    # with k-means, so either can score higher).
    assert model.n_iter_ == (2 if model.best_restart_ == 0 else 1)


def test_input_inertia_is_the_within_cluster_sum_of_squares():
    rows = np.array([[0.0, 1.0], [2.0, 1.0], [10.0, 0.0], [12.0, 0.0]])
    assert input_inertia(rows, np.array([0, 0, 1, 1])) == pytest.approx(4.0)
    assert input_inertia(rows, np.array([1, 1, 1, 1])) == pytest.approx(((rows - rows.mean(0)) ** 2).sum())
    assert input_inertia(rows, np.array([0, 2, 2, 2])) == pytest.approx(
        ((rows[1:] - rows[1:].mean(0)) ** 2).sum()
    )  # an unused label is no cluster


def test_input_inertia_criterion_keeps_the_most_compact_restart_in_the_input():
    # Unequal blobs: 60 / 20 / 10 rows.
    Xu, _ = make_blobs(n_samples=[60, 20, 10], n_features=3, random_state=1)
    model = DRCClustering(n_clusters=3, n_init=3, restart_criterion="input_inertia", **FAST).fit(Xu)
    assert model.restart_scores_.shape == (3,) and np.all(model.restart_scores_ <= 0)
    assert model.best_restart_ == int(np.argmax(model.restart_scores_))
    # The kept value is the inertia of labels_ in the standardised input (3 features: no PCA).
    z = (Xu - Xu.mean(0)) / Xu.std(0)
    assert model.restart_scores_.max() == pytest.approx(-input_inertia(z, model.labels_), rel=1e-4)
    # The same networks are trained, only the choice differs: the first restart is n_init=1's.
    by_score = DRCClustering(n_clusters=3, n_init=3, **FAST).fit(Xu)
    single = DRCClustering(n_clusters=3, n_init=1, restart_criterion="input_inertia", **FAST).fit(Xu)
    assert by_score.restart_scores_[0] == pytest.approx(single.score(Xu), rel=1e-6)
    assert single.restart_scores_[0] == pytest.approx(-input_inertia(z, single.labels_), rel=1e-4)
    assert model.score(Xu) <= by_score.score(Xu) + 1e-9  # the score picks its own maximum


@pytest.mark.parametrize("value", ["inertia", None, 1])
def test_bad_restart_criterion_is_named(value):
    with pytest.raises(ValueError, match="restart_criterion"):
        JCLClustering(n_clusters=3, restart_criterion=value, **FAST).fit(X)


def test_restart_value_refuses_an_unknown_criterion():
    with pytest.raises(ValueError, match="restart_criterion"):
        restart_value("inertia", np.eye(2))


@pytest.mark.filterwarnings("ignore::deepclust.ClusterCollapseWarning")  # 24 random images, 2 epochs
def test_input_inertia_criterion_judges_image_restarts_in_the_reduced_pixels():
    # 64 pixels: wider than the reduced input, so the inertia is measured after PCA.
    images = np.random.default_rng(0).random((24, 8, 8)).astype(np.float32)
    model = DRCClustering(n_clusters=2, n_init=2, restart_criterion="input_inertia", **FAST).fit(images)
    assert model.restart_scores_.shape == (2,) and np.all(model.restart_scores_ < 0)
    assert model.best_restart_ == int(np.argmax(model.restart_scores_))
