"""Run clustering benchmarks: one CSV row per (dataset, method, seed) run.

Examples (from the repository root)::

    python -m benchmarks.run --dataset digits --method kmeans tsne_kmeans umap_kmeans drc --seeds 0 1 2
    python -m benchmarks.run --dataset usps --method drc --seeds 0 --max-epochs 20
    python -m benchmarks.run --dataset digits --method drc --protocol heldout --seeds 0 1 2
    python -m benchmarks.run --dataset cifar10 --method drc scl jcl --preset cifar-gpu --device cuda --max-epochs 100
    python -m benchmarks.run --suite dev --method kmeans kmeans_std gmm_std --seeds 0 1 2
    python -m benchmarks.run --suite dev --method deep --seeds 0 1 2 --set temperature=0.5

``--suite dev`` (instead of ``--dataset``) runs every set of the development suite
(``datasets.SUITES``: images of handwriting, objects and natural scenes, and tables); ``--suite full``
adds MNIST and CIFAR-10. A method that does not apply to a set (``methods.not_applicable``: a GMM on
images of more than 1,000 values, t-SNE on more than 20k rows) is skipped with the reason printed.
``--set name=value`` (repeatable) overrides a parameter of the deep estimators; the overrides are
recorded in the config column (``set name=value ...``), so a sweep is reproducible from the CSV.

Rows are appended to ``benchmarks/results/<dataset>.csv``; afterwards a markdown table of
mean ± std over *all* rows of that data set in the CSV (not only this invocation) is printed.
Scores are computed with :func:`deepclust.metrics.evaluate` (ACC by the Hungarian
algorithm, sklearn's NMI with the arithmetic normaliser, ARI).

Protocols:

* ``all`` (default, the literature protocol, ALGORITHMS.md §1): fit on the merged set,
  score the labels of the same samples;
* ``heldout``: fit on the train part only (official train split, or 90% of digits), score
  the fitted samples *and* the prediction on the held-back part (``test_acc`` etc.), which
  the model never saw. t-SNE cannot predict unseen samples, so its test columns are empty.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # allow `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks import datasets as D  # noqa: E402
from benchmarks import methods as M  # noqa: E402
from benchmarks.report import FIELDS, RESULTS_DIR, markdown_table, read_rows  # noqa: E402

GROUPS = {"deep": list(M.DEEP_METHODS), "baselines": list(M.BASELINES), "all": list(M.METHODS)}


def _versions() -> str:
    import importlib

    out = [f"python={platform.python_version()}"]
    for mod, key in (("torch", "torch"), ("sklearn", "sklearn"), ("numpy", "numpy"), ("deepclust", "deepclust"),
                     ("umap", "umap"), ("clustpy", "clustpy")):
        try:
            m = importlib.import_module(mod)
            v = getattr(m, "__version__", None)
            if v is None:
                from importlib.metadata import version

                v = version({"umap": "umap-learn"}.get(mod, mod))
            out.append(f"{key}={v}")
        except Exception:
            out.append(f"{key}=missing")
    return ";".join(out)


def _hardware(device_used: str) -> str:
    model = platform.processor() or "cpu"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    hw = f"{model}, {cores} cores"
    try:
        import torch

        hw += f", torch threads {torch.get_num_threads()}"
        if "cuda" in device_used and torch.cuda.is_available():
            hw += f", GPU {torch.cuda.get_device_name(0)}"
        elif not torch.cuda.is_available():
            hw += ", no GPU"
    except ImportError:
        pass
    return hw


def _git_commit() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "deepclust"], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except Exception:
        return ""


def _subsample(index: np.ndarray, y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """A stratified random subset of ``index`` of size ``n`` (fixed seed: same subset for every run)."""
    if n >= len(index):
        return index
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(index, train_size=n, stratify=y[index], random_state=seed)
    return np.sort(keep)


def append_row(path: Path, row: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            w.writeheader()
        w.writerow({k: row.get(k, "") for k in FIELDS})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--dataset", nargs="+", choices=sorted(D.LOADERS))
    which.add_argument("--suite", choices=sorted(D.SUITES),
                       help="every data set of a suite: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in D.SUITES.items()))
    p.add_argument("--method", nargs="+", required=True,
                   help=f"method names {sorted(M.METHODS)} or groups {sorted(GROUPS)}")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--max-epochs", type=int, default=None,
                   help="epoch budget for the deep methods (default: each estimator's default); for DEC/IDEC both phases")
    p.add_argument("--device", default="auto", help='"auto", "cpu", "cuda" (deep methods and ClustPy)')
    p.add_argument("--protocol", choices=["all", "heldout"], default="all")
    p.add_argument("--preset", choices=sorted(M.PRESETS), default="default", help="settings for the deepclust estimators")
    p.add_argument("--subsample", type=int, default=None,
                   help="reduced run: a fixed stratified subset of this many samples (labelled in the CSV)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--tag", default="", help="free text stored in the config column (e.g. 'reduced CPU run')")
    p.add_argument("--curve", type=int, default=None, metavar="N",
                   help="deep methods: print the ACC on N fitted samples after every epoch (not counted in seconds)")
    p.add_argument("--set", dest="overrides", action="append", type=M.parse_override, default=[], metavar="NAME=VALUE",
                   help="deep estimators: override a parameter (repeatable), e.g. --set temperature=0.5 "
                        "--set augment=none; recorded in the config column")
    p.add_argument("--list", action="store_true", help="print which methods can run here and exit")
    args = p.parse_args(argv)
    M.CURVE_SAMPLES = args.curve
    overrides = dict(args.overrides)
    datasets = list(D.SUITES[args.suite]) if args.suite else list(args.dataset)

    avail = M.availability()
    if args.list:
        for k, v in avail.items():
            print(f"{k:12s} {v}")
        return 0
    methods = []
    for m in args.method:
        for name in GROUPS.get(m, [m]):
            if name not in M.METHODS:
                p.error(f"unknown method {name!r}")
            if name not in methods:
                methods.append(name)

    from deepclust.metrics import evaluate

    env = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS",) if k in os.environ)
    command = (env + " " if env else "") + "python -m benchmarks.run " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    versions, commit = _versions(), _git_commit()
    failures = 0
    if overrides and not any(m in M.DEEP for m in methods):
        print(f"# note: --set {M.overrides_text(overrides)[4:]} applies to the deep estimators only; none was chosen", flush=True)
    for ds_name in datasets:
        t_load = time.perf_counter()
        ds = D.load(ds_name)
        print(f"# {ds_name}: {ds.n} samples, K={ds.n_clusters}, loaded in {time.perf_counter() - t_load:.1f}s ({ds.notes})", flush=True)
        if args.protocol == "all":
            fit_index, test_index = np.arange(ds.n), None
        else:
            fit_index, test_index = ds.fit_index, ds.test_index
        if args.subsample:
            if test_index is None:
                fit_index = _subsample(fit_index, ds.y, args.subsample)
            else:
                frac = args.subsample / ds.n
                fit_index = _subsample(fit_index, ds.y, max(ds.n_clusters, int(round(frac * len(fit_index)))))
                test_index = _subsample(test_index, ds.y, max(ds.n_clusters, int(round(frac * len(test_index)))))
        for method in methods:
            if avail.get(method) != "ok":
                print(f"  {method}: unavailable ({avail.get(method)})", flush=True)
                continue
            reason = M.not_applicable(method, ds, len(fit_index))
            if reason:
                print(f"  {method}: skipped on {ds_name} ({reason})", flush=True)
                continue
            kw = {"overrides": overrides} if method in M.DEEP and overrides else {}
            for seed in args.seeds:
                try:
                    res = M.METHODS[method](ds, fit_index, test_index, seed, args.max_epochs, args.device, args.preset, **kw)
                except M.Unavailable as exc:
                    print(f"  {method}: unavailable ({exc})", flush=True)
                    break
                except Exception:
                    failures += 1
                    print(f"  {method} seed {seed}: FAILED", flush=True)
                    traceback.print_exc()
                    continue
                scores = evaluate(res.labels_fit, y=ds.y[fit_index])
                test = evaluate(res.labels_test, y=ds.y[test_index]) if res.labels_test is not None else {}
                config = res.config
                if args.subsample:
                    config += f" | subsample {args.subsample}"
                if args.tag:
                    config += f" | {args.tag}"
                row = {
                    "timestamp": _dt.datetime.now().isoformat(timespec="seconds"),
                    "dataset": ds_name,
                    "protocol": args.protocol,
                    "method": method,
                    "config": config,
                    "seed": seed,
                    "n_fit": len(fit_index),
                    "n_test": 0 if test_index is None else len(test_index),
                    "epochs": res.epochs,
                    "seconds": f"{res.seconds:.1f}",
                    "device": res.device,
                    "acc": f"{scores['acc']:.4f}",
                    "nmi": f"{scores['nmi']:.4f}",
                    "ari": f"{scores['ari']:.4f}",
                    "test_acc": f"{test['acc']:.4f}" if test else "",
                    "test_nmi": f"{test['nmi']:.4f}" if test else "",
                    "test_ari": f"{test['ari']:.4f}" if test else "",
                    "hardware": _hardware(res.device),
                    "versions": versions,
                    "git_commit": commit,
                    "command": command,
                }
                append_row(args.results_dir / f"{ds_name}.csv", row)
                extra = f" test ACC {test['acc']:.4f}" if test else ""
                print(f"  {method} seed {seed}: ACC {scores['acc']:.4f} NMI {scores['nmi']:.4f} ARI {scores['ari']:.4f}"
                      f"{extra} in {res.seconds:.1f}s ({res.epochs or '-'} epochs, {res.device})", flush=True)
        print()
        print(markdown_table(read_rows(args.results_dir, ds_name)))
        print()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
