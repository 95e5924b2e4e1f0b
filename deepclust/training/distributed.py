"""Data-parallel training over :mod:`torch.distributed` (DDP), shared by every estimator.

A script that calls ``fit`` runs unchanged under ``torchrun --nproc_per_node=N``: the
estimators find the process group (or initialise it from torchrun's environment, see
:func:`resolve`) and train one model together. How the ranks cooperate:

* **Sharding.** Every rank draws the same per-epoch partition into global batches (the
  shuffling generator has the same seed on every rank) and takes its own contiguous slice
  of each global batch (:meth:`DistributedContext.shard`): ``batch_size`` is the *global*
  batch, each rank forwards about ``batch_size / world_size`` samples (slices differ by at
  most one sample when the division is not exact).
* **Gathering.** The model outputs of the slices (features, embeddings, logits of both
  views) are all-gathered with gradient (:func:`gather_with_grad`) in rank order, which is
  the order of the global batch: every objective computes its loss on the whole global
  batch, so every rank holds exactly the single-process loss (all negatives of all ranks;
  batch-level terms such as the balance or the cluster contrast over the whole batch).
* **Gradients.** The module is wrapped in ``torch.nn.parallel.DistributedDataParallel``,
  which averages the gradients over the ranks. See :func:`gather_with_grad` for why the
  averaged gradient is exactly the single-process full-batch gradient.
* **Consistency.** Parameters stay identical (same initialisation, identical averaged
  gradients, identical optimiser); BatchNorm running statistics are averaged over the
  ranks at the end of every epoch and other buffers broadcast from rank 0
  (:meth:`DistributedContext.sync_buffers`); decisions (skip a non-finite step, stop
  early) are all-reduced so that every rank takes the same branch. SCL's memory bank is
  updated from the gathered batch, so it is identical on every rank.
* **Output.** Only rank 0 prints (``verbose``) and writes checkpoints
  (:func:`run_on_main`); every rank ends with the same ``module_`` and ``labels_``.

The helpers (:func:`world_size`, :func:`rank`, :func:`is_main_process`, :func:`barrier`)
work without a process group too (one process, rank 0), so user callbacks can call them
unconditionally.

Examples
--------
Outside ``torchrun`` (no process group) there is one process, rank 0:

>>> from deepclust.training import distributed
>>> distributed.world_size(), distributed.rank(), distributed.is_main_process()
(1, 0, True)

A callback that writes something once, whatever the launch:

>>> from deepclust.training.callbacks import Callback
>>> class SaveHistory(Callback):
...     def on_train_end(self, trainer):
...         if distributed.is_main_process():
...             pass  # e.g. json.dump(trainer.history, open("history.json", "w"))
"""

from __future__ import annotations

import atexit
import inspect
import multiprocessing
import os
import pickle
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from .._device import resolve_device
from ..nn.model import ModelOutput

__all__ = [
    "DistributedContext",
    "barrier",
    "gather_with_grad",
    "is_initialized",
    "is_main_process",
    "is_main_rank",
    "launched_by_torchrun",
    "local_rank",
    "rank",
    "resolve",
    "run_on_main",
    "world_size",
    "wrap_for_training",
]

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
_OPTIONS = {"sync_batchnorm", "backend", "find_unused_parameters"}


# ---------------------------------------------------------------------------- helpers
def is_initialized() -> bool:
    """Whether a default :mod:`torch.distributed` process group exists.

    Examples
    --------
    >>> from deepclust.training.distributed import is_initialized
    >>> is_initialized()  # outside torchrun, before any init_process_group
    False
    """
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes of the default group (1 without one).

    Examples
    --------
    >>> from deepclust.training.distributed import world_size
    >>> world_size()
    1
    """
    return dist.get_world_size() if is_initialized() else 1


def rank() -> int:
    """This process's rank in the default group (0 without one).

    Examples
    --------
    >>> from deepclust.training.distributed import rank
    >>> rank()
    0
    """
    return dist.get_rank() if is_initialized() else 0


def local_rank() -> int:
    """Rank on this node: ``LOCAL_RANK`` (set by torchrun), else ``rank % n_gpus``.

    Examples
    --------
    >>> import os
    >>> from deepclust.training.distributed import local_rank
    >>> local_rank() if "LOCAL_RANK" not in os.environ else 0
    0
    """
    if "LOCAL_RANK" in os.environ:
        return int(os.environ["LOCAL_RANK"])
    n_gpus = torch.cuda.device_count()
    return rank() % n_gpus if n_gpus else 0


def is_main_process() -> bool:
    """True on rank 0 (and in a single process).

    Examples
    --------
    Write a file once, however the script was launched:

    >>> from deepclust.training.distributed import is_main_process
    >>> if is_main_process():
    ...     print("rank 0 writes")
    rank 0 writes
    """
    return rank() == 0


def barrier() -> None:
    """Wait for every rank (a no-op without a process group of more than one process).

    Examples
    --------
    >>> from deepclust.training.distributed import barrier
    >>> barrier()  # returns at once in a single process
    """
    if world_size() > 1:
        dist.barrier()


def launched_by_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (or a compatible launcher) with ``WORLD_SIZE > 1``.

    ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` must be set. A process
    started by :mod:`multiprocessing` (a joblib/loky or dask worker, a ``Pool``) inherits
    that environment from its parent but is *not* one of torchrun's ranks, so it does not
    count: an estimator fitted there trains on its own.

    Examples
    --------
    >>> import os
    >>> from deepclust.training.distributed import launched_by_torchrun
    >>> launched_by_torchrun() == ("WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1)
    True
    """
    if not all(name in os.environ for name in _TORCHRUN_VARIABLES):
        return False
    try:
        size = int(os.environ["WORLD_SIZE"])
    except ValueError:
        return False
    return size > 1 and multiprocessing.parent_process() is None


def _init_from_environment(device: torch.device, backend: str | None) -> None:
    """``init_process_group`` from torchrun's variables: nccl on CUDA, else gloo."""
    if backend is None:
        backend = "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, init_method="env://")
    # We created it, so we tidy it up (torch warns about a group left at exit).
    atexit.register(_destroy_if_initialized)


def _destroy_if_initialized() -> None:  # pragma: no cover - runs at interpreter exit
    if is_initialized():
        dist.destroy_process_group()


def _rank_device(device) -> torch.device:
    """``"auto"``/``"cuda"`` become ``cuda:LOCAL_RANK`` (one GPU per rank); an explicit index is kept."""
    if isinstance(device, torch.device):
        wants_cuda, explicit = device.type == "cuda", device.index is not None
    else:
        wants_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        explicit = isinstance(device, str) and device.startswith("cuda:")
    if wants_cuda and not explicit and torch.cuda.is_available():
        # Modulo: a launcher that gives each process one visible GPU (CUDA_VISIBLE_DEVICES)
        # leaves LOCAL_RANK as is, and cuda:0 is then the right device.
        return resolve_device(torch.device("cuda", local_rank() % torch.cuda.device_count()))
    return resolve_device(device)


def resolve(distributed, device) -> tuple["DistributedContext | None", torch.device]:
    """The estimators' ``distributed`` and ``device`` parameters, resolved for one ``fit``.

    * ``"auto"`` (or a dict of options): data-parallel when a process group of more than
      one process is initialised; when none is but the process was launched by torchrun
      (:func:`launched_by_torchrun`), the group is initialised here from its environment
      (``backend``: nccl when training on CUDA, else gloo). Otherwise one process.
    * ``True``: the same, but an error when there is no group and no torchrun environment.
    * ``False``: always one process, even inside a process group (e.g. a fit on rank 0 only).

    Options (a dict): ``sync_batchnorm`` (bool, default False: convert BatchNorm layers to
    ``torch.nn.SyncBatchNorm`` for the fit; CUDA only, ignored with a warning on the
    CPU), ``backend`` (for a group initialised here), ``find_unused_parameters`` (passed to
    DDP; needed for a custom backbone with parameters that the loss does not reach).

    Under a process group, ``device="auto"`` or ``"cuda"`` means ``cuda:LOCAL_RANK``.

    Returns
    -------
    context : DistributedContext or None
        None for single-process training.
    device : torch.device

    Examples
    --------
    Without torchrun or a process group, "auto" is single-process training:

    >>> from deepclust.training.distributed import resolve
    >>> resolve("auto", "cpu")
    (None, device(type='cpu'))
    >>> resolve(True, "cpu")
    Traceback (most recent call last):
    ...
    ValueError: distributed=True but no torch.distributed process group ...
    """
    if not isinstance(distributed, (str, dict)):
        distributed = bool(distributed)  # numpy booleans too
    options = dict(distributed) if isinstance(distributed, dict) else {}
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ValueError(
            f"Unknown 'distributed' option(s) {sorted(unknown)}; the options are {sorted(_OPTIONS)}."
        )
    if distributed is False or not dist.is_available():
        if distributed is True:
            raise ValueError("distributed=True but torch.distributed is not available in this torch build.")
        return None, resolve_device(device)
    if not dist.is_initialized() and launched_by_torchrun():
        _init_from_environment(_rank_device(device), options.get("backend"))
    if not dist.is_initialized() or dist.get_world_size() == 1:
        if distributed is True:
            raise ValueError(
                "distributed=True but no torch.distributed process group of more than one process is "
                "initialised and the process was not launched by torchrun (WORLD_SIZE > 1, RANK, "
                "MASTER_ADDR, MASTER_PORT). Launch the script with torchrun, or use distributed='auto'."
            )
        return None, resolve_device(device)
    resolved = _rank_device(device)
    backend = str(dist.get_backend())
    if backend == "nccl" and resolved.type != "cuda":
        raise ValueError(
            f"The process group uses the nccl backend, which needs CUDA tensors, but device={device!r} "
            "resolves to the CPU. Use device='auto'/'cuda', or a gloo process group for CPU training."
        )
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)  # object collectives and nccl use the current device
    context = DistributedContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        device=resolved,
        backend=backend,
        sync_batchnorm=bool(options.get("sync_batchnorm", False)),
        find_unused_parameters=bool(options.get("find_unused_parameters", False)),
    )
    return context, resolved


# ---------------------------------------------------------------------------- gathering
class _GatherRows(torch.autograd.Function):
    """All-gather rows of possibly different counts per rank; see :func:`gather_with_grad`."""

    @staticmethod
    def forward(ctx, x, sizes, rank, group):
        ctx.sizes, ctx.rank = sizes, rank
        x = x.contiguous()
        longest = max(sizes)
        padded = x if x.shape[0] == longest else torch.cat([x, x.new_zeros((longest - x.shape[0], *x.shape[1:]))])
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded, group=group)
        parts[rank] = x  # the same values; keeps this rank's rows bitwise its own
        return torch.cat([part[:size] for part, size in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad):
        start = sum(ctx.sizes[: ctx.rank])
        local = grad[start : start + ctx.sizes[ctx.rank]]
        return local * len(ctx.sizes), None, None, None


def gather_with_grad(x: torch.Tensor, sizes, rank: int, group=None) -> torch.Tensor:
    """Concatenate every rank's ``x`` (rank order) with a gradient path to the local rows.

    ``sizes[r]`` is the number of rows of rank ``r`` (they may differ; rows are padded for
    the collective and trimmed). No collective runs in the backward pass.

    **Why the DDP-averaged gradient is the full-batch gradient.** Every rank computes the
    *same* loss ``L`` from the same gathered tensor ``G = [x_0; ...; x_{W-1}]``, so every
    rank holds the same ``dL/dG``. Rank ``r`` can only backpropagate through its own rows
    ``x_r`` (the other rows arrive as constants), which gives ``dL/dx_r * dx_r/dtheta``:
    the share of the full gradient ``dL/dtheta = sum_r dL/dx_r * dx_r/dtheta`` that flows
    through rank ``r``'s samples. DistributedDataParallel then *averages* over the ranks,
    i.e. divides that sum by ``W``; the backward pass therefore returns ``W * dL/dx_r``, and
    the average is exactly ``dL/dtheta``, the gradient of one process on the whole batch.
    (This relies on every rank computing the same loss, which the trainer guarantees; it
    avoids the all-reduce in the backward pass of a general all-gather.)

    Without a process group of more than one process this is the identity.

    Examples
    --------
    One rank (no process group): the tensor itself.

    >>> import torch
    >>> from deepclust.training.distributed import gather_with_grad
    >>> x = torch.ones(4, 3, requires_grad=True)
    >>> gather_with_grad(x, sizes=[4], rank=0) is x
    True

    Under a group of two processes with 3 and 2 rows, every rank would get the same
    ``(5, 3)`` tensor, rank 0's rows first.
    """
    if len(sizes) == 1:
        return x
    return _GatherRows.apply(x, list(sizes), rank, group)


# ---------------------------------------------------------------------------- the context
@dataclass
class DistributedContext:
    """The process group one ``fit`` trains over, and the collectives the trainer needs.

    Parameters
    ----------
    rank, world_size : int
    device : torch.device
        This rank's training device.
    backend : str
        The group's backend (``"gloo"``, ``"nccl"``).
    sync_batchnorm : bool
        Convert BatchNorm to SyncBatchNorm for the fit (CUDA only).
    find_unused_parameters : bool
        Passed to DistributedDataParallel.
    group : ProcessGroup or None
        None for the default group.

    Examples
    --------
    The estimators build it in ``fit`` (see :func:`resolve`); the sharding needs no
    process group:

    >>> import torch
    >>> from deepclust.training.distributed import DistributedContext
    >>> ctx = DistributedContext(rank=1, world_size=2, device=torch.device("cpu"))
    >>> ctx.is_main
    False
    >>> ctx.shard(torch.arange(10, 15))  # rank 1's slice of a global batch of 5
    (tensor([13, 14]), [3, 2])
    """

    rank: int
    world_size: int
    device: torch.device
    backend: str = "gloo"
    sync_batchnorm: bool = False
    find_unused_parameters: bool = False
    group: object = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def _comm_device(self) -> torch.device:
        # nccl only moves CUDA tensors; gloo is happiest with CPU ones.
        return self.device if self.backend == "nccl" else torch.device("cpu")

    # -------------------------------------------------------------- sharding
    def shard(self, index: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """This rank's contiguous slice of a global batch, and every rank's slice size.

        ``torch.tensor_split`` into ``world_size`` parts: when the batch size is not a
        multiple of the world size, the first ``batch % world_size`` ranks get one sample
        more. Concatenating the slices in rank order gives back the global batch.

        Examples
        --------
        >>> import torch
        >>> from deepclust.training.distributed import DistributedContext
        >>> batch = torch.tensor([7, 2, 9, 4, 0])
        >>> DistributedContext(rank=0, world_size=2, device=torch.device("cpu")).shard(batch)
        (tensor([7, 2, 9]), [3, 2])
        >>> DistributedContext(rank=1, world_size=2, device=torch.device("cpu")).shard(batch)
        (tensor([4, 0]), [3, 2])
        """
        parts = torch.tensor_split(index, self.world_size)
        return parts[self.rank], [int(p.numel()) for p in parts]

    def gather_views(self, out_a: ModelOutput, out_b: ModelOutput, sizes) -> tuple[ModelOutput, ModelOutput]:
        """The outputs of the whole global batch, from every rank's slice (one collective).

        All fields of both views are concatenated along the feature axis (in float32) so
        that a single all-gather moves them; each comes back in its own dtype.
        """
        tensors = [t for out in (out_a, out_b) for t in (out.features, out.embedding, out.logits)]
        present = [t for t in tensors if t is not None]
        widths = [t.shape[1] for t in present]
        flat = torch.cat([t.float().flatten(1) for t in present], dim=1)
        pieces = iter(gather_with_grad(flat, sizes, self.rank, self.group).split(widths, dim=1))
        full = [None if t is None else next(pieces).to(t.dtype) for t in tensors]
        return ModelOutput(*full[:3]), ModelOutput(*full[3:])

    # -------------------------------------------------------------- agreement
    def _reduce(self, value: float, op) -> float:
        tensor = torch.tensor([float(value)], dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(tensor, op=op, group=self.group)
        return float(tensor.item())

    def all_true(self, flag) -> bool:
        """True only if ``flag`` is true on every rank (one all-reduce)."""
        return self._reduce(float(bool(flag)), dist.ReduceOp.MIN) > 0.5

    def any_true(self, flag) -> bool:
        """True if ``flag`` is true on some rank."""
        return self._reduce(float(bool(flag)), dist.ReduceOp.MAX) > 0.5

    def max(self, value: float) -> float:
        """Largest ``value`` over the ranks."""
        return self._reduce(value, dist.ReduceOp.MAX)

    def broadcast_int(self, value: int) -> int:
        """Rank 0's ``value`` (an int of up to 63 bits) on every rank."""
        tensor = torch.tensor([int(value)], dtype=torch.int64, device=self._comm_device)
        dist.broadcast(tensor, src=0, group=self.group)
        return int(tensor.item())

    def all_gather_object(self, obj) -> list:
        """Every rank's ``obj`` (picklable), in rank order."""
        out = [None] * self.world_size
        dist.all_gather_object(out, obj, group=self.group)
        return out

    def check_same(self, what: str, value) -> None:
        """Raise the same error on every rank unless ``value`` is equal on all of them."""
        values = self.all_gather_object(value)
        if any(v != values[0] for v in values):
            raise ValueError(
                f"The ranks disagree on {what}: {values} (rank order). Every rank must call fit with the "
                "same data and parameters."
            )

    def _staged(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` itself when the backend moves it in place, else a copy it can move."""
        if self.backend == "nccl" or tensor.device.type == "cpu":
            return tensor
        return tensor.cpu()

    @torch.no_grad()
    def broadcast_(self, *tensors: torch.Tensor) -> None:
        """Overwrite ``tensors`` in place with rank 0's values (None entries are skipped)."""
        for tensor in tensors:
            if tensor is None:
                continue
            staged = self._staged(tensor)
            if staged.dtype == torch.bool:
                staged = staged.to(torch.uint8)
            dist.broadcast(staged, src=0, group=self.group)
            if staged is not tensor:
                tensor.copy_(staged)

    @torch.no_grad()
    def sync_buffers(self, module: nn.Module) -> None:
        """Make every buffer of ``module`` identical on all ranks.

        BatchNorm running means and variances are averaged over the ranks (each rank saw a
        different slice of every batch, so the average is the better estimate); every other
        buffer (input statistics, ``num_batches_tracked``) is broadcast from rank 0.
        """
        for mod in module.modules():
            is_batchnorm = isinstance(mod, nn.modules.batchnorm._BatchNorm)
            for name, buf in mod.named_buffers(recurse=False):
                if buf is None:
                    continue
                if is_batchnorm and name in ("running_mean", "running_var") and buf.is_floating_point():
                    staged = self._staged(buf)
                    dist.all_reduce(staged, group=self.group)
                    staged.div_(self.world_size)
                    if staged is not buf:
                        buf.copy_(staged)
                else:
                    self.broadcast_(buf)

    def run_on_main(self, fn):
        """Run ``fn()`` on rank 0 only; every rank returns its result or raises its exception."""
        result, error = None, None
        if self.is_main:
            try:
                result = fn()
            except Exception as exc:  # sent to every rank, re-raised below
                error = exc
            try:
                pickle.dumps((result, error))
            except Exception as exc:  # pragma: no cover - an unpicklable result or exception
                result, error = None, RuntimeError(f"{type(error or exc).__name__}: {error or exc}")
        payload = [(result, error)]
        dist.broadcast_object_list(payload, src=0, group=self.group)
        result, error = payload[0]
        if error is not None:
            raise error
        return result


def is_main_rank(context: DistributedContext | None) -> bool:
    """Whether this process speaks for the group: rank 0 of ``context``, or any process without one.

    What prints, warns and writes files during ``fit`` checks this, so that under
    ``torch.distributed`` it happens once.

    Examples
    --------
    >>> from deepclust.training.distributed import is_main_rank
    >>> is_main_rank(None)
    True
    """
    return context is None or context.is_main


def run_on_main(context: DistributedContext | None, fn):
    """``fn()`` on rank 0 only, its result (or exception) on every rank; ``fn()`` without a context.

    Examples
    --------
    >>> from deepclust.training.distributed import run_on_main
    >>> run_on_main(None, lambda: 42)
    42
    """
    return fn() if context is None else context.run_on_main(fn)


# ---------------------------------------------------------------------------- the module
def _convert_sync_batchnorm(module: nn.Module):
    """Swap BatchNorm layers for SyncBatchNorm in place; returns the function that swaps them back.

    The SyncBatchNorm layers share the parameters and buffers of the layers they replace,
    so swapping back leaves a plain module with the trained values (state_dict keys are the
    same either way).
    """
    originals = {
        name: mod
        for name, mod in module.named_modules()
        if name and isinstance(mod, nn.modules.batchnorm._BatchNorm) and not isinstance(mod, nn.SyncBatchNorm)
    }
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    assert converted is module  # the root of a ClusterNet is never a BatchNorm

    def restore() -> None:
        for name, original in originals.items():
            parent_name, _, child = name.rpartition(".")
            parent = module.get_submodule(parent_name) if parent_name else module
            original.load_state_dict(getattr(parent, child).state_dict())
            setattr(parent, child, original)

    return restore


def _compile_options(compile) -> dict | None:
    if compile is False or compile is None:
        return None
    if compile is True:
        return {}
    return dict(compile)


def wrap_for_training(module: nn.Module, context: DistributedContext | None, compile=False):
    """The module the training forward pass goes through, and a function that undoes the wrapping.

    ``module`` itself is what the estimator keeps (``module_``): a plain ``nn.Module``
    whatever the wrapping, so pickling and ``state_dict`` keys do not change.

    * Under a process group: DistributedDataParallel (gradient averaging; buffers are not
      synchronised at every forward pass but once per epoch, see
      :meth:`DistributedContext.sync_buffers`), after an optional SyncBatchNorm conversion
      (CUDA only: this torch's SyncBatchNorm rejects CPU tensors).
    * ``compile``: :func:`torch.compile` of the above (``True`` or a dict of its keyword
      arguments), used for the training forward pass only.

    Returns
    -------
    forward_module : nn.Module
    restore : callable
        Call it after training (swaps SyncBatchNorm back to BatchNorm).

    Examples
    --------
    Single process, no compilation: the module itself.

    >>> import torch
    >>> from deepclust.training.distributed import wrap_for_training
    >>> module = torch.nn.Linear(3, 2)
    >>> forward, restore = wrap_for_training(module, None)
    >>> forward is module
    True
    >>> restore()
    """
    forward_module = module
    restore = lambda: None  # noqa: E731
    if context is not None:
        if context.sync_batchnorm:
            if context.device.type == "cuda":
                restore = _convert_sync_batchnorm(module)
            elif context.is_main:
                warnings.warn(
                    "distributed={'sync_batchnorm': True} is ignored on the CPU: torch's SyncBatchNorm "
                    "supports CUDA tensors only; each rank normalises its own slice of the batch.",
                    UserWarning,
                    stacklevel=3,
                )
        kwargs = {"find_unused_parameters": context.find_unused_parameters}
        if context.device.type == "cuda":
            kwargs["device_ids"] = [context.device.index]
            kwargs["output_device"] = context.device.index
        parameters = inspect.signature(nn.parallel.DistributedDataParallel).parameters
        # torch 2.13 renamed broadcast_buffers to forward_sync_buffers (both: no sync per forward).
        kwargs["forward_sync_buffers" if "forward_sync_buffers" in parameters else "broadcast_buffers"] = False
        forward_module = nn.parallel.DistributedDataParallel(module, process_group=context.group, **kwargs)
    options = _compile_options(compile)
    if options is not None:
        forward_module = torch.compile(forward_module, **options)
    return forward_module, restore

