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
    """

    features: torch.Tensor
    embedding: torch.Tensor | None
    logits: torch.Tensor

    def split(self, sizes: tuple[int, int]) -> tuple["ModelOutput", "ModelOutput"]:
        """Split a forward pass over concatenated views back into the views."""
        parts = [t.split(list(sizes)) if t is not None else (None, None) for t in (self.features, self.embedding, self.logits)]
        return ModelOutput(parts[0][0], parts[1][0], parts[2][0]), ModelOutput(parts[0][1], parts[1][1], parts[2][1])


class Standardize(nn.Module):
    """Subtract a mean and divide by a standard deviation per feature or per channel."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, image: bool):
        super().__init__()
        shape = (1, -1, 1, 1) if image else (1, -1)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(shape))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def mlp_head(in_features: int, out_features: int, hidden: int | None) -> nn.Module:
    """``Linear`` when ``hidden`` is None, else ``Linear -> ReLU -> Linear`` (CC's heads)."""
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
