"""Warm starts: the training state a fit ends with, and a callback that continues from it.

A warm-started fit (``warm_start=True``) continues the fitted network *and* its training:
the optimiser state (Adam's moments and step counts), the random streams (shuffling,
augmentation, NumPy, torch's global generator), the objective's state (e.g. SCL's memory
bank), the epoch counter and the last epoch's predictions. It reuses what
:class:`~deepclust.training.callbacks.Checkpoint` saves and restores
(:meth:`Trainer.state_dict <deepclust.training.trainer.Trainer.state_dict>` /
:meth:`~deepclust.training.trainer.Trainer.load_state_dict`), kept on the estimator in
memory instead of in a file. On the CPU with a seed, two fits of ``k`` epochs therefore
equal one fit of ``2 k`` epochs.
"""

from __future__ import annotations

import torch

from .callbacks import Callback
from .trainer import _cpu_copy


def training_state(trainer) -> dict:
    """What a fit leaves for a warm start: ``trainer.state_dict()`` on the CPU, without the
    module weights and the history (the estimator holds them as ``module_`` and
    ``history_``).

    Under data-parallel training every rank must call it (see ``Trainer.state_dict``).

    Examples
    --------
    The estimators keep it after ``fit`` as ``_training_state_``:

    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering
    >>> X, _ = make_blobs(n_samples=40, centers=2, random_state=0)
    >>> state = DRCClustering(n_clusters=2, max_epochs=1, batch_size=20, device="cpu").fit(X)._training_state_
    >>> sorted(state)[:4], state["epoch"], state["device_type"]
    (['batch_size', 'device_type', 'epoch', 'n_samples'], 1, 'cpu')
    """
    state = trainer.state_dict()
    state.pop("module")
    state.pop("history")
    state = _cpu_copy(state)
    state["device_type"] = trainer.device.type
    return state


class WarmStart(Callback):
    """Load the state of the previous fit at the start of a warm-started one.

    The estimator puts it first among the callbacks, so a
    :class:`~deepclust.training.callbacks.Checkpoint` that resumes from a file takes
    precedence. What the current parameters say wins over the saved state: the learning
    rate and weight decay (``set_params`` between fits takes effect) and ``batch_size``.
    When the data has another number of samples, the objective's per-sample state and the
    previous predictions start afresh; on another device type, the augmentation stream
    does too.

    Parameters
    ----------
    state : dict
        What :func:`training_state` returned at the end of the previous fit.
    lr, weight_decay : float
        The optimiser settings of this fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> params = dict(n_clusters=3, batch_size=32, n_init=1, device="cpu", random_state=0)
    >>> twice = DRCClustering(max_epochs=2, warm_start=True, **params).fit(X).fit(X)
    >>> once = DRCClustering(max_epochs=4, **params).fit(X)
    >>> twice.n_iter_, np.allclose(twice.transform(X), once.transform(X), atol=1e-5)
    (4, True)
    """

    def __init__(self, state: dict, lr: float, weight_decay: float):
        self.state = state
        self.lr = lr
        self.weight_decay = weight_decay

    def on_train_begin(self, trainer) -> None:
        state = dict(self.state)
        trained_head = state.pop("trained_cluster_head", None)
        if trained_head is not None:
            # The previous fit refitted its head to k-means (head_refit): training goes on
            # from the head it had trained.
            trainer.module.cluster_head.load_state_dict(trained_head)
        state["module"] = trainer.module.state_dict()
        state["history"] = trainer.history
        state["epoch"] = trainer.next_epoch
        state["batch_size"] = trainer.requested_batch_size
        optimizer = dict(state["optimizer"])
        optimizer["param_groups"] = [
            {**group, "lr": self.lr, "weight_decay": self.weight_decay} for group in optimizer["param_groups"]
        ]
        state["optimizer"] = optimizer
        n = trainer.previous_predictions.numel()
        if state.get("n_samples") not in (None, n):
            # Other data: per-sample state (memory bank, last predictions) cannot carry over.
            state.update(n_samples=None, previous_predictions=None, objective=trainer.objective.state_dict(), neighbors=None)
        if state.pop("device_type", trainer.device.type) != trainer.device.type:
            rng = dict(state["rng"])
            rng.pop("augment_per_rank", None)
            rng["augment"] = trainer.seeds.augment.get_state()  # generator states are device specific
            state["rng"] = rng
        trainer.load_state_dict(state)
