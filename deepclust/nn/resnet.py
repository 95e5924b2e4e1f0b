"""ResNet-18/34 backbones from torchvision, with a CIFAR stem for small images."""

from __future__ import annotations

import importlib
import sys
import types

import torch
from torch import nn

#: Images up to this side get the CIFAR stem (3x3 conv, stride 1, no max-pool).
CIFAR_STEM_MAX_SIZE = 64


def import_torchvision():
    """Import torchvision, also where its compiled extension cannot load.

    PyPI's torchvision wheel is a CUDA build; next to a CPU-only torch its ``_C`` extension
    fails to load and ``import torchvision`` raises while registering fake kernels for the
    detection ops (``torchvision::nms``). Models and transforms are pure Python and work
    without it, so on that error the registration module is replaced by an empty one and
    the import retried.

    Returns
    -------
    torchvision : module

    Examples
    --------
    >>> from deepclust.nn.resnet import import_torchvision
    >>> tv = import_torchvision()
    >>> callable(tv.models.resnet18)
    True
    """
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    for name in ("torchvision._meta_registrations",):
        sys.modules[name] = types.ModuleType(name)
    return importlib.import_module("torchvision")


class ResNetBackbone(nn.Module):
    """torchvision's ResNet without its classifier: ``(B, C, H, W) -> (B, 512)``.

    Parameters
    ----------
    depth : {18, 34}
    in_channels : int, default=3
        Input channels (the first convolution is rebuilt for other than 3).
    cifar_stem : bool, default=True
        3x3 stride-1 first convolution and no max-pool (for images of at most 64 px), as
        in the CIFAR variants used by PICA, GCC and SCAN; False keeps the ImageNet stem
        (7x7 stride-2 convolution and max-pool).

    Examples
    --------
    >>> import torch
    >>> from deepclust.nn.resnet import ResNetBackbone
    >>> net = ResNetBackbone(18, in_channels=1).eval()
    >>> net(torch.zeros(2, 1, 16, 16)).shape
    torch.Size([2, 512])
    >>> net.out_features, net.cifar_stem
    (512, True)
    """

    def __init__(self, depth: int = 18, in_channels: int = 3, cifar_stem: bool = True):
        super().__init__()
        models = import_torchvision().models
        builders = {18: models.resnet18, 34: models.resnet34}
        if depth not in builders:
            raise ValueError(f"depth must be 18 or 34; got {depth}.")
        net = builders[depth](weights=None)
        if cifar_stem:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.out_features = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net
        self.depth = depth
        self.cifar_stem = cifar_stem

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def resnet(depth: int, sample_shape: tuple[int, ...]) -> ResNetBackbone:
    """A ResNet for images of ``sample_shape = (C, H, W)``: CIFAR stem up to 64 px.

    Parameters
    ----------
    depth : {18, 34}
    sample_shape : tuple of int
        ``(C, H, W)`` of one image.

    Returns
    -------
    backbone : ResNetBackbone

    Examples
    --------
    >>> from deepclust.nn.resnet import resnet
    >>> resnet(18, (3, 32, 32)).cifar_stem
    True
    >>> resnet(18, (3, 96, 96)).cifar_stem
    False
    """
    channels, height, width = sample_shape
    return ResNetBackbone(depth, channels, cifar_stem=min(height, width) <= CIFAR_STEM_MAX_SIZE)
