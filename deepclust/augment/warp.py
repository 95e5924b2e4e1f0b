"""Shape augmentation for handwriting and other small grey images: affine + elastic warps, stroke width.

Instance contrast on digits (USPS, MNIST, sklearn's digits) learns what its augmentations
leave unchanged. Crops and small rotations leave writing *style* (slant, stroke shape,
thickness) unchanged too, so the features separate styles as well as digits: on USPS,
k-means on such features scored below k-means on the raw pixels. Warps that change the
style but not the digit (Simard et al., ICDAR 2003: affine and elastic distortions;
stroke width) make the features style-invariant. The ops follow torchvision's definitions
(``RandomAffine`` + ``ElasticTransform``, ``F.affine`` / ``F.elastic``) with per-sample
parameters and one ``grid_sample`` for the whole batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import _checks
from .ops import _bernoulli, _uniform, _warp_in_float32

__all__ = ["RandomAffineElastic", "RandomStrokeWidth", "gaussian_displacement"]


def _gaussian_kernel(sigma: float, dtype, device) -> torch.Tensor:
    """torchvision's ``ElasticTransform`` kernel: size ``8 sigma + 1`` (made odd), sampled pdf."""
    size = int(8 * sigma + 1)
    size += size % 2 == 0
    half = (size - 1) * 0.5
    x = torch.linspace(-half, half, size, dtype=dtype, device=device)
    pdf = torch.exp(-0.5 * (x / sigma) ** 2)
    return pdf / pdf.sum()


def gaussian_displacement(noise: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
    """Elastic displacement fields from uniform noise, as torchvision's ``ElasticTransform``.

    Each of the two planes of ``noise`` (uniform in [-1, 1]) is blurred by a Gaussian of
    ``sigma`` pixels (kernel ``8 sigma + 1``, reflect padding) and scaled by ``alpha /
    width`` (x) or ``alpha / height`` (y): a displacement in the normalised coordinates of
    ``grid_sample``, where the image spans [-1, 1].

    Parameters
    ----------
    noise : Tensor of shape (B, 2, H, W)
        Uniform noise in [-1, 1] (x plane, y plane).
    alpha : float
        Magnitude (torchvision's ``alpha``).
    sigma : float
        Smoothness in pixels (torchvision's ``sigma``); 0 for no blur.

    Returns
    -------
    displacement : Tensor of shape (B, H, W, 2)

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment.warp import gaussian_displacement
    >>> noise = torch.rand(3, 2, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    >>> d = gaussian_displacement(noise, alpha=14.0, sigma=2.0)
    >>> d.shape, bool(d.abs().max() < 14.0 / 16)
    (torch.Size([3, 16, 16, 2]), True)
    """
    n, _, height, width = noise.shape
    field = noise
    if sigma > 0:
        kernel = _gaussian_kernel(sigma, noise.dtype, noise.device)
        pad_w = min(kernel.numel() // 2, width - 1)
        pad_h = min(kernel.numel() // 2, height - 1)
        # Reflect padding needs pad < size; a kernel wider than the image is cropped to fit.
        kx = kernel[kernel.numel() // 2 - pad_w : kernel.numel() // 2 + pad_w + 1]
        ky = kernel[kernel.numel() // 2 - pad_h : kernel.numel() // 2 + pad_h + 1]
        kx, ky = kx / kx.sum(), ky / ky.sum()
        field = F.pad(field, (pad_w, pad_w, pad_h, pad_h), mode="reflect")
        field = F.conv2d(field, kx.view(1, 1, 1, -1).expand(2, 1, 1, -1), groups=2)
        field = F.conv2d(field, ky.view(1, 1, -1, 1).expand(2, 1, -1, 1), groups=2)
    scale = torch.tensor([alpha / width, alpha / height], dtype=noise.dtype, device=noise.device)
    return field.permute(0, 2, 3, 1) * scale


class RandomAffineElastic:
    """Random affine warp (rotation, shear, scale, translation) and elastic distortion, per sample.

    Per sample: a rotation uniform in ``[-degrees, degrees]``, a shear parallel to the x axis
    uniform in ``[-shear, shear]`` degrees, a scale uniform in ``scale`` (above 1 zooms in),
    a translation uniform in ``[-translate, translate]`` of the width and height, and, with
    probability ``elastic_p``, torchvision's elastic displacement field (``alpha``,
    ``sigma``; see :func:`gaussian_displacement`). The affine part is torchvision's
    ``F.affine`` about the image centre (without its rounding of translations to whole
    pixels); the displacement is added to the sampling grid, as torchvision's ``F.elastic``
    does. Everything is one ``affine_grid`` + ``grid_sample`` (bilinear) for the batch;
    outside the image the result is ``fill``.

    Parameters
    ----------
    degrees : float, default=15.0
    shear : float, default=15.0
        In degrees.
    scale : tuple of float, default=(0.85, 1.15)
    translate : float, default=0.1
        Fraction of the image size.
    alpha : float, default=0.0
        Elastic magnitude (torchvision's); 0 disables the elastic part.
    sigma : float, default=2.0
        Elastic smoothness in pixels.
    elastic_p : float, default=1.0
        Probability that a sample is distorted elastically.
    fill : float, default=0.0
        Value outside the image (the background: the low end of the value range).

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import RandomAffineElastic
    >>> op = RandomAffineElastic(degrees=15, shear=15, alpha=14.0, sigma=2.0)
    >>> x = torch.rand(8, 1, 16, 16)
    >>> out = op(x, torch.Generator().manual_seed(0))
    >>> out.shape, bool(out.min() >= 0) and bool(out.max() <= 1)
    (torch.Size([8, 1, 16, 16]), True)
    >>> identity = RandomAffineElastic(degrees=0, shear=0, scale=(1, 1), translate=0)
    >>> torch.allclose(identity(x, torch.Generator()), x, atol=1e-6)
    True
    """

    _fresh_output = True

    def __init__(self, degrees=15.0, shear=15.0, scale=(0.85, 1.15), translate=0.1, alpha=0.0, sigma=2.0,
                 elastic_p=1.0, fill=0.0):
        owner = "RandomAffineElastic"
        self.degrees = _checks.real(owner, "degrees", degrees, 0.0)
        self.shear = _checks.real(owner, "shear", shear, 0.0)
        self.scale = _checks.interval(owner, "scale", scale, 0.0, low_open=True)
        self.translate = _checks.real(owner, "translate", translate, 0.0)
        self.alpha = _checks.real(owner, "alpha", alpha, 0.0)
        self.sigma = _checks.real(owner, "sigma", sigma, 0.0, low_open=True)
        self.elastic_p = _checks.probability(owner, "elastic_p", elastic_p)
        self.fill = _checks.real(owner, "fill", fill)

    def sample_params(self, x: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``angle``, ``shear`` (degrees), ``scale``, ``translate`` (pixels, (B, 2)) and
        ``displacement`` ((B, H, W, 2), or None without the elastic part)."""
        n, device = x.shape[0], x.device
        height, width = x.shape[-2:]
        params = {
            "angle": _uniform(n, -self.degrees, self.degrees, generator, device),
            "shear": _uniform(n, -self.shear, self.shear, generator, device),
            "scale": _uniform(n, *self.scale, generator, device),
            "translate": torch.stack(
                [
                    _uniform(n, -self.translate * width, self.translate * width, generator, device),
                    _uniform(n, -self.translate * height, self.translate * height, generator, device),
                ],
                dim=1,
            ),
            "displacement": None,
        }
        if self.alpha > 0:
            # At least float32 (the displacement is a sampling coordinate, see apply).
            dtype = torch.promote_types(x.dtype, torch.float32)
            noise = torch.rand((n, 2, height, width), generator=generator, device=device, dtype=dtype) * 2 - 1
            on = _bernoulli(n, self.elastic_p, generator, device).to(dtype)
            params["displacement"] = gaussian_displacement(noise, self.alpha, self.sigma) * on.view(n, 1, 1, 1)
        return params

    @_warp_in_float32
    def apply(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        if x.shape[0] == 0:
            return x.clone()
        height, width = x.shape[-2:]
        grid = F.affine_grid(_inverse_affine(params, height, width, x.dtype), list(x.shape), align_corners=False)
        if params.get("displacement") is not None:
            grid = grid + params["displacement"].to(x.dtype)
        if self.fill:
            # grid_sample pads with zeros: shift the values so that the padding is ``fill``.
            return F.grid_sample(x - self.fill, grid, mode="bilinear", padding_mode="zeros",
                                 align_corners=False).add_(self.fill)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(x, self.sample_params(x, generator))

    def __repr__(self) -> str:
        return (
            f"RandomAffineElastic(degrees={self.degrees}, shear={self.shear}, scale={self.scale}, "
            f"translate={self.translate}, alpha={self.alpha}, sigma={self.sigma}, elastic_p={self.elastic_p})"
        )


def _inverse_affine(params: dict[str, torch.Tensor], height: int, width: int, dtype) -> torch.Tensor:
    """torchvision's ``_get_inverse_affine_matrix`` (centre 0, x shear) per sample, as the
    ``(B, 2, 3)`` theta of ``affine_grid`` in normalised coordinates."""
    # float64 like torchvision's Python arithmetic, except on MPS, which has no float64.
    wide = torch.float32 if params["angle"].device.type == "mps" else torch.float64
    rot = torch.deg2rad(params["angle"].to(wide))
    sx = torch.deg2rad(params["shear"].to(wide))
    scale = params["scale"].to(wide)
    tx, ty = params["translate"].to(wide).unbind(dim=1)
    # Rotation-scale-shear (torchvision: sy = 0), inverted; det = 1 before scaling.
    a = torch.cos(rot)
    b = -torch.cos(rot) * torch.tan(sx) - torch.sin(rot)
    c = torch.sin(rot)
    d = -torch.sin(rot) * torch.tan(sx) + torch.cos(rot)
    m0, m1, m3, m4 = d / scale, -b / scale, -c / scale, a / scale
    m2 = m0 * -tx + m1 * -ty
    m5 = m3 * -tx + m4 * -ty
    # Pixel coordinates (origin at the centre) to grid_sample's [-1, 1].
    hw = height / width
    theta = torch.stack(
        [torch.stack([m0, m1 * hw, 2 * m2 / width], dim=1), torch.stack([m3 / hw, m4, 2 * m5 / height], dim=1)],
        dim=1,
    )
    return theta.to(dtype)


class RandomStrokeWidth:
    """Thicker or thinner strokes: a per-sample blend towards a 3x3 dilation or erosion.

    With probability ``p`` a sample draws an amount ``t`` uniform in ``strength`` and a
    direction (50/50): the result is ``(1 - t) x + t max_3x3(x)`` (thicker bright strokes)
    or ``(1 - t) x + t min_3x3(x)`` (thinner). Values stay within the input's range.

    Params: ``amount`` (B,), in [-1, 1]: positive dilates, negative erodes, 0 leaves the
    sample unchanged.

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import RandomStrokeWidth
    >>> x = torch.zeros(2, 1, 5, 5)
    >>> x[:, :, 2, 2] = 1.0  # one bright pixel
    >>> out = RandomStrokeWidth().apply(x, {"amount": torch.tensor([1.0, 0.0])})
    >>> int(out[0].sum()), torch.equal(out[1], x[1])  # dilated to 3x3; unchanged
    (9, True)
    """

    _fresh_output = True

    def __init__(self, p=0.5, strength=(0.0, 0.6)):
        self.p = _checks.probability("RandomStrokeWidth", "p", p)
        self.strength = _checks.interval("RandomStrokeWidth", "strength", strength, 0.0, 1.0)

    def sample_params(self, x: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        n, device = x.shape[0], x.device
        amount = _uniform(n, *self.strength, generator, device)
        on = _bernoulli(n, self.p, generator, device)
        sign = torch.where(_bernoulli(n, 0.5, generator, device), 1.0, -1.0)
        return {"amount": amount * sign * on}

    def apply(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        amount = params["amount"].to(x.device, x.dtype).view(-1, *([1] * (x.dim() - 1)))
        dilated = F.max_pool2d(x, 3, stride=1, padding=1)
        eroded = F.max_pool2d(x.neg(), 3, stride=1, padding=1).neg_()
        # x + t+ (dilated - x) + t- (eroded - x), with t+ = max(a, 0), t- = max(-a, 0).
        out = dilated.sub_(x).mul_(amount.clamp(min=0)).add_(x)
        return out.add_(eroded.sub_(x).mul_(amount.neg().clamp_(min=0)))

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(x, self.sample_params(x, generator))

    def __repr__(self) -> str:
        return f"RandomStrokeWidth(p={self.p}, strength={self.strength})"
