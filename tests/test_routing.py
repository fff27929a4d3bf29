"""Fitting the router and joining domain members to a model (mmmos_core.training.routing)."""

import numpy as np
import pytest
import torch
from conftest import logmel_config

from mmmos_core.errors import MMMOSError
from mmmos_core.model.features import ClipFeatures, EncodedWindows
from mmmos_core.model.mmmos_model import build_model
from mmmos_core.training.routing import fit_router, routed, router_accuracy

DOMAINS = ("speech", "music", "sound")


def clip(vector, windows=1, seconds=None) -> ClipFeatures:
    """A clip whose encoder 'toy' gives ``vector`` (one layer) in each of its windows."""
    v = torch.as_tensor(vector, dtype=torch.float32)
    pooled = v.repeat(windows, 1, 1)  # [W, 1, D]
    weights = torch.tensor(seconds if seconds is not None else [10.0] * windows)
    encoded = EncodedWindows(pooled, pooled[:, :, None, :], torch.ones(windows, 1, dtype=torch.bool), weights)
    return ClipFeatures({"toy": encoded}, weights)


def three_clouds(n=40, seed=0):
    rng = np.random.default_rng(seed)
    centres = {"speech": [3, 0, 0, 1], "music": [0, 3, 0, 1], "sound": [0, 0, 3, 1]}
    clips, labels = [], []
    for d, c in centres.items():
        for _ in range(n):
            clips.append(clip(np.array(c, dtype=float) + rng.normal(0, 1.0, 4) * [1, 1, 1, 0]))
            labels.append(d)
    return clips, labels


def test_the_router_is_sklearns_logistic_regression_and_deterministic():
    from sklearn.linear_model import LogisticRegression

    clips, labels = three_clouds()
    router = fit_router(clips, labels, "toy")
    again = fit_router(clips, labels, "toy")
    assert torch.equal(router.linear.weight, again.linear.weight) and torch.equal(router.linear.bias, again.linear.bias)
    x = np.array([c.by_encoder["toy"].pooled[0, 0].numpy() for c in clips], dtype=float)
    z = (x - x.mean(0)) / np.where(x.std(0) < 1e-8, 1.0, x.std(0))
    reference = LogisticRegression(C=1.0, max_iter=5000, tol=1e-10).fit(z, [DOMAINS.index(d) for d in labels])
    ours = router.probabilities(clips).double().numpy()
    np.testing.assert_allclose(ours, reference.predict_proba(z), atol=2e-4)
    assert router_accuracy(router, clips, labels)["accuracy"] > 0.9


def test_items_of_no_single_domain_are_left_out_and_a_missing_domain_is_refused():
    clips, labels = three_clouds(n=10)
    mixed = clips + [clip([50.0, 50.0, 50.0, 1.0])]
    a = fit_router(mixed, labels + [None], "toy")
    b = fit_router(clips, labels, "toy")
    assert torch.equal(a.linear.weight, b.linear.weight)
    assert router_accuracy(a, mixed, labels + [None])["items"] == len(clips)
    with pytest.raises(MMMOSError, match="no training items of domain sound"):
        fit_router(clips[:20], labels[:20], "toy")
    with pytest.raises(MMMOSError, match="birdsong"):
        fit_router(clips, labels[:-1] + ["birdsong"], "toy")


def test_a_clips_vector_is_its_windows_weighted_by_real_seconds():
    from mmmos_core.model.router import clip_vectors

    c = clip([1.0, 0.0], windows=2, seconds=[10.0, 5.0])
    c.by_encoder["toy"].pooled[1, 0] = torch.tensor([4.0, 3.0])
    torch.testing.assert_close(clip_vectors([c], "toy"), torch.tensor([[2.0, 1.0]]))


def test_domain_members_join_under_their_own_names_and_the_same_targets():
    general = build_model(logmel_config(aggregators=("mlp", "blstm")), seed=0)
    special = build_model(logmel_config(aggregators=("mlp", "mlp")), seed=1)
    clips, labels = three_clouds(n=5)
    router = fit_router([clip(np.r_[c.by_encoder["toy"].pooled[0, 0].numpy(), np.zeros(60)]) for c in clips],
                        labels, "toy")
    router.config.encoder = "logmel"
    model = routed(general, special, ["music", "sound"], router, "ms-")
    assert [m.config.name for m in model.members] == ["m0-mlp", "m1-blstm", "ms-m0-mlp", "ms-m1-mlp"]
    assert [m.config.domains for m in model.members] == [[], [], ["music", "sound"], ["music", "sound"]]
    assert model.config.router.encoder == "logmel"

    other = build_model(logmel_config(aggregators=("mlp",)), seed=2)
    other.config.target_mean = [1.0, 1.0, 1.0, 1.0]
    with pytest.raises(MMMOSError, match="other targets"):
        routed(general, other, ["music"], router, "x-")
