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

from mmmos_core.training.losses import (AUTHORS, LossConventions, OrderTerm, ccc_loss, contrastive_loss, dcq_loss,
                                         get_loss, loss_in_units, pair_weights, same_group, utmos_loss)

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


# ---- the authors' conventions, pinned on the issue's three-clip, two-axis example ----
# pred [[5, 3], [6.2, 4], [4.1, 2.5]], target [[5.3, 3.9], [6, 3.2], [4, 3]]; pairs (0,1), (0,2), (1,2):
#   axis 1: Δpred -1.2, 0.9, 2.1   Δtarget -0.7, 1.3, 2.0   |Δt - Δp| 0.5, 0.4, 0.1
#   axis 2: Δpred -1.0, 0.5, 1.5   Δtarget  0.7, 0.9, 0.2   |Δt - Δp| 1.7, 0.4, 1.3
# rating scale, margin 0.1, tau 0.5:
#   contrastive: axis 1 (0.4 + 0.3 + 0) / 3, axis 2 (1.6 + 0.3 + 1.2) / 3 -> mean 0.633333
#   clipped MSE: errors (-0.3, 0.2, 0.1) all under tau; (-0.9, 0.8, -0.5): 0.81 + 0.64 -> 1.45 / 3 / 2 = 0.241667
#   UTMOS = 0.241667 + 0.5 * 0.633333 = 0.558333
#   DCQ over all 9 ordered pairs (the diagonal adds zeros): discrepancy 2 * (0.25 + 0.16 + 0.01) / 9 and
#     2 * (2.89 + 0.16 + 1.69) / 9; alignment 2 * (1.2 + 0.9 + 2.1) / 9 and 2 * (-1 + 0.5 + 1.5) / 9
#     -> axis 1 -0.84, axis 2 0.831111 -> mean -0.004444
#   CCC: means (5.1, 3.166667) vs (5.1, 3.366667); unbiased variances 1.11 / 0.583333 vs 1.03 / 0.223333;
#     biased covariance 0.69 / 0.005556 -> CCC 0.644860 / 0.013123 -> 1 - CCC mean 0.671009
P3 = torch.tensor([[5.0, 3.0], [6.2, 4.0], [4.1, 2.5]])
T3 = torch.tensor([[5.3, 3.9], [6.0, 3.2], [4.0, 3.0]])


@pytest.mark.parametrize("name,expected", [("contrastive", 0.633333), ("utmos", 0.558333), ("dcq", -0.004444),
                                           ("ccc", 0.671009)])
def test_authors_conventions_on_the_rating_scale(name, expected):
    assert get_loss(name, AUTHORS)(P3, T3).item() == pytest.approx(expected, abs=1e-5)


def test_project_conventions_differ_only_where_named():
    # DCQ over the 6 distinct pairs: the same sums over 6 instead of 9 -> -0.004444 * 9 / 6 = -0.006667
    assert get_loss("dcq")(P3, T3).item() == pytest.approx(-0.006667, abs=1e-5)
    # population moments: variances 0.74 / 0.388889 and 0.686667 / 0.148889 -> 1 - CCC mean 0.506740
    assert get_loss("ccc")(P3, T3).item() == pytest.approx(0.506740, abs=1e-5)
    assert get_loss("contrastive")(P3, T3).item() == get_loss("contrastive", AUTHORS)(P3, T3).item()


# The `paper` recipe z-scores with the training set's per-axis mean and spread; here
# mean (5, 3) and std (2, 0.5), so axis-1 differences halve and axis-2 differences double:
#   contrastive: axis 1 |Δ| 0.25, 0.2, 0.05 -> (0.15 + 0.1 + 0) / 3 = 0.083333;
#                axis 2 |Δ| 3.4, 0.8, 2.6 -> (3.3 + 0.7 + 2.5) / 3 = 2.166667 -> mean 1.125
#   clipped MSE: axis 1 errors 0.15, 0.1, 0.05 under tau; axis 2 1.8, 1.6, 1.0 -> 6.8 / 3 / 2 = 1.133333
#   UTMOS = 1.133333 + 0.5 * 1.125 = 1.695833
#   DCQ (all 9 pairs): axis 1 2 * (0.0625 + 0.04 + 0.0025) / 9 - 2 * (0.6 + 0.45 + 1.05) / 9 = -0.443333
#                      axis 2 2 * (11.56 + 0.64 + 6.76) / 9 - 2 * (-2 + 1 + 3) / 9 = 3.768889 -> mean 1.662778
#   CCC is unchanged by the same affine map on both sides: 0.671009
MEAN, STD = torch.tensor([5.0, 3.0]), torch.tensor([2.0, 0.5])


@pytest.mark.parametrize("name,expected", [("contrastive", 1.125), ("utmos", 1.695833), ("dcq", 1.662778),
                                           ("ccc", 0.671009)])
def test_paper_recipe_losses_are_in_standard_deviations(name, expected):
    loss = loss_in_units(get_loss(name, AUTHORS), "zscore", MEAN, STD)
    pred_z = (P3 - MEAN) / STD  # what a member outputs
    assert loss(pred_z, T3).item() == pytest.approx(expected, abs=1e-5)


def test_rating_units_give_the_rating_scale_values():
    pred_z = (P3 - MEAN) / STD
    loss = loss_in_units(get_loss("utmos", AUTHORS), "rating", MEAN, STD)
    assert loss(pred_z, T3).item() == pytest.approx(0.558333, abs=1e-5)


def test_unknown_conventions_are_refused():
    with pytest.raises(ValueError, match="dcq_pairs"):
        LossConventions(dcq_pairs="some")
    with pytest.raises(ValueError, match="units"):
        loss_in_units(get_loss("ccc"), "points", MEAN, STD)


# ---- pairs weighted by group: clips 0 and 1 are versions of one recording, clip 2 another ----
# weights: pair (0,1) 1, pairs (0,2) and (1,2) 0.1; per axis the weights sum to 1.2 (x 2 axes = 2.4)
#   contrastive: axis 1 0.4 + 0.1 * 0.3 + 0.1 * 0 = 0.43, axis 2 1.6 + 0.03 + 0.12 = 1.75 -> 2.18 / 2.4 = 0.908333
#   UTMOS: 0.241667 + 0.5 * 0.908333 = 0.695833
#   DCQ (distinct pairs): discrepancy (0.25 + 0.016 + 0.001) + (2.89 + 0.016 + 0.169) = 3.342 -> 1.3925;
#     alignment (1.2 + 0.09 + 0.21) + (-1 + 0.05 + 0.15) = 0.7 -> 0.291667; 1.3925 - 0.291667 = 1.100833
GROUPS3 = ["rec-a", "rec-a", "rec-b"]


def test_pair_weights_count_versions_of_one_recording_fully():
    w = pair_weights(GROUPS3 + [None, None], 0.1)
    assert w[0, 1] == 1.0 and w[1, 0] == 1.0
    assert w[0, 2] == pytest.approx(0.1) and w[2, 1] == pytest.approx(0.1)
    assert w[3, 4] == pytest.approx(0.1)  # two clips without a group are not one group
    assert torch.all(torch.diagonal(w) == 1.0)  # a clip is always in its own group


@pytest.mark.parametrize("name,expected", [("contrastive", 0.908333), ("utmos", 0.695833), ("dcq", 1.100833),
                                           ("ccc", 0.506740)])
def test_group_weighted_pairs_by_hand(name, expected):
    assert get_loss(name)(P3, T3, pair_weight=pair_weights(GROUPS3, 0.1)).item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("name", ["contrastive", "utmos", "dcq"])
def test_equal_pair_weights_are_the_plain_loss(name):
    for conventions in (LossConventions(), AUTHORS):
        loss = get_loss(name, conventions)
        assert loss(P3, T3, pair_weight=pair_weights(GROUPS3, 1.0)).item() == pytest.approx(loss(P3, T3).item(),
                                                                                             abs=1e-6)


@pytest.mark.parametrize("name", ["contrastive", "dcq"])
def test_pairs_between_groups_at_weight_zero_cannot_move_the_loss(name):
    weight = pair_weights(GROUPS3, 0.0)
    moved = P3.clone()
    moved[2] += 3.0  # clip 2 is only ever paired across groups
    loss = get_loss(name)
    assert loss(moved, T3, pair_weight=weight).item() == pytest.approx(loss(P3, T3, pair_weight=weight).item())


def test_group_weights_pass_through_the_units_wrapper():
    pred_z = (P3 - MEAN) / STD
    loss = loss_in_units(get_loss("utmos"), "rating", MEAN, STD)
    assert loss(pred_z, T3, pair_weight=pair_weights(GROUPS3, 0.1)).item() == pytest.approx(0.695833, abs=1e-5)


# ---- the order term: versions 0, 1, 2 of one recording (labels 8, 6, 5.8), clip 3 another (label 2) ----
# Pairs within the group whose label gap exceeds 0.5: (0, 1) gap 2 and (0, 2) gap 2.2; (1, 2) is 0.2 apart
# and clip 3 is in no group with them, so only those two pairs count.
ORDER_T = torch.tensor([[8.0, 5.0], [6.0, 5.0], [5.8, 5.0], [2.0, 5.0]])
ORDER_GROUPS = ["rec", "rec", "rec", "other"]


def test_order_term_by_hand():
    pred = torch.tensor([[6.0, 1.0], [6.5, 9.0], [5.0, 3.0], [9.0, 0.0]])
    same = same_group(ORDER_GROUPS)
    # dpred (0, 1) = -0.5, (0, 2) = +1.0; reach 1: relu(2 + 0.5) = 2.5, relu(2.2 - 1) = 1.2 -> mean 1.85
    assert OrderTerm(weight=2.0)(pred, ORDER_T, same).item() == pytest.approx(3.7, abs=1e-6)
    # reach 0.5: relu(1 + 0.5) = 1.5, relu(1.1 - 1) = 0.1 -> 0.8
    assert OrderTerm(weight=1.0, reach=0.5)(pred, ORDER_T, same).item() == pytest.approx(0.8, abs=1e-6)
    # softplus(0.5) and softplus(-1): log(1 + e^0.5) = 0.974077, log(1 + e^-1) = 0.313262 -> 0.643670
    assert OrderTerm(weight=1.0, form="softplus")(pred, ORDER_T, same).item() == pytest.approx(0.643670, abs=1e-6)


def test_the_reach_form_stops_once_a_gap_reaches_its_label():
    same = same_group(ORDER_GROUPS)
    right = ORDER_T.clone()
    wider = ORDER_T.clone()
    wider[0, 0] += 3.0  # the clean version far above its damaged ones
    for pred in (right, wider):
        assert OrderTerm(weight=1.0)(pred, ORDER_T, same).item() == 0.0
    # the softplus form still pays for gaps the labels already have, and pays less the wider they get
    soft = OrderTerm(weight=1.0, form="softplus")
    assert 0 < soft(wider, ORDER_T, same).item() < soft(right, ORDER_T, same).item()


def test_order_term_ignores_other_axes_other_groups_and_close_labels():
    same = same_group(ORDER_GROUPS)
    term = OrderTerm(weight=1.0)
    base = term(ORDER_T, ORDER_T, same).item()
    moved = ORDER_T.clone()
    moved[:, 1] = torch.tensor([0.0, 9.0, 9.0, 9.0])  # CE upside down: axis 1 is not in the term
    moved[3, 0] = 10.0  # clip 3 above the clean version: a different recording
    moved[1, 0], moved[2, 0] = 5.7, 5.8  # the two versions whose labels are 0.2 apart swap places
    assert term(moved, ORDER_T, same).item() == base == 0.0
    assert OrderTerm(weight=1.0, axes=(0, 1))(moved, ORDER_T, same).item() == 0.0  # axis 1 labels are all equal


def test_order_term_without_pairs_is_zero_and_keeps_the_graph():
    pred = torch.tensor([[5.0], [6.0]], requires_grad=True)
    value = OrderTerm(weight=1.0)(pred, torch.tensor([[5.0], [5.2]]), same_group(["a", "a"]))
    value.backward()
    assert value.item() == 0.0 and torch.all(pred.grad == 0)


@pytest.mark.parametrize("kw", [{"form": "hinge"}, {"reach": 0.0}, {"reach": 1.5}, {"weight": -1.0}])
def test_bad_order_terms_are_refused(kw):
    with pytest.raises(ValueError, match="order term"):
        OrderTerm(**{"weight": 1.0, **kw})


def test_order_term_by_domain_sums_each_domains_own_mean_and_leaves_other_domains_alone():
    # Items 0-2 one recording of music, 4-5 one recording of speech, 3 another recording.
    target = torch.tensor([[8.0], [6.0], [5.8], [2.0], [7.0], [5.0]])
    pred = torch.tensor([[6.0], [6.5], [5.0], [9.0], [5.0], [6.0]])
    same = same_group(["rec", "rec", "rec", "other", "talk", "talk"])
    domains = ["music", "music", "music", None, "speech", "speech"]
    # music, reach 1: pairs (0, 1) relu(2 + 0.5) = 2.5 and (0, 2) relu(2.2 - 1) = 1.2 -> mean 1.85, weight 1
    # speech, reach 0.5: pair (4, 5) relu(0.5 * 2 + 1) = 2 -> weight 0.3 -> 0.6
    term = OrderTerm(weight=2.0, by_domain=(("speech", 0.3, 0.5), ("music", 1.0, 1.0)))
    assert term(pred, target, same, domains).item() == pytest.approx(2.0 * (1.85 + 0.6), abs=1e-6)
    music_only = OrderTerm(weight=1.0, by_domain=[["music", 1, 1]])  # as read back from JSON
    assert music_only.by_domain == (("music", 1.0, 1.0),)
    assert music_only(pred, target, same, domains).item() == pytest.approx(1.85, abs=1e-6)
    with pytest.raises(ValueError, match="needs each item's domain"):
        music_only(pred, target, same)


@pytest.mark.parametrize("kw", [{"by_domain": (("music", -1.0, 1.0),)}, {"by_domain": (("music", 1.0, 0.0),)},
                                {"by_domain": (("music", 1.0, 1.0),), "form": "softplus"}])
def test_bad_order_terms_by_domain_are_refused(kw):
    with pytest.raises(ValueError, match="order term"):
        OrderTerm(**{"weight": 1.0, **kw})
