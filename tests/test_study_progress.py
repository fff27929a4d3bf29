"""The experimenter's live view: progress, timing and flags per playlist and rater, never the scores."""

from __future__ import annotations

from mmmos_core.axes import AXES
from mmmos_core.studies.progress import progress, share_query
from mmmos_core.studies.ratings import RatingRow, RatingsStore


def test_progress_counts_times_and_flags_without_scores(tmp_path):
    store = RatingsStore(tmp_path / "ratings.csv")
    for k in range(6):
        store.append(RatingRow("s1", "steady", "pool", f"c{k}", {a: 2 + k for a in AXES}, seconds_spent=10 + k))
        store.append(RatingRow("s2", "flat", "pool", f"c{k}", {a: 5 for a in AXES}, seconds_spent=1.0))
    store.append(RatingRow("s2", "flat", "pool", "gold", {a: 9 for a in AXES}, gold=True, gold_pass=False))
    store.append(RatingRow("s3", "steady", "other", "x", {a: 4 for a in AXES}, seconds_spent=3.0))
    lines = progress(store.read().rows, {"pool": 10}, {("pool", f"c{k}"): 8.0 for k in range(6)})
    by = {(x.playlist, x.rater): x for x in lines}
    steady, flat = by[("pool", "steady")], by[("pool", "flat")]
    assert (steady.done, steady.total, steady.median_seconds, steady.flags) == (6, 10, 12.5, "")
    assert flat.done == 7 and flat.gold_failed == 1
    assert "straight-lining" in flat.flags and "too fast: 6 of 6" in flat.flags
    assert by[("other", "steady")].total is None and by[("other", "steady")].row()["done / total"] == "1 / ?"
    row = flat.row()
    assert not set(row) & set(AXES)  # no rating values reach the experimenter's screen


def test_share_link_query():
    assert share_query("Shared clips") == "?playlist=Shared+clips"
    assert share_query("pool", "r-abc") == "?playlist=pool&rater=r-abc"


def test_ab_and_mushra_trials_count_as_done_without_entering_the_rater_checks(tmp_path):
    store = RatingsStore(tmp_path / "ratings.csv")
    for k in range(3):
        store.append(RatingRow("s1", "anna", "ab", f"speech:{k + 1}", {}, seconds_spent=20.0, design="ab",
                               answer='{"item": "speech", "a": "x", "b": "y", "choices": {}}'))
    lines = progress(store.read().everything, {"ab": 4})
    assert [(x.rater, x.done, x.total, x.median_seconds, x.flags) for x in lines] == [("anna", 3, 4, 20.0, "")]
