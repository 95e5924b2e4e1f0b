"""The fit's summary of its input, shared by every restart: statistics, reduction, graph, prior.

A fit with ``n_init`` restarts trains several networks on the same data. What the engine
derives from the *data* (not from a network) is computed once per fit, from the fit's seed,
and handed to every restart: the per-feature (or per-channel) standardisation statistics,
the standardised and PCA-reduced input, its nearest-neighbour graph (the input neighbour
positives), its clusters (k-means for the cluster prior; k-means or a full-covariance
Gaussian mixture for the tables' within-cluster noise), the mixture itself with its
stability (whose components shape the default noise where it is stable, and whose
confident core the default head refit learns there), the prior's
shares and the pooled within-cluster covariance of the noise's clusters. Each is computed on first use only, so a fit that
uses none of them never reduces its input. Restart 0 is therefore exactly the ``n_init=1``
fit, and the later restarts differ from it by their network's seed alone; on a large table
the reduction and the brute-force neighbour search, which can take longer than training,
are not repeated.
"""

from __future__ import annotations

import numpy as np

from ..augment.background import background_share
from .cluster_noise import within_cluster_factor
from .input_mixture import CORE_RESAMPLES, InputMixture, fit_input_mixture, reproduced_rows
from .neighbors import floored_scale, input_neighbors, reduced_input
from .prior import cluster_rows, input_cluster_prior, input_clusters


class InputSpace:
    """Lazily computed, cached summaries of the training data ``X`` of one fit.

    Parameters
    ----------
    X : ndarray or numpy.memmap
        Training data in model layout; read in chunks, never modified.
    mean, std : array-like
        Per-feature (or per-channel) standardisation statistics of ``X``.
    seed : int
        The fit's seed: seeds the PCA of wide inputs and the input's clusterings.
    scale_floor : float, default=0.0
        The input graph's metric divides each feature by ``max(std, scale_floor *
        median(std))`` (:func:`floored_scale`; 0: the standardisation itself). Only the
        neighbour graph uses it; the reduced input of the clusterings and the noise does not.
    search : {"auto", "exact", "approximate"}, default="auto"
        How the neighbour graph is searched (:func:`~deepclust.training.neighbors.resolve_search`).

    Examples
    --------
    >>> import numpy as np
    >>> from deepclust.training.input_space import InputSpace
    >>> X = np.array([[0.0], [0.1], [5.0], [5.2]], dtype=np.float32)
    >>> space = InputSpace(X, mean=[0.0], std=[1.0], seed=0)
    >>> space.neighbors(1)[:, 0].tolist()
    [1, 0, 3, 2]
    >>> space.neighbors(1) is space.neighbors(1)  # computed once
    True
    >>> space.cluster_prior(2).round(2).tolist()
    [0.5, 0.5]
    >>> space.within_cluster_factor(2).shape  # (reduced width, n_features)
    (1, 1)
    >>> space.within_cluster_factor(2, clusterer="gmm").shape  # of a Gaussian mixture's clusters
    (1, 1)
    """

    def __init__(self, X, mean, std, seed: int, scale_floor: float = 0.0, search: str = "auto"):
        self.X = X
        self.search = search
        self.mean = mean
        self.std = std
        self.seed = int(seed)
        self.scale_floor = float(scale_floor)
        self._reduced: np.ndarray | None = None
        self._components: np.ndarray | None = None
        self._center: np.ndarray | None = None
        self._mixtures: dict[int, InputMixture | None] = {}
        self._reproduced: dict[tuple[int, int], np.ndarray] = {}
        self._graphs: dict[int, np.ndarray] = {}
        self._clusters: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
        self._factors: dict[tuple[int, str], np.ndarray] = {}
        self._background: dict[tuple[float, float], float] = {}

    def background_share(self, value_range: tuple[float, float]) -> float:
        """The images' share of pixel values in their most common value band
        (:func:`~deepclust.augment.background.background_share`), read once per fit."""
        key = (float(value_range[0]), float(value_range[1]))
        if key not in self._background:
            self._background[key] = background_share(self.X, key)
        return self._background[key]

    def reduced(self) -> np.ndarray:
        """The standardised, flattened and (where wide) PCA-reduced input (:func:`reduced_input`)."""
        if self._reduced is None:
            self._reduced, self._components, self._center = reduced_input(
                self.X, self.mean, self.std, self.seed, return_components=True
            )
        return self._reduced

    def neighbors(self, n_neighbors: int) -> np.ndarray:
        """The ``n_neighbors`` nearest neighbours of every row (:func:`input_neighbors`).

        In :meth:`reduced` where the scale floor changes no feature's divisor; otherwise in
        the input reduced the same way with the floored divisors (:func:`floored_scale`).
        """
        k = int(n_neighbors)
        if k not in self._graphs:
            scale = floored_scale(self.std, self.scale_floor)
            if np.array_equal(scale, np.asarray(self.std, dtype=np.float32).ravel()):
                self._graphs[k] = input_neighbors(
                    self.X, self.mean, self.std, k, self.seed, reduced=self.reduced(), search=self.search
                )
            else:
                self._graphs[k] = input_neighbors(self.X, self.mean, scale, k, self.seed, search=self.search)
        return self._graphs[k]

    def cluster_rows(self) -> np.ndarray:
        """The rows every clustering of the input is fitted on (:func:`cluster_rows`: at most 20,000)."""
        return cluster_rows(self.X.shape[0], self.seed)

    def clusters(self, n_clusters: int, clusterer: str = "kmeans") -> tuple[np.ndarray, np.ndarray]:
        """``clusterer`` ("kmeans" or "gmm") on :meth:`reduced` (:func:`input_clusters`): the rows
        it was fitted on (the same rows for either), their labels."""
        key = (int(n_clusters), clusterer)
        if key not in self._clusters:
            if clusterer == "gmm":
                # The mixture's labels (fitted once, with its stability): where none can be
                # fitted (or K < 2), input_clusters would fall back to this same k-means.
                mixture = self.mixture(key[0])
                self._clusters[key] = self.clusters(key[0]) if mixture is None else (self.cluster_rows(), mixture.labels)
            else:
                self._clusters[key] = input_clusters(self.reduced(), key[0], self.seed, clusterer)
        return self._clusters[key]

    def mixture(self, n_clusters: int) -> InputMixture | None:
        """The full-covariance Gaussian mixture of :meth:`cluster_rows` with its stability
        (:func:`fit_input_mixture`); None where it cannot be fitted. Its labels are
        :meth:`clusters` ``(n_clusters, "gmm")``."""
        k = int(n_clusters)
        if k not in self._mixtures:
            rows = self.cluster_rows()
            fitted = k >= 2 and rows.size > k
            self._mixtures[k] = fit_input_mixture(self.reduced()[rows], k, self.seed) if fitted else None
        return self._mixtures[k]

    def mixture_state(self, n_clusters: int) -> str | None:
        """What the engine made of the input's mixture for K clusters (fitting it if need be):
        "stable", "unstable", or None where none could be fitted.

        Examples
        --------
        >>> import numpy as np
        >>> from deepclust.training.input_space import InputSpace
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (50, 2)), rng.normal(9, 1, (50, 2))].astype(np.float32)
        >>> InputSpace(X, X.mean(0), X.std(0), seed=0).mixture_state(2)
        'stable'
        """
        mixture = self.mixture(n_clusters)
        if mixture is None:
            return None
        return "stable" if mixture.stable else "unstable"

    def mixture_noise(self, n_clusters: int, stable_only: bool = False) -> dict | None:
        """The arguments of :class:`~deepclust.augment.MixtureNoise` for :meth:`mixture` (None
        where there is none, or with ``stable_only`` where it is not stable): the mixture, and
        the maps from the raw features to the reduced space (``(x - center) @ projection``)
        and back (``back``)."""
        mixture = self.mixture(n_clusters)
        if mixture is None or (stable_only and not mixture.stable):
            return None
        std = np.asarray(self.std, dtype=np.float64).reshape(-1)
        mean = np.asarray(self.mean, dtype=np.float64).reshape(-1)
        # reduced = ((x - mean) / std - pca_center) @ components.T; a reduced step v is v @ components * std.
        components = np.eye(std.size) if self._components is None else np.asarray(self._components, np.float64)
        center = mean if self._center is None else mean + std * self._center
        return {
            "means": mixture.means, "covariances": mixture.covariances, "weights": mixture.weights,
            "projection": components.T / std[:, None], "center": center, "back": components * std[None, :],
        }

    def mixture_core(self, n_clusters: int, resamples: int = CORE_RESAMPLES) -> tuple[np.ndarray, np.ndarray] | None:
        """The confident core of a stable :meth:`mixture` (:meth:`InputMixture.core`): the
        training rows whose mixture cluster has posterior probability at least
        :data:`~deepclust.training.input_mixture.CORE_POSTERIOR` or is reproduced by every one
        of ``resamples`` refits on resampled rows
        (:func:`~deepclust.training.input_mixture.reproduced_rows`; 0: the posterior alone, the
        core before session 27), and those clusters. None where the mixture is missing or
        unstable, or a cluster has no core."""
        mixture = self.mixture(n_clusters)
        if mixture is None or not mixture.stable:
            return None
        key = (int(n_clusters), int(resamples))
        if resamples > 0 and key not in self._reproduced:  # once per fit, for every restart's refit
            self._reproduced[key] = reproduced_rows(self.reduced()[self.cluster_rows()], mixture, self.seed, resamples)
        core = mixture.core(reproduced=self._reproduced.get(key))
        return None if core is None else (self.cluster_rows()[core], mixture.labels[core])

    def cluster_prior(self, n_clusters: int) -> np.ndarray:
        """The k-means cluster shares of :meth:`reduced`, mixed with equal shares (:mod:`~deepclust.training.prior`)."""
        k = int(n_clusters)
        return input_cluster_prior(self.reduced(), k, labels=self.clusters(k)[1])

    def within_cluster_factor(
        self, n_clusters: int, labels: np.ndarray | None = None, clusterer: str = "kmeans"
    ) -> np.ndarray:
        """The factor of the pooled within-cluster covariance of :meth:`clusters` (:func:`within_cluster_factor`).

        With ``labels`` (other clusters of :meth:`cluster_rows`, e.g. a network's), the factor
        of those clusters instead (computed afresh, not cached; no clustering of the input runs).
        """
        if labels is not None:
            rows = self.cluster_rows()
            return within_cluster_factor(self.reduced()[rows], labels, self._components, self.std)
        key = (int(n_clusters), clusterer)
        if key not in self._factors:
            rows, labels = self.clusters(*key)
            self._factors[key] = within_cluster_factor(self.reduced()[rows], labels, self._components, self.std)
        return self._factors[key]
