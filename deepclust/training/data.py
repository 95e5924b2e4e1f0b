"""Keep the training set where batches are cheap to cut: on the device when it fits."""

from __future__ import annotations

import numpy as np
import torch

# Leave room for activations: the data may use at most this share of free device memory.
_DEVICE_MEMORY_SHARE = 0.4


class TensorStore:
    """The whole training set as one tensor, indexed per batch.

    Images stay ``uint8`` (4x smaller) and are scaled to [0, 1] float32 per batch. On CUDA the
    tensor lives on the device when it fits in ``_DEVICE_MEMORY_SHARE`` of the free memory,
    otherwise in pinned host memory with asynchronous copies.

    Parameters
    ----------
    array : ndarray
        Training data in model layout (never written to; copied).
    device : torch.device
        Where batches are delivered.
    """

    def __init__(self, array: np.ndarray, device: torch.device):
        self.device = device
        self.scale = 1.0 / 255.0 if array.dtype == np.uint8 else None
        # A copy, so nothing we do can touch the caller's array.
        host = torch.from_numpy(np.array(array, copy=True, order="C"))
        self.on_device = device.type == "cpu" or self._fits_on_device(host.nbytes)
        if self.on_device:
            self.tensor = host.to(device)
        else:
            self.tensor = host.pin_memory()

    def _fits_on_device(self, nbytes: int) -> bool:
        if self.device.type != "cuda":
            return True
        free, _ = torch.cuda.mem_get_info(self.device)
        return nbytes <= _DEVICE_MEMORY_SHARE * free

    def __len__(self) -> int:
        return self.tensor.shape[0]

    def get(self, index: torch.Tensor) -> torch.Tensor:
        """Float32 batch at positions ``index`` on ``self.device``."""
        if self.on_device:
            batch = self.tensor[index.to(self.tensor.device)]
        else:
            batch = self.tensor[index.cpu()].pin_memory().to(self.device, non_blocking=True)
        batch = batch.float()
        return batch * self.scale if self.scale is not None else batch
