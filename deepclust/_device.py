"""Resolve the user's ``device`` parameter to a :class:`torch.device`."""

from __future__ import annotations

import re

import torch

_DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N" | torch.device`` into a device.

    ``"auto"`` picks the first CUDA device when one is available, else the CPU.
    Nothing is printed and no subprocess is started (unlike ``nvidia-smi`` probing).

    Raises
    ------
    ValueError
        If the string is not a known device, or CUDA is requested but absent,
        or the requested CUDA index does not exist.
    """
    if isinstance(device, torch.device):
        resolved = device
    elif isinstance(device, str):
        if device == "auto":
            return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
        if not _DEVICE_PATTERN.match(device):
            raise ValueError(
                f"The 'device' parameter must be 'auto', 'cpu', 'cuda', 'cuda:<index>' "
                f"or a torch.device. Got {device!r} instead."
            )
        resolved = torch.device(device)
    else:  # pragma: no cover - guarded by _parameter_constraints
        raise TypeError(f"The 'device' parameter must be a str or torch.device, got {type(device)!r}.")

    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={str(device)!r} was requested but CUDA is not available on this "
                "machine. Use device='auto' or device='cpu'."
            )
        index = resolved.index if resolved.index is not None else 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device={str(device)!r} was requested but only {torch.cuda.device_count()} "
                "CUDA device(s) are visible."
            )
    elif resolved.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"device={str(device)!r} was requested but MPS is not available.")
    elif resolved.type != "cpu":
        raise ValueError(f"Unsupported device {str(device)!r}; use 'cpu' or 'cuda'.")
    return resolved


def autocast_dtype(device: torch.device, amp: bool | str) -> torch.dtype | None:
    """Mixed-precision dtype for ``device``: bf16 where supported, else fp16, on CUDA only.

    ``amp`` is ``"auto"`` (on for CUDA), ``True`` (CUDA only; ignored on CPU with the same
    result as ``"auto"``) or ``False`` (always full precision).
    """
    if amp is False or device.type != "cuda":
        return None
    # Native bf16 needs compute capability 8.0 (Ampere); is_bf16_supported() also says True
    # on older GPUs that only emulate it (slowly), where fp16 with loss scaling is the fast path.
    index = device.index if device.index is not None else torch.cuda.current_device()
    if torch.cuda.get_device_capability(index)[0] >= 8:
        return torch.bfloat16
    return torch.float16


def device_available(device: torch.device) -> bool:
    """Whether ``device`` can be used on this machine (e.g. to load a pickled model back onto it)."""
    try:
        resolve_device(device)
    except ValueError:
        return False
    return True
