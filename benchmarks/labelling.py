"""The cluster head's labels against k-means on the representation, scored on the same fit.

For each (data set, method, seed) this fits one deep estimator (defaults, as ``run.py
--protocol all``), then prints, as one JSON line and finally as a markdown table:

* ACC / NMI / ARI of ``labels_`` (the head's argmax, the estimators' labelling);
* the same for k-means (``n_init=10``) on the L2-normalised ``transform(X)``;
* two label-free signals a user has without labels: ``score(X)`` (the head's mutual
  information) and the adjusted Rand index between the two labellings (their agreement).

It answers "is k-means on the representation a better labelling than the head?" and "can a
poor fit be told without labels?" (session 10 of ``results_notes.md``). Nothing is written to
the results CSVs; ``--out`` appends the JSON lines to a file.

Example (the session-10 USPS runs, about 7 min per fit on one core)::

    OMP_NUM_THREADS=1 python -m benchmarks.labelling --dataset usps --method scl drc jcl --seeds 0 1 2 --max-epochs 30
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # allow `python benchmarks/labelling.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks import datasets as D  # noqa: E402
from benchmarks import methods as M  # noqa: E402


def compare_labellings(model, X, y, seed: int = 0, features=None) -> dict:
    """Score a fitted deep estimator's ``labels_`` and k-means on its representation of ``X``.

    ``X`` must be the data ``model`` was fitted on (``labels_`` are its labels); pass
    ``features``, ``model.transform(X)``, when the caller has it already.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import normalize

    from deepclust.metrics import evaluate

    if features is None:
        features = model.transform(X)
    km_labels = KMeans(model.n_clusters, n_init=10, random_state=seed).fit_predict(normalize(features))
    return {
        "head": evaluate(model.labels_, y=y),
        "kmeans": evaluate(km_labels, y=y),
        "score": float(model.score(X)),
        "agreement_ari": float(adjusted_rand_score(model.labels_, km_labels)),
    }


def markdown_table(records: list[dict]) -> str:
    lines = ["| data | method | seed | head ACC | k-means ACC | difference | score | ARI(head, k-means) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in records:
        head, km = r["head"]["acc"], r["kmeans"]["acc"]
        lines.append(f"| {r['dataset']} | {r['method']} | {r['seed']} | {head:.4f} | {km:.4f} | {km - head:+.4f} "
                     f"| {r['score']:.3f} | {r['agreement_ari']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", nargs="+", required=True, choices=sorted(set(D.LOADERS) - {"cifar10"}))
    p.add_argument("--method", nargs="+", required=True, choices=sorted(M.DEEP_METHODS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=None, help="append the JSON lines to this file")
    args = p.parse_args(argv)

    records = []
    for name in args.dataset:
        ds = D.load(name)
        for method in args.method:
            for seed in args.seeds:
                t0 = time.perf_counter()
                model = M.deep_estimator(method, ds, seed, args.max_epochs, args.device).fit(ds.X)
                record = {"dataset": name, "method": method, "seed": seed, "epochs": model.n_iter_,
                          "fit_s": round(time.perf_counter() - t0), **compare_labellings(model, ds.X, ds.y, seed)}
                print(json.dumps(record), flush=True)
                if args.out is not None:
                    with args.out.open("a") as f:
                        f.write(json.dumps(record) + "\n")
                records.append(record)
    print(markdown_table(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
