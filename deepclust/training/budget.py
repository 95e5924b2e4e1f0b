"""How long a fit trains: the automatic epoch budget and the convergence stop.

Two pieces, both used by the estimators through ``max_epochs="auto"``, ``tol`` and
``n_iter_no_change``:

* :func:`resolve_max_epochs` turns ``max_epochs="auto"`` into a number of epochs from a
  budget in *optimisation steps* (:data:`AUTO_STEPS`), so that a data set ten times larger
  trains about ten times fewer epochs (see the constant for the measurements that chose it);
* :class:`ConvergenceStop`, a callback, stops training when the fraction of samples whose
  cluster changed since the previous epoch (``history_[i]["labels_changed"]``) has not
  improved by at least ``tol`` over ``n_iter_no_change`` epochs, the meaning
  ``tol``/``n_iter_no_change`` have in :class:`sklearn.neural_network.MLPClassifier`
  (there on the training loss), measured on window means because the signal is noisy. A
  fit that runs out of epochs first ends with a
  :class:`~sklearn.exceptions.ConvergenceWarning`, as scikit-learn's iterative estimators do.
"""

from __future__ import annotations

import math
import warnings

from sklearn.exceptions import ConvergenceWarning

from .callbacks import Callback, _is_main

__all__ = ["AUTO_STEPS", "ConvergenceStop", "convergence_state", "resolve_max_epochs", "steps_per_epoch"]

#: Optimisation steps of ``max_epochs="auto"`` (at the default ``batch_size=128``).
#:
#: Chosen on the benchmark evidence (benchmarks/results/*.csv, benchmarks/results_notes.md),
#: counting ``epochs * ceil(n / 128)`` steps:
#:
#: * digits (n = 1,797, 15 steps per epoch): the 100-epoch rows (1,500 steps) give DRC
#:   0.984, SCL 0.957, JCL 0.973 (3 seeds). A shorter budget loses accuracy: 40 epochs
#:   (600 steps, seed 0, today's code) gave DRC 0.959, SCL 0.963, JCL 0.960, where the
#:   same code's 100-epoch fits gave 0.982, 0.963, 0.994 (docs/performance.md, session 11);
#: * USPS (n = 9,298, 73 steps per epoch): the 30-epoch rows (2,190 steps) give SCL 0.985,
#:   DRC 0.976, JCL 0.942 (3 seeds);
#: * MNIST (n = 70,000, 547 steps per epoch): SCL's per-epoch ACC stayed at 0.959-0.966 from
#:   epoch 2 to epoch 9 (from about 1,100 steps), and the 4-epoch fit scored 0.966, as the
#:   6-epoch rows (3,282 steps).
#:
#: 1,500 steps keeps digits at the budget of its measured rows (100 epochs), gives USPS 21
#: epochs and MNIST 3 (1,641 steps, inside MNIST's plateau) instead of 100 epochs each
#: (50 minutes and 8 hours of CPU for one fit); the convergence stop then ends fits whose
#: labels have settled earlier.
AUTO_STEPS = 1500


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Optimisation steps of one epoch: the number of batches of :func:`~deepclust.training.trainer.batch_partition`.

    Examples
    --------
    >>> from deepclust.training.budget import steps_per_epoch
    >>> steps_per_epoch(1797, 128), steps_per_epoch(70000, 128), steps_per_epoch(60, 128)
    (15, 547, 1)
    """
    return max(1, min(math.ceil(n_samples / batch_size), n_samples // 2))


def resolve_max_epochs(max_epochs: int | str, n_samples: int, batch_size: int) -> int:
    """The number of epochs of a fit: ``max_epochs`` itself, or the automatic budget.

    Parameters
    ----------
    max_epochs : int or "auto"
        An int is returned unchanged. ``"auto"`` is ``ceil(AUTO_STEPS / steps_per_epoch)``
        epochs: about :data:`AUTO_STEPS` optimisation steps whatever the number of samples.
    n_samples : int
        Training samples.
    batch_size : int
        Samples per step.

    Returns
    -------
    int

    Examples
    --------
    digits, USPS and MNIST at the default batch size:

    >>> from deepclust.training.budget import resolve_max_epochs
    >>> [resolve_max_epochs("auto", n, 128) for n in (1797, 9298, 70000)]
    [100, 21, 3]
    >>> resolve_max_epochs(7, 1797, 128)
    7
    """
    if max_epochs != "auto":
        return int(max_epochs)
    return math.ceil(AUTO_STEPS / steps_per_epoch(n_samples, batch_size))


def convergence_state(
    history: list[dict], n_iter_no_change: int, start: int = 0, monitor: str = "labels_changed"
) -> float | None:
    """How much ``monitor`` fell over the last ``n_iter_no_change`` epochs.

    The mean of the last ``n_iter_no_change`` counted epochs subtracted from the mean of the
    ``n_iter_no_change`` epochs before them (positive: still falling); None while fewer
    than ``2 * n_iter_no_change`` epochs count. Entries before ``start`` are ignored, as is
    one whose value is missing or not finite. Computed from the history alone, so that it
    survives a checkpoint resume.

    Parameters
    ----------
    history : list of dict
        Epoch entries (``history_``).
    n_iter_no_change : int
        Length of the two windows compared.
    start : int, default=0
        First epoch to consider (earlier ones are a warm-up, or belong to an earlier fit).
    monitor : str, default="labels_changed"
        The history key that should fall.

    Returns
    -------
    float or None

    Examples
    --------
    >>> from deepclust.training.budget import convergence_state
    >>> history = [{"epoch": i, "labels_changed": v} for i, v in enumerate([1.0, 0.5, 0.3, 0.2, 0.2])]
    >>> round(convergence_state(history, n_iter_no_change=2), 3)  # mean(0.5, 0.3) - mean(0.2, 0.2)
    0.2
    >>> print(convergence_state(history, n_iter_no_change=2, start=3))
    None
    """
    values = [
        entry[monitor]
        for entry in history
        if entry.get("epoch", 0) >= start and entry.get(monitor) is not None and math.isfinite(entry[monitor])
    ]
    if len(values) < 2 * n_iter_no_change:
        return None
    last = values[-n_iter_no_change:]
    before = values[-2 * n_iter_no_change : -n_iter_no_change]
    return sum(before) / n_iter_no_change - sum(last) / n_iter_no_change


class ConvergenceStop(Callback):
    """Stop when the cluster assignments have stopped settling; warn when the budget ran out first.

    ``labels_changed`` is the fraction of samples whose predicted cluster (on the augmented
    first view) changed since the previous epoch. After each epoch, its mean over the last
    ``n_iter_no_change`` epochs is compared with its mean over the ``n_iter_no_change``
    epochs before: when it fell by less than ``tol``, training stops
    (``trainer.stop_reason = "converged"``). That is scikit-learn's meaning of ``tol`` and
    ``n_iter_no_change`` (:class:`~sklearn.neural_network.MLPClassifier`: no improvement by
    ``tol`` for ``n_iter_no_change`` epochs) on a label-free signal that, unlike the
    contrastive loss, stops falling once the assignments are stable. Window means rather
    than scikit-learn's comparison with the best epoch so far: the views are random, so the
    signal jumps by about 0.01 from epoch to epoch (digits), and one lucky low epoch then
    sets a best that the next ones do not beat while the trend still falls (the best-epoch
    rule with ``tol=1e-3``, ``n_iter_no_change=10`` stopped DRC on digits after 54 epochs at
    ACC 0.972, where its 100-epoch fit reaches 0.988). Epochs of the objective's schedule
    (SCL's warm-up, JCL's weight ramp; see
    :meth:`~deepclust.objectives.base.Objective.milestones`), and the first epoch of every
    fit (it compares with no previous epoch), are not counted.

    The count is recomputed from ``trainer.history`` at every epoch, so a fit resumed from
    a :class:`~deepclust.training.callbacks.Checkpoint` continues it; a resumed fit whose
    checkpoint had already converged trains no further.

    Parameters
    ----------
    tol : float
        Minimum fall of the mean ``labels_changed`` (a fraction of the samples) over
        ``n_iter_no_change`` epochs.
    n_iter_no_change : int
        Length of the two windows compared (at least ``2 * n_iter_no_change`` counted
        epochs before a stop).
    warn : bool, default=True
        Issue a :class:`~sklearn.exceptions.ConvergenceWarning` when the fit used all its
        epochs and the last window still fell by ``tol`` or more. A budget too short to
        judge (fewer than ``2 * n_iter_no_change`` counted epochs) ends without one.

    Examples
    --------
    >>> from deepclust.training.budget import ConvergenceStop
    >>> stop = ConvergenceStop(tol=0.01, n_iter_no_change=2)
    >>> stop.tol, stop.n_iter_no_change
    (0.01, 2)
    """

    def __init__(self, tol: float, n_iter_no_change: int, warn: bool = True):
        self.tol = float(tol)
        self.n_iter_no_change = int(n_iter_no_change)
        self.warn = warn

    def _first_counted_epoch(self, trainer) -> int:
        # The first epoch of a fit compares its labels with none (labels_changed = 1), and
        # epochs of a schedule change the loss on purpose: neither says anything about settling.
        milestones = getattr(trainer.objective, "milestones", lambda: {})()
        return max([trainer.start_epoch + 1, *(int(e) for e in milestones)])

    def _converged(self, trainer) -> bool:
        fall = convergence_state(trainer.history, self.n_iter_no_change, self._first_counted_epoch(trainer))
        return fall is not None and fall < self.tol

    def on_train_begin(self, trainer):
        # After a Checkpoint (listed before this callback) restored a converged fit.
        if trainer.history and self._converged(trainer):
            trainer.stop_reason = "converged"
            return True
        return None

    def on_epoch_end(self, trainer, entry):
        if self._converged(trainer):
            trainer.stop_reason = "converged"
            return True
        return None

    def on_train_end(self, trainer):
        if not self.warn or trainer.stop_reason != "max_epochs" or not _is_main(trainer):
            return
        fall = convergence_state(trainer.history, self.n_iter_no_change, self._first_counted_epoch(trainer))
        if fall is None:
            # Too few epochs to judge (e.g. the 3 epochs "auto" gives MNIST, or a short test
            # fit): no evidence of non-convergence, so no warning; stop_reason_ still says
            # "max_epochs".
            return
        warnings.warn(
            f"Training stopped at its budget of {trainer.end_epoch} epochs before the cluster assignments "
            f"converged: the mean labels_changed still fell by {fall:.4g} >= tol={self.tol:g} over the last "
            f"n_iter_no_change={self.n_iter_no_change} epochs. Raise max_epochs, or continue with "
            "warm_start=True; see history_[i]['labels_changed'].",
            ConvergenceWarning,
            stacklevel=5,  # the caller of the estimator's fit (fit -> Trainer.fit -> _notify -> here)
        )
