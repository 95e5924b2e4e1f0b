"""Batched augmentation ops with per-sample random parameters.

Every op is a callable ``op(x, generator) -> x`` on a batch living on any device. All random
parameters of a batch are drawn at once, with a leading batch dimension, from ``generator``
(which must live on ``x``'s device), and applied with vectorised tensor operations: no Python
loop over samples. Ops never modify their input in place; inside a :class:`Compose`, the
ops that support it (``inplace=True``) update the intermediate batches that the pipeline
itself allocated, which saves a copy of the batch per op.

CPU cost model behind the implementation (measured on a 256 x 3 x 32 x 32 float32 batch,
one thread): an in-place elementwise pass over the batch costs about 0.12 ms, an
out-of-place one about twice that (a fresh 3 MB buffer page-faults), and ops on boolean
masks (``torch.where``, ``masked_fill``) about ten times as much; the colour ops therefore
use float arithmetic (``sign``, ``lerp``, ``clamp``) for their selections and work in place.
The CC/SimCLR ops augment data: they are not differentiable with respect to an input that
requires grad (``out=`` and in-place kernels); call them under ``torch.no_grad()``, as the
trainers do.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from numbers import Integral

import torch
import torch.nn.functional as F

from . import _checks


_HALF_DTYPES = (torch.float16, torch.bfloat16)


def _warp_in_float32(method):
    """Run a warp ``method(self, x, ...)`` in float32 when ``x`` is float16 or bfloat16.

    Sampling coordinates in half precision are off by a fraction of a pixel (up to 0.17 in
    bfloat16); computed in float32, only the output is rounded back to ``x``'s dtype.
    """

    @functools.wraps(method)
    def run(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if x.dtype in _HALF_DTYPES:
            return method(self, x.float(), *args, **kwargs).to(x.dtype)
        return method(self, x, *args, **kwargs)

    return run


# Reusable work buffers (CPU). A fresh multi-megabyte tensor is page-faulted in by the OS on
# first touch, which costs about as much as 5-10 elementwise passes over it; buffers that
# never leave an op are therefore kept per thread and reused from one batch to the next.
# (CUDA has its caching allocator; there, and above the size cap, buffers are allocated.)
_SCRATCH = threading.local()
_SCRATCH_MAX_BYTES = 64 * 2**20


def _scratch(tag: str, shape, like: torch.Tensor) -> torch.Tensor:
    """An uninitialised ``shape`` tensor of ``like``'s dtype and device, reused across calls.

    The contents are undefined and the memory is shared with the next call that uses
    ``tag`` on this thread: never return it (or a view of it) from an op.
    """
    numel = math.prod(shape)
    grad = torch.is_grad_enabled() and like.requires_grad  # out= arguments do not support autograd
    if like.device.type != "cpu" or grad or numel * like.element_size() > _SCRATCH_MAX_BYTES:
        return torch.empty(shape, dtype=like.dtype, device=like.device)
    buffers = getattr(_SCRATCH, "buffers", None)
    if buffers is None:
        buffers = _SCRATCH.buffers = {}
    key = (tag, like.dtype)
    buf = buffers.get(key)
    if buf is None or buf.numel() < numel:
        buf = buffers[key] = torch.empty(numel, dtype=like.dtype)
    return buf[:numel].view(shape)


# Intra-op threads. The ops are a few hundred short memory-bound passes per batch; on the
# CPU, OpenMP's fork/join per op buys little, and when the cores are shared (other jobs,
# DataLoader workers) each join waits for a descheduled thread: measured on 2 loaded cores,
# two views of 32 CIFAR images took 350 ms with 2 threads and 5 ms with 1. ``Compose``
# therefore runs batches of up to this many elements (85 RGB 32x32 images) with one thread
# (restored afterwards; with the OpenMP backend the setting is per calling thread). Larger
# batches keep torch's threads: on 2 idle cores a 256-image CIFAR batch ran at ~11-13k
# two-view images/s with 1 thread and ~17-18k with 2.
_ONE_THREAD_MAX_NUMEL = 1 << 18
_OPENMP_BACKEND = "parallel backend: OpenMP" in torch.__config__.parallel_info()


@contextlib.contextmanager
def _cpu_one_thread(x: torch.Tensor):
    threads = torch.get_num_threads()
    if threads == 1 or not _OPENMP_BACKEND or x.device.type != "cpu" or x.numel() > _ONE_THREAD_MAX_NUMEL:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _uniform(n: int, low: float, high: float, generator: torch.Generator, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def _bernoulli(n: int, p: float, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device) < p


class Compose:
    """Apply ops in sequence.

    The caller's batch is never modified. Once an op of this module has returned a new
    tensor, the following ops that support it (``RandomColorJitter``, ``RandomGreyscale``,
    ``Clamp``) update that intermediate batch in place instead of copying it. Other
    callables are always called as ``op(x, generator)``, and their outputs are never
    modified in place. On the CPU, batches of up to 2**18 elements (e.g. 85 RGB 32 x 32
    images) run with one intra-op thread: the ops are many short passes, for which OpenMP's
    synchronisation costs more than it saves, by orders of magnitude on shared cores.
    Larger batches keep torch's threads.

    Parameters
    ----------
    ops : iterable of callables
        Each ``op(x, generator) -> x``.

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import Clamp, Compose, RandomResizedCrop
    >>> aug = Compose([RandomResizedCrop(scale=(0.5, 1.0)), Clamp((0.0, 1.0))])
    >>> x = torch.rand(4, 3, 16, 16)
    >>> out = aug(x, torch.Generator().manual_seed(0))
    >>> out.shape, out.dtype
    (torch.Size([4, 3, 16, 16]), torch.float32)
    >>> bool(out.min() >= 0) and bool(out.max() <= 1)
    True
    """

    def __init__(self, ops):
        self.ops = list(ops)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        owned = False  # whether x was allocated by this pipeline (may be updated in place)
        with _cpu_one_thread(x):
            for op in self.ops:
                if owned and getattr(op, "_inplace", False):
                    x = op(x, generator, inplace=True)  # x itself or a new tensor: still owned
                    continue
                y = op(x, generator)
                if y is not x:
                    owned = getattr(op, "_fresh_output", False)
                x = y
        return x

    def __repr__(self) -> str:
        return f"Compose({self.ops!r})"


class Clamp:
    """Clip to ``value_range`` (resampling and blending can overshoot by rounding errors).

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import Clamp
    >>> Clamp((0.0, 1.0))(torch.tensor([-0.5, 0.25, 1.5]))
    tensor([0.0000, 0.2500, 1.0000])
    """

    _inplace = True  # Compose may clip its own intermediate batches in place
    _fresh_output = True

    def __init__(self, value_range=(0.0, 1.0)):
        self.value_range = _checks.interval("Clamp", "value_range", value_range)

    def __call__(
        self, x: torch.Tensor, generator: torch.Generator | None = None, inplace: bool = False
    ) -> torch.Tensor:
        return x.clamp_(*self.value_range) if inplace else x.clamp(*self.value_range)

    def __repr__(self) -> str:
        return f"Clamp({self.value_range})"


class RandomResizedCropAffine:
    """Random resized crop, horizontal flip, rotation and translation as one affine warp.

    Each sample draws a crop area fraction in ``scale`` and an aspect ratio in ``ratio``
    (width / height in pixels, as torchvision's; log-uniform), a crop centre such that the
    crop lies inside the image (when it fits), a flip with probability ``flip_p``, a
    rotation in ``[-degrees, degrees]`` (rigid in pixels, also on non-square images) and an extra
    translation of up to ``translate`` of the image size. The composed matrices of the whole
    batch drive one ``affine_grid`` + ``grid_sample`` call (bilinear, zero padding outside).

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import RandomResizedCropAffine
    >>> op = RandomResizedCropAffine(scale=(0.6, 1.0), degrees=12.0, translate=0.05)
    >>> out = op(torch.rand(8, 1, 28, 28), torch.Generator().manual_seed(0))
    >>> out.shape
    torch.Size([8, 1, 28, 28])
    """

    _fresh_output = True

    def __init__(self, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3), flip_p=0.0, degrees=0.0, translate=0.0):
        owner = "RandomResizedCropAffine"
        self.scale = _checks.interval(owner, "scale", scale, 0.0, low_open=True)
        self.ratio = _checks.interval(owner, "ratio", ratio, 0.0, low_open=True)
        self.flip_p = _checks.probability(owner, "flip_p", flip_p)
        self.degrees = _checks.real(owner, "degrees", degrees, 0.0)
        self.translate = _checks.real(owner, "translate", translate, 0.0)

    @_warp_in_float32
    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, device = x.shape[0], x.device
        if n == 0:
            return x.clone()
        height, width = x.shape[-2:]
        area = _uniform(n, *self.scale, generator, device)
        log_ratio = _uniform(n, math.log(self.ratio[0]), math.log(self.ratio[1]), generator, device)
        # ratio is width / height in pixels (as torchvision's); as fractions of the sides:
        aspect = torch.exp(log_ratio) * (height / width)
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
        # A rotation in pixels, written in affine_grid's [-1, 1] coordinates, whose x and y
        # units differ when height != width: the off-diagonal terms carry the aspect ratio.
        theta = torch.stack(
            [
                torch.stack([w * cos * flip, -h * sin * (height / width), cx], dim=1),
                torch.stack([w * sin * flip * (width / height), h * cos, cy], dim=1),
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
    image) and clamp to [0, 1]. Saturation is skipped for single-channel images. The order
    is fixed and there is no hue: the presets use :class:`RandomColorJitter`.

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment.ops import ColorJitter
    >>> out = ColorJitter(p=1.0)(torch.rand(4, 3, 8, 8), torch.Generator().manual_seed(0))
    >>> out.shape, bool(out.min() >= 0) and bool(out.max() <= 1)
    (torch.Size([4, 3, 8, 8]), True)
    """

    _fresh_output = True

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
    """Replace RGB images by their luma (kept 3-channel) with probability ``p`` per sample.

    ITU-R 601-2 weights (0.299, 0.587, 0.114); the presets use :class:`RandomGreyscale`,
    which has torchvision's weights and draws its parameters with ``sample_params``.

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment.ops import RandomGrayscale
    >>> out = RandomGrayscale(p=1.0)(torch.rand(2, 3, 4, 4), torch.Generator())
    >>> torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    True
    """

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
    """Add ``N(0, (std * scale)^2)`` noise; ``scale`` is per feature (tabular) or a scalar.

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import GaussianNoise
    >>> x = torch.zeros(100, 5)
    >>> out = GaussianNoise(0.1, scale=torch.ones(5))(x, torch.Generator().manual_seed(0))
    >>> out.shape, bool(out.abs().max() < 1.0)
    (torch.Size([100, 5]), True)
    >>> clipped = GaussianNoise(0.5, clamp=(0.0, 1.0))(x, torch.Generator().manual_seed(0))
    >>> bool(clipped.min() >= 0)
    True
    """

    _fresh_output = True

    def __init__(self, std=0.1, scale: torch.Tensor | float = 1.0, clamp: tuple[float, float] | None = None):
        self.std = _checks.real("GaussianNoise", "std", std, 0.0)
        self.scale = scale
        self.clamp = None if clamp is None else _checks.interval("GaussianNoise", "clamp", clamp)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        scale = self.scale.to(x.device, x.dtype) if isinstance(self.scale, torch.Tensor) else self.scale
        out = x + noise * (self.std * scale)
        return out.clamp(*self.clamp) if self.clamp is not None else out

    def __repr__(self) -> str:
        return f"GaussianNoise(std={self.std})"


class CorrelatedNoise:
    """Add ``scale * z @ factor`` with ``z ~ N(0, I)``: Gaussian noise of covariance
    ``scale**2 * factor.T @ factor``.

    ``factor`` is ``(r, n_features)``; with the factor of a covariance matrix (for example
    :meth:`deepclust.training.input_space.InputSpace.within_cluster_factor`, the square root
    of the within-cluster covariance of the input) the noise moves a sample along the
    directions in which the data vary *inside* its clusters, not across them.

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import CorrelatedNoise
    >>> factor = torch.tensor([[1.0, 1.0]])  # all the noise on the diagonal direction
    >>> out = CorrelatedNoise(factor)(torch.zeros(1000, 2), torch.Generator().manual_seed(0))
    >>> bool((out[:, 0] == out[:, 1]).all()), round(float(out[:, 0].std()), 1)
    (True, 1.0)
    """

    _fresh_output = True

    def __init__(self, factor: torch.Tensor, scale=1.0):
        factor = torch.as_tensor(factor, dtype=torch.float32)
        if factor.ndim != 2 or not bool(torch.isfinite(factor).all()):
            raise ValueError(
                f"CorrelatedNoise: factor must be a finite (r, n_features) matrix; got shape {tuple(factor.shape)}."
            )
        self.factor = factor
        self.scale = _checks.real("CorrelatedNoise", "scale", scale, 0.0)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.factor.shape[1]:
            raise ValueError(
                f"CorrelatedNoise: expected a batch of shape (B, {self.factor.shape[1]}); got {tuple(x.shape)}."
            )
        z = torch.randn((x.shape[0], self.factor.shape[0]), generator=generator, device=x.device, dtype=x.dtype)
        return x + self.scale * (z @ self.factor.to(x.device, x.dtype))

    def __repr__(self) -> str:
        return f"CorrelatedNoise(rank={self.factor.shape[0]}, scale={self.scale})"


class MixtureNoise:
    """Add Gaussian noise with the covariance of the sample's most probable mixture component.

    A Gaussian mixture (``means``, ``covariances``, ``weights``, as scikit-learn's
    ``GaussianMixture`` with full covariances fits them) lives in a space a raw row ``x``
    maps to as ``(x - center) @ projection`` (for the engine: standardised and PCA-reduced),
    and a step ``v`` in that space maps back to the raw features as ``v @ back``. Each sample
    is assigned the component of highest posterior probability, and ``scale * v @ back``
    with ``v ~ N(0, covariances[k])`` is added: where the clusters differ in shape, a sample
    varies the way the samples of *its* cluster vary, not the way all clusters vary on
    average (:class:`CorrelatedNoise` with the pooled covariance). Ours; see
    :mod:`deepclust.training.input_mixture`.

    Parameters
    ----------
    means : tensor of shape (K, d)
    covariances : tensor of shape (K, d, d)
        Symmetric positive definite.
    weights : tensor of shape (K,)
        Positive mixing weights.
    projection : tensor of shape (n_features, d)
    center : tensor of shape (n_features,)
    back : tensor of shape (d, n_features)
    scale : float, default=1.0
        Multiplies the noise's standard deviation.

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import MixtureNoise
    >>> noise = MixtureNoise(means=torch.tensor([[-5.0, 0.0], [5.0, 0.0]]),
    ...                      covariances=torch.stack([torch.diag(torch.tensor([1.0, 1e-12])),
    ...                                               torch.diag(torch.tensor([1e-12, 1.0]))]),
    ...                      weights=torch.tensor([0.5, 0.5]), projection=torch.eye(2), center=torch.zeros(2),
    ...                      back=torch.eye(2))
    >>> out = noise(torch.tensor([[-5.0, 0.0], [5.0, 0.0]]), torch.Generator().manual_seed(0))
    >>> bool(abs(out[0, 1]) < 1e-3 and abs(out[1, 0] - 5.0) < 1e-3)  # each row moves along its own cluster
    True
    """

    _fresh_output = True

    def __init__(self, means, covariances, weights, projection, center, back, scale=1.0):
        owner = "MixtureNoise"
        given = {
            "means": means, "covariances": covariances, "weights": weights, "projection": projection,
            "center": center, "back": back,
        }
        given = {name: torch.as_tensor(value, dtype=torch.float64) for name, value in given.items()}
        for name, value in given.items():
            if not bool(torch.isfinite(value).all()):
                raise ValueError(f"{owner}: {name} must be finite.")
        k, d = given["means"].shape if given["means"].ndim == 2 else (None, None)
        n_features = given["center"].shape[0] if given["center"].ndim == 1 else None
        expected = {
            "means": (k, d), "covariances": (k, d, d), "weights": (k,), "projection": (n_features, d),
            "center": (n_features,), "back": (d, n_features),
        }
        for name, shape in expected.items():
            got = tuple(given[name].shape)
            if None in shape or got != shape:
                raise ValueError(f"{owner}: {name} must have shape (K, d, n_features as means and center give); got {got}.")
        if not bool((given["weights"] > 0).all()):
            raise ValueError(f"{owner}: weights must be positive.")
        try:
            # L L^T = covariance draws the noise; (L^{-1})^T whitens for the posterior.
            chol = torch.linalg.cholesky(given["covariances"])
        except RuntimeError as error:  # torch.linalg.LinAlgError
            raise ValueError(f"{owner}: covariances must be symmetric positive definite ({error}).") from None
        eye = torch.eye(d, dtype=torch.float64).expand(k, d, d)
        self.whiten = torch.linalg.solve_triangular(chol, eye, upper=False).transpose(1, 2).float()  # (K, d, d)
        # Noise factors straight to the raw features: v @ back with v = z @ L^T.
        self.factors = (chol.transpose(1, 2) @ given["back"]).float()  # (K, d, n_features)
        self.means = given["means"].float()
        self.projection = given["projection"].float()
        self.center = given["center"].float()
        # The log-density's per-component terms: log weight - log det L.
        self._log_prior = (given["weights"].log() - torch.diagonal(chol, dim1=1, dim2=2).log().sum(1)).float()
        self.scale = _checks.real(owner, "scale", scale, 0.0)

    def components(self, x: torch.Tensor) -> torch.Tensor:
        """The most probable component of every row of ``x`` (``(B,)`` int64)."""
        device = x.device
        reduced = (x.float() - self.center.to(device)) @ self.projection.to(device)
        centred = reduced[:, None, :] - self.means.to(device)  # (B, K, d)
        whitened = torch.einsum("bkd,kde->bke", centred, self.whiten.to(device))
        return (self._log_prior.to(device) - 0.5 * whitened.square().sum(-1)).argmax(1)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n_features = self.center.shape[0]
        if x.ndim != 2 or x.shape[1] != n_features:
            raise ValueError(f"MixtureNoise: expected a batch of shape (B, {n_features}); got {tuple(x.shape)}.")
        component = self.components(x)
        factors = self.factors.to(x.device, x.dtype)
        z = torch.randn((x.shape[0], factors.shape[1]), generator=generator, device=x.device, dtype=x.dtype)
        noise = torch.zeros_like(x)
        # One matrix product per component present (not a (B, d, n_features) gather: wide rows).
        for k in torch.unique(component).tolist():
            rows = component == k
            noise[rows] = z[rows] @ factors[k]
        return x + self.scale * noise

    def __repr__(self) -> str:
        k, d, _ = self.factors.shape
        return f"MixtureNoise(components={k}, dims={d}, scale={self.scale})"


class FeatureMask:
    """Replace each feature, independently with probability ``p``, by ``fill`` (per feature).

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import FeatureMask
    >>> x = torch.ones(1000, 4)
    >>> out = FeatureMask(0.1, fill=torch.zeros(4))(x, torch.Generator().manual_seed(0))
    >>> out.shape, bool(((out == 0) | (out == 1)).all())
    (torch.Size([1000, 4]), True)
    >>> 0.05 < float((out == 0).float().mean()) < 0.15
    True
    """

    _fresh_output = True

    def __init__(self, p=0.1, fill: torch.Tensor | float = 0.0):
        self.p = _checks.probability("FeatureMask", "p", p)
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


class MarginalResample:
    """Replace each feature, independently with probability ``p``, by a draw from its marginal.

    SCARF's corruption (Bahri et al., ICLR 2022): a corrupted entry takes the value of the
    same feature in another sample drawn uniformly from the batch, so a view keeps each
    feature's distribution (masking with the mean, or noise, do not) and the network must
    recognise a sample from the features that were kept. The batch is the empirical
    marginal here (the trainers pass both views of a batch, 2B rows).

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import MarginalResample
    >>> x = torch.arange(8.0).view(4, 2)  # feature 0 takes 0, 2, 4, 6; feature 1 takes 1, 3, 5, 7
    >>> out = MarginalResample(0.6)(x, torch.Generator().manual_seed(0))
    >>> bool((out[:, 0] % 2 == 0).all()) and bool((out[:, 1] % 2 == 1).all())  # values stay in their column
    True
    >>> MarginalResample(0.0)(x, torch.Generator()).equal(x)
    True
    """

    _fresh_output = True

    def __init__(self, p=0.6):
        self.p = _checks.probability("MarginalResample", "p", p)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        flat = x.reshape(n, -1)
        mask = torch.rand(flat.shape, generator=generator, device=x.device) < self.p
        rows = torch.randint(0, n, flat.shape, generator=generator, device=x.device)
        return torch.where(mask, flat.gather(0, rows), flat).view(x.shape)

    def __repr__(self) -> str:
        return f"MarginalResample(p={self.p})"


class _ParamOp:
    """Base class of the ops split into parameter drawing and application.

    ``apply`` returns ``x`` itself (nothing to do) or a new tensor, never a view of ``x``.
    Subclasses with ``_inplace = True`` accept ``apply(x, params, inplace=True)``, which
    may update ``x`` in place (used by :class:`Compose` on its own intermediate batches).
    """

    _fresh_output = True
    _inplace = False

    def sample_params(self, x: torch.Tensor, generator: torch.Generator) -> dict:  # pragma: no cover
        raise NotImplementedError

    def apply(self, x: torch.Tensor, params: dict) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, generator: torch.Generator, inplace: bool = False) -> torch.Tensor:
        params = self.sample_params(x, generator)
        if inplace and self._inplace:
            return self.apply(x, params, inplace=True)
        return self.apply(x, params)


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

    Two batched implementations, both a single pass over the batch with no loop over
    samples:

    * one ``grid_sample`` call (bilinear, source coordinates as ``interpolate``'s). It is
      exact (equal to torchvision up to float rounding, ~1e-6) whenever antialiasing cannot
      matter: ``antialias=False``, or no box is ever downscaled (output at least as large
      as the input, e.g. the default ``size=None``: a box never exceeds the image);
    * otherwise, for images up to ``matmul_max_size`` pixels a side, separable per-sample
      resampling matrices with the antialiasing filter (one batched matrix product per
      axis, exact). Larger images still use ``grid_sample`` (no antialiasing).

    Params: ``top``, ``left``, ``height``, ``width`` (int64, pixels) and ``flip`` (bool), each
    of shape ``(B,)``.

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import RandomResizedCrop
    >>> op = RandomResizedCrop(scale=(0.2, 1.0), flip_p=0.5)
    >>> x = torch.rand(8, 3, 32, 32)
    >>> params = op.sample_params(x, torch.Generator().manual_seed(0))
    >>> sorted(params)
    ['flip', 'height', 'left', 'top', 'width']
    >>> params["height"].shape, params["flip"].dtype
    (torch.Size([8]), torch.bool)
    >>> op.apply(x, params).shape
    torch.Size([8, 3, 32, 32])
    >>> RandomResizedCrop(size=16)(x, torch.Generator().manual_seed(0)).shape
    torch.Size([8, 3, 16, 16])
    """

    def __init__(self, size=None, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), flip_p=0.5, antialias=True,
                 matmul_max_size=128):
        owner = "RandomResizedCrop"
        if size is None:
            self.size = None
        elif isinstance(size, Integral) and not isinstance(size, bool):
            self.size = (_checks.positive_int(owner, "size", size),) * 2
        else:
            try:
                if isinstance(size, (str, bytes)):
                    raise TypeError
                height, width = size
            except (TypeError, ValueError):
                raise TypeError(f"{owner}: size must be None, an int or a pair of ints; got {size!r}.") from None
            self.size = (_checks.positive_int(owner, "size", height), _checks.positive_int(owner, "size", width))
        self.scale = _checks.interval(owner, "scale", scale, 0.0, low_open=True)  # > 1: central crop (torchvision)
        self.ratio = _checks.interval(owner, "ratio", ratio, 0.0, low_open=True)
        self.flip_p = _checks.probability(owner, "flip_p", flip_p)
        self.antialias = bool(antialias)
        self.matmul_max_size = _checks.positive_int(owner, "matmul_max_size", matmul_max_size)

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
        flip = _bernoulli(n, self.flip_p, generator, device)
        return {"top": top, "left": left, "height": h, "width": w, "flip": flip}

    @_warp_in_float32
    def apply(self, x: torch.Tensor, params: dict) -> torch.Tensor:
        in_h, in_w = x.shape[-2:]
        out_h, out_w = self.size if self.size is not None else (in_h, in_w)
        flip = params["flip"].to(x.device)
        # Antialiasing only changes downscaled boxes; boxes never exceed the input.
        exact_grid = not self.antialias or (out_h >= in_h and out_w >= in_w)
        if not exact_grid and max(in_h, in_w, out_h, out_w) <= self.matmul_max_size:
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
        # grid[b, i, j] = (gx[b, j], gy[b, i]): rows of (gx_0, 0, gx_1, 0, ...) plus gy times
        # (0, 1, 0, 1, ...), in one broadcast pass with a long contiguous inner dimension.
        gx0 = torch.stack([gx, torch.zeros_like(gx)], dim=-1).view(n, 1, 2 * out_w)
        odd = torch.tensor([0.0, 1.0], device=x.device).repeat(out_w).view(1, 1, 2 * out_w)
        grid = _scratch("crop_grid", (n, out_h, 2 * out_w), x)
        grid = torch.addcmul(gx0, gy[:, :, None], odd, out=grid).view(n, out_h, out_w, 2)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)

    def __repr__(self) -> str:
        return (
            f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio}, flip_p={self.flip_p}, "
            f"antialias={self.antialias})"
        )


class RandomHorizontalFlip(_ParamOp):
    """Mirror each sample left-right with probability ``p``. Params: ``flip`` (bool, ``(B,)``).

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import RandomHorizontalFlip
    >>> x = torch.arange(8.0).view(2, 1, 1, 4)
    >>> RandomHorizontalFlip().apply(x, {"flip": torch.tensor([True, False])})
    tensor([[[[3., 2., 1., 0.]]],
    <BLANKLINE>
    <BLANKLINE>
            [[[4., 5., 6., 7.]]]])
    """

    def __init__(self, p=0.5):
        self.p = _checks.probability("RandomHorizontalFlip", "p", p)

    def sample_params(self, x, generator):
        return {"flip": torch.rand(x.shape[0], generator=generator, device=x.device) < self.p}

    def apply(self, x, params):
        return torch.where(params["flip"].to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


_LUMA = (0.2989, 0.587, 0.114)


def rgb_to_grey(x: torch.Tensor) -> torch.Tensor:
    """Luma with torchvision's weights (0.2989, 0.587, 0.114); ``(B, 3, H, W) -> (B, 1, H, W)``.

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment.ops import rgb_to_grey
    >>> grey = rgb_to_grey(torch.ones(2, 3, 4, 4))
    >>> grey.shape, bool(torch.allclose(grey, torch.full_like(grey, 0.9999)))
    (torch.Size([2, 1, 4, 4]), True)
    """
    return x[:, 0:1] * _LUMA[0] + x[:, 1:2] * _LUMA[1] + x[:, 2:3] * _LUMA[2]


def _blend(x: torch.Tensor, other, factor: torch.Tensor) -> torch.Tensor:
    # factor * x + (1 - factor) * other, in one kernel.
    return torch.lerp(other.expand_as(x), x, factor.expand_as(x)).clamp_(0, 1)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``(factor * x).clamp(0, 1)`` with a ``(B,)`` factor; images in [0, 1].

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment.ops import adjust_brightness
    >>> adjust_brightness(torch.full((2, 3, 1, 1), 0.5), torch.tensor([0.5, 4.0])).flatten()
    tensor([0.2500, 0.2500, 0.2500, 1.0000, 1.0000, 1.0000])
    """
    return (x * factor.view(-1, 1, 1, 1)).clamp_(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the mean grey level of each image (torchvision's definition).

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment.ops import adjust_contrast
    >>> x = torch.rand(2, 3, 8, 8)
    >>> flat = adjust_contrast(x, torch.zeros(2))  # factor 0: the mean grey everywhere
    >>> flat.shape, bool((flat.amax(dim=(1, 2, 3)) - flat.amin(dim=(1, 2, 3)) < 1e-6).all())
    (torch.Size([2, 3, 8, 8]), True)
    """
    grey = rgb_to_grey(x) if x.shape[1] == 3 else x
    return _blend(x, grey.mean(dim=(1, 2, 3), keepdim=True), factor.view(-1, 1, 1, 1))


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the grey image; a no-op for one channel (as torchvision).

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment.ops import adjust_saturation
    >>> grey = adjust_saturation(torch.rand(2, 3, 4, 4), torch.zeros(2))  # factor 0: grey
    >>> bool(torch.allclose(grey[:, 0], grey[:, 1])) and bool(torch.allclose(grey[:, 1], grey[:, 2]))
    True
    """
    if x.shape[1] != 3:
        return x
    return _blend(x, rgb_to_grey(x), factor.view(-1, 1, 1, 1))


# Hue rotation. torchvision goes RGB -> HSV -> RGB (a gather per pixel through a 6-way
# table); on the hexcone, channel c of the result is ``max - range * t(d_c)``, where
# ``range = max - min`` (both unchanged by the rotation), ``d_c`` is the circular distance
# (period 6) between the hue in sixths of a turn and the centre of channel c's plateau
# (red 3, green 5, blue 1, shifted by minus the rotation), and ``t(d) = clamp(2 - d, 0, 1)``.
# That is the same piecewise-linear map (equal up to float rounding, ~1e-6), in ~25 float
# passes over the batch without boolean masks or gathers.
_HUE_CENTRES = (3.0, 5.0, 1.0)


def _hue(x: torch.Tensor, factor: torch.Tensor, out: torch.Tensor, centres: torch.Tensor | None = None) -> torch.Tensor:
    """Rotate the hue of ``x`` (B, 3, H, W) by ``factor`` (B,) turns into ``out`` (may be ``x``).

    ``centres``: ``_HUE_CENTRES`` as a tensor of ``x``'s dtype and device (made if None).
    Every intermediate goes to a reused work buffer (no allocation on the CPU).
    """
    r, g, b = x.unbind(dim=1)
    maxc, cr, h, t1, t2 = _scratch("hue", (5, *r.shape), x).unbind(0)
    torch.maximum(r, g, out=maxc)
    torch.maximum(maxc, b, out=maxc)
    torch.minimum(r, g, out=cr)
    torch.minimum(cr, b, out=cr)
    torch.sub(maxc, cr, out=cr)  # range = max - min
    # Hue times range, in sixths of a turn, with torchvision's branch order: red is the
    # maximum (g - b), else green (2 range + b - r), else blue (4 range + r - g). The
    # branches are chosen with float weights sign(max - channel) (0 where the channel holds
    # the maximum, else 1): lerp with a weight of exactly 0 or 1 returns an endpoint, and
    # float selections are much cheaper on the CPU than boolean masks.
    torch.sub(b, r, out=h).add_(cr, alpha=2)
    torch.sub(r, g, out=t1).add_(cr, alpha=4)
    h.lerp_(t1, torch.sub(maxc, g, out=t2).sign_())
    torch.sub(g, b, out=t1).lerp_(h, torch.sub(maxc, r, out=t2).sign_())
    h = t1.div_(torch.clamp(cr, min=torch.finfo(x.dtype).tiny, out=t2))  # grey pixels: 0 / tiny = 0
    # h is in [-1, 5]; plateau centres shifted by the rotation, reduced to [0, 6): the
    # distance |h - z| is then in [0, 7], where |3 - |h - z|| clamped to [1, 2] equals
    # 3 - (circular distance) clamped the same way.
    if centres is None:
        centres = torch.tensor(_HUE_CENTRES, device=x.device, dtype=x.dtype)
    centres = torch.remainder(centres - 6 * factor.to(x.dtype)[:, None], 6.0)
    y = torch.sub(h.unsqueeze(1), centres[:, :, None, None], out=out)
    y = y.abs_().sub_(3).abs_().clamp_(1, 2)
    # max - range * clamp(y - 1, 0, 1) = (max + range) - range * y
    return torch.addcmul(maxc.add_(cr).unsqueeze(1), cr.neg_().unsqueeze(1), y, out=y)


def adjust_hue(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Rotate the hue by ``factor`` (in turns, ``[-0.5, 0.5]``), as torchvision; one channel: no-op.

    Equal to torchvision's ``adjust_hue`` (RGB -> HSV -> RGB) up to float rounding (1e-5),
    computed directly on the hexcone (see the comment above ``_hue``).

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment.ops import adjust_hue
    >>> red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    >>> adjust_hue(red, torch.tensor([1 / 3])).flatten()  # a third of a turn: green
    tensor([0., 1., 0.])
    >>> adjust_hue(torch.rand(2, 1, 4, 4), torch.tensor([0.1, 0.2])).shape  # grey: unchanged
    torch.Size([2, 1, 4, 4])
    """
    if x.shape[1] != 3:
        return x
    return _hue(x, factor.to(x.device), torch.empty_like(x, memory_format=torch.contiguous_format))


class RandomColorJitter(_ParamOp):
    """torchvision's ``RandomApply([ColorJitter(b, c, s, h)], p)`` with per-sample parameters.

    Each sample draws whether it is jittered (probability ``p``), a brightness, contrast and
    saturation factor uniform in ``[max(0, 1 - v), 1 + v]``, a hue shift uniform in
    ``[-hue, hue]`` and, with ``random_order`` (torchvision's behaviour), its own order of
    the four adjustments. The adjustments follow torchvision's definitions on [0, 1] images;
    other value ranges are mapped to [0, 1] and back (``value_range``), so results stay in
    range.

    Implementation (equal to torchvision's functional ops up to float rounding, 1e-5, with
    the clamp to [0, 1] after each adjustment): the jittered samples are gathered into a
    work buffer (one ``index_select``), sorted by the slot of their hue in their order, and
    scattered back at the end. For each of the four order slots, the samples whose slot
    holds the hue form one contiguous block, rotated in place (:func:`adjust_hue`); every
    other sample does its brightness, contrast or saturation of that slot, all at once, as
    the blend ``f x + (1 - f) target`` with a per-sample ``target`` (black, the mean luma,
    or the luma plane): one batched product for the luma plane, one in-place ``lerp`` and
    the clamp (weight 1, for a disabled adjustment, returns ``x`` exactly). The work is
    three blends and one hue rotation per jittered sample, with no loop over samples.

    Params: ``apply`` (bool), ``brightness``, ``contrast``, ``saturation``, ``hue`` (float)
    and ``order`` (int64, ``(B, 4)``; a permutation of 0..3 = brightness, contrast,
    saturation, hue).

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import RandomColorJitter
    >>> op = RandomColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8)
    >>> x = torch.rand(8, 3, 16, 16)
    >>> params = op.sample_params(x, torch.Generator().manual_seed(0))
    >>> sorted(params)
    ['apply', 'brightness', 'contrast', 'hue', 'order', 'saturation']
    >>> params["order"].shape, bool((params["order"].sort(dim=1).values == torch.arange(4)).all())
    (torch.Size([8, 4]), True)
    >>> params["apply"][:] = False
    >>> params["apply"][0] = True
    >>> out = op.apply(x, params)
    >>> out.shape, torch.equal(out[1:], x[1:]), bool(out.min() >= 0) and bool(out.max() <= 1)
    (torch.Size([8, 3, 16, 16]), True, True)
    """

    _inplace = True

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, p=0.8, random_order=True,
                 value_range=(0.0, 1.0)):
        owner = "RandomColorJitter"
        self.brightness = _checks.real(owner, "brightness", brightness, 0.0)
        self.contrast = _checks.real(owner, "contrast", contrast, 0.0)
        self.saturation = _checks.real(owner, "saturation", saturation, 0.0)
        self.hue = _checks.real(owner, "hue", hue, 0.0, 0.5)  # torchvision's range
        self.p = _checks.probability(owner, "p", p)
        self.random_order = bool(random_order)
        self.value_range = _checks.interval(owner, "value_range", value_range)
        if self.value_range[0] == self.value_range[1]:
            raise ValueError(f"{owner}: value_range must have low < high; got {value_range!r}.")

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

    def _active(self, channels: int) -> tuple[bool, ...]:
        rgb = channels == 3  # saturation and hue leave other images alone (as torchvision)
        return (self.brightness > 0, self.contrast > 0, rgb and self.saturation > 0, rgb and self.hue > 0)

    def apply(self, x, params, inplace=False):
        n, c = x.shape[:2]
        device, dtype = x.device, x.dtype
        active = self._active(c)
        apply = params["apply"].to(device)
        chosen = apply.nonzero().squeeze(1)
        m = chosen.numel()
        if m == 0 or not any(active):
            return x
        order = params["order"].to(device).index_select(0, chosen)
        factors = torch.stack(
            [params[k].to(device, dtype) for k in ("brightness", "contrast", "saturation", "hue")], dim=1
        ).index_select(0, chosen)
        if active[3]:
            # The jittered samples sorted by the slot of their hue rotation, so that each
            # slot's hue runs in place on a contiguous block of the work buffer.
            hue_slot, sort = (order == 3).int().argmax(dim=1).sort(stable=True)
            chosen, order, factors = (t.index_select(0, sort) for t in (chosen, order, factors))
            counts = torch.bincount(hue_slot, minlength=4).tolist()
        # Work buffer: the jittered samples first (updated in place), then the others.
        perm = torch.cat([chosen, (~apply).nonzero().squeeze(1)]) if m < n else chosen
        buf = torch.index_select(x, 0, perm, out=_scratch("jitter", x.shape, x))
        work = buf[:m].view(m, c, -1)
        hw = work.shape[2]
        lo, hi = self.value_range
        rescale = (lo, hi) != (0.0, 1.0)
        if rescale:
            work.sub_(lo).div_(hi - lo)
        # Per sample and slot: the blend weight (1 = unchanged: hue, or a disabled
        # adjustment) and whether the target is the luma plane (saturation) or the mean
        # luma (contrast); brightness blends with 0. Shapes (m, 4, 1, 1).
        affine = torch.tensor(active[:3] + (False,), device=device)[order]
        weight = torch.where(affine, factors.gather(1, order), torch.ones((), device=device, dtype=dtype))
        weight, to_grey, to_mean = (
            t.to(dtype)[:, :, None, None] for t in (weight, affine & (order == 2), affine & (order == 1))
        )
        # Contrast blends with the mean luma (RGB) or the mean value (other channel counts).
        w = torch.tensor(_LUMA, device=device, dtype=dtype) if c == 3 else torch.full((c,), 1 / c, device=device,
                                                                                       dtype=dtype)
        w_row = w.view(1, 1, c).expand(m, 1, c)
        if active[3]:
            centres = torch.tensor(_HUE_CENTRES, device=device, dtype=dtype)
            hue = factors[:, 3]
        start = 0
        for slot in range(4):
            # The samples whose slot holds the hue: one contiguous block, rotated in place.
            stop = start + counts[slot] if active[3] else start
            if stop > start:
                block = work[start:stop].view(stop - start, c, *x.shape[2:])
                _hue(block, hue[start:stop], out=block, centres=centres)
            # This slot's brightness, contrast or saturation for all the other samples at
            # once: lerp(target, x, weight) in place, then torchvision's clamp.
            for first, last in ((0, start), (stop, m)):
                if last > first:
                    part = work[first:last]
                    grey = torch.bmm(w_row[first:last], part, out=_scratch("luma", (last - first, 1, hw), x))
                    mean = grey.mean(dim=2, keepdim=True) if active[1] else None
                    target = grey.mul_(to_grey[first:last, slot])
                    if mean is not None:
                        # (An addcmul_ with two broadcast (k, 1, 1) factors is ~5x slower.)
                        target.add_(mean.mul_(to_mean[first:last, slot]))
                    torch.lerp(target, part, weight[first:last, slot], out=part).clamp_(0, 1)
            start = stop
        # Put the samples back in their order.
        if rescale:
            work.mul_(hi - lo).add_(lo)
        out = x if inplace and x.is_contiguous() else torch.empty_like(x, memory_format=torch.contiguous_format)
        if m < n or active[3]:
            out = torch.index_select(buf, 0, torch.argsort(perm), out=out)
        else:
            out = out.copy_(buf)
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            out = out.contiguous(memory_format=torch.channels_last)  # keep the layout (CUDA batches)
        return out

    def __repr__(self) -> str:
        return (
            f"RandomColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
            f"saturation={self.saturation}, hue={self.hue}, p={self.p})"
        )


class RandomGreyscale(_ParamOp):
    """torchvision's ``RandomGrayscale(p)`` per sample: luma copied to the 3 channels.

    Params: ``apply`` (bool, ``(B,)``). Images with other than 3 channels pass unchanged.
    Only the selected samples are converted (``index_select`` / ``index_copy``).

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import RandomGreyscale
    >>> x = torch.rand(3, 3, 4, 4)
    >>> out = RandomGreyscale().apply(x, {"apply": torch.tensor([True, False, False])})
    >>> torch.equal(out[0, 0], out[0, 2]), torch.equal(out[1:], x[1:])
    (True, True)
    """

    _inplace = True

    def __init__(self, p=0.2):
        self.p = _checks.probability("RandomGreyscale", "p", p)

    def sample_params(self, x, generator):
        return {"apply": torch.rand(x.shape[0], generator=generator, device=x.device) < self.p}

    def apply(self, x, params, inplace=False):
        if x.shape[1] != 3:
            return x
        idx = params["apply"].to(x.device).nonzero().squeeze(1)
        if idx.numel() == 0:
            return x
        sub = torch.index_select(x, 0, idx, out=_scratch("grey", (idx.numel(), *x.shape[1:]), x))
        w = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 1, 3).expand(len(sub), 1, 3)
        grey = torch.bmm(w, sub.view(len(sub), 3, -1), out=_scratch("luma", (len(sub), 1, sub[0, 0].numel()), x))
        out = x if inplace else x.clone()
        return out.index_copy_(0, idx, grey.view(len(sub), 1, *x.shape[2:]).expand(-1, 3, -1, -1))

    def __repr__(self) -> str:
        return f"RandomGreyscale(p={self.p})"


class RandomGaussianBlur(_ParamOp):
    """torchvision's ``RandomApply([GaussianBlur(kernel_size, sigma)], p)`` per sample.

    Each sample draws whether it is blurred and its ``sigma`` uniform in ``sigma``. The blur
    is separable with reflect padding, as torchvision's; the blurred subset runs as two
    grouped convolutions (one kernel per sample and channel, ``groups = n * C``).

    Params: ``apply`` (bool) and ``sigma`` (float), each ``(B,)``.

    Examples
    --------
    >>> import torch
    >>> from deepclust.augment import RandomGaussianBlur
    >>> op = RandomGaussianBlur(kernel_size=5, sigma=(0.1, 2.0), p=0.5)
    >>> x = torch.rand(4, 3, 16, 16)
    >>> params = op.sample_params(x, torch.Generator().manual_seed(0))
    >>> params["apply"] = torch.tensor([True, False, True, False])
    >>> out = op.apply(x, params)
    >>> out.shape, torch.equal(out[1], x[1]), torch.equal(out[0], x[0])
    (torch.Size([4, 3, 16, 16]), True, False)
    """

    def __init__(self, kernel_size=23, sigma=(0.1, 2.0), p=0.5):
        owner = "RandomGaussianBlur"
        if _checks.positive_int(owner, "kernel_size", kernel_size) % 2 != 1:
            raise ValueError(f"{owner}: kernel_size must be odd and positive; got {kernel_size}.")
        self.kernel_size = int(kernel_size)
        self.sigma = _checks.interval(owner, "sigma", sigma, 0.0, low_open=True)
        self.p = _checks.probability(owner, "p", p)

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
