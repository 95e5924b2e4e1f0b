"""Clustering metrics against reference labels: ACC (Hungarian), NMI, ARI, and scorers.

NMI is scikit-learn's default (arithmetic normalisation), the convention of CC and later
papers; older papers (sklearn < 0.22) used the geometric mean.

The scorers ``accuracy_scorer``, ``nmi_scorer`` and ``ari_scorer`` (also in ``SCORERS``
under "acc", "nmi" and "ari") call the estimator's ``predict`` and compare with ``y``; use
them as ``scoring`` in ``GridSearchCV`` or ``cross_validate`` when labels are available
for model selection. "acc", "nmi" and "ari" are keys of the dict ``SCORERS``, not
scoring strings known to scikit-learn: pass ``scoring=SCORERS`` (with ``refit="acc"``) or
``scoring=SCORERS["acc"]``; ``scoring="acc"`` is an error.

Examples
--------
>>> from sklearn.cluster import KMeans
>>> from sklearn.datasets import make_blobs
>>> from deepclust.metrics import SCORERS, accuracy_scorer
>>> X, y = make_blobs(n_samples=60, centers=3, cluster_std=0.5, random_state=0)
>>> model = KMeans(n_clusters=3, n_init=1, random_state=0).fit(X)
>>> accuracy_scorer(model, X, y)
1.0
>>> sorted(SCORERS)
['acc', 'ari', 'nmi']
>>> from sklearn.model_selection import cross_val_score
>>> cross_val_score(KMeans(n_clusters=3, n_init=1, random_state=0), X, y, scoring=SCORERS["acc"], cv=2).round(2)
array([1., 1.])
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, make_scorer, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.utils.validation import check_consistent_length, column_or_1d

__all__ = [
    "cluster_accuracy",
    "evaluate",
    "accuracy_scorer",
    "nmi_scorer",
    "ari_scorer",
    "SCORERS",
]


def cluster_accuracy(y_true, y_pred) -> float:
    """Clustering accuracy: the best one-to-one matching of clusters to classes.

    ``ACC = max_m (1/n) sum_i 1[y_i = m(c_i)]`` over injective maps ``m`` from clusters to
    classes, solved with the Hungarian algorithm
    (:func:`scipy.optimize.linear_sum_assignment`) on the contingency table. Labels may be
    values of any one sortable type (strings, non-contiguous ints), and the number of clusters may
    differ from the number of classes: unmatched clusters (or classes) count as errors.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Reference classes.
    y_pred : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    accuracy : float
        In [0, 1]; 1 means the clustering equals the classes up to renaming.

    Examples
    --------
    >>> from deepclust.metrics import cluster_accuracy
    >>> cluster_accuracy([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> cluster_accuracy(["a", "a", "b", "b"], [5, 5, 5, 7])
    0.75
    """
    y_true = column_or_1d(y_true)
    y_pred = column_or_1d(y_pred)
    check_consistent_length(y_true, y_pred)
    if y_true.size == 0:
        raise ValueError("cluster_accuracy needs at least one sample; got empty arrays.")
    table = contingency_matrix(y_true, y_pred)  # classes x clusters, any label types
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / y_true.size)


def evaluate(estimator_or_labels, X=None, y=None) -> dict[str, float]:
    """ACC, NMI and ARI of a clustering against reference labels.

    Parameters
    ----------
    estimator_or_labels : estimator or array-like of shape (n_samples,)
        A fitted clusterer (its ``predict(X)`` is scored when ``X`` is given, else its
        ``labels_``) or cluster labels.
    X : array-like, default=None
        Data to predict on (only with an estimator).
    y : array-like of shape (n_samples,)
        Reference labels (required).

    Returns
    -------
    scores : dict
        ``{"acc": ..., "nmi": ..., "ari": ...}``.

    Examples
    --------
    >>> from deepclust.metrics import evaluate
    >>> evaluate([0, 0, 1, 1], y=[1, 1, 0, 0])
    {'acc': 1.0, 'nmi': 1.0, 'ari': 1.0}
    """
    if y is None:
        raise ValueError("evaluate needs the reference labels y.")
    if hasattr(estimator_or_labels, "fit"):
        labels = estimator_or_labels.predict(X) if X is not None else estimator_or_labels.labels_
    else:
        if X is not None:
            raise ValueError("X is only used with an estimator; got labels.")
        labels = estimator_or_labels
    labels = column_or_1d(labels)
    y = column_or_1d(y)
    return {
        "acc": cluster_accuracy(y, labels),
        "nmi": float(normalized_mutual_info_score(y, labels)),
        "ari": float(adjusted_rand_score(y, labels)),
    }


#: Scorers for ``GridSearchCV(scoring=...)`` with labelled data: they call ``predict``.
accuracy_scorer = make_scorer(cluster_accuracy)
nmi_scorer = make_scorer(normalized_mutual_info_score)
ari_scorer = make_scorer(adjusted_rand_score)
SCORERS = {"acc": accuracy_scorer, "nmi": nmi_scorer, "ari": ari_scorer}
