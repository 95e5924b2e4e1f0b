"""
Quickstart: cluster handwritten digits
======================================

Cluster scikit-learn's bundled 8x8 digits (1,797 images, 10 classes; no download) with
:class:`~deepclust.DRCClustering` and with k-means, in one run, and compare accuracy
(Hungarian-matched), NMI, ARI and time. Labels are used only for scoring.
"""

import time

from sklearn.cluster import KMeans
from sklearn.datasets import load_digits

from deepclust import DRCClustering
from deepclust.metrics import evaluate

X, y = load_digits(return_X_y=True)  # X: (1797, 64) floats in [0, 16]


def run(name, model, **fit_kwargs):
    start = time.perf_counter()
    labels = model.fit_predict(X)
    seconds = time.perf_counter() - start
    scores = evaluate(labels, y=y)
    print(f"{name:<14} ACC={scores['acc']:.3f}  NMI={scores['nmi']:.3f}  ARI={scores['ari']:.3f}  {seconds:6.1f}s")
    return scores


print(f"digits: {X.shape[0]} samples, {len(set(y))} classes")
kmeans = run("KMeans", KMeans(n_clusters=10, n_init=10, random_state=0))
# The rows are 8x8 images: image_shape lets the default CNN backbone and image
# augmentations see them as such.
drc = run("DRCClustering", DRCClustering(n_clusters=10, image_shape=(1, 8, 8), random_state=0))
print(f"DRC - KMeans: ACC {drc['acc'] - kmeans['acc']:+.3f}, NMI {drc['nmi'] - kmeans['nmi']:+.3f}")
