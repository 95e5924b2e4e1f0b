"""The estimators every shared test runs on, with parameters that keep tests fast.

Add a new estimator here (one line) and it goes through the scikit-learn checks, seeding,
pickling, Pipeline/GridSearchCV and bad-input tests.
"""

from deepclust import DRCClustering
from deepclust import JCLClustering, SCLClustering

# n_init=1: one training run per fit (restarts have their own tests, test_restarts.py, and
# the scikit-learn checks run with the default n_init).
FAST = dict(device="cpu", max_epochs=3, batch_size=32, random_state=0, n_init=1)

ESTIMATOR_CLASSES = [DRCClustering]
ESTIMATOR_CLASSES.append(SCLClustering)
ESTIMATOR_CLASSES.append(JCLClustering)


def fast(cls, **overrides):
    """An instance of ``cls`` with the fast test parameters (and ``overrides``)."""
    return cls(**{**FAST, **overrides})
