"""The training data path: on-device tensors, numpy.memmap read per batch."""

import warnings

import numpy as np
import pytest
import torch

from deepclust import DRCClustering
from deepclust._data import validate_input
from deepclust.training.data import TensorStore, is_memory_mapped


@pytest.fixture
def memmap_images(tmp_path):
    path = tmp_path / "images.u8"
    shape = (64, 16, 16, 3)
    data = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    m = np.memmap(path, dtype=np.uint8, mode="w+", shape=shape)
    m[:] = data
    m.flush()
    del m
    return np.memmap(path, dtype=np.uint8, mode="r", shape=shape), data


def test_validate_input_keeps_a_memmap_view(memmap_images):
    m, _ = memmap_images
    X, layout = validate_input(DRCClustering(), m, reset=True)
    assert layout.sample_shape == (3, 16, 16)
    assert is_memory_mapped(X)  # not loaded: a transposed view of the file
    assert np.shares_memory(X, m)


def test_memmap_store_reads_batches_without_loading(memmap_images):
    m, data = memmap_images
    X, _ = validate_input(DRCClustering(), m, reset=True)
    store = TensorStore(X, torch.device("cpu"))
    assert store.mode == "memmap" and store.tensor is None and len(store) == 64
    for index in (torch.tensor([5, 3, 60, 1]), torch.randperm(64)[:17], torch.tensor([9, 9])):
        batch = store.get(index)
        expected = torch.from_numpy(data[index.numpy()].transpose(0, 3, 1, 2).astype(np.float32) / 255)
        torch.testing.assert_close(batch, expected)
        assert batch.dtype == torch.float32


def test_in_memory_store_copies(memmap_images):
    _, data = memmap_images
    X, _ = validate_input(DRCClustering(), data, reset=True)
    store = TensorStore(X, torch.device("cpu"))
    assert store.mode == "device" and not np.shares_memory(store.tensor.numpy(), data)


def test_fit_on_memmap_equals_fit_on_array(memmap_images):
    m, data = memmap_images
    kw = dict(n_clusters=2, max_epochs=1, batch_size=16, device="cpu", backbone="cnn", random_state=0)
    a = DRCClustering(**kw).fit(m)
    b = DRCClustering(**kw).fit(data)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.transform(m[:8]), b.transform(data[:8]), atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pinned_fallback_on_cuda(monkeypatch):
    import deepclust.training.data as data_mod

    monkeypatch.setattr(data_mod, "_DEVICE_MEMORY_SHARE", 0.0)  # pretend nothing fits
    X = np.random.default_rng(0).integers(0, 256, size=(40, 3, 8, 8), dtype=np.uint8)
    store = TensorStore(X, torch.device("cuda"))
    assert store.mode == "pinned" and store.tensor.is_pinned()
    for _ in range(3):
        index = torch.randperm(40)[:10]
        batch = store.get(index)
        assert batch.is_cuda
        torch.testing.assert_close(batch.cpu(), torch.from_numpy(X[index.numpy()]).float() / 255)


def test_memmap_of_another_dtype_is_loaded_with_a_warning(tmp_path):
    data = np.random.default_rng(0).normal(size=(40, 6))
    for dtype, loaded in ((np.float64, True), (np.float32, False)):
        path = tmp_path / f"X_{np.dtype(dtype).name}.npy"
        np.save(path, data.astype(dtype))
        m = np.load(path, mmap_mode="r")
        if loaded:
            with pytest.warns(UserWarning, match="memmap of dtype float64: it was converted"):
                X, _ = validate_input(DRCClustering(), m, reset=True)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                X, _ = validate_input(DRCClustering(), m, reset=True)
        assert X.dtype == np.float32 and is_memory_mapped(X) is not loaded
