"""ResNet backbones and the choice made by backbone="auto"."""

import numpy as np
import pytest
import torch

from deepclust import DRCClustering
from deepclust.nn.backbones import SmallCNN, build_backbone, resolve_backbone_name
from deepclust.nn.resnet import ResNetBackbone


@pytest.mark.parametrize(
    "shape, expected",
    [((5,), "mlp"), ((1, 28, 28), "cnn"), ((1, 8, 8), "cnn"), ((3, 8, 8), "cnn"), ((3, 32, 32), "resnet18"),
     ((3, 96, 96), "resnet18")],
)
def test_auto_backbone_choice(shape, expected):
    assert resolve_backbone_name("auto", shape) == expected


@pytest.mark.parametrize("depth", [18, 34])
def test_resnet_stems(depth):
    small = build_backbone(f"resnet{depth}", (3, 32, 32))
    assert isinstance(small, ResNetBackbone) and small.cifar_stem
    assert small.net.conv1.kernel_size == (3, 3) and small.net.conv1.stride == (1, 1)
    assert isinstance(small.net.maxpool, torch.nn.Identity)
    big = build_backbone(f"resnet{depth}", (3, 96, 96))
    assert not big.cifar_stem and big.net.conv1.kernel_size == (7, 7)
    n_blocks = sum(len(getattr(small.net, f"layer{i}")) for i in range(1, 5))
    assert n_blocks == (8 if depth == 18 else 16)


def test_resnet_forward_shapes_and_grey_input():
    m = build_backbone("resnet18", (1, 20, 20)).eval()
    with torch.no_grad():
        assert m(torch.rand(2, 1, 20, 20)).shape == (2, 512)
    assert m.out_features == 512
    with torch.no_grad():
        assert build_backbone("resnet18", (3, 72, 72)).eval()(torch.rand(2, 3, 72, 72)).shape == (2, 512)


def test_resnet_needs_images():
    with pytest.raises(ValueError, match="image"):
        build_backbone("resnet18", (10,))


def test_cnn_still_default_for_grey():
    assert isinstance(build_backbone("auto", (1, 8, 8)), SmallCNN)


def test_image_module_is_channels_last_on_cpu():
    X = np.random.default_rng(0).integers(0, 256, size=(20, 8, 8), dtype=np.uint8)
    est = DRCClustering(n_clusters=2, max_epochs=1, batch_size=10, device="cpu", random_state=0).fit(X)
    conv = next(m for m in est.module_.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    # predict (contiguous input batches into channels_last weights) reproduces the fitted labels.
    np.testing.assert_array_equal(est.predict(X), est.labels_)


def test_estimator_end_to_end_on_small_rgb_uint8():
    X = np.random.default_rng(0).integers(0, 256, size=(24, 32, 32, 3), dtype=np.uint8)
    est = DRCClustering(n_clusters=3, max_epochs=1, batch_size=12, device="cpu", random_state=0).fit(X)
    assert isinstance(est.module_.backbone, ResNetBackbone)
    assert est.labels_.shape == (24,)
    assert est.transform(X[:5]).shape == (5, 512)


@pytest.mark.parametrize("augment", ["cc", "simclr", "light", "grey"])
def test_estimator_accepts_named_presets(augment):
    X = np.random.default_rng(1).integers(0, 256, size=(16, 16, 16, 3), dtype=np.uint8)
    est = DRCClustering(n_clusters=2, max_epochs=1, batch_size=8, device="cpu", backbone="cnn", augment=augment,
                        random_state=0).fit(X)
    assert est.labels_.shape == (16,)


class _Declares(torch.nn.Module):
    """A module whose out_features attribute disagrees with what it returns."""

    out_features = 7

    def forward(self, x):
        return x[:, :3]


@pytest.mark.parametrize(
    "backbone, match",
    [(torch.nn.Linear(4, 3), "'backbone' module failed on a batch of shape \\(2, 5\\)"),
     (_Declares(), "declares out_features=7 but returns 3")],
)
def test_user_backbone_is_probed_even_when_it_declares_its_width(backbone, match):
    X = np.random.RandomState(0).rand(40, 5).astype(np.float32)
    with pytest.raises(ValueError, match=match):
        DRCClustering(n_clusters=2, backbone=backbone, max_epochs=1, device="cpu").fit(X)
