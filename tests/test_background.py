"""``augment="auto"`` for grey images: the handwriting preset on a blank background, the general one elsewhere."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from deepclust import DRCClustering, JCLClustering
from deepclust.augment.background import BINS, BLANK_BACKGROUND_SHARE, background_share, grey_auto_preset


def _strokes(n=24, side=8, seed=0):
    """Bars on black: most pixels are background."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, side, side), dtype=np.uint8)
    for i, col in enumerate(rng.integers(0, side - 2, n)):
        X[i, :, col : col + 2] = 255 if i % 2 else 180
    return X


def _texture(n=24, side=8, seed=0):
    """Frame-filling values spread over the whole range, as natural images are."""
    return np.random.default_rng(seed).integers(0, 256, (n, side, side), dtype=np.uint8)


def test_share_of_the_most_common_band():
    strokes, texture = _strokes(), _texture()
    assert background_share(strokes, (0.0, 1.0)) == pytest.approx(0.75)
    assert 1 / BINS <= background_share(texture, (0.0, 1.0)) < BLANK_BACKGROUND_SHARE
    # Float images on their own scale give the uint8 images' share.
    assert background_share(strokes.astype(np.float32) / 255 * 16, (0.0, 16.0)) == pytest.approx(0.75)
    assert background_share(np.full((3, 4, 4), 7.0), (7.0, 7.0)) == 1.0  # constant images
    before = strokes.copy()
    background_share(strokes, (0.0, 1.0), max_images=5)
    np.testing.assert_array_equal(strokes, before)


def test_reads_evenly_spaced_images_only():
    X = np.r_[_texture(50), _strokes(50)]  # texture first, strokes after
    assert background_share(X, (0.0, 1.0), max_images=2) == background_share(X[[0, -1]], (0.0, 1.0))
    assert background_share(X, (0.0, 1.0), max_images=2) != background_share(X[:2], (0.0, 1.0))


def test_rule():
    assert grey_auto_preset(BLANK_BACKGROUND_SHARE) == "handwriting"
    assert grey_auto_preset(BLANK_BACKGROUND_SHARE - 0.01) == "grey"


@pytest.mark.parametrize(
    "X, augment, expected",
    [
        (_strokes(), "auto", "handwriting"),
        (_texture(), "auto", "grey"),
        (_texture(), "handwriting", "handwriting"),  # an explicit preset is kept
        (_strokes(), None, None),
    ],
)
def test_fitted_augment_names_the_preset(X, augment, expected):
    est = DRCClustering(n_clusters=2, max_epochs=1, batch_size=8, augment=augment, device="cpu", random_state=0)
    assert est.fit(X).augment_ == expected


def test_fitted_augment_for_tables_and_callables():
    X, _ = make_blobs(n_samples=30, centers=2, random_state=0)
    assert JCLClustering(n_clusters=2, max_epochs=1, device="cpu", random_state=0).fit(X).augment_ == "cluster_noise"

    def jitter(x, generator):
        return x + 0.01

    assert DRCClustering(n_clusters=2, max_epochs=1, augment=jitter, device="cpu").fit(X).augment_ is jitter


def test_the_suite_sets_fall_on_their_side(shared_data):
    from benchmarks import datasets as D

    for name, preset in [("digits", "handwriting"), ("usps", "handwriting"), ("coil20", "handwriting"),
                         ("cifar10_grey", "grey")]:
        X = D.load(name).X
        lo, hi = (0.0, 1.0) if X.dtype == np.uint8 else (float(X.min()), float(X.max()))
        assert grey_auto_preset(background_share(X, (lo, hi))) == preset, name
