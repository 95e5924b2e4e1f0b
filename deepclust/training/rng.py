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
    """

    def __init__(self, seed: int, device: torch.device):
        self.seed = seed
        self.device = device
        # Separate streams so that, e.g., changing the augmentation does not change the
        # batch order.
        self.shuffle = torch.Generator(device="cpu").manual_seed(seed)
        self.augment = torch.Generator(device=device).manual_seed(seed + 1)
        self.numpy = np.random.default_rng(seed + 2)

    @contextlib.contextmanager
    def scoped_global_seed(self) -> Iterator[None]:
        """Seed torch's global RNG for module initialisation and dropout, then restore it.

        ``torch.nn`` layer initialisers and dropout draw from the global generator; forking
        it keeps ``fit`` free of side effects on the caller's RNG state.
        """
        devices = []
        if self.device.type == "cuda":
            devices = [self.device.index if self.device.index is not None else torch.cuda.current_device()]
        with torch.random.fork_rng(devices=devices, enabled=True):
            # torch.manual_seed would also reseed CUDA devices outside ``devices``.
            torch.default_generator.manual_seed(self.seed + 3)
            for index in devices:
                with torch.cuda.device(index):
                    torch.cuda.manual_seed(self.seed + 3)
            yield
