"""Callbacks: the extension point of the training loop (after skorch's design).

A callback overrides any of the hooks below; each receives the :class:`~deepclust.training.trainer.Trainer`
(``trainer.history`` holds the per-epoch dicts so far). Returning ``True`` from
``on_epoch_end`` asks the trainer to stop after that epoch.
"""

from __future__ import annotations

import os
import sys
import time

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint

__all__ = ["Callback", "Checkpoint", "CheckpointError", "PrintLog", "ProgressBar"]


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


class Checkpoint(Callback):
    """Save the complete training state every ``every`` epochs and at the end; resume from it.

    Pass it through the estimators' ``callbacks`` parameter (after skorch's ``Checkpoint`` and
    ``LoadInitState``)::

        model = DRCClustering(callbacks=[Checkpoint("runs/drc", every=5)])

    The file ``dirname/filename`` holds the module and optimiser state, the gradient
    scaler, every random generator of the fit (shuffling, augmentation, NumPy, torch's global
    generator), the next epoch, the history so far, the batch size (after any
    out-of-memory reduction) and the objective's state (e.g. SCL's memory bank). It is written
    atomically (temporary file + :func:`os.replace`), so an interruption while writing keeps
    the previous checkpoint.

    With ``resume=True`` (the default) a fit whose checkpoint file exists starts from it: on
    the CPU, a fit interrupted after epoch ``k`` and fitted again with the same parameters
    and data gives exactly the ``labels_`` of an uninterrupted fit. The number of epochs
    already done counts towards ``max_epochs``; a finished checkpoint makes ``fit`` train no
    further. A truncated, corrupted or mismatching checkpoint raises :class:`CheckpointError`
    and is left untouched. Loading uses ``torch.load(weights_only=True)`` after a SHA-256
    check, so nothing in a checkpoint is executed.

    Parameters
    ----------
    dirname : str or path-like
        Directory of the checkpoint (created if needed).
    every : int, default=1
        Save after every ``every``-th epoch (counting from 1), and always at the end of fit.
    resume : bool, default=True
        Load an existing checkpoint at the start of fit.
    filename : str, default="checkpoint.pt"

    Attributes
    ----------
    resumed_epoch_ : int or None
        The epoch training continued from in the last fit (None: started afresh).
    """

    def __init__(self, dirname, every: int = 1, resume: bool = True, filename: str = "checkpoint.pt"):
        if int(every) < 1:
            raise ValueError(f"every must be >= 1; got {every}.")
        self.dirname = dirname
        self.every = int(every)
        self.resume = resume
        self.filename = filename
        self.resumed_epoch_ = None

    @property
    def path(self) -> str:
        return os.path.join(os.fspath(self.dirname), self.filename)

    def save(self, trainer) -> None:
        save_checkpoint(trainer.state_dict(), self.path)
        self._saved_epoch = trainer.next_epoch

    def on_train_begin(self, trainer):
        self.resumed_epoch_ = None
        self._saved_epoch = None
        if self.resume and os.path.exists(self.path):
            trainer.load_state_dict(load_checkpoint(self.path))
            self.resumed_epoch_ = trainer.next_epoch

    def on_epoch_end(self, trainer, entry):
        if (entry["epoch"] + 1) % self.every == 0:
            self.save(trainer)

    def on_train_end(self, trainer):
        if self._saved_epoch != trainer.next_epoch:
            self.save(trainer)
