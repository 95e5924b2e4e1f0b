"""The pure helpers of ``benchmarks/diagnose.py`` (the script itself needs the shared data)."""

import argparse

import numpy as np
import pytest

from benchmarks.diagnose import _parse_override, matched_confusion, neighbour_composition


def test_matched_confusion_orders_columns_by_the_hungarian_matching():
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    labels = np.array([2, 2, 1, 0, 0, 1, 1, 2])  # class 0 -> cluster 2, 1 -> 0, 2 -> 1
    confusion, cluster_of = matched_confusion(y, labels, 3)
    np.testing.assert_array_equal(cluster_of, [2, 0, 1])
    np.testing.assert_array_equal(confusion, [[2, 0, 1], [0, 2, 0], [1, 0, 2]])
    assert confusion.trace() == 6  # the 6 samples a Hungarian-matched ACC counts as right


def test_neighbour_composition_separates_class_from_cluster():
    # 15 class-0 samples in cluster 0 near 0; 11 more class-0 samples, far away near 5, in
    # cluster 1 (the error). Each of the 11 has exactly the other 10 as its nearest neighbours.
    Z = np.concatenate([np.arange(15) * 0.01, 5 + np.arange(11) * 0.01])[:, None]
    y = np.zeros(26, dtype=np.int64)
    labels = np.r_[np.zeros(15, dtype=np.int64), np.ones(11, dtype=np.int64)]
    group = np.arange(15, 26)
    comp = neighbour_composition(Z, group, y, labels, true_class=0, its_cluster=0, metric="euclidean")
    assert comp == {"same class": 1.0, "same class, in its class's cluster": 0.0, "in the same (wrong) cluster": 1.0}
    # Moved next to the correct cluster, the group's neighbours include it.
    Z[15:, 0] = np.arange(11) * 0.01 + 0.005
    comp = neighbour_composition(Z, group, y, labels, true_class=0, its_cluster=0, metric="euclidean")
    assert comp["same class, in its class's cluster"] > 0.3


@pytest.mark.parametrize("text, expected", [("temperature=1.0", ("temperature", 1.0)),
                                            ("augment=none", ("augment", "none")),
                                            ("batch_size=256", ("batch_size", 256))])
def test_overrides_are_parsed_as_python_literals_or_strings(text, expected):
    assert _parse_override(text) == expected


def test_an_override_without_a_value_is_refused():
    with pytest.raises(argparse.ArgumentTypeError, match="name=value"):
        _parse_override("temperature")

