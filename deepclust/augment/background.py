"""Whether grey images lie on a blank background: what ``augment="auto"`` reads for grey images.

The handwriting preset's warps and stroke-width changes assume strokes or an object on an
empty background (digits, USPS, MNIST, COIL-20's objects on black); on natural images,
which fill the frame, they teach little, and crops and flips do better (session 29: the
grey CIFAR-10 subset, DRC seed 0, ACC 0.190 with the handwriting preset, 0.292 with the
general grey one; k-means 0.206). A blank background shows in the pixel values alone: a
large share of them falls into one narrow band of the value range (20 equal bins: digits
0.49, COIL-20 0.43, USPS 0.63, MNIST 0.82 against 0.08 for grey CIFAR-10 images, where a
uniform spread would give 0.05). Ours, label-free, computed once per fit from the data.
"""

from __future__ import annotations

import numpy as np

#: From this share of pixel values in the most common of :data:`BINS` bands on, grey images
#: count as lying on a blank background (session 29: chosen between grey CIFAR-10's 0.08 and
#: COIL-20's 0.43, the lowest of the handwriting and object sets).
BLANK_BACKGROUND_SHARE = 0.25
#: Equal-width bands of the value range.
BINS = 20
#: Images read, evenly spaced over the data (deterministic: every rank and restart agrees).
MAX_IMAGES = 2000
_CHUNK = 256


def background_share(X, value_range: tuple[float, float], max_images: int = MAX_IMAGES) -> float:
    """Share of the pixel values of ``X`` in the most common of :data:`BINS` bands of ``value_range``.

    Parameters
    ----------
    X : ndarray or numpy.memmap of shape (n_images, ...)
        Images in any layout; ``uint8`` values are read on the [0, 1] scale the model sees.
        Only ``max_images`` evenly spaced images are read; ``X`` is not modified.
    value_range : tuple of float
        (min, max) of the values as the model sees them (``deepclust._data.value_range``).
    max_images : int, default=2000
        How many images to read at most.

    Returns
    -------
    share : float
        In [1 / BINS, 1]; 1.0 for constant images.

    Examples
    --------
    >>> import numpy as np
    >>> from deepclust.augment.background import background_share
    >>> strokes = np.zeros((10, 8, 8), dtype=np.uint8)
    >>> strokes[:, 3:5] = 255  # a bar on black: three quarters of the pixels are 0
    >>> round(background_share(strokes, (0.0, 1.0)), 2)
    0.75
    >>> noise = np.random.default_rng(0).integers(0, 256, (10, 8, 8), dtype=np.uint8)
    >>> background_share(noise, (0.0, 1.0)) < 0.1
    True
    """
    lo, hi = float(value_range[0]), float(value_range[1])
    if not hi > lo:
        return 1.0
    n = X.shape[0]
    rows = np.unique(np.linspace(0, n - 1, min(n, int(max_images))).astype(np.int64))
    counts = np.zeros(BINS, dtype=np.int64)
    for start in range(0, rows.size, _CHUNK):  # a chunk at a time: large images stay small in memory
        values = np.asarray(X[rows[start : start + _CHUNK]], dtype=np.float32)
        if X.dtype == np.uint8:
            values /= 255.0
        counts += np.histogram(values, bins=BINS, range=(lo, hi))[0]
    return float(counts.max() / max(counts.sum(), 1))


def grey_auto_preset(share: float) -> str:
    """The grey preset ``augment="auto"`` uses for images whose :func:`background_share` is ``share``.

    "handwriting" on a blank background (at least :data:`BLANK_BACKGROUND_SHARE`), else "grey".

    Examples
    --------
    >>> from deepclust.augment.background import grey_auto_preset
    >>> grey_auto_preset(0.49), grey_auto_preset(0.08)
    ('handwriting', 'grey')
    """
    return "handwriting" if share >= BLANK_BACKGROUND_SHARE else "grey"
