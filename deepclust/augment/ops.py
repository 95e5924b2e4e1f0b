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


class Clamp:
    """Clip to ``value_range`` (resampling and blending can overshoot by rounding errors)."""

    def __init__(self, value_range=(0.0, 1.0)):
        self.value_range = tuple(float(v) for v in value_range)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return x.clamp(*self.value_range)

    def __repr__(self) -> str:
        return f"Clamp({self.value_range})"


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


# ---------------------------------------------------------------------------------------------
# The CC / SimCLR image ops. Each is split into ``sample_params(x, generator) -> dict`` (every
# random draw of the batch at once, leading batch dimension) and ``apply(x, params) -> x`` (pure
# and vectorised), so that tests can replay chosen per-sample parameters and compare each sample
# with torchvision's single-image functional op.
# ---------------------------------------------------------------------------------------------


class _ParamOp:
    """Base class of the ops split into parameter drawing and application."""

    def sample_params(self, x: torch.Tensor, generator: torch.Generator) -> dict:  # pragma: no cover
        raise NotImplementedError

    def apply(self, x: torch.Tensor, params: dict) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(x, self.sample_params(x, generator))


def _resize_weights(
    start: torch.Tensor, length: torch.Tensor, out_size: int, in_size: int, antialias: bool
) -> torch.Tensor:
    """Per-sample 1-D bilinear resampling matrices ``(B, out_size, in_size)``.

    Row ``o`` of sample ``b`` resamples the source interval ``[start_b, start_b + length_b)``
    to ``out_size`` pixels with the triangle filter used by ``torch.nn.functional.interpolate``
    (``mode="bilinear", align_corners=False``); with ``antialias`` the filter is widened by
    the downscaling factor, as ``antialias=True`` (PIL's and torchvision's default) does.
    """
    dtype = torch.float32
    start = start.to(dtype)[:, None, None]
    length = length.to(dtype)[:, None, None]
    scale = length / out_size  # > 1 means downscaling
    support = scale.clamp(min=1.0) if antialias else torch.ones_like(scale)
    centre = scale * (torch.arange(out_size, device=start.device, dtype=dtype)[None, :, None] + 0.5)
    pos = torch.arange(in_size, device=start.device, dtype=dtype)[None, None, :] - start  # in-crop index
    if antialias:
        w = (1 - ((pos + 0.5 - centre) / support).abs()).clamp(min=0)
    else:
        # Plain bilinear: the source coordinate is clamped to the crop, as interpolate does.
        src = (centre - 0.5).clamp(min=0.0)
        src = torch.minimum(src, length - 1)
        w = (1 - (pos - src).abs()).clamp(min=0)
    w = w * ((pos >= 0) & (pos < length)).to(dtype)
    return w / w.sum(dim=2, keepdim=True).clamp(min=1e-12)


class RandomResizedCrop(_ParamOp):
    """torchvision's ``RandomResizedCrop`` (+ optional horizontal flip) with per-sample boxes.

    Parameters are drawn exactly as ``torchvision.transforms.RandomResizedCrop.get_params``
    does, for every sample at once: up to 10 attempts of an area fraction in ``scale`` and a
    log-uniform aspect ratio in ``ratio``, the first integer box that fits, else the central
    crop clipped to ``ratio``. Each box is resized to ``size`` (default: the input size) with
    bilinear interpolation and ``antialias`` as in ``torchvision.transforms.v2.functional.
    resized_crop``; a flip with probability ``flip_p`` reverses the output columns.

    The resampling is separable: one batched matrix product per axis (exact, and the fast
    path for images up to ``matmul_max_size`` pixels a side); larger images go through one
    ``grid_sample`` call (bilinear without antialiasing).

    Params: ``top``, ``left``, ``height``, ``width`` (int64, pixels) and ``flip`` (bool), each
    of shape ``(B,)``.
    """

    def __init__(self, size=None, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), flip_p=0.5, antialias=True,
                 matmul_max_size=128):
        self.size = (size, size) if isinstance(size, int) else (tuple(size) if size is not None else None)
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.flip_p = flip_p
        self.antialias = antialias
        self.matmul_max_size = matmul_max_size

    def sample_params(self, x: torch.Tensor, generator: torch.Generator) -> dict:
        n, device = x.shape[0], x.device
        height, width = x.shape[-2:]
        tries = 10
        area = height * width * (
            self.scale[0] + (self.scale[1] - self.scale[0]) * torch.rand(n, tries, generator=generator, device=device)
        )
        lo, hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(lo + (hi - lo) * torch.rand(n, tries, generator=generator, device=device))
        w = torch.round(torch.sqrt(area * aspect)).long()
        h = torch.round(torch.sqrt(area / aspect)).long()
        valid = (w > 0) & (w <= width) & (h > 0) & (h <= height)
        first = valid.long().argmax(dim=1, keepdim=True)  # first valid attempt (0 when none)
        any_valid = valid.any(dim=1)
        w = w.gather(1, first).squeeze(1)
        h = h.gather(1, first).squeeze(1)
        # Fallback: central crop, clipped to the ratio range.
        in_ratio = width / height
        if in_ratio < min(self.ratio):
            fw, fh = width, int(round(width / min(self.ratio)))
        elif in_ratio > max(self.ratio):
            fh, fw = height, int(round(height * max(self.ratio)))
        else:
            fw, fh = width, height
        w = torch.where(any_valid, w, torch.full_like(w, fw))
        h = torch.where(any_valid, h, torch.full_like(h, fh))
        u = torch.rand(n, 2, generator=generator, device=device)
        top = torch.floor(u[:, 0] * (height - h + 1)).long().clamp(max=height - 1)
        left = torch.floor(u[:, 1] * (width - w + 1)).long().clamp(max=width - 1)
        top = torch.where(any_valid, top, (height - h) // 2)
        left = torch.where(any_valid, left, (width - w) // 2)
        flip = torch.rand(n, generator=generator, device=device) < self.flip_p
        return {"top": top, "left": left, "height": h, "width": w, "flip": flip}

    def apply(self, x: torch.Tensor, params: dict) -> torch.Tensor:
        in_h, in_w = x.shape[-2:]
        out_h, out_w = self.size if self.size is not None else (in_h, in_w)
        flip = params["flip"].to(x.device)
        if max(in_h, in_w, out_h, out_w) <= self.matmul_max_size:
            ry = _resize_weights(params["top"], params["height"], out_h, in_h, self.antialias).to(x.dtype)
            rx = _resize_weights(params["left"], params["width"], out_w, in_w, self.antialias)
            rx = torch.where(flip[:, None, None], rx.flip(1), rx).to(x.dtype)
            # Two batched products: rows (B, out_h, in_h) @ (B, in_h, C*in_w), then columns.
            n, c = x.shape[:2]
            rows = torch.bmm(ry, x.transpose(1, 2).reshape(n, in_h, c * in_w))  # (B, out_h, C*in_w)
            cols = torch.bmm(rows.view(n, out_h * c, in_w), rx.transpose(1, 2))  # (B, out_h*C, out_w)
            return cols.view(n, out_h, c, out_w).transpose(1, 2).contiguous()
        return self._grid_sample(x, params, out_h, out_w, flip)

    @staticmethod
    def _grid_sample(x, params, out_h, out_w, flip):
        in_h, in_w = x.shape[-2:]

        def coords(start, length, out_size, in_size):
            start = start.to(x.device, torch.float32)[:, None]
            length = length.to(x.device, torch.float32)[:, None]
            o = torch.arange(out_size, device=x.device, dtype=torch.float32)[None]
            src = ((o + 0.5) * length / out_size - 0.5).clamp(min=0.0)
            src = torch.minimum(src, length - 1) + start
            return 2 * src / max(in_size - 1, 1) - 1  # align_corners=True normalisation

        gx = coords(params["left"], params["width"], out_w, in_w)
        gx = torch.where(flip[:, None], gx.flip(1), gx)
        gy = coords(params["top"], params["height"], out_h, in_h)
        n = x.shape[0]
        grid = torch.stack([gx[:, None, :].expand(n, out_h, out_w), gy[:, :, None].expand(n, out_h, out_w)], dim=-1)
        return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="border", align_corners=True)

    def __repr__(self) -> str:
        return (
            f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio}, flip_p={self.flip_p}, "
            f"antialias={self.antialias})"
        )


class RandomHorizontalFlip(_ParamOp):
    """Mirror each sample left-right with probability ``p``. Params: ``flip`` (bool, ``(B,)``)."""

    def __init__(self, p=0.5):
        self.p = p

    def sample_params(self, x, generator):
        return {"flip": torch.rand(x.shape[0], generator=generator, device=x.device) < self.p}

    def apply(self, x, params):
        return torch.where(params["flip"].to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


def rgb_to_grey(x: torch.Tensor) -> torch.Tensor:
    """Luma with torchvision's weights (0.2989, 0.587, 0.114); ``(B, 3, H, W) -> (B, 1, H, W)``."""
    return x[:, 0:1] * 0.2989 + x[:, 1:2] * 0.587 + x[:, 2:3] * 0.114


def _blend(x: torch.Tensor, other, factor: torch.Tensor) -> torch.Tensor:
    # factor * x + (1 - factor) * other, in one kernel.
    return torch.lerp(other.expand_as(x), x, factor.expand_as(x)).clamp_(0, 1)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``(factor * x).clamp(0, 1)`` with a ``(B,)`` factor; images in [0, 1]."""
    return (x * factor.view(-1, 1, 1, 1)).clamp_(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the mean grey level of each image (torchvision's definition)."""
    grey = rgb_to_grey(x) if x.shape[1] == 3 else x
    return _blend(x, grey.mean(dim=(1, 2, 3), keepdim=True), factor.view(-1, 1, 1, 1))


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the grey image; a no-op for one channel (as torchvision)."""
    if x.shape[1] != 3:
        return x
    return _blend(x, rgb_to_grey(x), factor.view(-1, 1, 1, 1))


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(dim=1)
    maxc, minc = x.amax(dim=1), x.amin(dim=1)
    eqc = maxc == minc
    crange = maxc - minc
    ones = torch.ones_like(maxc)
    s = crange / torch.where(eqc, ones, maxc)
    divisor = torch.where(eqc, ones, crange)
    rc, gc, bc = (maxc - r) / divisor, (maxc - g) / divisor, (maxc - b) / divisor
    max_is_r = maxc == r
    max_is_g = (maxc == g) & ~max_is_r
    max_is_b = ~max_is_r & ~max_is_g
    h = (bc - gc) * max_is_r + (2.0 + rc - bc) * max_is_g + (4.0 + gc - rc) * max_is_b
    h = torch.fmod(h / 6.0 + 1.0, 1.0)
    return torch.stack((h, s, maxc), dim=1)


def _hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    h, s, v = hsv.unbind(dim=1)
    h6 = h * 6
    i = torch.floor(h6)
    f = h6 - i
    i = i.long().remainder(6)
    sv = s * v
    p = (v - sv).clamp(0.0, 1.0)
    q = (v - sv * f).clamp(0.0, 1.0)
    t = (sv * f + p).clamp(0.0, 1.0)
    vpqt = torch.stack((v, p, q, t), dim=1)
    select = torch.tensor([[0, 2, 1, 1, 3, 0], [3, 0, 0, 2, 1, 1], [1, 1, 3, 0, 0, 2]], device=hsv.device)
    index = select[:, i].permute(1, 0, 2, 3)  # (B, 3, H, W)
    return vpqt.gather(1, index)


def adjust_hue(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Rotate the hue by ``factor`` (in turns, ``[-0.5, 0.5]``) through HSV; one channel: no-op."""
    if x.shape[1] != 3:
        return x
    hsv = _rgb_to_hsv(x)
    h = torch.remainder(hsv[:, 0] + factor.view(-1, 1, 1), 1.0)
    return _hsv_to_rgb(torch.stack((h, hsv[:, 1], hsv[:, 2]), dim=1))


_JITTER_FNS = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)


class RandomColorJitter(_ParamOp):
    """torchvision's ``RandomApply([ColorJitter(b, c, s, h)], p)`` with per-sample parameters.

    Each sample draws whether it is jittered (probability ``p``), a brightness, contrast and
    saturation factor uniform in ``[max(0, 1 - v), 1 + v]``, a hue shift uniform in
    ``[-hue, hue]`` and, with ``random_order`` (torchvision's behaviour), its own order of
    the four adjustments. The adjustments follow torchvision's definitions on [0, 1] images;
    other value ranges are mapped to [0, 1] and back (``value_range``), so results stay in
    range. Per order slot, each adjustment runs once on the subset of samples that have it in
    that slot: the work is that of four whole-batch adjustments, with no loop over samples.

    Params: ``apply`` (bool), ``brightness``, ``contrast``, ``saturation``, ``hue`` (float)
    and ``order`` (int64, ``(B, 4)``; a permutation of 0..3 = brightness, contrast,
    saturation, hue).
    """

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, p=0.8, random_order=True,
                 value_range=(0.0, 1.0)):
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
        self.p = p
        self.random_order = random_order
        self.value_range = tuple(float(v) for v in value_range)

    def sample_params(self, x, generator):
        n, device = x.shape[0], x.device
        u = torch.rand(n, 5, generator=generator, device=device)

        def factor(col, v):
            return max(0.0, 1 - v) + (1 + v - max(0.0, 1 - v)) * u[:, col]

        params = {
            "apply": u[:, 0] < self.p,
            "brightness": factor(1, self.brightness),
            "contrast": factor(2, self.contrast),
            "saturation": factor(3, self.saturation),
            "hue": -self.hue + 2 * self.hue * u[:, 4],
        }
        if self.random_order:
            params["order"] = torch.rand(n, 4, generator=generator, device=device).argsort(dim=1)
        else:
            params["order"] = torch.arange(4, device=device).expand(n, 4)
        return params

    def _active(self) -> tuple[bool, ...]:
        return (self.brightness > 0, self.contrast > 0, self.saturation > 0, self.hue > 0)

    def apply(self, x, params):
        lo, hi = self.value_range
        rescale = (lo, hi) != (0.0, 1.0)
        out = (x - lo) / (hi - lo) if rescale else x
        apply = params["apply"].to(x.device)
        order = params["order"].to(x.device)
        factors = [params[k].to(x.device, x.dtype) for k in ("brightness", "contrast", "saturation", "hue")]
        active = self._active()
        for slot in range(4):
            for j, fn in enumerate(_JITTER_FNS):
                if not active[j] or (j >= 2 and x.shape[1] != 3):
                    continue
                idx = (apply & (order[:, slot] == j)).nonzero().squeeze(1)
                if idx.numel() == 0:
                    continue
                out = out.index_copy(0, idx, fn(out.index_select(0, idx), factors[j].index_select(0, idx)))
        return out * (hi - lo) + lo if rescale else out

    def __repr__(self) -> str:
        return (
            f"RandomColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
            f"saturation={self.saturation}, hue={self.hue}, p={self.p})"
        )


class RandomGreyscale(_ParamOp):
    """torchvision's ``RandomGrayscale(p)`` per sample: luma copied to the 3 channels.

    Params: ``apply`` (bool, ``(B,)``). Images with other than 3 channels pass unchanged.
    """

    def __init__(self, p=0.2):
        self.p = p

    def sample_params(self, x, generator):
        return {"apply": torch.rand(x.shape[0], generator=generator, device=x.device) < self.p}

    def apply(self, x, params):
        if x.shape[1] != 3:
            return x
        return torch.where(params["apply"].to(x.device).view(-1, 1, 1, 1), rgb_to_grey(x).expand_as(x), x)

    def __repr__(self) -> str:
        return f"RandomGreyscale(p={self.p})"


class RandomGaussianBlur(_ParamOp):
    """torchvision's ``RandomApply([GaussianBlur(kernel_size, sigma)], p)`` per sample.

    Each sample draws whether it is blurred and its ``sigma`` uniform in ``sigma``. The blur
    is separable with reflect padding, as torchvision's; the blurred subset runs as two
    grouped convolutions (one kernel per sample and channel, ``groups = n * C``).

    Params: ``apply`` (bool) and ``sigma`` (float), each ``(B,)``.
    """

    def __init__(self, kernel_size=23, sigma=(0.1, 2.0), p=0.5):
        if kernel_size % 2 != 1 or kernel_size < 1:
            raise ValueError(f"kernel_size must be odd and positive; got {kernel_size}.")
        self.kernel_size = kernel_size
        self.sigma = tuple(sigma)
        self.p = p

    def sample_params(self, x, generator):
        u = torch.rand(x.shape[0], 2, generator=generator, device=x.device)
        return {"apply": u[:, 0] < self.p, "sigma": self.sigma[0] + (self.sigma[1] - self.sigma[0]) * u[:, 1]}

    def apply(self, x, params):
        idx = params["apply"].to(x.device).nonzero().squeeze(1)
        if idx.numel() == 0:
            return x
        sub = x.index_select(0, idx)
        n, c, h, w = sub.shape
        # Reflect padding needs half < side: small images get the largest kernel that fits.
        k = min(self.kernel_size, 2 * (min(h, w) - 1) + 1)
        half = k // 2
        pos = torch.linspace(-half, half, k, device=x.device, dtype=torch.float32)
        sigma = params["sigma"].to(x.device, torch.float32).index_select(0, idx)
        kernel = torch.softmax(-0.5 * (pos[None] / sigma[:, None]) ** 2, dim=1)  # (n, k), sums to 1
        kernel = kernel.repeat_interleave(c, dim=0).to(x.dtype)  # (n*c, k)
        flat = F.pad(sub.reshape(1, n * c, h, w), (half, half, half, half), mode="reflect")
        flat = F.conv2d(flat, kernel.view(n * c, 1, 1, k), groups=n * c)
        flat = F.conv2d(flat, kernel.view(n * c, 1, k, 1), groups=n * c)
        return x.index_copy(0, idx, flat.reshape(n, c, h, w))

    def __repr__(self) -> str:
        return f"RandomGaussianBlur(kernel_size={self.kernel_size}, sigma={self.sigma}, p={self.p})"
