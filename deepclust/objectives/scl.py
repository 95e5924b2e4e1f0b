"""SCL-style semantic contrastive clustering (Huang & Gong, arXiv 2103.02662) as an objective.

**What is the paper's** (ALGORITHMS.md §4.1, from the abstract only): instance contrast is
class-blind; a semantic, cluster-aware contrast imposes distance-based cluster structure;
instance similarities and cluster predictions are optimised together, and hypotheses about
the unknown classes are reasoned on the fly by their *consensus*.

**What is ours** (ALGORITHMS.md §4.3, every item a design decision): a memory bank of
embeddings and predicted clusters; the consensus rule (kNN agreement of at least ``rho`` plus
agreement with the nearest prototype); prototypes as normalised means of consistent members;
the five loss terms, their temperatures and weights; the warm-up schedule.

Per batch::

    L = L_inst + L_clu + balance_weight * L_bal                      (always)
        + semantic_weight * L_sem + self_label_weight * L_self       (after warm-up, on C_t)

* ``L_inst``: NT-Xent on the instance embeddings of the two views (CC's, tau = 0.5).
* ``L_clu``: CC's cross-view cluster (column) contrast (tau = 1.0).
* ``L_bal``: ``log K - H(mean p)`` for each view, summed (CC's entropy term).
* ``L_sem``: for consistent samples, cross-entropy of ``softmax_k(z . mu_k / tau_s)`` against
  the consensus label (prototype contrast), averaged over both views.
* ``L_self``: for consistent samples, cross-entropy of the cluster head against the
  consensus label, averaged over both views.

The pieces are plain functions (:func:`knn_agreement`, :func:`cluster_prototypes`,
:func:`select_consensus`, :func:`prototype_contrast`, :func:`self_labelling`) so they can be
tested on small hand-computed cases.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..nn.losses import cluster_contrast, entropy_balance, nt_xent
from .base import Objective

_KNN_CHUNK = 1024


# ---------------------------------------------------------------------------- pieces
@torch.no_grad()
def knn_agreement(bank: torch.Tensor, labels: torch.Tensor, n_neighbors: int, chunk_size: int = _KNN_CHUNK):
    """Fraction of each sample's k nearest neighbours (cosine) that share its label.

    The neighbours are searched in ``bank`` itself (the sample is excluded), ``chunk_size``
    rows at a time, so memory is ``O(chunk_size * n)``, never ``n * n``.

    Parameters
    ----------
    bank : Tensor of shape (n, D)
        Embeddings (normalised here).
    labels : Tensor of shape (n,)
        Hard labels.
    n_neighbors : int
        k; clipped to ``n - 1``.
    chunk_size : int
        Query rows per block.

    Returns
    -------
    agreement : Tensor of shape (n,)
        In [0, 1].
    neighbors : Tensor of shape (n, k)
        Indices of the neighbours, nearest first.

    Examples
    --------
    Two groups of directions; sample 2 points like group 0 but is labelled 1:

    >>> import torch
    >>> from deepclust.objectives.scl import knn_agreement
    >>> bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0], [0.1, 0.9], [0.2, 0.8]])
    >>> labels = torch.tensor([0, 0, 1, 1, 1, 1])
    >>> agreement, neighbors = knn_agreement(bank, labels, n_neighbors=2)
    >>> agreement
    tensor([0.5000, 0.5000, 0.0000, 1.0000, 1.0000, 1.0000])
    >>> neighbors[0]
    tensor([1, 2])
    """
    n = bank.shape[0]
    k = max(1, min(int(n_neighbors), n - 1))
    z = F.normalize(bank.float(), dim=1)
    agreement = torch.empty(n, dtype=torch.float32, device=bank.device)
    neighbors = torch.empty((n, k), dtype=torch.long, device=bank.device)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        sim = z[start:stop] @ z.T
        rows = torch.arange(stop - start, device=bank.device)
        sim[rows, rows + start] = float("-inf")  # a sample is not its own neighbour
        idx = sim.topk(k, dim=1).indices
        neighbors[start:stop] = idx
        agreement[start:stop] = (labels[idx] == labels[start:stop, None]).float().mean(dim=1)
    return agreement, neighbors


@torch.no_grad()
def cluster_prototypes(bank: torch.Tensor, labels: torch.Tensor, members: torch.Tensor, n_clusters: int):
    """L2-normalised mean embedding of each cluster's ``members``.

    A cluster without any member falls back to the mean over *all* samples with that label;
    a label that no sample has gives an invalid (zero) prototype.

    Parameters
    ----------
    bank : Tensor of shape (n, D)
    labels : Tensor of shape (n,)
    members : Tensor of shape (n,), bool
        Samples allowed to define the prototypes (e.g. the consistent set).
    n_clusters : int

    Returns
    -------
    prototypes : Tensor of shape (n_clusters, D)
        Unit rows (zero rows where invalid).
    valid : Tensor of shape (n_clusters,), bool

    Examples
    --------
    >>> import torch
    >>> from deepclust.objectives.scl import cluster_prototypes
    >>> bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    >>> labels = torch.tensor([0, 1, 1])
    >>> prototypes, valid = cluster_prototypes(bank, labels, torch.ones(3, dtype=torch.bool), n_clusters=3)
    >>> prototypes
    tensor([[1., 0.],
            [0., 1.],
            [0., 0.]])
    >>> valid
    tensor([ True,  True, False])
    """
    z = F.normalize(bank.float(), dim=1)
    one_hot = F.one_hot(labels, n_clusters).float()  # (n, K)
    member_sums = (one_hot * members[:, None].float()).T @ z
    member_counts = (one_hot * members[:, None].float()).sum(dim=0)
    all_sums = one_hot.T @ z
    all_counts = one_hot.sum(dim=0)
    use_members = member_counts > 0
    sums = torch.where(use_members[:, None], member_sums, all_sums)
    valid = use_members | (all_counts > 0)
    prototypes = F.normalize(sums, dim=1) * valid[:, None]
    return prototypes, valid


@torch.no_grad()
def nearest_prototype(bank: torch.Tensor, prototypes: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Index of the most cosine-similar valid prototype of each row of ``bank``.

    Examples
    --------
    >>> import torch
    >>> from deepclust.objectives.scl import nearest_prototype
    >>> prototypes = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    >>> bank = torch.tensor([[0.9, 0.1], [0.6, 0.8]])
    >>> nearest_prototype(bank, prototypes, torch.tensor([True, True, True]))
    tensor([0, 2])
    >>> nearest_prototype(bank, prototypes, torch.tensor([True, True, False]))
    tensor([0, 1])
    """
    sim = F.normalize(bank.float(), dim=1) @ prototypes.T
    return sim.masked_fill(~valid[None, :], float("-inf")).argmax(dim=1)


@torch.no_grad()
def select_consensus(
    bank: torch.Tensor,
    labels: torch.Tensor,
    n_clusters: int,
    n_neighbors: int,
    rho: float,
    chunk_size: int = _KNN_CHUNK,
):
    """The clustering-consistency condition (our reading of SCL's "consensus").

    1. *Feature-similarity evidence*: at least a fraction ``rho`` of the sample's
       ``n_neighbors`` nearest bank neighbours carry its predicted label.
    2. Prototypes of the samples passing 1 (:func:`cluster_prototypes`, with its fallback).
    3. *Distance-based evidence*: the sample's nearest prototype is that of its label.

    The consistent set ``C`` is 1 and 3; the returned prototypes are recomputed from ``C``
    (same fallback), so they are the normalised means of the consistent members.

    Returns
    -------
    consistent : Tensor of shape (n,), bool
    prototypes : Tensor of shape (n_clusters, D)
    valid : Tensor of shape (n_clusters,), bool
    agreement : Tensor of shape (n,)
        The kNN agreement fraction of each sample.

    Examples
    --------
    Sample 2 sits among group 0 but is labelled 1: it is left out of the consistent set.

    >>> import torch
    >>> from deepclust.objectives.scl import select_consensus
    >>> bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0], [0.1, 0.9], [0.2, 0.8]])
    >>> labels = torch.tensor([0, 0, 1, 1, 1, 1])
    >>> consistent, prototypes, valid, agreement = select_consensus(bank, labels, 2, n_neighbors=2, rho=0.5)
    >>> consistent
    tensor([ True,  True, False,  True,  True,  True])
    >>> prototypes.shape, valid
    (torch.Size([2, 2]), tensor([True, True]))
    """
    agreement, _ = knn_agreement(bank, labels, n_neighbors, chunk_size)
    neighbourhood = agreement >= rho - 1e-6
    prototypes, valid = cluster_prototypes(bank, labels, neighbourhood, n_clusters)
    consistent = neighbourhood & (nearest_prototype(bank, prototypes, valid) == labels)
    prototypes, valid = cluster_prototypes(bank, labels, consistent, n_clusters)
    return consistent, prototypes, valid, agreement


def prototype_contrast(
    z: torch.Tensor, prototypes: torch.Tensor, labels: torch.Tensor, temperature: float, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Semantic contrast ``mean_i -log softmax_k(z_i . mu_k / tau)[labels_i]``.

    Invalid prototypes are left out of the softmax. Zero (with a gradient path) for an
    empty batch.

    Examples
    --------
    Embeddings next to the prototype of their label give a small loss:

    >>> import torch
    >>> from deepclust.objectives.scl import prototype_contrast
    >>> prototypes = torch.eye(2)
    >>> z = torch.tensor([[1.0, 0.1], [0.1, 1.0]])
    >>> right = prototype_contrast(z, prototypes, torch.tensor([0, 1]), temperature=0.1)
    >>> wrong = prototype_contrast(z, prototypes, torch.tensor([1, 0]), temperature=0.1)
    >>> bool(right < 0.01 < 8 < wrong)
    True
    >>> float(prototype_contrast(z[:0], prototypes, torch.tensor([], dtype=torch.long), 0.1))
    0.0
    """
    if z.shape[0] == 0:
        return z.sum() * 0.0
    logits = F.normalize(z.float(), dim=1) @ prototypes.float().T / temperature
    if valid is not None:
        logits = logits.masked_fill(~valid[None, :], float("-inf"))
    return F.cross_entropy(logits, labels)


def self_labelling(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the cluster head against pseudo-labels; zero for an empty batch.

    Examples
    --------
    >>> import torch
    >>> from deepclust.objectives.scl import self_labelling
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    >>> round(float(self_labelling(logits, torch.tensor([0, 1]))), 4)  # log(1 + exp(-2))
    0.1269
    >>> float(self_labelling(logits[:0], torch.tensor([], dtype=torch.long)))
    0.0
    """
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), labels)


# ---------------------------------------------------------------------------- objective
class SCLObjective(Objective):
    """Semantic contrastive clustering with a memory bank and consensus pseudo-labels.

    See the module docstring for the loss, and :class:`deepclust.SCLClustering` for the
    parameters.

    Examples
    --------
    Two epochs on random outputs: the semantic terms start after the one-epoch warm-up,
    once the memory bank holds every sample.

    >>> import torch
    >>> import torch.nn.functional as F
    >>> from deepclust.nn.model import ModelOutput
    >>> from deepclust.objectives.scl import SCLObjective
    >>> objective = SCLObjective(n_neighbors=2, warmup_epochs=1)
    >>> objective.setup(n_samples=8, n_clusters=2, device=torch.device("cpu"), max_epochs=2)
    >>> g = torch.Generator().manual_seed(0)
    >>> def view():
    ...     embedding = F.normalize(torch.randn(8, objective.projection_dim, generator=g), dim=1)
    ...     return ModelOutput(torch.zeros(8, 4), embedding, torch.randn(8, 2, generator=g))
    >>> for epoch in range(2):
    ...     objective.on_epoch_begin(epoch)
    ...     terms = objective(view(), view(), torch.arange(8), epoch)
    ...     print(epoch, objective.on_epoch_end(epoch)["semantic_active"])
    0 False
    1 True
    >>> sorted(terms)
    ['balance', 'cluster', 'instance', 'loss', 'self_label', 'semantic']
    >>> objective.warmup_length(100), SCLObjective().warmup_length(100)  # 20% by default
    (1, 20)
    """

    projection_dim = 128
    cluster_head_hidden = 512
    # head_refit="auto" on images: as DRC's (see DRCObjective). SCL's head agreed with k-means
    # on its representation at ARI 0.97-1.0 on digits and COIL-20 (session 24), but not with
    # the partition of COIL-20's separated neighbour graph (ARI 0.74-0.81; heads 0.750-0.821
    # -> 0.866-0.908, seeds 0-2, session 25): refitted there, kept on digits.
    image_head_refit = "graph_if_disagree"

    def __init__(
        self,
        n_neighbors: int = 10,
        rho: float = 0.5,
        warmup_epochs: int | None = None,
        warmup_fraction: float = 0.2,
        temperature: float = 0.5,
        cluster_temperature: float = 1.0,
        semantic_temperature: float = 0.1,
        balance_weight: float = 1.0,
        semantic_weight: float = 1.0,
        self_label_weight: float = 1.0,
        bank_momentum: float = 0.5,
        chunk_size: int = _KNN_CHUNK,
    ):
        self.n_neighbors = n_neighbors
        self.rho = rho
        self.warmup_epochs = warmup_epochs
        self.warmup_fraction = warmup_fraction
        self.temperature = temperature
        self.cluster_temperature = cluster_temperature
        self.semantic_temperature = semantic_temperature
        self.balance_weight = balance_weight
        self.semantic_weight = semantic_weight
        self.self_label_weight = self_label_weight
        self.bank_momentum = bank_momentum
        self.chunk_size = chunk_size

    # -------------------------------------------------------------- lifecycle
    def warmup_length(self, max_epochs: int) -> int:
        """Warm-up epochs: ``warmup_epochs`` if set, else ``ceil(warmup_fraction * max_epochs)``.

        At least one epoch, so that the bank holds every sample before it is used.
        """
        if self.warmup_epochs is not None:
            return max(1, int(self.warmup_epochs))
        return max(1, math.ceil(self.warmup_fraction * max_epochs))

    def setup(self, n_samples, n_clusters, device, max_epochs):
        super().setup(n_samples, n_clusters, device, max_epochs)
        self.warmup = self.warmup_length(max_epochs)
        self.bank = torch.zeros((n_samples, self.projection_dim), dtype=torch.float32, device=device)
        self.bank_labels = torch.zeros(n_samples, dtype=torch.long, device=device)
        self.seen = torch.zeros(n_samples, dtype=torch.bool, device=device)
        self.consistent = torch.zeros(n_samples, dtype=torch.bool, device=device)
        self.consensus_labels = torch.zeros(n_samples, dtype=torch.long, device=device)
        self.prototypes = None
        self.valid = None
        self.previous_prototypes = None
        self.active = False
        self.agreement_mean = 0.0

    def milestones(self):
        return {
            self.warmup: f"SCL warm-up over after {self.warmup} epochs: the semantic terms start "
            "(the loss jumps here)"
        }

    _STATE = ("bank", "bank_labels", "seen", "consistent", "consensus_labels", "prototypes", "valid", "previous_prototypes", "active", "agreement_mean")

    def state_dict(self):
        return {name: getattr(self, name) for name in self._STATE}

    def load_state_dict(self, state):
        for name in self._STATE:
            value = state[name]
            setattr(self, name, value.to(self.device) if isinstance(value, torch.Tensor) else value)

    def teardown(self):
        for name in ("bank", "bank_labels", "seen", "consistent", "consensus_labels", "prototypes", "valid", "previous_prototypes"):
            if hasattr(self, name):
                setattr(self, name, None)

    def on_epoch_begin(self, epoch):
        # Semantic terms need a full bank (every sample seen in this fit) and the warm-up
        # to be over; until then (and whenever C_t is empty) only the warm-up terms train.
        self.active = epoch >= self.warmup and bool(self.seen.all())
        self.consistent.zero_()
        if not self.active:
            return
        self.previous_prototypes = self.prototypes
        consistent, prototypes, valid, agreement = select_consensus(
            self.bank, self.bank_labels, self.n_clusters, self.n_neighbors, self.rho, self.chunk_size
        )
        if self.distributed is not None:
            # The bank is identical on every rank (updated from the gathered batches), so
            # this is a no-op on the CPU; on GPUs it guards against kernels that are not
            # bitwise reproducible (kNN ties): every rank uses rank 0's consensus.
            self.distributed.broadcast_(consistent, prototypes, valid, agreement)
        self.consistent = consistent
        self.consensus_labels = self.bank_labels.clone()
        self.prototypes, self.valid = prototypes, valid
        self.agreement_mean = float(agreement.mean())

    # -------------------------------------------------------------- loss
    def __call__(self, out_a, out_b, index, epoch):
        z_a, z_b = out_a.embedding, out_b.embedding
        p_a, p_b = out_a.logits.softmax(dim=1), out_b.logits.softmax(dim=1)
        instance = nt_xent(z_a, z_b, self.temperature)
        cluster = cluster_contrast(p_a, p_b, self.cluster_temperature)
        balance = self.balance_weight * (entropy_balance(p_a, self.cluster_prior) + entropy_balance(p_b, self.cluster_prior))
        loss = instance + cluster + balance

        semantic = self_label = out_a.logits.new_zeros(())
        if self.active:
            mask = self.consistent[index]
            labels = self.consensus_labels[index][mask]
            semantic = 0.5 * (
                prototype_contrast(z_a[mask], self.prototypes, labels, self.semantic_temperature, self.valid)
                + prototype_contrast(z_b[mask], self.prototypes, labels, self.semantic_temperature, self.valid)
            )
            self_label = 0.5 * (self_labelling(out_a.logits[mask], labels) + self_labelling(out_b.logits[mask], labels))
            semantic = self.semantic_weight * semantic
            self_label = self.self_label_weight * self_label
            loss = loss + semantic + self_label

        self._update_bank(z_a, z_b, p_a, p_b, index)
        return {
            "loss": loss,
            "instance": instance,
            "cluster": cluster,
            "balance": balance,
            "semantic": semantic,
            "self_label": self_label,
        }

    @torch.no_grad()
    def _update_bank(self, z_a, z_b, p_a, p_b, index):
        z = F.normalize(z_a.detach().float() + z_b.detach().float(), dim=1)
        p = p_a.detach().float() + p_b.detach().float()
        # A row with a non-finite embedding or prediction (a step the trainer will skip) must
        # not enter the bank: the moving average would keep it NaN for the rest of the fit.
        # Masked with torch.where rather than tested on the host: no CUDA synchronisation.
        finite = torch.isfinite(z).all(dim=1) & torch.isfinite(p).all(dim=1)
        m = self.bank_momentum
        seen = self.seen[index]
        old = self.bank[index]
        updated = torch.where(seen[:, None], F.normalize(m * old + (1.0 - m) * z, dim=1), z)
        self.bank[index] = torch.where(finite[:, None], updated, old)
        self.bank_labels[index] = torch.where(finite, p.argmax(dim=1), self.bank_labels[index])
        self.seen[index] = seen | finite

    # -------------------------------------------------------------- diagnostics
    def on_epoch_end(self, epoch):
        sizes = torch.bincount(self.bank_labels[self.seen], minlength=self.n_clusters)
        shift = 0.0
        if self.active and self.previous_prototypes is not None:
            both = self.valid & (self.previous_prototypes.norm(dim=1) > 0)
            if bool(both.any()):
                cos = (self.prototypes[both] * self.previous_prototypes[both]).sum(dim=1)
                shift = float((1.0 - cos).mean())
        return {
            "semantic_active": bool(self.active),
            "consensus_fraction": float(self.consistent.float().mean()) if self.active else 0.0,
            "knn_agreement": self.agreement_mean if self.active else 0.0,
            "prototype_shift": shift,
            "cluster_sizes": [int(s) for s in sizes.tolist()],
        }
