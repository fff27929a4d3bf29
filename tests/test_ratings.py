"""The ratings CSV: durable appends, one header, safe cells, never clobbering a file it does not own."""

from __future__ import annotations

import csv
import multiprocessing as mp
import os

import pytest

from mmmos_core.studies.ratings import (
    COLUMNS,
    LEGACY_COLUMNS,
    LegacyFileError,
    RatingRow,
    RatingsStore,
    RatingsStoreError,
    parse_ratings_csv,
)
from mmmos_core.tables import safe_cell


def row(rater="anna", clip="c1", **kw) -> RatingRow:
    defaults = dict(session_id="s1", rater_id=rater, playlist="pl", clip_id=clip,
                    scores={"PQ": 7, "PC": 3, "CE": 6, "CU": 5}, seconds_spent=12.5, model_id="m", app_version="0.1")
    defaults.update(kw)
    return RatingRow(**defaults)


def test_header_written_once_and_rows_read_back(tmp_path):
    store = RatingsStore(tmp_path / "sub" / "ratings.csv")
    store.append(row(clip="a"))
    store.append_many([row(clip="b"), row(clip="c", gold=True, gold_pass=False, played=True)])
    lines = store.path.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert sum(line.startswith("timestamp_utc") for line in lines) == 1
    result = store.read()
    assert [r["clip_id"] for r in result.rows] == ["a", "b", "c"]
    assert result.rows[2]["gold"] == "1" and result.rows[2]["gold_pass"] == "0" and result.rows[2]["played"] == "1"
    assert result.rows[0]["played"] == "" and result.rows[0]["gold_pass"] == ""  # unknown stays unknown
    assert result.rows[0].scores == {"PQ": 7.0, "PC": 3.0, "CE": 6.0, "CU": 5.0}
    assert result.rows[0]["timestamp_utc"].endswith("Z")
    assert store.rated_clips("anna", "pl") == {"a", "b", "c"}
    assert store.rated_clips("anna", "other") == set()


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+1+2", "-3", "@SUM(A1)", "\tx", "'quoted"])
def test_formula_cells_are_defused_and_read_back_exactly(tmp_path, text):
    store = RatingsStore(tmp_path / "r.csv")
    store.append(row(comment=text))
    raw = list(csv.reader(store.path.read_text().splitlines()))[1]
    cell = raw[COLUMNS.index("comment")]
    assert cell.startswith("'")  # a spreadsheet shows it as text
    assert store.read().rows[0]["comment"] == text


def test_comment_line_breaks_keep_one_row_per_line(tmp_path):
    store = RatingsStore(tmp_path / "r.csv")
    store.append(row(comment="first line\nsecond\r\nthird"))
    assert len(store.path.read_text().splitlines()) == 2
    assert store.read().rows[0]["comment"] == "first line second third"
    assert safe_cell("plain") == "plain" and safe_cell(None) == ""


def test_each_append_is_fsynced(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    store = RatingsStore(tmp_path / "r.csv")
    store.append(row(clip="a"))
    store.append(row(clip="b"))
    assert len(calls) == 2


@pytest.mark.parametrize("content", [b"id,score\n1,2\n", b"\xff\xfe\x00garbage\x00\n", b"timestamp_utc,rater\n"])
def test_foreign_or_corrupt_file_is_never_touched(tmp_path, content):
    path = tmp_path / "ratings.csv"
    path.write_bytes(content)
    store = RatingsStore(path)
    with pytest.raises(RatingsStoreError) as err:
        store.append(row())
    assert str(path) in str(err.value)
    with pytest.raises(RatingsStoreError):
        store.check()
    assert path.read_bytes() == content


def test_a_row_cut_short_by_a_crash_is_set_aside_and_the_file_stays_whole(tmp_path):
    store = RatingsStore(tmp_path / "r.csv")
    store.append(row(clip="a"))
    with open(store.path, "a") as f:  # a crash in the middle of writing a row
        f.write("2025-01-01T00:00:00Z,s1,anna,pl,b,,7,")
    assert store.read().malformed == [3]  # seen before the next append: reported, not counted
    store.append(row(clip="c"))
    result = store.read()
    assert [r["clip_id"] for r in result.rows] == ["a", "c"]
    assert result.malformed == []
    assert store.torn_path.read_text() == "2025-01-01T00:00:00Z,s1,anna,pl,b,,7,\n"  # kept, for the record


def test_parse_rejects_a_file_that_is_not_ours():
    with pytest.raises(RatingsStoreError, match="header"):
        parse_ratings_csv(b"a,b,c\n1,2,3\n", "upload.csv")


def _writer(path: str, rater: str, n: int) -> None:
    store = RatingsStore(path)
    for i in range(n):
        store.append(row(rater=rater, clip=f"clip{i:02d}", comment="x" * 200))


def test_twenty_processes_append_concurrently_without_loss_or_interleaving(tmp_path):
    path = str(tmp_path / "ratings.csv")
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, f"rater{k:02d}", 20)) for k in range(20)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    result = RatingsStore(path).read()
    assert result.malformed == []
    assert len(result.rows) == 400
    assert len({(r["rater_id"], r["clip_id"]) for r in result.rows}) == 400
    assert all(r["comment"] == "x" * 200 for r in result.rows)


def ab_row(clip="trial1", **kw) -> RatingRow:
    answer = '{"item": "speech", "a": "clean", "b": "noisy", "choices": {"PQ": {"choice": "A", "strength": "clear"}}}'
    return row(clip=clip, scores={}, design="ab", answer=answer, **kw)


def test_an_old_format_file_is_read_and_appended_to_in_its_own_shape(tmp_path):
    path = tmp_path / "ratings.csv"
    old_row = ["2025-01-01T00:00:00.000Z", "s0", "anna", "pl", "old", "", "5", "4", "6", "7", "3.00", "1", "0", "",
               "m", "0.0.9", "from last year"]
    path.write_text(",".join(LEGACY_COLUMNS) + "\n" + ",".join(old_row) + "\n")
    store = RatingsStore(path)
    store.check()  # absolute ratings may go on being added to it
    store.append(row(clip="new"))
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(LEGACY_COLUMNS)  # never rewritten
    assert len(next(csv.reader([lines[2]]))) == len(LEGACY_COLUMNS)
    result = store.read()
    assert [r["clip_id"] for r in result.rows] == ["old", "new"] and not result.malformed
    assert result.rows[0]["design"] == "absolute" and result.rows[0]["comment"] == "from last year"
    assert store.rated_clips("anna", "pl") == {"old", "new"}


def test_an_ab_answer_to_an_old_format_file_is_refused_and_the_file_left_alone(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text(",".join(LEGACY_COLUMNS) + "\n")
    before = path.read_bytes()
    store = RatingsStore(path)
    with pytest.raises(LegacyFileError, match="started before A/B and MUSHRA.*new file"):
        store.check("ab")
    with pytest.raises(LegacyFileError, match="cannot hold ab answers"):
        store.append(ab_row())
    assert path.read_bytes() == before
    assert store.status().unsaved == 1  # kept for the experimenter, like any rating not saved


def test_answers_of_other_designs_are_stored_apart_from_absolute_ratings(tmp_path):
    store = RatingsStore(tmp_path / "ratings.csv")
    store.append(row(clip="a"))
    store.append(ab_row(clip="t1"))
    result = store.read()
    assert [r["clip_id"] for r in result.rows] == ["a"]  # Compare's absolute analysis never meets an A/B row
    assert [r["clip_id"] for r in result.answers] == ["t1"]
    assert result.answers[0]["design"] == "ab" and '"strength": "clear"' in result.answers[0]["answer"]
    assert result.answers[0]["PQ"] == ""
    assert store.rated_clips("anna", "pl") == {"a", "t1"} and store.last_saved("anna", "pl")["clip_id"] == "t1"
