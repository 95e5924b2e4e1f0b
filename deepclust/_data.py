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
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.utils.validation import check_array, validate_data

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
    input_dtype : str or None
        The dtype of ``X`` as the user passed it (before any conversion to float32), for
        messages; not part of the layout's identity.
    """

    kind: str
    sample_shape: tuple
    source: str
    input_dtype: str | None = field(default=None, compare=False)

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


# How each layout is spelled in messages.
_SOURCE_WORDS = {
    "tabular": "(n_samples, n_features)",
    "flat": "flat rows (n, C*H*W) with image_shape",
    "nhw": "(n, H, W)",
    "nhwc": "(n, H, W, C)",
    "nchw": "(n, C, H, W)",
}


def _from_torch(X):
    """A torch tensor as a NumPy array (shared memory on the CPU, never written to).

    ``check_array`` would accept a CPU tensor itself, but our own dtype checks need a NumPy
    dtype. CUDA (or other device) tensors are copied to the host; bfloat16, which NumPy
    lacks, becomes float32.
    """
    if not isinstance(X, torch.Tensor):
        return X
    if X.layout != torch.strided:
        raise TypeError(f"X is a sparse torch tensor ({X.layout}); pass a dense array, e.g. X.to_dense().")
    X = X.detach()
    if X.device.type != "cpu":
        X = X.cpu()
    if X.dtype == torch.bfloat16:
        X = X.float()
    return X.resolve_conj().resolve_neg().numpy()


def _check_columns_numeric(X) -> None:
    """Name the non-numeric columns of a pandas or polars data frame in the error.

    ``check_array`` would fail on them with "could not convert string to float", which does
    not say which column is at fault.
    """
    library = type(X).__module__.partition(".")[0]
    if library == "pandas" and hasattr(X, "dtypes") and getattr(X, "ndim", 0) == 2:
        from pandas.api.types import is_numeric_dtype  # bool counts as numeric

        bad = [f"{name!r} ({dtype})" for name, dtype in X.dtypes.items() if not is_numeric_dtype(dtype)]
    elif library == "polars" and hasattr(X, "schema"):
        bad = [
            f"{name!r} ({dtype})"
            for name, dtype in X.schema.items()
            if not (dtype.is_numeric() or str(dtype) == "Boolean")
        ]
    else:
        return
    if bad:
        raise ValueError(
            f"X has non-numeric columns: {', '.join(bad)}. deepclust needs numeric features: encode "
            "categorical or string columns first (e.g. sklearn.preprocessing.OneHotEncoder in a "
            "ColumnTransformer) or drop them."
        )


def _check_layout_as_fitted(estimator, shape: tuple, layout: InputLayout) -> None:
    fitted_shape = tuple(estimator.input_shape_)
    if tuple(layout.sample_shape) == fitted_shape:
        return
    name = type(estimator).__name__
    fitted_source = getattr(estimator, "_input_source_", None)
    given_as = f" given as {_SOURCE_WORDS[fitted_source]}" if fitted_source in _SOURCE_WORDS else ""
    if len(fitted_shape) == 3:
        fitted = f"images of shape (C, H, W) = {fitted_shape}{given_as}"
        hint = " Pass images of that (C, H, W) shape, in any of the layouts fit accepts."
    else:
        fitted = f"samples of {fitted_shape[0]} features"
        hint = ""
    if layout.is_image:
        now = f"images of shape (C, H, W) = {tuple(layout.sample_shape)}"
    else:
        now = f"samples of {layout.sample_shape[0]} features"
    raise ValueError(
        f"{name} was fitted on {fitted}; X has shape {tuple(shape)}, read as "
        f"{_SOURCE_WORDS[layout.source]}, i.e. {now}.{hint}"
    )


def validate_input(estimator, X, *, reset: bool, image_shape=None, min_samples: int = 1):
    """Validate ``X`` with scikit-learn's rules and bring it to the model layout.

    Returns the array in model layout (a view where possible, never written to) and its
    :class:`InputLayout`. ``uint8`` images stay ``uint8``; everything else becomes float32.
    Torch tensors (on any device, with or without ``requires_grad``) are read as arrays.

    Raises
    ------
    TypeError
        For sparse input.
    ValueError
        For NaN/inf, complex, non-numeric columns, empty, too few samples, wrong ndim, a
        shape that is ambiguous or differs from the one seen in ``fit``.
    """
    X = _from_torch(X)
    if hasattr(X, "dtype") and isinstance(getattr(X, "dtype", None), np.dtype) and np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError("Complex data not supported: X has a complex dtype.")
    _check_columns_numeric(X)
    checks = dict(
        accept_sparse=False,
        dtype="numeric",
        allow_nd=True,
        ensure_min_samples=min_samples,
        ensure_all_finite=True,
    )
    fitted_on_images = not reset and len(tuple(getattr(estimator, "input_shape_", ()))) == 3
    if fitted_on_images:
        # For images scikit-learn's n_features_in_ is one axis of the array (H for (n, H, W, C)),
        # and any layout of the fitted (C, H, W) is accepted: check the sample shape ourselves,
        # with a message about images, before the n_features/feature-names checks.
        original = X
        X = check_array(X, estimator=estimator, input_name="X", **checks)
        layout = detect_layout(X.shape, image_shape)
        _check_layout_as_fitted(estimator, X.shape, layout)
        if X.ndim == 2:
            validate_data(estimator, original, reset=False, skip_check_array=True)
    else:
        X = validate_data(estimator, X, reset=reset, **checks)
        layout = detect_layout(X.shape, image_shape)
        if not reset:
            _check_layout_as_fitted(estimator, X.shape, layout)
    input_dtype = str(X.dtype)
    if X.dtype == np.bool_:
        X = X.astype(np.float32)
    layout = InputLayout(layout.kind, layout.sample_shape, layout.source, input_dtype)
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
    are scaled to [0, 1] first. The standard deviation of a constant feature becomes 1, as in
    :class:`sklearn.preprocessing.StandardScaler`. Constant is judged relative to the
    feature's own magnitude (as ``sklearn.preprocessing._data._is_constant_feature`` does): a
    spread within float32 rounding of the mean, ``std <= eps32 * |mean|``. A feature on a
    tiny scale (``X * 1e-8``) is therefore standardised like any other, and one with mean 0
    is constant only when its standard deviation is exactly 0.
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
    # The network sees float32 data: a spread below float32 rounding of the mean (about one
    # ulp) is rounding noise, not signal; a few ulps (1e6 + N(0, 1) in float32) still are.
    # Relative to |mean| only (no absolute floor), so the scale of the data does not matter. A std that float32 cannot hold (below its smallest normal number)
    # would divide by zero or a denormal: such a feature carries nothing usable either.
    f32 = np.finfo(np.float32)
    constant = (std <= f32.eps * np.abs(mean)) | (std < f32.tiny)
    std = np.where(constant, 1.0, std)
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
