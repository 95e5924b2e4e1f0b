"""The one training loop shared by every estimator (pure torch, no scikit-learn).

Reliability (see :class:`Trainer`): non-finite losses/gradients are detected per step, CUDA
out-of-memory errors shrink the batch, the module is snapshotted at the end of every epoch
so that an interrupted or diverged fit can be rolled back, and the complete training state
can be saved and restored (:meth:`Trainer.state_dict`, used by
:class:`~deepclust.training.callbacks.Checkpoint`).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

from ..objectives.base import Objective
from .callbacks import Callback
from .checkpoint import CheckpointError
from .data import TensorStore
from .distributed import DistributedContext, is_main_rank
from .neighbors import NeighborPositives

_OOM_ERRORS = tuple({getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), torch.cuda.OutOfMemoryError})


class NonFiniteWarning(UserWarning):
    """A training step produced a non-finite loss or gradient and was skipped.

    The step's update is not applied and every learning rate is halved for the rest of the
    fit (:attr:`Trainer.lr_backoff`). A rare skipped step (e.g. under float16 mixed
    precision) is harmless; ``history_[i]["skipped_steps"]`` counts them per epoch. If they
    keep coming, lower ``lr``, look for huge, ``nan`` or ``inf`` values in ``X``, check a
    custom ``backbone`` or ``augment``, or set ``amp=False``. After
    :attr:`Trainer.max_nonfinite_steps` consecutive skipped steps the fit stops with a
    :class:`NonFiniteError`.

    Examples
    --------
    An augmentation that returns ``nan`` makes every step non-finite: four warnings, then
    the error on the fifth consecutive step.

    >>> import warnings
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering
    >>> from deepclust.training.trainer import NonFiniteError, NonFiniteWarning
    >>> def broken_views(x, generator):
    ...     return x * float("nan")
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = DRCClustering(n_clusters=3, max_epochs=2, batch_size=10, augment=broken_views, device="cpu")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", NonFiniteWarning)
    ...     try:
    ...         model.fit(X)
    ...     except NonFiniteError as exc:
    ...         print("diverged:", str(exc).startswith("Training diverged at epoch 0"))
    diverged: True
    >>> sum(issubclass(w.category, NonFiniteWarning) for w in caught)
    4

    ``warnings.simplefilter("error", NonFiniteWarning)`` stops at the first non-finite step
    instead; ``"ignore"`` silences the warnings.
    """


class NonFiniteError(FloatingPointError):
    """Training diverged: too many consecutive non-finite steps.

    Raised by ``fit`` after :attr:`Trainer.max_nonfinite_steps` consecutive steps with a
    non-finite loss or gradient (each one announced by a :class:`NonFiniteWarning`), or when
    the weights or BatchNorm statistics become non-finite. The network is restored to the
    end of the last completed epoch, never left with ``nan`` weights. What to do: lower
    ``lr``, check ``X`` for ``nan``, ``inf`` or extreme values, check a custom ``backbone``
    or ``augment``, or set ``amp=False``. It is a :class:`FloatingPointError`.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering
    >>> from deepclust.training.trainer import NonFiniteError, NonFiniteWarning
    >>> X, _ = make_blobs(n_samples=40, centers=2, random_state=0)
    >>> model = DRCClustering(n_clusters=2, max_epochs=1, batch_size=8, augment=lambda x, g: x / 0.0, device="cpu")
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", NonFiniteWarning)
    ...     try:
    ...         model.fit(X)
    ...     except NonFiniteError as exc:
    ...         print(type(exc).__name__, "lower lr" in str(exc))
    NonFiniteError True
    >>> issubclass(NonFiniteError, FloatingPointError)
    True
    """


class OutOfMemoryWarning(UserWarning):
    """The device ran out of memory; training continues with smaller batches.

    On an out-of-memory error (CUDA) the batch is split in halves and the batch size is
    halved for the rest of the fit, down to :attr:`Trainer.min_oom_batch_size`. Training
    goes on, but with a smaller batch than requested, which changes contrastive losses
    (fewer negatives per anchor). What to do: to keep the requested ``batch_size``, use a
    smaller backbone or smaller images, ``amp=True``, or free GPU memory; or pass a
    smaller ``batch_size`` yourself. Turn the warning into an error to stop instead of
    shrinking the batch. Under data-parallel training the batch cannot be split, and an
    out-of-memory error ends the fit.

    Examples
    --------
    A backbone that, like a small GPU, cannot take more than 32 samples (64 rows of two
    views) per step:

    >>> import warnings
    >>> import torch
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering
    >>> from deepclust.training.trainer import OutOfMemoryWarning
    >>> class SmallMemoryBackbone(torch.nn.Module):
    ...     out_features = 16
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.linear = torch.nn.Linear(2, 16)
    ...     def forward(self, x):
    ...         if self.training and x.shape[0] > 64:
    ...             raise torch.cuda.OutOfMemoryError("simulated: CUDA out of memory")
    ...         return self.linear(x)
    >>> X, _ = make_blobs(n_samples=64, centers=3, random_state=0)
    >>> model = DRCClustering(
    ...     n_clusters=3, max_epochs=2, batch_size=64, backbone=SmallMemoryBackbone(), device="cpu", random_state=0
    ... )
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", OutOfMemoryWarning)
    ...     _ = model.fit(X)
    >>> [str(w.message)[-14:] for w in caught if issubclass(w.category, OutOfMemoryWarning)]
    ['batch_size=32.']
    >>> model.n_iter_
    2

    Stop instead of training with smaller batches:

    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", OutOfMemoryWarning)
    ...     try:
    ...         model.fit(X)
    ...     except OutOfMemoryWarning:
    ...         print("stopped")
    stopped
    """


def batch_partition(
    n_samples: int, batch_size: int, generator: torch.Generator, min_size: int = 2
) -> tuple[torch.Tensor, ...]:
    """A random partition of ``range(n_samples)`` into batches of nearly equal size.

    ``ceil(n / batch_size)`` batches, sizes differing by at most one, never smaller than
    ``min_size`` (two: BatchNorm and every contrastive term need two samples; the world
    size under data-parallel training, so that every rank gets a sample), so no sample is
    dropped.

    Examples
    --------
    >>> import torch
    >>> from deepclust.training.trainer import batch_partition
    >>> batches = batch_partition(10, 4, torch.Generator().manual_seed(0))
    >>> [len(b) for b in batches]
    [4, 3, 3]
    >>> sorted(torch.cat(batches).tolist()) == list(range(10))
    True
    """
    n_batches = max(1, min(math.ceil(n_samples / batch_size), n_samples // max(2, min_size)))
    perm = torch.randperm(n_samples, generator=generator)
    return torch.tensor_split(perm, n_batches)


def _cpu_copy(obj):
    """A copy of ``obj`` (nested dicts, lists and tuples of tensors and plain values) on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu_copy(v) for v in obj)
    return obj


class Trainer:
    """Runs epochs of two-view contrastive training.

    Each step cuts a batch from the :class:`TensorStore`, makes two augmented views on the
    device with per-sample random parameters (one augmentation call on the batch stacked
    twice), runs one forward pass over both views, asks the objective for the loss, and
    steps the optimiser (with autocast and, for float16, a gradient scaler on CUDA).

    Reliability
    -----------
    * **Non-finite steps.** After the backward pass the loss and (without a gradient scaler)
      the total gradient norm are checked with :func:`torch.isfinite`. This costs one host
      synchronisation per step on CUDA (free on the CPU). A non-finite step is skipped (no
      optimiser update) with a :class:`NonFiniteWarning` and every learning rate is
      multiplied by ``lr_backoff``. After ``max_nonfinite_steps`` consecutive skipped
      steps a :class:`NonFiniteError` naming the epoch is raised and the module is restored
      to its state at the end of the last epoch (never left with NaN weights). With float16
      AMP the :class:`~torch.amp.GradScaler` handles overflowing gradients as usual. Note
      that an objective with state (SCL's memory bank) has already seen the outputs of a
      skipped step.
    * **Out of memory (CUDA).** When a step raises ``torch.OutOfMemoryError`` the cached
      memory is released, the batch is split in halves (each half is one optimiser step) and
      the batch size of the rest of the fit is halved, with an :class:`OutOfMemoryWarning`.
      The floor is ``min_oom_batch_size`` (16, or the requested batch size if smaller):
      when a batch of that size still does not fit, a ``RuntimeError`` is raised.
    * **Snapshots.** A CPU copy of the module's state is kept from the start of training and
      after every completed epoch; :meth:`restore_last_epoch` rolls back to it (used after a
      ``KeyboardInterrupt``).

    Data-parallel training
    ----------------------
    With a :class:`~deepclust.training.distributed.DistributedContext`, every rank cuts the
    same global batches, forwards its own slice through ``forward_module`` (the
    DistributedDataParallel wrapper), and the objective gets the outputs of the whole global
    batch, all-gathered with gradient: the loss on every rank is the single-process loss and
    the averaged gradient the single-process gradient. The non-finite check, early stopping
    and the end-of-epoch finiteness check are agreed between the ranks (all-reduced), the
    BatchNorm statistics are averaged at the end of every epoch, and the epoch's
    ``seconds`` is the slowest rank's (``samples_per_s`` the throughput of the whole group).
    Out-of-memory recovery is not possible there (one rank cannot split its batch while the
    others wait in a collective): an out-of-memory error ends the fit.

    Parameters
    ----------
    module : nn.Module
        A :class:`~deepclust.nn.model.ClusterNet` (or compatible) already on ``device``.
    objective : Objective
        The method's loss.
    augment : callable or None
        ``augment(x, generator) -> x``, called once per step on the batch stacked twice
        (rows ``i`` and ``n + i`` become the two views of sample ``i``); None means both
        views are the raw batch.
    optimizer : torch.optim.Optimizer
    device : torch.device
    seeds : SeedManager
        Provides the shuffling and augmentation generators.
    batch_size : int
    amp_dtype : torch.dtype or None
        Autocast dtype (CUDA only), None for full precision.
    callbacks : sequence of Callback
    forward_module : nn.Module or None
        What the training forward pass calls (a DistributedDataParallel and/or
        ``torch.compile`` wrapper of ``module``); None: ``module`` itself. ``module`` is what
        is snapshotted and checkpointed.
    distributed : DistributedContext or None
        The process group to train over (None: this process alone).

    Examples
    --------
    The estimators build a trainer in ``fit``; by hand, on 32 random samples:

    >>> import torch
    >>> from deepclust.nn.backbones import MLPBackbone
    >>> from deepclust.nn.model import ClusterNet, Standardize
    >>> from deepclust.objectives.drc import DRCObjective
    >>> from deepclust.training.data import TensorStore
    >>> from deepclust.training.rng import SeedManager
    >>> from deepclust.training.trainer import Trainer
    >>> cpu = torch.device("cpu")
    >>> objective = DRCObjective()
    >>> net = ClusterNet(
    ...     MLPBackbone(4, hidden=(16,), out_features=8), 8, n_clusters=3,
    ...     standardize=Standardize(torch.zeros(4), torch.ones(4), image=False),
    ...     projection_dim=objective.projection_dim, cluster_head_hidden=objective.cluster_head_hidden,
    ... )
    >>> def noise(x, generator):
    ...     return x + 0.1 * torch.randn(x.shape, generator=generator)
    >>> optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    >>> trainer = Trainer(net, objective, noise, optimizer, cpu, SeedManager(0, cpu), batch_size=16)
    >>> store = TensorStore(torch.randn(32, 4, generator=torch.Generator().manual_seed(0)).numpy(), cpu)
    >>> objective.setup(n_samples=32, n_clusters=3, device=cpu, max_epochs=2)
    >>> history = trainer.fit(store, start_epoch=0, end_epoch=2)
    >>> len(history), trainer.next_epoch, history[-1]["n_clusters_used"] <= 3
    (2, 2, True)
    >>> sorted(history[0])[:3]
    ['assignment_feature', 'assignment_probability', 'balance']

    A run can pause (``pause_at``) and resume, as the restarts' trials do:

    >>> objective.setup(n_samples=32, n_clusters=3, device=cpu, max_epochs=4)
    >>> trainer.history = []
    >>> _ = trainer.fit(store, start_epoch=0, end_epoch=4, pause_at=1)
    >>> trainer.paused, trainer.next_epoch
    (True, 1)
    >>> _ = trainer.resume(store)
    >>> trainer.paused, trainer.next_epoch, trainer.stop_reason
    (False, 4, 'max_epochs')
    """

    max_nonfinite_steps = 5
    lr_backoff = 0.5
    min_oom_batch_size = 16

    def __init__(
        self,
        module: nn.Module,
        objective: Objective,
        augment,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        seeds,
        batch_size: int,
        amp_dtype: torch.dtype | None = None,
        callbacks: Sequence[Callback] = (),
        forward_module: nn.Module | None = None,
        distributed: DistributedContext | None = None,
        neighbors: NeighborPositives | None = None,
    ):
        self.module = module
        self.neighbors = neighbors
        self.forward_module = module if forward_module is None else forward_module
        self.distributed = distributed
        self.objective = objective
        self.augment = augment
        self.optimizer = optimizer
        self.device = device
        self.seeds = seeds
        self.batch_size = batch_size
        self.requested_batch_size = batch_size
        self.amp_dtype = amp_dtype
        self.callbacks = list(callbacks)
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
        self.history: list[dict] = []
        self.next_epoch = 0
        self.previous_predictions: torch.Tensor | None = None
        self._snapshot: dict | None = None
        self._consecutive_nonfinite = 0
        self.start_epoch = self.end_epoch = 0
        self.stop_reason: str | None = None
        self.paused = False

    def _notify(self, hook: str, *args):
        stop = False
        for cb in self.callbacks:
            stop = bool(getattr(cb, hook)(self, *args)) or stop
        return stop

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _views(self, x: torch.Tensor, x_b: torch.Tensor | None = None) -> torch.Tensor:
        """Both views of the batch ``x`` (n samples) as one batch of 2n: rows ``i`` and ``n + i``.

        One augmentation call on the doubled batch (every op draws its parameters per
        sample, so the two views of a sample stay independent): the forward pass needs
        the two views concatenated anyway, and each call has a fixed cost (parameter
        draws, dispatch of a few hundred small kernels) that is then paid once per step.
        ``x_b`` (neighbour positives) is the source of the second views, else ``x``.
        """
        both = torch.cat([x, x if x_b is None else x_b])
        return both if self.augment is None else self.augment(both, self.seeds.augment)

    # ------------------------------------------------------------------ one step
    def train_step(self, store: TensorStore, index: torch.Tensor, epoch: int) -> dict[str, torch.Tensor]:
        """One optimisation step on the samples at ``index``; returns detached loss terms.

        The returned dict also holds ``"_predictions"`` (argmax of the first view) and
        ``"_skipped"`` (a bool: True when the step was non-finite and not applied).
        """
        ctx = self.distributed
        # Neighbour positives: the second view of a sample may come from a neighbour
        # (drawn from the generator every rank shares, so the ranks agree on the partners).
        partner = None if self.neighbors is None else self.neighbors.partners(index, self.seeds.neighbors)
        if ctx is None:
            x = store.get(index)
            x_b = None if partner is None else store.get(partner)
        else:  # this rank's slice of the global batch
            local, sizes = ctx.shard(index)
            x = store.get(local)
            x_b = None if partner is None else store.get(ctx.shard(partner)[0])
        with torch.no_grad():
            views = self._views(x, x_b)
        n = x.shape[0]
        if not isinstance(views, torch.Tensor):
            raise TypeError(f"augment must return a torch.Tensor; it returned {type(views).__name__}.")
        if views.shape != (2 * n, *x.shape[1:]):
            raise ValueError(
                f"augment must return a batch of the shape it is given; it was given {(2 * n, *x.shape[1:])} "
                f"(both views of a batch of {n}) and returned {tuple(views.shape)}."
            )
        with self._autocast():
            out_a, out_b = self.forward_module(views).split((n, n))
        if ctx is not None:
            # The whole global batch, with gradient to this rank's rows (see gather_with_grad).
            out_a, out_b = ctx.gather_views(out_a, out_b, sizes)
        terms = self.objective(out_a, out_b, index.to(self.device), epoch)
        if self.neighbors is not None:
            self.neighbors.update(index.to(self.device), out_a.features)
        loss = terms["loss"]
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        finite = torch.isfinite(loss.detach())
        if not self.scaler.is_enabled():
            grads = [p.grad for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
            if grads:
                # Per-tensor norms, then their norm (torch.nn.utils.get_total_norm needs torch >= 2.6).
                norms = torch.stack([torch.linalg.vector_norm(g.detach().float()) for g in grads])
                finite = finite & torch.isfinite(torch.linalg.vector_norm(norms))
        if ctx is None:
            skipped = not bool(finite)  # the one host synchronisation of a step on CUDA
        else:
            # Loss and averaged gradients are the same on every rank, but the decision must
            # be too (a rank that steps while another skips would fall out of step): agree.
            skipped = not ctx.all_true(bool(finite))
        if skipped:
            self.optimizer.zero_grad(set_to_none=True)
        else:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        terms = {k: v.detach() for k, v in terms.items()}
        terms["_predictions"] = out_a.logits.detach().argmax(dim=1)
        terms["_skipped"] = skipped
        return terms

    def _release_memory(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _guarded_steps(self, store: TensorStore, index: torch.Tensor, epoch: int) -> list[tuple[torch.Tensor, dict]]:
        """``train_step`` with out-of-memory recovery: ``[(index_part, terms), ...]``."""
        if self.distributed is not None:
            try:
                return [(index, self.train_step(store, index, epoch))]
            except _OOM_ERRORS as exc:
                raise RuntimeError(
                    f"Out of memory on rank {self.distributed.rank} at epoch {epoch} with a global batch of "
                    f"{index.numel()} samples. Under torch.distributed one rank cannot split its batch while the "
                    "others wait in a collective, so the fit stops (torchrun then stops the other ranks). Use a "
                    "smaller batch_size, amp=True, a smaller backbone or more processes."
                ) from exc
        try:
            return [(index, self.train_step(store, index, epoch))]
        except _OOM_ERRORS as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        # Outside the except block, so the exception's frames (and their tensors) are freed.
        self._release_memory()
        size = index.numel()
        floor = max(2, min(self.min_oom_batch_size, self.requested_batch_size))
        half = size // 2
        if half < floor:
            raise RuntimeError(
                f"Out of memory at epoch {epoch} with a batch of {size} samples ({message}); the batch "
                f"cannot be halved below the floor of {floor}. Use a smaller backbone, smaller images, "
                "amp=True, or another device."
            )
        if half < self.batch_size:
            self.batch_size = half
            warnings.warn(
                f"Out of memory at epoch {epoch} with a batch of {size} samples; splitting it and "
                f"continuing with batch_size={half}.",
                OutOfMemoryWarning,
                stacklevel=3,
            )
        results = []
        for part in torch.tensor_split(index, 2):  # halves (33 -> 17 + 16), never below the floor
            results.extend(self._guarded_steps(store, part, epoch))
        return results

    def _repair_buffers(self) -> None:
        """Put back (from the last snapshot) buffers a skipped step's forward made non-finite (BatchNorm stats)."""
        if self._snapshot is None:
            return
        with torch.no_grad():
            for name, buf in self.module.named_buffers():
                if buf.is_floating_point() and not bool(torch.isfinite(buf).all()) and name in self._snapshot:
                    buf.copy_(self._snapshot[name])

    def _on_nonfinite(self, epoch: int, batch: int) -> None:
        self._consecutive_nonfinite += 1
        self._repair_buffers()
        for group in self.optimizer.param_groups:
            group["lr"] = group["lr"] * self.lr_backoff
        lr = self.optimizer.param_groups[0]["lr"]
        if self._consecutive_nonfinite >= self.max_nonfinite_steps:
            self.restore_last_epoch()
            raise NonFiniteError(
                f"Training diverged at epoch {epoch}: {self._consecutive_nonfinite} consecutive steps had a "
                f"non-finite loss or gradient (learning rate backed off to {lr:.3g}). The model was "
                f"{self._restored_to()}. Try a lower lr, standardised inputs, or amp=False."
            )
        if not is_main_rank(self.distributed):
            return  # every rank skipped the same step; rank 0 says so
        warnings.warn(
            f"Non-finite loss or gradient at epoch {epoch}, batch {batch}: step skipped, learning rate "
            f"reduced to {lr:.3g}.",
            NonFiniteWarning,
            stacklevel=3,
        )

    # ------------------------------------------------------------------ snapshots
    def _take_snapshot(self) -> None:
        self._snapshot = _cpu_copy(self.module.state_dict())

    def _module_is_finite(self) -> bool:
        flags = [torch.isfinite(t).all() for t in self.module.state_dict().values() if t.is_floating_point()]
        return bool(torch.stack(flags).all()) if flags else True

    def _restored_to(self) -> str:
        """Where ``restore_last_epoch`` put the module, in words (for error messages)."""
        if self.next_epoch == 0:
            return "restored to its initial weights (no epoch had completed)"
        return f"restored to the end of epoch {self.next_epoch - 1}"

    def restore_last_epoch(self) -> None:
        """Load the module state of the end of the last completed epoch (or of the start)."""
        if self._snapshot is not None:
            self.module.load_state_dict(self._snapshot)

    # ------------------------------------------------------------------ full state
    def state_dict(self) -> dict:
        """Everything needed to continue training exactly (plain containers and tensors only).

        Under data-parallel training every rank must call it (it gathers each rank's
        augmentation generator state, stored under ``rng["augment_per_rank"]``).
        """
        rng = {
            "shuffle": self.seeds.shuffle.get_state(),
            "augment": self.seeds.augment.get_state(),
            "numpy": json.dumps(self.seeds.numpy.bit_generator.state),
            "neighbors": self.seeds.neighbors.get_state(),
            "torch": torch.get_rng_state(),
            "world_size": 1 if self.distributed is None else self.distributed.world_size,
        }
        if self.distributed is not None:
            rng["augment_per_rank"] = self.distributed.all_gather_object(self.seeds.augment.get_state())
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "objective_class": type(self.objective).__name__,
            "epoch": self.next_epoch,
            "n_samples": None if self.previous_predictions is None else int(self.previous_predictions.numel()),
            "module": _cpu_copy(self.module.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "batch_size": self.batch_size,
            "rng": rng,
            "objective": self.objective.state_dict(),
            "neighbors": None if self.neighbors is None else self.neighbors.state_dict(),
            "history": [dict(entry) for entry in self.history],
            "previous_predictions": None if self.previous_predictions is None else self.previous_predictions.cpu(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (raises :class:`CheckpointError` on mismatch)."""
        n = None if self.previous_predictions is None else self.previous_predictions.numel()
        written_by, ours = state.get("objective_class"), type(self.objective).__name__
        if written_by is not None and written_by != ours:
            raise CheckpointError(
                f"The checkpoint was written by a fit with the objective {written_by}, but this fit uses {ours} "
                "(another estimator class); nothing from it is loaded."
            )
        if state.get("n_samples") is not None and n is not None and state["n_samples"] != n:
            raise CheckpointError(
                f"The checkpoint was written for {state['n_samples']} training samples but this fit has {n}."
            )
        try:
            self.module.load_state_dict(state["module"])
        except RuntimeError as exc:
            raise CheckpointError(f"The checkpoint does not match this model: {exc}") from exc
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.batch_size = int(state.get("batch_size", self.batch_size))
        rng = state["rng"]
        self.seeds.shuffle.set_state(rng["shuffle"])
        world, rank = (1, 0) if self.distributed is None else (self.distributed.world_size, self.distributed.rank)
        if int(rng.get("world_size", 1)) == world:
            self.seeds.augment.set_state(rng["augment_per_rank"][rank] if "augment_per_rank" in rng else rng["augment"])
        else:
            # Another number of processes: the per-rank augmentation streams cannot be
            # continued; each rank starts a fresh one (training continues, not bit-exactly).
            self.seeds.reseed_augment(int(state["epoch"]))
            if is_main_rank(self.distributed):
                warnings.warn(
                    f"The checkpoint was written by {int(rng.get('world_size', 1))} process(es) and is resumed "
                    f"by {world}: the augmentation streams were re-seeded, so the run does not reproduce an "
                    "uninterrupted one exactly.",
                    UserWarning,
                    stacklevel=2,
                )
        self.seeds.numpy.bit_generator.state = json.loads(rng["numpy"])
        if "neighbors" in rng:
            self.seeds.neighbors.set_state(rng["neighbors"])
        torch.set_rng_state(rng["torch"])
        if self.device.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        try:
            self.objective.load_state_dict(state.get("objective") or {})
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"The checkpoint's objective state does not match this fit: {exc!r}") from exc
        if self.neighbors is not None and state.get("neighbors"):
            self.neighbors.load_state_dict(state["neighbors"])
        self.history[:] = [dict(entry) for entry in state["history"]]
        self.next_epoch = int(state["epoch"])
        if state.get("previous_predictions") is not None:
            self.previous_predictions = state["previous_predictions"].to(self.device)
        self._take_snapshot()

    # ------------------------------------------------------------------ the loop
    def fit(self, store: TensorStore, start_epoch: int, end_epoch: int, pause_at: int | None = None) -> list[dict]:
        """Train epochs ``start_epoch .. end_epoch - 1``; returns the history.

        A callback's ``on_train_begin`` may restore a saved state (see
        :class:`~deepclust.training.callbacks.Checkpoint`); training then continues from the
        saved epoch. A callback may stop training: ``on_epoch_end`` (after that epoch) or
        ``on_train_begin`` (before any epoch) returning True; :attr:`stop_reason` then says
        ``"callback"`` unless the callback set its own reason (``"converged"``), and
        ``"max_epochs"`` when every epoch up to ``end_epoch`` ran.

        ``pause_at`` (an epoch below ``end_epoch``) pauses the run before that epoch:
        :attr:`paused` is then True, ``on_train_end`` has not been called, and
        :meth:`resume` trains the remaining epochs as if the run had not paused (the
        restarts' trial, :mod:`deepclust.training.restarts`).
        """
        self._start(store, start_epoch, end_epoch)
        # on_train_begin returning True (e.g. a resumed checkpoint that had converged) trains no epoch.
        stop = self._notify("on_train_begin")
        if self.distributed is not None:
            stop = self.distributed.any_true(stop)
        if not stop:
            stop = self._run_epochs(store, end_epoch if pause_at is None else min(pause_at, end_epoch))
        if not stop and self.next_epoch < end_epoch:
            self.paused = True
            return self.history
        return self._finish(stop)

    def resume(self, store: TensorStore) -> list[dict]:
        """Train the rest of a run that :meth:`fit` paused (``pause_at``); returns the history."""
        if not self.paused:
            raise RuntimeError("resume() continues a paused fit(); this trainer is not paused.")
        self.paused = False
        return self._finish(self._run_epochs(store, self.end_epoch))

    def stop(self, reason: str) -> None:
        """End a paused run where it paused (``on_train_end`` runs; ``stop_reason = reason``)."""
        if not self.paused:
            raise RuntimeError("stop() ends a paused fit(); this trainer is not paused.")
        self.paused, self.stop_reason = False, reason
        self._notify("on_train_end")

    def _start(self, store: TensorStore, start_epoch: int, end_epoch: int) -> None:
        n = len(store)
        self.next_epoch = start_epoch
        self.previous_predictions = torch.full((n,), -1, dtype=torch.long, device=self.device)
        self._consecutive_nonfinite = 0
        self._take_snapshot()
        # Why the loop ended: "max_epochs" unless a callback stopped it (a callback may name
        # its reason, e.g. ConvergenceStop's "converged"); read by the estimators' stop_reason_.
        self.start_epoch, self.end_epoch, self.stop_reason = start_epoch, end_epoch, "max_epochs"
        self.paused = False

    def _run_epochs(self, store: TensorStore, until: int) -> bool:
        """Epochs ``next_epoch .. until - 1``; True when a callback stopped the run."""
        n = len(store)
        ctx = self.distributed
        self.module.train()
        self.forward_module.train()
        for epoch in range(self.next_epoch, until):
            self._notify("on_epoch_begin", epoch)
            self.objective.on_epoch_begin(epoch)
            if self.neighbors is not None:
                self.neighbors.on_epoch_begin(epoch)
            started = time.perf_counter()
            batches = batch_partition(n, self.batch_size, self.seeds.shuffle, 2 if ctx is None else ctx.world_size)
            sums: dict[str, torch.Tensor] = {}
            weights = 0.0
            skipped = 0
            predictions = torch.empty(n, dtype=torch.long, device=self.device)
            for b, index in enumerate(batches):
                for part, terms in self._guarded_steps(store, index, epoch):
                    predictions[part.to(self.device)] = terms.pop("_predictions")
                    if terms.pop("_skipped"):
                        skipped += 1
                        for k in terms:  # an epoch of skipped steps still reports every term (as NaN)
                            sums.setdefault(k, torch.zeros((), device=self.device))
                        self._on_nonfinite(epoch, b)
                        continue
                    self._consecutive_nonfinite = 0
                    weight = part.numel() / n
                    weights += weight
                    for k, v in terms.items():
                        sums[k] = sums.get(k, 0.0) + v.float() * weight
                self._notify("on_batch_end", b, len(batches))
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            seconds = time.perf_counter() - started
            if ctx is not None:
                seconds = ctx.max(seconds)  # the group's epoch time: its slowest rank
                ctx.sync_buffers(self.module)  # BatchNorm statistics saw only this rank's slices
            scale = 1.0 if skipped == 0 else (1.0 / weights if weights > 0 else float("nan"))
            entry = {"epoch": epoch, **{k: float(v) * scale for k, v in sums.items()}}
            entry["labels_changed"] = float((predictions != self.previous_predictions).float().mean())
            entry["n_clusters_used"] = int(torch.unique(predictions).numel())
            entry["skipped_steps"] = skipped
            entry["seconds"] = seconds
            entry["samples_per_s"] = n / seconds if seconds > 0 else float("inf")
            entry.update(self.objective.on_epoch_end(epoch))
            if not self._module_is_finite():
                self.restore_last_epoch()
                raise NonFiniteError(
                    f"Training diverged at epoch {epoch}: the weights (or BatchNorm statistics) became non-finite. The model was "
                    f"{self._restored_to()}. Try a lower lr or standardised inputs."
                )
            self.previous_predictions = predictions
            self.history.append(entry)
            self.next_epoch = epoch + 1
            self._take_snapshot()
            stop = self._notify("on_epoch_end", entry)
            if ctx is not None:
                stop = ctx.any_true(stop)  # every rank stops after the same epoch
            if stop:
                return True
        return False

    def _finish(self, stopped: bool) -> list[dict]:
        if stopped and self.stop_reason == "max_epochs" and self.next_epoch < self.end_epoch:
            self.stop_reason = "callback"
        self._notify("on_train_end")
        return self.history
