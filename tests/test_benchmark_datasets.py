"""``benchmarks/datasets.py``: the dev-suite loaders (the shared-data ones skip without ../shared/data)."""

import numpy as np
import pytest

from benchmarks import datasets as D
from benchmarks import report as R

SHARED = {  # name: (n, X shape after n, dtype, kind, K, n held back)
    "coil20": (1440, (32, 32, 1), np.uint8, "images", 20, 144),
    "cifar10_grey": (6102, (32, 32, 1), np.uint8, "images", 10, 1017),
    "cifar10_grey_b": (6000, (32, 32, 1), np.uint8, "images", 10, 1000),
    "cifar10_subset": (6102, (32, 32, 3), np.uint8, "images", 10, 1017),
    "letter": (20000, (16,), np.float32, "tabular", 26, 2000),
    "pendigits": (10992, (16,), np.float32, "tabular", 10, 1100),
    "segmentation": (2310, (19,), np.float32, "tabular", 7, 231),
    "glass": (214, (9,), np.float32, "tabular", 6, 22),
    "seeds": (210, (7,), np.float32, "tabular", 3, 21),
}
SKLEARN = {
    "iris": (150, (4,), 3), "wine": (178, (13,), 3), "breast_cancer": (569, (30,), 2),
    "digits_flat": (1797, (64,), 10), "synthetic": (2000, (20,), 4),
}


def _check_split(ds, n_test):
    fit, test = ds.fit_index, ds.test_index
    assert len(test) == n_test and len(fit) + len(test) == ds.n
    assert np.array_equal(np.sort(np.concatenate([fit, test])), np.arange(ds.n))
    assert set(np.unique(ds.y[test])) == set(range(ds.n_clusters))  # every class held back


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_data_loaders(name, shared_data):
    n, shape, dtype, kind, k, n_test = SHARED[name]
    ds = D.load(name)
    assert ds.X.shape == (n, *shape) and ds.X.dtype == dtype and ds.y.dtype == np.int64
    assert ds.kind == kind and ds.tabular == (kind == "tabular") and ds.image_shape is None
    assert ds.n_clusters == k and set(np.unique(ds.y)) == set(range(k))
    _check_split(ds, n_test)
    flat = ds.flat01(ds.test_index[:5])
    if ds.tabular:  # raw values as published, not divided by 255
        np.testing.assert_array_equal(flat, ds.X[ds.test_index[:5]])
    else:
        assert flat.shape == (5, int(np.prod(shape))) and flat.max() <= 1.0


@pytest.mark.parametrize("name", sorted(SKLEARN))
def test_sklearn_table_loaders(name):
    n, shape, k = SKLEARN[name]
    ds = D.load(name)
    assert ds.X.shape == (n, *shape) and ds.X.dtype == np.float32 and ds.tabular and ds.image_shape is None
    assert ds.n_clusters == k
    _check_split(ds, int(np.ceil(0.1 * n)))
    np.testing.assert_array_equal(ds.flat01(), ds.X)  # raw rows (digits_flat keeps 0-16)


def test_digits_flat_is_digits_as_a_table():
    img, flat = D.load("digits"), D.load("digits_flat")
    np.testing.assert_array_equal(img.X, flat.X)
    np.testing.assert_array_equal(img.test_index, flat.test_index)
    assert img.image_shape == (1, 8, 8) and flat.image_shape is None
    assert img.flat01().max() == 1.0 and flat.flat01().max() == 16.0


def test_grey_conversion_is_torchvisions():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(4, 5, 6, 3), dtype=np.uint8)
    grey = D.to_grey_uint8(X)
    assert grey.shape == (4, 5, 6, 1) and grey.dtype == np.uint8
    ref = np.floor(X[..., :1] * 0.2989 + X[..., 1:2] * 0.587 + X[..., 2:3] * 0.114 + 1e-4).astype(np.uint8)
    assert np.abs(grey.astype(int) - ref).max() <= 1
    try:
        from deepclust.nn.resnet import import_torchvision

        import_torchvision()
        import torch
        from torchvision.transforms.v2.functional import rgb_to_grayscale
    except Exception:  # pragma: no cover - torchvision not usable here
        return
    tv = rgb_to_grayscale(torch.from_numpy(X).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(grey, tv)


def test_cifar_grey_is_the_rgb_subset_in_grey(shared_data):
    rgb, grey = D.load("cifar10_subset"), D.load("cifar10_grey")
    np.testing.assert_array_equal(rgb.y, grey.y)
    np.testing.assert_array_equal(D.to_grey_uint8(rgb.X[:50]), grey.X[:50])


def test_suites_and_the_report_agree():
    assert list(R.DEV_SUITE) == D.SUITES["dev"]
    assert set(D.SUITES["dev"]) <= set(D.LOADERS) and set(D.SUITES["full"]) <= set(D.LOADERS)
    assert {"mnist", "cifar10"} <= set(D.SUITES["full"]) and not {"mnist", "cifar10"} & set(D.SUITES["dev"])
    for name in ("iris", "synthetic", "digits", "digits_flat"):  # no shared data needed
        assert D.load(name).kind == R.DEV_SUITE[name]


def test_kind_is_checked():
    with pytest.raises(ValueError):
        D.Dataset("x", np.zeros((2, 1)), np.zeros(2), np.arange(1), np.arange(1, 2), 1, kind="table")
