"""Loss terms shared by the objectives.

Every function takes the batch size from its inputs (never from a constructor), works for any
batch size of at least 2, and computes in float32 whatever the autocast dtype.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def nt_xent(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR/CC instance loss (NT-Xent) over the 2N views of N samples.

    Parameters
    ----------
    z_a, z_b : Tensor of shape (N, D)
        Two views' embeddings; they are L2-normalised here (a no-op when they already are).
    temperature : float
        Softmax temperature tau.

    Returns
    -------
    Tensor
        ``(1/2N) sum_u -log(exp(s(u, u+)) / sum_{v != u} exp(s(u, v)))`` with ``s = cos / tau``.

    Examples
    --------
    Aligned views give a lower loss than views paired with the wrong samples:

    >>> import torch
    >>> from deepclust.nn.losses import nt_xent
    >>> z = torch.eye(4)  # four orthogonal embeddings
    >>> round(float(nt_xent(z, z, temperature=0.5)), 4)  # log(1 + 6 exp(-2))
    0.5944
    >>> round(float(nt_xent(z, z.roll(1, dims=0), temperature=0.5)), 4)
    2.5944
    """
    z = F.normalize(torch.cat([z_a, z_b]).float(), dim=1)
    n = z_a.shape[0]
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, positives)


def cross_view_info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetrised InfoNCE between row i of ``a`` and row i of ``b`` (cosine similarity).

    For each row of one view the positive is the same row of the other view and the negatives
    are the other rows *of the other view* only (DRC's form: M terms in the denominator,
    positive included). The (a->b) and (b->a) directions are averaged.

    Parameters
    ----------
    a, b : Tensor of shape (M, D)
        The two views (normalised here).
    temperature : float
        Softmax temperature tau.

    Returns
    -------
    Tensor
        Scalar loss.

    Examples
    --------
    >>> import torch
    >>> from deepclust.nn.losses import cross_view_info_nce
    >>> z = torch.eye(4)
    >>> round(float(cross_view_info_nce(z, z, temperature=0.5)), 4)  # log(1 + 3 exp(-2))
    0.3408
    """
    a = F.normalize(a.float(), dim=1)
    b = F.normalize(b.float(), dim=1)
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def cluster_contrast(p_a: torch.Tensor, p_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """CC's cluster-level contrast: NT-Xent over the 2K columns of two assignment matrices.

    Parameters
    ----------
    p_a, p_b : Tensor of shape (N, K)
        Soft assignments of the two views (rows sum to one).
    temperature : float
        Softmax temperature tau.

    Returns
    -------
    Tensor
        Scalar loss; a cluster's column in one view is the positive of the same cluster's
        column in the other.

    Examples
    --------
    >>> import torch
    >>> from deepclust.nn.losses import cluster_contrast
    >>> p = torch.eye(3).repeat(2, 1)  # six samples, two per cluster, confidently assigned
    >>> round(float(cluster_contrast(p, p, temperature=1.0)), 4)
    0.9048
    """
    return nt_xent(p_a.T, p_b.T, temperature)


def _sorted_sizes(p: torch.Tensor, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's mean assignment and ``prior``, both sorted in decreasing order.

    Cluster indices are arbitrary, so a prior of cluster *sizes* can only be compared with
    the sizes in order: the balance terms below are then zero whenever the clusters have the
    prior's sizes, whichever cluster has which size (sorting is differentiable a.e.).
    """
    mean = p.float().mean(dim=0).sort(descending=True).values
    return mean, prior.to(mean.device, mean.dtype).sort(descending=True).values


def entropy_balance(p: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
    """``log K - H(mean_i p_i)``: zero when the batch's mean assignment is uniform (CC, PICA).

    With a ``prior`` of cluster sizes, ``KL(m || prior)`` between the sorted mean assignment
    ``m`` and the sorted prior instead (``prior=None`` is the uniform prior: the same value).

    Parameters
    ----------
    p : Tensor of shape (N, K)
        Soft assignments (rows sum to one).
    prior : Tensor of shape (K,) or None
        Expected cluster shares (positive, summing to one), in any order.

    Returns
    -------
    Tensor
        Scalar in ``[0, log K]``; ``log K`` when every sample is in the same cluster.

    Examples
    --------
    >>> import torch
    >>> from deepclust.nn.losses import entropy_balance
    >>> round(float(entropy_balance(torch.full((4, 2), 0.5))), 4)
    0.0
    >>> round(float(entropy_balance(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))), 4)  # log 2
    0.6931
    >>> round(float(entropy_balance(torch.tensor([[0.8, 0.2], [0.2, 0.8]]) @ torch.eye(2)[[1, 0]],
    ...                             prior=torch.tensor([0.5, 0.5]))), 4)
    0.0
    >>> round(float(entropy_balance(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]),
    ...                             prior=torch.tensor([1 / 3, 2 / 3]))), 4)  # sizes match, in any order
    0.0
    """
    if prior is not None:
        mean, prior = _sorted_sizes(p, prior)
        return (mean * (torch.log(mean.clamp_min(1e-12)) - torch.log(prior))).sum()
    mean = p.float().mean(dim=0)
    entropy = -(mean * torch.log(mean.clamp_min(1e-12))).sum()
    return math.log(p.shape[1]) - entropy


def squared_balance(p: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
    """Scale-free form of DRC's cluster regulariser: ``K * sum_k (mean_i P_ik)^2 - 1``.

    That is the chi-squared divergence of the mean assignment from the uniform shares; with a
    ``prior`` of cluster sizes it is ``sum_k m_k^2 / prior_k - 1`` between the sorted mean
    assignment ``m`` and the sorted prior (zero when the sizes match, in any order).

    It is ``(K/N) * sum_k (sum_i P_ik)^2 / N - 1`` (DRC's L_CR rescaled), zero at perfectly
    balanced assignments and ``K - 1`` when every sample is in one cluster.

    Parameters
    ----------
    p : Tensor of shape (N, K)
        Soft assignments (rows sum to one).
    prior : Tensor of shape (K,) or None
        Expected cluster shares (positive, summing to one), in any order.

    Returns
    -------
    Tensor
        Scalar in ``[0, K - 1]`` for the uniform prior.

    Examples
    --------
    >>> import torch
    >>> from deepclust.nn.losses import squared_balance
    >>> round(float(squared_balance(torch.eye(3))), 4)  # one sample per cluster
    0.0
    >>> float(squared_balance(torch.tensor([[1.0, 0.0, 0.0]] * 4)))  # all in cluster 0: K - 1
    2.0
    """
    if prior is not None:
        mean, prior = _sorted_sizes(p, prior)
        return (mean**2 / prior).sum() - 1.0
    mean = p.float().mean(dim=0)
    return p.shape[1] * (mean**2).sum() - 1.0
