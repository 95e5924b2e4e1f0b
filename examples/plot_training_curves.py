"""
Training curves from ``history_``
=================================

Every fitted estimator keeps one dict per epoch in ``history_``: the total loss and each
of its terms, ``labels_changed`` (the fraction of samples whose predicted cluster changed
since the previous epoch), ``n_clusters_used``, ``seconds`` and ``samples_per_s``.

This example also shows the callback hook: a small
:class:`~deepclust.training.callbacks.Callback` that measures the accuracy against the
known digits after every epoch. That uses labels, so it is for monitoring a benchmark, not
for choosing a model in an unlabelled setting. 40 epochs of
:class:`~deepclust.DRCClustering` on the digits (a short run).
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits

from deepclust import DRCClustering
from deepclust.metrics import cluster_accuracy
from deepclust.training.callbacks import Callback

X, y = load_digits(return_X_y=True)


class AccuracyMonitor(Callback):
    """Record the clustering accuracy of the current network after every epoch."""

    def __init__(self, X, y):
        self.X = torch.as_tensor(X, dtype=torch.float32).reshape(-1, 1, 8, 8)
        self.y = y
        self.acc = []

    def on_epoch_end(self, trainer, entry):
        module = trainer.module
        was_training = module.training
        module.eval()
        with torch.no_grad():
            labels = module(self.X.to(trainer.device)).logits.argmax(1).cpu().numpy()
        module.train(was_training)
        self.acc.append(cluster_accuracy(self.y, labels))


monitor = AccuracyMonitor(X, y)
model = DRCClustering(
    n_clusters=10, image_shape=(1, 8, 8), max_epochs=40, random_state=0, device="cpu", callbacks=[monitor]
)
model.fit(X)
print(f"{model.n_iter_} epochs; last entry:")
print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in model.history_[-1].items()})

# %%
# Plot the curves
# ---------------
history = model.history_
epochs = np.arange(1, len(history) + 1)
terms = ["loss", "assignment_feature", "assignment_probability", "balance"]

fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), layout="constrained")
ax = axes[0, 0]
for term in terms:
    ax.plot(epochs, [h[term] for h in history], label=term)
ax.set_title("loss and its terms")
ax.set_xlabel("epoch")
ax.set_ylim(-0.2, max(h["loss"] for h in history) * 1.35)
ax.legend(loc="upper right", ncol=2, fontsize=8)

ax = axes[0, 1]
ax.plot(epochs, [h["labels_changed"] for h in history], color="tab:red")
ax.set_title("fraction of samples that changed cluster")
ax.set_xlabel("epoch")
ax.set_yscale("log")

ax = axes[1, 0]
used = [h["n_clusters_used"] for h in history]
ax.plot(epochs, [h["samples_per_s"] for h in history], color="tab:green")
ax.set_ylim(0, None)
ax.set_title(f"throughput, samples/s (clusters in use: {min(used)}-{max(used)} of 10)")
ax.set_xlabel("epoch")

ax = axes[1, 1]
ax.plot(epochs, monitor.acc, color="tab:purple")
ax.set_ylim(0, 1)
ax.set_title("ACC vs true digits (callback, monitoring only)")
ax.set_xlabel("epoch")
plt.show()

# %%
# Throughput
# ----------
seconds = sum(h["seconds"] for h in history)
print(f"{seconds:.1f}s in all, {np.mean([h['samples_per_s'] for h in history]):.0f} samples/s on average")
