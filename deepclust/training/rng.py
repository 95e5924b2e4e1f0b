"""Local random number generation: ``fit`` never touches the global RNG state."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import numpy as np
import torch


def seed_from_random_state(random_state) -> int:
    """Derive one 63-bit seed from ``random_state`` without touching global RNGs.

    ``None`` draws fresh OS entropy (unlike ``check_random_state(None)``, which would
    advance NumPy's global generator); an int is used as given; a
    :class:`numpy.random.RandomState` or :class:`numpy.random.Generator` is advanced once,
    as scikit-learn estimators do.

    Examples
    --------
    >>> import numpy as np
    >>> from deepclust.training.rng import seed_from_random_state
    >>> seed_from_random_state(42)
    42
    >>> rs = np.random.RandomState(0)
    >>> seed_from_random_state(rs) != seed_from_random_state(rs)  # advanced at each call
    True
    >>> 0 <= seed_from_random_state(None) < 2**63  # fresh entropy, no global state touched
    True
    """
    if random_state is None:
        return secrets.randbits(63)
    if isinstance(random_state, (int, np.integer)):
        return int(random_state) % (2**63)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1)) * 2**31 + int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    raise TypeError(
        "The 'random_state' parameter must be None, an int, a numpy RandomState or Generator; "
        f"got {type(random_state).__name__}."
    )


class SeedManager:
    """Owns the generators of one fit.

    Parameters
    ----------
    seed : int
        The base seed (see :func:`seed_from_random_state`).
    device : torch.device
        The device the data generator lives on (augmentation is drawn there).
    rank : int, default=0
        The process's rank under data-parallel training. Every rank gets the same
        shuffling generator (all ranks must cut the same global batches) but its own
        augmentation stream (rank 0's is the single-process one), so the views of
        different ranks' samples are drawn independently and the run stays reproducible.

    Examples
    --------
    The same seed gives the same streams; the global generators are left alone:

    >>> import torch
    >>> from deepclust.training.rng import SeedManager
    >>> a, b = SeedManager(0, torch.device("cpu")), SeedManager(0, torch.device("cpu"))
    >>> torch.equal(torch.randperm(5, generator=a.shuffle), torch.randperm(5, generator=b.shuffle))
    True
    >>> before = torch.get_rng_state()
    >>> with a.scoped_global_seed():
    ...     layer = torch.nn.Linear(3, 2)  # initialised from the fit's seed
    >>> torch.equal(torch.get_rng_state(), before)
    True
    """

    def __init__(self, seed: int, device: torch.device, rank: int = 0):
        self.seed = seed
        self.device = device
        self.rank = rank
        # Separate streams so that, e.g., changing the augmentation does not change the
        # batch order.
        self.shuffle = torch.Generator(device="cpu").manual_seed(seed)
        self.augment = torch.Generator(device=device).manual_seed(self.augment_seed(seed, rank))
        self.numpy = np.random.default_rng(seed + 2)
        # Neighbour positives' partners: shared by every rank, like the shuffling stream.
        self.neighbors = torch.Generator(device="cpu").manual_seed((seed + 4) % (2**63))

    @staticmethod
    def augment_seed(seed: int, rank: int = 0, epoch: int | None = None) -> int:
        """Seed of the augmentation stream of ``rank`` (``seed + 1`` for rank 0 of a fresh fit).

        ``epoch`` gives a fresh stream for a fit resumed with a different number of
        processes (see :meth:`reseed_augment`).
        """
        if rank == 0 and epoch is None:
            return seed + 1
        offset = rank * 0x9E3779B97F4A7C15 + (0 if epoch is None else (epoch + 1) * 0xBF58476D1CE4E5B9)
        return (seed + 1 + offset) % (2**63)

    def reseed_augment(self, epoch: int) -> None:
        """Restart this rank's augmentation stream from ``(seed, rank, epoch)``."""
        self.augment.manual_seed(self.augment_seed(self.seed, self.rank, epoch))

    @contextlib.contextmanager
    def scoped_global_seed(self, resume: dict | None = None) -> Iterator[None]:
        """Seed torch's global RNG for module initialisation and dropout, then restore it.

        ``torch.nn`` layer initialisers and dropout draw from the global generator; forking
        it keeps ``fit`` free of side effects on the caller's RNG state. ``resume`` (what
        :meth:`global_state` returned inside an earlier scope) continues that scope's
        stream instead of seeding a new one: a paused run resumes with the dropout draws
        it would have made without the pause.
        """
        devices = self._cuda_devices()
        with torch.random.fork_rng(devices=devices, enabled=True):
            if resume is not None:
                torch.set_rng_state(resume["cpu"])
                for index, state in zip(devices, resume["cuda"]):
                    torch.cuda.set_rng_state(state, index)
            else:
                # torch.manual_seed would also reseed CUDA devices outside ``devices``.
                torch.default_generator.manual_seed(self.seed + 3)
                for index in devices:
                    with torch.cuda.device(index):
                        torch.cuda.manual_seed(self.seed + 3)
            yield

    def global_state(self) -> dict:
        """The global generators' states (inside :meth:`scoped_global_seed`), to resume them."""
        return {"cpu": torch.get_rng_state(), "cuda": [torch.cuda.get_rng_state(i) for i in self._cuda_devices()]}

    def _cuda_devices(self) -> list[int]:
        if self.device.type != "cuda":
            return []
        return [self.device.index if self.device.index is not None else torch.cuda.current_device()]
