import numpy as np
import pytest

from deepclust._data import detect_layout, feature_statistics


@pytest.mark.parametrize(
    "shape,image_shape,kind,sample,source",
    [
        ((5, 7), None, "tabular", (7,), "tabular"),
        ((5, 64), (1, 8, 8), "image", (1, 8, 8), "flat"),
        ((5, 64), (8, 8), "image", (1, 8, 8), "flat"),
        ((5, 28, 28), None, "image", (1, 28, 28), "nhw"),
        ((5, 28, 28, 1), None, "image", (1, 28, 28), "nhwc"),
        ((5, 32, 32, 3), None, "image", (3, 32, 32), "nhwc"),
        ((5, 3, 32, 32), None, "image", (3, 32, 32), "nchw"),
        ((5, 3, 4, 3), (3, 4, 3), "image", (3, 4, 3), "nchw"),
        ((5, 3, 4, 3), (3, 3, 4), "image", (3, 3, 4), "nhwc"),
    ],
)
def test_detect_layout(shape, image_shape, kind, sample, source):
    layout = detect_layout(shape, image_shape)
    assert (layout.kind, layout.sample_shape, layout.source) == (kind, sample, source)


@pytest.mark.parametrize(
    "shape,image_shape,match",
    [
        ((5, 3, 4, 3), None, "image_shape=\\(3, 3, 4\\).*image_shape=\\(3, 4, 3\\)"),
        ((5, 10, 10, 10), None, "Cannot tell the channel axis"),
        ((5, 63), (1, 8, 8), "64 values per sample"),
        ((5, 8, 8), (1, 9, 9), "does not match"),
        ((5, 3, 8, 8), (3, 9, 9), "matches neither"),
        ((5, 2, 2, 2, 2), None, "5 dimensions"),
        ((5, 64), (1, -8, 8), "positive ints"),
    ],
)
def test_detect_layout_errors(shape, image_shape, match):
    with pytest.raises(ValueError, match=match):
        detect_layout(shape, image_shape)


def test_feature_statistics_large_offset_and_constant_feature():
    rng = np.random.default_rng(0)
    X = np.column_stack([1e6 + rng.normal(size=20000), np.full(20000, 3.0)]).astype(np.float64)
    layout = detect_layout(X.shape)
    mean, std = feature_statistics(X, layout)
    assert mean[0] == pytest.approx(1e6, rel=1e-6)
    assert std[0] == pytest.approx(X[:, 0].std(), rel=1e-3)
    assert std[1] == 1.0  # constant feature: unit scale, as StandardScaler


def test_feature_statistics_per_channel_uint8():
    X = np.zeros((10, 3, 8, 8), dtype=np.uint8)
    X[:, 1] = 255
    mean, std = feature_statistics(X, detect_layout(X.shape))
    np.testing.assert_allclose(mean, [0.0, 1.0, 0.0])
    np.testing.assert_allclose(std, [1.0, 1.0, 1.0])
