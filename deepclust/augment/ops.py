"""Batched augmentation ops with per-sample random parameters.

Every op is a callable ``op(x, generator) -> x`` on a batch living on any device. All random
parameters of a batch are drawn at once, with a leading batch dimension, from ``generator``
(which must live on ``x``'s device), and applied with vectorised tensor operations: no Python
loop over samples. Ops never modify their input in place.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _uniform(n: int, low: float, high: float, generator: torch.Generator, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def _bernoulli(n: int, p: float, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device) < p


class Compose:
    """Apply ops in sequence."""

    def __init__(self, ops):
        self.ops = list(ops)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for op in self.ops:
            x = op(x, generator)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.ops!r})"


class RandomResizedCropAffine:
    """Random resized crop, horizontal flip, rotation and translation as one affine warp.

    Each sample draws a crop area fraction in ``scale`` and an aspect ratio in ``ratio``
    (log-uniform), a crop centre such that the crop lies inside the image (when it fits), a
    flip with probability ``flip_p``, a rotation in ``[-degrees, degrees]`` and an extra
    translation of up to ``translate`` of the image size. The composed matrices of the whole
    batch drive one ``affine_grid`` + ``grid_sample`` call (bilinear, zero padding outside).
    """

    def __init__(self, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3), flip_p=0.0, degrees=0.0, translate=0.0):
        self.scale = scale
        self.ratio = ratio
        self.flip_p = flip_p
        self.degrees = degrees
        self.translate = translate

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, device = x.shape[0], x.device
        area = _uniform(n, *self.scale, generator, device)
        log_ratio = _uniform(n, math.log(self.ratio[0]), math.log(self.ratio[1]), generator, device)
        aspect = torch.exp(log_ratio)
        # Crop width and height as fractions of the image side (1 = full side).
        w = torch.sqrt(area * aspect).clamp(max=1.0)
        h = torch.sqrt(area / aspect).clamp(max=1.0)
        # Centre in normalised coordinates [-1, 1], chosen so the crop stays inside.
        cx = (1 - w) * (2 * torch.rand(n, generator=generator, device=device) - 1)
        cy = (1 - h) * (2 * torch.rand(n, generator=generator, device=device) - 1)
        cx = cx + self.translate * 2 * (2 * torch.rand(n, generator=generator, device=device) - 1)
        cy = cy + self.translate * 2 * (2 * torch.rand(n, generator=generator, device=device) - 1)
        angle = _uniform(n, -self.degrees, self.degrees, generator, device) * (math.pi / 180)
        flip = torch.where(_bernoulli(n, self.flip_p, generator, device), -1.0, 1.0)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack(
            [
                torch.stack([w * cos * flip, -h * sin, cx], dim=1),
                torch.stack([w * sin * flip, h * cos, cy], dim=1),
            ],
            dim=1,
        ).to(x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def __repr__(self) -> str:
        return (
            f"RandomResizedCropAffine(scale={self.scale}, ratio={self.ratio}, flip_p={self.flip_p}, "
            f"degrees={self.degrees}, translate={self.translate})"
        )


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601-2 luma, as torchvision's ``rgb_to_grayscale``; shape (B, 1, H, W)."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


class ColorJitter:
    """Brightness, contrast and saturation jitter with per-sample factors, applied with prob ``p``.

    Factors are drawn uniformly in ``[1 - s, 1 + s]`` for each strength ``s``; the ops follow
    torchvision's definitions (blend with black, with the mean grey level, with the grey
    image) and clamp to [0, 1]. Saturation is skipped for single-channel images.
    """

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, p=0.8):
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.p = p

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, device = x.shape[0], x.device
        apply = _bernoulli(n, self.p, generator, device).view(n, 1, 1, 1)

        def factor(strength: float) -> torch.Tensor:
            f = _uniform(n, max(0.0, 1 - strength), 1 + strength, generator, device).view(n, 1, 1, 1)
            return torch.where(apply, f, torch.ones_like(f)).to(x.dtype)

        out = (x * factor(self.brightness)).clamp(0, 1)
        grey = _grayscale(out) if x.shape[1] == 3 else out
        mean = grey.mean(dim=(1, 2, 3), keepdim=True)
        c = factor(self.contrast)
        out = (c * out + (1 - c) * mean).clamp(0, 1)
        if x.shape[1] == 3:
            s = factor(self.saturation)
            out = (s * out + (1 - s) * _grayscale(out)).clamp(0, 1)
        return out

    def __repr__(self) -> str:
        return f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation}, p={self.p})"


class RandomGrayscale:
    """Replace RGB images by their luma (kept 3-channel) with probability ``p`` per sample."""

    def __init__(self, p=0.2):
        self.p = p

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if x.shape[1] != 3:
            return x
        apply = _bernoulli(x.shape[0], self.p, generator, x.device).view(-1, 1, 1, 1)
        return torch.where(apply, _grayscale(x).expand_as(x), x)

    def __repr__(self) -> str:
        return f"RandomGrayscale(p={self.p})"


class GaussianNoise:
    """Add ``N(0, (std * scale)^2)`` noise; ``scale`` is per feature (tabular) or a scalar."""

    def __init__(self, std=0.1, scale: torch.Tensor | float = 1.0, clamp: tuple[float, float] | None = None):
        self.std = std
        self.scale = scale
        self.clamp = clamp

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        scale = self.scale.to(x.device, x.dtype) if isinstance(self.scale, torch.Tensor) else self.scale
        out = x + noise * (self.std * scale)
        return out.clamp(*self.clamp) if self.clamp is not None else out

    def __repr__(self) -> str:
        return f"GaussianNoise(std={self.std})"


class FeatureMask:
    """Replace each feature, independently with probability ``p``, by ``fill`` (per feature)."""

    def __init__(self, p=0.1, fill: torch.Tensor | float = 0.0):
        self.p = p
        self.fill = fill

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        mask = torch.rand(x.shape, generator=generator, device=x.device) < self.p
        fill = self.fill.to(x.device, x.dtype) if isinstance(self.fill, torch.Tensor) else self.fill
        return torch.where(mask, fill, x) if isinstance(fill, torch.Tensor) else x.masked_fill(mask, fill)

    def __repr__(self) -> str:
        return f"FeatureMask(p={self.p})"
