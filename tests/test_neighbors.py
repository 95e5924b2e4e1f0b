"""Neighbour positives (deepclust.training.neighbors) and their estimator parameters."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

from deepclust import DRCClustering, JCLClustering, SCLClustering
from deepclust.training.input_space import InputSpace
from deepclust.training import neighbors as neighbors_module
from deepclust.training.neighbors import (
    NeighborPositives,
    _approximate_neighbors,
    embedding_neighbors,
    floored_scale,
    input_neighbors,
    resolve_search,
)


def _brute_knn(Z: np.ndarray, k: int) -> np.ndarray:
    d = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def test_input_neighbors_match_a_brute_force_search_on_standardised_data():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(60, 5)) * [1, 10, 100, 0.1, 1e-3] + [0, 5, -3, 2, 1]).astype(np.float32)
    mean, std = X.mean(0), X.std(0)
    got = input_neighbors(X, mean, std, n_neighbors=4)
    expected = _brute_knn((X - mean) / std, 4)
    assert got.shape == (60, 4) and got.dtype == np.int64
    # Same sets (ties may order differently).
    assert all(set(a) == set(b) for a, b in zip(got, expected))
    assert not (got == np.arange(60)[:, None]).any()


def test_input_neighbors_exclude_self_among_duplicates_and_clip_k():
    X = np.zeros((5, 3), dtype=np.float32)  # all identical: self may be anywhere in the list
    got = input_neighbors(X, np.zeros(3), np.ones(3), n_neighbors=10)
    assert got.shape == (5, 4)
    for i, row in enumerate(got):
        assert i not in row and len(set(row)) == 4


def test_input_neighbors_reduce_images_with_pca_and_read_uint8_and_memmaps(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(80, 1, 12, 12), dtype=np.uint8)  # 144 pixels > 50: PCA path
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.uint8, shape=X.shape)
    mm[:] = X
    mm.flush()
    before = X.copy()
    a = input_neighbors(X, [0.5], [0.25], n_neighbors=3, seed=1)
    b = input_neighbors(np.load(tmp_path / "X.npy", mmap_mode="r"), [0.5], [0.25], n_neighbors=3, seed=1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(X, before)


def test_embedding_neighbors_are_cosine_neighbours_in_chunks():
    bank = torch.randn(50, 6, generator=torch.Generator().manual_seed(0))
    got = embedding_neighbors(bank, 3, chunk_size=7)
    z = torch.nn.functional.normalize(bank, dim=1)
    sim = z @ z.T
    sim.fill_diagonal_(-float("inf"))
    torch.testing.assert_close(got, sim.topk(3, dim=1).indices)


def test_partners_follow_the_probability_and_the_graph():
    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    pos = NeighborPositives("input", n_neighbors=2, probability=0.5)
    pos.setup(X, X.mean(0), X.std(0), feature_dim=4, device=torch.device("cpu"), seed=0)
    index = torch.arange(20).repeat(20)
    partners = pos.partners(index, torch.Generator().manual_seed(0))
    moved = partners != index
    assert 0.3 < float(moved.float().mean()) < 0.7
    graph = pos.input_graph
    assert all(int(p) in graph[int(i)].tolist() for i, p in zip(index[moved], partners[moved]))
    again = pos.partners(index, torch.Generator().manual_seed(0))
    assert torch.equal(partners, again)
    never = NeighborPositives("input", n_neighbors=2, probability=0.0)
    never.setup(X, X.mean(0), X.std(0), feature_dim=4, device=torch.device("cpu"), seed=0)
    assert torch.equal(never.partners(index, torch.Generator()), index)


def test_embedding_graph_appears_after_every_sample_was_seen():
    pos = NeighborPositives("embedding", n_neighbors=2, probability=1.0, warmup_epochs=1)
    pos.setup(np.zeros((6, 2), np.float32), np.zeros(2), np.ones(2), feature_dim=3, device=torch.device("cpu"), seed=0)
    pos.on_epoch_begin(0)
    index = torch.arange(6)
    assert torch.equal(pos.partners(index, torch.Generator()), index)  # no graph yet
    pos.update(torch.arange(3), torch.randn(3, 3))
    pos.on_epoch_begin(1)
    assert pos.embedding_graph is None  # half the bank is empty
    pos.update(torch.arange(3, 6), torch.tensor([[float("nan")] * 3] * 3))
    pos.on_epoch_begin(1)
    assert pos.embedding_graph is None  # non-finite rows are not stored
    pos.update(torch.arange(3, 6), torch.randn(3, 3))
    pos.on_epoch_begin(1)
    assert pos.embedding_graph is not None and pos.embedding_graph.shape == (6, 2)
    assert not torch.equal(pos.partners(index, torch.Generator()), index)


@pytest.mark.parametrize("source", ["input", "embedding", "both", None])
@pytest.mark.parametrize("cls", [DRCClustering, SCLClustering, JCLClustering])
def test_every_estimator_fits_with_every_source(cls, source):
    X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    model = cls(n_clusters=3, max_epochs=3, batch_size=20, device="cpu", random_state=0, neighbor_positives=source)
    a = model.fit(X).labels_
    b = cls(**model.get_params()).fit(X).labels_
    np.testing.assert_array_equal(a, b)  # reproducible under random_state


def test_probability_zero_is_the_same_fit_as_no_neighbours():
    X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    kw = dict(n_clusters=3, max_epochs=2, batch_size=20, device="cpu", random_state=0)
    a = DRCClustering(**kw, neighbor_positives=None).fit(X).transform(X)
    b = DRCClustering(**kw, neighbor_probability=0.0).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)


def test_neighbour_positives_change_the_fit():
    X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    kw = dict(n_clusters=3, max_epochs=2, batch_size=20, device="cpu", random_state=0)
    a = DRCClustering(**kw, neighbor_positives=None).fit(X).transform(X)
    b = DRCClustering(**kw, neighbor_positives="input", neighbor_probability=1.0).fit(X).transform(X)
    assert not np.allclose(a, b)


@pytest.mark.parametrize(
    "params, name",
    [
        ({"neighbor_positives": "pixels"}, "neighbor_positives"),
        ({"neighbor_positives": 3}, "neighbor_positives"),
        ({"n_positive_neighbors": 0}, "n_positive_neighbors"),
        ({"n_positive_neighbors": 2.5}, "n_positive_neighbors"),
        ({"neighbor_probability": 1.5}, "neighbor_probability"),
        ({"neighbor_probability": -0.1}, "neighbor_probability"),
        ({"neighbor_scale_floor": -0.5}, "neighbor_scale_floor"),
        ({"neighbor_scale_floor": "median"}, "neighbor_scale_floor"),
        ({"neighbor_search": "fast"}, "neighbor_search"),
        ({"neighbor_search": None}, "neighbor_search"),
    ],
)
def test_bad_neighbour_parameters_are_named(params, name):
    X, _ = make_blobs(n_samples=20, centers=2, random_state=0)
    with pytest.raises(ValueError, match=name):
        DRCClustering(n_clusters=2, max_epochs=1, device="cpu", **params).fit(X)


def test_auto_uses_the_input_graph_for_tables_and_no_neighbours_for_images():
    from deepclust._data import InputLayout

    model = DRCClustering()
    assert model._make_neighbors(InputLayout("image", (3, 16, 16), "nhwc")) is None
    assert model._make_neighbors(InputLayout("image", (1, 16, 16), "nhw")) is None
    assert DRCClustering(neighbor_positives="embedding")._make_neighbors(InputLayout("image", (3, 8, 8), "nhwc")).source == "embedding"
    assert model._make_neighbors(InputLayout("tabular", (5,), "tabular")).source == "input"
    assert DRCClustering(neighbor_positives=None)._make_neighbors(InputLayout("tabular", (5,), "tabular")) is None


def _groups_with_a_rare_feature():
    """Two groups along feature 0; feature 1 is 0 but in four rows (two per group), on a tiny scale."""
    rng = np.random.default_rng(0)
    group = np.repeat([0, 1], 20)
    X = np.c_[group * 10.0 + rng.normal(size=40), np.zeros(40), rng.normal(size=40)].astype(np.float32)
    X[[0, 1, 20, 21], 1] = 0.01
    return X, group


def test_the_scale_floor_keeps_a_rare_tiny_feature_from_choosing_the_neighbours():
    X, group = _groups_with_a_rare_feature()
    mean, std = X.mean(0), X.std(0)
    plain = InputSpace(X, mean, std, seed=0).neighbors(3)
    floored = InputSpace(X, mean, std, seed=0, scale_floor=1.0).neighbors(3)
    # Standardised, the four rows with the rare value are each other's nearest neighbours
    # across the groups; with the floor every row's neighbours are in its own group.
    assert set(plain[0]) == {1, 20, 21}
    assert (group[floored] == group[:, None]).all()
    # Nothing the scale floor does not change: the same graph as the standardised input.
    Z = ((X - mean) / std).astype(np.float32)
    np.testing.assert_array_equal(InputSpace(Z, np.zeros(3), np.ones(3), 0, scale_floor=1.0).neighbors(3),
                                  InputSpace(Z, np.zeros(3), np.ones(3), 0).neighbors(3))


def test_floored_scale_leaves_a_single_feature_and_floor_zero_alone():
    assert floored_scale([0.001], 1.0).tolist() == [np.float32(0.001)]
    np.testing.assert_array_equal(floored_scale([1e-4, 1.0, 9.0], 0.0), np.float32([1e-4, 1.0, 9.0]))
    np.testing.assert_array_equal(floored_scale([1e-4, 1.0, 9.0], 0.5), np.float32([0.5, 1.0, 9.0]))


def test_the_default_scale_floor_changes_the_tables_graph_and_zero_restores_it():
    X, _ = _groups_with_a_rare_feature()
    kw = dict(n_clusters=2, max_epochs=2, batch_size=20, device="cpu", random_state=0, neighbor_probability=1.0)
    auto = DRCClustering(**kw).fit(X).transform(X)
    plain = DRCClustering(**kw, neighbor_scale_floor=0.0).fit(X).transform(X)
    assert not np.allclose(auto, plain)
    np.testing.assert_array_equal(DRCClustering(**kw, neighbor_scale_floor=1.0).fit(X).transform(X), auto)


# ---------------------------------------------------------------- approximate search (ann extra)
def test_auto_search_is_exact_up_to_the_threshold_and_approximate_above(monkeypatch):
    monkeypatch.setattr(neighbors_module, "find_spec", lambda name: object())  # pynndescent "installed"
    limit = neighbors_module.APPROXIMATE_FROM_ROWS
    assert resolve_search("auto", limit) == "exact"
    assert resolve_search("auto", limit + 1) == "approximate"
    assert resolve_search("exact", 10 * limit) == "exact"
    assert resolve_search("approximate", 10) == "approximate"
    with pytest.raises(ValueError, match="neighbor_search"):
        resolve_search("fast", 10)


def test_without_pynndescent_auto_warns_and_stays_exact_and_approximate_raises(monkeypatch):
    monkeypatch.setattr(neighbors_module, "find_spec", lambda name: None)
    limit = neighbors_module.APPROXIMATE_FROM_ROWS
    assert resolve_search("auto", limit) == "exact"
    with pytest.warns(UserWarning, match=r"deepclust\[ann\]"):
        assert resolve_search("auto", limit + 1) == "exact"
    with pytest.raises(ImportError, match=r"deepclust\[ann\]"):
        resolve_search("approximate", 10)


def test_approximate_neighbors_find_the_exact_ones_on_clustered_data_and_repeat_under_a_seed():
    pytest.importorskip("pynndescent")
    X, _ = make_blobs(n_samples=3000, n_features=8, centers=10, random_state=0)
    X = X.astype(np.float32)
    exact = input_neighbors(X, X.mean(0), X.std(0), 10, search="exact")
    approximate = input_neighbors(X, X.mean(0), X.std(0), 10, search="approximate")
    assert approximate.shape == exact.shape == (3000, 10) and approximate.dtype == np.int64
    assert not (approximate == np.arange(3000)[:, None]).any()  # self excluded
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approximate, exact)])
    assert recall > 0.9
    # One thread: the same seed gives the same graph (every rank alike under DDP).
    again = input_neighbors(X, X.mean(0), X.std(0), 10, search="approximate")
    assert np.array_equal(again, approximate)


def test_approximate_neighbors_fill_rows_left_short_exactly(monkeypatch):
    pytest.importorskip("pynndescent")
    import pynndescent

    Z = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    real = pynndescent.NNDescent

    class ShortIndex:
        def __init__(self, *args, **kwargs):
            idx, dist = real(*args, **kwargs).neighbor_graph
            idx = idx.copy()
            idx[:5, -1] = -1  # five rows left short
            self.neighbor_graph = (idx, dist)

    monkeypatch.setattr(pynndescent, "NNDescent", ShortIndex)
    idx = _approximate_neighbors(Z, 4, seed=0)
    assert (idx >= 0).all()
    exact = np.argsort(((Z[:5, None, :] - Z[None, :, :]) ** 2).sum(-1), axis=1)[:, :4]
    assert np.array_equal(np.sort(idx[:5], axis=1), np.sort(exact, axis=1))


def test_estimators_pass_the_search_to_the_input_graph(monkeypatch):
    pytest.importorskip("pynndescent")
    seen = []
    original = neighbors_module._approximate_neighbors

    def spy(Z, n_neighbors, seed=0):
        seen.append((Z.shape[0], n_neighbors))
        return original(Z, n_neighbors, seed)

    monkeypatch.setattr(neighbors_module, "_approximate_neighbors", spy)
    X, _ = make_blobs(n_samples=120, centers=3, random_state=0)
    params = dict(n_clusters=3, max_epochs=2, n_init=1, batch_size=32, device="cpu", random_state=0)
    with warnings.catch_warnings():  # two epochs are not meant to converge
        warnings.simplefilter("ignore")
        SCLClustering(**params, neighbor_search="approximate").fit(X)
        assert seen == [(120, 11)]
        DRCClustering(**params).fit(X)  # auto: 120 rows are searched exactly
    assert seen == [(120, 11)]
