"""
Model selection with ``Pipeline`` and ``GridSearchCV``
======================================================

The estimators are ordinary scikit-learn clusterers, so they go into a
``sklearn.pipeline.Pipeline`` and under ``sklearn.model_selection.GridSearchCV``.

Two ways of scoring the candidates:

* **without labels**: the default ``scoring=None`` uses the estimator's own ``score``, the
  mutual information between samples and clusters (higher is better);
* **with labels** (a benchmark, or a labelled subset): the scorers in
  :mod:`deepclust.metrics` (``"acc"``, ``"nmi"``, ``"ari"``), which call ``predict`` on the
  held-out fold and compare with its labels.

The grid is tiny and every fit is short (10 epochs on half of the digits), so that the
example runs in about a minute; the numbers only illustrate the mechanics.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from deepclust import DRCClustering
from deepclust.metrics import SCORERS

X, y = load_digits(return_X_y=True)

# %%
# A pipeline
# -----------
# The first step is a stand-in for any preprocessing (here: pixel values 0-16 scaled to
# [0, 1]); the estimator standardises its input itself, so none is required.


def to_unit_range(X):
    return X / 16.0


pipe = Pipeline(
    [
        ("scale", FunctionTransformer(to_unit_range)),
        ("drc", DRCClustering(n_clusters=10, image_shape=(1, 8, 8), max_epochs=10, random_state=0, device="cpu")),
    ]
)

# %%
# Search with and without labels
# ------------------------------
# ``scoring`` gets a dict: the label-free ``score`` of the estimator under the name
# ``"mi"`` (``None`` entries are not allowed in a dict, so it is wrapped in a callable)
# and the labelled scorers. ``refit="mi"`` picks the winner without looking at labels;
# the ACC/NMI/ARI columns show how well that choice agrees with the labels.
param_grid = {"drc__balance_weight": [0.2, 1.0, 5.0]}


def mutual_information(estimator, X, y=None):
    return estimator.score(X)


scoring = {"mi": mutual_information, **SCORERS}
search = GridSearchCV(pipe, param_grid, scoring=scoring, refit="mi", cv=KFold(2, shuffle=True, random_state=0))
search.fit(X, y)  # y is passed on to the labelled scorers only; the clusterer ignores it

print("best by mutual information:", search.best_params_)
for params, mi, acc in zip(
    search.cv_results_["params"], search.cv_results_["mean_test_mi"], search.cv_results_["mean_test_acc"]
):
    print(f"{params}  MI={mi:.3f}  ACC={acc:.3f}")

# %%
# The candidates, side by side
# ----------------------------
names = [f"balance_weight={p['drc__balance_weight']}" for p in search.cv_results_["params"]]
fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
x = np.arange(len(names))
axes[0].bar(x, search.cv_results_["mean_test_mi"], yerr=search.cv_results_["std_test_mi"], color="tab:blue")
axes[0].axhline(np.log(10), color="grey", ls="--", lw=1)
axes[0].text(x[-1] + 0.4, np.log(10) - 0.05, "maximum log(10)", ha="right", va="top", color="grey")
axes[0].set_ylim(0, np.log(10) * 1.08)
axes[0].set_title("label-free: mutual information I(x; c) (nats)")
width = 0.27
for i, key in enumerate(["acc", "nmi", "ari"]):
    axes[1].bar(x + (i - 1) * width, search.cv_results_[f"mean_test_{key}"], width, label=key.upper())
axes[1].set_ylim(0, 1.15)
axes[1].set_title("with labels (held-out folds)")
axes[1].legend(loc="upper center", ncol=3)
for ax in axes:
    ax.set_xticks(x, names, fontsize=8)
plt.show()

# %%
# The label-free ranking and the labelled one need not agree: mutual information rewards
# confident, balanced assignments, whatever they group together. With a balance weight
# that is too low, clusters can merge; too high, and the network is pushed to split real
# groups evenly. Check the winner by looking at its clusters.
#
# ``search.best_estimator_`` is the pipeline refitted on all the data with the chosen
# parameters, ready for ``predict``.
print(search.best_estimator_.predict(X[:10]))
