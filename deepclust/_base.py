"""The scikit-learn face shared by every deepclust estimator."""

from __future__ import annotations

import copy
import functools
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._data import InputLayout, feature_statistics, validate_input, value_range
from ._device import autocast_dtype, device_available, resolve_device
from .augment.presets import PRESETS as AUGMENT_PRESETS
from .augment.ops import CorrelatedNoise
from .augment.presets import auto_preset, noise_follows_clusters, resolve_augment
from .nn.backbones import build_backbone, infer_out_features
from .nn.model import ClusterNet, Standardize
from .objectives.base import Objective
from .training.budget import AUTO_STEPS, ConvergenceStop, resolve_max_epochs
from .training.callbacks import Callback, PrintLog, ProgressBar
from .training.cluster_noise import ClusterNoiseRefresh
from .training import distributed as _distributed
from .training.data import TensorStore
from .training.neighbors import SCALE_FLOOR_AUTO, NeighborPositives
from .training.neighbors import SEARCHES as NEIGHBOR_SEARCHES
from .training.neighbors import SOURCES as NEIGHBOR_SOURCES
from .training.input_space import InputSpace
from .training.head_refit import HEAD_REFITS, refit_head, resolve_head_refit
from .training.restarts import (
    CRITERION_NAMES,
    RESTART_CRITERIA,
    mutual_information,
    resolve_n_init,
    restart_seeds,
    restart_value,
    trial_epochs,
)
from .training.rng import SeedManager, seed_from_random_state
from .training.trainer import Trainer
from .training.warm_start import WarmStart, training_state

#: What cluster_prior="auto" means, for tabular data and for images. The input prior was
#: measured on tables only (breast cancer 0.871 -> 0.899 for DRC, the balanced sets within
#: +-0.01); images keep the papers' equal shares until it is measured there.
CLUSTER_PRIOR_AUTO = {"tabular": "input", "image": "uniform"}


class DeviceWarning(UserWarning):
    """A model fitted on one device is loaded where that device is not available.

    Raised when a model fitted on a CUDA GPU is unpickled on a machine without CUDA. The
    model is then moved to the CPU (``device_`` says so) and works as before, only slower.
    Nothing needs to be done; silence the warning with :func:`warnings.filterwarnings` when
    the move is intended, or turn it into an error when a GPU is required.

    Examples
    --------
    A model fitted on the CPU loads without the warning; for a GPU-fitted model loaded on a
    CPU-only machine, the filter below keeps the load quiet:

    >>> import pickle
    >>> import warnings
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering, DeviceWarning
    >>> X, _ = make_blobs(n_samples=40, centers=2, random_state=0)
    >>> model = DRCClustering(n_clusters=2, max_epochs=1, batch_size=20, device="cpu", random_state=0)
    >>> blob = pickle.dumps(model.fit(X))
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeviceWarning)
    ...     loaded = pickle.loads(blob)
    >>> loaded.device_
    device(type='cpu')
    >>> issubclass(DeviceWarning, UserWarning)
    True
    """


class ClusterCollapseWarning(UserWarning):
    """The fitted model assigns the training data to fewer than ``n_clusters`` clusters.

    Raised at the end of ``fit`` when ``labels_`` uses fewer than ``n_clusters`` distinct
    clusters. The model is still usable, but some clusters are empty. What to do: train
    longer (``max_epochs``), raise the method's balance weight, use a smaller
    ``n_clusters``, or check the data for duplicated rows and constant features;
    ``history_[i]["n_clusters_used"]`` shows how the number of clusters in use evolved.

    Examples
    --------
    Identical samples can only fill one cluster, so this fit collapses:

    >>> import warnings
    >>> import numpy as np
    >>> from deepclust import ClusterCollapseWarning, DRCClustering
    >>> X = np.zeros((20, 4))
    >>> model = DRCClustering(n_clusters=2, max_epochs=1, batch_size=10, device="cpu", random_state=0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", ClusterCollapseWarning)
    ...     _ = model.fit(X)
    >>> [w.category.__name__ for w in caught]
    ['ClusterCollapseWarning']
    >>> len(np.unique(model.labels_))
    1

    To reject collapsed fits (e.g. in a loop over seeds), turn the warning into an error:

    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", ClusterCollapseWarning)
    ...     try:
    ...         _ = model.fit(X)
    ...     except ClusterCollapseWarning as exc:
    ...         print("collapsed:", "n_clusters=2" in str(exc))
    collapsed: True
    """


# Inference runs in chunks of exactly this many rows (the last one zero-padded): kernels then
# see the same shapes whatever the number of samples, so a sample's output does not depend
# on how many others are predicted with it (bitwise on the CPU).
_INFERENCE_BATCH = 256


# The parameters every estimator shares, documented once: an estimator docstring holds the
# marker line below in its Parameters section and __init_subclass__ puts this text there.
_COMMON_PARAMETERS_MARKER = "    [common parameters]\n"
_COMMON_PARAMETERS_DOC = """    n_clusters : int, default=10
        Number of clusters K (at least 1, at most ``n_samples``). With K = 1, as with
        ``KMeans(n_clusters=1)``, every label is 0 and ``predict_proba`` is all ones; the
        cluster terms of the losses are then 0 (finite, no gradient) and only the
        instance-level terms train the representation: SCL's instance contrast throughout,
        JCL's joint contrast during its warm-up only (then every pair is a positive and
        its loss is 0), DRC's logit contrast on the sign of its one logit (little to learn).
    backbone : {"auto", "mlp", "cnn", "resnet18", "resnet34"} or torch.nn.Module, default="auto"
        Feature extractor. "auto" is "mlp" for tabular input, "resnet18" for RGB images of
        at least 16 px a side (CIFAR stem up to 64 px, ImageNet stem above) and "cnn" (a
        small VGG-style CNN) for grey or smaller images. A module
        must map a standardised batch of the model layout (``(B, n_features)`` or
        ``(B, C, H, W)``) to ``(B, D)``; it is deep-copied, never trained in place.
    augment : {"auto", "cc", "simclr", "light", "grey", "handwriting", "tabular", "scarf", "cluster_noise", \
"mixture_noise", "pooled_cluster_noise", "kmeans_cluster_noise", "network_cluster_noise"}, None or callable, \
default="auto"
        How the two views are made. "auto": for tabular data "cluster_noise" (Gaussian
        noise shaped by a full-covariance Gaussian mixture of the input, so that a view
        varies a row the way rows vary inside clusters; ours: where the mixture's
        initialisations agree (or its best solution recurs), each row's noise has 0.7 times
        its own component's covariance, "mixture_noise", ``MixtureNoise``; where they disagree, 0.7 times the pooled
        within-cluster covariance of the mixture's clusters, "pooled_cluster_noise", the
        default of session 19; see ``deepclust.training.input_mixture`` and
        ``deepclust.training.cluster_noise``; "kmeans_cluster_noise" pools k-means clusters
        instead, the default before session 19; "network_cluster_noise" uses from epoch 10
        on the within-cluster covariance of the network's own clusters, refreshed after
        every epoch; "scarf" is the
        previous default, each feature resampled from its marginal with p = 0.3, SCARF's
        corruption, and "tabular" the noise + masking before it); for grey images on a blank
        background "handwriting" (an affine + elastic warp, stroke width and noise, made for
        digits, MNIST, USPS; ours, see ``handwriting_preset``), for grey images that fill the
        frame "grey" (a general grey preset: crop, flip, rotation, contrast; ours, session 29:
        the grey CIFAR-10 subset, DRC 0.190 -> 0.292, seed 0), told apart by the share of
        pixel values in their most common value band (at least 0.25: a blank background;
        ``deepclust.augment.background``); CC's recipe for RGB (``rgb_preset``: crop, flip, colour jitter with
        p = 0.8, grayscale p = 0.2, strength s = 0.5 up to 64 px as "cc", s = 1 above and
        blur from 128 px).
        The other names are presets of ``deepclust.augment.presets``. None: no
        augmentation. A callable ``f(x, generator)`` (or
        ``f(x)``) gets a float batch on the training device (uint8 images scaled to
        [0, 1], float data as given) and returns
        one of the same shape; it is called once per step on the batch stacked twice (rows
        ``i`` and ``B + i`` become the two views of sample ``i``), so it must treat samples
        independently. Draw randomness from ``generator`` to keep fits
        reproducible. Lambdas cannot be pickled.
    max_epochs : int or "auto", default="auto"
        Number of passes over the data (``0`` keeps the network at its initialisation).
        "auto" is a budget of about 1,500 optimisation steps whatever the data size:
        ``ceil(1500 / ceil(n_samples / batch_size))`` epochs (``max_epochs_`` says how
        many), e.g. 100 epochs for digits (1,797 samples), 21 for USPS (9,298), 3 for MNIST
        (70,000) at ``batch_size=128``. Chosen on the benchmarks: digits' rows are 100
        epochs (1,500 steps), USPS' 30 epochs (2,190 steps), and MNIST's ACC stays at
        0.959-0.966 from about 1,100 steps on (see
        ``deepclust.training.budget.AUTO_STEPS``). With ``warm_start=True``, "auto" is one
        more such budget. The convergence stop (``tol``) may end training earlier.
    tol : float or None, default=1e-3
        Convergence stop (scikit-learn's meaning, as in ``MLPClassifier``, on a label-free
        signal): training stops when ``labels_changed``, the fraction of samples whose
        cluster changed since the previous epoch, has not improved by at least ``tol``
        over ``n_iter_no_change`` epochs: its mean over the last ``n_iter_no_change``
        epochs is less than ``tol`` below its mean over the ``n_iter_no_change`` before
        (window means, as the signal is measured on random views and jumps by about 0.01
        between epochs). Then ``stop_reason_`` is ``"converged"``. Epochs of the method's
        schedule (SCL's warm-up, JCL's weight ramp) and the first epoch of a fit are not
        counted. A fit that uses all ``max_epochs`` while the mean still fell by ``tol`` or
        more ends with a :class:`~sklearn.exceptions.ConvergenceWarning`; one too short to
        judge (fewer than ``2 * n_iter_no_change`` counted epochs, e.g. MNIST's 3 epochs)
        ends without it (``stop_reason_`` is ``"max_epochs"`` in both cases). None: no
        convergence stop and no warning, always ``max_epochs`` epochs.
    n_iter_no_change : int, default=20
        Length of the two windows of epochs compared by the convergence stop (at least 1;
        at least ``2 * n_iter_no_change`` epochs count before a stop). 20 on the digits
        evidence: with 10, full 100-epoch fits (seed 0) would have stopped DRC after 57
        epochs (ACC 0.966 instead of 0.982), SCL after 55 (0.957, 0.963) and JCL after 75
        (0.972, 0.994), while ACC still crept up; with 15, JCL after 80; with 20 none
        stops within 100 epochs.
    batch_size : int, default=128
        Samples per optimisation step (at least 2). The data is split into
        ``ceil(n_samples / batch_size)`` batches of nearly equal size, so no sample is dropped.
        Under data-parallel training (see ``distributed``) it is the *global* batch: each
        of the ``world_size`` processes forwards about ``batch_size / world_size`` samples.
    lr : float, default=3e-4
        Adam learning rate (CC's value). With ``batch_size=128`` it clearly beat
        ``batch_size=256, lr=1e-3`` on digits (e.g. SCL ACC 0.93 vs 0.67, image path, seed 0).
    weight_decay : float, default=0.0
        Adam weight decay.
    device : {"auto", "cpu", "cuda", "cuda:<index>"} or torch.device, default="auto"
        Where to train and predict. "auto" uses CUDA when available; under data-parallel
        training "auto" and "cuda" mean ``cuda:LOCAL_RANK`` (one GPU per process).
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, batch order and augmentation through local generators;
        the global torch/NumPy/random states are left untouched. The same seed on the CPU
        gives identical results with the same number of torch threads (another count sums
        in another order, which can end in other, e.g. permuted, labels); CUDA kernels are
        not bitwise reproducible.
    warm_start : bool, default=False
        If True and the estimator is fitted, ``fit`` continues training the current network
        for ``max_epochs`` more epochs (with "auto": one more automatic budget on the new
        data) instead of starting over. The training continues
        too, as in skorch: the optimiser state, the epoch counter, the random streams and
        the method's state (SCL's memory bank) carry over, so on the CPU with a seed two
        fits of 2 epochs equal one of 4. The current ``lr``, ``weight_decay`` and
        ``batch_size`` apply. The standardisation (mean and standard deviation) of the first
        fit is kept, whatever the new data. Schedules that depend on the total number of
        epochs (SCL's warm-up fraction, JCL's warm-up and weight ramp) are laid out over the
        epochs done so far plus ``max_epochs``. The input shape, ``n_clusters`` and
        ``backbone`` must be those of the fitted network (ValueError otherwise).
    verbose : int, default=0
        0 is silent. 1 prints a first line with the device, backbone, input layout and
        epoch budget, then one line per epoch (``epoch 3/40``, loss terms, time,
        throughput, elapsed time and the estimated time left), the schedule's milestones
        (e.g. the end of SCL's warm-up, where its loss jumps) and why training stopped. 2
        adds a text progress bar over the batches of each epoch.
    image_shape : tuple of int or None, default=None
        ``(C, H, W)`` (or ``(H, W)`` for grey) of flat image rows in a 2-D ``X``, or the
        channel axis of an ambiguous 4-D ``X``. See "Input layouts" below.
    amp : "auto" or bool, default="auto"
        Mixed precision on CUDA (bfloat16 where supported, else float16 with gradient
        scaling). "auto" and True enable it on CUDA; it is never used on the CPU.
    callbacks : list of Callback or None, default=None
        Extra :class:`deepclust.training.callbacks.Callback` objects called during training.
        Under data-parallel training they run on every rank (printing and checkpoint
        writing happen on rank 0 only).
    compile : bool or dict, default=False
        Run the training forward pass through :func:`torch.compile` (a dict is passed as its
        keyword arguments, e.g. ``{"mode": "max-autotune"}``). The first epochs pay the
        compilation (tens of seconds; on the CPU it needs a C++ compiler); it pays off on
        long GPU fits. The fitted ``module_`` stays a plain ``torch.nn.Module`` (pickling
        and ``state_dict`` keys are unchanged) and inference is not compiled.
    distributed : "auto", bool or dict, default="auto"
        Data-parallel training over ``torch.distributed`` (DDP). "auto": when the script
        runs under ``torchrun`` (``WORLD_SIZE > 1``) or a process group is initialised,
        every process trains one shared model on its share of each batch (the group is
        initialised from torchrun's environment if needed: nccl on CUDA, else gloo);
        otherwise the fit is single-process, as always. True: the same, but an error
        without a process group. False: single-process even inside a process group (e.g.
        a fit on rank 0 only). A dict turns on "auto" with options: ``sync_batchnorm``
        (CUDA only), ``backend``, ``find_unused_parameters``. Every rank must call ``fit``
        with the same data and parameters; the loss and gradients are those of one process
        on the whole batch (negatives gathered from all ranks), only rank 0 prints and
        writes, and every rank ends with the same ``module_`` and ``labels_``. See
        :ref:`distributed`.
    neighbor_positives : {"auto", "input", "embedding", "both"} or None, default="auto"
        Where the second view of a sample may come from (ours, not the papers': SCAN's,
        NNCLR's and NNM's neighbours; see :mod:`deepclust.training.neighbors`). With
        probability ``neighbor_probability`` the second view of sample ``i`` is an augmented
        view of one of its ``n_positive_neighbors`` nearest neighbours: in the input
        ("input": standardised with the ``neighbor_scale_floor`` below, PCA-reduced to 50
        dimensions where wider, computed once per fit), in the learned representation
        ("embedding": refreshed every epoch from the features of the training views) or
        either ("both"). None: both views from the
        sample itself, as in the papers. "auto": "input" for tabular data (DRC on digits as
        64-feature rows: ACC 0.753 -> 0.820, 3 seeds), None for images (on digits images
        input neighbours cost DRC 0.984 -> 0.947 over 3 seeds, although COIL-20 gained
        0.689 -> 0.765, one seed at 30 epochs: mixed evidence, so the papers' pairs stay;
        pass "input", or "embedding" for RGB images, whose pixel neighbours are poor, to
        opt in).
    n_positive_neighbors : int, default=10
        k, the neighbours a partner is drawn from (uniformly).
    neighbor_probability : float, default=0.5
        Chance that a sample's second view is a neighbour's (0 is the same as
        ``neighbor_positives=None``).
    neighbor_scale_floor : float >= 0 or "auto", default="auto"
        How the input neighbours' metric scales features (ours): each feature is divided by
        ``max(std, neighbor_scale_floor * median std)`` instead of its own standard
        deviation, so a near-constant feature (a border pixel that is almost always 0, a
        density that is 0 in most rows) is not blown up until its rare values decide who
        is whose neighbour (``deepclust.training.neighbors.floored_scale``). 0: plain
        standardisation, the behaviour before session 22. Only the neighbour graph uses it;
        the network, the noise and the clusterings of the input keep the standardisation.
        "auto": 1.0 for tabular data (chosen on the development tables, one restart, seeds
        0-2: segmentation DRC / SCL / JCL ACC 0.704 / 0.689 / 0.647 -> 0.756 / 0.828 / 0.747,
        digits as rows 0.897 / 0.866 / 0.818 -> 0.904 / 0.886 / 0.844; the other tables within
        0.016 either way), 0.0 for images.
    neighbor_search : {"auto", "exact", "approximate"}, default="auto"
        How the input neighbour graph (``neighbor_positives`` "input" or "both", the tables'
        default) is searched. "exact": scikit-learn's brute-force
        :class:`~sklearn.neighbors.NearestNeighbors`, whose time grows with the square of
        the rows (50 s for 200,000 rows of 16 features on 2 CPU cores, about 20 minutes for
        a million). "approximate": pynndescent's nearest-neighbour descent (the optional
        extra, ``pip install "deepclust[ann]"``; one thread, so the graph depends only on
        ``random_state``); 4 s for those 200,000 rows, plus 22 s once per process to
        compile its kernels. "auto": exact up to 100,000 rows, approximate above where
        pynndescent is installed (else exact, with a warning).
    cluster_prior : {"auto", "uniform", "input"}, default="auto"
        The cluster shares the balance term pulls towards (ours; see
        :mod:`deepclust.training.prior`). "uniform": equal shares, as in the papers.
        "input": the shares of k-means on the input (the space of the input neighbour
        graph), mixed half-way with equal shares, so unbalanced data (e.g. 212/357) is not
        forced into equal clusters; the shares are compared sorted, whichever cluster has
        which size. "auto": "input" for tabular data (chosen on breast cancer: DRC ACC
        0.871 -> 0.899, 3 seeds), "uniform" for images (not measured there yet).
    n_init : int or "auto", default="auto"
        Number of networks trained from different seeds (restarts, as ``KMeans``'
        ``n_init``; ours, not the papers'); the one whose head has the highest label-free
        ``score`` on the training data (mutual information, see
        :mod:`deepclust.training.restarts`; or the ``restart_criterion`` below) is kept. The
        first restart is the network ``n_init=1`` trains, so restarts can only replace it by
        a better one; the
        restarts share the fit's input statistics, neighbour graph and cluster prior
        (computed once), and training takes up to ``n_init`` times as long (see
        ``restart_fraction``). "auto": 3 for
        tabular data (fits of seconds to a minute whose seeds vary most; chosen on iris,
        wine, breast cancer, seeds, glass and digits as rows, where a seed that merged two
        classes scored lowest of its three), 1 for images (three trial restarts on digits
        images: SCL 0.941 -> 0.958, JCL 0.963 -> 0.956, DRC 0.980 -> 0.976, 3 seeds, at 1.6
        times the time), and 1 when ``callbacks`` are given (a callback follows one
        training run; with an explicit ``n_init`` every restart goes through them). A warm
        start continues the kept network without restarts.
    restart_fraction : float in (0, 1] or "auto", default="auto"
        Share of the epoch budget every restart trains before the restarts are compared
        (ours). The highest-scoring restart then trains for the rest of the budget and the
        others are dropped, so ``n_init`` restarts cost ``1 + (n_init - 1) *
        restart_fraction`` fits; the schedules are those of the whole budget, so the kept
        network is the one ``n_init=1`` would train from its seed. 1.0 compares finished
        fits. "auto": 1.0 for tabular data, 0.3 for images (three image restarts cost 1.6
        fits; on digits the seeds that merged two digits scored lowest of their three
        from 30% of the budget on, not yet at 20%).
    restart_criterion : {"score", "input_inertia"}, default="score"
        How the restarts are compared (ours). "score": the head's mutual information on
        the training data (:meth:`score`), which favours confident assignments to evenly
        used clusters. "input_inertia": the within-cluster sum of squares of the restart's
        labels in the standardised (PCA-reduced where wide) input, k-means' objective in a
        space all restarts share; lowest is kept. Where the classes differ much in size the
        score prefers the networks that split a large class and merge small ones, and the
        inertia does not: on the generated ``blobs_aniso`` table (classes of 500, 300, 200
        and 100 rows) the fit kept of three one-restart fits (every three of six seeds, session
        23) had ACC 0.65-0.82 by score and 0.92-0.97 by inertia, on wine 0.953-0.959 and
        0.962-0.966; but over the eight development tables the score kept the better fits
        on average (by 0.004-0.005; digits as rows, whose k-means on the input is poor: DRC
        0.916 by score, 0.872 by inertia), hence the default. Held out (measured after that choice,
        DRC / SCL / JCL): ``blobs_mixed`` (400 / 250 / 150 / 100 / 100 rows) 0.71 / 0.71 /
        0.70 by score, 0.86 / 0.85 / 0.71 by inertia; ``synthetic_d`` 0.52 / 0.61 / 0.62 and
        0.61 / 0.60 / 0.63; ``synthetic_c`` and pendigits within 0.003, except JCL on
        pendigits (0.867 by score, 0.850 by inertia). Fitted with three restarts (3 seeds):
        ``blobs_aniso`` 0.871 / 0.762 / 0.764 -> 0.977 / 0.869 / 0.981, wine +0.002 to
        +0.004, digits as rows 0.916 / 0.897 / 0.840 -> 0.884 / 0.886 / 0.847. Measured on
        tables only, before session 24's stability gate of the input mixture
        (:data:`~deepclust.training.input_mixture.TOP_STABLE_ARI`), with which the score
        keeps 0.986 on ``blobs_aniso`` too.
    head_refit : {"auto", "kmeans", "mixture", "kmeans_if_disagree", "graph", "graph_if_disagree"} or None, \
default="auto"
        What ends every training run (ours, not the papers'; DeepCluster's k-means
        pseudo-labels, close to SCAN's self-labelling): "kmeans" runs k-means on the
        L2-normalised representation (``normalize(transform(X))``) of the training data
        and trains the cluster head (backbone frozen, a fraction of a second on a table)
        to reproduce it, so ``labels_``, ``predict``, ``predict_proba`` and ``score`` all
        come from the refitted head (see :mod:`deepclust.training.head_refit`).
        "mixture" does the same where the input's full-covariance Gaussian mixture is
        stable (its initialisations agree, see ``augment="cluster_noise"``), with the
        k-means constrained by the mixture's confident core: the rows whose mixture
        cluster has posterior probability at least 0.99 keep that cluster, the k-means
        starts from their means and assigns every other row by its representation
        (constrained k-means, Basu et al. 2002); elsewhere it is "kmeans"
        (``history_[-1]["head_refit_target"]`` says which ran). "kmeans_if_disagree"
        refits to the k-means only where the trained head's labels agree with it at an
        adjusted Rand index below 0.9 (``history_[-1]["head_kmeans_ari"]``), and keeps the
        head elsewhere (``head_refit_target`` None). "graph" and "graph_if_disagree" are
        "kmeans" and "kmeans_if_disagree" with one difference: where the 10-nearest-neighbour
        graph of the representation falls into large pieces (K/2 to K connected pieces,
        none smaller than half an equal cluster), the partition is the spectral clustering
        of that graph instead of k-means, whose convex cells cut curved groups such as an
        object's turning poses (``head_refit_target`` "graph"; see
        :mod:`deepclust.training.representation_graph`). None keeps the head as
        contrastive training left it (the papers' labelling). "auto": "mixture" for
        tabular data (k-means on the representation scored higher than the head on the
        eight development tables: DRC digits as rows 0.779 -> 0.876, iris 0.909 ->
        0.953, seeds 0-2, one restart; holding it to the mixture's core raised the five
        tables with a stable mixture from 0.960 / 0.957 / 0.952 to 0.962 / 0.963 / 0.962
        for DRC / SCL / JCL, synthetic 0.956-0.975 -> 0.986-0.988, breast cancer
        0.933-0.943 -> 0.936-0.937; session 21); for images the estimator's own choice:
        "graph" for JCL (since session 25, before that "kmeans": k-means was higher than its
        head on USPS and MNIST, at most 0.003 lower on digits and COIL-20; the graph
        partition took its COIL-20 fit at seed 1 from 0.821 to 0.899, and its digits and
        USPS graphs were not separated), "graph_if_disagree" for DRC and SCL (since session 25, before
        that "kmeans_if_disagree"; DRC's head beat k-means on digits by 0.01 where they agree
        at ARI 0.97, SCL's agreed with it at 0.97-1.0; on COIL-20, whose representation
        graph was separated in all six DRC and SCL fits measured, the graph's partition
        scored 0.866-0.942 against the heads' 0.750-0.821 and k-means' 0.751-0.836).
"""


# The fitted attributes every estimator shares, put where the marker line stands in Attributes.
_COMMON_ATTRIBUTES_MARKER = "    [common attributes]\n"
_COMMON_ATTRIBUTES_DOC = """    n_iter_ : int
        Number of epochs run (over all warm-started fits).
    max_epochs_ : int
        The epoch budget of the last ``fit``: ``max_epochs``, or what "auto" resolved to.
    stop_reason_ : {"converged", "max_epochs", "callback", "interrupted"}
        Why the last ``fit`` stopped: the convergence stop (``tol``), the end of the
        budget (then with a ``ConvergenceWarning`` unless ``tol=None``), a callback, or a
        ``KeyboardInterrupt``.
    restart_scores_ : ndarray of shape (n_restarts,)
        The ``restart_criterion``'s value for each restart's network on the training data
        (``n_init``; one entry without restarts): the label-free score (mutual information
        ``I(x; c)``, as :meth:`score`), or minus the input inertia. Higher is better.
    best_restart_ : int
        Index of the kept restart in ``restart_scores_`` (the highest value).
    device_ : torch.device
        The device the model lives on.
    augment_ : str, callable or None
        The augmentation of the last ``fit``: ``augment``, or the preset "auto" named for
        this data ("cluster_noise" for tables; "handwriting" or "grey" for grey images;
        "auto", CC's recipe, for RGB).
"""


class BaseDeepClusterer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """Shared implementation of fit/predict/transform for the deep clusterers.

    Subclasses define ``__init__`` with the common parameters followed by their own, extend
    ``_parameter_constraints`` and implement :meth:`_make_objective`. Everything else (input
    handling, devices, seeding, the training loop, persistence) lives here and in
    :mod:`deepclust.training`. The parameters shared by every estimator are documented
    with each of them (e.g. :class:`DRCClustering`).

    See Also
    --------
    DRCClustering, SCLClustering, JCLClustering : The concrete estimators.
    deepclust.objectives.base.Objective : What ``_make_objective`` returns.

    Examples
    --------
    Every estimator is a ``BaseDeepClusterer``:

    >>> from deepclust import BaseDeepClusterer, DRCClustering
    >>> isinstance(DRCClustering(), BaseDeepClusterer)
    True

    A new method needs only an objective; this one reuses DRC's loss with other
    temperatures (inheriting ``__init__`` keeps the common parameters):

    >>> from sklearn.datasets import make_blobs
    >>> from deepclust.objectives.drc import DRCObjective
    >>> class SharpDRC(BaseDeepClusterer):
    ...     def _make_objective(self):
    ...         return DRCObjective(af_temperature=0.5, ap_temperature=0.5)
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = SharpDRC(n_clusters=3, max_epochs=2, batch_size=32, device="cpu", random_state=0)
    >>> model.fit(X).labels_.shape
    (60,)
    >>> model.transform(X[:5]).shape
    (5, 256)
    >>> sorted(model.get_params())[:3]
    ['amp', 'augment', 'backbone']
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "backbone": [StrOptions({"auto", "mlp", "cnn", "resnet18", "resnet34"}), torch.nn.Module],
        "augment": [StrOptions(set(AUGMENT_PRESETS)), None, callable],
        "max_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "image_shape": [tuple, list, None],
        "amp": [StrOptions({"auto"}), "boolean"],
        "callbacks": [list, tuple, None],
        "compile": ["boolean", dict],
        "distributed": [StrOptions({"auto"}), "boolean", dict],
        "neighbor_positives": [StrOptions({"auto", *NEIGHBOR_SOURCES}), None],
        "n_positive_neighbors": [Interval(Integral, 1, None, closed="left")],
        "neighbor_probability": [Interval(Real, 0, 1, closed="both")],
        "neighbor_scale_floor": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "neighbor_search": [StrOptions({"auto", *NEIGHBOR_SEARCHES})],
        "cluster_prior": [StrOptions({"auto", "uniform", "input"})],
        "n_init": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "restart_fraction": [Interval(Real, 0, 1, closed="right"), StrOptions({"auto"})],
        "restart_criterion": [StrOptions(set(RESTART_CRITERIA))],
        "head_refit": [StrOptions({"auto", *HEAD_REFITS}), None],
    }

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__doc__ and _COMMON_PARAMETERS_MARKER in cls.__doc__:
            cls.__doc__ = cls.__doc__.replace(_COMMON_PARAMETERS_MARKER, _COMMON_PARAMETERS_DOC)
        if cls.__doc__ and _COMMON_ATTRIBUTES_MARKER in cls.__doc__:
            cls.__doc__ = cls.__doc__.replace(_COMMON_ATTRIBUTES_MARKER, _COMMON_ATTRIBUTES_DOC)

    def __init__(
        self,
        n_clusters=10,
        *,
        backbone="auto",
        augment="auto",
        max_epochs="auto",
        tol=1e-3,
        n_iter_no_change=20,
        batch_size=128,
        lr=3e-4,
        weight_decay=0.0,
        device="auto",
        random_state=None,
        warm_start=False,
        verbose=0,
        image_shape=None,
        amp="auto",
        callbacks=None,
        compile=False,
        distributed="auto",
        neighbor_positives="auto",
        n_positive_neighbors=10,
        neighbor_probability=0.5,
        neighbor_scale_floor="auto",
        neighbor_search="auto",
        cluster_prior="auto",
        n_init="auto",
        restart_fraction="auto",
        restart_criterion="score",
        head_refit="auto",
    ):
        self.n_clusters = n_clusters
        self.backbone = backbone
        self.augment = augment
        self.max_epochs = max_epochs
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.image_shape = image_shape
        self.amp = amp
        self.callbacks = callbacks
        self.compile = compile
        self.distributed = distributed
        self.neighbor_positives = neighbor_positives
        self.n_positive_neighbors = n_positive_neighbors
        self.neighbor_probability = neighbor_probability
        self.neighbor_scale_floor = neighbor_scale_floor
        self.neighbor_search = neighbor_search
        self.cluster_prior = cluster_prior
        self.n_init = n_init
        self.restart_fraction = restart_fraction
        self.restart_criterion = restart_criterion
        self.head_refit = head_refit

    # ------------------------------------------------------------------ hooks for subclasses
    def _make_objective(self) -> Objective:
        raise NotImplementedError

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Train the network on ``X`` and assign every sample to a cluster.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or image array
            Tabular data, grey images ``(n, H, W)``, images ``(n, H, W, C)`` or
            ``(n, C, H, W)``, or flat images with ``image_shape``; ``uint8`` images are
            scaled to [0, 1]. NumPy arrays, data frames and torch tensors (any device)
            are accepted. Not modified.
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        self : object
            The fitted estimator.

        Notes
        -----
        Unlike ``KMeans.fit``, there is no ``sample_weight`` (passing one is a
        ``TypeError``): the contrastive losses compare the samples of a batch with each
        other and have no established weighted form. Resample ``X`` with probabilities
        ``w / w.sum()`` to weight samples.
        """
        self._validate_params()
        continuing = bool(self.warm_start) and hasattr(self, "module_")
        architecture = self._architecture()
        if continuing and architecture != getattr(self, "_architecture_", architecture):
            changed = [k for k in architecture if architecture[k] != self._architecture_.get(k)]
            then = ", ".join(f"{k}={self._architecture_[k]!r:.60}" for k in changed)
            raise ValueError(
                f"warm_start=True continues training the fitted network, but {' and '.join(changed)} "
                f"changed since it was built ({then} then). Set warm_start=False to fit a new network."
            )
        X_model, layout = validate_input(self, X, reset=not continuing, image_shape=self.image_shape, min_samples=2)
        n_samples = X_model.shape[0]
        if self.n_clusters > n_samples:
            raise ValueError(f"n_clusters={self.n_clusters} must be <= n_samples={n_samples}.")
        n_epochs = resolve_max_epochs(self.max_epochs, n_samples, self.batch_size)
        for cb in self.callbacks or ():
            if not isinstance(cb, Callback):
                raise TypeError(f"The 'callbacks' parameter must hold Callback instances; got {type(cb).__name__}.")
        # Data-parallel training when a process group is (or torchrun's environment says it
        # should be) initialised; see deepclust.training.distributed.
        ctx, device = _distributed.resolve(self.distributed, self.device)
        seed = seed_from_random_state(self.random_state)
        if ctx is not None:
            # One seed for the group (random_state=None draws a different one in every process).
            seed = ctx.broadcast_int(seed)
            # Ranks that disagree here would wait for each other forever: fail on all of them.
            ctx.check_same(
                "(n_samples, sample shape, batch_size, max_epochs, warm start)",
                (n_samples, tuple(X_model.shape[1:]), self.batch_size, n_epochs, continuing),
            )
            if min(self.batch_size, n_samples) < ctx.world_size:
                raise ValueError(
                    f"batch_size={self.batch_size} and n_samples={n_samples} must be at least the number of "
                    f"processes ({ctx.world_size}): batch_size is the global batch, shared between the processes."
                )
        # A warm start continues the one fitted network: restarts are for fresh fits only.
        n_restarts = 1 if continuing else resolve_n_init(self.n_init, layout.kind, bool(self.callbacks))
        # Restarts train a trial of the budget (all of it for tables), then the best trains on.
        n_trial = n_epochs if n_restarts == 1 else trial_epochs(self.restart_fraction, layout.kind, n_epochs)
        # What is derived from the data (statistics, reduced input, its graph, the prior) is
        # computed once, from the fit's seed, and shared by the restarts (every rank alike).
        if continuing:
            standardize = self.module_.standardize
            mean, std = standardize.mean.flatten().cpu(), standardize.std.flatten().cpu()
        else:
            mean, std = feature_statistics(X_model, layout)
        floor = self.neighbor_scale_floor
        space = InputSpace(
            X_model, mean, std, seed, SCALE_FLOOR_AUTO[layout.kind] if floor == "auto" else floor, self.neighbor_search
        )
        best, scores, interrupted = None, [], False
        batch_size = self.batch_size
        main = _distributed.is_main_rank(ctx)
        for restart, restart_seed in enumerate(restart_seeds(seed, n_restarts)):
            run = self._train_once(
                X_model, layout, space, restart_seed, ctx, device, n_epochs, continuing, batch_size, n_trial
            )
            # A batch size halved after running out of memory holds for the later restarts:
            # they would run out of memory (and warn) again.
            batch_size = run["trainer"].batch_size
            # The label-free criterion of deepclust.training.restarts, on the un-augmented data.
            self.module_, self.device_ = run["module"].eval(), device
            scores.append(restart_value(self.restart_criterion, self._forward_proba(X_model), space.reduced))
            better = best is None or scores[-1] > scores[best[0]]
            if ctx is not None:  # rank 0 decides, so every rank keeps the same network
                better = bool(ctx.broadcast_int(int(better)))
            if n_restarts > 1 and self.verbose >= 1 and main:
                after = f" after {len(run['trainer'].history)} epochs" if run["trainer"].paused else ""
                value_name = CRITERION_NAMES[self.restart_criterion][0]
                print(f"restart {restart + 1}/{n_restarts}: {value_name} {scores[-1]:.4f}{after}")
            if better:
                if best is not None:
                    self._release_run(best[1])
                best = (restart, run)
            else:
                self._release_run(run)
            interrupted = run["trainer"].stop_reason == "interrupted"
            del run
            if interrupted:
                break  # the user asked to stop: no further restarts
        del space
        self.best_restart_, best_run = best
        self.restart_scores_ = np.asarray(scores)
        if len(scores) > 1 and self.verbose >= 1 and main:
            rest = " (trains on)" if best_run["trainer"].paused else ""
            why = CRITERION_NAMES[self.restart_criterion][1]
            print(f"kept restart {self.best_restart_ + 1} of {len(scores)} ({why}){rest}")
        if best_run["trainer"].paused:
            # The kept trial trains on, unless the user interrupted a later restart.
            self._resume_run(best_run, stop_reason="interrupted" if interrupted else None)
        module, trainer = best_run["module"], best_run["trainer"]
        self.module_ = module.eval()
        self.device_ = device
        self._training_state_ = best_run["carried"]  # what a warm start continues from (CPU tensors)
        self.history_ = trainer.history
        self.n_iter_ = len(self.history_)
        self.max_epochs_ = n_epochs
        self.stop_reason_ = trainer.stop_reason
        self._n_features_out = module.feature_dim
        self.labels_ = self._forward_labels(X_model)
        n_used = len(np.unique(self.labels_))
        if self.history_:  # eval-mode count of the final labels_ (n_clusters_used: training views)
            self.history_[-1]["n_clusters_labels"] = n_used
        if n_used < self.n_clusters and _distributed.is_main_rank(ctx):
            warnings.warn(
                f"Cluster collapse: the training data is assigned to {n_used} of n_clusters={self.n_clusters} "
                "clusters (see history_[i]['n_clusters_used'] per epoch). Train longer, use fewer clusters or "
                "check the data for duplicates and constant features.",
                ClusterCollapseWarning,
                stacklevel=2,
            )
        return self

    def _architecture(self) -> dict:
        """The parameters that shape the network, which a warm start cannot change."""
        backbone = self.backbone if isinstance(self.backbone, str) else repr(self.backbone)
        return {"n_clusters": self.n_clusters, "backbone": backbone}

    def _train_once(
        self,
        X_model,
        layout: InputLayout,
        space: InputSpace,
        seed: int,
        ctx,
        device: torch.device,
        n_epochs: int,
        continuing: bool,
        batch_size: int,
        n_trial: int | None = None,
    ) -> dict:
        """Build (or continue) and train one network from ``seed``: one restart of the fit.

        ``space`` holds the fit's statistics, reduced input, input graph and prior, shared
        by the restarts (computed from the fit's seed, not from ``seed``). With ``n_trial``
        below ``n_epochs`` the run pauses after ``n_trial`` epochs (``run["trainer"].paused``;
        the schedules still see ``n_epochs``): :meth:`_resume_run` trains the rest,
        :meth:`_release_run` drops it.
        """
        seeds = SeedManager(seed, device, rank=0 if ctx is None else ctx.rank)
        n_samples = X_model.shape[0]
        mean, std = space.mean, space.std
        with seeds.scoped_global_seed():
            objective = self._make_objective()
            objective.distributed = ctx
            if continuing:
                module = self.module_.to(device)
                history = list(self.history_)
            else:
                module = self._build_module(layout, objective, mean, std).to(device)
                if layout.is_image:
                    # channels_last convolutions are faster with cuDNN (AMP) and with oneDNN
                    # on CPU (1.15-1.4x per training step for the small CNN, measured).
                    module = module.to(memory_format=torch.channels_last)
                history = []
                self.input_shape_ = tuple(layout.sample_shape)
                self._input_source_ = layout.source  # for predict's message on another layout
                self._architecture_ = self._architecture()
            train_range = value_range(X_model)
            if not continuing:
                # For predict's check that new images come on the training scale (see _check_input).
                self._image_scale_ = (X_model.dtype == np.uint8, train_range[1]) if layout.is_image else None
            # "auto" is named once for this data (grey images: from their background, read only for them).
            background = functools.partial(space.background_share, train_range)
            self.augment_ = auto_preset(layout, background) if self.augment == "auto" else self.augment
            augment = resolve_augment(
                self.augment_,
                layout,
                torch.as_tensor(mean),
                torch.as_tensor(std),
                train_range,
                within_cluster_factor=lambda name: space.within_cluster_factor(self.n_clusters, clusterer=name),
                mixture_noise=lambda stable_only: space.mixture_noise(self.n_clusters, stable_only),
            )
            neighbors = self._make_neighbors(layout)
            optimizer = torch.optim.Adam(module.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            # DDP and/or torch.compile wrap the module for the training forward pass only;
            # module (-> module_) stays a plain nn.Module.
            forward_module, unwrap = _distributed.wrap_for_training(module, ctx, self.compile)
            trainer = Trainer(
                module,
                objective,
                augment,
                optimizer,
                device,
                seeds,
                batch_size,
                amp_dtype=autocast_dtype(device, self.amp),
                callbacks=self._make_callbacks(layout, device, module, continuing),
                forward_module=forward_module,
                distributed=ctx,
                neighbors=neighbors,
            )
            prior = self.cluster_prior if self.cluster_prior != "auto" else CLUSTER_PRIOR_AUTO[layout.kind]
            if neighbors is not None:
                graph = space.neighbors(neighbors.n_neighbors) if neighbors.uses_input else None
                neighbors.setup(X_model, mean, std, module.feature_dim, device, seed, input_graph=graph)
            if prior == "input":
                objective.cluster_prior = torch.as_tensor(
                    space.cluster_prior(self.n_clusters), dtype=torch.float32, device=device
                )
            start = len(history)
            trainer.history = history
            store = TensorStore(X_model, device)
            if noise_follows_clusters(self.augment, layout):
                # Last among the callbacks: it reads the network a warm start or checkpoint restored.
                noise = next(op for op in augment.ops if isinstance(op, CorrelatedNoise))
                trainer.callbacks.append(ClusterNoiseRefresh(noise, space, self.n_clusters, store))
            run = {"module": module, "trainer": trainer, "store": store, "unwrap": unwrap, "seeds": seeds}
            # What ends every finished run (see _advance): the head refitted to k-means or to the
            # input mixture's confident core, or nothing.
            run["head_refit"] = resolve_head_refit(self.head_refit, layout.kind, objective.image_head_refit)
            run["space"] = space  # the "mixture" refit reads its input mixture
            run["start"] = start
            # The schedules (SCL's warm-up, JCL's ramp) see the resolved number of epochs.
            objective.setup(n_samples, self.n_clusters, device, start + n_epochs)
            pause_at = start + n_trial if n_trial is not None and n_trial < n_epochs else None
            self._advance(run, lambda: trainer.fit(store, start, start + n_epochs, pause_at=pause_at))
        return run

    def _resume_run(self, run: dict, stop_reason: str | None = None) -> None:
        """Train the rest of a paused run, or with ``stop_reason`` end it where it paused."""
        trainer = run["trainer"]
        if stop_reason is None:
            finish = lambda: trainer.resume(run["store"])  # noqa: E731
        else:
            finish = lambda: trainer.stop(stop_reason)  # noqa: E731
        with run["seeds"].scoped_global_seed(resume=run.pop("global_rng")):
            self._advance(run, finish)

    def _advance(self, run: dict, train) -> None:
        """Call ``train`` (the trainer's fit or resume); keep what a finished run leaves."""
        trainer = run["trainer"]
        try:
            train()
        except KeyboardInterrupt:
            # Like skorch: keep a usable estimator at the last completed epoch.
            trainer.restore_last_epoch()
            trainer.paused, trainer.stop_reason = False, "interrupted"
            warnings.warn(
                f"fit was interrupted (KeyboardInterrupt); the model was {trainer._restored_to()}, "
                "with its history up to there.",
                UserWarning,
                stacklevel=5,
            )
        except BaseException:
            self._release_run(run)
            raise
        if trainer.paused:
            # Dropout draws from the global generator: the resumed run continues its stream.
            run["global_rng"] = run["seeds"].global_state()
            return
        run["carried"] = training_state(trainer)  # before the release frees the objective's state
        if run["head_refit"] is not None and len(trainer.history) > run["start"]:  # it trained (not max_epochs=0)
            # A warm start continues the head training left, not the refitted one (2 + 2 epochs = 4).
            run["carried"]["trained_cluster_head"] = {
                k: v.detach().cpu().clone() for k, v in run["module"].cluster_head.state_dict().items()
            }
            trainer.history[-1].update(refit_head(
                run["head_refit"], run["module"], run["store"], self.n_clusters, run["seeds"].seed,
                trainer.distributed, space=run["space"],
            ))
        self._release_run(run)

    def _release_run(self, run: dict) -> None:
        """Free a run's per-fit state (objective bank, neighbour graph, data copy, wrappers)."""
        if "store" not in run:
            return  # already released
        trainer = run["trainer"]
        if trainer.paused:
            trainer.stop("restart_dropped")  # a trial that lost: its callbacks see the end
        trainer.objective.teardown()
        if trainer.neighbors is not None:
            trainer.neighbors.teardown()
        run.pop("unwrap")()
        run.pop("space", None)  # the fit's input summaries
        trainer.forward_module = run["module"]
        del run["store"]

    def _build_module(self, layout: InputLayout, objective: Objective, mean, std) -> ClusterNet:
        if isinstance(self.backbone, torch.nn.Module):
            backbone = copy.deepcopy(self.backbone)  # never train the caller's module
        else:
            backbone = build_backbone(self.backbone, layout.sample_shape)
        feature_dim = infer_out_features(backbone, layout.sample_shape)
        return ClusterNet(
            backbone,
            feature_dim,
            self.n_clusters,
            Standardize(mean, std, image=layout.is_image),
            projection_dim=objective.projection_dim,
            cluster_head_hidden=objective.cluster_head_hidden,
        )

    def _make_neighbors(self, layout: InputLayout) -> NeighborPositives | None:
        """The neighbour-positive sampler of this fit (None: both views from the sample itself)."""
        source = self.neighbor_positives
        if source == "auto":
            # Measured (session 11): input neighbours help on tables (DRC on digits as rows
            # 0.753 -> 0.820, seeds 0.892 -> 0.913, 3 seeds) but cost accuracy on digits
            # images (DRC 0.984 -> 0.947, SCL 0.957 -> 0.942 over 3 and 3 seeds, one bad seed
            # each), although COIL-20 gained (DRC, 30 epochs, seed 0: 0.689 -> 0.765). Images
            # therefore keep the papers' pairs until a setting holds on every image set.
            source = None if layout.is_image else "input"
        if source is None or self.neighbor_probability == 0:
            return None
        return NeighborPositives(source, self.n_positive_neighbors, self.neighbor_probability)

    def _make_callbacks(
        self, layout: InputLayout, device: torch.device, module: ClusterNet, continuing: bool = False
    ) -> list[Callback]:
        # User callbacks first: a Checkpoint restores the history before ConvergenceStop reads it.
        callbacks = list(self.callbacks or [])
        state = getattr(self, "_training_state_", None) if continuing else None
        if state is not None:
            # First, so that a Checkpoint resuming from a file takes precedence.
            callbacks.insert(0, WarmStart(state, self.lr, self.weight_decay))
        if self.tol is not None:
            callbacks.append(ConvergenceStop(self.tol, self.n_iter_no_change))
        if self.verbose >= 1:
            shape = "x".join(str(d) for d in layout.sample_shape)
            what = f"{layout.kind} {shape} ({layout.source})"
            budget = f"max_epochs={self.max_epochs!r}" + (f" ({AUTO_STEPS} steps)" if self.max_epochs == "auto" else "")
            header = f"{type(self).__name__} on {device}: {type(module.backbone).__name__} backbone, {what} input, {budget}"
            callbacks.append(PrintLog(header=header))
        if self.verbose >= 2:
            callbacks.append(ProgressBar())
        return callbacks

    # ------------------------------------------------------------------ inference
    def _check_input(self, X) -> np.ndarray:
        check_is_fitted(self, "module_")
        X_model, layout = validate_input(self, X, reset=False, image_shape=self.image_shape)
        scale = getattr(self, "_image_scale_", None)
        if layout.is_image and scale is not None:
            self._warn_on_another_image_scale(X_model, *scale, input_dtype=layout.input_dtype)
        return X_model

    @staticmethod
    def _warn_on_another_image_scale(
        X_model: np.ndarray, fitted_uint8: bool, fitted_max: float, input_dtype: str | None = None
    ) -> None:
        """uint8 images are divided by 255 and float images are not: warn when predict's
        images would reach the network on another scale than the training images.

        ``input_dtype`` is the dtype the caller passed (X_model is already float32)."""
        if fitted_uint8 and X_model.dtype != np.uint8:
            new_max = value_range(X_model)[1]
            if new_max > 1.5:
                warnings.warn(
                    "The model was fitted on uint8 images, which are scaled to [0, 1], but X holds "
                    f"{input_dtype or X_model.dtype} images with values up to {new_max:.4g}, which are not scaled: "
                    "pass uint8 images (or divide by 255) to get meaningful predictions.",
                    UserWarning,
                    stacklevel=4,
                )
        elif not fitted_uint8 and X_model.dtype == np.uint8 and fitted_max > 1.5:
            warnings.warn(
                f"The model was fitted on float images with values up to {fitted_max:.4g}, but X holds "
                "uint8 images, which are scaled to [0, 1]: pass X.astype(np.float32) to get meaningful "
                "predictions.",
                UserWarning,
                stacklevel=4,
            )

    @torch.no_grad()
    def _forward(self, X_model: np.ndarray, what: str) -> np.ndarray:
        """Run the eval-mode network over ``X_model`` in fixed-size, zero-padded chunks."""
        module = self.module_.eval()
        device = self.device_
        store_scale = 1.0 / 255.0 if X_model.dtype == np.uint8 else None
        outputs = []
        for start in range(0, X_model.shape[0], _INFERENCE_BATCH):
            # Writable and C-contiguous: torch.from_numpy refuses (warns on) read-only memory,
            # e.g. a memmap opened with mode="r"; np.require copies only such chunks.
            chunk = torch.from_numpy(np.require(X_model[start : start + _INFERENCE_BATCH], requirements=["C", "W"]))
            n_rows = chunk.shape[0]
            if n_rows < _INFERENCE_BATCH:
                chunk = torch.cat([chunk, chunk.new_zeros((_INFERENCE_BATCH - n_rows, *chunk.shape[1:]))])
            x = chunk.to(device).float()
            if store_scale is not None:
                x = x * store_scale
            if what == "features":
                out = module.forward_features(x).float()
            else:
                out = module(x).logits
            outputs.append(out[:n_rows].cpu())
        return torch.cat(outputs).numpy()

    def _forward_labels(self, X_model: np.ndarray) -> np.ndarray:
        return self._forward(X_model, "logits").argmax(axis=1).astype(np.int64)

    def predict(self, X):
        """Cluster of each sample: argmax of the cluster head (eval mode, no augmentation).

        Parameters
        ----------
        X : array-like
            Same layout as in ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster index of each sample, in ``[0, n_clusters)``.
        """
        return self._forward_labels(self._check_input(X))

    def predict_proba(self, X):
        """Soft cluster assignments: the softmax of the cluster head.

        Parameters
        ----------
        X : array-like
            Same layout as in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters)
            Rows sum to one.
        """
        return self._forward_proba(self._check_input(X))

    def _forward_proba(self, X_model: np.ndarray) -> np.ndarray:
        logits = self._forward(X_model, "logits").astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def transform(self, X):
        """The learned representation: the backbone's output (before the heads).

        Parameters
        ----------
        X : array-like
            Same layout as in ``fit``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out)
            Float32 embedding, e.g. for k-means, t-SNE or a linear probe.
        """
        return self._forward(self._check_input(X), "features").astype(np.float32, copy=False)

    def score(self, X, y=None):
        """Label-free quality of the clustering of ``X``: the mutual information I(x; c).

        Estimated from the soft assignments as ``H(mean_i p_i) - mean_i H(p_i)`` (in nats):
        high when each sample is assigned confidently *and* the clusters are used evenly.
        Higher is better; the maximum is ``log(n_clusters)``. It is what IIC maximises, and
        it does not use ``y``. For labelled model selection use the scorers in
        :mod:`deepclust.metrics`.

        Parameters
        ----------
        X : array-like
            Same layout as in ``fit``.
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        score : float
        """
        return mutual_information(self.predict_proba(X))

    # ------------------------------------------------------------------ sklearn plumbing
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = self._may_use_cuda()
        return tags

    def _may_use_cuda(self) -> bool:
        device = self.device
        if isinstance(device, torch.device):
            return device.type == "cuda"
        if device == "auto":
            return torch.cuda.is_available()
        return isinstance(device, str) and device.startswith("cuda")

    # ------------------------------------------------------------------ persistence
    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        if "module_" in state and state.get("device_") is not None and state["device_"].type != "cpu":
            # Never pickle device storages: a CUDA-fitted model must load on a CPU-only machine.
            state["module_"] = copy.deepcopy(state["module_"]).to("cpu")
        return state

    def __setstate__(self, state):
        device = state.get("device_")
        if "module_" in state and device is not None and device.type != "cpu":
            # __getstate__ pickled the module from the CPU: put it back where it was fitted.
            if device_available(device):
                state["module_"] = state["module_"].to(device)
            else:
                warnings.warn(
                    f"This model was fitted on {device}, which is not available here; it was loaded on the CPU.",
                    DeviceWarning,
                    stacklevel=2,
                )
                state["device_"] = torch.device("cpu")
        if hasattr(super(), "__setstate__"):
            super().__setstate__(state)
        else:  # pragma: no cover
            self.__dict__.update(state)
