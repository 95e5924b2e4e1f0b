"""Batched random erasing against torchvision's ``F.erase`` and ``RandomErasing`` sampling rule.

Erasing copies values, so the comparison with torchvision is exact (``torch.equal``).
"""

import math

import pytest
import torch

from deepclust.augment import RandomErasing, handwriting_preset
from deepclust.nn.resnet import import_torchvision

import_torchvision()
from torchvision.transforms.v2 import functional as TF  # noqa: E402


def _images(n=64, c=1, h=12, w=16, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("shape", [(1, 12, 16), (3, 10, 10)])
def test_matches_torchvision_erase(shape):
    x = _images(64, *shape)
    op = RandomErasing(p=0.7, value=0.25)
    params = op.sample_params(x, torch.Generator().manual_seed(1))
    out = op.apply(x, params)
    erased = params["height"] > 0
    assert 0 < int(erased.sum()) < 64  # some samples erased, some not
    assert params["top"][erased].unique().numel() > 3  # per-sample rectangles
    for i in range(64):
        ref = TF.erase(x[i], int(params["top"][i]), int(params["left"][i]), int(params["height"][i]),
                       int(params["width"][i]), torch.tensor(0.25))
        assert torch.equal(out[i], ref), i


def test_rectangles_follow_torchvisions_rule():
    h_img, w_img = 12, 16
    x = _images(4000, 1, h_img, w_img)
    op = RandomErasing(p=1.0, scale=(0.05, 0.3), ratio=(0.5, 2.0))
    params = op.sample_params(x, torch.Generator().manual_seed(2))
    h, w, top, left = params["height"], params["width"], params["top"], params["left"]
    on = h > 0
    assert on.float().mean() > 0.99  # p = 1 and these scales almost always fit
    h, w, top, left = h[on], w[on], top[on], left[on]
    assert bool((h < h_img).all() and (w < w_img).all())
    assert bool((top >= 0).all() and (left >= 0).all())
    assert bool((top + h <= h_img).all() and (left + w <= w_img).all())
    area = (h * w).float() / (h_img * w_img)
    assert 0.02 < float(area.min()) and float(area.max()) < 0.4  # within scale, up to rounding
    ratio = h.float() / w.float()
    assert 0.3 < float(ratio.min()) and float(ratio.max()) < 3.0
    assert float(torch.log(ratio).mean()) == pytest.approx(0.0, abs=0.1)  # log-uniform, symmetric range
    # The corner is uniform over the positions where the rectangle fits: both ends are reached.
    assert int(top.min()) == 0 and bool((top + h == h_img).any())


def test_p_and_impossible_sizes():
    x = _images(2000)
    none = RandomErasing(p=0.0).sample_params(x, torch.Generator().manual_seed(3))
    assert int(none["height"].sum()) == 0
    half = RandomErasing(p=0.5).sample_params(x, torch.Generator().manual_seed(3))
    assert float((half["height"] > 0).float().mean()) == pytest.approx(0.5, abs=0.05)
    # A rectangle taller than the image never fits: no sample is erased (torchvision returns the input).
    too_big = RandomErasing(p=1.0, scale=(0.9, 1.0), ratio=(10.0, 20.0)).sample_params(x, torch.Generator().manual_seed(3))
    assert int(too_big["height"].sum()) == 0


def test_deterministic_and_input_untouched():
    x = _images(8)
    before = x.clone()
    op = RandomErasing(p=1.0)
    a = op(x, torch.Generator().manual_seed(4))
    b = op(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert torch.equal(x, before)
    assert a.dtype == x.dtype and a.shape == x.shape
    assert not torch.equal(a, x)
    assert math.isclose(float(a.min()), 0.0)


def test_handwriting_preset_erase_p():
    assert "RandomErasing" not in [type(op).__name__ for op in handwriting_preset().ops]  # off by default
    op = next(op for op in handwriting_preset((0.1, 0.9), erase_p=0.3).ops if isinstance(op, RandomErasing))
    assert op.p == 0.3 and op.value == 0.1  # filled with the background (the range's minimum)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="erase_p"):
            handwriting_preset(erase_p=bad)
