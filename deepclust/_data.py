"""Input validation and layout detection.

Everything the estimators accept is turned into one of two model layouts:

* tabular: ``(n_samples, n_features)`` float32;
* images: ``(n_samples, C, H, W)``, kept as ``uint8`` (scaled to [0, 1] on the fly) or float32.

How the layout of ``X`` is read (documented in the estimators' docstrings):

==========================  =======================================================
``X.ndim`` / parameters      interpretation
==========================  =======================================================
2, ``image_shape=None``      tabular ``(n_samples, n_features)``
2, ``image_shape=(C,H,W)``   flat images, each row is ``x.reshape(C, H, W)`` (C order);
                             ``image_shape=(H, W)`` means one grey channel
3                            grey images ``(n, H, W)``
4                            ``(n, H, W, C)`` when only the last axis has 1-4 entries,
                             ``(n, C, H, W)`` when only axis 1 has; when both or neither
                             do, the shape is ambiguous and ``image_shape=(C, H, W)``
                             must say which axis holds the channels
==========================  =======================================================
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.utils.validation import validate_data

from .training.data import is_memory_mapped

_MAX_CHANNELS = 4
_STATS_CHUNK = 8192


@dataclass(frozen=True)
class InputLayout:
    """How the user's array maps onto the model's input.

    Attributes
    ----------
    kind : {"tabular", "image"}
    sample_shape : tuple of int
        Shape of one sample as the model sees it: ``(d,)`` or ``(C, H, W)``.
    source : str
        The user's convention: "tabular", "flat", "nhw", "nhwc" or "nchw".
    """

    kind: str
    sample_shape: tuple
    source: str

    @property
    def is_image(self) -> bool:
        return self.kind == "image"


def _normalise_image_shape(image_shape) -> tuple[int, int, int] | None:
    if image_shape is None:
        return None
    shape = tuple(image_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape):
        raise ValueError(
            f"The 'image_shape' parameter must be (C, H, W) or (H, W) with positive ints; got {image_shape!r}."
        )
    return tuple(int(s) for s in shape)


def detect_layout(shape: tuple, image_shape=None) -> InputLayout:
    """Infer the layout of an array of ``shape`` (see the module docstring).

    Raises
    ------
    ValueError
        If the shape is ambiguous or does not match ``image_shape``.
    """
    image_shape = _normalise_image_shape(image_shape)
    ndim = len(shape)
    if ndim == 2:
        if image_shape is None:
            return InputLayout("tabular", (shape[1],), "tabular")
        if int(np.prod(image_shape)) != shape[1]:
            raise ValueError(
                f"image_shape={image_shape} has {int(np.prod(image_shape))} values per sample but X has "
                f"{shape[1]} features."
            )
        return InputLayout("image", image_shape, "flat")
    if ndim == 3:
        sample = (1, shape[1], shape[2])
        if image_shape is not None and image_shape != sample:
            raise ValueError(f"X has grey images of shape {shape[1:]}, which does not match image_shape={image_shape}.")
        return InputLayout("image", sample, "nhw")
    if ndim == 4:
        _, a, b, c = shape
        if image_shape is not None:
            if (a, b, c) == image_shape:
                return InputLayout("image", image_shape, "nchw")
            if (c, a, b) == image_shape:
                return InputLayout("image", image_shape, "nhwc")
            raise ValueError(
                f"X of shape {tuple(shape)} matches neither (n, C, H, W) nor (n, H, W, C) for image_shape={image_shape}."
            )
        last_is_channel = c <= _MAX_CHANNELS
        first_is_channel = a <= _MAX_CHANNELS
        if last_is_channel and not first_is_channel:
            return InputLayout("image", (c, a, b), "nhwc")
        if first_is_channel and not last_is_channel:
            return InputLayout("image", (a, b, c), "nchw")
        raise ValueError(
            f"Cannot tell the channel axis of X with shape {tuple(shape)}: pass image_shape=(C, H, W), "
            f"e.g. image_shape={(c, a, b)} for (n, H, W, C) data or image_shape={(a, b, c)} for (n, C, H, W) data."
        )
    raise ValueError(
        f"X must be 2-D (n_samples, n_features), 3-D (n, H, W) or 4-D images; got an array with {ndim} dimensions."
    )


def validate_input(estimator, X, *, reset: bool, image_shape=None, min_samples: int = 1):
    """Validate ``X`` with scikit-learn's rules and bring it to the model layout.

    Returns the array in model layout (a view where possible, never written to) and its
    :class:`InputLayout`. ``uint8`` images stay ``uint8``; everything else becomes float32.

    Raises
    ------
    TypeError
        For sparse input.
    ValueError
        For NaN/inf, complex, empty, too few samples, wrong ndim, a shape that is
        ambiguous or differs from the one seen in ``fit``.
    """
    if hasattr(X, "dtype") and getattr(X, "dtype", None) is not None and np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError("Complex data not supported: X has a complex dtype.")
    X = validate_data(
        estimator,
        X,
        reset=reset,
        accept_sparse=False,
        dtype="numeric",
        allow_nd=True,
        ensure_min_samples=min_samples,
        ensure_all_finite=True,
    )
    if X.dtype == np.bool_:
        X = X.astype(np.float32)
    layout = detect_layout(X.shape, image_shape)
    if not reset and tuple(layout.sample_shape) != tuple(estimator.input_shape_):
        raise ValueError(
            f"X has samples of shape {layout.sample_shape} (as {layout.source}), but "
            f"{type(estimator).__name__} was fitted on samples of shape {tuple(estimator.input_shape_)}."
        )
    X = to_model_layout(X, layout)
    if X.dtype != np.uint8 or not layout.is_image:
        mapped_dtype = X.dtype if X.dtype != np.float32 and is_memory_mapped(X) else None
        X = _as_float32(X)
        if mapped_dtype is not None:
            warnings.warn(
                f"X is a numpy.memmap of dtype {mapped_dtype}: it was converted to float32 in memory, i.e. "
                "loaded whole. Only float32 data and uint8 images are read from the file batch by batch; "
                "store the file as one of those for data larger than memory.",
                UserWarning,
                stacklevel=3,
            )
    return X, layout


def _as_float32(X: np.ndarray) -> np.ndarray:
    if X.dtype == np.float32:
        return X
    if np.issubdtype(X.dtype, np.floating) and X.size:
        finite_max = np.abs(X).max()
        if finite_max > np.finfo(np.float32).max:
            raise ValueError(
                f"X has values up to {finite_max:.3g}, beyond the float32 range used for training "
                f"(max {np.finfo(np.float32).max:.3g}); rescale X first."
            )
    return X.astype(np.float32)


def to_model_layout(X: np.ndarray, layout: InputLayout) -> np.ndarray:
    """Reshape/transpose ``X`` (a view, no copy where possible) into the model layout."""
    n = X.shape[0]
    if layout.source == "tabular" or layout.source == "nchw":
        return X
    if layout.source == "flat":
        return X.reshape(n, *layout.sample_shape)
    if layout.source == "nhw":
        return X[:, None, :, :]
    if layout.source == "nhwc":
        return X.transpose(0, 3, 1, 2)
    raise AssertionError(layout.source)  # pragma: no cover


def feature_statistics(X: np.ndarray, layout: InputLayout) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per feature (tabular) or per channel (images).

    Computed in float64 over chunks, so a ``numpy.memmap`` is never loaded whole; uint8 images
    are scaled to [0, 1] first. A zero standard deviation (constant feature) becomes 1, as in
    :class:`sklearn.preprocessing.StandardScaler`.
    """
    axes = (0,) if not layout.is_image else (0, 2, 3)
    scale = 1.0 / 255.0 if X.dtype == np.uint8 else 1.0
    count = 0
    mean = m2 = 0.0
    for start in range(0, X.shape[0], _STATS_CHUNK):
        chunk = np.asarray(X[start : start + _STATS_CHUNK], dtype=np.float64) * scale
        n_chunk = chunk.size // chunk.shape[1] if layout.is_image else chunk.shape[0]
        chunk_mean = chunk.mean(axis=axes)
        expanded = chunk_mean if not layout.is_image else chunk_mean[None, :, None, None]
        chunk_m2 = np.square(chunk - expanded).sum(axis=axes)
        # Chan et al.'s pairwise update: exact for large offsets, unlike E[x^2] - E[x]^2.
        delta = chunk_mean - mean
        new_count = count + n_chunk
        mean = mean + delta * n_chunk / new_count
        m2 = m2 + chunk_m2 + delta**2 * count * n_chunk / new_count
        count = new_count
    std = np.sqrt(m2 / count)
    tiny = np.finfo(np.float32).eps * np.maximum(np.abs(mean), 1.0)
    std = np.where(std <= tiny, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def value_range(X: np.ndarray) -> tuple[float, float]:
    """``(min, max)`` of ``X`` as the model sees it (uint8 scaled to [0, 1]), chunked.

    Image augmentations keep values inside this range (clamping, noise scale), so float
    images need not be in [0, 1].
    """
    if X.dtype == np.uint8:
        return 0.0, 1.0
    lo, hi = np.inf, -np.inf
    for start in range(0, X.shape[0], _STATS_CHUNK):
        chunk = np.asarray(X[start : start + _STATS_CHUNK])
        lo, hi = min(lo, float(chunk.min())), max(hi, float(chunk.max()))
    return lo, hi
