"""Saving and loading estimators in a format whose loading cannot run code.

``pickle`` and ``joblib`` files (the usual way to persist scikit-learn estimators, and
ours too) execute code when loaded: load only files you trust. :func:`save_model` writes a
file that :func:`load_model` reads without executing anything: the parameters as JSON and
the weights and fitted state as tensors and plain values, read back with
``torch.load(weights_only=True)`` after a SHA-256 check (the format of
:mod:`deepclust.training.checkpoint`). ``skops.io`` cannot save these estimators (it cannot
construct torch tensors), hence this format.

Only estimators whose parameters are plain values can be saved this way: a
``torch.nn.Module`` backbone, a callable ``augment``, callbacks or a ``RandomState``
cannot be stored without code; :func:`save_model` then raises and says to use pickle.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch

from ._base import BaseDeepClusterer, DeviceWarning
from ._data import InputLayout
from ._device import device_available
from .training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .training.rng import SeedManager

__all__ = ["load_model", "save_model"]

_KIND = "deepclust-estimator"


def _estimator_classes() -> dict[str, type]:
    from ._drc import DRCClustering
    from ._jcl import JCLClustering
    from ._scl import SCLClustering

    return {cls.__name__: cls for cls in (DRCClustering, SCLClustering, JCLClustering)}


def _use_pickle(what: str) -> TypeError:
    return TypeError(
        f"{what} cannot be saved by save_model, whose files hold no code. Use pickle or joblib "
        "(and load such files only from sources you trust), or set the parameter to a plain value."
    )


def _encode_param(name: str, value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode_param(name, v) for v in value]}
    if isinstance(value, list):
        if name == "callbacks" and value:
            raise _use_pickle(f"The 'callbacks' parameter ({len(value)} callback(s))")
        return [_encode_param(name, v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _encode_param(name, v) for k, v in value.items()}
    raise _use_pickle(f"The {name!r} parameter ({type(value).__name__})")


def _decode_param(value):
    if isinstance(value, list):
        return [_decode_param(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__device__"}:
            return torch.device(value["__device__"])
        if set(value) == {"__tuple__"}:
            return tuple(_decode_param(v) for v in value["__tuple__"])
        return {k: _decode_param(v) for k, v in value.items()}
    return value


def _encode_attribute(value):
    """Fitted attributes as what ``torch.load(weights_only=True)`` reads: tensors, plain values."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"__numpy_object__": [_encode_attribute(v) for v in value.tolist()]}
        return {"__numpy__": torch.from_numpy(np.array(value, copy=True))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _encode_attribute(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_encode_attribute(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__}")


def _decode_attribute(value):
    if isinstance(value, dict):
        if set(value) == {"__numpy__"}:
            return value["__numpy__"].numpy()
        if set(value) == {"__numpy_object__"}:
            return np.asarray(value["__numpy_object__"], dtype=object)
        if set(value) == {"__device__"}:
            return torch.device(value["__device__"])
        return {k: _decode_attribute(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_decode_attribute(v) for v in value)
    return value


def save_model(estimator: BaseDeepClusterer, path: str | os.PathLike) -> None:
    """Save a deepclust estimator (fitted or not) to ``path``, in a format without code.

    The file holds the parameters (JSON), the network's weights, the fitted attributes
    (``labels_``, ``history_``, ...) and the training state a warm start continues from;
    :func:`load_model` reads it back with ``torch.load(weights_only=True)``, so loading a
    file cannot run code, unlike pickle. It is written atomically.

    Parameters
    ----------
    estimator : DRCClustering, SCLClustering or JCLClustering
        The estimator to save. Its parameters must be plain values.
    path : str or path-like
        Destination file (its directory is created if needed).

    Raises
    ------
    TypeError
        If ``estimator`` is not one of deepclust's estimators (a subclass is code), or a
        parameter cannot be stored without code: a ``torch.nn.Module`` backbone, a
        callable ``augment``, callbacks, a ``RandomState``. Use pickle then.

    See Also
    --------
    load_model : Read the file back.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering, load_model, save_model
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = DRCClustering(n_clusters=3, max_epochs=5, batch_size=32, device="cpu", random_state=0).fit(X)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     save_model(model, os.path.join(tmp, "drc.deepclust"))
    ...     loaded = load_model(os.path.join(tmp, "drc.deepclust"))
    >>> bool((loaded.predict(X) == model.predict(X)).all()), np.array_equal(loaded.transform(X), model.transform(X))
    (True, True)

    A callable augmentation is code, which this format does not store:

    >>> try:
    ...     save_model(DRCClustering(augment=lambda x, g: x), "never-written.deepclust")
    ... except TypeError as exc:
    ...     print(str(exc)[:60])
    The 'augment' parameter (function) cannot be saved by save_m
    """
    classes = _estimator_classes()
    name = type(estimator).__name__
    if classes.get(name) is not type(estimator):
        raise TypeError(
            f"save_model saves {', '.join(classes)} only; {type(estimator).__qualname__} is another class "
            "(its code would have to be imported to load it). Use pickle or joblib for it."
        )
    params = {k: _encode_param(k, v) for k, v in estimator.get_params(deep=False).items()}
    state = {"kind": _KIND, "class": name, "params": json.dumps(params), "fitted": None}
    if hasattr(estimator, "module_"):
        fitted = {}
        for key, value in vars(estimator).items():
            if key in params or key in ("module_", "_training_state_"):
                continue
            try:
                fitted[key] = _encode_attribute(value)
            except TypeError as exc:  # pragma: no cover - every attribute fit sets is plain
                raise _use_pickle(f"The fitted attribute {key!r} ({exc})") from None
        state["fitted"] = fitted
        state["module"] = {k: v.detach().to("cpu", copy=True) for k, v in estimator.module_.state_dict().items()}
        state["training_state"] = getattr(estimator, "_training_state_", None)
    save_checkpoint(state, path)


def load_model(path: str | os.PathLike) -> BaseDeepClusterer:
    """Load an estimator saved by :func:`save_model`; nothing in the file is executed.

    The model is put on the device it was fitted on when that device is available, else on
    the CPU with a :class:`~deepclust.DeviceWarning`, as when unpickling.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.

    Returns
    -------
    estimator : DRCClustering, SCLClustering or JCLClustering
        With the saved parameters and, if it was fitted, identical ``predict``,
        ``predict_proba`` and ``transform``; a warm start continues its training.

    Raises
    ------
    deepclust.training.checkpoint.CheckpointError
        If the file is not a saved deepclust estimator, or is truncated or corrupted.

    See Also
    --------
    save_model : Write the file.

    Examples
    --------
    A saved model continues its training after loading, as a warm start would have:

    >>> import os
    >>> import tempfile
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DRCClustering, load_model, save_model
    >>> X, _ = make_blobs(n_samples=60, centers=2, random_state=0)
    >>> model = DRCClustering(n_clusters=2, max_epochs=1, batch_size=30, device="cpu", warm_start=True).fit(X)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     save_model(model, os.path.join(tmp, "drc.deepclust"))
    ...     loaded = load_model(os.path.join(tmp, "drc.deepclust"))
    >>> type(loaded).__name__, loaded.warm_start, loaded.fit(X).n_iter_
    ('DRCClustering', True, 2)
    """
    import warnings

    state = load_checkpoint(path)
    classes = _estimator_classes()
    if state.get("kind") != _KIND or state.get("class") not in classes:
        raise CheckpointError(f"{os.fspath(path)!r} is not an estimator saved by deepclust.save_model.")
    cls = classes[state["class"]]
    params = {k: _decode_param(v) for k, v in json.loads(state["params"]).items()}
    estimator = cls(**params)
    if state["fitted"] is None:
        return estimator
    fitted = {k: _decode_attribute(v) for k, v in state["fitted"].items()}
    for key in ("input_shape_",):
        fitted[key] = tuple(fitted[key])
    vars(estimator).update(fitted)
    sample_shape = estimator.input_shape_
    is_image = len(sample_shape) == 3
    layout = InputLayout("image" if is_image else "tabular", sample_shape, getattr(estimator, "_input_source_", ""))
    weights = state["module"]
    cpu = torch.device("cpu")
    with SeedManager(0, cpu).scoped_global_seed():  # the initial weights are overwritten below
        module = estimator._build_module(
            layout, estimator._make_objective(), weights["standardize.mean"].flatten(), weights["standardize.std"].flatten()
        )
    if is_image:
        module = module.to(memory_format=torch.channels_last)  # as in fit: the same kernels
    module.load_state_dict(weights)
    device = estimator.device_
    if device.type != "cpu" and not device_available(device):
        warnings.warn(
            f"This model was fitted on {device}, which is not available here; it was loaded on the CPU.",
            DeviceWarning,
            stacklevel=2,
        )
        device = cpu
    estimator.module_ = module.to(device).eval()
    estimator.device_ = device
    estimator._training_state_ = state.get("training_state")
    return estimator
