"""Hyperparameter search on a cluster through joblib's backends (issue 8): dask.distributed
(the ``deepclust[dask]`` extra) and ray (``deepclust[ray]``). Each test is skipped when its
engine is not installed.

The serial reference runs with one torch thread, like the workers (dask's nanny sets
``OMP_NUM_THREADS=1``; ray's workers get one CPU each), so that the fits are the same
computations and the scores agree exactly. The parallel search runs with one thread in the
calling process too: ``GridSearchCV`` refits the best candidate there, not on the cluster, and
a CPU fit is reproducible for a given thread count, not across thread counts (with two
threads the refit's labels came out permuted in session 22).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV

from deepclust import DRCClustering
from deepclust.metrics import ari_scorer

joblib = pytest.importorskip("joblib")


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=96, centers=3, n_features=5, random_state=0)
    return X.astype(np.float32), y


def _search():
    model = DRCClustering(n_clusters=3, device="cpu", max_epochs=3, batch_size=32, random_state=0)
    return GridSearchCV(model, {"lr": [1e-3, 3e-2]}, scoring=ari_scorer, cv=2, n_jobs=-1)


@contextlib.contextmanager
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _serial(X, y):
    with _one_thread(), joblib.parallel_backend("sequential"):
        return _search().fit(X, y)


def _assert_same_search(parallel, serial):
    assert parallel.best_params_ == serial.best_params_
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_allclose(parallel.cv_results_[key], serial.cv_results_[key], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(parallel.best_estimator_.labels_, serial.best_estimator_.labels_)


def test_grid_search_on_a_dask_cluster_matches_the_serial_search(blobs):
    pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    X, y = blobs
    serial = _serial(X, y)
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"), _one_thread():
            parallel = _search().fit(X, y)
        workers = {task["worker"] for task in tasks.data}
    assert len(workers) >= 1 and len(tasks.data) >= 4  # 2 candidates x 2 folds ran on the cluster
    _assert_same_search(parallel, serial)


def test_grid_search_on_ray_matches_the_serial_search(blobs):
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    X, y = blobs
    serial = _serial(X, y)
    register_ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=80 * 1024**2)
    try:
        with joblib.parallel_backend("ray"), _one_thread():
            parallel = _search().fit(X, y)
    finally:
        ray.shutdown()
    _assert_same_search(parallel, serial)
