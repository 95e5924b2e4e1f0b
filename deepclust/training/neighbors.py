"""Neighbour positives: the second view of a sample may be one of its nearest neighbours.

Ours, not the three papers': SCL, DRC and JCL take both views of a sample from augmentations
of that sample. Nearest neighbours are a positive signal that needs no knowledge of the
domain (where augmentations do): SCAN (Van Gansbeke et al., ECCV 2020) pulls a sample's
prediction towards its neighbours', NNCLR (Dwibedi et al., ICCV 2021) takes the nearest
neighbour in a support set as the positive, and NNM (Dang et al., CVPR 2021) matches
neighbours in the local and global embedding. Here, with probability ``p`` the second view
of sample ``i`` is an augmented view of one of its ``k`` nearest neighbours, drawn
uniformly; the objective is unchanged and sees an ordinary pair of views.

Two graphs, combinable:

* **input**: neighbours in the input space, computed once per fit: the data standardised
  (the network's own statistics, except that with a scale floor no feature is divided by
  less than that fraction of the median standard deviation, see :func:`floored_scale`),
  images and wide tables reduced to at most 50 principal
  components (PCA fitted on at most 20,000 rows, then applied chunk by chunk), then
  scikit-learn's :class:`~sklearn.neighbors.NearestNeighbors` (exact, brute force, chunked
  by scikit-learn's ``working_memory``), or for large data pynndescent's approximate
  nearest-neighbour descent (the ``ann`` extra, :func:`resolve_search`). Memory ``O(n k)``
  plus the reduced data.
* **embedding**: neighbours in the learned representation, refreshed at the start of every
  epoch from a bank of the backbone features of each sample's first view (updated during
  training at no extra forward pass), by a chunked cosine search on the training device.

Every draw comes from the fit's shuffling generator, which all processes share under
data-parallel training, so every rank uses the same graph and the same partners.
"""

from __future__ import annotations

import math
import warnings
from importlib.util import find_spec

import numpy as np
import torch
import torch.nn.functional as F

_PCA_COMPONENTS = 50
_PCA_FIT_ROWS = 20_000
_CHUNK = 8192
_SEARCH_CHUNK = 1024

#: Values of the estimators' ``neighbor_positives`` parameter (besides "auto" and None).
SOURCES = ("input", "embedding", "both")

#: ``neighbor_scale_floor="auto"`` per kind of input: in the input graph's metric no table
#: feature is divided by less than the median standard deviation of the features (1.0), images
#: keep their per-channel standardisation (0.0). Chosen on the development tables (session 22,
#: one restart, seeds 0-2): the label purity of the 10 nearest neighbours rose on six of
#: eight (segmentation 0.911 -> 0.931, digits as rows 0.938 -> 0.957, iris 0.913 -> 0.935;
#: glass 0.586 -> 0.573), and with it the estimators (segmentation SCL 0.689 -> 0.828).
SCALE_FLOOR_AUTO = {"tabular": 1.0, "image": 0.0}


#: Values of the estimators' ``neighbor_search`` parameter (besides "auto").
SEARCHES = ("exact", "approximate")
#: Rows above which ``neighbor_search="auto"`` searches approximately (where pynndescent is
#: installed). Exact brute force is quadratic in the rows: 16 features on 2 CPU cores took
#: 3 s for 50,000 rows, 12 s for 100,000 and 50 s for 200,000 (session 31), so about 20
#: minutes for a million; pynndescent took 4 s for 200,000, finding 82 % of the exact
#: neighbours on Gaussian noise (its hardest case), after compiling its kernels once per
#: process (22 s), which is why smaller inputs stay exact.
APPROXIMATE_FROM_ROWS = 100_000


def resolve_search(search: str, n_rows: int) -> str:
    """What ``neighbor_search`` means for ``n_rows`` rows: "exact" or "approximate".

    "auto" is "exact" up to :data:`APPROXIMATE_FROM_ROWS` rows and "approximate" above where
    pynndescent is installed (``pip install "deepclust[ann]"``); without it "auto" stays
    exact and warns. "approximate" without pynndescent raises an ``ImportError``.

    Examples
    --------
    >>> from deepclust.training.neighbors import resolve_search
    >>> resolve_search("auto", 1_000), resolve_search("exact", 10**7)
    ('exact', 'exact')
    """
    if search not in ("auto", *SEARCHES):
        raise ValueError(f"neighbor_search must be 'auto' or one of {SEARCHES}; got {search!r}.")
    installed = find_spec("pynndescent") is not None
    if search == "approximate" and not installed:
        raise ImportError(
            "neighbor_search='approximate' needs pynndescent: pip install 'deepclust[ann]' (or pynndescent)."
        )
    if search != "auto":
        return search
    if n_rows <= APPROXIMATE_FROM_ROWS:
        return "exact"
    if installed:
        return "approximate"
    warnings.warn(
        f"The input neighbour graph of {n_rows} rows is searched exactly, which takes time quadratic in "
        "the rows; pip install 'deepclust[ann]' (pynndescent) for the approximate search, or pass "
        "neighbor_search='exact' to silence this.",
        UserWarning,
        stacklevel=2,
    )
    return "exact"


def _approximate_neighbors(Z: np.ndarray, n_neighbors: int, seed: int = 0) -> np.ndarray:
    """Indices of (about) the ``n_neighbors`` nearest rows of ``Z`` (Euclidean), each row included.

    pynndescent's nearest-neighbour descent with one thread, so the graph is a function of
    ``seed`` alone (the same on every rank under data-parallel training). Rows it leaves
    short of neighbours (entries -1, possible on tiny or degenerate data) are searched
    exactly.

    Returns
    -------
    ndarray of shape (n, n_neighbors), int64
    """
    from pynndescent import NNDescent

    index = NNDescent(Z, n_neighbors=n_neighbors, random_state=seed, n_jobs=1, low_memory=True)
    idx = np.asarray(index.neighbor_graph[0], dtype=np.int64)
    short = np.flatnonzero((idx < 0).any(axis=1))
    if short.size:
        idx[short] = _exact_neighbors(Z, n_neighbors, Z[short])
    return idx


def _exact_neighbors(Z: np.ndarray, n_neighbors: int, queries: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``n_neighbors`` nearest rows of ``Z`` to each row of ``queries`` (default:
    ``Z``, each row then among its own), by scikit-learn's chunked brute-force search."""
    from sklearn.neighbors import NearestNeighbors

    search = NearestNeighbors(n_neighbors=n_neighbors, algorithm="brute").fit(Z)
    return search.kneighbors(Z if queries is None else queries, return_distance=False)


def floored_scale(std, floor: float) -> np.ndarray:
    """Per-feature divisors of the input graph's metric: ``max(std, floor * median(std))``.

    Standardising divides a near-constant feature (a border pixel that is almost always 0, a
    density that is 0 in most rows) by its tiny spread, so its rare values dominate the
    distances between rows. With the floor, features whose spread is at least ``floor``
    times the median spread are standardised as before and the others are divided by that
    floor instead, keeping them in proportion to their spread. ``floor=0`` is plain
    standardisation; a single feature (or channel) is never changed. The median is taken
    over ``std`` as the network standardises with it (a constant feature counts as 1).

    Examples
    --------
    >>> from deepclust.training.neighbors import floored_scale
    >>> floored_scale([0.5, 2.0, 3.0, 40.0], 1.0).tolist()
    [2.5, 2.5, 3.0, 40.0]
    >>> floored_scale([0.5, 2.0, 3.0, 40.0], 0.0).tolist()
    [0.5, 2.0, 3.0, 40.0]
    """
    std = np.asarray(std, dtype=np.float32).ravel()
    if floor <= 0 or std.size < 2:
        return std
    return np.maximum(std, np.float32(floor) * np.median(std)).astype(np.float32)


def reduced_input(X: np.ndarray, mean: np.ndarray, std: np.ndarray, seed: int, return_components: bool = False):
    """``X`` standardised per feature/channel, flattened and, where wide, PCA-reduced (float32).

    The space the input graph (and the input cluster prior) is computed in: at most 50
    principal components, PCA fitted on at most 20,000 rows, ``X`` read in chunks. With
    ``return_components``, also the ``(r, width)`` PCA components that map a reduced row
    back to the standardised, flattened space (None where ``X`` was not reduced).

    Examples
    --------
    >>> import numpy as np
    >>> from deepclust.training.neighbors import reduced_input
    >>> images = np.random.default_rng(0).integers(0, 256, size=(60, 1, 10, 10), dtype=np.uint8)
    >>> reduced_input(images, mean=[0.5], std=[0.3], seed=0).shape  # 100 pixels -> 50 components
    (60, 50)
    >>> reduced_input(np.ones((4, 3), np.float32), mean=[1, 1, 1], std=[2, 2, 2], seed=0).tolist()[0]
    [0.0, 0.0, 0.0]
    """
    from sklearn.decomposition import PCA

    n = X.shape[0]
    is_image = X.ndim == 4
    scale = 1.0 / 255.0 if X.dtype == np.uint8 else 1.0
    shape = (1, -1, 1, 1) if is_image else (1, -1)
    mean = np.asarray(mean, dtype=np.float32).reshape(shape)
    std = np.asarray(std, dtype=np.float32).reshape(shape)

    def chunk(start: int, stop: int) -> np.ndarray:
        rows = (np.asarray(X[start:stop], dtype=np.float32) * scale - mean) / std
        return rows.reshape(rows.shape[0], -1)

    width = int(np.prod(X.shape[1:]))
    if width <= _PCA_COMPONENTS:
        reduced = np.concatenate([chunk(s, min(n, s + _CHUNK)) for s in range(0, n, _CHUNK)])
        return (reduced, None, None) if return_components else reduced
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n, size=min(n, _PCA_FIT_ROWS), replace=False))
    sample = (np.asarray(X[fit_rows], dtype=np.float32) * scale - mean) / std
    n_components = min(_PCA_COMPONENTS, sample.shape[0] - 1, width)
    pca = PCA(n_components=n_components, svd_solver="randomized", random_state=seed % (2**32))
    pca.fit(sample.reshape(sample.shape[0], -1))
    reduced = np.concatenate([pca.transform(chunk(s, min(n, s + _CHUNK))) for s in range(0, n, _CHUNK)]).astype(
        np.float32
    )
    if return_components:
        return reduced, pca.components_.astype(np.float32), pca.mean_.astype(np.float32)
    return reduced


def input_neighbors(
    X: np.ndarray, mean, std, n_neighbors: int, seed: int = 0, reduced=None, search: str = "auto"
) -> np.ndarray:
    """Indices of the ``n_neighbors`` nearest neighbours of every row of ``X`` (itself excluded).

    Parameters
    ----------
    X : ndarray or numpy.memmap
        Training data in model layout (``(n, d)`` or ``(n, C, H, W)``; uint8 images are
        scaled to [0, 1]); read in chunks, never modified.
    mean, std : array-like
        Per-feature (or per-channel) statistics used to standardise ``X``.
    n_neighbors : int
        k; clipped to ``n - 1``.
    seed : int
        Seeds the rows PCA is fitted on, its randomised SVD and the approximate search.
    reduced : ndarray or None
        :func:`reduced_input` of ``X``, when the caller has it already.
    search : {"auto", "exact", "approximate"}, default="auto"
        See :func:`resolve_search`.

    Returns
    -------
    ndarray of shape (n, k), int64
        Nearest first.

    Examples
    --------
    >>> import numpy as np
    >>> from deepclust.training.neighbors import input_neighbors
    >>> X = np.array([[0.0], [0.1], [5.0], [5.2]], dtype=np.float32)
    >>> input_neighbors(X, mean=[0.0], std=[1.0], n_neighbors=1)[:, 0].tolist()
    [1, 0, 3, 2]
    """
    n = X.shape[0]
    k = max(1, min(int(n_neighbors), n - 1))
    method = resolve_search(search, n)
    Z = reduced_input(X, mean, std, seed) if reduced is None else reduced
    idx = _approximate_neighbors(Z, k + 1, seed) if method == "approximate" else _exact_neighbors(Z, k + 1)
    return _drop_self(idx, k)


def _drop_self(idx: np.ndarray, k: int) -> np.ndarray:
    """Remove each row's own index from its ``k + 1`` neighbours (duplicates may put it anywhere)."""
    rows = np.arange(idx.shape[0])[:, None]
    is_self = idx == rows
    # Where a row is missing from its own list (many exact duplicates), drop the last column.
    no_self = ~is_self.any(axis=1)
    is_self[no_self, -1] = True
    # First self occurrence only (a row appears once in its list).
    first = is_self & (np.cumsum(is_self, axis=1) == 1)
    return idx[~first].reshape(idx.shape[0], k).astype(np.int64)


@torch.no_grad()
def embedding_neighbors(bank: torch.Tensor, n_neighbors: int, chunk_size: int = _SEARCH_CHUNK) -> torch.Tensor:
    """Cosine ``n_neighbors`` nearest neighbours of every row of ``bank`` (itself excluded).

    Searched ``chunk_size`` rows at a time: memory ``O(chunk_size * n)``, never ``n * n``.

    Examples
    --------
    >>> import torch
    >>> from deepclust.training.neighbors import embedding_neighbors
    >>> bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> embedding_neighbors(bank, 1)[:, 0].tolist()
    [1, 0, 3, 2]
    """
    n = bank.shape[0]
    k = max(1, min(int(n_neighbors), n - 1))
    z = F.normalize(bank.float(), dim=1)
    out = torch.empty((n, k), dtype=torch.long, device=bank.device)
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        sim = z[start:stop] @ z.T
        sim[torch.arange(stop - start, device=bank.device), torch.arange(start, stop, device=bank.device)] = -math.inf
        out[start:stop] = sim.topk(k, dim=1).indices
    return out


class NeighborPositives:
    """Draws each sample's partner for the second view (see the module docstring).

    Parameters
    ----------
    source : {"input", "embedding", "both"}
        Which graph the neighbours come from ("both": each draw picks one of the two graphs
        at random, once the embedding graph exists).
    n_neighbors : int
        k, the neighbours a partner is drawn from.
    probability : float
        Chance that the second view of a sample is a neighbour (else the sample itself).
    warmup_epochs : int
        Epochs before the embedding graph is first built (the representation is random
        before); the input graph is used from the start.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from deepclust.training.neighbors import NeighborPositives
    >>> X = np.array([[0.0], [0.1], [5.0], [5.2]], dtype=np.float32)
    >>> pos = NeighborPositives("input", n_neighbors=1, probability=1.0)
    >>> pos.setup(X, mean=[0.0], std=[1.0], feature_dim=2, device=torch.device("cpu"), seed=0)
    >>> pos.partners(torch.arange(4), torch.Generator().manual_seed(0)).tolist()
    [1, 0, 3, 2]
    """

    def __init__(self, source: str, n_neighbors: int = 10, probability: float = 0.5, warmup_epochs: int = 1):
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}; got {source!r}.")
        self.source = source
        self.n_neighbors = int(n_neighbors)
        self.probability = float(probability)
        self.warmup_epochs = int(warmup_epochs)
        self.input_graph: torch.Tensor | None = None
        self.embedding_graph: torch.Tensor | None = None
        self.bank: torch.Tensor | None = None

    @property
    def uses_embedding(self) -> bool:
        return self.source in ("embedding", "both")

    @property
    def uses_input(self) -> bool:
        return self.source in ("input", "both")

    def setup(self, X, mean, std, feature_dim: int, device: torch.device, seed: int, input_graph=None) -> None:
        """Build the input graph (or take ``input_graph``, the fit's shared one) and allocate the bank."""
        n = X.shape[0]
        self.device = device
        if self.uses_input:
            if input_graph is None:
                input_graph = input_neighbors(X, mean, std, self.n_neighbors, seed)
            self.input_graph = torch.as_tensor(np.asarray(input_graph), dtype=torch.long, device=device)
        if self.uses_embedding:
            self.bank = torch.zeros((n, feature_dim), dtype=torch.float32, device=device)
            self.seen = torch.zeros(n, dtype=torch.bool, device=device)

    def on_epoch_begin(self, epoch: int) -> None:
        """Refresh the embedding graph from the bank (once every sample has been seen)."""
        if self.uses_embedding and epoch >= self.warmup_epochs and bool(self.seen.all()):
            self.embedding_graph = embedding_neighbors(self.bank, self.n_neighbors)

    @torch.no_grad()
    def update(self, index: torch.Tensor, features: torch.Tensor) -> None:
        """Store the backbone features of the samples at ``index`` (finite rows only)."""
        if not self.uses_embedding:
            return
        features = features.detach().float()
        finite = torch.isfinite(features).all(dim=1)
        self.bank[index] = torch.where(finite[:, None], features, self.bank[index])
        self.seen[index] |= finite

    def _graphs(self) -> list[torch.Tensor]:
        return [g for g in (self.input_graph, self.embedding_graph) if g is not None]

    def partners(self, index: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The sample whose view becomes the second view of each sample at ``index``.

        Draws from ``generator`` (CPU) in a fixed order whatever the graphs, so a run is
        reproducible; returns ``index`` where no graph exists yet.
        """
        graphs = self._graphs()
        n = index.numel()
        use = torch.rand(n, generator=generator) < self.probability
        column = torch.randint(0, 2**31 - 1, (n,), generator=generator)
        which = torch.randint(0, 2, (n,), generator=generator)
        if not graphs:
            return index
        idx = index.to(graphs[0].device)
        choice = graphs[0][idx, (column % graphs[0].shape[1]).to(idx.device)]
        if len(graphs) == 2:
            other = graphs[1][idx, (column % graphs[1].shape[1]).to(idx.device)]
            choice = torch.where(which.to(idx.device).bool(), other, choice)
        return torch.where(use.to(idx.device), choice, idx).to(index.device)

    def state_dict(self) -> dict:
        return {"bank": self.bank, "seen": getattr(self, "seen", None), "embedding_graph": self.embedding_graph}

    def load_state_dict(self, state: dict) -> None:
        for name in ("bank", "seen", "embedding_graph"):
            value = state.get(name)
            setattr(self, name, None if value is None else value.to(self.device))

    def teardown(self) -> None:
        self.input_graph = self.embedding_graph = self.bank = None
