"""One-restart probes of the deep estimators, and what restarts would keep from them.

The exploration behind a default (``results_notes.md``, ``results/sweeps_session*.jsonl``) is
many short fits with one setting changed. Two sub-commands make it reproducible from this
repository instead of throw-away scripts:

``probe``
    One fit per (data set, method, seed) with ``n_init=1`` (a single training run, so that a
    setting is judged by what it trains, not by which restart the score keeps) and the
    ``--set name=value`` overrides, on the merged set (as ``run.py --protocol all``). Each fit
    is one JSON line: the sweep's ``--name``, the overrides, ACC / NMI / ARI, the label-free
    ``score`` (the head's mutual information, the restarts' criterion), the epochs, the head
    refit's target where there is one (and its core's share of the rows, and what the engine made
    of the input's mixture), the seconds and the
    commit. ``--labels DIR`` also saves each fit's labels and score (``DIR/<data set>_<method>_<seed>.npz``)
    for ``restarts``. Nothing is written to the results CSVs.

``restarts``
    From the labellings saved by ``probe``: the mean ACC a fit with ``n`` restarts would have
    if its restarts were ``n`` of the saved seeds, over every ``n``-subset, for each way of
    keeping one: ``score`` (the package's, highest mutual information), ``medoid`` (the
    labelling that agrees most with the others, mean adjusted Rand index) and, with
    ``--input-inertia``, ``input_inertia`` (the lowest within-cluster sum of squares in the
    fit's reduced input, ``restart_criterion="input_inertia"``). ``n = 1`` is the
    mean of the seeds. An approximation: the package's restarts share the input's summaries
    (neighbour graph, mixture, prior) computed from the fit's seed, and one-restart fits at
    different seeds each compute their own.

Examples (session 22, one core each)::

    OMP_NUM_THREADS=1 python -m benchmarks.sweep probe --name baseline --dataset digits_flat \\
        segmentation --method drc jcl --seeds 0 1 2 3 4 5 --labels /tmp/probe/baseline --out sweeps.jsonl
    OMP_NUM_THREADS=1 python -m benchmarks.sweep probe --name np08 --set neighbor_probability=0.8 ...
    python -m benchmarks.sweep restarts /tmp/probe/baseline --n-init 1 3 5 --input-inertia
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # allow `python benchmarks/sweep.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks import datasets as D  # noqa: E402
from benchmarks import methods as M  # noqa: E402
from benchmarks.run import _git_commit  # noqa: E402

#: The ways ``restarts`` keeps one labelling of a group.
CRITERIA = ("score", "medoid", "input_inertia")


def probe(ds, method: str, seed: int, overrides: dict | None = None, max_epochs=None, device="auto",
          labels_dir: Path | None = None) -> dict:
    """Fit one one-restart deep estimator on all of ``ds`` and return its JSON record.

    With ``labels_dir`` the fit's labels, score, learned representation (``transform``) and
    the reference labels are saved to ``labels_dir / f"{ds.name}_{method}_{seed}.npz"``.
    """
    from deepclust.metrics import evaluate

    overrides = dict(overrides or {})
    start = time.perf_counter()
    model = M.deep_estimator(method, ds, seed, max_epochs, device, n_init=1, **overrides).fit(ds.X)
    seconds = time.perf_counter() - start
    score = float(model.score(ds.X))
    last = model.history_[-1] if model.history_ else {}
    record = {"dataset": ds.name, "method": method, "seed": int(seed), "overrides": M.overrides_text(overrides),
              **{k: round(float(v), 4) for k, v in evaluate(model.labels_, y=ds.y).items()},
              "score": round(score, 4), "epochs": int(model.n_iter_),
              "head_refit_target": last.get("head_refit_target"), "head_refit_core": last.get("head_refit_core"),
              "input_mixture": last.get("input_mixture"),
              "seconds": round(seconds, 1)}
    if labels_dir is not None:
        labels_dir.mkdir(parents=True, exist_ok=True)
        np.savez(labels_dir / f"{ds.name}_{method}_{seed}.npz", labels=model.labels_, score=score, y=np.asarray(ds.y),
                 features=model.transform(ds.X))
    return record


def keep(labellings: list[np.ndarray], scores: list[float], criterion: str, inertias=None) -> int:
    """Index of the labelling a group of restarts keeps by ``criterion`` (ties: the earlier one).

    "score": the highest score. "medoid": the highest mean adjusted Rand index with the
    other labellings of the group, then the highest score. "input_inertia": the lowest of
    ``inertias`` (the estimators' ``restart_criterion="input_inertia"``).
    """
    if criterion == "score":
        return int(np.argmax(scores))
    if criterion == "input_inertia":
        return int(np.argmin(inertias))
    if criterion == "medoid":
        from sklearn.metrics import adjusted_rand_score

        n = len(labellings)
        agreement = [np.mean([adjusted_rand_score(labellings[i], labellings[j]) for j in range(n) if j != i])
                     if n > 1 else 0.0 for i in range(n)]
        return max(range(n), key=lambda i: (round(agreement[i], 12), scores[i], -i))
    raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")


def restarts_accuracy(accuracies, labellings, scores, n_init: int, criterion: str = "score", inertias=None) -> float:
    """Mean ACC of the labelling kept from every ``n_init``-subset of the given fits."""
    if not 1 <= n_init <= len(accuracies):
        raise ValueError(f"n_init must be between 1 and the number of fits ({len(accuracies)}), got {n_init}")
    kept = []
    for group in itertools.combinations(range(len(accuracies)), n_init):
        index = keep([labellings[i] for i in group], [scores[i] for i in group], criterion,
                     None if inertias is None else [inertias[i] for i in group])
        kept.append(accuracies[group[index]])
    return float(np.mean(kept))


def load_labellings(directory: Path) -> dict[tuple[str, str], list[dict]]:
    """The saved fits of ``directory``, grouped by (data set, method), sorted by seed."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for path in sorted(directory.glob("*.npz")):
        dataset, method, seed = path.stem.rsplit("_", 2)
        with np.load(path) as f:
            groups[(dataset, method)].append({"seed": int(seed), "labels": f["labels"], "score": float(f["score"]),
                                              "y": f["y"]})
    return {key: sorted(fits, key=lambda fit: fit["seed"]) for key, fits in sorted(groups.items())}


def fit_reduced_input(X, seed: int) -> np.ndarray:
    """The reduced input of a fit of ``X`` with ``random_state=seed``, as the estimators build
    it (:class:`deepclust.training.input_space.InputSpace`)."""
    from deepclust import DRCClustering
    from deepclust._data import feature_statistics, validate_input
    from deepclust.training.input_space import InputSpace

    X_model, layout = validate_input(DRCClustering(), X, reset=True)
    mean, std = feature_statistics(X_model, layout)
    return InputSpace(X_model, mean, std, seed).reduced()


def fit_input_inertia(X, labels: np.ndarray, seed: int, reduced: np.ndarray | None = None) -> float:
    """The input inertia a fit of ``X`` with ``random_state=seed`` measures for ``labels``.

    As the estimators compute it for ``restart_criterion="input_inertia"``: in the reduced
    input of that fit (``reduced``, when the caller has it from :func:`fit_reduced_input`).
    """
    from deepclust.training.restarts import input_inertia

    return input_inertia(fit_reduced_input(X, seed) if reduced is None else reduced, labels)


def restarts_table(groups: dict, n_inits, criteria=CRITERIA, inputs: dict | None = None) -> list[dict]:
    """One record per (data set, method): its seeds and the ACC kept with each ``n_init`` and criterion.

    "input_inertia" needs the data (``inputs``: data set name -> ``X``); without it that
    criterion is left out.
    """
    from deepclust.metrics import cluster_accuracy

    rows, reduced = [], {}  # the reduced inputs, per (data set, seed): shared by the methods' fits
    for (dataset, method), fits in groups.items():
        accuracies = [cluster_accuracy(fit["y"], fit["labels"]) for fit in fits]
        labellings, scores = [fit["labels"] for fit in fits], [fit["score"] for fit in fits]
        inertias = None
        if inputs is not None and dataset in inputs:
            for fit in fits:
                if (dataset, fit["seed"]) not in reduced:
                    reduced[dataset, fit["seed"]] = fit_reduced_input(inputs[dataset], fit["seed"])
            inertias = [fit_input_inertia(inputs[dataset], fit["labels"], fit["seed"], reduced[dataset, fit["seed"]])
                        for fit in fits]
        row = {"dataset": dataset, "method": method, "seeds": [fit["seed"] for fit in fits]}
        for n in n_inits:
            if n <= len(fits):
                for criterion in criteria:
                    if criterion == "input_inertia" and inertias is None:
                        continue
                    row[f"{criterion}@{n}"] = round(
                        restarts_accuracy(accuracies, labellings, scores, n, criterion, inertias), 4
                    )
        rows.append(row)
    return rows


def _probe_main(args) -> int:
    overrides, commit = dict(args.overrides), _git_commit()
    for name in args.dataset:
        ds = D.load(name)
        for method in args.method:
            for seed in args.seeds:
                record = {"sweep": args.name, **probe(ds, method, seed, overrides, args.max_epochs, args.device,
                                                      args.labels)}
                record["git_commit"] = commit
                print(json.dumps(record), flush=True)
                if args.out is not None:
                    with args.out.open("a") as f:
                        f.write(json.dumps(record) + "\n")
    return 0


def _restarts_main(args) -> int:
    groups = load_labellings(args.directory)
    inputs = {dataset: D.load(dataset).X for dataset in {key[0] for key in groups}} if args.input_inertia else None
    rows = restarts_table(groups, args.n_init, inputs=inputs)
    for row in rows:
        print(json.dumps(row))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    pr = sub.add_parser("probe", help="one-restart fits with overrides, one JSON line each")
    pr.add_argument("--name", required=True, help="the sweep's name, stored in every record")
    pr.add_argument("--dataset", nargs="+", required=True, choices=sorted(set(D.LOADERS) - {"cifar10"}))
    pr.add_argument("--method", nargs="+", required=True, choices=sorted(M.DEEP_METHODS))
    pr.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    pr.add_argument("--max-epochs", type=int, default=None)
    pr.add_argument("--device", default="auto")
    pr.add_argument("--set", dest="overrides", action="append", type=M.parse_override, default=[],
                    metavar="NAME=VALUE", help="estimator parameter override (repeatable)")
    pr.add_argument("--labels", type=Path, default=None, help="save each fit's labels and score here (npz)")
    pr.add_argument("--out", type=Path, default=None, help="append the JSON lines to this file")
    pr.set_defaults(run=_probe_main)
    rs = sub.add_parser("restarts", help="what n restarts would keep from saved one-restart fits")
    rs.add_argument("directory", type=Path, help="a --labels directory of probe")
    rs.add_argument("--n-init", nargs="+", type=int, default=[1, 3, 5])
    rs.add_argument("--input-inertia", action="store_true",
                    help="also keep by the input inertia (loads each data set to measure it)")
    rs.set_defaults(run=_restarts_main)
    args = p.parse_args(argv)
    if any(name == "n_init" for name, _ in getattr(args, "overrides", [])):
        p.error("probe fits one restart (n_init=1); compare restarts with the restarts sub-command")
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
