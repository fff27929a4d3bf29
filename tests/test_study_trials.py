"""A/B and MUSHRA playlists: reading them, what each rater sees, answers stored and analysed."""

from __future__ import annotations

import json
import shutil

import pytest

from mmmos_core.errors import ManifestError
from mmmos_core.paths import REPO_ASSETS
from mmmos_core.studies.designs import analyse_design
from mmmos_core.studies.playlists import SessionManager, load_playlist
from mmmos_core.studies.ratings import LEGACY_COLUMNS, RatingsStore, RatingsStoreError
from mmmos_core.studies.trials import AnswerError, screen_for

AB = REPO_ASSETS / "studies" / "ab_example.json"
MUSHRA = REPO_ASSETS / "studies" / "mushra_example.json"


def manager(tmp_path, **kw) -> SessionManager:
    return SessionManager(RatingsStore(tmp_path / "ratings.csv"), {"ab": str(AB), "mushra": str(MUSHRA)}, **kw)


def test_the_bundled_examples_hold_the_trials_they_describe():
    ab, mushra = load_playlist(str(AB)), load_playlist(str(MUSHRA))
    assert ab.design == "ab" and len(ab.trials) == 4
    assert all(len(t.versions) == 2 and t.axes == ("PQ", "CE") for t in ab.trials)
    assert mushra.design == "mushra" and [t.item for t in mushra.trials] == ["speech", "music"]
    roles = {v.system: v.role for v in mushra.trials[0].versions}
    assert roles == {"noisy": "", "codec": "", "reference": "reference", "anchor": "anchor"}
    assert mushra.trials[0].reference is not None  # the open reference is also played from its own button


@pytest.mark.parametrize("spec, problem", [
    ({"design": "abx", "items": []}, "design 'abx' is not one of absolute, ab, mushra"),
    ({"design": "ab", "items": [{"item": "x", "versions": {"a": "clips/speech_clean.flac"}}]}, "two or more"),
    ({"design": "ab", "items": [{"item": "x", "versions": {"a": "clips/speech_clean.flac",
                                                           "b": "clips/nope.flac"}}]}, "not found: clips/nope.flac"),
    ({"design": "ab", "items": [{"item": "x", "versions": {"a": "clips/speech_clean.flac",
                                                           "b": "clips/speech_noisy.flac"},
                                 "pairs": [["a", "c"]]}]}, "pair \\['a', 'c'\\]"),
    ({"design": "mushra", "axis": ["PQ", "CE"], "items": [{"item": "x", "conditions": {
        "a": "clips/speech_clean.flac", "b": "clips/speech_noisy.flac"}}]}, "one axis"),
    ({"design": "mushra", "axis": "XX", "items": [{"item": "x", "conditions": {
        "a": "clips/speech_clean.flac", "b": "clips/speech_noisy.flac"}}]}, "not among"),
    ({"design": "mushra", "items": [{"item": "x", "conditions": {"a": "clips/speech_clean.flac"}}]},
     "1 versions on one screen; use 2 to 8"),
    ({"design": "ab", "items": [{"item": "x", "versions": {"a": "/etc/passwd", "b": "clips/speech_noisy.flac"}}]},
     "outside the playlist's folder"),
])
def test_a_bad_design_playlist_names_the_file_and_the_problem(tmp_path, spec, problem):
    shutil.copytree(REPO_ASSETS / "studies" / "clips", tmp_path / "clips")
    path = tmp_path / "study.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(ManifestError, match=problem) as err:
        load_playlist(str(path))
    assert "study.json" in str(err.value) and str(tmp_path) not in str(err.value)


def test_sides_and_slider_order_are_shuffled_per_rater_and_stable_on_resume():
    ab, mushra = load_playlist(str(AB)), load_playlist(str(MUSHRA))
    sides = {r: tuple(v.system for t in ab.trials for v in screen_for(t, ab.options, ab.name, r).versions)
             for r in (f"r{k}" for k in range(20))}
    assert len(set(sides.values())) > 1  # raters do not all hear the same system as A
    assert sides["r3"] == tuple(v.system for t in ab.trials for v in screen_for(t, ab.options, ab.name, "r3").versions)
    orders = {tuple(v.system for v in screen_for(mushra.trials[0], mushra.options, mushra.name, f"r{k}").versions)
              for k in range(20)}
    assert len(orders) > 1
    public = screen_for(mushra.trials[0], mushra.options, mushra.name, "r1").public()
    assert public["labels"] == ["1", "2", "3", "4"] and "reference" not in json.dumps(public["labels"])


def _ab_answer(status):
    return {a: "A:clear" for a in status["screen"]["axes"]}


def test_ab_answers_need_a_choice_and_a_strength_per_axis(tmp_path):
    sessions = manager(tmp_path)
    s = sessions.start("anna", "ab")
    trial = s.current.id
    with pytest.raises(AnswerError, match="Please choose A, B or no preference for CE"):
        sessions.rate_design(s.id, trial, {"PQ": "A:clear"})
    with pytest.raises(AnswerError, match="how strong.*PQ"):
        sessions.rate_design(s.id, trial, {"PQ": "B", "CE": "none"})
    row, _ = sessions.rate_design(s.id, trial, {"PQ": {"choice": "B", "strength": "strong"}, "CE": "none"})
    stored = json.loads(row.answer)
    shown = sessions.screen(s.id, trial).versions
    assert stored["a"] == shown[0].system and stored["b"] == shown[1].system  # systems, not screen sides
    assert stored["choices"] == {"PQ": {"choice": "B", "strength": "strong"}, "CE": {"choice": "none", "strength": ""}}
    with pytest.raises(AnswerError, match="already answered"):
        sessions.rate_design(s.id, trial, {"PQ": "A:slight", "CE": "none"})


def test_a_browser_must_play_every_version_first(tmp_path):
    sessions = manager(tmp_path)
    s = sessions.start("anna", "mushra")
    trial = s.current.id
    scores = {str(k): 50 for k in range(1, 5)}
    sessions.mark_played(s.id, f"{trial}#1")
    with pytest.raises(AnswerError, match="not played yet: 2, 3, 4, the reference"):
        sessions.rate_design(s.id, trial, scores, client_reports_play=True)
    for key in ("2", "3", "4", "ref"):
        sessions.mark_played(s.id, f"{trial}#{key}")
    with pytest.raises(AnswerError, match="Version 3: 101"):
        sessions.rate_design(s.id, trial, {**scores, "3": 101}, client_reports_play=True)
    row, _ = sessions.rate_design(s.id, trial, scores, client_reports_play=True)
    assert row.played is True


def _run_mushra(sessions, rater, good=True):
    s = sessions.start(rater, "mushra")
    while s.current is not None:
        screen = sessions.screen(s.id, s.current.id)
        wanted = {"reference": 100 if good else 60, "anchor": 15, "noisy": 45, "codec": 70}
        sessions.rate_design(s.id, s.current.id, {lab: wanted[v.system] for lab, v in zip(screen.labels,
                                                                                         screen.versions)})


def test_answers_resume_and_are_analysed_from_the_ratings_file(tmp_path):
    sessions = manager(tmp_path)
    s = sessions.start("anna", "ab")
    sessions.rate_design(s.id, s.current.id, _ab_answer(s.status()))
    again = manager(tmp_path).start("anna", "ab")  # a restarted app: the CSV is the only truth
    assert again.resumed == 1 and again.current.id != s.order[0].id
    for rater in ("anna", "ben", "cleo"):
        _run_mushra(sessions, rater)
    _run_mushra(sessions, "dan", good=False)
    result = analyse_design(sessions.store.path, design="mushra")
    means = result.tables["conditions"].set_index("condition")
    assert means.loc["reference", "mean"] == 100 and means.loc["codec", "mean"] == 70  # dan screened out
    assert means.loc["anchor", "role"] == "anchor" and means.loc["codec", "raters"] == 3
    assert "dan" in result.notes[0]
    ab = analyse_design(sessions.store.path, design="ab")
    assert ab.design == "ab" and ab.tables["pairs"][["a_wins", "b_wins"]].to_numpy().sum() == 2  # PQ and CE
    with pytest.raises(ManifestError, match="both A/B and MUSHRA"):
        analyse_design(sessions.store.path)


def test_a_design_session_on_an_old_format_ratings_file_is_refused_before_it_starts(tmp_path):
    (tmp_path / "ratings.csv").write_text(",".join(LEGACY_COLUMNS) + "\n")
    sessions = manager(tmp_path)
    with pytest.raises(RatingsStoreError, match="started before A/B and MUSHRA"):
        sessions.start("anna", "ab")
