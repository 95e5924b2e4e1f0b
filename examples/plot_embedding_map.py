"""
A 2-D map of the learned embedding
==================================

``transform`` returns the backbone's representation (the features before the clustering
head). Here :class:`~deepclust.SCLClustering` is fitted on the digits for a short run (30
epochs), its 256-d embedding is projected to 2-D with t-SNE, and the map is coloured once
by the predicted cluster and once by the true digit. Labels are used only for the second
panel.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.manifold import TSNE

from deepclust import SCLClustering
from deepclust.metrics import evaluate

X, y = load_digits(return_X_y=True)
model = SCLClustering(n_clusters=10, image_shape=(1, 8, 8), max_epochs=30, random_state=0, device="cpu")
labels = model.fit_predict(X)
print(evaluate(labels, y=y))

embedding = model.transform(X)
print("embedding:", embedding.shape, embedding.dtype)

# %%
# t-SNE of the embedding, and of the raw pixels for comparison
# ------------------------------------------------------------
# t-SNE only draws the neighbourhoods; distances between far-apart groups mean little.
# PCA (``sklearn.decomposition.PCA``) is a faster, linear alternative.
tsne = TSNE(n_components=2, init="pca", perplexity=30, random_state=0)
map_embedding = tsne.fit_transform(embedding)
map_pixels = TSNE(n_components=2, init="pca", perplexity=30, random_state=0).fit_transform(X)

cmap = plt.get_cmap("tab10")
fig, axes = plt.subplots(1, 3, figsize=(15, 5), layout="constrained")
panels = [
    (map_pixels, y, "raw pixels, coloured by true digit"),
    (map_embedding, labels, "SCL embedding, coloured by cluster"),
    (map_embedding, y, "SCL embedding, coloured by true digit"),
]
for ax, (points, colour, title) in zip(axes, panels):
    ax.scatter(points[:, 0], points[:, 1], c=colour, cmap=cmap, s=6, vmin=-0.5, vmax=9.5)
    for k in np.unique(colour):  # write the label at each group's median position
        cx, cy = np.median(points[colour == k], axis=0)
        ax.text(cx, cy, str(k), fontsize=12, weight="bold", ha="center", va="center",
                bbox=dict(boxstyle="round,pad=0.15", fc="white", alpha=0.7, lw=0))
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()
