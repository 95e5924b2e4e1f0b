"""scikit-learn's own estimator checks, on every estimator, with no expected failures.

Five checks set ``n_clusters = 1`` on the estimator (``check_dont_overwrite_parameters``,
``check_fit2d_predict1d``, ``check_methods_subset_invariance``, ``check_fit2d_1sample``,
``check_fit2d_1feature``); one cluster is accepted, as by ``KMeans``.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.utils.estimator_checks import parametrize_with_checks

from ._estimators import ESTIMATOR_CLASSES, fast

# check_clustering fits 50 two-feature blobs with n_clusters=3 and requires ARI > 0.4: the
# estimators must genuinely cluster tabular data after a few epochs, so give them enough.
# The default n_init ("auto": 3 restarts on tables), so the contracts hold with restarts.
CHECKED = [fast(cls, max_epochs=30, batch_size=16, n_init="auto") for cls in ESTIMATOR_CLASSES]


@parametrize_with_checks(CHECKED)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("cls", ESTIMATOR_CLASSES, ids=lambda c: c.__name__)
def test_one_cluster(cls):
    X, _ = make_blobs(n_samples=60, centers=3, n_features=5, random_state=0)
    extra = {"warmup_epochs": 1} if "warmup_epochs" in cls().get_params() else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no collapse or non-finite warning
        model = fast(cls, n_clusters=1, max_epochs=2, batch_size=16, **extra).fit(X)
        untrained = fast(cls, n_clusters=1, max_epochs=0, batch_size=16, **extra).fit(X)
    np.testing.assert_array_equal(model.labels_, 0)
    np.testing.assert_array_equal(model.predict(X[:7]), 0)
    np.testing.assert_array_equal(model.predict_proba(X[:7]), np.ones((7, 1)))
    assert model.score(X) == 0.0
    for entry in model.history_:
        assert all(np.isfinite(v) for v in entry.values() if isinstance(v, float))
    # A representation is still learned (the instance-level terms train the backbone).
    assert not np.allclose(model.transform(X), untrained.transform(X))
