"""The one training loop shared by every estimator (pure torch, no scikit-learn)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from contextlib import nullcontext

import torch
from torch import nn

from ..objectives.base import Objective
from .callbacks import Callback
from .data import TensorStore


def batch_partition(n_samples: int, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """A random partition of ``range(n_samples)`` into batches of nearly equal size.

    ``ceil(n / batch_size)`` batches, sizes differing by at most one, never smaller than two
    (BatchNorm and every contrastive term need two samples), so no sample is dropped.
    """
    n_batches = max(1, min(math.ceil(n_samples / batch_size), n_samples // 2))
    perm = torch.randperm(n_samples, generator=generator)
    return torch.tensor_split(perm, n_batches)


class Trainer:
    """Runs epochs of two-view contrastive training.

    Each step cuts a batch from the :class:`TensorStore`, makes two augmented views on the
    device with per-sample random parameters, runs one forward pass over both views
    (concatenated), asks the objective for the loss, and steps the optimiser (with autocast
    and, for float16, a gradient scaler on CUDA).

    Parameters
    ----------
    module : nn.Module
        A :class:`~deepclust.nn.model.ClusterNet` (or compatible) already on ``device``.
    objective : Objective
        The method's loss.
    augment : callable or None
        ``augment(x, generator) -> x``; None means both views are the raw batch.
    optimizer : torch.optim.Optimizer
    device : torch.device
    seeds : SeedManager
        Provides the shuffling and augmentation generators.
    batch_size : int
    amp_dtype : torch.dtype or None
        Autocast dtype (CUDA only), None for full precision.
    callbacks : sequence of Callback
    """

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
    ):
        self.module = module
        self.objective = objective
        self.augment = augment
        self.optimizer = optimizer
        self.device = device
        self.seeds = seeds
        self.batch_size = batch_size
        self.amp_dtype = amp_dtype
        self.callbacks = list(callbacks)
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
        self.history: list[dict] = []

    def _notify(self, hook: str, *args):
        stop = False
        for cb in self.callbacks:
            stop = bool(getattr(cb, hook)(self, *args)) or stop
        return stop

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _views(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.augment is None:
            return x, x
        gen = self.seeds.augment
        return self.augment(x, gen), self.augment(x, gen)

    def train_step(self, store: TensorStore, index: torch.Tensor, epoch: int) -> dict[str, torch.Tensor]:
        """One optimisation step on the samples at ``index``; returns detached loss terms."""
        x = store.get(index)
        with torch.no_grad():
            view_a, view_b = self._views(x)
        n = x.shape[0]
        with self._autocast():
            out_a, out_b = self.module(torch.cat([view_a, view_b])).split((n, n))
        terms = self.objective(out_a, out_b, index.to(self.device), epoch)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(terms["loss"]).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        terms = {k: v.detach() for k, v in terms.items()}
        terms["_predictions"] = out_a.logits.detach().argmax(dim=1)
        return terms

    def fit(self, store: TensorStore, start_epoch: int, end_epoch: int) -> list[dict]:
        """Train epochs ``start_epoch .. end_epoch - 1``; returns the new history entries."""
        n = len(store)
        self.module.train()
        self._notify("on_train_begin")
        previous = torch.full((n,), -1, dtype=torch.long, device=self.device)
        for epoch in range(start_epoch, end_epoch):
            self._notify("on_epoch_begin", epoch)
            self.objective.on_epoch_begin(epoch)
            started = time.perf_counter()
            batches = batch_partition(n, self.batch_size, self.seeds.shuffle)
            sums: dict[str, torch.Tensor] = {}
            predictions = torch.empty(n, dtype=torch.long, device=self.device)
            for b, index in enumerate(batches):
                terms = self.train_step(store, index, epoch)
                predictions[index.to(self.device)] = terms.pop("_predictions")
                weight = index.numel() / n
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v.float() * weight
                self._notify("on_batch_end", b, len(batches))
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            seconds = time.perf_counter() - started
            entry = {"epoch": epoch, **{k: float(v) for k, v in sums.items()}}
            entry["labels_changed"] = float((predictions != previous).float().mean())
            entry["n_clusters_used"] = int(torch.unique(predictions).numel())
            entry["seconds"] = seconds
            entry["samples_per_s"] = n / seconds if seconds > 0 else float("inf")
            entry.update(self.objective.on_epoch_end(epoch))
            previous = predictions
            self.history.append(entry)
            if self._notify("on_epoch_end", entry):
                break
        self._notify("on_train_end")
        return self.history
