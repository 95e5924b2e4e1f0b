"""The network shared by all estimators: input standardisation, backbone and heads."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ModelOutput:
    """What one forward pass gives the objectives.

    Attributes
    ----------
    features : Tensor of shape (batch, feature_dim)
        Backbone representation (what ``transform`` returns).
    embedding : Tensor of shape (batch, projection_dim) or None
        L2-normalised instance embedding, when the model has an instance head.
    logits : Tensor of shape (batch, n_clusters)
        Cluster-head logits, in float32 even under autocast.

    Examples
    --------
    A forward pass over two concatenated views, split back into the views:

    >>> import torch
    >>> from deepclust.nn.model import ModelOutput
    >>> out = ModelOutput(features=torch.zeros(6, 8), embedding=None, logits=torch.zeros(6, 3))
    >>> view_a, view_b = out.split((3, 3))
    >>> view_a.logits.shape, view_b.features.shape, view_b.embedding
    (torch.Size([3, 3]), torch.Size([3, 8]), None)
    """

    features: torch.Tensor
    embedding: torch.Tensor | None
    logits: torch.Tensor

    def split(self, sizes: tuple[int, int]) -> tuple["ModelOutput", "ModelOutput"]:
        """Split a forward pass over concatenated views back into the views."""
        parts = [t.split(list(sizes)) if t is not None else (None, None) for t in (self.features, self.embedding, self.logits)]
        return ModelOutput(parts[0][0], parts[1][0], parts[2][0]), ModelOutput(parts[0][1], parts[1][1], parts[2][1])


class Standardize(nn.Module):
    """Subtract a mean and divide by a standard deviation per feature or per channel.

    The statistics are buffers: they move with the module and are saved with it.

    Parameters
    ----------
    mean, std : array-like of shape (n_features,) or (n_channels,)
        Per-feature (tabular) or per-channel (images) statistics.
    image : bool
        Whether inputs are ``(B, C, H, W)`` images (statistics per channel) or
        ``(B, n_features)`` rows.

    Examples
    --------
    >>> import torch
    >>> from deepclust.nn.model import Standardize
    >>> standardize = Standardize(mean=[1.0, 2.0], std=[2.0, 4.0], image=False)
    >>> standardize(torch.tensor([[3.0, 6.0]]))
    tensor([[1., 1.]])
    >>> Standardize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25], image=True).mean.shape
    torch.Size([1, 3, 1, 1])
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, image: bool):
        super().__init__()
        shape = (1, -1, 1, 1) if image else (1, -1)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(shape))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def mlp_head(in_features: int, out_features: int, hidden: int | None) -> nn.Module:
    """``Linear`` when ``hidden`` is None, else ``Linear -> ReLU -> Linear`` (CC's heads).

    Examples
    --------
    >>> from deepclust.nn.model import mlp_head
    >>> mlp_head(8, 3, None)
    Linear(in_features=8, out_features=3, bias=True)
    >>> [type(layer).__name__ for layer in mlp_head(8, 3, hidden=16)]
    ['Linear', 'ReLU', 'Linear']
    """
    if hidden is None:
        return nn.Linear(in_features, out_features)
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_features))


class ClusterNet(nn.Module):
    """Backbone with an optional instance head and a K-way cluster head (CC's layout).

    Parameters
    ----------
    backbone : nn.Module
        Maps a standardised batch to ``(batch, feature_dim)``.
    feature_dim : int
        Width of the backbone output.
    n_clusters : int
        Number of clusters K.
    standardize : Standardize
        Input standardisation (statistics of the training data).
    projection_dim : int or None
        Width of the L2-normalised instance embedding; None for no instance head (DRC).
    cluster_head_hidden : int or None
        Hidden width of the cluster head; None for a single linear layer (DRC's "one
        fully-connected layer" to the assignment features).

    Examples
    --------
    >>> import torch
    >>> from deepclust.nn.backbones import MLPBackbone
    >>> from deepclust.nn.model import ClusterNet, Standardize
    >>> net = ClusterNet(
    ...     MLPBackbone(4, hidden=(16,), out_features=8),
    ...     feature_dim=8,
    ...     n_clusters=3,
    ...     standardize=Standardize(torch.zeros(4), torch.ones(4), image=False),
    ...     projection_dim=5,
    ... ).eval()
    >>> out = net(torch.randn(6, 4))
    >>> out.features.shape, out.embedding.shape, out.logits.shape
    (torch.Size([6, 8]), torch.Size([6, 5]), torch.Size([6, 3]))
    >>> torch.allclose(out.embedding.norm(dim=1), torch.ones(6))
    True

    The estimators' fitted network is a ``ClusterNet`` (``module_``).
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        n_clusters: int,
        standardize: Standardize,
        projection_dim: int | None = 128,
        cluster_head_hidden: int | None = None,
    ):
        super().__init__()
        self.standardize = standardize
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.n_clusters = n_clusters
        self.instance_head = (
            mlp_head(feature_dim, projection_dim, feature_dim) if projection_dim is not None else None
        )
        self.cluster_head = mlp_head(feature_dim, n_clusters, cluster_head_hidden)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.standardize(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        h = self.forward_features(x)
        z = None
        if self.instance_head is not None:
            z = F.normalize(self.instance_head(h).float(), dim=1)
        # Softmax/entropy terms are precision sensitive: the cluster head runs in float32
        # even under autocast.
        with torch.autocast(device_type=h.device.type, enabled=False):
            logits = self.cluster_head(h.float())
        return ModelOutput(h, z, logits)
