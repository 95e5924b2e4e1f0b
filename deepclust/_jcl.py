"""JCLClustering: joint distribution contrastive learning (our interpretation)."""

from __future__ import annotations

from numbers import Real

from sklearn.utils._param_validation import Interval

from ._base import BaseDeepClusterer
from .objectives.jcl import JCLObjective


class JCLClustering(BaseDeepClusterer):
    """JCL-style joint distribution contrastive clustering (after Yan, Na, Yan 2023).

    CC's layout: a shared backbone feeds an instance head (MLP to a 128-d L2-normalised
    embedding ``z``) and a K-way cluster head (MLP, softmax ``q``). The cluster posterior
    ``q`` plays the latent class, and ``w_uv = q_u . q_v`` is the probability that samples
    ``u`` and ``v`` share it. In the instance contrast over the 2N views of a batch, each
    anchor's likely same-class negatives join its positive in the numerator, so they are
    pulled closer instead of being pushed away::

        L_JCL = mean_u -log( [exp(s_u,u+) + sum_{v not in {u,u+}} w_uv exp(s_uv)]
                             / sum_{v != u} exp(s_uv) ),      s = cos / temperature
        L = L_JCL + L_clu + balance_weight * L_bal

    with ``L_clu`` CC's contrast of the cluster-assignment columns of the two views and
    ``L_bal = log K - H(mean q)`` per view. With ``w = 0`` the first term is exactly
    NT-Xent; ``w`` is 0 for the first ``warmup_fraction`` of the epochs (the cluster head is
    meaningless at initialisation) and then ramps linearly to full strength over
    ``ramp_fraction`` of the epochs.

    **What is the paper's and what is ours.** Only the abstract is available. From it:
    latent class variables; discrimination as maximum *average class-conditional
    likelihood*, so that negatives with the same semantics are pulled closer; a
    *negative-wise* joint contrastive loss; end-to-end, online training of representation
    and clustering together. Ours (ALGORITHMS.md §5.2): ``q`` as the latent class, the
    weight ``w_uv = q_u . q_v`` and where it enters the loss, stop-gradient on ``w`` by
    default, CC's cluster and balance terms, temperatures, warm-up and ramp, optional
    sharpening, backbones and optimiser. Call it "JCL-style (our interpretation)".

    Parameters
    ----------
    n_clusters : int, default=10
        Number of clusters K (at least 2, at most ``n_samples``).
    backbone : {"auto", "mlp", "cnn", "resnet18", "resnet34"} or torch.nn.Module, default="auto"
        Feature extractor. "auto" is "mlp" for tabular input, "resnet18" for RGB images of
        at least 16 px a side (CIFAR stem up to 64 px, ImageNet stem above) and "cnn" (a
        small VGG-style CNN) for grey or smaller images. A module
        must map a standardised batch of the model layout (``(B, n_features)`` or
        ``(B, C, H, W)``) to ``(B, D)``; it is deep-copied, never trained in place.
    augment : {"auto", "cc", "simclr", "light", "grey", "tabular"}, None or callable, default="auto"
        How the two views are made. "auto": Gaussian noise (0.2 feature standard
        deviations) and random feature masking (p = 0.1) for tabular data ("tabular");
        random resized crop, small rotation/shift and noise for grey images ("grey"); CC's
        recipe for RGB ("cc": crop, flip, colour jitter with p = 0.8, grayscale p = 0.2).
        The other names are presets of ``deepclust.augment.presets``. None: no
        augmentation. A callable ``f(x, generator)`` (or
        ``f(x)``) gets a float batch on the training device (images in [0, 1]) and returns
        one of the same shape; draw randomness from ``generator`` to keep fits
        reproducible. Lambdas cannot be pickled.
    max_epochs : int, default=100
        Number of passes over the data (``0`` keeps the network at its initialisation).
    batch_size : int, default=128
        Samples per optimisation step (at least 2). The data is split into
        ``ceil(n_samples / batch_size)`` batches of nearly equal size, so no sample is dropped.
    lr : float, default=3e-4
        Adam learning rate (CC's value), as for the other estimators.
    weight_decay : float, default=0.0
        Adam weight decay.
    device : {"auto", "cpu", "cuda", "cuda:<index>"} or torch.device, default="auto"
        Where to train and predict. "auto" uses CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, batch order and augmentation through local generators;
        the global torch/NumPy/random states are left untouched. The same seed on the CPU
        gives identical results; CUDA kernels are not bitwise reproducible.
    warm_start : bool, default=False
        If True and the estimator is fitted, ``fit`` continues training the current network
        for ``max_epochs`` more epochs (same input shape required) instead of starting over.
    verbose : int, default=0
        0 is silent, 1 prints one line per epoch (loss terms, time, throughput), 2 adds a
        progress bar over the batches.
    image_shape : tuple of int or None, default=None
        ``(C, H, W)`` (or ``(H, W)`` for grey) of flat image rows in a 2-D ``X``, or the
        channel axis of an ambiguous 4-D ``X``. See "Input layouts" below.
    amp : "auto" or bool, default="auto"
        Mixed precision on CUDA (bfloat16 where supported, else float16 with gradient
        scaling). "auto" and True enable it on CUDA; it is never used on the CPU.
    callbacks : list of Callback or None, default=None
        Extra :class:`deepclust.training.callbacks.Callback` objects called during training.
    temperature : float, default=0.5
        Temperature of the joint (instance-level) contrast (CC's instance value).
    cluster_temperature : float, default=1.0
        Temperature of the cluster-column contrast (CC's value).
    balance_weight : float, default=1.0
        Weight of ``log K - H(mean q)`` per view (CC uses 1).
    warmup_fraction : float, default=0.1
        Fraction of ``max_epochs`` (rounded up) trained with ``w = 0`` (plain NT-Xent).
    ramp_fraction : float, default=0.2
        Fraction of ``max_epochs`` (rounded up) over which ``w`` ramps linearly from 0 to
        full strength after the warm-up; 0 switches it on at once.
    weight_gradient : bool, default=False
        If True, gradients flow through ``w`` into the cluster head; by default ``w`` is a
        constant of each step (stop-gradient), so the joint term trains only the
        embedding.
    sharpen : bool, default=False
        Use ``w_uv = 1[argmax q_u = argmax q_v] * max q_u * max q_v`` instead of
        ``q_u . q_v``: only pairs with the same predicted cluster attract.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample (argmax of the cluster head after training).
    n_features_in_ : int
        ``X.shape[1]`` as seen in ``fit`` (the channel count for ``(n, C, H, W)`` input).
    input_shape_ : tuple of int
        Shape of one sample in the model layout: ``(n_features,)`` or ``(C, H, W)``.
    module_ : torch.nn.Module
        The trained :class:`deepclust.nn.model.ClusterNet`.
    history_ : list of dict
        One dict per epoch: ``loss`` and each term (``joint``, ``cluster``, ``balance``),
        ``weight_scale`` (the ramp's current factor), ``same_cluster_weight`` (mean ``w``
        over pairs with the same predicted cluster), ``labels_changed`` (fraction of samples
        whose predicted cluster on the first view changed since the previous epoch),
        ``n_clusters_used``, ``seconds`` and ``samples_per_s``.
    n_iter_ : int
        Number of epochs run (over all warm-started fits).
    device_ : torch.device
        The device the model lives on.

    See Also
    --------
    DRCClustering : Deep robust clustering.
    SCLClustering : Semantic contrastive learning.

    Notes
    -----
    **Input layouts.** A 2-D ``X`` is tabular unless ``image_shape`` is given; 3-D is grey
    images ``(n, H, W)``; 4-D is ``(n, H, W, C)`` when only the last axis has 1-4 entries and
    ``(n, C, H, W)`` when only axis 1 has; otherwise the layout is ambiguous and
    ``image_shape=(C, H, W)`` must be passed. Inputs are standardised with the training
    statistics (per feature, or per channel for images) inside the network.

    References
    ----------
    Yan, Na, Yan. "Joint Contrastive Learning for Image Clustering." 8th International
    Conference on Control, Robotics and Cybernetics (CRC), IEEE, 2023, pp. 310-314.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import JCLClustering
    >>> X, _ = make_blobs(n_samples=200, centers=3, random_state=0)
    >>> model = JCLClustering(n_clusters=3, max_epochs=20, batch_size=64, random_state=0, device="cpu")
    >>> model.fit_predict(X).shape
    (200,)
    >>> sorted(k for k in model.history_[-1] if k.endswith("weight") or k == "weight_scale")
    ['same_cluster_weight', 'weight_scale']
    """

    _parameter_constraints: dict = {
        **BaseDeepClusterer._parameter_constraints,
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "cluster_temperature": [Interval(Real, 0, None, closed="neither")],
        "balance_weight": [Interval(Real, 0, None, closed="left")],
        "warmup_fraction": [Interval(Real, 0, 1, closed="both")],
        "ramp_fraction": [Interval(Real, 0, 1, closed="both")],
        "weight_gradient": ["boolean"],
        "sharpen": ["boolean"],
    }

    def __init__(
        self,
        n_clusters=10,
        *,
        backbone="auto",
        augment="auto",
        max_epochs=100,
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
        temperature=0.5,
        cluster_temperature=1.0,
        balance_weight=1.0,
        warmup_fraction=0.1,
        ramp_fraction=0.2,
        weight_gradient=False,
        sharpen=False,
    ):
        super().__init__(
            n_clusters,
            backbone=backbone,
            augment=augment,
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            device=device,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            image_shape=image_shape,
            amp=amp,
            callbacks=callbacks,
        )
        self.temperature = temperature
        self.cluster_temperature = cluster_temperature
        self.balance_weight = balance_weight
        self.warmup_fraction = warmup_fraction
        self.ramp_fraction = ramp_fraction
        self.weight_gradient = weight_gradient
        self.sharpen = sharpen

    def _make_objective(self) -> JCLObjective:
        return JCLObjective(
            temperature=self.temperature,
            cluster_temperature=self.cluster_temperature,
            balance_weight=self.balance_weight,
            warmup_fraction=self.warmup_fraction,
            ramp_fraction=self.ramp_fraction,
            weight_gradient=self.weight_gradient,
            sharpen=self.sharpen,
        )
