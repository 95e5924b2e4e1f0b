"""save_model / load_model: a format whose loading runs no code."""

import pickle
import warnings
from unittest import mock

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

from deepclust import DeviceWarning, DRCClustering, load_model, save_model
from deepclust.training.callbacks import PrintLog
from deepclust.training.checkpoint import CheckpointError

from ._estimators import ESTIMATOR_CLASSES, fast


@pytest.fixture(scope="module")
def X():
    return make_blobs(n_samples=60, centers=3, n_features=5, random_state=0)[0]


def _fit(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X)


@pytest.mark.parametrize("cls", ESTIMATOR_CLASSES, ids=lambda c: c.__name__)
def test_round_trip_gives_identical_outputs(cls, X, tmp_path):
    model = _fit(fast(cls, n_clusters=3, max_epochs=1, batch_size=16, image_shape=None), X)
    path = tmp_path / "model.deepclust"
    save_model(model, path)
    with mock.patch("pickle.loads", side_effect=AssertionError("unpickled")), mock.patch(
        "torch.load", wraps=torch.load
    ) as torch_load:
        loaded = load_model(path)
    assert all(call.kwargs.get("weights_only") is True for call in torch_load.call_args_list)
    assert type(loaded) is cls and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    np.testing.assert_array_equal(loaded.labels_, model.labels_)
    assert loaded.history_ == model.history_ and loaded.n_features_in_ == model.n_features_in_


def test_images_feature_names_and_warm_start_survive(X, tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(20, 8, 8, 3), dtype=np.uint8)
    model = _fit(fast(DRCClustering, n_clusters=2, max_epochs=1, batch_size=10, image_shape=(3, 8, 8)), images)
    save_model(model, tmp_path / "images.deepclust")
    loaded = load_model(tmp_path / "images.deepclust")
    assert loaded.image_shape == (3, 8, 8) and loaded.input_shape_ == (3, 8, 8)
    np.testing.assert_array_equal(loaded.transform(images), model.transform(images))

    params = dict(n_clusters=3, batch_size=32, device="cpu", random_state=0)
    first = _fit(DRCClustering(max_epochs=2, warm_start=True, **params), X)
    save_model(first, tmp_path / "warm.deepclust")
    resumed = _fit(load_model(tmp_path / "warm.deepclust"), X)
    once = _fit(DRCClustering(max_epochs=4, **params), X)
    np.testing.assert_allclose(resumed.transform(X), once.transform(X), rtol=1e-6, atol=1e-6)


def test_unfitted_estimator_round_trips(tmp_path):
    model = DRCClustering(n_clusters=4, device=torch.device("cpu"), compile={"mode": "default"}, lr=1e-3)
    save_model(model, tmp_path / "unfitted.deepclust")
    loaded = load_model(tmp_path / "unfitted.deepclust")
    assert loaded.get_params() == model.get_params() and not hasattr(loaded, "module_")


@pytest.mark.parametrize(
    "params, name",
    [
        ({"augment": lambda x, g: x}, "augment"),
        ({"backbone": torch.nn.Linear(5, 4)}, "backbone"),
        ({"callbacks": [PrintLog()]}, "callbacks"),
        ({"random_state": np.random.RandomState(0)}, "random_state"),
    ],
)
def test_parameters_that_are_code_are_refused(params, name, tmp_path):
    with pytest.raises(TypeError, match=f"'{name}' parameter .* Use pickle"):
        save_model(DRCClustering(**params), tmp_path / "x.deepclust")
    assert not (tmp_path / "x.deepclust").exists()


def test_subclass_and_foreign_files_are_refused(tmp_path):
    class Mine(DRCClustering):
        pass

    with pytest.raises(TypeError, match="Use pickle"):
        save_model(Mine(), tmp_path / "x.deepclust")
    (tmp_path / "pickle.pkl").write_bytes(pickle.dumps(DRCClustering()))
    with pytest.raises(CheckpointError, match="not a deepclust checkpoint"):
        load_model(tmp_path / "pickle.pkl")


def test_cuda_fitted_file_loads_on_cpu_with_a_warning(X, tmp_path):
    model = _fit(fast(DRCClustering, n_clusters=3, max_epochs=1, batch_size=16), X)
    model.device_ = torch.device("cuda:0")  # as if fitted on a GPU (weights are saved from the CPU anyway)
    save_model(model, tmp_path / "gpu.deepclust")
    with mock.patch("torch.cuda.is_available", return_value=False):
        with pytest.warns(DeviceWarning):
            loaded = load_model(tmp_path / "gpu.deepclust")
    assert loaded.device_ == torch.device("cpu")
    model.device_ = torch.device("cpu")
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
