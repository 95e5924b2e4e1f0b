"""Property-based tests of fit/predict over shapes, dtypes, memory layouts and parameters.

Only the documented exceptions (ValueError, TypeError; scikit-learn's InvalidParameterError
is both; NonFiniteError, a FloatingPointError, when training diverges, e.g. with lr=10) may escape, the outputs are finite and well-formed, and the caller's array is never
modified. Kept small (tiny arrays, at most one epoch) so the suite stays fast on two cores.
"""

import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from deepclust import DRCClustering, SCLClustering  # noqa: E402
from deepclust.training.trainer import NonFiniteError  # noqa: E402

DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8, np.bool_]


@st.composite
def arrays(draw):
    n = draw(st.integers(1, 12))
    kind = draw(st.sampled_from(["tabular", "grey", "nhwc", "nchw"]))
    if kind == "tabular":
        shape = (n, draw(st.integers(1, 5)))
    elif kind == "grey":
        shape = (n, draw(st.integers(4, 8)), draw(st.integers(4, 8)))
    elif kind == "nhwc":
        shape = (n, 6, 6, draw(st.sampled_from([1, 3])))
    else:
        shape = (n, draw(st.sampled_from([1, 3])), 6, 6)
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    scale = draw(st.sampled_from([1.0, 1e-30, 1e6, 1e30, 0.0]))
    X = rng.standard_normal((2 * shape[0],) + shape[1:]) * scale
    if dtype == np.uint8:
        X = rng.integers(0, 256, size=X.shape)
    elif dtype == np.bool_:
        X = X > 0
    with np.errstate(over="ignore", invalid="ignore"):
        X = X.astype(dtype) if np.issubdtype(dtype, np.floating) or dtype == np.bool_ else np.asarray(X).astype(dtype)
    special = draw(st.sampled_from([None] * 5 + [np.nan, np.inf]))
    if special is not None and np.issubdtype(X.dtype, np.floating):
        X.flat[draw(st.integers(0, X.size - 1))] = special
    layout = draw(st.sampled_from(["C", "F", "strided", "reversed"]))
    if layout == "strided":
        X = X[::2]
    else:
        X = X[: shape[0]]
        if layout == "F":
            X = np.asfortranarray(X)
        elif layout == "reversed":
            X = X[::-1]
    return X


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    X=arrays(),
    cls=st.sampled_from([DRCClustering, SCLClustering]),
    n_clusters=st.sampled_from([2, 2, 3, 3, 4, 4, 5, 1]),
    batch_size=st.sampled_from([2, 3, 4, 7, 8, 9, 16, 1]),
    max_epochs=st.integers(0, 1),
    lr=st.sampled_from([1e-3] * 6 + [10.0, -1.0]),
)
def test_fit_predict_only_documented_errors(X, cls, n_clusters, batch_size, max_epochs, lr):
    before = X.copy()
    flags = (X.flags.c_contiguous, X.flags.f_contiguous, X.strides)
    model = cls(n_clusters=n_clusters, batch_size=batch_size, max_epochs=max_epochs, lr=lr, device="cpu", random_state=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X)
    except (ValueError, TypeError, NonFiniteError) as exc:
        hypothesis.event(f"rejected: {type(exc).__name__}")
    else:
        hypothesis.event("fitted")
        labels = model.predict(X)
        assert labels.shape == (len(X),) and labels.dtype == np.int64
        assert ((0 <= labels) & (labels < n_clusters)).all()
        np.testing.assert_array_equal(labels, model.labels_)
        proba = model.predict_proba(X)
        assert np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
        assert np.isfinite(model.transform(X)).all()
    np.testing.assert_array_equal(X, before)
    assert (X.flags.c_contiguous, X.flags.f_contiguous, X.strides) == flags


# ------------------------------------------------------------------ scales, containers, layouts
try:
    import pandas
except ImportError:  # optional: the container is then not drawn
    pandas = None
try:
    import polars
except ImportError:
    polars = None

import torch  # noqa: E402

CONTAINERS = ["numpy", "list", "torch", "torch_grad", "torch_float64", "torch_float16"]
CONTAINERS += ["pandas"] if pandas is not None else []
CONTAINERS += ["polars"] if polars is not None else []


def _as_container(X, container):
    if container == "numpy":
        return X
    if container == "list":
        return X.tolist()
    if container.startswith("torch"):
        dtype = {"torch_float64": torch.float64, "torch_float16": torch.float16}.get(container, torch.float32)
        tensor = torch.tensor(X, dtype=dtype)
        return tensor.requires_grad_(True) if container == "torch_grad" else tensor
    if container == "pandas":
        return pandas.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    return polars.DataFrame(X, schema=[f"f{i}" for i in range(X.shape[1])])


@st.composite
def scaled_arrays(draw):
    n = draw(st.integers(6, 12))
    kind = draw(st.sampled_from(["tabular", "grey", "nhwc", "nchw"]))
    shape = {"tabular": (n, draw(st.integers(1, 4))), "grey": (n, 5, 5), "nhwc": (n, 5, 5, 3), "nchw": (n, 3, 5, 5)}[kind]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    offset = draw(st.sampled_from([0.0, 0.0, 3.0]))
    return rng.standard_normal(shape) + offset


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    X=scaled_arrays(),
    scale=st.sampled_from([1e-12, 1e-8, 1e-3, 1e4, 1e12]),
    container=st.sampled_from(CONTAINERS),
)
def test_scale_container_and_layout_do_not_change_the_model_input(X, scale, container):
    # X * scale must reach the backbone as X does (constant judged relative to the scale),
    # and every container must give the result of the equivalent float32 NumPy array.
    if X.ndim != 2 and container in ("pandas", "polars"):
        container = "numpy"
    kw = dict(n_clusters=2, batch_size=4, device="cpu", random_state=0)
    if container == "torch_float16":
        scale = 1.0  # float16 cannot hold 1e-8 or 1e12
    scaled = X * scale
    data = _as_container(scaled, container)
    before = data.detach().clone() if isinstance(data, torch.Tensor) else None
    # What the container holds, as a float32 NumPy array (float16 tensors are rounded).
    as_numpy = (data.detach().float().numpy() if isinstance(data, torch.Tensor) else scaled).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = DRCClustering(max_epochs=0, **kw).fit(X)
        model = DRCClustering(max_epochs=1, **kw).fit(data)
        same = DRCClustering(max_epochs=1, **kw).fit(as_numpy)
    np.testing.assert_array_equal(model.labels_, same.labels_)
    np.testing.assert_array_equal(model.transform(data), same.transform(as_numpy))
    if container != "torch_float16":
        # The model layout (n, C, H, W) of the scaled and of the unscaled data.
        def model_layout(A):
            A = torch.as_tensor(np.asarray(A, dtype=np.float32))
            return A[:, None] if A.ndim == 3 else A.permute(0, 3, 1, 2) if A.ndim == 4 and A.shape[-1] == 3 else A

        got = model.module_.standardize(model_layout(scaled))
        want = reference.module_.standardize(model_layout(X))
        assert torch.isfinite(got).all()
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-3, rtol=1e-3)
    if before is not None:
        assert torch.equal(data.detach(), before) and data.grad is None
