"""Each loss against values worked out by hand on two clips.

pred = [1, 2], target = [1.5, 1] (one axis). Pairs (i, j), i != j, delta = x_i - x_j:
  dpred = [-1, +1], dtarget = [+0.5, -0.5]
contrastive: relu(|dt - dp| - 0.1) = relu(1.5 - 0.1) = 1.4 for both pairs -> 1.4
utmos: errors [-0.5, +1.0]; only |err| > 0.5 counts -> (0 + 1) / 2 = 0.5; + 0.5 * 1.4 = 1.2
dcq: mean((dp - dt)^2) = 2.25; mean(dp * sign(dt)) = -1 -> 2.25 + 1 = 3.25
ccc: means 1.5 / 1.25, variances 0.25 / 0.0625, covariance -0.125
     ccc = -0.25 / (0.25 + 0.0625 + 0.0625) = -2/3 -> loss 5/3
"""

import pytest
import torch

from mmmos_core.training.losses import ccc_loss, contrastive_loss, dcq_loss, get_loss, utmos_loss

PRED = torch.tensor([[1.0], [2.0]])
TARGET = torch.tensor([[1.5], [1.0]])


@pytest.mark.parametrize("fn,expected", [(contrastive_loss, 1.4), (utmos_loss, 1.2), (dcq_loss, 3.25),
                                         (ccc_loss, 5 / 3)])
def test_hand_worked_values(fn, expected):
    assert fn(PRED, TARGET).item() == pytest.approx(expected, abs=1e-6)


def test_axes_are_averaged():
    # A second, perfectly predicted axis: contrastive 0, clipped MSE 0, ccc 0 -> halves the loss.
    pred = torch.cat([PRED, TARGET], dim=1)
    target = torch.cat([TARGET, TARGET], dim=1)
    assert contrastive_loss(pred, target).item() == pytest.approx(0.7)
    assert utmos_loss(pred, target).item() == pytest.approx(0.6)
    assert ccc_loss(pred, target).item() == pytest.approx(5 / 6, abs=1e-6)


def test_perfect_prediction_minimises_every_loss():
    target = torch.tensor([[3.0, 4.0], [5.0, 1.0], [7.0, 9.0]])
    assert contrastive_loss(target, target).item() == 0.0
    assert utmos_loss(target, target).item() == 0.0
    assert ccc_loss(target, target).item() == pytest.approx(0.0, abs=1e-6)
    # dcq's alignment term rewards the right ordering: below zero at the optimum
    assert dcq_loss(target, target).item() < dcq_loss(target.flip(0), target).item()


def test_single_clip_batches_do_not_crash():
    for name in ("utmos", "contrastive", "dcq"):
        assert torch.isfinite(get_loss(name)(PRED[:1], TARGET[:1]))


def test_gradients_flow():
    pred = PRED.clone().requires_grad_(True)
    for name in ("utmos", "contrastive", "dcq", "ccc"):
        pred.grad = None
        get_loss(name)(pred, TARGET).backward()
        assert pred.grad is not None and torch.any(pred.grad != 0)
