"""The augmentation ops reject bad arguments at construction, naming the op and parameter."""

import pytest

from deepclust.augment import (
    Clamp,
    FeatureMask,
    GaussianNoise,
    RandomAffineElastic,
    RandomColorJitter,
    RandomErasing,
    RandomGaussianBlur,
    RandomGreyscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomResizedCropAffine,
    RandomStrokeWidth,
)

BAD = [
    (Clamp, {"value_range": (1.0, 0.0)}, ValueError, "Clamp: value_range"),
    (Clamp, {"value_range": 1.0}, TypeError, "Clamp: value_range must be a pair"),
    (RandomResizedCropAffine, {"scale": (0.0, 1.0)}, ValueError, "RandomResizedCropAffine: scale"),
    (RandomResizedCropAffine, {"flip_p": 1.5}, ValueError, "flip_p"),
    (RandomResizedCropAffine, {"degrees": -1}, ValueError, "degrees"),
    (GaussianNoise, {"std": -0.1}, ValueError, "GaussianNoise: std"),
    (GaussianNoise, {"std": float("nan")}, ValueError, "std must be finite"),
    (FeatureMask, {"p": -0.1}, ValueError, "FeatureMask: p"),
    (RandomResizedCrop, {"size": 0}, ValueError, "RandomResizedCrop: size"),
    (RandomResizedCrop, {"size": "32"}, TypeError, "size must be None, an int or a pair"),
    (RandomResizedCrop, {"size": (32, 2.5)}, TypeError, "size must be an int"),
    (RandomResizedCrop, {"scale": (0.8, 0.2)}, ValueError, "scale must be \\(low, high\\)"),
    (RandomResizedCrop, {"ratio": (-1.0, 2.0)}, ValueError, "ratio"),
    (RandomResizedCrop, {"flip_p": "0.5"}, TypeError, "flip_p must be a real number"),
    (RandomHorizontalFlip, {"p": 2}, ValueError, "RandomHorizontalFlip: p"),
    (RandomColorJitter, {"brightness": -0.4}, ValueError, "RandomColorJitter: brightness"),
    (RandomColorJitter, {"hue": 0.6}, ValueError, "hue must be in \\[0.0, 0.5\\]"),
    (RandomColorJitter, {"p": True}, TypeError, "p must be a real number"),
    (RandomColorJitter, {"value_range": (1.0, 1.0)}, ValueError, "value_range must have low < high"),
    (RandomGreyscale, {"p": 1.01}, ValueError, "RandomGreyscale: p"),
    (RandomGaussianBlur, {"kernel_size": 4}, ValueError, "kernel_size must be odd"),
    (RandomGaussianBlur, {"kernel_size": 3.0}, TypeError, "kernel_size must be an int"),
    (RandomGaussianBlur, {"sigma": (0.0, 2.0)}, ValueError, "sigma"),
    (RandomErasing, {"scale": (0.5, 1.5)}, ValueError, "RandomErasing: scale"),
    (RandomErasing, {"attempts": 0}, ValueError, "attempts must be at least 1"),
    (RandomAffineElastic, {"sigma": 0.0}, ValueError, "RandomAffineElastic: sigma"),
    (RandomAffineElastic, {"elastic_p": -1}, ValueError, "elastic_p"),
    (RandomAffineElastic, {"scale": (1.2, 0.8)}, ValueError, "scale"),
    (RandomStrokeWidth, {"strength": (0.0, 1.5)}, ValueError, "RandomStrokeWidth: strength"),
]


@pytest.mark.parametrize("op,kwargs,error,match", BAD, ids=[f"{op.__name__}-{next(iter(kw))}" for op, kw, *_ in BAD])
def test_bad_arguments_are_clear_errors(op, kwargs, error, match):
    with pytest.raises(error, match=match):
        op(**kwargs)


@pytest.mark.parametrize(
    "op",
    [Clamp, RandomResizedCropAffine, GaussianNoise, FeatureMask, RandomResizedCrop, RandomHorizontalFlip,
     RandomColorJitter, RandomGreyscale, RandomGaussianBlur, RandomErasing, RandomAffineElastic, RandomStrokeWidth],
)
def test_defaults_are_accepted(op):
    op()


def test_numpy_and_int_arguments_are_accepted():
    import numpy as np

    crop = RandomResizedCrop(size=np.int64(16), scale=[np.float32(0.2), 1], flip_p=np.float64(0.5))
    assert crop.size == (16, 16) and crop.scale == (pytest.approx(0.2), 1.0) and crop.flip_p == 0.5
    assert RandomColorJitter(brightness=1, p=1).brightness == 1.0


def test_constant_images_get_a_usable_value_range():
    # Constant float images have min == max; the presets must still build and stay finite.
    import numpy as np
    import torch

    from deepclust._data import InputLayout
    from deepclust.augment import resolve_augment

    aug = resolve_augment("auto", InputLayout("image", (3, 8, 8), "nchw"), np.zeros(3), np.ones(3), (0.3, 0.3))
    out = aug(torch.full((6, 3, 8, 8), 0.3), torch.Generator().manual_seed(0))
    assert bool(torch.isfinite(out).all())
