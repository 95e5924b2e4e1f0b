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
    """
    a = F.normalize(a.float(), dim=1)
    b = F.normalize(b.float(), dim=1)
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def cluster_contrast(p_a: torch.Tensor, p_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """CC's cluster-level contrast: NT-Xent over the 2K columns of two assignment matrices."""
    return nt_xent(p_a.T, p_b.T, temperature)


def entropy_balance(p: torch.Tensor) -> torch.Tensor:
    """``log K - H(mean_i p_i)``: zero when the batch's mean assignment is uniform (CC, PICA)."""
    mean = p.float().mean(dim=0)
    entropy = -(mean * torch.log(mean.clamp_min(1e-12))).sum()
    return math.log(p.shape[1]) - entropy


def squared_balance(p: torch.Tensor) -> torch.Tensor:
    """Scale-free form of DRC's cluster regulariser: ``K * sum_k (mean_i P_ik)^2 - 1``.

    It is ``(K/N) * sum_k (sum_i P_ik)^2 / N - 1`` (DRC's L_CR rescaled), zero at perfectly
    balanced assignments and ``K - 1`` when every sample is in one cluster.
    """
    mean = p.float().mean(dim=0)
    return p.shape[1] * (mean**2).sum() - 1.0
