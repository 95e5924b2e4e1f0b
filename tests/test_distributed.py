"""Data-parallel training (issue 8): 2 gloo processes on the CPU against one process.

One ``torch.multiprocessing.spawn`` of two ranks runs every scenario (starting processes is
the slow part) and saves what each rank saw; the tests below compare. Tolerances: the
objectives compute in float32, and a forward pass over a batch of B/2 rows is not bitwise
the one over B rows (different matmul blocking), nor is a gradient summed in another
order, so loss and gradients are compared with ``rtol=1e-4, atol=1e-6`` (observed
differences are ~1e-7), and weights after a few Adam steps with ``atol=1e-5``.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import warnings

import numpy as np
import pytest
import torch

dist = pytest.importorskip("torch.distributed")
if not (dist.is_available() and dist.is_gloo_available()):  # pragma: no cover
    pytest.skip("torch.distributed with the gloo backend is not available", allow_module_level=True)

from deepclust import DRCClustering, JCLClustering, SCLClustering  # noqa: E402
from deepclust.nn.model import ClusterNet, Standardize  # noqa: E402
from deepclust.objectives.drc import DRCObjective  # noqa: E402
from deepclust.objectives.jcl import JCLObjective  # noqa: E402
from deepclust.objectives.scl import SCLObjective  # noqa: E402
from deepclust.training import distributed as D  # noqa: E402
from deepclust.training.callbacks import Callback, Checkpoint  # noqa: E402
from deepclust.training.data import TensorStore  # noqa: E402
from deepclust.training.rng import SeedManager  # noqa: E402
from deepclust.training.trainer import Trainer  # noqa: E402

WORLD = 2
OBJECTIVES = {
    "drc": lambda: DRCObjective(),
    "scl": lambda: SCLObjective(warmup_epochs=1, n_neighbors=3),
    "jcl": lambda: JCLObjective(warmup_fraction=0.0, ramp_fraction=0.0),
}
ESTIMATORS = {"drc": DRCClustering, "scl": SCLClustering, "jcl": JCLClustering}


def _data(n=48, d=6, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.randn(3, d) * 4
    return (centers[rng.randint(0, 3, n)] + rng.randn(n, d)).astype(np.float32)


def _plain_backbone():
    """No BatchNorm: per-rank batch statistics would differ from the full batch's."""
    return torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16), torch.nn.ReLU())


# ---------------------------------------------------------------- what each rank runs
def _one_step(name, ctx, X, index):
    """Loss, gradients and SCL bank after one train_step on the global batch ``index``."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        objective = OBJECTIVES[name]()
        module = ClusterNet(
            _plain_backbone(),
            16,
            3,
            Standardize(torch.zeros(6), torch.ones(6), image=False),
            projection_dim=objective.projection_dim,
            cluster_head_hidden=objective.cluster_head_hidden,
        )
    objective.distributed = ctx
    objective.setup(len(X), 3, torch.device("cpu"), 4)
    epoch = 0
    if name == "scl":  # a full bank, so that the semantic terms are active
        g = torch.Generator().manual_seed(1)
        objective.bank = torch.nn.functional.normalize(torch.randn(len(X), objective.projection_dim, generator=g), dim=1)
        objective.bank_labels = torch.randint(0, 3, (len(X),), generator=g)
        objective.seen[:] = True
        epoch = 1
        objective.on_epoch_begin(epoch)
        assert objective.active and bool(objective.consistent.any())
    forward, _ = D.wrap_for_training(module, ctx)
    seeds = SeedManager(0, torch.device("cpu"), rank=0 if ctx is None else ctx.rank)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    trainer = Trainer(module, objective, None, optimizer, torch.device("cpu"), seeds, len(index), forward_module=forward, distributed=ctx)
    terms = trainer.train_step(TensorStore(X, torch.device("cpu")), index, epoch)
    out = {
        "loss": float(terms["loss"]),
        "terms": {k: float(v) for k, v in terms.items() if not k.startswith("_")},
        "grads": {k: p.grad.clone() for k, p in module.named_parameters()},
        "params": {k: p.detach().clone() for k, p in module.named_parameters()},
        "predictions": terms["_predictions"].clone(),
    }
    if name == "scl":
        out["bank"] = objective.bank.clone()
        out["bank_labels"] = objective.bank_labels.clone()
    return out


class PoisonOnRank(Callback):
    """Makes one rank's gradients NaN for one step (the others stay finite)."""

    def __init__(self, rank, step):
        self.rank, self.step, self.count = rank, step, 0

    def on_train_begin(self, trainer):
        original = trainer.objective.__call__
        callback = self

        class Poisoned(type(trainer.objective)):
            def __call__(self, *args):
                terms = original(*args)
                if D.rank() == callback.rank and callback.count == callback.step:
                    terms["loss"] = terms["loss"] * float("nan")
                callback.count += 1
                return terms

        trainer.objective.__class__ = Poisoned


class InterruptAt(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_begin(self, trainer, epoch):
        if epoch == self.epoch:
            raise KeyboardInterrupt


class RecordNoise(Callback):
    """The within-cluster noise factor a fit ends with."""

    def on_train_end(self, trainer):
        self.factor = trainer.augment.ops[0].factor.clone()


def _fit(cls, X, stdout=None, **kwargs):
    params = dict(n_clusters=3, device="cpu", max_epochs=2, batch_size=16, random_state=0)
    params.update(kwargs)
    model = cls(**params)
    with contextlib.redirect_stdout(stdout or io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X)


def _state(model):
    return {k: v.clone() for k, v in model.module_.state_dict().items()}


def _worker(rank, port, outdir):
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        ctx = D.DistributedContext(rank=rank, world_size=WORLD, device=torch.device("cpu"))
        X = _data()
        results = {"steps": {}, "fits": {}}
        index = torch.randperm(len(X), generator=torch.Generator().manual_seed(3))[:11]  # 6 + 5 rows
        for name in OBJECTIVES:
            results["steps"][name] = {"ref": _one_step(name, None, X, index), "dist": _one_step(name, ctx, X, index)}
        for name, cls in ESTIMATORS.items():
            with torch.random.fork_rng():
                torch.manual_seed(0)
                plain = dict(backbone=_plain_backbone(), augment=None)  # the same initial weights for both
            ref = _fit(cls, X, distributed=False, **plain)  # inside the group, on its own
            dp = _fit(cls, X, **plain)
            printed = io.StringIO()
            default = _fit(cls, X, stdout=printed, verbose=1)  # BatchNorm MLP, augmentation
            results["fits"][name] = {
                "ref_history": ref.history_,
                "ref_state": _state(ref),
                "ref_labels": ref.labels_,
                "history": dp.history_,
                "state": _state(dp),
                "labels": dp.labels_,
                "default_state": _state(default),
                "default_labels": default.labels_,
                "default_history": default.history_,
                "stdout": printed.getvalue(),
            }
        poisoned = _fit(DRCClustering, X, callbacks=[PoisonOnRank(rank=1, step=1)], max_epochs=1)
        results["poisoned"] = {"skipped": poisoned.history_[0]["skipped_steps"], "state": _state(poisoned)}
        # Checkpoint: each rank gets its own directory; only rank 0's is written to and read.
        ckdir = os.path.join(outdir, f"ck{rank}")
        # n_init=1: the checkpointed fits have callbacks, hence one restart ("auto").
        reference = _fit(SCLClustering, X, max_epochs=3, n_init=1)
        _fit(SCLClustering, X, max_epochs=3, callbacks=[Checkpoint(ckdir), InterruptAt(2)])
        checkpoint = Checkpoint(ckdir)
        resumed = _fit(SCLClustering, X, max_epochs=3, callbacks=[checkpoint])
        results["checkpoint"] = {
            "files": sorted(os.listdir(ckdir)) if os.path.isdir(ckdir) else None,
            "resumed_epoch": checkpoint.resumed_epoch_,
            "equal": bool(np.array_equal(reference.labels_, resumed.labels_))
            and all(torch.equal(a, b) for a, b in zip(_state(reference).values(), _state(resumed).values())),
        }
        # The noise refreshed from the network's clusters after every epoch (from epoch 1 here).
        import deepclust.training.cluster_noise as cluster_noise

        record, start = RecordNoise(), cluster_noise.REFRESH_START
        cluster_noise.REFRESH_START = 1
        try:
            refreshed = _fit(DRCClustering, X, max_epochs=2, n_init=1, augment="network_cluster_noise", callbacks=[record])
        finally:
            cluster_noise.REFRESH_START = start
        results["refresh"] = {"factor": record.factor, "state": _state(refreshed)}
        # head_refit="kmeans_if_disagree": rank 0 decides whether the head is kept, even where
        # the ranks would decide differently (here: different levels on the two ranks).
        import deepclust.training.head_refit as head_refit

        results["guarded_refit"] = _opposite_decisions(
            rank, X, "kmeans_if_disagree", "HEAD_KEPT_ARI", lambda keeps: -1.0 if keeps else 2.0
        )
        # head_refit="graph": rank 0 decides whether the representation's graph is separated.
        partition = head_refit.graph_partition
        results["graph_refit"] = _opposite_decisions(
            rank, X, "graph", "graph_partition",
            lambda separated: lambda z, k, seed, force=False: partition(z, k, seed, force=True) if separated or force else None,
        )
        torch.save(results, os.path.join(outdir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _opposite_decisions(rank, X, refit: str, name: str, deciding) -> dict:
    """DRC fits with ``head_refit=refit`` where the other ranks are made to decide the opposite
    of rank 0: ``deepclust.training.head_refit.<name>`` is set to ``deciding(decision)``.

    Returns {rank 0's decision: the fit's refit target, training state and labels}.
    """
    import deepclust.training.head_refit as head_refit

    original, fits = getattr(head_refit, name), {}
    try:
        for rank0_decision in (True, False):
            setattr(head_refit, name, deciding(rank0_decision if rank == 0 else not rank0_decision))
            fit = _fit(DRCClustering, X, n_init=1, head_refit=refit)
            fits[rank0_decision] = {"target": fit.history_[-1]["head_refit_target"], "state": _state(fit),
                                    "labels": fit.labels_}
    finally:
        setattr(head_refit, name, original)
    return fits


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    outdir = str(tmp_path_factory.mktemp("ddp"))
    torch.multiprocessing.spawn(_worker, args=(_free_port(), outdir), nprocs=WORLD, join=True)
    return [torch.load(os.path.join(outdir, f"rank{r}.pt"), weights_only=False) for r in range(WORLD)]


# ---------------------------------------------------------------- the tests
def _close(a, b, **tol):
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=lambda m: f"{key}: {m}", **tol)


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_two_ranks_half_batch_equal_one_rank_full_batch(ranks, name):
    for r in ranks:
        step = r["steps"][name]
        ref, dp = step["ref"], step["dist"]
        assert dp["loss"] == pytest.approx(ref["loss"], rel=1e-5, abs=1e-6)
        for term in ref["terms"]:
            assert dp["terms"][term] == pytest.approx(ref["terms"][term], rel=1e-5, abs=1e-6), term
        assert ref["loss"] > 0
        _close(dp["grads"], ref["grads"], rtol=1e-4, atol=1e-6)
        _close(dp["params"], ref["params"], rtol=1e-5, atol=1e-6)
        assert torch.equal(dp["predictions"], ref["predictions"])
        if name == "scl":  # the memory bank is the single-process one
            torch.testing.assert_close(dp["bank"], ref["bank"], rtol=1e-5, atol=1e-6)
            assert torch.equal(dp["bank_labels"], ref["bank_labels"])
    # ... and identical on both ranks (DDP averaged the gradients).
    _close(ranks[0]["steps"][name]["dist"]["grads"], ranks[1]["steps"][name]["dist"]["grads"], rtol=0, atol=0)
    if name == "scl":
        assert torch.equal(ranks[0]["steps"][name]["dist"]["bank"], ranks[1]["steps"][name]["dist"]["bank"])


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_two_process_fit_matches_one_process(ranks, name):
    for r in ranks:
        fit = r["fits"][name]
        assert len(fit["history"]) == len(fit["ref_history"]) == 2
        for h, h_ref in zip(fit["history"], fit["ref_history"]):
            assert h["loss"] == pytest.approx(h_ref["loss"], rel=1e-4, abs=1e-5)
        _close(fit["state"], fit["ref_state"], rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(fit["labels"], fit["ref_labels"])


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_two_process_fit_gives_identical_models_and_rank0_prints(ranks, name):
    a, b = (r["fits"][name] for r in ranks)
    for key in ("state", "default_state"):
        assert a[key].keys() == b[key].keys()
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), (key, k)
    np.testing.assert_array_equal(a["labels"], b["labels"])
    np.testing.assert_array_equal(a["default_labels"], b["default_labels"])
    assert [h["loss"] for h in a["default_history"]] == [h["loss"] for h in b["default_history"]]
    # BatchNorm statistics are synchronised, not left at rank 0's values only
    assert any(k.endswith("running_mean") for k in a["default_state"])
    # Per restart (n_init="auto": 3 on this table): header, budget, epochs (and SCL/JCL
    # milestones), why it stopped, its score; then which restart was kept.
    lines = a["stdout"].splitlines()
    assert lines[1].startswith("budget: 2 epochs") and lines[-1].startswith("kept restart ")
    stops = [line for line in lines if line.startswith("stopped after")]
    assert len(stops) == 3 and all(line.startswith("stopped after 2 epochs") for line in stops)
    assert [line[:12] for line in lines if line.startswith("restart ")] == [f"restart {r}/3:" for r in (1, 2, 3)]
    assert [line[:11] for line in lines if line.startswith("epoch ")] == ["epoch 1/2 |", "epoch 2/2 |"] * 3
    assert b["stdout"] == ""


def test_nonfinite_step_on_one_rank_is_skipped_on_all(ranks):
    assert [r["poisoned"]["skipped"] for r in ranks] == [1, 1]
    for k in ranks[0]["poisoned"]["state"]:
        assert torch.equal(ranks[0]["poisoned"]["state"][k], ranks[1]["poisoned"]["state"][k])
        assert torch.isfinite(ranks[0]["poisoned"]["state"][k].float()).all()


def test_checkpoint_written_by_rank0_only_and_resume_is_exact(ranks):
    r0, r1 = ranks[0]["checkpoint"], ranks[1]["checkpoint"]
    assert r0["files"] == ["checkpoint.pt"] and r1["files"] is None
    assert r0["resumed_epoch"] == r1["resumed_epoch"] == 2
    assert r0["equal"] and r1["equal"]


def test_refreshed_noise_is_the_same_on_every_rank(ranks):
    a, b = (r["refresh"] for r in ranks)
    assert torch.isfinite(a["factor"]).all() and torch.equal(a["factor"], b["factor"])
    for k in a["state"]:
        assert torch.equal(a["state"][k], b["state"][k])


# ---------------------------------------------------------------- single process
def test_rank0_decides_whether_the_head_is_kept(ranks):
    a, b = (r["guarded_refit"] for r in ranks)
    assert a[True]["target"] is None and b[True]["target"] is None  # rank 0 kept its head: both did
    assert a[False]["target"] == b[False]["target"] == "kmeans"  # rank 0 refitted: both did
    for decision in (True, False):
        _close(a[decision]["state"], b[decision]["state"], rtol=0, atol=0)
        np.testing.assert_array_equal(a[decision]["labels"], b[decision]["labels"])


def test_rank0_decides_whether_the_head_is_refitted_to_the_graph_partition(ranks):
    a, b = (r["graph_refit"] for r in ranks)
    assert a[True]["target"] == b[True]["target"] == "graph"  # rank 0 saw a separated graph: both used it
    assert a[False]["target"] == b[False]["target"] == "kmeans"
    for decision in (True, False):
        _close(a[decision]["state"], b[decision]["state"], rtol=0, atol=0)
        np.testing.assert_array_equal(a[decision]["labels"], b[decision]["labels"])


def test_helpers_without_a_process_group():
    assert D.world_size() == 1 and D.rank() == 0 and D.is_main_process()
    D.barrier()
    x = torch.randn(3, 2, requires_grad=True)
    assert D.gather_with_grad(x, [3], 0) is x
    assert D.run_on_main(None, lambda: 7) == 7
    assert D.resolve("auto", "cpu") == (None, torch.device("cpu"))
    with pytest.raises(ValueError, match="distributed=True"):
        D.resolve(True, "cpu")
    with pytest.raises(ValueError, match="Unknown 'distributed' option"):
        D.resolve({"sync_bn": True}, "cpu")


def test_torchrun_environment_is_ignored_in_multiprocessing_children(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    assert D.launched_by_torchrun() is True
    import multiprocessing

    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    assert D.launched_by_torchrun() is False  # a joblib/dask worker of a torchrun rank


def test_augmentation_streams_differ_per_rank_but_rank0_is_the_single_process_one():
    seeds = [SeedManager(5, torch.device("cpu"), rank=r) for r in range(3)]
    assert seeds[0].augment.initial_seed() == SeedManager(5, torch.device("cpu")).augment.initial_seed() == 6
    assert len({s.augment.initial_seed() for s in seeds}) == 3
    assert len({s.shuffle.initial_seed() for s in seeds}) == 1
