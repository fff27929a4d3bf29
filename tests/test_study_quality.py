"""Every rater check flags with a reason in words, on constructed ratings, and Compare shows its effect."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from mmmos_core.axes import AXES
from mmmos_core.studies.compare import build_report, load_human_ratings
from mmmos_core.studies.quality import QualitySettings, RatingEvent, check_raters
from mmmos_core.studies.ratings import RatingRow, RatingsStore


def same(score: float) -> dict[str, float]:
    return {a: score for a in AXES}


def test_straight_lining_is_flagged_and_a_varied_rater_is_not():
    events = [RatingEvent("flat", f"c{k}", same(5)) for k in range(8)]
    events += [RatingEvent("fine", f"c{k}", same(2 + k % 7)) for k in range(8)]
    found = check_raters(events)
    assert found["flat"].reasons and found["flat"].reasons[0].startswith("straight-lining")
    assert found["fine"].reasons == []


def test_answers_faster_than_the_clip_are_flagged():
    durations = {f"c{k}": 8.0 for k in range(10)}
    events = [RatingEvent("quick", f"c{k}", same(2 + k % 7), seconds=1.2) for k in range(10)]
    events += [RatingEvent("patient", f"c{k}", same(2 + k % 7), seconds=9.0) for k in range(10)]
    found = check_raters(events, durations)
    assert found["quick"].too_fast == 10 and "too fast: 10 of 10" in found["quick"].reasons[0]
    assert found["patient"].reasons == []
    # The fraction is configurable: half the clip is enough for this study.
    relaxed = check_raters(events, durations, QualitySettings(min_time_fraction=0.1))
    assert relaxed["quick"].reasons == []


def test_a_clip_rated_twice_inconsistently_is_flagged():
    base = [RatingEvent("r", f"c{k}", same(2 + k % 7)) for k in range(6)]
    steady = check_raters(base + [RatingEvent("r", "c1", same(4))])["r"]  # 3 then 4: close enough
    assert steady.repeats == 1 and steady.reasons == []
    erratic = check_raters(base + [RatingEvent("r", "c1", same(9)), RatingEvent("r", "c2", same(10))])["r"]
    assert erratic.repeats == 2 and erratic.reasons[0].startswith("inconsistent repeats")


def test_compare_flags_a_straight_liner_and_a_speeder_from_the_apps_csv(tmp_path, clips):
    store = RatingsStore(tmp_path / "ratings.csv")
    rng = np.random.default_rng(0)
    clips = clips[:8]
    truth = {c.name: rng.uniform(2, 9) for c in clips}
    durations = {c.name: sf.info(str(c)).duration for c in clips}
    for rater in ("ann", "ben", "cat", "five", "fast"):
        for c in clips:
            score = 5 if rater == "five" else int(np.clip(round(truth[c.name] + rng.normal(0, 0.6)), 1, 10))
            spent = 0.1 * durations[c.name] if rater == "fast" else durations[c.name] + 2
            store.append(RatingRow("s-" + rater, rater, "pool", c.name, same(score), system_id="",
                                   seconds_spent=spent))
    paths = {c.name: str(c) for c in clips}
    human = load_human_ratings(store.path, clip_path=lambda pl, cid: paths[cid])
    report = build_report(human, None, n_boot=0)
    why = report.raters.set_index("rater")["reasons"]
    assert report.raters.set_index("rater").loc["five", "flagged"]
    assert "straight-lining" in why["five"]  # the 5/5/5/5 rater is flagged, and the page says why
    assert "too fast" in why["fast"]
    assert set(report.settings["flagged"]) == {"five", "fast"}
    assert "moves clip means" in " ".join(report.notes)
    assert set(report.exclusion.metric) == {"alpha"}  # the effect on agreement, axis by axis
    fig = report.figures()["raters"]
    assert "n/a" in list(fig.data[0].text)  # the straight-liner's bar is there, labelled
