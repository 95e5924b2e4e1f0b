"""
Saving and loading a fitted model
=================================

A fitted estimator is an ordinary Python object: save it with ``pickle`` or ``joblib``
and load it later (or on another machine) to predict. A model fitted on a GPU is moved to
the CPU when pickled; loaded on a machine without CUDA it stays there, with a
:class:`~deepclust.DeviceWarning`.

Training curves and checkpoints during training are a different matter: see
:class:`~deepclust.training.callbacks.Checkpoint`.

After loading, the picture shows a few training images from each cluster, as predicted by
the loaded model. 20 epochs of :class:`~deepclust.DRCClustering` (a short run).
"""

import os
import pickle
import tempfile

import joblib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from deepclust import DRCClustering

X, y = load_digits(return_X_y=True)
model = DRCClustering(n_clusters=10, image_shape=(1, 8, 8), max_epochs=20, random_state=0, device="cpu").fit(X)

# %%
# joblib and pickle
# -----------------
folder = tempfile.mkdtemp()
path = os.path.join(folder, "drc_digits.joblib")
joblib.dump(model, path)
print(f"{path}: {os.path.getsize(path) / 1e6:.1f} MB")

loaded = joblib.load(path)
same = np.array_equal(loaded.predict(X), model.predict(X))
print("same predictions after joblib round trip:", same)

blob = pickle.dumps(model)
again = pickle.loads(blob)
print("same embedding after pickle round trip:", np.allclose(again.transform(X[:50]), model.transform(X[:50])))
print("device of the loaded model:", loaded.device_)

# %%
# What the loaded model sees
# --------------------------
# Eight images of each cluster (rows), taken from the training data in order.
pred = loaded.predict(X)
n_show = 8
fig, axes = plt.subplots(10, n_show, figsize=(n_show * 0.9, 10 * 0.95), layout="constrained")
for k in range(10):
    members = np.flatnonzero(pred == k)[:n_show]
    for j in range(n_show):
        ax = axes[k, j]
        ax.set_xticks([])
        ax.set_yticks([])
        if j < len(members):
            ax.imshow(X[members[j]].reshape(8, 8), cmap="gray_r")
        if j == 0:
            ax.set_ylabel(f"cluster {k}\n(n={np.sum(pred == k)})", fontsize=8)
fig.suptitle("cluster members, predicted by the loaded model")
plt.show()

# %%
# Loading is only safe for files you trust: like any pickle, a model file can run code when
# it is loaded.
