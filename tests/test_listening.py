"""Listening tests: playlists, rater ids, per-rater order, sessions that resume from the CSV."""

from __future__ import annotations

import json
import shutil

import pytest

from mmmos_core.errors import ManifestError
from mmmos_core.studies.playlists import (
    ListeningError,
    SessionManager,
    load_playlist,
    random_rater_id,
    rater_order,
    validate_rater_id,
)
from mmmos_core.studies.ratings import RatingsStore, RatingsStoreError

GOOD = {"PQ": 7, "PC": 2, "CE": 6, "CU": "5"}


@pytest.mark.parametrize("raw", ["anna", "r-01_B", "x" * 40, "  padded  "])
def test_valid_rater_ids(raw):
    assert validate_rater_id(raw) == raw.strip()


@pytest.mark.parametrize("raw", ["", "   ", None, "x" * 41, "with space", "../etc", "=cmd", "émile", "a;b"])
def test_invalid_rater_ids_say_what_is_allowed(raw):
    with pytest.raises(ListeningError, match="rater id|Rater id"):
        validate_rater_id(raw)


def test_random_ids_are_valid_and_distinct():
    ids = {random_rater_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(validate_rater_id(i) == i for i in ids)


@pytest.fixture
def folder(tmp_path, clips):
    root = tmp_path / "pool"
    for sub, clip in zip(["sysA", "sysA", "sysB", "sysB", "sysC", "sysC"], clips[:6]):
        (root / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, root / sub / clip.name)
    (root / "notes.txt").write_text("not audio")
    return root


def test_folder_playlist_uses_subfolders_as_systems(folder):
    pl = load_playlist(str(folder))
    assert len(pl.clips) == 6
    assert {c.system for c in pl.clips} == {"sysA", "sysB", "sysC"}
    assert all(c.id.startswith(c.system + "/") for c in pl.clips)


def test_csv_manifest_with_gold_items(tmp_path, clips, shared_recordings):
    manifest = tmp_path / "m.csv"
    lines = ["id,path,system,gold,expected_PQ,expected_CE"]
    lines += [f"c{i},{c},sys{i % 2},,," for i, c in enumerate(clips[:4])]
    lines.append(f"gold1,{clips[5]},,1,1-3,")
    lines.append(f"gold2,{clips[6].name},,,8..10,7-10")  # relative path, gold implied by the range
    shutil.copy(clips[6], tmp_path / clips[6].name)
    manifest.write_text("\n".join(lines) + "\n")
    pl = load_playlist(str(manifest), roots=[clips[0].parent])
    assert [c.id for c in pl.clips] == ["c0", "c1", "c2", "c3", "gold1", "gold2"]
    g1, g2 = pl.by_id["gold1"], pl.by_id["gold2"]
    assert g1.gold and g1.expected == {"PQ": (1.0, 3.0)}
    assert g2.gold and g2.expected == {"PQ": (8.0, 10.0), "CE": (7.0, 10.0)}
    assert g1.gold_pass({"PQ": 2, "PC": 9, "CE": 9, "CU": 9}) is True
    assert g1.gold_pass({"PQ": 4, "PC": 9, "CE": 9, "CU": 9}) is False
    assert pl.by_id["c0"].gold_pass(GOOD) is None


def test_jsonl_manifest_with_nested_expected(tmp_path, clips):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": str(clips[0]), "id": "a", "system": "s"}) + "\n" +
                        json.dumps({"path": str(clips[1]), "id": "g", "expected": {"CU": [1, 2]}}) + "\n")
    pl = load_playlist(str(manifest), roots=[clips[0].parent])
    assert pl.by_id["g"].gold and pl.by_id["g"].expected == {"CU": (1.0, 2.0)}
    assert pl.by_id["a"].system == "s"


@pytest.mark.parametrize("body,problem", [
    ("path\n/nonexistent/x.wav\n", "not found"),
    ("id,path,expected_PQ\na,{clip},0-3\n", "not within"),
    ("id,path,expected_PQ\na,{clip},high\n", "lo-hi"),
    ("id,path,gold\na,{clip},yes\n", "expected range"),
    ("id,path\na,{clip}\na,{clip}\n", "more than once"),
    ("id,file_name\na,x\n", "no clip path"),
])
def test_bad_manifests_name_the_file_and_problem(tmp_path, clips, body, problem):
    manifest = tmp_path / "bad.csv"
    manifest.write_text(body.format(clip=clips[0]))
    with pytest.raises(ManifestError, match=problem) as err:
        load_playlist(str(manifest), roots=[clips[0].parent])
    assert "bad.csv" in str(err.value)


def test_a_playlist_cannot_reach_outside_its_folder_unless_allowed(tmp_path, clips):
    import os

    study = tmp_path / "study"
    study.mkdir()
    outside = tmp_path / "private"
    outside.mkdir()
    shutil.copy(clips[0], outside / "secret.wav")
    for body in ("path\n../private/secret.wav\n", f"path\n{outside / 'secret.wav'}\n"):
        (study / "p.csv").write_text(body)
        with pytest.raises(ManifestError, match="outside the playlist's folder") as err:
            load_playlist(str(study / "p.csv"))
        assert "audio_roots" in str(err.value) and "private" not in str(err.value)  # no server path shown
        assert load_playlist(str(study / "p.csv"), roots=[outside]).clips[0].path.endswith("secret.wav")
    # a symlink inside a folder playlist that leads out of it
    os.symlink(outside / "secret.wav", study / "link.wav")
    (study / "p.csv").unlink()
    with pytest.raises(ManifestError, match="link.wav is a link to a file outside"):
        load_playlist(str(study))
    assert [c.id for c in load_playlist(str(study), roots=[outside]).clips] == ["link.wav"]


def test_missing_or_empty_playlists(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        load_playlist(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match="no audio clips"):
        load_playlist(str(tmp_path / "empty"))


def test_order_is_fixed_per_rater_and_differs_between_raters(folder):
    pl = load_playlist(str(folder))
    a1 = [c.id for c in rater_order(pl, "anna")]
    assert a1 == [c.id for c in rater_order(load_playlist(str(folder)), "anna")]
    assert sorted(a1) == sorted(c.id for c in pl.clips)
    others = {tuple(c.id for c in rater_order(pl, f"r{k}")) for k in range(10)}
    assert len(others) > 1  # 10 raters all getting one order of 6 clips would be a 1-in-720^9 event


def manager(tmp_path, folder, require_play=True) -> SessionManager:
    return SessionManager(RatingsStore(tmp_path / "ratings.csv"), {"pool": str(folder)}, model_id="test-model",
                          app_version="9.9", require_play=require_play)


def test_session_rates_resumes_and_finishes(tmp_path, folder):
    m = manager(tmp_path, folder)
    s = m.start("anna", "pool")
    order = [c.id for c in s.order]
    assert s.current.id == order[0] and s.resumed == 0 and s.total == 6
    for clip_id in order[:2]:
        m.mark_played(s.id, clip_id)
        m.rate(s.id, clip_id, GOOD, "fine", client_reports_play=True)
    # The app restarts: a new manager over the same CSV, the same rater comes back.
    m2 = manager(tmp_path, folder)
    s2 = m2.start("anna", "pool")
    assert s2.id != s.id and s2.resumed == 2
    assert [c.id for c in s2.order] == order
    assert s2.current.id == order[2]
    for clip_id in order[2:]:
        m2.mark_played(s2.id, clip_id)
        m2.rate(s2.id, clip_id, GOOD, client_reports_play=True)
    assert s2.current is None and s2.status()["finished"]
    rows = RatingsStore(tmp_path / "ratings.csv").read().rows
    assert sorted(r["clip_id"] for r in rows) == sorted(order)
    first = rows[0]
    assert (first["rater_id"], first["playlist"], first["model_id"], first["app_version"]) == \
        ("anna", "pool", "test-model", "9.9")
    assert first["system_id"] in {"sysA", "sysB", "sysC"} and first["comment"] == "fine" and first["played"] == "1"
    assert float(first["seconds_spent"]) >= 0.0
    assert m2.start("anna", "pool").current is None  # nothing left to rate


def test_rating_needs_play_all_four_axes_and_no_double_submit(tmp_path, folder):
    m = manager(tmp_path, folder)
    s = m.start("bob", "pool")
    clip = s.current.id
    with pytest.raises(ListeningError, match="play"):
        m.rate(s.id, clip, GOOD, client_reports_play=True)
    m.mark_played(s.id, clip)
    for bad, axis in [({**GOOD, "CE": None}, "CE"), ({**GOOD, "PQ": 0}, "PQ"), ({**GOOD, "CU": 11}, "CU"),
                      ({**GOOD, "PC": 5.5}, "PC"), ({**GOOD, "PQ": "seven"}, "PQ")]:
        with pytest.raises(ListeningError, match=axis):
            m.rate(s.id, clip, bad, client_reports_play=True)
    m.rate(s.id, clip, GOOD, client_reports_play=True)
    with pytest.raises(ListeningError, match="already rated"):
        m.rate(s.id, clip, GOOD, client_reports_play=True)
    with pytest.raises(ListeningError, match="not in playlist"):
        m.rate(s.id, "no-such-clip", GOOD)
    with pytest.raises(ListeningError, match="no longer open"):
        m.rate("expired", clip, GOOD)
    with pytest.raises(ListeningError, match="comment"):
        m.rate(s.id, s.current.id, GOOD, "x" * 5000)
    assert len(RatingsStore(tmp_path / "ratings.csv").read().rows) == 1


def test_api_clients_cannot_play_so_played_is_recorded_as_unknown(tmp_path, folder):
    m = manager(tmp_path, folder)
    s = m.start("api-rater", "pool")
    m.rate(s.id, s.current.id, GOOD)  # no client_reports_play: not refused
    assert RatingsStore(tmp_path / "ratings.csv").read().rows[0]["played"] == ""


def test_a_failed_save_leaves_the_clip_to_rate_again(tmp_path, folder):
    m = manager(tmp_path, folder, require_play=False)
    s = m.start("carl", "pool")
    clip = s.current.id
    (tmp_path / "ratings.csv").write_text("someone,else's,file\n")
    with pytest.raises(RatingsStoreError):
        m.rate(s.id, clip, GOOD)
    assert s.current.id == clip and clip not in s.done
    assert (tmp_path / "ratings.csv").read_text() == "someone,else's,file\n"


def test_unknown_playlist_and_bad_rater_id_are_refused(tmp_path, folder):
    m = manager(tmp_path, folder)
    with pytest.raises(ListeningError, match="Unknown playlist"):
        m.start("anna", "other")
    with pytest.raises(ListeningError):
        m.start("not valid!", "pool")


def test_the_server_refuses_a_rating_before_the_clip_has_played_through(tmp_path, folder):
    m = SessionManager(RatingsStore(tmp_path / "ratings.csv"), {"pool": str(folder)}, min_play_fraction=1.0)
    s = m.start("dora", "pool")
    clip = s.current
    duration = m.clip_duration(clip)
    assert duration and duration > 1.0
    m.mark_played(s.id, clip.id)
    with pytest.raises(ListeningError, match=r"listen to the whole clip before rating it: 0\.\d s of"):
        m.rate(s.id, clip.id, GOOD, client_reports_play=True)  # a click on Submit right after Play
    # The server's own clock decides: pretend the play started one clip-length ago.
    s.play_started[clip.id] -= duration
    m.rate(s.id, clip.id, GOOD, client_reports_play=True)
    assert len(RatingsStore(tmp_path / "ratings.csv").read().rows) == 1
    # API clients send no play events and are not refused; their rows record "played" as unknown.
    api = m.start("api-user", "pool")
    m.rate(api.id, api.current.id, GOOD)


def test_playlist_errors_name_the_file_and_line_but_not_the_server_folders(tmp_path):
    manifest = tmp_path / "deep" / "secret" / "study.jsonl"
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"path": "a.wav"}\n{broken\n')
    with pytest.raises(ManifestError) as err:
        load_playlist(str(manifest))
    assert "study.jsonl" in str(err.value) and "line 2" in str(err.value) and "secret" not in str(err.value)
    manifest.write_text('{"id": "a"}\n')
    with pytest.raises(ManifestError, match=r"^study.jsonl, line 1: no clip path"):
        load_playlist(str(manifest))
