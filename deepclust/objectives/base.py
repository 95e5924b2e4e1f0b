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
    cluster_prior : Tensor of shape (n_clusters,) or None
        Expected cluster shares that the balance term pulls towards (in any order; see
        :func:`deepclust.nn.losses.squared_balance`); None means equal shares.
    distributed : DistributedContext or None
        Set by the estimator before :meth:`setup` under data-parallel training. The
        objective needs nothing from it for its loss: it is always called with the outputs
        of the whole *global* batch (gathered from every rank, with gradient), so a loss
        written for one process is the data-parallel loss unchanged. Per-fit state that is
        derived from those outputs (a memory bank) is therefore identical on every rank;
        the context is there for state computed otherwise (see SCL's consensus).

    See Also
    --------
    deepclust.BaseDeepClusterer : Its ``_make_objective`` returns the estimator's objective.

    Examples
    --------
    A minimal objective: CC's cluster contrast plus the entropy balance, without an
    instance head:

    >>> import torch
    >>> from deepclust.nn.losses import cluster_contrast, entropy_balance
    >>> from deepclust.nn.model import ModelOutput
    >>> from deepclust.objectives.base import Objective
    >>> class ClusterOnly(Objective):
    ...     projection_dim = None
    ...     def __call__(self, out_a, out_b, index, epoch):
    ...         p_a, p_b = out_a.logits.softmax(dim=1), out_b.logits.softmax(dim=1)
    ...         contrast = cluster_contrast(p_a, p_b, temperature=1.0)
    ...         balance = entropy_balance(p_a) + entropy_balance(p_b)
    ...         return {"loss": contrast + balance, "contrast": contrast, "balance": balance}
    >>> logits = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    >>> out = ModelOutput(features=torch.zeros(8, 4), embedding=None, logits=logits)
    >>> terms = ClusterOnly()(out, out, torch.arange(8), epoch=0)
    >>> sorted(terms), terms["loss"].ndim
    (['balance', 'contrast', 'loss'], 0)

    Returned from ``_make_objective`` of a :class:`~deepclust.BaseDeepClusterer` subclass,
    it trains like the built-in methods.
    """

    projection_dim: int | None = 128
    cluster_head_hidden: int | None = 512
    #: What ``head_refit="auto"`` means for images with this objective (tables: always
    #: "mixture"; see :func:`deepclust.training.head_refit.resolve_head_refit`).
    image_head_refit: str | None = None
    distributed = None
    #: Expected cluster shares (K,) for the balance term, set by the engine before
    #: :meth:`setup` (None: equal shares, the papers' balance).
    cluster_prior: torch.Tensor | None = None

    def setup(self, n_samples: int, n_clusters: int, device: torch.device, max_epochs: int) -> None:
        """Allocate per-fit state (called once before the first epoch of a fit)."""
        self.n_samples = n_samples
        self.n_clusters = n_clusters
        self.device = device
        self.max_epochs = max_epochs

    def on_epoch_begin(self, epoch: int) -> None:
        """Hook before each epoch (``epoch`` counts from 0 over the whole fit)."""

    def milestones(self) -> dict[int, str]:
        """Epochs at which the objective's schedule changes the loss, with what happens there.

        ``{epoch: message}`` (after :meth:`setup`): the epoch at whose start the change takes
        effect. ``verbose=1`` prints the message there, and the convergence stop
        (:class:`~deepclust.training.budget.ConvergenceStop`) counts only epochs after the
        last milestone. None by default.
        """
        return {}

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
