"""Adaptive playlists: the clips the model is least sure about (or gets most wrong) come first."""

from __future__ import annotations

import shutil

import pytest

from mmmos_core.axes import AXES
from mmmos_core.studies.adaptive import (
    PRIORITY_STEP,
    adaptive_order,
    clip_priority,
    priorities_from_records,
    rater_seed,
)
from mmmos_core.studies.playlists import SessionManager, load_playlist
from mmmos_core.studies.ratings import RatingsStore


def test_priority_is_member_sd_plus_the_human_model_gap():
    sd = {"PQ": 0.2, "PC": 0.4, "CE": 0.6, "CU": 0.8}
    assert clip_priority(sd) == pytest.approx(0.5)
    model = {a: 5.0 for a in AXES}
    human = {"PQ": 7.0, "PC": 5.0, "CE": 4.0, "CU": 5.0}
    assert clip_priority(sd, model, human) == pytest.approx(0.5 + 0.75)


def test_order_puts_the_most_informative_first_and_shuffles_only_ties_per_rater():
    clips = [f"c{k}" for k in range(12)]
    priorities = {"c0": 2.0, "c1": 1.0, **{f"c{k}": 0.5 + k * PRIORITY_STEP / 100 for k in range(2, 10)}}
    orders = {r: adaptive_order(clips, str, priorities, rater_seed("pool", r)) for r in ("ann", "ben", "cat")}
    for order in orders.values():
        assert order[:2] == ["c0", "c1"]  # clear winners first, for every rater
        assert set(order[2:10]) == {f"c{k}" for k in range(2, 10)}  # one bin of ties
        assert set(order[10:]) == {"c10", "c11"}  # no priority (e.g. not scored): last
    assert len({tuple(o[2:10]) for o in orders.values()}) > 1  # ties shuffled differently per rater
    again = adaptive_order(clips, str, priorities, rater_seed("pool", "ann"))
    assert again == orders["ann"]  # deterministic per seed


def test_sessions_follow_the_model_priorities(tmp_path, clips, logmel_model_dir):
    from mmmos_core import load_model

    root = tmp_path / "pool"
    root.mkdir()
    for clip in clips[:6]:
        shutil.copy(clip, root / clip.name)
    playlist = load_playlist(str(root), "pool")
    model = load_model(str(logmel_model_dir))
    records = {c.id: r.to_record() for c, r in zip(playlist.clips, model.predict_many({"path": c.path}
                                                                                         for c in playlist.clips))}
    priorities = priorities_from_records(records)
    manager = SessionManager(RatingsStore(tmp_path / "ratings.csv"), {"pool": str(root)},
                             priorities=lambda pl: priorities)
    session = manager.start("ann", "pool")
    ranked = [priorities[c.id] for c in session.order]
    bins = [int(p // PRIORITY_STEP) for p in ranked]
    assert bins == sorted(bins, reverse=True) and session.current.id == session.order[0].id
