"""Benchmark data sets: loading, the literature protocol and held-back splits.

This lives in the benchmark, not in the package: the package never reads these files.

Every loader returns a :class:`Dataset` with

* ``X``, ``y``: the *evaluation set* of the literature protocol (ALGORITHMS.md §1.1): the
  train and test splits merged (USPS 9,298, MNIST 70k, CIFAR-10 60k), trained on and scored
  transductively; labels are used only for scoring;
* ``fit_index``, ``test_index``: a held-back split for the ``heldout`` protocol (fit on
  ``X[fit_index]``, predict ``X[test_index]`` that the model never saw): the official
  train/test split where there is one, a stratified 90/10 split for sklearn digits;
* ``image_shape``: the ``(C, H, W)`` to pass to the deep estimators when ``X`` holds flat
  image rows (digits only), else ``None``.

Images are kept as ``uint8`` ``(n, H, W, C)`` (the estimators scale them to [0, 1]);
digits keeps its 0-16 float rows, read as 8x8 grey images via ``image_shape=(1, 8, 8)``.
CIFAR-10 is decoded once from the JPEG archive and cached under ``benchmarks/cache/``.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("DEEPCLUST_DATA", HERE.parent.parent / "shared" / "data"))
CACHE_DIR = Path(os.environ.get("DEEPCLUST_CACHE", HERE / "cache"))


@dataclass
class Dataset:
    name: str
    X: np.ndarray
    y: np.ndarray
    fit_index: np.ndarray
    test_index: np.ndarray
    n_clusters: int
    image_shape: tuple | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    def flat01(self, index=None) -> np.ndarray:
        """Float32 rows scaled to [0, 1] (for k-means, t-SNE, UMAP and ClustPy)."""
        X = self.X if index is None else self.X[index]
        X = X.reshape(X.shape[0], -1).astype(np.float32)
        scale = 16.0 if self.name == "digits" else 255.0
        return X / scale


def _npz(name: str) -> dict:
    path = DATA_DIR / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; set DEEPCLUST_DATA to the folder holding the shared .npz files")
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _merged(name: str, train: str, test: str, notes: str) -> Dataset:
    tr, te = _npz(train), _npz(test)
    X = np.concatenate([tr["X"], te["X"]])
    y = np.concatenate([tr["y"], te["y"]]).astype(np.int64)
    n_tr = tr["X"].shape[0]
    return Dataset(
        name,
        X,
        y,
        fit_index=np.arange(n_tr),
        test_index=np.arange(n_tr, X.shape[0]),
        n_clusters=int(len(np.unique(y))),
        notes=notes,
    )


def load_digits() -> Dataset:
    from sklearn.datasets import load_digits as sk_load
    from sklearn.model_selection import train_test_split

    X, y = sk_load(return_X_y=True)  # 1797 x 64, values 0-16
    idx = np.arange(X.shape[0])
    fit_idx, test_idx = train_test_split(idx, test_size=0.1, stratify=y, random_state=0)
    return Dataset(
        "digits",
        X.astype(np.float32),
        y.astype(np.int64),
        np.sort(fit_idx),
        np.sort(test_idx),
        10,
        image_shape=(1, 8, 8),
        notes="sklearn load_digits (1,797 8x8 images, 0-16); deep methods read rows as 8x8 images; held-back: stratified 10%",
    )


def load_usps() -> Dataset:
    return _merged("usps", "usps_train.npz", "usps_test.npz", "USPS train 7,291 + test 2,007 merged (9,298); held-back: official test split")


def load_mnist() -> Dataset:
    return _merged("mnist", "mnist_train.npz", "mnist_test.npz", "MNIST train 60k + test 10k merged (70k); held-back: official test split")


def _decode_jpegs(buf: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(offsets) - 1, 32, 32, 3), dtype=np.uint8)
    for i in range(len(offsets) - 1):
        img = Image.open(io.BytesIO(buf[offsets[i] : offsets[i + 1]].tobytes())).convert("RGB")
        out[i] = np.asarray(img)
    return out


def load_cifar10() -> Dataset:
    """CIFAR-10 train 50k + test 10k merged, decoded once from the JPEG archive and cached."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cx, cy = CACHE_DIR / "cifar10_X.npy", CACHE_DIR / "cifar10_y.npy"
    if cx.exists() and cy.exists():
        X = np.load(cx, mmap_mode="r")
        y = np.load(cy)
    else:
        f = _npz("cifar10_jpeg_bytes.npz")
        X = np.concatenate(
            [_decode_jpegs(f["jpeg_train"], f["offsets_train"]), _decode_jpegs(f["jpeg_test"], f["offsets_test"])]
        )
        y = np.concatenate([f["y_train"], f["y_test"]]).astype(np.int64)
        tmp = cx.with_suffix(".tmp.npy")
        np.save(tmp, X)
        os.replace(tmp, cx)
        np.save(cy, y)
        X = np.load(cx, mmap_mode="r")
    X = np.asarray(X)
    return Dataset(
        "cifar10",
        X,
        y,
        fit_index=np.arange(50000),
        test_index=np.arange(50000, 60000),
        n_clusters=10,
        notes="CIFAR-10 train 50k + test 10k merged (60k), decoded from the JPEG q75 archive (not bit-exact); held-back: official test split",
    )


LOADERS = {
    "digits": load_digits,
    "usps": load_usps,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
}


def load(name: str) -> Dataset:
    try:
        return LOADERS[name]()
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose from {sorted(LOADERS)}") from None
