"""The contract between the training engine and a clustering method.

An :class:`Objective` turns the model outputs of two augmented views into a loss. The engine
owns the loop, the optimiser, devices and AMP; an objective owns only what is specific to its
method (e.g. SCL's memory bank). Methods therefore differ only in their objective, their head
layout and their defaults.
"""

from __future__ import annotations

import torch

from ..nn.model import ModelOutput


class Objective:
    """Base class of the per-method training objectives.

    Attributes
    ----------
    projection_dim : int or None
        Width of the instance head the method needs (None: no instance head).
    cluster_head_hidden : int or None
        Hidden width of the cluster head (None: a single linear layer).
    """

    projection_dim: int | None = 128
    cluster_head_hidden: int | None = 512

    def setup(self, n_samples: int, n_clusters: int, device: torch.device, max_epochs: int) -> None:
        """Allocate per-fit state (called once before the first epoch of a fit)."""
        self.n_samples = n_samples
        self.n_clusters = n_clusters
        self.device = device
        self.max_epochs = max_epochs

    def on_epoch_begin(self, epoch: int) -> None:
        """Hook before each epoch (``epoch`` counts from 0 over the whole fit)."""

    def __call__(self, out_a: ModelOutput, out_b: ModelOutput, index: torch.Tensor, epoch: int) -> dict[str, torch.Tensor]:
        """Loss of one batch.

        Parameters
        ----------
        out_a, out_b : ModelOutput
            Model outputs of the two views.
        index : Tensor of shape (batch,)
            Positions of the batch's samples in the training set (for memory banks).
        epoch : int
            Current epoch.

        Returns
        -------
        dict of str to Tensor
            ``"loss"`` (the scalar to minimise) and each weighted term under its own name.
        """
        raise NotImplementedError

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        """Diagnostics to add to the epoch's history entry."""
        return {}

    def state_dict(self) -> dict:
        """Per-fit state to checkpoint (tensors and plain Python values only); none by default."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (called after :meth:`setup`)."""

    def teardown(self) -> None:
        """Free per-fit state (memory banks) at the end of ``fit``."""
