"""Random erasing (Zhong et al., AAAI 2020; torchvision's ``RandomErasing``), batched.

Erasing a random rectangle hides part of the object, so instance contrast has to match two
views from what is left: the features stop depending on any single stroke or part. On
handwritten digits it was tried to join styles that differ by one stroke (the 7 with and
without a crossbar), which style warps (:mod:`deepclust.augment.warp`) cannot do; on MNIST it
did not join them (see ``grey_preset``'s ``erase_p``), so the presets leave it off.
"""

from __future__ import annotations

import math

import torch

from . import _checks
from .ops import _bernoulli, _uniform

__all__ = ["RandomErasing"]


class RandomErasing:
    """torchvision's ``RandomErasing`` with per-sample rectangles, for a whole batch at once.

    With probability ``p`` a sample gets one rectangle set to ``value``. As in torchvision,
    the rectangle's area is a fraction uniform in ``scale`` of the image, its aspect ratio
    log-uniform in ``ratio``, its height and width ``round(sqrt(area * ratio))`` and
    ``round(sqrt(area / ratio))``; up to ``attempts`` draws are made until both are smaller
    than the image (else the sample is left unchanged); the top-left corner is uniform over
    the positions where the rectangle fits.

    Params: ``top``, ``left``, ``height``, ``width`` (B,) integer tensors; a height of 0
    leaves the sample unchanged.

    Parameters
    ----------
    p : float, default=0.5
        Probability that a sample is erased.
    scale : tuple of float, default=(0.02, 0.33)
        Range of the erased fraction of the image area.
    ratio : tuple of float, default=(0.3, 3.3)
        Range of the rectangle's aspect ratio (height / width), sampled log-uniformly.
    value : float, default=0.0
        The value written into the rectangle (all channels), e.g. the background level.
    attempts : int, default=10
        Draws per sample before giving up (torchvision: 10).

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import RandomErasing
    >>> x = torch.ones(2, 1, 4, 4)
    >>> params = {"top": torch.tensor([1, 0]), "left": torch.tensor([0, 0]),
    ...           "height": torch.tensor([2, 0]), "width": torch.tensor([3, 0])}
    >>> out = RandomErasing().apply(x, params)
    >>> out[0, 0]
    tensor([[1., 1., 1., 1.],
            [0., 0., 0., 1.],
            [0., 0., 0., 1.],
            [1., 1., 1., 1.]])
    >>> torch.equal(out[1], x[1])  # height 0: unchanged
    True
    """

    _fresh_output = True

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0.0, attempts=10):
        owner = "RandomErasing"
        self.p = _checks.probability(owner, "p", p)
        self.scale = _checks.interval(owner, "scale", scale, 0.0, 1.0, low_open=True)
        self.ratio = _checks.interval(owner, "ratio", ratio, 0.0, low_open=True)
        self.value = _checks.real(owner, "value", value)
        self.attempts = _checks.positive_int(owner, "attempts", attempts)

    def sample_params(self, x: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        n, device = x.shape[0], x.device
        height, width = x.shape[-2:]
        k = self.attempts
        area = _uniform(n * k, *self.scale, generator, device).view(n, k) * (height * width)
        log_ratio = _uniform(n * k, math.log(self.ratio[0]), math.log(self.ratio[1]), generator, device).view(n, k)
        aspect = torch.exp(log_ratio)
        h = torch.round(torch.sqrt(area * aspect)).long()
        w = torch.round(torch.sqrt(area / aspect)).long()
        fits = (h < height) & (w < width)
        first = fits.long().argmax(dim=1, keepdim=True)  # the first draw that fits (0 if none)
        ok = fits.gather(1, first).squeeze(1) & _bernoulli(n, self.p, generator, device)
        h = h.gather(1, first).squeeze(1) * ok
        w = w.gather(1, first).squeeze(1) * ok
        top = (torch.rand(n, generator=generator, device=device) * (height - h + 1)).long()
        left = (torch.rand(n, generator=generator, device=device) * (width - w + 1)).long()
        return {"top": top, "left": left, "height": h, "width": w}

    def apply(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        height, width = x.shape[-2:]
        top, left, h, w = (params[k].to(x.device).view(-1, 1, 1) for k in ("top", "left", "height", "width"))
        rows = torch.arange(height, device=x.device).view(1, -1, 1)
        cols = torch.arange(width, device=x.device).view(1, 1, -1)
        inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)  # (B, H, W)
        return x.masked_fill(inside.unsqueeze(1), self.value)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(x, self.sample_params(x, generator))

    def __repr__(self) -> str:
        return f"RandomErasing(p={self.p}, scale={self.scale}, ratio={self.ratio}, value={self.value})"
