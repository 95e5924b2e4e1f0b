"""Behaviour every estimator shares: seeding, persistence, sklearn composition, bad input."""

import io
import pickle
import random
import warnings
from unittest import mock

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deepclust import ClusterCollapseWarning, DeviceWarning
from deepclust.metrics import ari_scorer

from ._estimators import ESTIMATOR_CLASSES, fast

pytestmark = pytest.mark.parametrize("cls", ESTIMATOR_CLASSES, ids=lambda c: c.__name__)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=120, centers=3, n_features=5, random_state=0)
    return X.astype(np.float64), y


# ---------------------------------------------------------------- seeding and determinism
def test_same_seed_same_labels(cls, blobs):
    X, _ = blobs
    a = fast(cls, random_state=7).fit(X)
    b = fast(cls, random_state=7).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    c = fast(cls, random_state=8).fit(X)
    assert not np.array_equal(a.transform(X), c.transform(X))


def test_fit_leaves_global_rng_untouched(cls, blobs):
    X, _ = blobs
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    torch_state = torch.get_rng_state().clone()
    np_state = np.random.get_state()
    py_state = random.getstate()
    fast(cls, random_state=0).fit(X)
    fast(cls, random_state=None).fit(X)
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]
    assert random.getstate() == py_state


def test_predict_is_batch_size_invariant(cls, blobs):
    X, _ = blobs
    model = fast(cls).fit(X)
    full = model.predict(X)
    pieces = np.concatenate([model.predict(X[i : i + 7]) for i in range(0, len(X), 7)])
    np.testing.assert_array_equal(full, pieces)
    np.testing.assert_array_equal(full, model.labels_)
    # bitwise: inference runs in fixed-size zero-padded chunks
    np.testing.assert_array_equal(
        model.transform(X), np.concatenate([model.transform(X[i : i + 5]) for i in range(0, len(X), 5)])
    )
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(X[::-1])[::-1])


def test_fitted_attributes_and_outputs(cls, blobs):
    X, _ = blobs
    model = fast(cls, n_clusters=3).fit(X)
    assert model.n_features_in_ == 5 and model.input_shape_ == (5,)
    assert model.n_iter_ == len(model.history_) == 3
    entry = model.history_[-1]
    for key in ("loss", "seconds", "samples_per_s", "labels_changed", "epoch"):
        assert key in entry
    assert 0.0 <= entry["labels_changed"] <= 1.0
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba.argmax(axis=1), model.predict(X))
    Z = model.transform(X)
    assert Z.dtype == np.float32 and Z.shape == (len(X), model.module_.feature_dim)
    assert len(model.get_feature_names_out()) == Z.shape[1]
    assert model.device_ == torch.device("cpu")
    score = model.score(X)
    assert 0.0 <= score <= np.log(3) + 1e-9


def test_warm_start_continues(cls, blobs):
    X, _ = blobs
    model = fast(cls, warm_start=True, max_epochs=2).fit(X)
    first_module = model.module_
    model.fit(X)
    assert model.n_iter_ == 4 and model.module_ is first_module
    cold = fast(cls, max_epochs=2).fit(X)
    cold.fit(X)
    assert cold.n_iter_ == 2


@pytest.mark.parametrize("change", [{"n_clusters": 4}, {"backbone": "cnn"}])
def test_warm_start_refuses_another_architecture(cls, blobs, change):
    X, _ = blobs
    model = fast(cls, warm_start=True, max_epochs=1).fit(X)
    first_module = model.module_
    with pytest.raises(ValueError, match=f"warm_start=True .* {next(iter(change))} changed"):
        model.set_params(**change).fit(X)
    assert model.module_ is first_module and model.n_iter_ == 1  # the fitted model is untouched


def test_read_only_input_is_never_handed_to_torch_from_numpy(cls, blobs):
    # torch warns (once per process, so a warning filter cannot test it) that writing to a
    # tensor made from read-only memory is undefined; e.g. a memmap opened with mode="r".
    X, _ = blobs
    X = np.ascontiguousarray(np.tile(X, (3, 1)), dtype=np.float32)  # >= one 256-row inference chunk
    X.flags.writeable = False
    given = []
    original = torch.from_numpy

    def record(array):
        given.append(array.flags.writeable)
        return original(array)

    with mock.patch.object(torch, "from_numpy", record), warnings.catch_warnings():
        warnings.simplefilter("ignore", ClusterCollapseWarning)
        model = fast(cls).fit(X)
        model.predict(X), model.transform(X)
    assert given and all(given)


def test_score_prefers_trained_model(cls, blobs):
    X, _ = blobs
    untrained = fast(cls, max_epochs=0, n_clusters=3).fit(X)
    trained = fast(cls, max_epochs=30, n_clusters=3, batch_size=32).fit(X)
    assert trained.score(X) > untrained.score(X)


# ---------------------------------------------------------------- persistence
def test_pickle_and_joblib_round_trip(cls, blobs, tmp_path):
    X, _ = blobs
    model = fast(cls).fit(X)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    joblib.dump(model, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").predict(X), model.predict(X))
    np.testing.assert_array_equal(clone(model).get_params()["n_clusters"], model.n_clusters)


@pytest.mark.parametrize("fitted_on", ["cuda:0", "mps"])
def test_gpu_fitted_model_loads_on_cpu_only_machine(cls, blobs, fitted_on):
    """Simulate a GPU fit: the pickle must hold no device storage and load with a warning."""
    X, _ = blobs
    model = fast(cls).fit(X)
    expected = model.predict(X)
    model.device_ = torch.device(fitted_on)  # as if fitted on a GPU
    payload = pickle.dumps(model)
    with mock.patch("torch.cuda.is_available", return_value=False), mock.patch(
        "torch.backends.mps.is_available", return_value=False
    ):
        with pytest.warns(DeviceWarning, match=f"fitted on {fitted_on}, which is not available"):
            restored = pickle.loads(payload)
        assert restored.device_ == torch.device("cpu")
        assert all(p.device.type == "cpu" for p in restored.module_.parameters())
        np.testing.assert_array_equal(restored.predict(X), expected)


def test_pickled_module_holds_only_cpu_tensors(cls, blobs):
    X, _ = blobs
    model = fast(cls).fit(X)
    state = model.__getstate__()
    tensors = list(state["module_"].state_dict().values())
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    # the state_dict round-trips through torch.load with weights_only=True (no code execution)
    buffer = io.BytesIO()
    torch.save(state["module_"].state_dict(), buffer)
    buffer.seek(0)
    torch.load(buffer, weights_only=True)


# ---------------------------------------------------------------- sklearn composition
def test_pipeline_with_scaler(cls, blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), fast(cls, n_clusters=3, max_epochs=20))
    labels = pipe.fit_predict(X)
    assert labels.shape == (len(X),)
    np.testing.assert_array_equal(pipe.predict(X), labels)


def test_grid_search_over_lr_with_ari(cls, blobs):
    X, y = blobs
    search = GridSearchCV(fast(cls, n_clusters=3, max_epochs=5), {"lr": [1e-3, 1e-2]}, scoring=ari_scorer, cv=2)
    search.fit(X, y)
    assert search.best_params_["lr"] in (1e-3, 1e-2)
    assert np.isfinite(search.best_score_)


def test_custom_backbone_module_is_not_modified(cls, blobs):
    X, _ = blobs
    backbone = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU())
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    model = fast(cls, backbone=backbone).fit(X)
    assert model.transform(X).shape == (len(X), 16)
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, before[k])


def test_custom_augment_callable(cls, blobs):
    X, _ = blobs
    calls = []

    def jitter(x, generator):
        calls.append(x.shape)
        return x + 0.1 * torch.randn(x.shape, generator=generator, device=x.device)

    model = fast(cls, augment=jitter).fit(X)
    # One call per step, on the batch stacked twice (both views at once).
    assert calls and all(shape[0] % 2 == 0 and shape[1:] == (5,) for shape in calls)
    assert sum(shape[0] for shape in calls) == 2 * len(X) * model.n_iter_
    fast(cls, augment=None).fit(X)


@pytest.mark.parametrize(
    "bad,error,match",
    [
        (lambda x, generator: x[: len(x) // 2], ValueError, "augment must return a batch of the shape it is given"),
        (lambda x, generator: x[:, :3], ValueError, "augment must return a batch of the shape it is given"),
        (lambda x, generator: x.numpy(), TypeError, "augment must return a torch.Tensor; it returned ndarray"),
    ],
)
def test_augment_returning_another_shape_is_a_clear_error(cls, blobs, bad, error, match):
    X, _ = blobs
    with pytest.raises(error, match=match):
        fast(cls, augment=bad).fit(X)


# ---------------------------------------------------------------- input layouts
@pytest.mark.parametrize(
    "shape,kwargs",
    [
        ((40, 8, 8), {}),
        ((40, 8, 8, 1), {}),
        ((40, 1, 8, 8), {}),
        ((40, 8, 8, 3), {}),
        ((40, 3, 8, 8), {}),
        ((40, 64), {"image_shape": (1, 8, 8)}),
        ((40, 64), {"image_shape": (8, 8)}),
        ((40, 3, 4, 3), {"image_shape": (3, 4, 3)}),
    ],
)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_image_layouts(cls, shape, kwargs, dtype):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=shape).astype(dtype)
    if dtype == np.float32:
        X /= 255
    original = X.copy()
    model = fast(cls, n_clusters=2, max_epochs=1, batch_size=16, **kwargs).fit(X)
    assert len(model.input_shape_) == 3
    assert model.predict(X).shape == (40,)
    np.testing.assert_array_equal(X, original)


def test_ambiguous_layout_is_an_error_that_says_what_to_pass(cls):
    X = np.zeros((10, 3, 4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="image_shape"):
        fast(cls, n_clusters=2).fit(X)


# ---------------------------------------------------------------- bad input
def test_input_array_is_never_modified(cls, blobs):
    X, _ = blobs
    X = X.copy()
    X.flags.writeable = True
    before = X.copy()
    model = fast(cls).fit(X)
    model.predict(X)
    model.transform(X)
    np.testing.assert_array_equal(X, before)
    images = np.random.default_rng(0).integers(0, 255, size=(30, 8, 8), dtype=np.uint8)
    before_images = images.copy()
    fast(cls, n_clusters=2).fit(images).predict(images)
    np.testing.assert_array_equal(images, before_images)


@pytest.mark.parametrize(
    "X,error,match",
    [
        (np.array([[np.nan, 1.0], [1.0, 2.0], [0.0, 1.0]]), ValueError, "NaN"),
        (np.array([[np.inf, 1.0], [1.0, 2.0], [0.0, 1.0]]), ValueError, "infinity"),
        (np.empty((0, 3)), ValueError, "0 sample"),
        (np.ones((1, 3)), ValueError, "1 sample"),
        (sp.csr_matrix(np.ones((5, 3))), TypeError, "[Ss]parse"),
        (np.ones((5, 3)) + 1j, ValueError, "[Cc]omplex"),
        (np.ones(5), ValueError, "2D|2-D"),
        (np.ones((3, 2, 2, 2, 2)), ValueError, "dimensions"),
        (np.full((4, 2), 1e39), ValueError, "float32"),
    ],
    ids=["nan", "inf", "empty", "one-sample", "sparse", "complex", "1d", "5d", "huge"],
)
def test_bad_input(cls, X, error, match):
    with pytest.raises(error, match=match):
        fast(cls, n_clusters=2).fit(X)


@pytest.mark.parametrize(
    "params,match",
    [
        ({"n_clusters": 0}, "n_clusters"),  # 1 is valid (tests/test_estimator_checks.py::test_one_cluster)
        ({"batch_size": 1}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"max_epochs": -1}, "max_epochs"),
        ({"device": "gpu"}, "device"),
        ({"device": "cuda:x"}, "device"),
        ({"backbone": "transformer"}, "backbone"),
        ({"augment": "strong-ish"}, "augment"),
        ({"image_shape": (0, 8)}, "image_shape"),
    ],
)
def test_bad_parameters(cls, blobs, params, match):
    X, _ = blobs
    with pytest.raises(ValueError, match=match):
        fast(cls, **params).fit(X)


def test_more_clusters_than_samples(cls):
    with pytest.raises(ValueError, match="n_clusters=5 must be <= n_samples=4"):
        fast(cls, n_clusters=5).fit(np.random.default_rng(0).normal(size=(4, 3)))


def test_cuda_requested_but_absent(cls, blobs):
    X, _ = blobs
    with mock.patch("torch.cuda.is_available", return_value=False):
        with pytest.raises(ValueError, match="CUDA is not available"):
            fast(cls, device="cuda").fit(X)


def test_predict_errors(cls, blobs):
    X, _ = blobs
    with pytest.raises(NotFittedError):
        fast(cls).predict(X)
    model = fast(cls).fit(X)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :4])
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.full_like(X, np.nan))


def test_predict_warns_when_images_come_on_another_scale(cls):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(60, 8, 8)).astype(np.uint8)
    kw = dict(n_clusters=2, max_epochs=1, batch_size=30, device="cpu", random_state=0)
    fitted_uint8 = cls(**kw).fit(images)
    with pytest.warns(UserWarning, match="fitted on uint8 images.*float32 images with values up to 255"):
        fitted_uint8.predict(images.astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted_uint8.predict(images)
        fitted_uint8.predict(images.astype(np.float32) / 255)  # the same scale: fine
    fitted_float = cls(**kw).fit(images.astype(np.float32))
    with pytest.warns(UserWarning, match="fitted on float images with values up to 255.*uint8"):
        fitted_float.predict(images)
