import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV

from deepclust import DRCClustering
from deepclust.metrics import SCORERS, cluster_accuracy, evaluate


@pytest.mark.parametrize(
    "y_true,y_pred,expected",
    [
        ([0, 0, 1, 1], [0, 0, 1, 1], 1.0),
        ([0, 0, 1, 1], [1, 1, 0, 0], 1.0),  # renamed clusters
        ([0, 0, 1, 1], [0, 0, 0, 0], 0.5),  # one cluster: only one class can match
        ([0, 1, 2, 0, 1, 2], [1, 2, 0, 1, 2, 1], 5 / 6),
        (["cat", "cat", "dog", "dog"], [7, 7, 3, 7], 0.75),  # strings, non-contiguous ints
        ([0, 0, 1, 1, 2, 2], [5, 5, 9, 9, 9, 9], 4 / 6),  # fewer clusters than classes
        ([0, 0, 0, 1, 1, 1], [0, 1, 2, 3, 3, 3], 4 / 6),  # more clusters than classes
        ([10, 20, 30], [0, 0, 0], 1 / 3),
    ],
)
def test_cluster_accuracy_hand_computed(y_true, y_pred, expected):
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(expected)


def test_cluster_accuracy_matches_brute_force():
    from itertools import permutations

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 60)
    p = rng.integers(0, 4, 60)
    best = max(np.mean(np.array(perm)[p] == y) for perm in permutations(range(4)))
    assert cluster_accuracy(y, p) == pytest.approx(best)


def test_cluster_accuracy_errors():
    with pytest.raises(ValueError):
        cluster_accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="at least one"):
        cluster_accuracy([], [])


def test_evaluate_labels_and_estimator():
    assert evaluate([1, 1, 0, 0], y=[0, 0, 1, 1]) == {"acc": 1.0, "nmi": 1.0, "ari": 1.0}
    X, y = make_blobs(60, centers=3, random_state=0)
    model = DRCClustering(n_clusters=3, max_epochs=2, batch_size=16, device="cpu", random_state=0).fit(X)
    from_labels = evaluate(model, y=y)
    from_predict = evaluate(model, X, y)
    assert from_labels == from_predict
    assert set(from_labels) == {"acc", "nmi", "ari"}
    with pytest.raises(ValueError, match="reference labels"):
        evaluate(model)


def test_scorers_in_grid_search():
    X, y = make_blobs(60, centers=3, random_state=0)
    search = GridSearchCV(
        DRCClustering(n_clusters=3, max_epochs=2, batch_size=16, device="cpu", random_state=0),
        {"balance_weight": [0.5, 1.0]},
        scoring=SCORERS,
        refit="acc",
        cv=2,
    ).fit(X, y)
    assert 0 <= search.best_score_ <= 1
