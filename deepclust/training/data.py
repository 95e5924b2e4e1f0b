"""Keep the training set where batches are cheap to cut: on the device when it fits.

Three paths, chosen once per fit:

* **device**: the whole array on the training device (CPU, or CUDA when it fits in
  ``_DEVICE_MEMORY_SHARE`` of the free memory), as ``uint8`` for ``uint8`` images;
* **pinned**: CUDA, the data too large for the device: one host tensor in pinned memory;
  each batch is gathered into a reusable pinned buffer and copied asynchronously
  (``non_blocking``), double-buffered so that the copy of one batch overlaps the next
  gather;
* **memmap**: a ``numpy.memmap`` (or a view of one) of ``float32`` data or ``uint8`` images
  is never loaded whole: each batch reads only its rows from the file (sorted, for
  sequential access) and is sent to the device as in the pinned path. (Input validation
  converts a memory map of another dtype to ``float32`` in memory, with a warning.)
"""

from __future__ import annotations

import mmap

import numpy as np
import torch

# Leave room for activations: the data may use at most this share of free device memory.
_DEVICE_MEMORY_SHARE = 0.4


def is_memory_mapped(array) -> bool:
    """Whether ``array`` is a ``numpy.memmap`` or a view into one (or into an ``mmap``).

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> import numpy as np
    >>> from deepclust.training.data import is_memory_mapped
    >>> is_memory_mapped(np.zeros((4, 3)))
    False
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     mm = np.lib.format.open_memmap(os.path.join(tmp, "X.npy"), mode="w+", dtype=np.float32, shape=(4, 3))
    ...     print(is_memory_mapped(mm), is_memory_mapped(mm[1:3]))
    ...     del mm
    True True
    """
    a = array
    while a is not None:
        if isinstance(a, (np.memmap, mmap.mmap)):
            return True
        a = getattr(a, "base", None)
    return False


class TensorStore:
    """The whole training set, indexed per batch.

    Images stay ``uint8`` (4x smaller) and are scaled to [0, 1] float32 per batch; batches
    of images are delivered ``channels_last`` on CUDA.

    Parameters
    ----------
    array : ndarray or numpy.memmap
        Training data in model layout (never written to; copied, except a memmap, which is
        read per batch).
    device : torch.device
        Where batches are delivered.

    Attributes
    ----------
    mode : {"device", "pinned", "memmap"}
        The data path in use (see the module docstring).

    Examples
    --------
    ``uint8`` images are kept as bytes and delivered as float32 in [0, 1]:

    >>> import numpy as np
    >>> import torch
    >>> from deepclust.training.data import TensorStore
    >>> images = np.full((6, 1, 4, 4), 255, dtype=np.uint8)
    >>> store = TensorStore(images, torch.device("cpu"))
    >>> len(store), store.mode, store.tensor.dtype
    (6, 'device', torch.uint8)
    >>> batch = store.get(torch.tensor([0, 3]))
    >>> batch.shape, batch.dtype, float(batch.max())
    (torch.Size([2, 1, 4, 4]), torch.float32, 1.0)
    """

    def __init__(self, array: np.ndarray, device: torch.device):
        self.device = torch.device(device)
        self.scale = 1.0 / 255.0 if array.dtype == np.uint8 else None
        self._cuda = self.device.type == "cuda"
        self._buffers: list[torch.Tensor | None] = [None, None]
        self._events: list = [None, None]
        self._turn = 0
        if is_memory_mapped(array):
            self.mode = "memmap"
            self.array = array
            self.tensor = None
            self._len = array.shape[0]
            return
        self.array = None
        # A copy, so nothing we do can touch the caller's array.
        host = torch.from_numpy(np.array(array, copy=True, order="C"))
        self._len = host.shape[0]
        if not self._cuda or self._fits_on_device(host.nbytes):
            self.mode = "device"
            self.tensor = host.to(self.device)
        else:
            self.mode = "pinned"
            self.tensor = host.pin_memory()

    @property
    def on_device(self) -> bool:
        return self.mode == "device"

    def _fits_on_device(self, nbytes: int) -> bool:
        if not self._cuda:
            return True
        free, _ = torch.cuda.mem_get_info(self.device)
        return nbytes <= _DEVICE_MEMORY_SHARE * free

    def __len__(self) -> int:
        return self._len

    def _staging(self, shape, dtype: torch.dtype) -> torch.Tensor:
        """The next of two reusable host buffers (pinned on CUDA), once its last copy is done."""
        turn = self._turn
        self._turn = 1 - turn
        event = self._events[turn]
        if event is not None:
            event.synchronize()  # the async copy out of this buffer has finished
        buf = self._buffers[turn]
        numel = int(np.prod(shape))
        if buf is None or buf.numel() < numel or buf.dtype != dtype:
            buf = torch.empty(numel, dtype=dtype, pin_memory=self._cuda)
            self._buffers[turn] = buf
        return buf[:numel].view(shape), turn

    def _host_rows(self, index: torch.Tensor) -> torch.Tensor:
        idx = index.cpu()
        if self.mode == "pinned":
            shape = (idx.numel(), *self.tensor.shape[1:])
            out, turn = self._staging(shape, self.tensor.dtype)
            torch.index_select(self.tensor, 0, idx, out=out)
            return out, turn
        # memmap: read the rows in file order, then put them back in batch order.
        order = np.argsort(idx.numpy(), kind="stable")
        rows = np.ascontiguousarray(self.array[idx.numpy()[order]])
        src = torch.from_numpy(rows)
        shape = tuple(src.shape)
        out, turn = self._staging(shape, src.dtype)
        out[torch.from_numpy(order)] = src
        return out, turn

    def get(self, index: torch.Tensor) -> torch.Tensor:
        """Float32 batch at positions ``index`` on ``self.device``."""
        if self.mode == "device":
            batch = self.tensor[index.to(self.tensor.device)]
        else:
            host, turn = self._host_rows(index)
            if self._cuda:
                batch = host.to(self.device, non_blocking=True)
                event = torch.cuda.Event()
                event.record(torch.cuda.current_stream(self.device))
                self._events[turn] = event
            else:
                batch = host.clone()  # the buffer is reused by the next call
        if self._cuda and batch.ndim == 4:
            batch = batch.contiguous(memory_format=torch.channels_last)
        batch = batch.float()  # a new tensor (gathered, copied or converted): safe to scale in place
        return batch.mul_(self.scale) if self.scale is not None else batch
