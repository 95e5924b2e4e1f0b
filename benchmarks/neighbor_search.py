"""Time and recall of the input neighbour graph's two searches (not a timed test).

``neighbor_search="exact"`` is scikit-learn's brute-force ``NearestNeighbors`` on the
standardised (PCA-reduced where wide) input, quadratic in the rows; ``"approximate"`` is
pynndescent's nearest-neighbour descent (the ``ann`` extra), which compiles its kernels once
per process. For each ``--rows`` this runs both on the same table in one process (the
approximate one first warmed up on a small table so that the compilation is timed apart)
and prints the seconds of each, their ratio and the approximate graph's recall of the exact
10 neighbours. Tables are ``make_blobs`` with ``--centers`` clusters in ``--features``
dimensions (``--noise`` for Gaussian noise instead, the approximate search's hardest case).

Usage::

    OMP_NUM_THREADS=2 python -m benchmarks.neighbor_search --rows 50000 100000 200000
    python -m benchmarks.neighbor_search --rows 2000 --out results.jsonl   # seconds

The last line printed is ``speedup=<exact s / approximate s at the largest size>``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # allow `python benchmarks/neighbor_search.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from deepclust.training.neighbors import input_neighbors  # noqa: E402


def make_table(n_rows: int, n_features: int, n_centers: int, noise: bool, seed: int = 0) -> np.ndarray:
    """A float32 table: ``make_blobs`` clusters, or Gaussian noise with ``noise``."""
    if noise:
        return np.random.default_rng(seed).normal(size=(n_rows, n_features)).astype(np.float32)
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=n_rows, n_features=n_features, centers=n_centers, random_state=seed)
    return X.astype(np.float32)


def recall(approximate: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each row's exact neighbours that the approximate graph found."""
    k = exact.shape[1]
    return float(np.mean([len(set(a) & set(e)) / k for a, e in zip(approximate, exact)]))


def measure(X: np.ndarray, n_neighbors: int = 10, seed: int = 0) -> dict:
    """Seconds of both searches on ``X`` and the approximate graph's recall."""
    mean, std = X.mean(axis=0), X.std(axis=0)
    timings, graphs = {}, {}
    for search in ("exact", "approximate"):
        start = time.perf_counter()
        graphs[search] = input_neighbors(X, mean, std, n_neighbors, seed, search=search)
        timings[search] = time.perf_counter() - start
    return {
        "rows": int(X.shape[0]),
        "features": int(X.shape[1]),
        "exact_s": round(timings["exact"], 2),
        "approximate_s": round(timings["approximate"], 2),
        "speedup": round(timings["exact"] / max(timings["approximate"], 1e-9), 2),
        "recall": round(recall(graphs["approximate"], graphs["exact"]), 4),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", type=int, default=[50_000, 100_000, 200_000])
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--centers", type=int, default=10)
    parser.add_argument("--noise", action="store_true", help="Gaussian noise instead of clusters")
    parser.add_argument("--out", type=Path, default=None, help="append one JSON line per size here")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    input_neighbors(make_table(500, args.features, args.centers, args.noise), 0.0, 1.0, 10, search="approximate")
    print(f"pynndescent's one-off compilation (and a 500-row search): {time.perf_counter() - start:.1f} s")
    record = None
    for n_rows in args.rows:
        record = measure(make_table(n_rows, args.features, args.centers, args.noise))
        record["data"] = "noise" if args.noise else f"blobs({args.centers})"
        print(json.dumps(record))
        if args.out is not None:
            with args.out.open("a") as f:
                f.write(json.dumps(record) + "\n")
    if record is not None:
        print(f"speedup={record['speedup']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
