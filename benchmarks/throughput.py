"""Throughput of deepclust's image pipeline (not a timed test).

Measures, in one process on the same images (CIFAR-10 from ``../shared/data`` when present,
else synthetic uint8 images of the same shape):

1. **Two-view augmentation throughput** (images/s, each image giving two views) of our
   batched per-sample pipeline (``augment="auto"`` for 32 px RGB = CC's preset with s = 0.5)
   against the equivalent torchvision per-image pipeline run the way CC runs it: PIL images
   in a ``Dataset`` whose ``__getitem__`` applies the transform twice, fed by a
   ``DataLoader`` with worker processes (``--workers``, default: the number of cores).
   Our side does per batch what ``Trainer.train_step`` does before the forward pass: cut
   the batch from the uint8 ``TensorStore`` (scaled to float), then the two augmented views
   in one call on the batch stacked twice, under ``no_grad``. The two sides' timings are
   interleaved (``--repeats`` each, after a warm-up epoch; the fastest is kept), so that
   load from other processes hits both; each timing repeats whole epochs for at least
   ``--min-seconds`` (2 s), because one epoch of ours is ~10x shorter than one of the
   reference and a short window measures mostly how the cores wake up. Both sides are
   also reported per CPU-second (CPU time of the process, plus that of the DataLoader
   workers, read from ``/proc`` on Linux): a comparison per core that does not depend on
   how many cores each side got on a shared machine.
2. **Training-step overhead**: the time of a full ``Trainer.train_step`` (batch gather,
   two augmented views, forward of backbone and heads, DRC loss, backward, Adam step)
   divided by a bare forward + backward of the same backbone on pre-made views of the same
   size. The two are interleaved step by step so that load from other processes hits both;
   the overhead is the median over the (full, bare) pairs of their ratio.

The last line printed is ``augment_speedup=<float> step_overhead=<float>``.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/throughput.py               # a few minutes on 2 CPU cores
    python benchmarks/throughput.py --quick                          # smaller, ~1 minute
    python benchmarks/throughput.py --device cuda --epoch            # + images/s of a ResNet-18 epoch
    python benchmarks/throughput.py --ops                            # + per-op times of our pipeline
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
def _proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (Linux ``/proc``), None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def ours_epoch(X: np.ndarray, device: torch.device, batch_size: int, threads: int):
    """One epoch of our side, as ``Trainer.train_step`` makes its views; returns a callable
    giving (wall seconds, CPU seconds) of one epoch, run with ``threads`` torch threads."""
    layout = InputLayout("image", (3, 32, 32), "nhwc")
    augment = resolve_augment("auto", layout, np.zeros(3), np.ones(3), (0.0, 1.0))
    store = TensorStore(X.transpose(0, 3, 1, 2), device)
    gen = torch.Generator(device=device).manual_seed(0)
    n = len(store)

    def epoch():
        saved = torch.get_num_threads()
        if device.type == "cpu":
            torch.set_num_threads(threads)
        t, c = time.perf_counter(), time.process_time()
        perm = torch.randperm(n)
        for start in range(0, n, batch_size):
            x = store.get(perm[start : start + batch_size])
            with torch.no_grad():
                augment(torch.cat([x, x]), gen)  # both views in one call, as Trainer._views
        sync(device)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        torch.set_num_threads(saved)
        return wall, cpu

    return epoch


def timed_span(epoch, min_seconds: float):
    """``epoch`` repeated until ``min_seconds`` have passed: a callable giving (wall seconds,
    CPU seconds or None, epochs run). Both sides' timings then span comparable windows: one
    of our epochs is ~10x shorter than one of the reference's, and a short window mostly
    measures how fast the cores wake up after the reference's epoch left them idle."""

    def span():
        wall = cpu = 0.0
        epochs = 0
        while epochs == 0 or wall < min_seconds:
            w, c = epoch()
            wall, epochs = wall + w, epochs + 1
            cpu = None if c is None or cpu is None else cpu + c
        return wall, cpu, epochs

    return span


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


def torchvision_epoch(X: np.ndarray, batch_size: int, workers: int):
    """One epoch of the torchvision pipeline through a ``DataLoader`` (persistent workers);
    returns a callable giving (wall seconds, CPU seconds of this process and the workers,
    or None where the workers' CPU time cannot be read)."""
    loader = torch.utils.data.DataLoader(
        TwoViewDataset(X, torchvision_transform()),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        drop_last=False,
        persistent_workers=workers > 0,
    )
    pids: list[int] = []
    started = []

    def cpu():
        times = [_proc_cpu_seconds(pid) for pid in pids]
        return None if None in times else time.process_time() + sum(times)

    def epoch():
        t, c = time.perf_counter(), cpu()
        iterator = iter(loader)
        for _ in iterator:
            pass
        wall, c1 = time.perf_counter() - t, cpu()
        if not started:  # first epoch: the workers have just started
            started.append(True)
            pids.extend(w.pid for w in getattr(iterator, "_workers", []))
            return wall, None
        return wall, (None if c is None or c1 is None else c1 - c)

    return epoch


def bench_augment(X, device, batch_size, workers, repeats, threads, min_seconds):
    """Both sides' timings interleaved (so that load from other processes hits both), after
    one warm-up epoch each; each timing repeats whole epochs for at least ``min_seconds``.
    Returns {side: (images/s, images per CPU-second or None)} from each side's fastest
    timing."""
    sides = {
        "ours": timed_span(ours_epoch(X, device, batch_size, threads), min_seconds),
        "torchvision": timed_span(torchvision_epoch(X, batch_size, workers), min_seconds),
    }
    for span in sides.values():
        span()  # warm-up (starts the DataLoader workers)
    best = {name: (float("inf"), None) for name in sides}
    for _ in range(repeats):
        for name, span in sides.items():
            wall, cpu, epochs = span()
            rate = wall / epochs  # seconds per epoch
            if rate < best[name][0]:
                best[name] = (rate, None if cpu is None else cpu / epochs)
    return {name: (len(X) / wall, (len(X) / cpu if cpu else None)) for name, (wall, cpu) in best.items()}


def bench_ops(device: torch.device, X: np.ndarray, reps: int = 30) -> None:
    """Median and best time of each op of our pipeline on the two views of a 256-image batch
    (one call on the batch stacked twice, as ``Trainer._views``)."""
    from deepclust.augment import ops as O

    x = torch.as_tensor(X[:256]).permute(0, 3, 1, 2).to(device).float().div_(255).contiguous()
    x = torch.cat([x, x])
    gen = torch.Generator(device=device).manual_seed(0)
    pipeline = resolve_augment("auto", InputLayout("image", (3, 32, 32), "nhwc"), np.zeros(3), np.ones(3))
    crop, jitter, grey, clamp = pipeline.ops
    hue = torch.rand(len(x), generator=gen, device=device) * 0.2 - 0.1
    cases = {
        "resized crop + flip": lambda: crop(x, gen),
        "colour jitter (p = 0.8)": lambda: jitter(x, gen),
        "  hue rotation alone, whole batch": lambda: O.adjust_hue(x, hue),
        "greyscale (p = 0.2)": lambda: grey(x, gen),
        "clamp": lambda: clamp(x, gen),
        "whole pipeline, both views": lambda: pipeline(x, gen),
    }
    print(f"per-op times, {len(x)} x 3 x 32 x 32 float32, {device}, {torch.get_num_threads()} thread(s):")
    for name, fn in cases.items():
        fn()
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            sync(device)
            times.append(time.perf_counter() - t)
        print(f"  {name:36s} median {1e3 * statistics.median(times):7.2f} ms   best {1e3 * min(times):7.2f} ms")


# ------------------------------------------------------------------ 2. step overhead
def bench_step(X: np.ndarray, device: torch.device, batch_size: int, steps: int, backbone: str):
    torch.manual_seed(0)
    sample_shape = (3, 32, 32)
    layout = InputLayout("image", sample_shape, "nhwc")
    module = ClusterNet(
        build_backbone(backbone, sample_shape), 512, 10, Standardize(np.full(3, 0.5), np.full(3, 0.25), image=True),
        projection_dim=None,
    ).to(device)
    module = module.to(memory_format=torch.channels_last)  # as the estimators do, on every device
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
    # Each full step is paired with the bare step that follows it; the median of the pair
    # ratios is robust to the load drifting over the minutes the test takes.
    ratio = statistics.median(f / b for f, b in zip(t_full, t_bare))
    return statistics.median(t_full), statistics.median(t_bare), ratio


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
    parser.add_argument("--repeats", type=int, default=3, help="timings per side, interleaved (best kept)")
    parser.add_argument("--min-seconds", type=float, default=2.0,
                        help="each timing repeats whole epochs for at least this long (default 2 s: about "
                             "one epoch of the reference here)")
    parser.add_argument("--aug-threads", type=int, default=0,
                        help="torch threads for our side of the augmentation test on the CPU (default 0: "
                             "torch's setting, i.e. the same cores the DataLoader workers get; Compose runs "
                             "batches of up to 2**18 elements with one thread anyway)")
    parser.add_argument("--step-batch", type=int, default=None, help="batch of the step test (CPU default 32)")
    parser.add_argument("--steps", type=int, default=5, help="interleaved (full, bare) step pairs")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--epoch", action="store_true", help="also time a ResNet-18 DRC epoch (images/s)")
    parser.add_argument("--ops", action="store_true", help="also print per-op times of our pipeline")
    parser.add_argument("--quick", action="store_true", help="1000 images, 1 repeat, 2 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_images, args.repeats, args.steps, args.min_seconds = args.n_images or 1000, 1, 2, 0.0
    device = torch.device(args.device)
    step_batch = args.step_batch or (256 if device.type == "cuda" else 32)

    X, source = load_images(args.n_images)
    cpu = platform.processor() or platform.machine()
    print(f"data: {source}, {len(X)} images | device: {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
          + f" | cores: {os.cpu_count()} ({cpu}) | torch threads: {torch.get_num_threads()} | torch {torch.__version__}")

    threads = torch.get_num_threads()
    args.aug_threads = args.aug_threads or threads
    if device.type == "cpu":
        torch.set_num_threads(args.aug_threads)
    if args.ops:
        bench_ops(device, X)
    torch.set_num_threads(threads)
    result = bench_augment(X, device, args.batch_size, args.workers, args.repeats, args.aug_threads, args.min_seconds)
    (ours, ours_cpu), (theirs, theirs_cpu) = result["ours"], result["torchvision"]
    print(f"augment ours (batched, {device}, {args.aug_threads if device.type == 'cpu' else threads} thread(s)): "
          f"{ours:10.0f} images/s (two views each), {ours_cpu:.0f} per CPU-second")
    print(f"augment torchvision (PIL, DataLoader, {args.workers} workers): {theirs:10.0f} images/s (two views each), "
          + (f"{theirs_cpu:.0f} per CPU-second" if theirs_cpu else "CPU time n/a"))
    if theirs_cpu and device.type == "cpu":
        print(f"augment speedup per CPU-second (same cores): {ours_cpu / theirs_cpu:.2f}")
    speedup = ours / theirs

    t_full, t_bare, overhead = bench_step(X, device, step_batch, args.steps, args.backbone)
    print(f"step ({args.backbone}, batch {step_batch} x 2 views, {args.steps} interleaved pairs): "
          f"full train_step {t_full * 1e3:.1f} ms, bare backbone fwd+bwd {t_bare * 1e3:.1f} ms (medians); "
          f"overhead = median of pair ratios")
    if args.epoch:
        print(f"DRC ResNet-18 epoch: {bench_epoch(X, device, args.batch_size):.0f} images/s")
    print(f"augment_speedup={speedup:.3f} step_overhead={overhead:.3f}")


if __name__ == "__main__":
    main()
