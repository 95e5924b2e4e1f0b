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
from .distributed import is_main_rank, run_on_main

__all__ = ["Callback", "Checkpoint", "CheckpointError", "PrintLog", "ProgressBar"]


class Callback:
    """Base class: every hook is a no-op.

    Subclass it, override the hooks you need and pass instances through an estimator's
    ``callbacks`` parameter. The hooks, in the order they are called:

    * ``on_train_begin(trainer)``: once per ``fit``, before the first epoch;
    * ``on_epoch_begin(trainer, epoch)``: ``epoch`` counts from 0 over warm-started fits;
    * ``on_batch_end(trainer, batch, n_batches)``: after each optimisation step;
    * ``on_epoch_end(trainer, entry)``: ``entry`` is the epoch's ``history_`` dict; return
      ``True`` to stop training after this epoch;
    * ``on_train_end(trainer)``: once, after the last epoch.

    ``trainer`` is the :class:`~deepclust.training.trainer.Trainer`; ``trainer.module`` is
    the network being trained and ``trainer.history`` the list of epoch dicts so far.

    Examples
    --------
    Record the epochs and stop after the second one:

    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering
    >>> from deepclust.training.callbacks import Callback
    >>> class StopAfterTwoEpochs(Callback):
    ...     def __init__(self):
    ...         self.epochs = []
    ...     def on_epoch_end(self, trainer, entry):
    ...         self.epochs.append(entry["epoch"])
    ...         return entry["epoch"] >= 1
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> stopper = StopAfterTwoEpochs()
    >>> model = DRCClustering(
    ...     n_clusters=3, max_epochs=50, batch_size=32, device="cpu", random_state=0, callbacks=[stopper]
    ... ).fit(X)
    >>> stopper.epochs, model.n_iter_
    ([0, 1], 2)
    """

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


def _is_main(trainer) -> bool:
    return is_main_rank(getattr(trainer, "distributed", None))


def format_entry(entry: dict) -> str:
    """One line per epoch: epoch, loss terms, time, throughput."""
    skip = {"epoch", "seconds", "samples_per_s", "cluster_sizes"}
    terms = " ".join(f"{k}={v:.4f}" for k, v in entry.items() if k not in skip and isinstance(v, float))
    return (
        f"epoch {entry['epoch']:>4d} | {terms} | {entry['seconds']:.2f}s "
        f"{entry['samples_per_s']:.0f} samples/s"
    )


class PrintLog(Callback):
    """Print one line per epoch (``verbose >= 1``).

    The line holds the epoch, every loss term of the history entry, the epoch's time and
    its throughput. ``verbose=1`` adds a ``PrintLog()`` writing to standard output; pass
    one explicitly to log elsewhere.

    Parameters
    ----------
    stream : file-like or None, default=None
        Where to write; None is ``sys.stdout`` (looked up at each call).

    Examples
    --------
    >>> import io
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering
    >>> from deepclust.training.callbacks import PrintLog
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> log = io.StringIO()
    >>> model = DRCClustering(
    ...     n_clusters=3, max_epochs=2, batch_size=32, device="cpu", random_state=0, callbacks=[PrintLog(log)]
    ... ).fit(X)
    >>> lines = log.getvalue().splitlines()
    >>> len(lines), lines[0].startswith("epoch    0 | loss=")
    (2, True)
    """

    def __init__(self, stream=None):
        self.stream = stream

    def on_epoch_end(self, trainer, entry):
        if _is_main(trainer):  # under torch.distributed only rank 0 prints
            print(format_entry(entry), file=self.stream or sys.stdout, flush=True)


class ProgressBar(Callback):
    """A single-line text progress bar over the batches of each epoch (``verbose >= 2``).

    The bar is redrawn in place (carriage return) after every batch and ends with a
    newline at the end of each epoch. ``verbose=2`` adds a ``ProgressBar()`` writing to
    standard error.

    Parameters
    ----------
    stream : file-like or None, default=None
        Where to write; None is ``sys.stderr`` (looked up at each call).
    width : int, default=30
        Number of characters of the bar.

    Examples
    --------
    >>> import io
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering
    >>> from deepclust.training.callbacks import ProgressBar
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> out = io.StringIO()
    >>> bar = ProgressBar(out, width=10)
    >>> model = DRCClustering(
    ...     n_clusters=3, max_epochs=2, batch_size=32, device="cpu", random_state=0, callbacks=[bar]
    ... ).fit(X)
    >>> epochs = out.getvalue().split("\\n")[:-1]  # one line per epoch, redrawn after each batch
    >>> [line.split("\\r")[-1][:27] for line in epochs]  # how each line looks at the end
    ['epoch    0 [##########] 2/2', 'epoch    1 [##########] 2/2']
    """

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream
        self.width = width

    def on_epoch_begin(self, trainer, epoch):
        self._start = time.perf_counter()
        self._epoch = epoch

    def on_batch_end(self, trainer, batch, n_batches):
        if not _is_main(trainer):  # under torch.distributed only rank 0 draws
            return
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

    Under ``torch.distributed`` (``torchrun``) every rank runs the callback: rank 0 alone
    writes the file (it holds every rank's augmentation generator state) and, on resume,
    reads it and sends it to the other ranks, so ``dirname`` needs to exist only where rank
    0 runs. Resuming with another number of processes works, with re-seeded augmentation
    streams (and a warning).

    Parameters
    ----------
    dirname : str or path-like
        Directory of the checkpoint (created if needed).
    every : int, default=1
        Save after every ``every``-th epoch (counting from 1), and always at the end of fit.
    resume : bool, default=True
        Load an existing checkpoint at the start of fit.
    filename : str, default="checkpoint.pt"
        Name of the checkpoint file in ``dirname``.

    Attributes
    ----------
    resumed_epoch_ : int or None
        The epoch training continued from in the last fit (None: started afresh).

    See Also
    --------
    CheckpointError : Raised for a damaged or mismatching checkpoint.

    Examples
    --------
    A fit that stops after its second epoch (here a callback stops it; a killed process
    behaves the same) leaves a checkpoint; fitting again with the same parameters, data and
    directory resumes from it and gives the labels of an uninterrupted fit:

    >>> import os
    >>> import tempfile
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering
    >>> from deepclust.training.callbacks import Callback, Checkpoint
    >>> class Interrupt(Callback):
    ...     def on_epoch_end(self, trainer, entry):
    ...         return entry["epoch"] == 1
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> params = dict(n_clusters=3, max_epochs=3, batch_size=32, device="cpu", random_state=0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     checkpoint = Checkpoint(tmp, every=1)
    ...     first = DRCClustering(**params, callbacks=[checkpoint, Interrupt()]).fit(X)
    ...     print(first.n_iter_, os.listdir(tmp), checkpoint.resumed_epoch_)
    ...     resumed = DRCClustering(**params, callbacks=[checkpoint]).fit(X)
    ...     print(resumed.n_iter_, checkpoint.resumed_epoch_)
    2 ['checkpoint.pt'] None
    3 2
    >>> uninterrupted = DRCClustering(**params).fit(X)
    >>> bool((resumed.labels_ == uninterrupted.labels_).all())
    True
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
        # Under torch.distributed every rank builds the state (it gathers the ranks' RNG
        # states) and rank 0 alone writes; a write error is raised on every rank.
        state = trainer.state_dict()
        run_on_main(getattr(trainer, "distributed", None), lambda: save_checkpoint(state, self.path))
        self._saved_epoch = trainer.next_epoch

    def on_train_begin(self, trainer):
        self.resumed_epoch_ = None
        self._saved_epoch = None
        if self.resume:
            # Rank 0 reads the file and sends it to the others (so only rank 0's file system
            # needs it); a missing file means a fresh start on every rank.
            state = run_on_main(
                getattr(trainer, "distributed", None),
                lambda: load_checkpoint(self.path) if os.path.exists(self.path) else None,
            )
            if state is not None:
                trainer.load_state_dict(state)
                self.resumed_epoch_ = trainer.next_epoch

    def on_epoch_end(self, trainer, entry):
        if (entry["epoch"] + 1) % self.every == 0:
            self.save(trainer)

    def on_train_end(self, trainer):
        if self._saved_epoch != trainer.next_epoch:
            self.save(trainer)
