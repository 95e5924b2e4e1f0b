"""
Your own backbone and augmentation
==================================

``backbone`` accepts any ``torch.nn.Module`` that maps a batch in the model layout
(``(B, C, H, W)`` for images, ``(B, n_features)`` for tabular data; already standardised
with the training statistics) to features ``(B, D)``. It is deep-copied, so the module you
pass is never trained in place.

``augment`` accepts any callable ``f(x, generator)`` that takes a float batch on the
training device (images in their value range, here [0, 16] as given) and returns a batch
of the same shape. Draw all randomness from ``generator`` and the fit stays reproducible
with ``random_state``. Define it as a module-level function or class (not a lambda) so the
fitted model can be pickled. The ready-made pipelines live in :mod:`deepclust.augment`.

25 epochs of :class:`~deepclust.DRCClustering` on the digits (a short run).
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from deepclust import DRCClustering
from deepclust.augment import Compose, GaussianNoise, RandomResizedCropAffine
from deepclust.metrics import evaluate

X, y = load_digits(return_X_y=True)

# %%
# A backbone
# ----------
# A deliberately small CNN for 8x8 images. Declaring ``out_features`` saves the estimator
# a trial forward pass to find the feature width.


class TinyCNN(nn.Module):
    def __init__(self, out_features=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(64, out_features), nn.BatchNorm1d(out_features), nn.ReLU(),
        )
        self.out_features = out_features

    def forward(self, x):
        return self.net(x)


# %%
# An augmentation
# ---------------
# Two ways: compose the package's batched ops, or write the callable yourself. The
# hand-written one below erases a random 2x2 patch in 30% of the images (cutout), with
# every random number drawn from ``generator``. On 8x8 digits anything larger erases
# a good part of the stroke. The estimators call the augmentation once per step on the
# batch stacked twice (both views at once), so it must treat every sample on its own.


class Cutout:
    def __init__(self, size=2, p=0.3):
        self.size, self.p = size, p

    def __call__(self, x, generator):
        n, _, h, w = x.shape
        top = torch.randint(0, h - self.size + 1, (n,), generator=generator, device=x.device)
        left = torch.randint(0, w - self.size + 1, (n,), generator=generator, device=x.device)
        apply = torch.rand(n, generator=generator, device=x.device) < self.p
        rows = torch.arange(h, device=x.device).view(1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, w)
        inside = ((rows >= top.view(n, 1, 1)) & (rows < (top + self.size).view(n, 1, 1))
                  & (cols >= left.view(n, 1, 1)) & (cols < (left + self.size).view(n, 1, 1)))
        mask = (inside & apply.view(n, 1, 1)).unsqueeze(1)
        return x.masked_fill(mask, 0.0)


augment = Compose(
    [
        RandomResizedCropAffine(scale=(0.6, 1.0), ratio=(0.8, 1.25), flip_p=0.0, degrees=12.0, translate=0.05),
        Cutout(size=2, p=0.3),
        GaussianNoise(0.5, clamp=(0.0, 16.0)),
    ]
)

# %%
# Look at the views before training on them
# -----------------------------------------
# Always worth doing: an augmentation that destroys the class (a digit flipped left-right,
# cropped to nothing) teaches the network the wrong invariances.
images = torch.as_tensor(X[:8], dtype=torch.float32).reshape(-1, 1, 8, 8)
generator = torch.Generator().manual_seed(0)
views = augment(torch.cat([images, images]), generator).chunk(2)  # as the estimators make them
fig, axes = plt.subplots(3, 8, figsize=(8, 3.3), layout="constrained")
for j in range(8):
    for i, (batch, name) in enumerate(zip([images, *views], ["original", "view 1", "view 2"])):
        axes[i, j].imshow(batch[j, 0].numpy(), cmap="gray_r", vmin=0, vmax=16)
        axes[i, j].set_xticks([])
        axes[i, j].set_yticks([])
        if j == 0:
            axes[i, j].set_ylabel(name)
plt.show()

# %%
# Fit with both
# -------------
model = DRCClustering(
    n_clusters=10, image_shape=(1, 8, 8), backbone=TinyCNN(), augment=augment,
    max_epochs=25, random_state=0, device="cpu",
)
labels = model.fit_predict(X)
scores = evaluate(labels, y=y)
print(scores)
print("embedding width:", model.transform(X[:2]).shape[1])

# %%
# Cluster sizes
# -------------
# A short run with a tiny network: some clusters are still over- or under-filled. The
# default backbone (``SmallCNN``) and the ``"grey"`` preset do better on this data.
sizes = np.bincount(labels, minlength=10)
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
ax.bar(np.arange(10), sizes, color="tab:blue")
ax.axhline(len(X) / 10, color="grey", ls="--", lw=1, label="balanced")
ax.set_xticks(range(10))
ax.set_xlabel("cluster")
ax.set_ylabel("samples")
ax.set_title(f"cluster sizes (ACC {scores['acc']:.3f} after 25 epochs)")
ax.legend()
plt.show()
