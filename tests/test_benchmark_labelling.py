"""``benchmarks/labelling.py``: the comparison of the head's labels with k-means on the representation."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from benchmarks.labelling import compare_labellings, markdown_table


class _FittedModel:
    """What compare_labellings reads from a fitted estimator, with a known representation."""

    def __init__(self, features, labels, n_clusters):
        self._features, self.labels_, self.n_clusters = features, labels, n_clusters

    def transform(self, X):
        return self._features

    def score(self, X):
        return 1.5


def test_kmeans_on_a_clean_representation_recovers_the_classes_the_head_split():
    # Three well-separated directions (k-means runs on the normalised representation); the
    # "head" has put a third of class 0 into class 2's cluster.
    features, y = make_blobs(n_samples=150, centers=[[5, 0, 0], [0, 5, 0], [0, 0, 5]], cluster_std=0.3, random_state=0)
    head = y.copy()
    head[np.flatnonzero(y == 0)[:17]] = 2
    result = compare_labellings(_FittedModel(features, head, 3), None, y, seed=0)
    assert result["kmeans"]["acc"] == 1.0
    assert result["head"]["acc"] == pytest.approx(1 - 17 / 150)
    assert 0.5 < result["agreement_ari"] < 0.9  # the two partitions disagree on the 17
    assert result["score"] == 1.5


@pytest.mark.filterwarnings("ignore::deepclust.ClusterCollapseWarning")  # one epoch may leave a cluster empty
def test_a_real_fit_gives_every_field_and_a_table_row():
    from deepclust import DRCClustering

    X, y = make_blobs(n_samples=60, centers=3, random_state=0)
    model = DRCClustering(n_clusters=3, max_epochs=1, batch_size=32, device="cpu", random_state=0).fit(X)
    result = compare_labellings(model, X, y, seed=0)
    assert set(result) == {"head", "kmeans", "score", "agreement_ari"}
    assert 0 <= result["score"] <= np.log(3) + 1e-9
    table = markdown_table([{"dataset": "blobs", "method": "drc", "seed": 0, **result}])
    assert table.splitlines()[2].startswith("| blobs | drc | 0 | ")


def test_features_given_by_the_caller_are_used_instead_of_a_second_transform():
    features, y = make_blobs(n_samples=90, centers=[[5, 0], [0, 5], [-5, -5]], cluster_std=0.3, random_state=0)
    model = _FittedModel(np.zeros_like(features), y, 3)  # its own transform would give no structure
    result = compare_labellings(model, None, y, seed=0, features=features)
    assert result["kmeans"]["acc"] == 1.0 and result["agreement_ari"] == 1.0
