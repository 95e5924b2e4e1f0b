"""Feature extractors: an MLP for tabular data and a small CNN for images.

Every backbone maps a batch to ``(batch, out_features)`` and exposes ``out_features``.
"""

from __future__ import annotations

import torch
from torch import nn


class MLPBackbone(nn.Module):
    """Fully connected feature extractor for tabular data.

    Parameters
    ----------
    in_features : int
        Number of input features.
    hidden : tuple of int, default=(512, 512)
        Widths of the hidden layers (Linear -> BatchNorm -> ReLU each).
    out_features : int, default=256
        Width of the representation.

    Examples
    --------
    >>> import torch
    >>> from deepclust.nn.backbones import MLPBackbone
    >>> net = MLPBackbone(in_features=10, hidden=(64,), out_features=32)
    >>> net(torch.randn(4, 10)).shape
    torch.Size([4, 32])

    A configured, untrained instance can be passed as an estimator's ``backbone`` (it is
    copied, never trained in place):

    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering
    >>> X, _ = make_blobs(n_samples=40, centers=2, n_features=10, random_state=0)
    >>> backbone = MLPBackbone(in_features=10, hidden=(64,), out_features=32)
    >>> model = DRCClustering(n_clusters=2, backbone=backbone, max_epochs=2, batch_size=20, device="cpu").fit(X)
    >>> model.transform(X).shape
    (40, 32)
    """

    def __init__(self, in_features: int, hidden: tuple[int, ...] = (512, 512), out_features: int = 256):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True)]
            width = h
        layers += [nn.Linear(width, out_features), nn.BatchNorm1d(out_features), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)
        self.out_features = out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """A compact VGG-style CNN for small images (digits, MNIST, USPS, CIFAR-sized).

    Three stages of two 3x3 convolutions (32, 64, 128 channels); the first two stages end in
    a 2x2 max-pool while the image is still at least 8 pixels wide, so that 8x8 inputs keep
    spatial detail. Global average pooling and a linear layer give the representation.

    Parameters
    ----------
    in_channels : int
        Number of image channels.
    image_size : int
        The smaller side of the input images.
    out_features : int, default=256
        Width of the representation.
    widths : tuple of int, default=(32, 64, 128)
        Channels per stage.

    Examples
    --------
    >>> import torch
    >>> from deepclust.nn.backbones import SmallCNN
    >>> net = SmallCNN(in_channels=1, image_size=8, out_features=64, widths=(8, 16, 32))
    >>> net(torch.randn(2, 1, 8, 8)).shape
    torch.Size([2, 64])
    >>> net.out_features
    64
    """

    def __init__(self, in_channels: int, image_size: int, out_features: int = 256, widths=(32, 64, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        size = image_size
        c_in = in_channels
        for i, width in enumerate(widths):
            layers += _conv_block(c_in, width) + _conv_block(width, width)
            c_in = width
            if i < len(widths) - 1 and size >= 8:
                layers.append(nn.MaxPool2d(2))
                size //= 2
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(c_in, out_features), nn.BatchNorm1d(out_features), nn.ReLU(inplace=True))
        self.out_features = out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


@torch.no_grad()
def infer_out_features(backbone: nn.Module, sample_shape: tuple[int, ...]) -> int:
    """Width of a user backbone's output, found by one forward pass on two zero samples.

    An integer ``out_features`` attribute, where the module has one, must agree with it.

    Parameters
    ----------
    backbone : torch.nn.Module
        Maps ``(batch, *sample_shape)`` to ``(batch, ...)``.
    sample_shape : tuple of int
        Shape of one sample, ``(n_features,)`` or ``(C, H, W)``.

    Returns
    -------
    n_features : int
        Number of output values per sample.

    Raises
    ------
    ValueError
        The forward pass fails, does not return a ``(batch, ...)`` tensor, or returns another
        width than the module's ``out_features`` attribute.

    Examples
    --------
    >>> from torch import nn
    >>> from deepclust.nn.backbones import MLPBackbone, infer_out_features
    >>> conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten())
    >>> infer_out_features(conv, (1, 8, 8))  # 4 channels of 6x6
    144
    >>> infer_out_features(MLPBackbone(5, out_features=32), (5,))
    32
    """
    # Always probed, even when the module declares out_features: a declared width says
    # nothing about the input it expects (nn.Linear(4, 3) on 5 features).
    declared = getattr(backbone, "out_features", None)
    was_training = backbone.training
    backbone.eval()
    try:
        device = next((p.device for p in backbone.parameters()), torch.device("cpu"))
        out = backbone(torch.zeros(2, *sample_shape, device=device))
    except Exception as exc:  # noqa: BLE001 - re-raised with context for the user
        raise ValueError(
            f"The 'backbone' module failed on a batch of shape (2, {', '.join(map(str, sample_shape))}): {exc}"
        ) from exc
    finally:
        backbone.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim < 2 or out.shape[0] != 2:
        raise ValueError("The 'backbone' module must return a tensor of shape (batch, n_features).")
    n_features = int(out[0].numel())
    if isinstance(declared, int) and not isinstance(declared, bool) and declared != n_features:
        raise ValueError(
            f"The 'backbone' module declares out_features={declared} but returns {n_features} values per sample."
        )
    return n_features


#: Names accepted by the estimators' ``backbone`` parameter.
BACKBONES = ("auto", "mlp", "cnn", "resnet18", "resnet34")

#: RGB images at least this wide get a ResNet-18 from ``backbone="auto"``; smaller ones the CNN.
AUTO_RESNET_MIN_SIZE = 16


def resolve_backbone_name(spec: str, sample_shape: tuple[int, ...]) -> str:
    """The concrete backbone ``"auto"`` stands for.

    Tabular data: "mlp". Colour images (3 channels) of at least ``AUTO_RESNET_MIN_SIZE``
    pixels a side: "resnet18" (CIFAR stem up to 64 px, ImageNet stem above). Grey or tiny
    images (digits, MNIST, USPS): "cnn".

    Parameters
    ----------
    spec : str
        A name of :data:`BACKBONES`; names other than "auto" are returned unchanged.
    sample_shape : tuple of int
        Shape of one sample, ``(n_features,)`` or ``(C, H, W)``.

    Returns
    -------
    name : str

    Examples
    --------
    >>> from deepclust.nn.backbones import resolve_backbone_name
    >>> resolve_backbone_name("auto", (64,))
    'mlp'
    >>> resolve_backbone_name("auto", (1, 28, 28))
    'cnn'
    >>> resolve_backbone_name("auto", (3, 32, 32))
    'resnet18'
    >>> resolve_backbone_name("cnn", (3, 32, 32))
    'cnn'
    """
    if spec != "auto":
        return spec
    if len(sample_shape) != 3:
        return "mlp"
    channels, height, width = sample_shape
    return "resnet18" if channels == 3 and min(height, width) >= AUTO_RESNET_MIN_SIZE else "cnn"


def build_backbone(spec, sample_shape: tuple[int, ...]) -> nn.Module:
    """Instantiate the backbone named by ``spec`` for ``sample_shape``.

    ``spec`` is one of :data:`BACKBONES`; see :func:`resolve_backbone_name` for "auto".
    "resnet18"/"resnet34" are torchvision's ResNets without the classifier (512-d output)
    with a CIFAR stem (3x3 conv, no max-pool) for images of at most 64 px.

    Parameters
    ----------
    spec : str
        A name of :data:`BACKBONES`.
    sample_shape : tuple of int
        Shape of one sample, ``(n_features,)`` or ``(C, H, W)``.

    Returns
    -------
    backbone : torch.nn.Module
        A new, untrained module with an ``out_features`` attribute.

    Raises
    ------
    ValueError
        An unknown name, or an image backbone for tabular data.

    Examples
    --------
    >>> from deepclust.nn.backbones import build_backbone
    >>> net = build_backbone("auto", (1, 8, 8))
    >>> type(net).__name__, net.out_features
    ('SmallCNN', 256)
    >>> type(build_backbone("mlp", (20,))).__name__
    'MLPBackbone'
    >>> build_backbone("cnn", (20,))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: backbone='cnn' needs image input; X is tabular. ...
    """
    is_image = len(sample_shape) == 3
    spec = resolve_backbone_name(spec, sample_shape)
    if spec == "mlp":
        return MLPBackbone(int(torch.Size(sample_shape).numel()))
    if spec in ("cnn", "resnet18", "resnet34"):
        if not is_image:
            raise ValueError(
                f"backbone={spec!r} needs image input; X is tabular. Pass images, image_shape=(C, H, W) "
                "for flat image rows, or use backbone='mlp'."
            )
        if spec == "cnn":
            return SmallCNN(sample_shape[0], min(sample_shape[1:]))
        from .resnet import resnet

        return resnet(int(spec[len("resnet"):]), tuple(sample_shape))
    raise ValueError(f"Unknown backbone {spec!r}.")
