"""The boundary-weighted cross-entropy of the interactive training loss (round 13)."""

import torch

from ivos_core.training import loss_fn
from ivos_core.training.config import TrainConfig
from ivos_core.training.loop import boundary_band

import pytest


def _square(size: int = 32, lo: int = 8, hi: int = 24) -> torch.Tensor:
    t = torch.zeros(1, 1, size, size)
    t[..., lo:hi, lo:hi] = 1
    return t


def test_band_covers_only_pixels_near_the_boundary():
    band = boundary_band(_square(), radius=2)[0, 0]
    assert band[16, 16] == 0 and band[0, 0] == 0  # deep inside, far outside
    assert band[8, 16] == 1 and band[6, 16] == 1 and band[9, 16] == 1  # on and within 2 px of the edge
    assert band[5, 16] == 0 and band[11, 16] == 0
    # a 16x16 square's band of radius 2: the 20x20 dilation minus the 12x12 erosion
    assert int(band.sum()) == 20 * 20 - 12 * 12


def test_boundary_weight_raises_the_cost_of_boundary_errors_only():
    target = _square()
    weight = torch.ones_like(target)
    interior_error = target.clone() * 24 - 12  # confident and right everywhere ...
    interior_error[..., 16, 16] = -4  # ... except one pixel deep inside the object
    boundary_error = target.clone() * 24 - 12
    boundary_error[..., 8, 16] = -4  # ... or one pixel on its boundary
    plain_i, _, _ = loss_fn(interior_error, target, weight, 0.0)
    plain_b, _, _ = loss_fn(boundary_error, target, weight, 0.0)
    assert torch.isclose(plain_i, plain_b)
    weighted_i, _, _ = loss_fn(interior_error, target, weight, 0.0, boundary_weight=4.0, boundary_radius=2)
    weighted_b, _, _ = loss_fn(boundary_error, target, weight, 0.0, boundary_weight=4.0, boundary_radius=2)
    assert weighted_b > 3 * weighted_i


def test_ignored_pixels_stay_ignored_with_boundary_weight():
    target = _square()
    weight = torch.ones_like(target)
    weight[..., 8, :] = 0  # the boundary row is ignored (padding / ignore label)
    logits = target * 8 - 4
    logits[..., 8, 16] = -40  # a huge error there must not count
    loss, _, _ = loss_fn(logits, target, weight, 0.0, boundary_weight=4.0, boundary_radius=2)
    assert float(loss) < 0.05


def test_config_rejects_negative_boundary_weight():
    with pytest.raises(ValueError, match="boundary_weight"):
        TrainConfig(boundary_weight=-1)
    assert TrainConfig.from_dict({"lr": 1e-3}).boundary_weight == 0.0  # old checkpoints' configs load
