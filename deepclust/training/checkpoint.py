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
    """A checkpoint file is missing, truncated, corrupted or does not match this fit.

    Raised by :class:`~deepclust.training.callbacks.Checkpoint` (through ``fit``) and by
    :func:`load_checkpoint`; the file is left untouched and nothing from it is loaded. What
    to do: if the checkpoint belongs to another model or data set, point ``Checkpoint`` to
    another directory; if it is damaged (e.g. the disk filled up), delete it to start afresh.
    It is a :class:`ValueError`.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering
    >>> from deepclust.training.callbacks import Checkpoint, CheckpointError
    >>> X, _ = make_blobs(n_samples=40, centers=2, random_state=0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with open(os.path.join(tmp, "checkpoint.pt"), "wb") as f:
    ...         _ = f.write(b"not a checkpoint")
    ...     model = DRCClustering(n_clusters=2, max_epochs=1, device="cpu", callbacks=[Checkpoint(tmp)])
    ...     try:
    ...         model.fit(X)
    ...     except CheckpointError as exc:
    ...         print("refused:", "bad header" in str(exc))
    refused: True
    """


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """Write ``state`` atomically to ``path`` (temp file in the same directory + ``os.replace``).

    Parameters
    ----------
    state : dict
        Plain containers, tensors and Python scalars only (what ``torch.load`` accepts with
        ``weights_only=True``).
    path : str or path-like
        Destination; its directory is created if needed.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> import torch
    >>> from deepclust.training.checkpoint import load_checkpoint, save_checkpoint
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "runs", "state.pt")
    ...     save_checkpoint({"epoch": 3, "weights": torch.ones(2)}, path)
    ...     print(os.listdir(os.path.dirname(path)), load_checkpoint(path)["epoch"])
    ['state.pt'] 3
    """
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
    """Read and verify a checkpoint written by :func:`save_checkpoint` (CPU tensors).

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_checkpoint`.

    Returns
    -------
    state : dict
        The saved dict (plus ``"format_version"``), tensors on the CPU.

    Raises
    ------
    CheckpointError
        The file is not a deepclust checkpoint, is truncated or corrupted, or has another
        format version.

    Examples
    --------
    A checkpoint whose bytes changed is refused before anything is unpickled:

    >>> import os
    >>> import tempfile
    >>> import torch
    >>> from deepclust.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "state.pt")
    ...     save_checkpoint({"weights": torch.arange(3.0)}, path)
    ...     print(load_checkpoint(path)["weights"])
    ...     with open(path, "r+b") as f:
    ...         _ = f.seek(-1, os.SEEK_END)
    ...         _ = f.write(b"!")
    ...     try:
    ...         load_checkpoint(path)
    ...     except CheckpointError:
    ...         print("corrupted file refused")
    tensor([0., 1., 2.])
    corrupted file refused
    """
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
