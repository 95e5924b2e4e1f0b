"""Named augmentation pipelines and the resolution of the ``augment`` parameter."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

from .._data import InputLayout
from .ops import ColorJitter, Compose, FeatureMask, GaussianNoise, RandomGrayscale, RandomResizedCropAffine

Augmenter = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def tabular_preset(mean: torch.Tensor, std: torch.Tensor, noise: float = 0.2, mask_p: float = 0.1) -> Compose:
    """Gaussian noise of ``noise`` feature standard deviations, then random feature masking
    (a masked feature takes its training mean)."""
    return Compose([GaussianNoise(noise, scale=std), FeatureMask(mask_p, fill=mean)])


def grey_preset(value_range: tuple[float, float] = (0.0, 1.0)) -> Compose:
    """Small grey images (digits, MNIST, USPS): crop, small rotation/shift, no flip, noise.

    The noise is 3% of the value range and the result is clamped to it.
    """
    lo, hi = value_range
    return Compose(
        [
            RandomResizedCropAffine(scale=(0.6, 1.0), ratio=(0.8, 1.25), flip_p=0.0, degrees=12.0, translate=0.05),
            GaussianNoise(0.03 * (hi - lo), clamp=(lo, hi)),
        ]
    )


def rgb_preset() -> Compose:
    """Colour images: crop (scale 0.2-1, as PICA/GCC at native size), flip, jitter, grayscale."""
    return Compose(
        [
            RandomResizedCropAffine(scale=(0.2, 1.0), flip_p=0.5),
            ColorJitter(0.4, 0.4, 0.4, p=0.8),
            RandomGrayscale(0.2),
        ]
    )


class _OneArgument:
    """Adapter for user callables that take only the batch (they manage their own randomness)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x, generator):
        return self.fn(x)


def _takes_generator(fn) -> bool:
    try:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
    except (TypeError, ValueError):
        return True
    return len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def resolve_augment(augment, layout: InputLayout, mean, std, value_range=(0.0, 1.0)) -> Augmenter | None:
    """Turn the ``augment`` parameter into ``f(x, generator) -> x`` (or None for no augmentation).

    ``mean``/``std`` are the training statistics (per feature or per channel) used by the
    tabular preset; ``value_range`` is the (min, max) of the image values (``(0, 1)`` for
    uint8 input), which image presets keep to. A user callable may take ``(x, generator)`` or just ``(x,)``; it receives a
    float batch (images in [0, 1], shape (B, C, H, W); tabular (B, n_features)) on the
    training device and must return a tensor of the same shape.
    """
    if augment is None:
        return None
    if callable(augment):
        return augment if _takes_generator(augment) else _OneArgument(augment)
    if augment == "auto":
        if not layout.is_image:
            return tabular_preset(torch.as_tensor(mean), torch.as_tensor(std))
        return rgb_preset() if layout.sample_shape[0] == 3 else grey_preset(value_range)
    raise ValueError(f"Unknown augment {augment!r}.")  # pragma: no cover - parameter validation
