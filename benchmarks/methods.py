"""Registry of clustering methods for the benchmark.

Each entry is ``fn(ds, fit_index, test_index, seed, max_epochs, device, preset) -> Result``:
fit on ``ds.X[fit_index]`` (all of ``ds.X`` under the literature protocol), return the
labels of the fitted samples and, where the method can assign unseen samples, the labels
of ``ds.X[test_index]`` (the held-back split). ``seconds`` is the wall time of fitting and
labelling the fitted samples (not the held-back prediction, not data loading).

Methods:

* ``drc``, ``scl``, ``jcl``: the deepclust estimators with their defaults (``n_clusters``,
  ``random_state`` and ``device`` set; ``max_epochs`` only when ``--max-epochs`` is given).
  Imported lazily: a method whose class is missing is reported as unavailable.
* ``kmeans``: ``sklearn.cluster.KMeans(n_init=10)`` on raw pixels scaled to [0, 1]; on a tabular
  set on the raw values as published (what a user would pass).
* ``kmeans_std``: the same KMeans on standardised features (``StandardScaler`` fitted on the
  fitted samples).
* ``gmm_std``: ``GaussianMixture`` (full covariance, ``n_init=1``, ``random_state=seed``) on
  standardised features; ``reg_covar`` 1e-6, raised 100-fold (up to 1e-2) when a fit fails on an
  ill-defined covariance. Skipped on images of more than ``GMM_MAX_PIXELS`` values.
* ``tsne_kmeans``: sklearn t-SNE (2-D, PCA init) on raw pixels, then KMeans. Cannot assign
  unseen samples.
* ``umap_kmeans``: umap-learn (10-D, ``n_neighbors=20``, ``min_dist=0``, N2D's settings) on
  raw pixels, then KMeans; unseen samples via ``UMAP.transform``.
* ``dec``, ``idec``: ClustPy's DEC / IDEC (feed-forward autoencoder 500-500-2000-10,
  ClustPy's defaults: 100 pre-training + 150 clustering epochs; ``--max-epochs E`` sets both
  to E). The reported labels are DEC's own assignments (``dec_labels_``), not ClustPy's
  k-means re-clustering of the final embedding (``labels_``).
* ``n2d``: ClustPy's N2D with UMAP as the manifold learner, as in the N2D paper
  (autoencoder, then UMAP to K dims, then a GMM).

:func:`not_applicable` says why a method is skipped on a data set (run.py prints the reason).
The deep methods also take ``overrides``, estimator parameters from ``--set name=value``
(parsed by :func:`parse_override`), recorded in the config column.
"""

from __future__ import annotations

import argparse
import ast
import time
from dataclasses import dataclass

import numpy as np


class Unavailable(RuntimeError):
    """The method cannot run here (a package is missing); the reason is the message."""


@dataclass
class Result:
    labels_fit: np.ndarray
    labels_test: np.ndarray | None
    seconds: float
    epochs: str
    device: str
    config: str


# --------------------------------------------------------------------------- deep estimators
DEEP = {"drc": "DRCClustering", "scl": "SCLClustering", "jcl": "JCLClustering"}

#: Named settings for the deepclust estimators. "default" is the estimator's defaults.
PRESETS = {
    "default": {},
    # CIFAR-10 GPU protocol: ResNet-18 with the CIFAR stem, CC augmentations, batch 256.
    "cifar-gpu": {"backbone": "resnet18", "augment": "cc", "batch_size": 256, "lr": 3e-4},
    # The same recipe shrunk for a CPU: the small CNN, CC augmentations, batch 256.
    "cifar-cpu-reduced": {"backbone": "cnn", "augment": "cc", "batch_size": 256, "lr": 3e-4},
}


def deep_class(name: str):
    import deepclust

    cls_name = DEEP[name]
    cls = getattr(deepclust, cls_name, None)
    if cls is None:
        raise Unavailable(f"deepclust.{cls_name} is not available in this checkout")
    return cls


#: ``--curve N``: print the cluster head's ACC on N fitted samples after every epoch.
CURVE_SAMPLES: int | None = None


def _learning_curve(estimator, X, y):
    """A callback printing the head's ACC on ``(X, y)`` after each epoch; its time is kept apart."""
    from deepclust.metrics import cluster_accuracy
    from deepclust.training.callbacks import Callback

    class LearningCurve(Callback):
        seconds = 0.0

        def on_epoch_end(self, trainer, entry):
            t0 = time.perf_counter()
            # predict() needs the fitted attributes; lend it the network being trained and put
            # back whatever was there (nothing, unless the fit continues an earlier one).
            saved = {k: estimator.__dict__.pop(k) for k in ("module_", "device_") if k in estimator.__dict__}
            estimator.module_, estimator.device_ = trainer.module, trainer.device
            try:
                acc = cluster_accuracy(y, estimator.predict(X))
            finally:
                del estimator.module_, estimator.device_
                estimator.__dict__.update(saved)
                trainer.module.train()
                trainer.forward_module.train()
            self.seconds += time.perf_counter() - t0
            print(f"    epoch {entry['epoch']}: ACC {acc:.4f} on {len(y)} fitted samples "
                  f"({entry['seconds']:.0f}s)", flush=True)

    return LearningCurve()


def deep_estimator(name: str, ds, seed: int, max_epochs=None, device="auto", preset: str = "default", **overrides):
    """The unfitted deepclust estimator ``name`` for data set ``ds``, as every benchmark script builds it.

    Its defaults, then the ``preset``'s settings, the data set's ``n_clusters`` and ``image_shape``,
    ``seed`` and ``device``, parameter ``overrides``, and ``max_epochs`` when given.
    """
    params = dict(PRESETS[preset])
    params.update(n_clusters=ds.n_clusters, random_state=seed, device=device)
    params.update(overrides)
    if ds.image_shape is not None:
        params["image_shape"] = ds.image_shape
    if max_epochs is not None:
        params["max_epochs"] = int(max_epochs)
    return deep_class(name)(**params)


def parse_override(text: str) -> tuple[str, object]:
    """``--set name=value``: ``(name, value)``, the value a Python literal where it parses as one,
    else the plain string (``augment=none``)."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--set expects name=value, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value  # a plain string such as augment=none


def overrides_text(overrides: dict) -> str:
    """The config-column form of ``--set`` overrides, ``"set a=1 b='x'"`` (empty if none).

    Each item is ``name=repr(value)``, which :func:`parse_override` reads back to the same value.
    """
    if not overrides:
        return ""
    return "set " + " ".join(f"{k}={v!r}" for k, v in overrides.items())


def _deep(name):
    def run(ds, fit_index, test_index, seed, max_epochs, device, preset, overrides=None):
        overrides = dict(overrides or {})
        est = deep_estimator(name, ds, seed, max_epochs, device, preset, **overrides)
        X_fit = ds.X[fit_index]
        curve = None
        if CURVE_SAMPLES:
            pick = np.random.default_rng(0).permutation(len(fit_index))[:CURVE_SAMPLES]
            curve = _learning_curve(est, X_fit[pick], ds.y[fit_index][pick])
            est.set_params(callbacks=[curve])
        t0 = time.perf_counter()
        labels = est.fit(X_fit).labels_
        seconds = time.perf_counter() - t0 - (curve.seconds if curve is not None else 0.0)
        labels_test = est.predict(ds.X[test_index]) if test_index is not None and len(test_index) else None
        cfg = {k: v for k, v in est.get_params().items() if k in ("backbone", "augment", "batch_size", "lr", "max_epochs", "tol", "n_init", "restart_fraction", "head_refit")}
        config = f"{preset}: " + " ".join(f"{k}={v}" for k, v in cfg.items())
        if overrides:
            config += " | " + overrides_text(overrides)
        return Result(labels, labels_test, seconds, str(est.n_iter_), str(est.device_), config)

    return run


# --------------------------------------------------------------------------- baselines
def _kmeans(ds, fit_index, test_index, seed, max_epochs, device, preset):
    from sklearn.cluster import KMeans

    X = ds.flat01(fit_index)
    t0 = time.perf_counter()
    km = KMeans(ds.n_clusters, n_init=10, random_state=seed).fit(X)
    seconds = time.perf_counter() - t0
    test = km.predict(ds.flat01(test_index)) if test_index is not None and len(test_index) else None
    what = "raw values" if getattr(ds, "tabular", False) else "raw pixels in [0,1]"
    return Result(km.labels_, test, seconds, "", "cpu", f"KMeans(n_init=10) on {what}")


def _standardised(ds, fit_index, test_index):
    """Features standardised with a ``StandardScaler`` fitted on the fitted samples only."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(ds.flat01(fit_index))
    X = scaler.transform(ds.flat01(fit_index))
    X_test = scaler.transform(ds.flat01(test_index)) if test_index is not None and len(test_index) else None
    return X, X_test


def _kmeans_std(ds, fit_index, test_index, seed, max_epochs, device, preset):
    from sklearn.cluster import KMeans

    t0 = time.perf_counter()
    X, X_test = _standardised(ds, fit_index, test_index)
    km = KMeans(ds.n_clusters, n_init=10, random_state=seed).fit(X)
    seconds = time.perf_counter() - t0
    test = km.predict(X_test) if X_test is not None else None
    return Result(km.labels_, test, seconds, "", "cpu", "StandardScaler + KMeans(n_init=10)")


def _gmm_std(ds, fit_index, test_index, seed, max_epochs, device, preset):
    from sklearn.mixture import GaussianMixture

    t0 = time.perf_counter()
    X, X_test = _standardised(ds, fit_index, test_index)
    # A component can collapse onto a few samples (digits_flat, seed 0: "ill-defined empirical
    # covariance"); then the fit is repeated with a 100x larger reg_covar, a fixed rule so the
    # row stays reproducible from its config text.
    reg = 1e-6
    while True:
        try:
            gmm = GaussianMixture(ds.n_clusters, covariance_type="full", n_init=1, reg_covar=reg,
                                  random_state=seed).fit(X)
            break
        except ValueError:
            if reg >= 1e-2:
                raise
            reg *= 100
            print(f"    gmm_std seed {seed}: ill-defined covariance, refitting with reg_covar={reg:g}", flush=True)
    labels = gmm.predict(X)
    seconds = time.perf_counter() - t0
    test = gmm.predict(X_test) if X_test is not None else None
    # epochs stays empty: EM iterations differ by seed and would split the seeds' group in the tables
    return Result(labels, test, seconds, "", "cpu",
                  "StandardScaler + GaussianMixture(full covariance, n_init=1, reg_covar 1e-6, x100 on a failed fit)")


def _tsne_kmeans(ds, fit_index, test_index, seed, max_epochs, device, preset):
    from sklearn.cluster import KMeans
    from sklearn.manifold import TSNE

    X = ds.flat01(fit_index)
    t0 = time.perf_counter()
    emb = TSNE(n_components=2, init="pca", random_state=seed).fit_transform(X)
    labels = KMeans(ds.n_clusters, n_init=10, random_state=seed).fit_predict(emb)
    seconds = time.perf_counter() - t0
    return Result(labels, None, seconds, "", "cpu", "TSNE(2, init=pca) + KMeans(n_init=10); cannot predict unseen data")


def _umap_kmeans(ds, fit_index, test_index, seed, max_epochs, device, preset):
    try:
        import umap
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise Unavailable(f"umap-learn is not installed ({exc})") from None
    from sklearn.cluster import KMeans

    X = ds.flat01(fit_index)
    t0 = time.perf_counter()
    reducer = umap.UMAP(n_components=ds.n_clusters, n_neighbors=20, min_dist=0.0, random_state=seed)
    emb = reducer.fit_transform(X)
    km = KMeans(ds.n_clusters, n_init=10, random_state=seed).fit(emb)
    seconds = time.perf_counter() - t0
    test = None
    if test_index is not None and len(test_index):
        test = km.predict(reducer.transform(ds.flat01(test_index)))
    return Result(km.labels_, test, seconds, "", "cpu", "UMAP(K dims, n_neighbors=20, min_dist=0) + KMeans(n_init=10)")


def _import_clustpy():
    """Import clustpy.deep; torchvision (imported by clustpy.data) is made importable first.

    The PyPI torchvision wheel next to a CPU-only torch fails on import; deepclust's
    ``import_torchvision`` works around it (ClustPy's DEC/IDEC/N2D do not use torchvision).
    """
    try:
        from deepclust.nn.resnet import import_torchvision

        import_torchvision()
    except Exception:
        pass
    try:
        import clustpy.deep
    except ImportError as exc:
        raise Unavailable(f"clustpy is not installed ({exc})") from None
    return clustpy.deep


def _clustpy_device(device):
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _clustpy_dec(kind):
    def run(ds, fit_index, test_index, seed, max_epochs, device, preset):
        cp = _import_clustpy()
        cls = cp.DEC if kind == "dec" else cp.IDEC
        kw = {}
        if max_epochs is not None:
            kw = {"pretrain_epochs": int(max_epochs), "clustering_epochs": int(max_epochs)}
        dev = _clustpy_device(device)
        model = cls(n_clusters=ds.n_clusters, random_state=seed, device=dev, **kw)
        X = ds.flat01(fit_index)
        t0 = time.perf_counter()
        model.fit(X)
        seconds = time.perf_counter() - t0
        test = None
        if test_index is not None and len(test_index):
            test = model.predict(ds.flat01(test_index), cluster_centers=model.dec_cluster_centers_)
        epochs = f"{model.pretrain_epochs}+{model.clustering_epochs}"
        config = f"ClustPy {cls.__name__} defaults (AE 500-500-2000-10, batch 256); labels = {kind.upper()} assignments"
        return Result(np.asarray(model.dec_labels_), test, seconds, epochs, str(dev), config)

    return run


def _clustpy_n2d(ds, fit_index, test_index, seed, max_epochs, device, preset):
    N2D = _import_clustpy().N2D
    try:
        import umap
    except ImportError as exc:  # pragma: no cover
        raise Unavailable(f"umap-learn is not installed ({exc})") from None
    kw = {"pretrain_epochs": int(max_epochs)} if max_epochs is not None else {}
    dev = _clustpy_device(device)
    model = N2D(
        n_clusters=ds.n_clusters,
        manifold_class=umap.UMAP,
        manifold_params={"n_components": ds.n_clusters, "n_neighbors": 20, "min_dist": 0.0, "random_state": seed},
        random_state=seed,
        device=dev,
        **kw,
    )
    X = ds.flat01(fit_index)
    t0 = time.perf_counter()
    model.fit(X)
    seconds = time.perf_counter() - t0
    test = model.predict(ds.flat01(test_index)) if test_index is not None and len(test_index) else None
    return Result(np.asarray(model.labels_), test, seconds, str(model.pretrain_epochs), str(dev),
                  "ClustPy N2D: AE pre-training, UMAP(K dims, n_neighbors=20, min_dist=0), GMM")


METHODS = {
    "drc": _deep("drc"),
    "scl": _deep("scl"),
    "jcl": _deep("jcl"),
    "kmeans": _kmeans,
    "kmeans_std": _kmeans_std,
    "gmm_std": _gmm_std,
    "tsne_kmeans": _tsne_kmeans,
    "umap_kmeans": _umap_kmeans,
    "dec": _clustpy_dec("dec"),
    "idec": _clustpy_dec("idec"),
    "n2d": _clustpy_n2d,
}

DEEP_METHODS = ("drc", "scl", "jcl")
BASELINES = ("kmeans", "kmeans_std", "gmm_std", "tsne_kmeans", "umap_kmeans", "dec", "idec", "n2d")
#: The classical baselines whose best is the dev-suite reference ("best classical").
CLASSICAL = ("kmeans", "kmeans_std", "gmm_std")

#: A full-covariance GMM on images with more values than this (COIL-20, CIFAR-10) is skipped:
#: d x d covariances per component, fitted on fewer samples than parameters.
GMM_MAX_PIXELS = 1000
#: sklearn's t-SNE is skipped above this many fitted rows (hours on a shared CPU).
TSNE_MAX_ROWS = 20000


def not_applicable(method: str, ds, n_fit: int) -> str | None:
    """Why ``method`` is skipped on data set ``ds`` with ``n_fit`` fitted samples, or ``None``."""
    tabular = getattr(ds, "tabular", False)
    n_features = int(np.prod(ds.X.shape[1:]))
    if method == "gmm_std" and not tabular and n_features > GMM_MAX_PIXELS:
        return (f"full-covariance GMM on {n_features}-value images (> {GMM_MAX_PIXELS}): "
                f"{n_features * (n_features + 1) // 2:,} covariance parameters per component")
    if method == "tsne_kmeans" and n_fit > TSNE_MAX_ROWS:
        return f"t-SNE on {n_fit:,} rows (> {TSNE_MAX_ROWS:,})"
    return None


def availability() -> dict[str, str]:
    """``{method: "ok" or the reason it cannot run}`` without running anything."""
    out = {}
    for name in METHODS:
        try:
            if name in DEEP:
                deep_class(name)
            elif name in ("umap_kmeans",):
                import umap  # noqa: F401
            elif name in ("dec", "idec"):
                _import_clustpy()
            elif name == "n2d":
                _import_clustpy()
                import umap  # noqa: F401
            out[name] = "ok"
        except Unavailable as exc:
            out[name] = str(exc)
        except Exception as exc:  # an import error inside a half-written module, for instance
            out[name] = f"{type(exc).__name__}: {exc}"
    return out
