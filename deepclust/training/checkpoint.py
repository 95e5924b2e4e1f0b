"""Safe, atomic checkpoint files.

A checkpoint file is ``MAGIC + sha256(payload) + payload`` where ``payload`` is a
:func:`torch.save` archive of plain containers, tensors and Python scalars only. Loading
checks the magic and the digest first (a truncated or corrupted file gives a
:class:`CheckpointError`, never a half-loaded model) and then uses
``torch.load(weights_only=True)``: nothing in a checkpoint is ever executed.

Writing goes to a temporary file in the same directory, is flushed and fsync'ed, and is then
moved over the previous checkpoint with :func:`os.replace` (atomic on POSIX and Windows), so
an interruption while writing leaves the last good checkpoint in place.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile

import torch

MAGIC = b"DEEPCLUST-CKPT-1\n"
_DIGEST_SIZE = 32
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupted or does not match this fit."""


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """Write ``state`` atomically to ``path`` (temp file in the same directory + ``os.replace``)."""
    path = os.fspath(path)
    buffer = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **state}, buffer)
    payload = buffer.getvalue()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".ckpt", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC)
            f.write(hashlib.sha256(payload).digest())
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (POSIX only)
        dir_fd = os.open(directory, os.O_RDONLY)
    except (OSError, AttributeError):
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read and verify a checkpoint written by :func:`save_checkpoint` (CPU tensors)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    header = len(MAGIC) + _DIGEST_SIZE
    if len(data) < header or not data.startswith(MAGIC):
        raise CheckpointError(f"{path!r} is not a deepclust checkpoint (bad header; truncated or foreign file).")
    digest, payload = data[len(MAGIC) : header], data[header:]
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(
            f"Checkpoint {path!r} is corrupted or truncated (checksum mismatch); it was not loaded. "
            "Delete it (or point the Checkpoint callback elsewhere) to start afresh."
        )
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # pragma: no cover - the digest already guards against corruption
        raise CheckpointError(f"Checkpoint {path!r} could not be loaded safely: {exc}") from exc
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"Checkpoint {path!r} has an unsupported format.")
    return state
