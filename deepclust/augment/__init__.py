"""Batched image and tabular augmentation with per-sample random parameters.

Every op and preset is a callable ``f(x, generator) -> x`` on a whole batch on any device;
parameters are drawn per sample from ``generator`` and applied vectorised (no loop over
images). The CC/SimCLR ops also expose ``sample_params(x, generator)`` and
``apply(x, params)``.
"""

from .ops import (
    Clamp,
    Compose,
    CorrelatedNoise,
    FeatureMask,
    MarginalResample,
    MixtureNoise,
    GaussianNoise,
    RandomColorJitter,
    RandomGaussianBlur,
    RandomGreyscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomResizedCropAffine,
)
from .erasing import RandomErasing
from .warp import RandomAffineElastic, RandomStrokeWidth, gaussian_displacement
from .background import background_share
from .presets import (
    PRESETS,
    auto_preset,
    cc_preset,
    grey_preset,
    handwriting_preset,
    light_preset,
    resolve_augment,
    rgb_preset,
    simclr_preset,
    tabular_preset,
    scarf_preset,
    cluster_noise_preset,
    mixture_noise_preset,
)

__all__ = [
    "PRESETS",
    "auto_preset",
    "background_share",
    "Clamp",
    "Compose",
    "CorrelatedNoise",
    "FeatureMask",
    "MarginalResample",
    "MixtureNoise",
    "GaussianNoise",
    "RandomAffineElastic",
    "RandomColorJitter",
    "RandomErasing",
    "RandomGaussianBlur",
    "RandomGreyscale",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomResizedCropAffine",
    "RandomStrokeWidth",
    "cc_preset",
    "gaussian_displacement",
    "grey_preset",
    "handwriting_preset",
    "light_preset",
    "resolve_augment",
    "rgb_preset",
    "simclr_preset",
    "tabular_preset",
    "scarf_preset",
    "cluster_noise_preset",
    "mixture_noise_preset",
]
