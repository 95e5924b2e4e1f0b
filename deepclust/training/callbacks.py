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

    * ``on_train_begin(trainer)``: once per ``fit``, before the first epoch; return
      ``True`` to train no epoch (e.g. a resumed fit that had already converged);
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


def format_duration(seconds: float) -> str:
    """``"42s"``, ``"3m05s"`` or ``"1h02m"``.

    Examples
    --------
    >>> from deepclust.training.callbacks import format_duration
    >>> format_duration(42.4), format_duration(185), format_duration(3725)
    ('42s', '3m05s', '1h02m')
    """
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def format_entry(entry: dict, end_epoch: int | None = None) -> str:
    """One line per epoch: epoch (counted from 1, ``"3/40"`` when ``end_epoch`` is given), loss terms, time, throughput."""
    skip = {"epoch", "seconds", "samples_per_s", "cluster_sizes"}
    terms = " ".join(f"{k}={v:.4f}" for k, v in entry.items() if k not in skip and isinstance(v, float))
    count = f"{entry['epoch'] + 1}" if end_epoch is None else f"{entry['epoch'] + 1}/{end_epoch}"
    return f"epoch {count} | {terms} | {entry['seconds']:.2f}s {entry['samples_per_s']:.0f} samples/s"


_STOP_REASONS = {
    "converged": "converged (labels_changed stopped improving by tol for n_iter_no_change epochs)",
    "max_epochs": "all epochs of the budget done",
    "callback": "a callback asked to stop",
    "restart_dropped": "restart dropped after its trial (another restart scored higher)",
    "interrupted": "interrupted",
}


class PrintLog(Callback):
    """Print the budget, one line per epoch and why training stopped (``verbose >= 1``).

    At the start: ``header`` (the estimators put the device, backbone and input layout
    there) and the budget in epochs and optimisation steps. After each epoch: ``epoch 3/40``
    (counted from 1 up to the last epoch of the budget), every loss term of the history
    entry, the epoch's time and throughput, the time elapsed since the start of the fit
    and an estimate of the time left (``left <=``: the convergence stop may end sooner).
    Before an epoch at which the objective's schedule changes the loss (its
    ``milestones()``, e.g. the end of SCL's warm-up), what changes. At the end, the number
    of epochs run and why training stopped. ``verbose=1`` adds a ``PrintLog()`` writing to
    standard output; pass one explicitly to log elsewhere.

    Parameters
    ----------
    stream : file-like or None, default=None
        Where to write; None is ``sys.stdout`` (looked up at each call).
    header : str or None, default=None
        Printed first, before the budget.

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
    >>> print(lines[0])
    budget: 2 epochs of 2 steps (batch_size 32) = 4 steps
    >>> len(lines), lines[1].startswith("epoch 1/2 | loss=")
    (4, True)
    >>> part = lines[1].split("|")[-1].split()  # e.g. "elapsed 0s, left <= 1s" (the seconds vary)
    >>> part[0], part[2]
    ('elapsed', 'left')
    >>> lines[-1].split(":")[0]
    'stopped after 2 epochs'
    """

    def __init__(self, stream=None, header: str | None = None):
        self.stream = stream
        self.header = header

    def _print(self, trainer, text: str) -> None:
        if _is_main(trainer):  # under torch.distributed only rank 0 prints
            print(text, file=self.stream or sys.stdout, flush=True)

    def on_train_begin(self, trainer):
        self._start = time.perf_counter()
        self._first_epoch = trainer.next_epoch  # after a Checkpoint resume, if listed before
        n_epochs = trainer.end_epoch - trainer.start_epoch
        from .budget import steps_per_epoch  # budget imports this module

        n = 0 if trainer.previous_predictions is None else trainer.previous_predictions.numel()
        steps = steps_per_epoch(n, trainer.batch_size) if n else 0
        if self.header:
            self._print(trainer, self.header)
        self._print(
            trainer, f"budget: {n_epochs} epochs of {steps} steps (batch_size {trainer.batch_size}) = {n_epochs * steps} steps"
        )
        self._milestones = dict(getattr(trainer.objective, "milestones", dict)())

    def on_epoch_begin(self, trainer, epoch):
        message = getattr(self, "_milestones", {}).get(epoch)
        if message and epoch > trainer.start_epoch:
            self._print(trainer, message)

    def on_epoch_end(self, trainer, entry):
        done = entry["epoch"] + 1 - self._first_epoch
        elapsed = time.perf_counter() - self._start
        left = elapsed / max(done, 1) * (trainer.end_epoch - entry["epoch"] - 1)
        line = format_entry(entry, trainer.end_epoch)
        self._print(trainer, f"{line} | elapsed {format_duration(elapsed)}, left <= {format_duration(left)}")

    def on_train_end(self, trainer):
        reason = _STOP_REASONS.get(trainer.stop_reason, trainer.stop_reason)
        elapsed = format_duration(time.perf_counter() - self._start)
        self._print(trainer, f"stopped after {trainer.next_epoch} epochs: {reason} ({elapsed})")


class ProgressBar(Callback):
    """A single-line text progress bar over the batches of each epoch (``verbose >= 2``).

    The bar is redrawn in place (carriage return) after every batch, with the epoch
    (``3/40``, counted from 1), the batches done, the epoch's elapsed time and the time
    left in the epoch, and ends with a newline at the end of each epoch. ``verbose=2`` adds
    a ``ProgressBar()`` writing to standard error.

    It is written with the standard library only, not tqdm (what skorch uses): the bar
    needs a dozen lines, works on any stream (files, ``io.StringIO``, rank 0 of a
    ``torchrun`` job), and an optional dependency would mean two code paths to test.

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
    >>> [line.split("\\r")[-1][:26] for line in epochs]  # how each line looks at the end
    ['epoch 1/2 [##########] 2/2', 'epoch 2/2 [##########] 2/2']
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
        left = elapsed / (batch + 1) * (n_batches - batch - 1)
        stream = self.stream or sys.stderr
        bar = f"[{'#' * done}{'.' * (self.width - done)}] {batch + 1}/{n_batches}"
        stream.write(f"\repoch {self._epoch + 1}/{trainer.end_epoch} {bar} {elapsed:.1f}s, left {left:.1f}s ")
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
    >>> params = dict(n_clusters=3, max_epochs=3, batch_size=32, n_init=1, device="cpu", random_state=0)
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
