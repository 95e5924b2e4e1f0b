"""
Data-parallel training with ``torchrun``
========================================

One model, several processes (one GPU each, or CPU processes). Nothing in this script is
specific to distributed training except that only rank 0 prints the result: launched by
``torchrun`` the estimator finds torchrun's environment (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), initialises the process group itself
(nccl on GPUs, gloo on the CPU), uses ``cuda:LOCAL_RANK`` when there are GPUs, and trains
one model on every process's share of each batch. Run as a plain script it trains in one
process, as usual.

One machine, 2 processes (one GPU each when there are GPUs, else CPU processes)::

    torchrun --nproc_per_node=2 examples/distributed_fit.py
    torchrun --nproc_per_node=4 examples/distributed_fit.py --method scl --epochs 100

Two machines with 8 GPUs each: run on both, with ``--node_rank=0`` on the first and
``--node_rank=1`` on the second (``node0`` is the first machine's address, reachable from
the other); or ``--rdzv_id=job42 --rdzv_backend=c10d --rdzv_endpoint=node0:29400`` instead of
the last three options, the same command on both::

    torchrun --nnodes=2 --nproc_per_node=8 --node_rank=0 \\
        --master_addr=node0 --master_port=29500 examples/distributed_fit.py

On a CPU-only machine give each process one thread (``OMP_NUM_THREADS=1``, which torchrun
sets by default when launching several processes) and no more processes than cores.
See :ref:`distributed`. The documentation build shows this script without running it.
"""

import argparse
import time

from sklearn.datasets import load_digits

from deepclust import DRCClustering, JCLClustering, SCLClustering
from deepclust.metrics import evaluate
from deepclust.training.distributed import is_main_process, world_size

METHODS = {"drc": DRCClustering, "scl": SCLClustering, "jcl": JCLClustering}


def main():
    parser = argparse.ArgumentParser(description="Fit a deepclust estimator on the digits, under torchrun or not.")
    parser.add_argument("--method", choices=sorted(METHODS), default="drc")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128, help="global batch, shared by the processes")
    parser.add_argument("--seed", type=int, default=0)
    args, _ = parser.parse_known_args()  # (the docs build runs this file with its own arguments)

    X, y = load_digits(return_X_y=True)  # 1,797 8x8 grey images
    model = METHODS[args.method](
        n_clusters=10,
        image_shape=(1, 8, 8),
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        random_state=args.seed,
        verbose=1,  # one line per epoch, printed by rank 0 only
    )
    started = time.perf_counter()
    model.fit(X)
    seconds = time.perf_counter() - started

    # Every rank holds the same model and labels_; one of them reports.
    if is_main_process():
        rates = [h["samples_per_s"] for h in model.history_[1:]] or [model.history_[-1]["samples_per_s"]]
        print(
            f"{world_size()} process(es) on {model.device_}: fit in {seconds:.1f} s, "
            f"{sorted(rates)[len(rates) // 2]:.0f} samples/s (median epoch)"
        )
        print({k: round(v, 3) for k, v in evaluate(model.labels_, y=y).items()})


if __name__ == "__main__":
    main()
