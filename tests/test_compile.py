"""``compile=True``: torch.compile for the training forward pass (issue 7)."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch

from deepclust import DRCClustering, SCLClustering
from deepclust.nn.model import ClusterNet

KW = dict(n_clusters=3, device="cpu", max_epochs=1, batch_size=32, random_state=0, n_init=1)


@pytest.fixture(scope="module")
def X():
    rng = np.random.RandomState(0)
    centers = rng.randn(3, 5) * 4
    return (centers[rng.randint(0, 3, 64)] + rng.randn(64, 5)).astype(np.float32)  # 2 batches of 32


def _fit_or_skip(model, X):
    if not hasattr(torch, "compile"):  # pragma: no cover
        pytest.skip("this torch has no torch.compile")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return model.fit(X)
    except Exception as exc:  # a missing C++ compiler, an unsupported platform, ...
        origin = type(exc).__module__
        if origin.startswith(("torch._dynamo", "torch._inductor")) or "compile" in type(exc).__name__.lower():
            pytest.skip(f"torch.compile does not work here: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        raise


def _check_plain_module(model, reference, X):
    assert type(model.module_) is ClusterNet  # not an OptimizedModule
    assert list(model.module_.state_dict()) == list(reference.module_.state_dict())
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict(X), model.labels_)
    assert model.history_[0]["loss"] == pytest.approx(reference.history_[0]["loss"], rel=1e-3)


@pytest.mark.parametrize("cls", [DRCClustering, SCLClustering])
def test_compile_options_are_passed_to_torch_compile(cls, X, monkeypatch):
    calls = []

    def fake_compile(module, **options):
        calls.append((type(module).__name__, options))
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = cls(**KW, compile={"mode": "reduce-overhead"}).fit(X)
    assert calls == [("ClusterNet", {"mode": "reduce-overhead"})]
    assert type(model.module_) is ClusterNet
    cls(**KW).fit(X)  # compile=False: not called
    assert len(calls) == 1


@pytest.mark.slow
def test_compile_true_fits_on_the_cpu(X):
    # Inductor generates and compiles C++ for the CPU: tens of seconds.
    reference = DRCClustering(**KW).fit(X)
    model = _fit_or_skip(DRCClustering(**KW, compile=True), X)
    _check_plain_module(model, reference, X)


def test_compile_parameter_is_validated(X):
    with pytest.raises(ValueError, match="compile"):
        DRCClustering(**KW, compile="yes").fit(X)
