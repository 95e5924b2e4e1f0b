"""Batched augmentation ops against torchvision's single-image functional ops.

Tolerances: every comparison is on float32 images in [0, 1], absolute. Geometric ops
(resized crop, flip, blur) agree to 1e-5; colour ops too: brightness, contrast, saturation
and greyscale to 1e-5, and the hue, which we compute directly on the hexcone instead of
torchvision's RGB -> HSV -> RGB round trip, also to 1e-5 (observed: ~2e-6, including
chains of all four adjustments with strong factors, quantised images with tied channels,
grey pixels and saturated values).
"""

import numpy as np
import pytest
import torch

from deepclust._data import InputLayout
from deepclust.augment import (
    PRESETS,
    Clamp,
    Compose,
    RandomAffineElastic,
    RandomColorJitter,
    RandomGaussianBlur,
    RandomGreyscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomResizedCropAffine,
    cc_preset,
    grey_preset,
    handwriting_preset,
    resolve_augment,
    simclr_preset,
)
from deepclust.augment import ops as ops_module
from deepclust.augment.presets import TABULAR_PRESETS
from deepclust.augment.ops import adjust_hue
from deepclust.nn.resnet import import_torchvision

import_torchvision()
from torchvision.transforms.v2 import functional as TF  # noqa: E402
TOL = 1e-5
HUE_TOL = 1e-5


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


#: A one-component mixture of five features, as InputSpace.mixture_noise returns one.
_MIXTURE_5 = dict(means=np.zeros((1, 5)), covariances=np.eye(5)[None], weights=np.ones(1), projection=np.eye(5),
                  center=np.zeros(5), back=np.eye(5))


@pytest.mark.parametrize("name", PRESETS)
def test_resolve_named_presets(name):
    rgb = InputLayout("image", (3, 32, 32), "nhwc")
    tab = InputLayout("tabular", (5,), "tabular")
    x = _images(4, 3, 32, 32)
    if name in TABULAR_PRESETS:
        with pytest.raises(ValueError, match="tabular"):
            resolve_augment(name, rgb, np.zeros(3), np.ones(3))
        for mixture in (None, _MIXTURE_5):  # no (stable) mixture, a stable one
            aug = resolve_augment(name, tab, np.zeros(5), np.ones(5), within_cluster_factor=lambda clusterer: np.eye(5),
                                  mixture_noise=lambda stable_only: mixture)
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
    assert repr(grey) == repr(handwriting_preset(image_size=28))
    assert grey.ops[0].sigma == pytest.approx(28 / 8)
    # Grey images: the handwriting preset on a blank background, the general one elsewhere.
    layout = InputLayout("image", (1, 28, 28), "nhw")
    on_blank = resolve_augment("auto", layout, np.zeros(1), np.ones(1), background_share=lambda: 0.6)
    assert repr(on_blank) == repr(handwriting_preset(image_size=28))
    natural = resolve_augment("auto", layout, np.zeros(1), np.ones(1), background_share=lambda: 0.08)
    assert repr(natural) == repr(grey_preset(image_size=28))
    sources = dict(within_cluster_factor=lambda clusterer: np.eye(5), mixture_noise=lambda stable_only: None)
    tab = resolve_augment("auto", InputLayout("tabular", (5,), "tabular"), np.zeros(5), np.ones(5), **sources)
    assert [repr(op) for op in tab.ops] == ["CorrelatedNoise(rank=5, scale=0.7)"]  # no stable mixture
    sources["mixture_noise"] = lambda stable_only: _MIXTURE_5
    tab = resolve_augment("auto", InputLayout("tabular", (5,), "tabular"), np.zeros(5), np.ones(5), **sources)
    assert [repr(op) for op in tab.ops] == ["MixtureNoise(components=1, dims=5, scale=0.7)"]  # a stable one
    scarf = resolve_augment("scarf", InputLayout("tabular", (5,), "tabular"), np.zeros(5), np.ones(5))
    assert [repr(op) for op in scarf.ops] == ["MarginalResample(p=0.3)"]  # the previous default


def test_user_callable_is_passed_through():
    def aug(x, generator):
        return x + torch.rand(x.shape, generator=generator)

    assert resolve_augment(aug, InputLayout("tabular", (5,), "tabular"), 0, 1) is aug
    assert isinstance(cc_preset(), Compose)


def _jitter_reference(x, params):
    fns = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    names = ("brightness", "contrast", "saturation", "hue")
    out = []
    for i in range(len(x)):
        ref = x[i]
        if params["apply"][i]:
            for j in params["order"][i].tolist():
                if x.shape[1] == 1 and j >= 2:
                    continue
                ref = fns[j](ref, float(params[names[j]][i]))
        out.append(ref)
    return torch.stack(out)


@pytest.mark.parametrize("kind", ["quantised", "uint8", "saturated"])
def test_hue_matches_torchvision_on_edge_cases(kind):
    # Tied channels (several maxima), grey pixels, 0 and 1 values, shifts up to half a turn.
    g = _gen(11)
    if kind == "quantised":
        x = torch.randint(0, 4, (32, 3, 8, 8), generator=g) / 3.0
    elif kind == "uint8":
        x = torch.randint(0, 256, (32, 3, 8, 8), generator=g) / 255.0
    else:
        x = (1.6 * torch.rand(32, 3, 8, 8, generator=g) - 0.3).clamp(0, 1)
    factor = torch.rand(32, generator=g) - 0.5
    factor[:4] = torch.tensor([0.0, 0.5, -0.5, 1 / 6])
    out = adjust_hue(x, factor)
    for i in range(len(x)):
        torch.testing.assert_close(out[i], TF.adjust_hue(x[i], float(factor[i])), atol=HUE_TOL, rtol=0)


def test_color_jitter_larger_batch_strong_factors_matches_torchvision():
    # Every order slot has hue blocks and blends on both sides of them.
    x = _images(40, 3, 8, 8, seed=12)
    op = RandomColorJitter(0.8, 0.8, 0.8, 0.5, p=0.8)
    params = op.sample_params(x, _gen(13))
    torch.testing.assert_close(op.apply(x, params), _jitter_reference(x, params), atol=HUE_TOL, rtol=0)


@pytest.mark.parametrize("channels", [3, 1])
def test_color_jitter_inplace_and_layouts_agree(channels):
    x = _images(12, channels, 10, 9, seed=14)
    op = RandomColorJitter(0.4, 0.4, 0.4, 0.1, p=0.7)
    params = op.sample_params(x, _gen(15))
    ref = op.apply(x, params)
    torch.testing.assert_close(ref, _jitter_reference(x, params), atol=HUE_TOL, rtol=0)
    own = x.clone()
    torch.testing.assert_close(op.apply(own, params, inplace=True), ref, atol=0, rtol=0)
    cl = x.contiguous(memory_format=torch.channels_last)
    out_cl = op.apply(cl, params)
    torch.testing.assert_close(out_cl, ref, atol=0, rtol=0)
    if channels == 3:
        assert out_cl.is_contiguous(memory_format=torch.channels_last)  # the layout is kept
    torch.testing.assert_close(op.apply(cl.clone(), params, inplace=True), ref, atol=0, rtol=0)
    params["apply"][:] = True  # everyone jittered: the other code path
    torch.testing.assert_close(op.apply(x, params), _jitter_reference(x, params), atol=HUE_TOL, rtol=0)


def test_greyscale_inplace_matches():
    x = _images(8, seed=16)
    op = RandomGreyscale(0.5)
    params = {"apply": torch.tensor([True, False, True, True, False, False, True, False])}
    ref = op.apply(x, params)
    own = x.clone()
    assert op.apply(own, params, inplace=True) is own
    torch.testing.assert_close(own, ref, atol=0, rtol=0)


@pytest.mark.parametrize("preset", [cc_preset(32), simclr_preset(32)])
def test_compose_leaves_the_input_alone_and_equals_op_by_op(preset):
    x = _images(24, 3, 32, 32, seed=17)
    before = x.clone()
    out = preset(x, _gen(18))
    torch.testing.assert_close(x, before, atol=0, rtol=0)
    # The same ops called one by one, never in place, from the same generator state.
    g = _gen(18)
    y = x
    for op in preset.ops:
        y = op(y, g)
    torch.testing.assert_close(out, y, atol=0, rtol=0)
    # Reused work buffers: a second call does not touch the first call's output.
    kept = out.clone()
    preset(x, _gen(19))
    torch.testing.assert_close(out, kept, atol=0, rtol=0)
    # channels_last input (as delivered on CUDA) gives the same views.
    torch.testing.assert_close(preset(x.contiguous(memory_format=torch.channels_last), _gen(18)), out,
                               atol=1e-6, rtol=0)


def test_compose_does_not_update_a_user_callable_output_in_place():
    x = _images(6, seed=20)
    keep = {}

    def remember(batch, generator):
        keep["out"] = batch * 1.0  # a tensor the user holds on to
        return keep["out"]

    aug = Compose([remember, RandomColorJitter(p=1.0), RandomGreyscale(1.0), Clamp()])
    out = aug(x, _gen())
    assert not torch.equal(out, x)
    torch.testing.assert_close(keep["out"], x, atol=0, rtol=0)


def test_compose_restores_the_thread_count():
    # Small CPU batches run with one intra-op thread; the caller's setting comes back, also
    # when an op raises, and other threads keep theirs.
    import threading

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        seen = []

        def spy(x, generator):
            seen.append(torch.get_num_threads())
            return x

        Compose([spy])(_images(2), _gen())
        assert torch.get_num_threads() == 2
        assert seen == [1 if ops_module._OPENMP_BACKEND else 2]

        def boom(x, generator):
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            Compose([boom])(_images(2), _gen())
        assert torch.get_num_threads() == 2

        other = []
        def work():
            torch.set_num_threads(2)
            cc_preset(32)(_images(4, 3, 32, 32), _gen())
            other.append(torch.get_num_threads())

        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
        assert other == [2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("height, width", [(24, 24), (12, 24), (20, 12)])
def test_resized_crop_affine_rotates_rigidly_on_any_aspect_ratio(height, width, monkeypatch):
    # Full-image crop (pixel ratio = the image's), no flip or shift: what is left is the
    # rotation, which must be torchvision's rotate at the drawn angle, also when H != W.
    drawn = []
    uniform = ops_module._uniform

    def record(*args, **kwargs):
        drawn.append(uniform(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(ops_module, "_uniform", record)
    x = torch.rand(4, 1, height, width, generator=torch.Generator().manual_seed(1))
    op = RandomResizedCropAffine(scale=(1.0, 1.0), ratio=(width / height, width / height), degrees=90.0)
    out = op(x, torch.Generator().manual_seed(0))
    angles = drawn[2]  # area, log ratio, angle
    assert angles.abs().max() > 45  # large rotations, where an aspect error shows most
    for i in range(len(x)):
        expected = TF.rotate(x[i], float(angles[i]), interpolation=TF.InterpolationMode.BILINEAR)
        torch.testing.assert_close(out[i], expected, atol=TOL, rtol=0)


@pytest.mark.parametrize("op", [RandomResizedCropAffine(degrees=20.0), grey_preset(), handwriting_preset()], ids=repr)
def test_warps_return_an_empty_batch(op):
    empty = torch.rand(0, 1, 16, 16)
    assert op(empty, torch.Generator().manual_seed(0)).shape == empty.shape


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    "op", [RandomResizedCrop(scale=(0.3, 1.0), flip_p=0.5), RandomResizedCropAffine(degrees=20.0),
           RandomAffineElastic(degrees=15.0, alpha=1.0)], ids=lambda op: type(op).__name__,
)
def test_warps_in_half_precision_lose_only_the_output_rounding(op, dtype):
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    reference = op(x.to(dtype).float(), torch.Generator().manual_seed(1))
    out = op(x.to(dtype), torch.Generator().manual_seed(1))
    assert out.dtype == dtype
    # Sampling coordinates in half precision were off by up to 0.17 (bf16); rounding is ~0.01.
    torch.testing.assert_close(out.float(), reference, atol=2 * torch.finfo(dtype).eps, rtol=0)
