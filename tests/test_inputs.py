"""Input handling: data on any scale, torch tensors, data frames, image layouts at predict."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from deepclust import DRCClustering
from deepclust._data import detect_layout, feature_statistics

from ._estimators import ESTIMATOR_CLASSES, fast


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=200, centers=3, n_features=4, random_state=0)


# ---------------------------------------------------------------------------- scale
@pytest.mark.parametrize("scale", [1e-12, 1e-8, 1e-4, 1e4, 1e12])
def test_fit_on_any_scale_gives_the_same_good_clustering(blobs, scale):
    # The old rule (std below ~1.2e-7 is "constant") left X * 1e-8 unscaled: one cluster.
    X, y = blobs
    params = dict(n_clusters=3, max_epochs=5, batch_size=64, device="cpu", random_state=0)
    reference = DRCClustering(**params).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ClusterCollapseWarning
        scaled = DRCClustering(**params).fit(X * scale)
    assert adjusted_rand_score(y, reference.labels_) > 0.9
    assert adjusted_rand_score(reference.labels_, scaled.labels_) > 0.95
    standardised = scaled.module_.standardize(torch.as_tensor(X * scale, dtype=torch.float32))
    assert torch.isfinite(standardised).all()  # float32 does not overflow at 1e12
    np.testing.assert_allclose(standardised.std(dim=0, unbiased=False).numpy(), 1.0, rtol=1e-3)


def test_constant_is_judged_relative_to_the_feature_scale():
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [
            rng.normal(size=100) * 1e-9,  # mean ~0, tiny spread: not constant
            np.full(100, 1e-9),  # constant (tiny value)
            np.full(100, 3e8),  # constant (large value)
            3e8 + rng.normal(size=100) * 1e-3,  # spread far below float32 rounding of 3e8
            1e6 + rng.normal(size=100),  # large offset, genuine spread
        ]
    ).astype(np.float32)
    mean, std = feature_statistics(X, detect_layout(X.shape))
    expected = X.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(std[[0, 4]], expected[[0, 4]], rtol=1e-3)
    np.testing.assert_array_equal(std[[1, 2, 3]], 1.0)
    np.testing.assert_allclose(mean, X.astype(np.float64).mean(axis=0), rtol=1e-6)


# ---------------------------------------------------------------------------- torch tensors
@pytest.mark.parametrize(
    "make",
    [
        lambda X: torch.as_tensor(X),
        lambda X: torch.as_tensor(X).requires_grad_(True),
        lambda X: torch.as_tensor(X).to(torch.float64),
        lambda X: torch.as_tensor(X).to(torch.float16),
        lambda X: torch.as_tensor(X).to(torch.bfloat16),
        lambda X: torch.as_tensor(X).t().contiguous().t(),  # non-contiguous
    ],
    ids=["float32", "requires_grad", "float64", "float16", "bfloat16", "strided"],
)
def test_torch_tensors_give_the_labels_of_the_numpy_array(make):
    X = torch.randn(40, 5, generator=torch.Generator().manual_seed(0)).numpy()
    tensor = make(X)
    before = tensor.detach().clone()
    as_numpy = tensor.detach().float().numpy() if tensor.dtype == torch.bfloat16 else tensor.detach().numpy()
    params = dict(n_clusters=2, max_epochs=1, batch_size=20, device="cpu", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_tensor = DRCClustering(**params).fit(tensor)
        from_numpy = DRCClustering(**params).fit(as_numpy)
    np.testing.assert_array_equal(from_tensor.labels_, from_numpy.labels_)
    np.testing.assert_array_equal(from_tensor.predict(tensor), from_numpy.labels_)
    np.testing.assert_array_equal(from_tensor.transform(tensor), from_numpy.transform(as_numpy))
    assert torch.equal(tensor.detach(), before)  # never modified
    assert tensor.grad is None


def test_image_tensor_and_sparse_tensor():
    images = torch.randint(0, 256, (20, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    model = fast(DRCClustering, n_clusters=2, max_epochs=1, batch_size=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(images)
    assert model.input_shape_ == (1, 8, 8)
    np.testing.assert_array_equal(model.predict(images.numpy()), model.labels_)
    with pytest.raises(TypeError, match="sparse torch tensor"):
        model.predict(torch.eye(20).to_sparse())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensor_is_read_from_the_host():
    X = torch.randn(40, 5, generator=torch.Generator().manual_seed(0))
    params = dict(n_clusters=2, max_epochs=1, batch_size=20, device="cpu", random_state=0)
    from_cuda = DRCClustering(**params).fit(X.cuda())
    np.testing.assert_array_equal(from_cuda.labels_, DRCClustering(**params).fit(X.numpy()).labels_)


# ---------------------------------------------------------------------------- data frames
def test_string_or_categorical_column_is_named_in_the_error():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": np.arange(10.0), "city": list("abcdeabcde"), "b": np.ones(10)})
    frame["kind"] = pd.Categorical(list("xyxyxyxyxy"))
    with pytest.raises(ValueError, match=r"non-numeric columns: 'city' \(.*\), 'kind' \(category\)"):
        fast(DRCClustering, n_clusters=2).fit(frame)


def test_numeric_data_frame_is_accepted_with_its_feature_names():
    pd = pytest.importorskip("pandas")
    X, _ = make_blobs(n_samples=40, centers=2, n_features=3, random_state=0)
    frame = pd.DataFrame(X, columns=["x", "y", "z"])
    frame["flag"] = X[:, 0] > 0
    model = fast(DRCClustering, n_clusters=2, max_epochs=1, batch_size=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(frame)
    assert list(model.feature_names_in_) == ["x", "y", "z", "flag"]
    np.testing.assert_array_equal(model.predict(frame), model.labels_)


def test_polars_string_column_is_named_in_the_error():
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "name": ["p", "q", "r", "s"]})
    with pytest.raises(ValueError, match="non-numeric columns: 'name'"):
        fast(DRCClustering, n_clusters=2).fit(frame)


# ---------------------------------------------------------------------------- image layouts
@pytest.fixture(scope="module")
def nhwc_model():
    images = np.random.default_rng(0).integers(0, 256, size=(20, 16, 16, 3), dtype=np.uint8)
    model = fast(DRCClustering, n_clusters=2, max_epochs=1, batch_size=10, backbone="cnn", augment=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(images)
    return model, images


def test_predict_accepts_another_layout_of_the_fitted_image_shape(nhwc_model):
    # Documented: any layout of the fitted (C, H, W); sklearn's n_features check (H here) refused it.
    model, images = nhwc_model
    np.testing.assert_array_equal(model.predict(images.transpose(0, 3, 1, 2)), model.labels_)


def test_predict_on_other_images_names_the_shapes_and_layouts(nhwc_model):
    model, images = nhwc_model
    with pytest.raises(
        ValueError,
        match=r"fitted on images of shape \(C, H, W\) = \(3, 16, 16\) given as \(n, H, W, C\); "
        r"X has shape \(5, 12, 12, 3\), read as \(n, H, W, C\), i\.e\. images of shape \(C, H, W\) = \(3, 12, 12\)",
    ):
        model.predict(images[:5, :12, :12])
    with pytest.raises(ValueError, match=r"X has shape \(5, 16, 16\), read as \(n, H, W\)"):
        model.predict(images[:5, :, :, 0])
    with pytest.raises(ValueError, match=r"X has shape \(5, 768\), read as \(n_samples, n_features\)"):
        model.predict(images[:5].reshape(5, -1))


@pytest.mark.parametrize("cls", ESTIMATOR_CLASSES, ids=lambda c: c.__name__)
def test_tabular_predict_keeps_sklearn_n_features_message(cls):
    X, _ = make_blobs(n_samples=40, centers=2, n_features=4, random_state=0)
    model = fast(cls, n_clusters=2, max_epochs=1, batch_size=20).fit(X)
    with pytest.raises(ValueError, match=f"X has 3 features, but {cls.__name__} is expecting 4 features"):
        model.predict(X[:, :3])


def test_scale_warning_names_the_dtype_passed(nhwc_model):
    model, images = nhwc_model
    with pytest.warns(UserWarning, match="fitted on uint8 images.*X holds uint16 images with values up to"):
        model.predict(images.astype(np.uint16) * 2)
    with pytest.warns(UserWarning, match="X holds float64 images"):
        model.predict(images.astype(np.float64))


def test_sample_weight_is_not_supported():
    X, _ = make_blobs(n_samples=20, centers=2, random_state=0)
    with pytest.raises(TypeError, match="sample_weight"):
        fast(DRCClustering, n_clusters=2).fit(X, sample_weight=np.ones(20))
