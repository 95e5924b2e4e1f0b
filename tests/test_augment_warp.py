"""Shape augmentation (affine + elastic warp, stroke width) against torchvision's functional ops.

Tolerance: float32 images in [0, 1], absolute 1e-5 (observed ~1e-6): the affine part
against ``F.affine`` (bilinear, centre of the image, fill 0) at per-sample parameters, the
elastic part against ``F.elastic`` with the same displacement field, and the field itself
against torchvision's ``ElasticTransform`` recipe (``gaussian_blur`` of the same noise,
times ``alpha / size``).
"""

import pytest
import torch
import torch.nn.functional as F

from deepclust.augment import RandomAffineElastic, RandomStrokeWidth, gaussian_displacement, handwriting_preset
from deepclust.nn.resnet import import_torchvision

import_torchvision()
from torchvision.transforms.v2 import functional as TF  # noqa: E402

TOL = 1e-5


def _images(n=6, c=1, h=16, w=20, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("shape", [(1, 16, 16), (1, 16, 20), (3, 24, 18)])
def test_affine_matches_torchvision(shape):
    x = _images(6, *shape)
    op = RandomAffineElastic(degrees=30, shear=20, scale=(0.7, 1.3), translate=0.2)
    params = op.sample_params(x, torch.Generator().manual_seed(1))
    assert params["angle"].unique().numel() == 6  # per-sample parameters
    out = op.apply(x, params)
    for i in range(6):
        ref = TF.affine(
            x[i],
            angle=float(params["angle"][i]),
            translate=[float(t) for t in params["translate"][i]],
            scale=float(params["scale"][i]),
            shear=[float(params["shear"][i]), 0.0],
            interpolation=TF.InterpolationMode.BILINEAR,
        )
        torch.testing.assert_close(out[i], ref, atol=TOL, rtol=0)


def test_elastic_matches_torchvision():
    x = _images(4, 1, 16, 16)
    op = RandomAffineElastic(degrees=0, shear=0, scale=(1, 1), translate=0, alpha=14.0, sigma=2.0)
    params = op.sample_params(x, torch.Generator().manual_seed(2))
    out = op.apply(x, params)
    assert (out - x).abs().max() > 0.1  # the field moves pixels
    for i in range(4):
        ref = TF.elastic(x[i], params["displacement"][i : i + 1], interpolation=TF.InterpolationMode.BILINEAR)
        torch.testing.assert_close(out[i], ref, atol=TOL, rtol=0)


@pytest.mark.parametrize("sigma", [0.0, 1.0, 1.5])
def test_displacement_is_torchvisions_recipe(sigma):
    noise = torch.rand(3, 2, 16, 20, generator=torch.Generator().manual_seed(3)) * 2 - 1
    alpha = 9.0
    d = gaussian_displacement(noise, alpha, sigma)
    for i in range(3):
        planes = noise[i : i + 1]
        if sigma > 0:
            k = int(8 * sigma + 1)
            k += k % 2 == 0
            planes = TF.gaussian_blur(planes, [k, k], [sigma, sigma])
        ref = torch.stack([planes[0, 0] * alpha / 20, planes[0, 1] * alpha / 16], dim=-1)
        torch.testing.assert_close(d[i], ref, atol=1e-6, rtol=0)


def test_displacement_kernel_wider_than_image_is_cropped():
    # sigma = 3 gives a 25-tap kernel on an 8-pixel image: reflect padding is capped.
    d = gaussian_displacement(torch.rand(2, 2, 8, 8) * 2 - 1, alpha=3.0, sigma=3.0)
    assert d.shape == (2, 8, 8, 2) and torch.isfinite(d).all()


def test_identity_and_fill():
    x = _images(3, 1, 12, 12)
    identity = RandomAffineElastic(degrees=0, shear=0, scale=(1, 1), translate=0)
    torch.testing.assert_close(identity(x, torch.Generator()), x, atol=1e-6, rtol=0)
    # Zoomed out by half: the border comes from outside the image and takes the fill value.
    shrink = RandomAffineElastic(degrees=0, shear=0, scale=(0.5, 0.5), translate=0, fill=-1.0)
    out = shrink(x * 2 - 1, torch.Generator())
    assert torch.allclose(out[:, :, 0, :], torch.tensor(-1.0)) and torch.allclose(out[:, :, :, -1], torch.tensor(-1.0))


def test_elastic_probability_and_determinism():
    x = _images(64, 1, 16, 16)
    op = RandomAffineElastic(degrees=0, shear=0, scale=(1, 1), translate=0, alpha=14.0, sigma=2.0, elastic_p=0.5)
    params = op.sample_params(x, torch.Generator().manual_seed(4))
    moved = params["displacement"].flatten(1).abs().amax(dim=1) > 0
    assert 16 < int(moved.sum()) < 48
    a = op(x, torch.Generator().manual_seed(5))
    b = op(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, op(x, torch.Generator().manual_seed(6)))
    assert a.dtype == x.dtype and torch.equal(x, _images(64, 1, 16, 16))  # input untouched


def test_stroke_width_is_a_blend_towards_dilation_or_erosion():
    x = _images(4, 1, 10, 10)
    op = RandomStrokeWidth()
    amounts = torch.tensor([1.0, -1.0, 0.0, 0.25])
    out = op.apply(x, {"amount": amounts})
    dilated = F.max_pool2d(x, 3, 1, 1)
    eroded = -F.max_pool2d(-x, 3, 1, 1)
    torch.testing.assert_close(out[0], dilated[0])
    torch.testing.assert_close(out[1], eroded[1])
    assert torch.equal(out[2], x[2])
    torch.testing.assert_close(out[3], 0.75 * x[3] + 0.25 * dilated[3])
    assert out.min() >= x.min() and out.max() <= x.max()


def test_stroke_width_params():
    x = _images(200, 1, 8, 8)
    amount = RandomStrokeWidth(p=0.5, strength=(0.2, 0.6)).sample_params(x, torch.Generator().manual_seed(0))["amount"]
    on = amount != 0
    assert 60 < int(on.sum()) < 140
    assert bool((amount[on].abs() >= 0.2).all()) and bool((amount.abs() <= 0.6).all())
    assert bool((amount > 0).any()) and bool((amount < 0).any())
    assert torch.equal(RandomStrokeWidth(p=0.0)(x, torch.Generator()), x)


@pytest.mark.parametrize("size", [8, 16, 28])
def test_handwriting_preset_keeps_range_and_scales_with_size(size):
    x = _images(16, 1, size, size)
    before = x.clone()
    aug = handwriting_preset(image_size=size)
    out = aug(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype and torch.equal(x, before)
    assert out.min() >= 0 and out.max() <= 1
    assert aug.ops[0].sigma == pytest.approx(size / 8) and aug.ops[0].alpha == pytest.approx(0.054 * size**2)
    lo = handwriting_preset((-1.0, 1.0), image_size=size)(x * 2 - 1, torch.Generator().manual_seed(0))
    assert lo.min() >= -1 and lo.max() <= 1
