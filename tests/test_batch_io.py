"""Input lists, resumable part-file output and the shared batch loop (no Ray needed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mmmos_core.batch import (
    CSV_HEAD,
    ResumableWriter,
    item_key,
    read_input_list,
    result_record,
    run_batch,
    run_local_predict,
)
from mmmos_core.errors import AudioInputError, ManifestError, MMMOSError


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _fake(item: dict, ok: bool = True, **extra) -> dict:
    """A record as an engine writes it, without running a model."""
    if not ok:
        return result_record(item, AudioInputError(item["path"], "file not found"))
    record = {"path": item["path"], **{k: item[k] for k in ("start_time", "end_time") if k in item},
              "PQ": 5.0, "PC": 4.0, "CE": 6.0, "CU": 5.5, "model": "fake", "flags": []}
    record.update(extra)
    return record


# ---- input lists -------------------------------------------------------------------------

def test_audiobox_jsonl_with_spans_extra_keys_and_blank_lines(tmp_path):
    src = _write(tmp_path / "in.jsonl", '{"path": "a.wav"}\n\n{"path": "b.wav", "start_time": 1, "end_time": 2.5, '
                 '"speaker": "x"}\n{"path": "c.wav", "start_time": null}\n')
    assert read_input_list(src) == [{"path": "a.wav"}, {"path": "b.wav", "start_time": 1.0, "end_time": 2.5},
                                    {"path": "c.wav"}]


def test_plain_text_list_skips_comments(tmp_path):
    src = _write(tmp_path / "list.txt", "# my corpus\n/data/x 1.wav\n\n  rel/y.flac  \n")
    assert read_input_list(src) == [{"path": "/data/x 1.wav"}, {"path": "rel/y.flac"}]


def test_csv_and_tsv_with_path_column(tmp_path):
    src = _write(tmp_path / "in.csv", "id,path,start_time,end_time\n1,a.wav,,\n2,b.wav,0.5,1.5\n")
    assert read_input_list(src) == [{"path": "a.wav"}, {"path": "b.wav", "start_time": 0.5, "end_time": 1.5}]
    tsv = _write(tmp_path / "in.tsv", "path\tlabel\na,b.wav\tgood\n")
    assert read_input_list(tsv) == [{"path": "a,b.wav"}]
    # a header naming a path column is CSV whatever the extension
    assert read_input_list(_write(tmp_path / "in.lst", "path,x\nq.wav,1\n")) == [{"path": "q.wav"}]


@pytest.mark.parametrize("name,text,needle", [
    ("bad.jsonl", '{"path": "a.wav"}\n{"path": \n', "bad.jsonl, line 2: not valid JSON"),
    ("nopath.jsonl", '{"file": "a.wav"}\n', "nopath.jsonl, line 1: missing or empty 'path'"),
    ("list.jsonl", '["a.wav"]\n', "list.jsonl, line 1: expected a JSON object"),
    ("span.jsonl", '{"path": "a.wav", "start_time": "soon"}\n', "span.jsonl, line 1: start_time 'soon' is not a number"),
    ("cols.csv", "file,score\na.wav,1\n", "cols.csv: CSV input needs a 'path' column"),
    ("empty.txt", "# nothing\n\n", "empty.txt: the input list has no inputs"),
])
def test_malformed_lists_name_file_and_line(tmp_path, name, text, needle):
    with pytest.raises(ManifestError, match=needle.replace("(", r"\(").replace("[", r"\[")):
        read_input_list(_write(tmp_path / name, text))


def test_missing_list_is_a_clear_error(tmp_path):
    with pytest.raises(ManifestError, match="input list not found"):
        read_input_list(tmp_path / "nope.jsonl")


def test_item_key_is_path_plus_span():
    assert item_key({"path": "a", "start_time": 1}) == item_key({"path": "a", "start_time": 1.0})
    assert item_key({"path": "a"}) != item_key({"path": "a", "start_time": 0.0, "end_time": 2.0})


# ---- resumable writer ----------------------------------------------------------------------

def test_parts_merge_into_one_record_per_input_in_input_order(tmp_path):
    out = tmp_path / "res" / "scores.jsonl"
    items = [{"path": f"c{i}.wav"} for i in range(5)] + [{"path": "c1.wav", "start_time": 0.0, "end_time": 1.0}]
    with ResumableWriter(out) as w:
        w.write_part([_fake(items[3]), _fake(items[0])])
        w.write_part([_fake(items[5]), _fake(items[4], ok=False), _fake(items[1]), _fake(items[2])])
        parts = sorted(p.name for p in w.parts_dir.iterdir() if p.name.startswith("part-"))
        assert len(parts) == 2 and all(p.endswith(".jsonl") for p in parts)
        assert not out.exists()  # nothing final until the merge
        w.finalize(items)
    records = _lines(out)
    assert [(r["path"], r.get("start_time")) for r in records] == [(it["path"], it.get("start_time")) for it in items]
    assert "error" in records[4] and "file not found" in records[4]["error"]
    assert not Path(str(out) + ".parts").exists()
    assert [p.name for p in out.parent.iterdir()] == ["scores.jsonl"]  # no temp files left behind


def test_duplicate_inputs_each_get_their_record(tmp_path):
    out = tmp_path / "o.jsonl"
    items = [{"path": "a.wav"}, {"path": "b.wav"}, {"path": "a.wav"}]
    with ResumableWriter(out) as w:
        w.write_part([_fake(items[0]), _fake(items[1])])
        w.finalize(items)
    assert [r["path"] for r in _lines(out)] == ["a.wav", "b.wav", "a.wav"]


def test_resume_keeps_successes_retries_errors_and_ignores_torn_parts(tmp_path):
    out = tmp_path / "o.jsonl"
    items = [{"path": f"c{i}.wav"} for i in range(4)]
    w = ResumableWriter(out)
    w.write_part([_fake(items[0], marker="first run"), _fake(items[1], ok=False)])
    w.close()  # interrupted: no merge
    # a part whose rename never happened (killed mid-write) must not count
    (Path(str(out) + ".parts") / "part-x-000009.jsonl.tmp").write_text(json.dumps(_fake(items[2])) + "\n{\"pa")
    with ResumableWriter(out) as w:
        assert w.done_keys() == {item_key(items[0])}
        w.write_part([_fake(items[1]), _fake(items[2]), _fake(items[3])])
        w.finalize(items)
    records = _lines(out)
    assert [r["path"] for r in records] == [it["path"] for it in items]
    assert records[0]["marker"] == "first run" and "error" not in records[1]


def test_finished_output_is_resumed_and_other_models_are_redone(tmp_path):
    out = tmp_path / "o.jsonl"
    items = [{"path": "a.wav"}, {"path": "b.wav"}]
    with ResumableWriter(out) as w:
        w.write_part([_fake(items[0])])
        w.finalize(items[:1])
    with ResumableWriter(out) as w:
        assert w.done_keys(model="fake") == {item_key(items[0])}
        assert w.done_keys(model="another-model") == set()
        w.write_part([_fake(items[1])])
        w.finalize(items)
    assert [r["path"] for r in _lines(out)] == ["a.wav", "b.wav"]


def test_finalize_refuses_an_incomplete_merge_and_leaves_the_old_output(tmp_path):
    out = _write(tmp_path / "o.jsonl", '{"path": "old.wav", "PQ": 1.0}\n')
    items = [{"path": "a.wav"}, {"path": "b.wav"}]
    w = ResumableWriter(out)
    w.write_part([_fake(items[0])])
    with pytest.raises(MMMOSError, match="1 inputs have no record yet .first: b.wav."):
        w.finalize(items)
    w.close()
    assert out.read_text() == '{"path": "old.wav", "PQ": 1.0}\n'
    assert list(Path(str(out) + ".parts").glob("part-*.jsonl"))  # kept for the rerun


def test_one_writer_per_output(tmp_path):
    out = tmp_path / "o.jsonl"
    with ResumableWriter(out):
        with pytest.raises(MMMOSError, match="another run is writing"):
            ResumableWriter(out)
    ResumableWriter(out).close()  # free again once the first has finished


def test_output_must_be_a_file(tmp_path):
    with pytest.raises(MMMOSError, match="output is a folder"):
        ResumableWriter(tmp_path)


def test_no_resume_starts_over(tmp_path):
    out = tmp_path / "o.jsonl"
    w = ResumableWriter(out)
    w.write_part([_fake({"path": "a.wav"})])
    w.close()
    with ResumableWriter(out, resume=False) as w:
        assert w.done_keys() == set()


def test_csv_output_flattens_and_resumes(tmp_path):
    out = tmp_path / "o.csv"
    items = [{"path": "a.wav", "start_time": 1.0, "end_time": 2.0}, {"path": "b.wav"}, {"path": "c.wav"}]
    spread = {a: {"std": 0.25, "min": 1.0, "max": 2.0} for a in ("PQ", "PC", "CE", "CU")}
    members = [{"name": "m0", "PQ": 4.5, "PC": 4.0, "CE": 6.0, "CU": 5.0}]
    with ResumableWriter(out) as w:
        w.write_part([_fake(items[0], spread=spread, members=members, flags=["short_padded", "silent"]),
                      _fake(items[1], ok=False)])
        w.finalize(items[:2])
    header = out.read_text().splitlines()[0].split(",")
    assert header[:len(CSV_HEAD)] == CSV_HEAD  # fixed leading columns: shards line up
    assert {"PQ_std", "CU_max", "m0:PQ"} <= set(header)
    with ResumableWriter(out) as w:
        assert w.done_keys() == {item_key(items[0])}  # b failed: retried
        w.write_part([_fake(items[1]), _fake(items[2])])
        w.finalize(items)
    import csv
    rows = list(csv.DictReader(out.open()))
    assert [r["path"] for r in rows] == ["a.wav", "b.wav", "c.wav"]
    a = rows[0]  # came through a CSV round trip in the second run
    assert (a["start_time"], a["PQ_std"], a["m0:PQ"], a["flags"]) == ("1.0", "0.25", "4.5", "short_padded;silent")
    assert rows[1]["error"] == "" and float(rows[1]["PQ"]) == 5.0


# ---- the shared loop with a real model ---------------------------------------------------------

@pytest.fixture()
def corpus(tmp_path, clips):
    """Real clips plus the bad inputs a corpus always has."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.wav").write_bytes(b"")
    (bad / "junk.wav").write_bytes(b"this is not audio " * 20)
    x = np.zeros(8000, dtype=np.float32)
    x[100] = np.nan
    sf.write(str(bad / "nan.wav"), x, 16000, subtype="FLOAT")
    items = [{"path": str(c)} for c in clips[:6]]
    items += [{"path": str(bad / n)} for n in ("empty.wav", "junk.wav", "nan.wav", "missing.wav")]
    items.append({"path": str(clips[0]), "start_time": 0.5, "end_time": 2.0})
    return items


def test_local_engine_matches_predict_many_and_reports_bad_inputs(tmp_path, corpus, logmel_model_dir):
    from mmmos_core import load_model

    model = load_model(str(logmel_model_dir))
    out = tmp_path / "o.jsonl"
    summary = run_local_predict(corpus, str(out), model=model, batch_size=4, progress=False)
    records = _lines(out)
    expected = [result_record(it, r) for it, r in zip(corpus, model.predict_many(corpus))]
    assert [r["path"] for r in records] == [it["path"] for it in corpus]
    for got, want in zip(records, expected):
        if "error" in want:
            assert got == want
        else:
            assert got["PQ"] == pytest.approx(want["PQ"], abs=1e-6) and got["CU"] == pytest.approx(want["CU"], abs=1e-6)
    errors = {Path(r["path"]).name: r["error"] for r in records if "error" in r}
    assert set(errors) == {"empty.wav", "junk.wav", "nan.wav", "missing.wav"}
    assert "empty" in errors["empty.wav"] and "NaN" in errors["nan.wav"] and "not found" in errors["missing.wav"]
    assert records[-1]["start_time"] == 0.5 and records[-1]["duration_s"] == pytest.approx(1.5)
    assert (summary.scored, summary.failed, summary.skipped) == (7, 4, 0)


def test_interrupted_run_resumes_where_it_stopped(tmp_path, corpus, logmel_model_dir):
    from mmmos_core import load_model
    from mmmos_core.batch import score_items

    model = load_model(str(logmel_model_dir))
    out = tmp_path / "o.jsonl"
    seen: list[str] = []

    def dies_after_two_batches(todo):
        for n, i in enumerate(range(0, len(todo), 3)):
            if n == 2:
                raise KeyboardInterrupt  # Ctrl-C, or a preempted worker node
            seen.extend(it["path"] for it in todo[i:i + 3])
            yield score_items(model, todo[i:i + 3])

    with pytest.raises(KeyboardInterrupt):
        run_batch(corpus, out, dies_after_two_batches, model_name=model.name, progress=False)
    assert not out.exists()  # never a half-written final file
    assert seen == [it["path"] for it in corpus[:6]]  # two batches finished before the interrupt
    seen.clear()

    def scorer(todo):
        seen.extend(it["path"] for it in todo)
        for i in range(0, len(todo), 3):
            yield score_items(model, todo[i:i + 3])

    summary = run_batch(corpus, out, scorer, model_name=model.name, progress=False)
    assert seen == [it["path"] for it in corpus[6:]]  # only what the interrupted run had not finished
    assert (summary.scored, summary.failed, summary.skipped) == (1, 4, 6)
    records = _lines(out)
    assert [(r["path"], r.get("start_time")) for r in records] == [(it["path"], it.get("start_time")) for it in corpus]

    # a third run has nothing left but the failed inputs; fix one and it is scored
    shutil.copy(corpus[1]["path"], tmp_path / "bad" / "missing.wav")
    seen.clear()
    summary = run_batch(corpus, out, scorer, model_name=model.name, progress=False)
    assert sorted(Path(p).name for p in seen) == ["empty.wav", "junk.wav", "missing.wav", "nan.wav"]
    assert (summary.scored, summary.failed, summary.skipped) == (1, 3, 7)
    assert "error" not in _lines(out)[9]


def test_sigterm_keeps_finished_records(tmp_path):
    """A preempted job gets SIGTERM: what it finished is on disk and a rerun skips it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out, ready = tmp_path / "o.jsonl", tmp_path / "ready"
    script = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
from mmmos_core.batch import run_batch
items = [{{"path": f"c{{i}}.wav"}} for i in range(6)]
def scorer(todo):
    yield [{{"path": it["path"], "PQ": 5.0, "model": "fake"}} for it in todo[:3]]
    open({str(ready)!r}, "w").close()
    time.sleep(60)
run_batch(items, {str(out)!r}, scorer, progress=False)
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists()
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()
    with ResumableWriter(out) as w:
        assert w.done_keys() == {item_key({"path": f"c{i}.wav"}) for i in range(3)}
