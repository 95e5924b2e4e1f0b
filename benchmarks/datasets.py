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
  image rows (digits only), else ``None``;
* ``kind``: ``"images"`` or ``"tabular"`` (``Dataset.tabular``). Tabular sets (the UCI tables,
  sklearn's iris / wine / breast_cancer, ``digits_flat``, ``synthetic``) hold float32 rows as
  published, never rescaled: ``flat01`` returns them unchanged, so ``kmeans`` sees the values a
  user would pass, and the deep estimators get the rows as they are (no ``image_shape``).

The development suite (``SUITES["dev"]``, ``run.py --suite dev``) is every small set here: images
of handwriting, objects (COIL-20) and natural scenes (the lossless CIFAR-10 subset, grey and RGB),
and tables; ``SUITES["full"]`` adds MNIST and the full CIFAR-10. Where a set has no official
train/test split the held-back split is a stratified 90/10 split with ``random_state=0``.

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
    kind: str = "images"  # "images" or "tabular"

    def __post_init__(self):
        if self.kind not in ("images", "tabular"):
            raise ValueError(f"kind must be 'images' or 'tabular', got {self.kind!r}")

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def tabular(self) -> bool:
        return self.kind == "tabular"

    @property
    def n_features(self) -> int:
        """Values per sample (pixels x channels for images, columns for tables)."""
        return int(np.prod(self.X.shape[1:]))

    def flat01(self, index=None) -> np.ndarray:
        """Float32 rows for the classical baselines (k-means, t-SNE, UMAP, GMM, ClustPy).

        Images: pixels scaled to [0, 1] (digits' 0-16 by 16, uint8 by 255). Tables: the raw
        values as published, unscaled (a user's k-means would see them so; ``kmeans_std`` and
        ``gmm_std`` standardise them).
        """
        X = self.X if index is None else self.X[index]
        X = X.reshape(X.shape[0], -1).astype(np.float32)
        if self.tabular:
            return X
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


def _decode_one_jpeg(buf: np.ndarray, offsets: np.ndarray, i: int):
    from PIL import Image

    return Image.open(io.BytesIO(buf[offsets[i] : offsets[i + 1]].tobytes())).convert("RGB")


def _decode_jpegs(buf: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    out = np.empty((len(offsets) - 1, 32, 32, 3), dtype=np.uint8)
    for i in range(len(offsets) - 1):
        out[i] = np.asarray(_decode_one_jpeg(buf, offsets, i))
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


def _stratified_split(y: np.ndarray, test_size: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """The held-back split of a set without an official one: stratified 90/10, ``random_state=0``."""
    from sklearn.model_selection import train_test_split

    fit_idx, test_idx = train_test_split(np.arange(len(y)), test_size=test_size, stratify=y, random_state=0)
    return np.sort(fit_idx), np.sort(test_idx)


def _split_set(name, X, y, kind, notes, **kw) -> Dataset:
    y = np.asarray(y).astype(np.int64)
    fit_idx, test_idx = _stratified_split(y)
    return Dataset(name, X, y, fit_idx, test_idx, int(len(np.unique(y))), notes=notes + "; held-back: stratified 10%",
                   kind=kind, **kw)


def load_coil20() -> Dataset:
    f = _npz("coil20.npz")
    return _split_set("coil20", f["X"], f["y"], "images",
                      "COIL-20 (1,440 32x32 grey images: 20 objects x 72 poses)")


def _uci(name: str, what: str):
    def load() -> Dataset:
        f = _npz(f"{name}.npz")
        X = np.ascontiguousarray(f["X"], dtype=np.float32)
        return _split_set(name, X, f["y"], "tabular",
                          f"UCI {what} ({X.shape[0]:,} x {X.shape[1]}, raw values as published)")

    load.__name__ = f"load_{name}"
    load.__doc__ = f"UCI {what} from ``{name}.npz``: float32 rows as published, stratified 90/10 held-back split."
    return load


load_letter = _uci("letter", "Letter Recognition")
# pendigits.npz merges the UCI train (7,494) and test (3,498) parts but does not mark which
# row came from which, so its held-back split is the stratified one too.
load_pendigits = _uci("pendigits", "Pen-Based Recognition of Handwritten Digits, train + test merged")
load_segmentation = _uci("segmentation", "Image Segmentation (Statlog)")
load_glass = _uci("glass", "Glass Identification")
load_seeds = _uci("seeds", "Seeds")


def _sklearn_table(name: str):
    def load() -> Dataset:
        import sklearn.datasets as skd

        X, y = getattr(skd, f"load_{name}")(return_X_y=True)
        X = np.ascontiguousarray(X, dtype=np.float32)
        return _split_set(name, X, y, "tabular", f"sklearn load_{name} ({X.shape[0]:,} x {X.shape[1]}, raw values)")

    load.__name__ = f"load_{name}"
    return load


load_iris = _sklearn_table("iris")
load_wine = _sklearn_table("wine")
load_breast_cancer = _sklearn_table("breast_cancer")


def load_digits_flat() -> Dataset:
    """sklearn digits as a 64-feature table (values 0-16, no ``image_shape``): the same rows and
    held-back split as ``digits``, but every method sees a table, the deep estimators included."""
    img = load_digits()
    return Dataset("digits_flat", img.X, img.y, img.fit_index, img.test_index, img.n_clusters,
                   notes="sklearn load_digits as a 1,797 x 64 table (0-16, no image_shape); held-back: stratified 10%",
                   kind="tabular")


def _classification(name: str, **params) -> Dataset:
    """A table of scikit-learn's ``make_classification(**params)``."""
    from sklearn.datasets import make_classification

    X, y = make_classification(**params)
    return _split_set(name, X.astype(np.float32), y, "tabular",
                      "sklearn make_classification(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")",
                      extra={"make_classification": params})


def _sheared_blobs(name: str, shear_seed: int, n_uniform: int, uniform_range: float, **params) -> Dataset:
    """``make_blobs(**params)`` times a fixed random square matrix (``default_rng(shear_seed)``),
    beside ``n_uniform`` features uniform on ``[-uniform_range, uniform_range]``."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(**params)
    rng = np.random.default_rng(shear_seed)
    d = params["n_features"]
    X = np.c_[X @ rng.normal(size=(d, d)), rng.uniform(-uniform_range, uniform_range, size=(len(X), n_uniform))]
    r = f"{uniform_range:g}"
    return _split_set(name, X.astype(np.float32), y, "tabular",
                      "sklearn make_blobs(" + ", ".join(f"{k}={v}" for k, v in params.items())
                      + f") @ default_rng({shear_seed}).normal(size=({d}, {d})), plus {n_uniform} features uniform on [-{r}, {r}]",
                      extra={"make_blobs": params})


def load_synthetic() -> Dataset:
    """``make_classification``: 4 classes, 5 informative + 2 redundant of 20 features (13 pure noise)."""
    return _classification("synthetic", n_samples=2000, n_features=20, n_informative=5, n_redundant=2, n_classes=4,
                           n_clusters_per_class=1, class_sep=2.0, random_state=0)


def load_synthetic_b() -> Dataset:
    """Held out (defined in session 20 before any fit on it): ``make_classification`` with other
    parameters than ``synthetic``, unequal classes and noise features."""
    return _classification("synthetic_b", n_samples=1500, n_features=15, n_informative=4, n_redundant=3, n_classes=3,
                           n_clusters_per_class=1, class_sep=1.5, weights=[0.5, 0.3, 0.2], random_state=1)


def load_blobs_aniso() -> Dataset:
    """Held out (defined in session 20 before any fit on it): ``make_blobs`` of unequal sizes and
    spreads, sheared by a fixed random linear map, with three uniform noise features."""
    return _sheared_blobs("blobs_aniso", 3, 3, 10, n_samples=[500, 300, 200, 100], n_features=5,
                          cluster_std=[1.0, 2.0, 1.5, 0.8], random_state=2)


def load_synthetic_c() -> Dataset:
    """Held out (defined in session 21 before any fit on it): ``make_classification`` with four
    unequal classes, other parameters than ``synthetic`` and ``synthetic_b``."""
    return _classification("synthetic_c", n_samples=1200, n_features=12, n_informative=5, n_redundant=2, n_classes=4,
                           n_clusters_per_class=1, class_sep=1.5, weights=[0.4, 0.3, 0.2, 0.1], random_state=7)


def load_synthetic_d() -> Dataset:
    """Held out (defined in session 21 before any fit on it): ``make_classification`` whose three
    classes are each two Gaussian clusters (so a mixture of three Gaussians is misspecified)."""
    return _classification("synthetic_d", n_samples=1500, n_features=10, n_informative=4, n_redundant=2, n_classes=3,
                           n_clusters_per_class=2, class_sep=2.0, random_state=5)


def load_blobs_mixed() -> Dataset:
    """Held out (defined in session 21 before any fit on it): ``make_blobs`` of five unequal sizes
    and spreads, sheared by a fixed random linear map, with two features uniform on [-5, 5]."""
    return _sheared_blobs("blobs_mixed", 12, 2, 5, n_samples=[400, 250, 150, 100, 100], n_features=6,
                          cluster_std=[1.0, 1.5, 0.7, 2.0, 1.2], random_state=11)


def load_blobs_noise() -> Dataset:
    """Held out (defined in session 26 before any fit on it): ``make_blobs`` of four unequal sizes
    and spreads, sheared, with three features uniform on [-6, 6] (the family of ``blobs_mixed``,
    which session 26 made development data)."""
    return _sheared_blobs("blobs_noise", 29, 3, 6, n_samples=[300, 200, 150, 50], n_features=4,
                          cluster_std=[1.0, 2.0, 0.8, 1.5], random_state=23)


def load_synthetic_e() -> Dataset:
    """Held out (defined in session 26 before any fit on it): ``make_classification``, three
    unequal classes (50 / 30 / 20 %), closer together than ``synthetic_c``, 1 % of labels flipped."""
    return _classification("synthetic_e", n_samples=1000, n_features=8, n_informative=3, n_redundant=1, n_classes=3,
                           n_clusters_per_class=1, class_sep=1.2, weights=[0.5, 0.3, 0.2], flip_y=0.01,
                           random_state=13)


def load_blobs_wide() -> Dataset:
    """Held out (defined in session 26 before any fit on it): ``make_blobs``, six equal clusters
    of equal spread in ten dimensions, sheared, no noise features."""
    return _sheared_blobs("blobs_wide", 31, 0, 1, n_samples=[150] * 6, n_features=10, cluster_std=2.5,
                          random_state=37)


def load_synthetic_f() -> Dataset:
    """Held out (defined in session 27 before any fit on it): ``make_classification``, four
    unequal, overlapping classes (40 / 25 / 20 / 15 %), 2 % of labels flipped."""
    return _classification("synthetic_f", n_samples=1600, n_features=10, n_informative=4, n_redundant=2, n_classes=4,
                           n_clusters_per_class=1, class_sep=1.3, weights=[0.4, 0.25, 0.2, 0.15], flip_y=0.02,
                           random_state=17)


def load_synthetic_g() -> Dataset:
    """Held out (defined in session 27 before any fit on it): ``make_classification``, five equal
    classes in sixteen features (six informative, three redundant, seven noise)."""
    return _classification("synthetic_g", n_samples=1500, n_features=16, n_informative=6, n_redundant=3, n_classes=5,
                           n_clusters_per_class=1, class_sep=1.8, random_state=19)


def load_blobs_overlap() -> Dataset:
    """Held out (defined in session 27 before any fit on it): ``make_blobs``, three groups of 400 /
    200 / 100 rows of unequal spread with centres in a small box (so they overlap), sheared, with
    two features uniform on [-4, 4]."""
    return _sheared_blobs("blobs_overlap", 43, 2, 4, n_samples=[400, 200, 100], n_features=3,
                          cluster_std=[1.8, 1.0, 1.3], center_box=(-4.0, 4.0), random_state=41)


def load_synthetic_h() -> Dataset:
    """Held out (defined in session 27 before any fit on it): ``make_classification`` whose four
    classes are each two Gaussian clusters (the family of ``synthetic_d``, other parameters)."""
    return _classification("synthetic_h", n_samples=1600, n_features=8, n_informative=4, n_redundant=1, n_classes=4,
                           n_clusters_per_class=2, class_sep=2.5, random_state=21)


def load_synthetic_i() -> Dataset:
    """Held out (defined in session 27 before any fit on it, for a test of a misspecification gate):
    ``make_classification``, two classes of two Gaussian clusters each, chosen among three candidates
    because its two-component mixture is stable and BIC prefers four components (label-free checks)."""
    return _classification("synthetic_i", n_samples=1200, n_features=6, n_informative=3, n_redundant=1, n_classes=2,
                           n_clusters_per_class=2, class_sep=2.5, random_state=31)


def load_synthetic_j() -> Dataset:
    """Held out (defined in session 27 before any fit on it), as ``synthetic_i`` with other parameters:
    two classes of two clusters each in ten features (three informative, two redundant)."""
    return _classification("synthetic_j", n_samples=1200, n_features=10, n_informative=3, n_redundant=2, n_classes=2,
                           n_clusters_per_class=2, class_sep=2.0, random_state=35)


def load_synthetic_k() -> Dataset:
    """Held out (defined in session 28 before any fit on it, to test that session's misspecification
    gate, which it then failed and which was not adopted): ``make_classification``, three classes
    of two Gaussian clusters each, the first of three candidates (random_state 51-53) on which the
    gate fired at seeds 0-2 (label-free check)."""
    return _classification("synthetic_k", n_samples=1500, n_features=8, n_informative=4, n_redundant=1, n_classes=3,
                           n_clusters_per_class=2, class_sep=3.0, random_state=51)


def load_blobs_pairs() -> Dataset:
    """Held out (defined in session 28 before any fit on it, to test that session's misspecification
    gate, not adopted): three classes, each two touching Gaussian blobs (standard deviation 1,
    centres 3.5 apart along a random direction) of 200 rows, class centres uniform in
    [-10, 10]^4 (``default_rng(41)``); the first of three seeds (41-43) on which the gate fired at
    seeds 0-2 (all three did; label-free check)."""
    rng = np.random.default_rng(41)
    centres = rng.uniform(-10.0, 10.0, (3, 4))
    direction = rng.normal(size=(3, 4))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    blobs = [c for pair in zip(centres, centres + 3.5 * direction) for c in pair]
    X = np.concatenate([rng.normal(c, 1.0, (200, 4)) for c in blobs]).astype(np.float32)
    y = np.repeat(np.arange(3), 400)
    return _split_set("blobs_pairs", X, y, "tabular",
                      "three classes of two touching Gaussian blobs each (std 1, centres 3.5 apart), 200 rows per blob, "
                      "class centres uniform in [-10, 10]^4, default_rng(41)")


def _cifar10_lossless() -> tuple[np.ndarray, np.ndarray, int]:
    tr, te = _npz("cifar10_train_lossless_subset.npz"), _npz("cifar10_test_lossless_subset.npz")
    X = np.concatenate([tr["X"], te["X"]])
    y = np.concatenate([tr["y"], te["y"]]).astype(np.int64)
    return X, y, tr["X"].shape[0]


def to_grey_uint8(X: np.ndarray) -> np.ndarray:
    """``(n, H, W, 3)`` uint8 RGB -> ``(n, H, W, 1)`` uint8 grey, as torchvision's ``rgb_to_grayscale``.

    ``deepclust.augment.ops.rgb_to_grey`` (torchvision's luma weights 0.2989, 0.587, 0.114) on the
    0-255 values, then truncated to uint8 as torchvision does for uint8 images (``preserve_dtype``):
    the same pixels without importing torchvision, which a CPU-only torch may not load.
    """
    import torch

    from deepclust.augment.ops import rgb_to_grey

    t = torch.from_numpy(np.ascontiguousarray(X)).permute(0, 3, 1, 2).to(torch.float32)
    grey = rgb_to_grey(t).to(torch.uint8)  # float -> uint8 truncates, like torchvision
    return grey.permute(0, 2, 3, 1).contiguous().numpy()


def _cifar_subset(name: str, grey: bool):
    def load() -> Dataset:
        X, y, n_tr = _cifar10_lossless()
        if grey:
            X = to_grey_uint8(X)
        what = "grey (torchvision luma, uint8)" if grey else "RGB"
        return Dataset(name, X, y, fit_index=np.arange(n_tr), test_index=np.arange(n_tr, X.shape[0]), n_clusters=10,
                       notes=f"CIFAR-10 lossless subset, train 5,085 + test 1,017 merged (6,102), {what}; "
                             "held-back: the test subset")

    load.__name__ = f"load_{name}"
    return load


load_cifar10_subset = _cifar_subset("cifar10_subset", grey=False)
load_cifar10_grey = _cifar_subset("cifar10_grey", grey=True)

#: Where cifar10_grey_b's images sit in each split of the JPEG archive: positions 5,000-5,999 of
#: every training batch of 10,000 and of the test set, far from the lossless subset's first 1,017.
_GREY_B_POSITIONS = np.arange(5000, 6000)


def load_cifar10_grey_b() -> Dataset:
    """6,000 CIFAR-10 images disjoint from ``cifar10_grey``'s, grey: held out for the grey preset.

    Images 5,000-5,999 of each of the five training batches and of the test set, decoded from
    the JPEG archive (quality 75, not bit-exact) and converted as ``cifar10_grey`` is
    (:func:`to_grey_uint8`). Defined in session 29, before any fit on it, to test the choice
    of the grey preset made on ``cifar10_grey``: natural images that played no part in it
    (the same source, so not a test of other domains).
    """
    f = _npz("cifar10_jpeg_bytes.npz")
    images, labels = [], []
    splits = [("train", batch * 10000 + _GREY_B_POSITIONS) for batch in range(5)] + [("test", _GREY_B_POSITIONS)]
    for split, positions in splits:
        jpeg, offsets = f[f"jpeg_{split}"], f[f"offsets_{split}"]
        for i in positions:
            images.append(np.asarray(_decode_one_jpeg(jpeg, offsets, i)))
        labels.append(f[f"y_{split}"][positions])
    X = to_grey_uint8(np.stack(images))
    y = np.concatenate(labels).astype(np.int64)
    n_tr = 5 * _GREY_B_POSITIONS.size
    return Dataset("cifar10_grey_b", X, y, fit_index=np.arange(n_tr), test_index=np.arange(n_tr, X.shape[0]),
                   n_clusters=10, notes="CIFAR-10 images 5,000-5,999 of each training batch and of the test set "
                   "(6,000, JPEG q75), grey (torchvision luma, uint8); held out (session 29); held-back: the test part")


LOADERS = {
    "digits": load_digits,
    "usps": load_usps,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "coil20": load_coil20,
    "cifar10_grey": load_cifar10_grey,
    "cifar10_grey_b": load_cifar10_grey_b,
    "cifar10_subset": load_cifar10_subset,
    "digits_flat": load_digits_flat,
    "letter": load_letter,
    "pendigits": load_pendigits,
    "segmentation": load_segmentation,
    "glass": load_glass,
    "seeds": load_seeds,
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "synthetic": load_synthetic,
    "synthetic_b": load_synthetic_b,
    "blobs_aniso": load_blobs_aniso,
    "synthetic_c": load_synthetic_c,
    "blobs_mixed": load_blobs_mixed,
    "synthetic_d": load_synthetic_d,
    "blobs_noise": load_blobs_noise,
    "synthetic_e": load_synthetic_e,
    "blobs_wide": load_blobs_wide,
    "synthetic_f": load_synthetic_f,
    "synthetic_g": load_synthetic_g,
    "blobs_overlap": load_blobs_overlap,
    "synthetic_h": load_synthetic_h,
    "synthetic_i": load_synthetic_i,
    "synthetic_j": load_synthetic_j,
    "synthetic_k": load_synthetic_k,
    "blobs_pairs": load_blobs_pairs,
}

#: Suites for ``run.py --suite``: "dev" runs in minutes per method on a CPU (baselines) and is meant
#: for choosing defaults that hold beyond handwriting; "full" adds the two large image sets.
SUITES = {
    "dev": ["digits", "usps", "coil20", "cifar10_grey", "cifar10_grey_b", "cifar10_subset",
            "digits_flat", "pendigits", "letter", "segmentation", "glass", "seeds",
            "iris", "wine", "breast_cancer", "synthetic", "synthetic_b", "blobs_aniso",
            "synthetic_c", "blobs_mixed", "synthetic_d", "blobs_noise", "synthetic_e", "blobs_wide",
            "synthetic_f", "synthetic_g", "blobs_overlap", "synthetic_h",
            "synthetic_i", "synthetic_j", "synthetic_k", "blobs_pairs"],
}
SUITES["full"] = SUITES["dev"] + ["mnist", "cifar10"]


def load(name: str) -> Dataset:
    try:
        return LOADERS[name]()
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose from {sorted(LOADERS)}") from None
