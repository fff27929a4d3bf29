"""Figures show what they claim: the scores, every member, the 1-10 scale, PC as complexity."""

from __future__ import annotations

import numpy as np
import pytest

from mmmos_core.axes import AXES
from mmmos_core.model.results import Prediction
from mmmos_core.views.figures import (
    BATCH_HEADERS,
    SCORE_HEADERS,
    batch_rows,
    radar_figure,
    score_rows,
    spread_figure,
)


@pytest.fixture
def prediction() -> Prediction:
    scores = np.array([[6.0, 2.0, 5.0, 4.0], [7.0, 3.0, 6.5, 5.0], [6.5, 2.5, 5.5, 4.5]])
    return Prediction.from_member_scores("clip.wav", "test-model", ["a", "b", "c"], scores, 3.0, [], "demo")


def test_radar_shows_the_mean_and_every_member_on_the_1_to_10_scale(prediction):
    fig = radar_figure(prediction)
    mean = next(t for t in fig.data if t.name == "ensemble mean")
    assert list(mean.r) == pytest.approx([prediction[a] for a in AXES] + [prediction["PQ"]])  # closed loop
    members = [t for t in fig.data if t.legendgroup == "members"]
    assert len(members) == 3
    assert list(members[1].r[:4]) == pytest.approx([7.0, 3.0, 6.5, 5.0])
    assert tuple(fig.layout.polar.radialaxis.range) == (1.0, 10.0)
    labels = list(mean.theta)
    assert any("PC" in t and "more ≠ better" in t for t in labels)


def test_radar_band_spans_member_min_and_max(prediction):
    fig = radar_figure(prediction.to_record(), members="band")
    band = next(t for t in fig.data if t.name == "member min–max")
    r = list(band.r)
    assert r[:4] == pytest.approx([7.0, 3.0, 6.5, 5.0])  # outer ring: max
    assert sorted(r[5:9]) == pytest.approx(sorted([6.0, 2.0, 5.0, 4.0]))  # inner ring: min
    assert band.fill == "toself"


def test_spread_has_a_point_per_member_and_axis(prediction):
    fig = spread_figure(prediction)
    points = [t for t in fig.data if t.legendgroup == "members"]
    assert len(points) == 3 and all(len(t.y) == 4 for t in points)
    ranges = [t for t in fig.data if t.legendgroup == "range"]
    assert [tuple(t.y) for t in ranges] == [(6.0, 7.0), (2.0, 3.0), (5.0, 6.5), (4.0, 5.0)]
    assert "more ≠ better" in fig.layout.xaxis.ticktext[1]


def test_score_table_rows(prediction):
    rows = score_rows(prediction)
    assert len(rows) == 4 and len(rows[0]) == len(SCORE_HEADERS)
    assert rows[0][0] == "PQ" and rows[0][2] == pytest.approx(6.5) and rows[0][4] == 6.0 and rows[0][5] == 7.0
    assert "more ≠ better" in rows[1][1]


def test_batch_rows_keep_errors_visible(prediction):
    rows = batch_rows([prediction.to_record(), {"path": "bad.wav", "error": "cannot decode"}])
    assert len(rows[0]) == len(BATCH_HEADERS)
    assert rows[0][0] == "clip.wav" and rows[0][5] == pytest.approx(1.5)
    assert rows[1][0] == "bad.wav" and rows[1][-1] == "cannot decode" and rows[1][1] is None


# ---- plain words, context strip (Predict for visitors) -------------------------------
def _record(scores, member_std, flags=(), name="clip.wav", members=6):
    from mmmos_core.axes import AXES as _AXES

    return {"file": name, **dict(zip(_AXES, scores)), "flags": list(flags), "duration_s": 3.0,
            "members": [{"name": f"m{k}"} for k in range(members)],
            "spread": {a: {"std": s, "min": 0.0, "max": 0.0} for a, s in zip(_AXES, member_std)}}


def test_agreement_is_said_in_words_and_names_the_uncertain_axis():
    from mmmos_core.views.words import agreement_sentence

    assert agreement_sentence(_record([5, 5, 5, 5], [0.1, 0.2, 0.3, 0.1])).startswith(
        "The 6 members agree closely on all four axes")
    text = agreement_sentence(_record([5, 5, 5, 5], [0.1, 0.2, 0.9, 0.5]))
    assert "Members disagree on CE (±0.9): treat it as uncertain." in text
    assert "roughly agree on CU" in text and "agree closely on PQ and PC" in text
    # with nothing uncertain, the first sentence names the members ("They" would refer to nothing)
    assert agreement_sentence(_record([5, 5, 5, 5], [0.1, 0.2, 0.5, 0.1])) == (
        "The 6 members roughly agree on CE (within about ±0.5). They agree closely on PQ, PC and CU.")


def test_a_routed_record_says_what_was_heard_and_counts_only_the_members_asked():
    from mmmos_core.views.words import agreement_sentence, heard_as_sentence

    record = _record([5, 5, 5, 5], [0.1, 0.2, 0.3, 0.1], members=10)
    assert heard_as_sentence(record) == ""
    for k, m in enumerate(record["members"]):
        m["weight"] = 0.97 / 6 if k < 6 else 0.03 / 4  # heard as speech: the four music-and-sound members barely count
    record["domain"] = {"speech": 0.97, "music": 0.02, "sound": 0.01}
    assert heard_as_sentence(record) == "Heard as speech (97%)."
    assert agreement_sentence(record).startswith("The 6 members agree closely")


def test_member_names_read_as_words():
    from mmmos_core.views.words import member_label_from_name, member_labels

    assert member_label_from_name("acoustic-blstm_t-utmos") == "BLSTM scoring each step, UTMOS loss"
    routed = member_labels([{"name": "a-mlp-utmos", "encoders": ["acoustic"], "aggregator": "mlp", "loss": "utmos"},
                            {"name": "ms-a-mlp-utmos", "encoders": ["acoustic"], "aggregator": "mlp", "loss": "utmos",
                             "domains": ["music", "sound"]}])
    assert routed["ms-a-mlp-utmos"] == routed["a-mlp-utmos"] + " · for music and sound"
    assert member_label_from_name("acoustic-blstm-ccc") == "BLSTM, CCC loss"
    assert member_label_from_name("m0-mlp") == "m0-mlp"
    labels = member_labels([{"name": "a", "aggregator": "mlp", "loss": "ccc", "encoders": ["wavlm"]},
                            {"name": "b", "aggregator": "mlp", "loss": "ccc", "encoders": ["wavlm", "muq"]}])
    assert labels == {"a": "WavLM · MLP, CCC loss", "b": "WavLM + MuQ · MLP, CCC loss"}
    twins = member_labels([{"name": n, "aggregator": "mlp", "loss": "utmos", "encoders": ["logmel"]} for n in "xyz"])
    assert list(twins.values()) == ["MLP, UTMOS loss #1", "MLP, UTMOS loss #2", "MLP, UTMOS loss #3"]


def test_every_flag_gets_a_badge_with_a_sentence():
    from mmmos_core.views.words import badges

    found = badges(_record([1.5, 2, 1.2, 1.3], [0.1] * 4, flags=["silent", "short_padded", "clipped", "low_level"]))
    assert [b.title for b in found] == ["Silent", "Very short", "Clipped source", "Very low level"]
    assert all(b.sentence.endswith(".") and b.severity == "warn" for b in found)


def test_signal_flags_spot_clipping_low_level_and_long_audio():
    import numpy as _np

    from mmmos_core.model.audio import load_audio
    from mmmos_core.views.words import signal_flags

    t = _np.arange(16000 * 12) / 16000
    tone = _np.sin(2 * _np.pi * 220 * t).astype(_np.float32)
    assert signal_flags(load_audio((16000, _np.clip(3 * tone, -1, 1)))) == ["clipped", "windowed"]
    assert signal_flags(load_audio((16000, 0.001 * tone[:16000]))) == ["low_level"]
    assert signal_flags(load_audio((16000, 0.3 * tone[:16000]))) == []


def test_context_strip_places_a_clip_among_the_examples():
    from mmmos_core.views.context import context_strip

    refs = [_record([2, 2, 2, 2], [0] * 4, name="noise_burst.wav"), _record([6, 3, 5, 5], [0] * 4,
                                                                            name="speech_clean_audiobook.wav"),
            _record([8, 8, 8, 8], [0] * 4, name="orchestra.wav"), _record([6.1, 2, 2, 2], [0] * 4, name="clip.wav")]
    strip = context_strip(_record([6.1, 4, 4, 4], [0] * 4), refs)
    pq = strip[0]
    assert (pq.axis, pq.below, pq.total, pq.nearest) == ("PQ", 2, 3, "speech clean audiobook")  # itself left out
    assert pq.sentence() == "PQ 6.1: above 2 of 3 examples; closest: speech clean audiobook (6.0)"
    assert context_strip(_record([5] * 4, [0] * 4), []) == []


def test_radar_values_sit_in_the_axis_labels_not_on_the_polygon():
    from mmmos_core.views.figures import radar_figure

    fig = radar_figure(_record([1.2, 2.2, 1.5, 1.3], [0.1] * 4) | {"members": []})
    assert all(trace.mode is None or "text" not in trace.mode for trace in fig.data)
    assert [t.split("<br>")[0] for t in fig.data[-1].theta[:4]] == ["<b>PQ</b> <b>1.2</b>", "<b>PC</b> <b>2.2</b>",
                                                                    "<b>CE</b> <b>1.5</b>", "<b>CU</b> <b>1.3</b>"]
