"""Throughput of deepclust's image pipeline (not a timed test).

Measures, in one process on the same images (CIFAR-10 from ``../shared/data`` when present,
else synthetic uint8 images of the same shape):

1. **Two-view augmentation throughput** (images/s, each image giving two views) of our
   batched per-sample pipeline (``augment="auto"`` for 32 px RGB = CC's preset with s = 0.5)
   against the equivalent torchvision per-image pipeline run the way CC runs it: PIL images
   in a ``Dataset`` whose ``__getitem__`` applies the transform twice, fed by a
   ``DataLoader`` with worker processes (``--workers``, default: the number of cores).
2. **Training-step overhead**: the time of a full ``Trainer.train_step`` (batch gather,
   two augmented views, forward of backbone and heads, DRC loss, backward, Adam step)
   divided by a bare forward + backward of the same backbone on pre-made views of the same
   size. The two are interleaved step by step so that load from other processes hits both.

The last line printed is ``augment_speedup=<float> step_overhead=<float>``.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/throughput.py               # a few minutes on 2 CPU cores
    python benchmarks/throughput.py --quick                          # smaller, ~1 minute
    python benchmarks/throughput.py --device cuda --epoch            # + images/s of a ResNet-18 epoch
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepclust._data import InputLayout  # noqa: E402
from deepclust.augment import resolve_augment  # noqa: E402
from deepclust.nn.backbones import build_backbone  # noqa: E402
from deepclust.nn.model import ClusterNet, Standardize  # noqa: E402
from deepclust.nn.resnet import import_torchvision  # noqa: E402
from deepclust.objectives.drc import DRCObjective  # noqa: E402
from deepclust.training.data import TensorStore  # noqa: E402
from deepclust.training.rng import SeedManager  # noqa: E402
from deepclust.training.trainer import Trainer  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "cifar10_train_lossless_subset.npz"


def load_images(n: int | None) -> tuple[np.ndarray, str]:
    if DATA.exists():
        X = np.load(DATA)["X"]
        source = f"CIFAR-10 subset ({DATA.name})"
    else:
        X = np.random.default_rng(0).integers(0, 256, size=(5000, 32, 32, 3), dtype=np.uint8)
        source = "synthetic uint8 32x32x3"
    if n is not None:
        X = X[:n]
    return np.ascontiguousarray(X), source


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------ 1. augmentation
def bench_ours(X: np.ndarray, device: torch.device, batch_size: int, repeats: int) -> float:
    layout = InputLayout("image", (3, 32, 32), "nhwc")
    augment = resolve_augment("auto", layout, np.zeros(3), np.ones(3), (0.0, 1.0))
    store = TensorStore(X.transpose(0, 3, 1, 2), device)
    gen = torch.Generator(device=device).manual_seed(0)
    n = len(store)

    def epoch():
        perm = torch.randperm(n)
        for start in range(0, n, batch_size):
            x = store.get(perm[start : start + batch_size])
            with torch.no_grad():
                augment(x, gen), augment(x, gen)
        sync(device)

    epoch()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - t)
    return n / min(times)


class TwoViewDataset(torch.utils.data.Dataset):
    """CC's ``TransformsSimCLR``: the same per-image transform applied twice."""

    def __init__(self, X, transform):
        self.X = X
        self.transform = transform

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        from PIL import Image

        img = Image.fromarray(self.X[i])
        return self.transform(img), self.transform(img)


def torchvision_transform(size=32, s=0.5, scale=(0.2, 1.0)):
    import_torchvision()
    import torchvision.transforms as T

    jitter = T.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)
    return T.Compose(
        [
            T.RandomResizedCrop(size, scale=scale),
            T.RandomHorizontalFlip(),
            T.RandomApply([jitter], p=0.8),
            T.RandomGrayscale(p=0.2),
            T.ToTensor(),
        ]
    )


def bench_torchvision(X: np.ndarray, batch_size: int, workers: int, repeats: int) -> float:
    loader = torch.utils.data.DataLoader(
        TwoViewDataset(X, torchvision_transform()),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        drop_last=False,
        persistent_workers=workers > 0,
    )
    for _ in loader:  # warm-up (starts the workers)
        pass
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in loader:
            pass
        times.append(time.perf_counter() - t)
    return len(X) / min(times)


# ------------------------------------------------------------------ 2. step overhead
def bench_step(X: np.ndarray, device: torch.device, batch_size: int, steps: int, backbone: str):
    torch.manual_seed(0)
    sample_shape = (3, 32, 32)
    layout = InputLayout("image", sample_shape, "nhwc")
    module = ClusterNet(
        build_backbone(backbone, sample_shape), 512, 10, Standardize(np.full(3, 0.5), np.full(3, 0.25), image=True),
        projection_dim=None,
    ).to(device)
    if device.type == "cuda":
        module = module.to(memory_format=torch.channels_last)
    objective = DRCObjective()
    objective.setup(len(X), 10, device, 1)
    augment = resolve_augment("auto", layout, np.zeros(3), np.ones(3), (0.0, 1.0))
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-4)
    amp = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    trainer = Trainer(module, objective, augment, optimizer, device, SeedManager(0, device), batch_size, amp_dtype=amp)
    store = TensorStore(X.transpose(0, 3, 1, 2), device)
    module.train()
    backbone_mod = module.backbone
    views = torch.rand(2 * batch_size, *sample_shape, device=device)
    if device.type == "cuda":
        views = views.contiguous(memory_format=torch.channels_last)

    def full():
        index = torch.randperm(len(store))[:batch_size]
        trainer.train_step(store, index, 0)

    def bare():
        with torch.autocast(device.type, dtype=amp) if amp is not None else torch.autocast("cpu", enabled=False):
            out = backbone_mod(views)
        out.float().square().mean().backward()
        module.zero_grad(set_to_none=True)

    for fn in (full, bare):  # warm-up
        fn()
        sync(device)
    t_full, t_bare = [], []
    for _ in range(steps):
        for fn, acc in ((full, t_full), (bare, t_bare)):
            t = time.perf_counter()
            fn()
            sync(device)
            acc.append(time.perf_counter() - t)
    objective.teardown()
    return statistics.median(t_full), statistics.median(t_bare)


def bench_epoch(X: np.ndarray, device: torch.device, batch_size: int) -> float:
    from deepclust import DRCClustering

    est = DRCClustering(n_clusters=10, max_epochs=2, batch_size=batch_size, device=device, random_state=0)
    est.fit(X)
    return est.history_[-1]["samples_per_s"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-images", type=int, default=None, help="images for the augmentation test (default all)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--aug-threads", type=int, default=1,
                        help="torch threads for our augmentation on the CPU (default 1: on a loaded 2-core "
                             "machine OpenMP with 2 threads stalls)")
    parser.add_argument("--step-batch", type=int, default=None, help="batch of the step test (CPU default 32)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--epoch", action="store_true", help="also time a ResNet-18 DRC epoch (images/s)")
    parser.add_argument("--quick", action="store_true", help="1000 images, 1 repeat, 2 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_images, args.repeats, args.steps = args.n_images or 1000, 1, 2
    device = torch.device(args.device)
    step_batch = args.step_batch or (256 if device.type == "cuda" else 32)

    X, source = load_images(args.n_images)
    cpu = platform.processor() or platform.machine()
    print(f"data: {source}, {len(X)} images | device: {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
          + f" | cores: {os.cpu_count()} ({cpu}) | torch threads: {torch.get_num_threads()} | torch {torch.__version__}")

    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(args.aug_threads)
    ours = bench_ours(X, device, args.batch_size, args.repeats)
    torch.set_num_threads(threads)
    print(f"augment ours (batched, {device}, {args.aug_threads if device.type == 'cpu' else threads} thread(s)): "
          f"{ours:10.0f} images/s (two views each)")
    theirs = bench_torchvision(X, args.batch_size, args.workers, args.repeats)
    print(f"augment torchvision (PIL, DataLoader, {args.workers} workers): {theirs:10.0f} images/s (two views each)")
    speedup = ours / theirs

    t_full, t_bare = bench_step(X, device, step_batch, args.steps, args.backbone)
    overhead = t_full / t_bare
    print(f"step ({args.backbone}, batch {step_batch} x 2 views): full train_step {t_full * 1e3:.1f} ms, "
          f"bare backbone fwd+bwd {t_bare * 1e3:.1f} ms")
    if args.epoch:
        print(f"DRC ResNet-18 epoch: {bench_epoch(X, device, args.batch_size):.0f} images/s")
    print(f"augment_speedup={speedup:.3f} step_overhead={overhead:.3f}")


if __name__ == "__main__":
    main()
