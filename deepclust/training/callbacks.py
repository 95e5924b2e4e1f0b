"""Callbacks: the extension point of the training loop (after skorch's design).

A callback overrides any of the hooks below; each receives the :class:`~deepclust.training.trainer.Trainer`
(``trainer.history`` holds the per-epoch dicts so far). Returning ``True`` from
``on_epoch_end`` asks the trainer to stop after that epoch.
"""

from __future__ import annotations

import sys
import time


class Callback:
    """Base class: every hook is a no-op."""

    def on_train_begin(self, trainer) -> None:
        pass

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        pass

    def on_batch_end(self, trainer, batch: int, n_batches: int) -> None:
        pass

    def on_epoch_end(self, trainer, entry: dict) -> bool | None:
        pass

    def on_train_end(self, trainer) -> None:
        pass


def format_entry(entry: dict) -> str:
    """One line per epoch: epoch, loss terms, time, throughput."""
    skip = {"epoch", "seconds", "samples_per_s", "cluster_sizes"}
    terms = " ".join(f"{k}={v:.4f}" for k, v in entry.items() if k not in skip and isinstance(v, float))
    return (
        f"epoch {entry['epoch']:>4d} | {terms} | {entry['seconds']:.2f}s "
        f"{entry['samples_per_s']:.0f} samples/s"
    )


class PrintLog(Callback):
    """Print one line per epoch (``verbose >= 1``)."""

    def __init__(self, stream=None):
        self.stream = stream

    def on_epoch_end(self, trainer, entry):
        print(format_entry(entry), file=self.stream or sys.stdout, flush=True)


class ProgressBar(Callback):
    """A single-line text progress bar over the batches of each epoch (``verbose >= 2``)."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream
        self.width = width

    def on_epoch_begin(self, trainer, epoch):
        self._start = time.perf_counter()
        self._epoch = epoch

    def on_batch_end(self, trainer, batch, n_batches):
        done = int(self.width * (batch + 1) / n_batches)
        elapsed = time.perf_counter() - self._start
        stream = self.stream or sys.stderr
        stream.write(f"\repoch {self._epoch:>4d} [{'#' * done}{'.' * (self.width - done)}] {batch + 1}/{n_batches} {elapsed:.1f}s")
        if batch + 1 == n_batches:
            stream.write("\n")
        stream.flush()
