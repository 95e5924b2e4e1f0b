"""Soak test: does memory grow over a long fit? (issue 9; not a timed test).

Fits :class:`~deepclust.DRCClustering` (or ``--method scl``) on USPS (``../shared/data``;
synthetic 16x16 images when absent) and prints, after every epoch, the current RSS, the
peak RSS so far and, on CUDA, the allocated / peak-allocated GPU memory. Memory must not grow
after the first epoch: the last line is ``rss_growth_mb=<float> ok=<bool>`` comparing the
current RSS of the last epoch with that after the first (tolerance 5% + 32 MB for allocator
noise); the exit status is 1 when it is not ok.

Usage::

    python benchmarks/soak.py                          # 5 epochs on 2000 images (a few minutes on 2 CPU cores)
    python benchmarks/soak.py --epochs 100 --n 0       # the full soak: 100 epochs on all of USPS train
    python benchmarks/soak.py --device cuda --epochs 100 --n 0
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepclust import DRCClustering, SCLClustering  # noqa: E402
from deepclust.training.callbacks import Callback  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "usps_train.npz"


def rss_mb() -> float:
    """Current resident set size (Linux /proc; falls back to the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


class MemoryLog(Callback):
    def __init__(self, device):
        self.device = device
        self.rows = []

    def on_epoch_end(self, trainer, entry):
        row = {"epoch": entry["epoch"], "rss_mb": rss_mb(), "peak_rss_mb": peak_rss_mb(), "seconds": entry["seconds"]}
        line = f"epoch {entry['epoch']:>3d} rss {row['rss_mb']:8.1f} MB  peak rss {row['peak_rss_mb']:8.1f} MB"
        if self.device.startswith("cuda"):
            row["gpu_mb"] = torch.cuda.memory_allocated() / 2**20
            row["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
            line += f"  gpu {row['gpu_mb']:8.1f} MB  gpu peak {row['gpu_peak_mb']:8.1f} MB"
        line += f"  loss {entry['loss']:.4f}  {entry['seconds']:.1f}s"
        print(line, flush=True)
        self.rows.append(row)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--n", type=int, default=2000, help="training images (0: all)")
    parser.add_argument("--method", choices=["drc", "scl"], default="drc")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)

    if DATA.is_file():
        X = np.load(DATA)["X"]
        source = "USPS train"
    else:
        X = np.random.default_rng(0).integers(0, 256, size=(7291, 16, 16, 1), dtype=np.uint8)
        source = "synthetic 16x16 (USPS not found)"
    if args.n:
        X = X[: args.n]
    cls = DRCClustering if args.method == "drc" else SCLClustering
    log = MemoryLog(args.device)
    print(f"{cls.__name__} on {source}: {X.shape} {X.dtype}, {args.epochs} epochs, device={args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; rss before fit {rss_mb():.1f} MB", flush=True)
    started = time.perf_counter()
    cls(n_clusters=10, max_epochs=args.epochs, batch_size=args.batch_size, device=args.device, random_state=0,
        callbacks=[log]).fit(X)
    first, last = log.rows[0]["rss_mb"], log.rows[-1]["rss_mb"]
    growth = last - first
    ok = growth <= 0.05 * first + 32
    print(f"total {time.perf_counter() - started:.0f}s; rss after epoch 0 {first:.1f} MB, after the last {last:.1f} MB, "
          f"max over epochs {max(r['rss_mb'] for r in log.rows):.1f} MB")
    print(f"rss_growth_mb={growth:.1f} ok={ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
