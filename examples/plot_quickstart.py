"""
Cluster digits and look at the confusion matrix
===============================================

Fit :class:`~deepclust.DRCClustering` on scikit-learn's bundled 8x8 digits, compare it
with k-means, and draw the confusion matrix of clusters against the true digits. The
labels are used **only** for scoring and for the picture.

This is a short run (30 epochs instead of the 100 that the default ``max_epochs="auto"`` gives
digits) so that the example builds in
about a minute on one CPU core; the defaults reach higher accuracy (see the benchmark
page).
"""

# %%
# Load the data
# -------------
# ``load_digits`` gives 1,797 flat rows of 64 pixels (values 0-16). Passing
# ``image_shape=(1, 8, 8)`` tells the estimator that each row is a one-channel 8x8 image,
# so it uses the small CNN backbone and image augmentations (affine and elastic warps,
# stroke width, noise) instead of the tabular MLP.
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import confusion_matrix

from deepclust import DRCClustering
from deepclust.metrics import evaluate

X, y = load_digits(return_X_y=True)
print(X.shape, X.dtype, "classes:", np.unique(y))

# %%
# Fit k-means and DRC
# -------------------
start = time.perf_counter()
kmeans_labels = KMeans(n_clusters=10, n_init=10, random_state=0).fit_predict(X)
print(f"KMeans  {evaluate(kmeans_labels, y=y)}  {time.perf_counter() - start:.1f}s")

start = time.perf_counter()
model = DRCClustering(n_clusters=10, image_shape=(1, 8, 8), max_epochs=30, random_state=0, device="cpu")
labels = model.fit_predict(X)
print(f"DRC     {evaluate(labels, y=y)}  {time.perf_counter() - start:.1f}s")

# %%
# Confusion matrix
# ----------------
# Cluster indices are arbitrary, so the columns are reordered with the same Hungarian
# matching that :func:`~deepclust.metrics.cluster_accuracy` uses: the diagonal then holds
# the correctly grouped samples, and off-diagonal cells show which digits get merged.
from scipy.optimize import linear_sum_assignment


def matched_confusion(y_true, y_pred):
    table = confusion_matrix(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return table[:, cols[np.argsort(rows)]], cols[np.argsort(rows)]


fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
for ax, (name, pred) in zip(axes, [("KMeans", kmeans_labels), ("DRCClustering (30 epochs)", labels)]):
    table, order = matched_confusion(y, pred)
    im = ax.imshow(table, cmap="Blues")
    for i in range(10):
        for j in range(10):
            if table[i, j]:
                colour = "white" if table[i, j] > table.max() / 2 else "black"
                ax.text(j, i, table[i, j], ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(10), order)
    ax.set_yticks(range(10), range(10))
    ax.set_xlabel("cluster (matched order)")
    ax.set_ylabel("true digit")
    acc = np.trace(table) / table.sum()
    ax.set_title(f"{name}: ACC {acc:.3f}")
fig.colorbar(im, ax=axes, shrink=0.8, label="samples")
plt.show()

# %%
# Soft assignments and the label-free score
# -----------------------------------------
# ``predict_proba`` gives each sample's cluster probabilities, and ``score`` the mutual
# information between samples and clusters (higher is better, at most ``log(10)``); it
# needs no labels (see :doc:`/model_selection`).
proba = model.predict_proba(X[:3])
print(np.round(proba, 3))
print(f"score = {model.score(X):.3f} nats (max {np.log(10):.3f})")
