"""Throughput of data-parallel training with 1, 2, ... gloo processes on the CPU.

Every configuration fits the same estimator on the same data (digits as 8x8 images by
default) with the same *global* batch size; N processes each forward ``batch_size / N``
samples per step and all-gather the outputs. The figure of merit is the history's
``samples_per_s`` (samples of the training set per second of the slowest rank), median over
the epochs after the first.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/distributed_scaling.py --processes 1 2

Each process uses ``--threads`` threads (1 by default): give N processes at least N free
cores, or the numbers measure contention, not scaling. The processes are started with
``torch.multiprocessing.spawn`` (what ``torchrun`` does, minus the launcher).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import time

import torch
import torch.distributed as dist

METHODS = ("drc", "scl", "jcl")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(rank, world, port, args, outfile):
    torch.set_num_threads(args.threads)
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
    from sklearn.datasets import load_digits

    from deepclust import DRCClustering, JCLClustering, SCLClustering

    cls = {"drc": DRCClustering, "scl": SCLClustering, "jcl": JCLClustering}[args.method]
    X, _ = load_digits(return_X_y=True)
    X = X.astype("float32")
    model = cls(
        n_clusters=10,
        image_shape=(1, 8, 8),
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        random_state=0,
        device="cpu",
    )
    started = time.perf_counter()
    model.fit(X)
    seconds = time.perf_counter() - started
    if rank == 0:
        rates = [h["samples_per_s"] for h in model.history_[1:]] or [model.history_[0]["samples_per_s"]]
        with open(outfile, "w") as f:
            json.dump({"samples_per_s": statistics.median(rates), "fit_seconds": seconds, "epochs": len(model.history_)}, f)
    if world > 1:
        dist.destroy_process_group()


def measure(world: int, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        outfile = os.path.join(tmp, "result.json")
        torch.multiprocessing.spawn(_run, args=(world, _free_port(), args, outfile), nprocs=world, join=True)
        with open(outfile) as f:
            return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=METHODS, default="drc")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs per configuration")
    args = parser.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{args.method}, digits 8x8 (1,797 samples), global batch {args.batch_size}, {args.epochs} epochs, "
        f"{args.threads} thread(s)/process, {os.cpu_count()} cores, load average {load:.2f} at start"
    )
    print("| processes | samples/s (median epoch) | speed-up | fit seconds |")
    print("|---|---|---|---|")
    base = None
    for world in args.processes:
        runs = [measure(world, args) for _ in range(args.repeats)]
        best = max(runs, key=lambda r: r["samples_per_s"])
        base = base or best["samples_per_s"]
        print(f"| {world} | {best['samples_per_s']:.0f} | {best['samples_per_s'] / base:.2f}x | {best['fit_seconds']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
