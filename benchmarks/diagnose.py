"""Where a deep estimator's clustering goes wrong: confusion, confidence and neighbours of its largest error.

Fits one deep estimator (defaults, or ``--set name=value`` overrides) on a benchmark data set
(the merged set, as ``run.py --protocol all``) and prints:

* ACC / NMI / ARI and the confusion matrix, columns ordered by the Hungarian matching;
* the largest off-diagonal group (true class ``a`` in the cluster matched to ``b``): how
  confident the cluster head is on it, and how much probability it gives to ``a``'s cluster
  (if that is near zero, self-labelling on confident samples cannot move the group);
* the 10 nearest neighbours of that group's samples, in the input (PCA to 50 dimensions of the
  pixels in [0, 1]) and in the learned representation (``transform``, cosine): which share
  the group's true class *and* lie in its true class's cluster. This says whether the input
  space links the group to its class and the representation has moved it away;
* k-means on the normalised representation: whether the error is the cluster head's or the
  representation's (with the label-free signals of ``labelling.py``).

Nothing is written to the results CSVs; this is a diagnostic, not a benchmark row.

Example (the session-9 MNIST diagnosis, about 25 min on one core)::

    OMP_NUM_THREADS=1 python -m benchmarks.diagnose --dataset mnist --method scl --max-epochs 4 --seed 0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # allow `python benchmarks/diagnose.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks import datasets as D  # noqa: E402
from benchmarks import methods as M  # noqa: E402
from benchmarks.labelling import compare_labellings  # noqa: E402
from benchmarks.methods import parse_override as _parse_override  # noqa: E402,F401  (shared with run.py)

N_NEIGHBORS = 10


def matched_confusion(y: np.ndarray, labels: np.ndarray, n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Confusion matrix (rows: classes) with columns reordered so column ``c`` is class ``c``'s cluster.

    Returns the matrix and ``cluster_of``, the cluster matched to each class.
    """
    from scipy.optimize import linear_sum_assignment

    # Not sklearn's contingency_matrix (as deepclust.metrics uses): it drops empty clusters,
    # and here column j must stay cluster j so that cluster_of can index labels.
    counts = np.zeros((n_clusters, n_clusters), dtype=np.int64)
    np.add.at(counts, (y, labels), 1)
    rows, cols = linear_sum_assignment(-counts)
    cluster_of = np.empty(n_clusters, dtype=np.int64)
    cluster_of[rows] = cols
    return counts[:, cluster_of], cluster_of


def neighbour_composition(Z: np.ndarray, query: np.ndarray, y: np.ndarray, labels: np.ndarray,
                          true_class: int, its_cluster: int, metric: str) -> dict[str, float]:
    """Fractions of the ``N_NEIGHBORS`` nearest neighbours of ``Z[query]`` by class and cluster."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=N_NEIGHBORS + 1, metric=metric).fit(Z)
    _, idx = nn.kneighbors(Z[query])
    idx = idx[:, 1:]  # drop the nearest: the sample itself (or an exact duplicate of it)
    same_class = y[idx] == true_class
    return {
        "same class": float(same_class.mean()),
        "same class, in its class's cluster": float((same_class & (labels[idx] == its_cluster)).mean()),
        "in the same (wrong) cluster": float((labels[idx] == labels[query][:, None]).mean()),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, choices=sorted(set(D.LOADERS) - {"cifar10"}))
    p.add_argument("--method", required=True, choices=sorted(M.DEEP_METHODS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--set", dest="overrides", action="append", type=_parse_override, default=[],
                   metavar="NAME=VALUE", help="estimator parameter override (repeatable), e.g. temperature=1.0")
    args = p.parse_args(argv)

    from sklearn.decomposition import PCA

    from deepclust.metrics import evaluate

    ds = D.load(args.dataset)
    est = M.deep_estimator(args.method, ds, args.seed, args.max_epochs, args.device, **dict(args.overrides))
    print(f"# {args.dataset} ({ds.n} samples), {type(est).__name__}, seed {args.seed}, "
          f"overrides {dict(args.overrides) or 'none'}", flush=True)
    t0 = time.perf_counter()
    est.fit(ds.X)
    y = ds.y
    labels = est.labels_
    print(f"fit in {time.perf_counter() - t0:.0f} s: {evaluate(labels, y=y)}")

    confusion, cluster_of = matched_confusion(y, labels, ds.n_clusters)
    print("confusion (rows: true class; column c: the cluster matched to class c)")
    print(confusion)
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    a, b = np.unravel_index(off.argmax(), off.shape)
    group = np.flatnonzero((y == a) & (labels == cluster_of[b]))
    proba = est.predict_proba(ds.X[group])
    print(f"\nlargest error: {len(group)} samples of class {a} in class {b}'s cluster")
    print(f"  head confidence (max probability): mean {proba.max(1).mean():.3f}; "
          f"probability of class {a}'s cluster: mean {proba[:, cluster_of[a]].mean():.3f}")

    features = est.transform(ds.X)
    spaces = {
        "input (PCA-50 of pixels in [0, 1])": (PCA(50, random_state=0).fit_transform(ds.flat01()), "euclidean"),
        "representation (transform, cosine)": (features, "cosine"),
    }
    for name, (Z, metric) in spaces.items():
        comp = neighbour_composition(Z, group, y, labels, a, cluster_of[a], metric)
        print(f"  {N_NEIGHBORS}-NN in the {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in comp.items()))

    # Head or representation? k-means on the (normalised) representation instead of the head.
    both = compare_labellings(est, ds.X, y, args.seed, features=features)
    print(f"\nk-means (n_init=10) on the normalised representation: {both['kmeans']}")
    print(f"label-free: score (the head's mutual information) {both['score']:.3f}, "
          f"agreement of the head with k-means (ARI) {both['agreement_ari']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
