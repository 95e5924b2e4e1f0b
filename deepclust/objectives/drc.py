"""Deep Robust Clustering (Zhong et al., arXiv 2008.03030) as an objective.

Established by the paper: contrast on the assignment features (the K-dim logits of one
fully-connected layer), contrast on the assignment probabilities (columns of the softmax
matrix), and a cluster-regularisation (balance) term; total ``L_AF + L_AP + lambda * L_CR``.
Our choices (the paper's values were not found): cosine similarity, tau_AF = 1.0 and
tau_AP = 1.0, the scale-free balance term with lambda = 1, symmetrised losses.
"""

from __future__ import annotations

from ..nn.losses import cross_view_info_nce, squared_balance
from .base import Objective


class DRCObjective(Objective):
    """``L = L_AF + L_AP + balance_weight * L_CR`` (see the module docstring).

    The loss of :class:`~deepclust.DRCClustering`, whose parameters it takes. DRC has no
    instance head and a single linear cluster head.

    Parameters
    ----------
    af_temperature : float, default=1.0
        Temperature of the assignment-feature (logit) contrast.
    ap_temperature : float, default=1.0
        Temperature of the assignment-probability (column) contrast.
    balance_weight : float, default=1.0
        Weight of the cluster regulariser.

    Examples
    --------
    >>> import torch
    >>> from deepclust.nn.model import ModelOutput
    >>> from deepclust.objectives.drc import DRCObjective
    >>> g = torch.Generator().manual_seed(0)
    >>> out_a = ModelOutput(torch.zeros(8, 4), None, torch.randn(8, 3, generator=g))
    >>> out_b = ModelOutput(torch.zeros(8, 4), None, torch.randn(8, 3, generator=g))
    >>> terms = DRCObjective()(out_a, out_b, torch.arange(8), epoch=0)
    >>> sorted(terms)
    ['assignment_feature', 'assignment_probability', 'balance', 'loss']
    >>> DRCObjective.projection_dim is None
    True
    """

    projection_dim = None
    cluster_head_hidden = None
    # head_refit="auto" on images: the head is kept where it agrees with k-means on the
    # representation (ARI 0.946-0.98 on digits, USPS, MNIST) and refitted where it does not
    # (COIL-20, seed 0: ARI 0.87, head 0.756 -> k-means 0.825; session 24, results_notes.md);
    # where the representation's neighbour graph is separated, the partition compared and
    # fitted is that graph's (COIL-20, seeds 0-2: heads 0.756-0.806 -> 0.877-0.942; session 25).
    image_head_refit = "graph_if_disagree"

    def __init__(self, af_temperature: float = 1.0, ap_temperature: float = 1.0, balance_weight: float = 1.0):
        self.af_temperature = af_temperature
        self.ap_temperature = ap_temperature
        self.balance_weight = balance_weight

    def __call__(self, out_a, out_b, index, epoch):
        p_a, p_b = out_a.logits.softmax(dim=1), out_b.logits.softmax(dim=1)
        assignment_feature = cross_view_info_nce(out_a.logits, out_b.logits, self.af_temperature)
        assignment_probability = cross_view_info_nce(p_a.T, p_b.T, self.ap_temperature)
        balance = 0.5 * (squared_balance(p_a, self.cluster_prior) + squared_balance(p_b, self.cluster_prior))
        weighted_balance = self.balance_weight * balance
        return {
            "loss": assignment_feature + assignment_probability + weighted_balance,
            "assignment_feature": assignment_feature,
            "assignment_probability": assignment_probability,
            "balance": weighted_balance,
        }
