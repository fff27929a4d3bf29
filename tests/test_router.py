"""Members that serve chosen domains, weighed per clip by a router (mmmos_core.model.router)."""

import json
import math

import numpy as np
import pytest
import torch
from conftest import logmel_config

from mmmos_core.batch.records import flatten_record
from mmmos_core.errors import ModelLoadError
from mmmos_core.model.cache import EmbeddingCache
from mmmos_core.model.mmmos_model import MMMOSModel, build_model
from mmmos_core.model.router import DomainRouter, RouterConfig, check_routing, member_weights
from mmmos_core.views.words import heard_as_sentence

SR = 16000
AXES = ("PQ", "PC", "CE", "CU")


def noise(seconds, seed=0):
    rng = np.random.default_rng(seed)
    return SR, (0.1 * rng.standard_normal(int(seconds * SR))).astype(np.float32)


def routed_model(probabilities=(0.2, 0.5, 0.3), seed=0) -> MMMOSModel:
    """Two general members and two for music and sound; the router hears every clip with
    ``probabilities`` (speech, music, sound): zero weights, the log-probabilities as biases."""
    config = logmel_config(aggregators=("mlp", "blstm", "mlp", "mlp"))
    for member in config.members[2:]:
        member.domains = ["music", "sound"]
    config.router = RouterConfig("logmel")
    model = build_model(config, seed=seed)
    with torch.no_grad():
        model.router.linear.weight.zero_()
        model.router.linear.bias.copy_(torch.log(torch.tensor(probabilities)))
    model.cache = EmbeddingCache(0)
    return model


def test_a_domain_group_shares_its_domains_probability_and_the_general_members_the_rest():
    p = torch.tensor([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]])
    w = member_weights([[], [], ["music", "sound"], ["sound", "music"]], p, ["speech", "music", "sound"])
    torch.testing.assert_close(w[:, 0], torch.tensor([0.1, 0.1, 0.4, 0.4]))
    torch.testing.assert_close(w[:, 1], torch.tensor([0.45, 0.45, 0.05, 0.05]))
    torch.testing.assert_close(w.sum(dim=0), torch.ones(2))
    # Two groups: each takes its own domains' probability.
    w = member_weights([[], ["music"], ["sound"]], p, ["speech", "music", "sound"])
    torch.testing.assert_close(w[:, 0], torch.tensor([0.2, 0.5, 0.3]))
    # Without a router every member counts equally.
    torch.testing.assert_close(member_weights([[], []], None), torch.full((2, 1), 0.5))


def test_members_a_router_cannot_weigh_are_refused():
    router = RouterConfig("logmel")
    with pytest.raises(ModelLoadError, match="no router"):
        check_routing([[], ["music"]], None)
    with pytest.raises(ModelLoadError, match="does not know"):
        check_routing([[], ["birdsong"]], router)
    with pytest.raises(ModelLoadError, match="general member"):
        check_routing([["speech"], ["music", "sound"]], router)
    with pytest.raises(ModelLoadError, match="overlap"):
        check_routing([[], ["music"], ["music", "sound"]], router)
    check_routing([[], []], None)
    check_routing([[], ["music", "sound"]], router)


def test_a_routed_score_is_the_weighted_mean_of_its_members():
    model = routed_model((0.2, 0.5, 0.3))
    prediction = model.predict(noise(3.0))
    weights = [m.weight for m in prediction.members]
    assert weights == pytest.approx([0.1, 0.1, 0.4, 0.4], abs=1e-6)
    for axis in AXES:
        expected = sum(m.weight * m.scores[axis] for m in prediction.members)
        assert prediction.scores[axis] == pytest.approx(expected, abs=1e-5)
    assert prediction.domains == pytest.approx({"speech": 0.2, "music": 0.5, "sound": 0.3}, abs=1e-6)
    assert heard_as_sentence(prediction.to_record()) == "Heard as music (50%)."


def test_a_clip_heard_as_speech_is_scored_by_the_general_members_alone():
    routed = routed_model((1.0 - 2e-9, 1e-9, 1e-9))
    general = routed.with_members([0, 1])
    assert general.router is None  # no domain members left: nothing to weigh
    audio = noise(4.0, seed=2)
    a, b = routed.predict(audio), general.predict(audio)
    for axis in AXES:
        assert a.scores[axis] == pytest.approx(b.scores[axis], abs=1e-5)
        # The members asked nothing about this clip do not widen its spread.
        assert a.spread[axis].min == pytest.approx(b.spread[axis].min, abs=1e-6)
        assert a.spread[axis].max == pytest.approx(b.spread[axis].max, abs=1e-6)
        assert a.spread[axis].std == pytest.approx(b.spread[axis].std, abs=1e-5)
    assert [m.name for m in a.counted_members] == [m.name for m in b.members]


def test_the_router_round_trips_and_an_unrouted_model_keeps_format_1(tmp_path):
    model = routed_model((0.3, 0.3, 0.4), seed=1)
    with torch.no_grad():
        model.router.linear.weight.normal_(0, 0.1)  # so that the clip's own features matter
    model.save_pretrained(tmp_path / "routed")
    manifest = json.loads((tmp_path / "routed" / "mmmos.json").read_text())
    assert manifest["format_version"] == 2 and manifest["router"]["encoder"] == "logmel"
    assert [m.get("domains", []) for m in manifest["members"]] == [[], [], ["music", "sound"], ["music", "sound"]]
    loaded = MMMOSModel.from_pretrained(tmp_path / "routed")
    loaded.cache = EmbeddingCache(0)
    audio = noise(2.5, seed=3)
    assert loaded.predict(audio).to_record() == model.predict(audio).to_record()

    plain = build_model(logmel_config(), seed=0)
    plain.save_pretrained(tmp_path / "plain")
    manifest = json.loads((tmp_path / "plain" / "mmmos.json").read_text())
    assert manifest["format_version"] == 1 and "router" not in manifest
    assert all("domains" not in m for m in manifest["members"])
    record = MMMOSModel.from_pretrained(tmp_path / "plain").predict(audio).to_record()
    assert "domain" not in record and all("weight" not in m for m in record["members"])


def test_a_routed_model_missing_its_router_is_a_clear_error(tmp_path):
    routed_model().save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "router.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="router"):
        MMMOSModel.from_pretrained(tmp_path / "m")


def test_records_and_csv_rows_say_what_was_heard_and_each_members_share():
    record = routed_model((0.2, 0.5, 0.3)).predict(noise(2.0)).to_record()
    assert record["domain"] == pytest.approx({"speech": 0.2, "music": 0.5, "sound": 0.3}, abs=1e-6)
    row = flatten_record(record)
    assert row["domain:music"] == pytest.approx(0.5, abs=1e-6)
    assert row["m2-mlp:weight"] == pytest.approx(0.4, abs=1e-6) and row["m0-mlp:weight"] == pytest.approx(0.1, abs=1e-6)
    assert flatten_record(row) == row


def test_a_routed_timeline_averages_to_the_clips_score():
    model = routed_model((0.1, 0.6, 0.3))
    prediction = model.predict(noise(25.0, seed=4), timeline=True)
    seconds = [w.end - w.start for w in prediction.windows]
    for axis in AXES:
        mean = sum(s * w.scores[axis] for s, w in zip(seconds, prediction.windows)) / sum(seconds)
        assert mean == pytest.approx(prediction.scores[axis], abs=1e-4)


def test_router_probabilities_come_from_the_clips_own_features():
    router = DomainRouter(RouterConfig("logmel"), 4)
    with torch.no_grad():
        router.linear.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]]))
        router.linear.bias.zero_()
    p = router(torch.tensor([[math.log(2.0), 0.0, 0.0, 5.0]]))
    torch.testing.assert_close(p, torch.tensor([[0.5, 0.25, 0.25]]))


def test_on_an_axis_the_router_leaves_alone_only_the_general_members_count():
    model = routed_model((0.1, 0.6, 0.3))
    model.router.config.axes = ["PQ", "CE", "CU"]
    audio = noise(3.0, seed=5)
    prediction = model.predict(audio)
    general = [m for m in prediction.members if not m.name.startswith("m2") and not m.name.startswith("m3")]
    assert prediction.scores["PC"] == pytest.approx(np.mean([m.scores["PC"] for m in general]), abs=1e-5)
    assert prediction.spread["PC"].max == pytest.approx(max(m.scores["PC"] for m in general), abs=1e-6)
    expected_pq = sum(m.weight * m.scores["PQ"] for m in prediction.members)
    assert prediction.scores["PQ"] == pytest.approx(expected_pq, abs=1e-5)
    assert prediction.to_record()["routed_axes"] == ["PQ", "CE", "CU"]
    timeline = model.predict(audio, timeline=True)
    assert timeline.windows[0].scores["PC"] == pytest.approx(prediction.scores["PC"], abs=1e-5)


def test_a_router_on_unknown_axes_is_refused():
    with pytest.raises(ModelLoadError, match="router axes"):
        RouterConfig.from_dict({"encoder": "logmel", "axes": ["PQ", "loudness"]})
    with pytest.raises(ModelLoadError, match="router axes"):
        RouterConfig.from_dict({"encoder": "logmel", "axes": []})
