"""Batched augmentation ops against torchvision's single-image functional ops.

Tolerances: every comparison is on float32 images in [0, 1]; geometric ops (resized crop,
flip, blur) agree to 1e-5 absolute, colour ops to 1e-5 (brightness, contrast,
saturation, greyscale) and 1e-4 (hue, through HSV and back).
"""

import numpy as np
import pytest
import torch

from deepclust._data import InputLayout
from deepclust.augment import (
    PRESETS,
    Compose,
    RandomColorJitter,
    RandomGaussianBlur,
    RandomGreyscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    cc_preset,
    grey_preset,
    resolve_augment,
    simclr_preset,
)
from deepclust.nn.resnet import import_torchvision

import_torchvision()
from torchvision.transforms.v2 import functional as TF  # noqa: E402
TOL = 1e-5
HUE_TOL = 1e-4


def _images(n=6, c=3, h=20, w=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=g)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("size", [None, (16, 16), (40, 36)])
def test_resized_crop_matches_torchvision(antialias, size):
    x = _images()
    op = RandomResizedCrop(size=size, scale=(0.1, 1.0), flip_p=0.5, antialias=antialias)
    params = op.sample_params(x, _gen(1))
    params["flip"] = torch.tensor([True, False] * 3)
    out = op.apply(x, params)
    out_size = list(size) if size is not None else list(x.shape[-2:])
    assert out.shape == (6, 3, *out_size)
    for i in range(len(x)):
        t, l, h, w = (int(params[k][i]) for k in ("top", "left", "height", "width"))
        ref = TF.resized_crop(x[i], t, l, h, w, out_size, antialias=antialias)
        if params["flip"][i]:
            ref = TF.horizontal_flip(ref)
        torch.testing.assert_close(out[i], ref, atol=TOL, rtol=0)


def test_resized_crop_grid_sample_path_matches_upscaling():
    # Large images use grid_sample (no antialiasing): exact when the crop is upscaled.
    x = _images(4, 3, 30, 30)
    op = RandomResizedCrop(size=(60, 60), scale=(0.2, 1.0), flip_p=0.5, matmul_max_size=8)
    params = op.sample_params(x, _gen(2))
    out = op.apply(x, params)
    for i in range(len(x)):
        t, l, h, w = (int(params[k][i]) for k in ("top", "left", "height", "width"))
        ref = TF.resized_crop(x[i], t, l, h, w, [60, 60], antialias=False)
        if params["flip"][i]:
            ref = TF.horizontal_flip(ref)
        torch.testing.assert_close(out[i], ref, atol=TOL, rtol=0)


def test_resized_crop_parameter_distribution():
    x = torch.zeros(4000, 1, 32, 32)
    op = RandomResizedCrop(scale=(0.2, 1.0), flip_p=0.5)
    p = op.sample_params(x, _gen(0))
    area = (p["height"] * p["width"]).float() / (32 * 32)
    assert area.min() >= 0.17 and area.max() <= 1.0  # rounding moves the bounds a little
    # Same distribution as torchvision's own get_params (rejection makes it < 0.6 on average).
    import torchvision.transforms as T

    torch.manual_seed(0)
    ref = torch.tensor([T.RandomResizedCrop.get_params(x[0], [0.2, 1.0], [3 / 4, 4 / 3]) for _ in range(2000)])
    ref_area = (ref[:, 2] * ref[:, 3]).float() / (32 * 32)
    assert abs(area.mean().item() - ref_area.mean().item()) < 0.02
    assert abs(area.std().item() - ref_area.std().item()) < 0.02
    ratio = p["width"].float() / p["height"].float()
    assert ratio.min() > 0.6 and ratio.max() < 1.6
    assert (p["top"] + p["height"] <= 32).all() and (p["left"] + p["width"] <= 32).all()
    assert (p["top"] >= 0).all() and (p["left"] >= 0).all()
    assert 0.45 < p["flip"].float().mean() < 0.55
    # Different boxes across the batch.
    assert len(set(zip(p["top"].tolist(), p["left"].tolist(), p["height"].tolist()))) > 100


def test_horizontal_flip_matches_torchvision():
    x = _images()
    op = RandomHorizontalFlip()
    params = {"flip": torch.tensor([True, False, True, True, False, False])}
    out = op.apply(x, params)
    for i in range(len(x)):
        ref = TF.horizontal_flip(x[i]) if params["flip"][i] else x[i]
        torch.testing.assert_close(out[i], ref, atol=0, rtol=0)


@pytest.mark.parametrize("channels", [3, 1])
def test_color_jitter_matches_torchvision(channels):
    x = _images(c=channels)
    op = RandomColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8)
    params = op.sample_params(x, _gen(3))
    params["apply"] = torch.tensor([True, True, True, True, True, False])
    out = op.apply(x, params)
    fns = {
        0: lambda im, f: TF.adjust_brightness(im, f),
        1: lambda im, f: TF.adjust_contrast(im, f),
        2: lambda im, f: TF.adjust_saturation(im, f),
        3: lambda im, f: TF.adjust_hue(im, f),
    }
    names = ("brightness", "contrast", "saturation", "hue")
    for i in range(len(x)):
        ref = x[i]
        if params["apply"][i]:
            for j in params["order"][i].tolist():
                if channels == 1 and j >= 2:
                    continue  # saturation and hue leave grey images alone
                ref = fns[j](ref, float(params[names[j]][i]))
        torch.testing.assert_close(out[i], ref, atol=HUE_TOL if channels == 3 else TOL, rtol=0)
    torch.testing.assert_close(out[5], x[5])


@pytest.mark.parametrize("name", ["brightness", "contrast", "saturation", "hue"])
def test_single_colour_adjustment_matches_torchvision(name):
    x = _images(8)
    kwargs = dict(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    kwargs[name] = 0.5 if name == "hue" else 0.9
    op = RandomColorJitter(**kwargs, p=1.0)
    params = op.sample_params(x, _gen(4))
    out = op.apply(x, params)
    fn = getattr(TF, f"adjust_{name}")
    tol = HUE_TOL if name == "hue" else TOL
    for i in range(len(x)):
        torch.testing.assert_close(out[i], fn(x[i], float(params[name][i])), atol=tol, rtol=0)


def test_greyscale_matches_torchvision():
    x = _images()
    op = RandomGreyscale(0.5)
    params = {"apply": torch.tensor([True, False, True, False, True, False])}
    out = op.apply(x, params)
    for i in range(len(x)):
        ref = TF.rgb_to_grayscale(x[i], num_output_channels=3) if params["apply"][i] else x[i]
        torch.testing.assert_close(out[i], ref, atol=TOL, rtol=0)


@pytest.mark.parametrize("kernel_size", [3, 5, 9])
def test_gaussian_blur_matches_torchvision(kernel_size):
    x = _images()
    op = RandomGaussianBlur(kernel_size, sigma=(0.1, 2.0), p=0.7)
    params = op.sample_params(x, _gen(5))
    params["apply"] = torch.tensor([True, True, False, True, False, True])
    out = op.apply(x, params)
    for i in range(len(x)):
        s = float(params["sigma"][i])
        ref = TF.gaussian_blur(x[i], [kernel_size, kernel_size], [s, s]) if params["apply"][i] else x[i]
        torch.testing.assert_close(out[i], ref, atol=TOL, rtol=0)


def test_blur_kernel_shrinks_to_fit_small_images():
    x = _images(3, 3, 4, 4)
    out = RandomGaussianBlur(23, p=1.0)(x, _gen())
    assert out.shape == x.shape and torch.isfinite(out).all()


OPS = [
    RandomResizedCrop(scale=(0.2, 1.0)),
    RandomColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0),
    RandomGreyscale(0.5),
    RandomGaussianBlur(5, p=1.0),
    RandomHorizontalFlip(0.5),
]


@pytest.mark.parametrize("op", OPS, ids=lambda o: type(o).__name__)
def test_parameters_differ_across_the_batch(op):
    # The same image repeated: per-sample parameters must give different outputs.
    x = _images(1).expand(16, -1, -1, -1).contiguous()
    out = op(x, _gen(6))
    distinct = {tuple(np.round(o.flatten().numpy(), 5)) for o in out}
    assert len(distinct) > 1


@pytest.mark.parametrize("preset", [cc_preset(32), simclr_preset(32), cc_preset(32, s=1.0, blur=True)])
def test_same_seed_same_output_and_range(preset):
    x = _images(16, 3, 32, 32)
    a, b = preset(x, _gen(7)), preset(x, _gen(7))
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert not torch.equal(a, preset(x, _gen(8)))
    assert a.dtype == x.dtype and a.shape == x.shape
    assert a.min() >= 0 and a.max() <= 1


def test_presets_keep_a_custom_value_range():
    lo, hi = -2.0, 3.0
    x = lo + (hi - lo) * _images(32, 3, 16, 16)
    out = cc_preset(16, s=1.0, blur=True, value_range=(lo, hi))(x, _gen(9))
    assert out.min() >= lo - 1e-5 and out.max() <= hi + 1e-5
    assert out.min() < lo + 0.5 and out.max() > hi - 0.5  # not squeezed into [0, 1]


def test_jitter_in_another_range_equals_jitter_in_unit_range():
    lo, hi = -1.0, 1.0
    x = _images(8)
    op01 = RandomColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0)
    op = RandomColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0, value_range=(lo, hi))
    params = op01.sample_params(x, _gen(10))
    torch.testing.assert_close(op.apply(x * 2 - 1, params), op01.apply(x, params) * 2 - 1, atol=1e-5, rtol=0)


def test_float64_input_keeps_dtype():
    x = _images(4, 3, 16, 16).double()
    out = cc_preset(16, blur=True)(x, _gen())
    assert out.dtype == torch.float64


@pytest.mark.parametrize("name", PRESETS)
def test_resolve_named_presets(name):
    rgb = InputLayout("image", (3, 32, 32), "nhwc")
    tab = InputLayout("tabular", (5,), "tabular")
    x = _images(4, 3, 32, 32)
    if name == "tabular":
        with pytest.raises(ValueError, match="tabular"):
            resolve_augment(name, rgb, np.zeros(3), np.ones(3))
        aug = resolve_augment(name, tab, np.zeros(5), np.ones(5))
        assert aug(torch.zeros(4, 5), _gen()).shape == (4, 5)
        return
    aug = resolve_augment(name, rgb, np.zeros(3), np.ones(3))
    assert aug(x, _gen()).shape == x.shape
    if name != "auto":
        with pytest.raises(ValueError):
            resolve_augment(name, tab, np.zeros(5), np.ones(5))


def test_auto_preset_choices():
    auto_rgb = resolve_augment("auto", InputLayout("image", (3, 32, 32), "nhwc"), np.zeros(3), np.ones(3))
    ops = {type(o).__name__: o for o in auto_rgb.ops}
    assert set(ops) == {"RandomResizedCrop", "RandomColorJitter", "RandomGreyscale", "Clamp"}
    assert ops["RandomResizedCrop"].scale == (0.2, 1.0)
    assert ops["RandomColorJitter"].brightness == pytest.approx(0.4)  # 0.8 * s, s = 0.5
    assert ops["RandomColorJitter"].hue == pytest.approx(0.1)
    big = resolve_augment("auto", InputLayout("image", (3, 224, 224), "nchw"), np.zeros(3), np.ones(3))
    blur = [o for o in big.ops if isinstance(o, RandomGaussianBlur)]
    assert blur and blur[0].kernel_size == 23
    grey = resolve_augment("auto", InputLayout("image", (1, 28, 28), "nhw"), np.zeros(1), np.ones(1))
    assert repr(grey) == repr(grey_preset())


def test_user_callable_is_passed_through():
    def aug(x, generator):
        return x + torch.rand(x.shape, generator=generator)

    assert resolve_augment(aug, InputLayout("tabular", (5,), "tabular"), 0, 1) is aug
    assert isinstance(cc_preset(), Compose)
