"""warm_start=True continues the training (optimiser, epochs, random streams), not only the weights."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

from deepclust import DRCClustering, JCLClustering, SCLClustering

PARAMS = dict(n_clusters=3, batch_size=32, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def X():
    return make_blobs(n_samples=100, centers=3, n_features=5, random_state=0)[0]


def _fit(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X)


@pytest.mark.parametrize(
    "cls, extra",
    [(DRCClustering, {}), (SCLClustering, {"warmup_epochs": 1}), (JCLClustering, {})],
    ids=["DRC", "SCL", "JCL"],
)
def test_two_plus_two_epochs_equal_four(cls, extra, X):
    # Before: Adam, the epoch counter and the random streams restarted (transform off by 0.35).
    twice = _fit(cls(max_epochs=2, warm_start=True, **PARAMS, **extra), X)
    twice = _fit(twice, X)
    once = _fit(cls(max_epochs=4, **PARAMS, **extra), X)
    assert twice.n_iter_ == once.n_iter_ == 4
    assert [h["epoch"] for h in twice.history_] == [0, 1, 2, 3]
    np.testing.assert_allclose(twice.transform(X), once.transform(X), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(twice.labels_, once.labels_)
    for a, b in zip(twice.history_, once.history_):
        assert a["labels_changed"] == b["labels_changed"]
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-6)


def test_training_state_survives_pickle_and_holds_cpu_tensors_only(X):
    model = _fit(DRCClustering(max_epochs=2, warm_start=True, **PARAMS), X)
    tensors = []

    def walk(obj):
        if isinstance(obj, torch.Tensor):
            tensors.append(obj)
        elif isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v)

    walk(model._training_state_)
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    assert "module" not in model._training_state_  # module_ holds the weights once
    resumed = _fit(pickle.loads(pickle.dumps(model)), X)
    once = _fit(DRCClustering(max_epochs=4, **PARAMS), X)
    np.testing.assert_allclose(resumed.transform(X), once.transform(X), rtol=1e-6, atol=1e-6)


def test_warm_start_applies_the_current_lr_and_other_data(X):
    model = _fit(DRCClustering(max_epochs=1, warm_start=True, **PARAMS), X)
    model.set_params(lr=1e-3, weight_decay=1e-4)
    _fit(model, X[:60])  # another number of samples: per-sample state starts afresh
    groups = model._training_state_["optimizer"]["param_groups"]
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [(1e-3, 1e-4)] * len(groups)
    assert model.n_iter_ == 2 and model.labels_.shape == (60,)
    assert model._training_state_["n_samples"] == 60
    # The standardisation of the first fit is kept.
    np.testing.assert_allclose(model.module_.standardize.mean.flatten().numpy(), X.mean(axis=0), rtol=1e-5)


def test_without_warm_start_the_state_is_not_used(X):
    model = _fit(DRCClustering(max_epochs=2, **PARAMS), X)
    first = model.transform(X)
    np.testing.assert_array_equal(_fit(model, X).transform(X), first)
