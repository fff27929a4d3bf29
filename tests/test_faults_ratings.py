"""The ratings file under faults: a read-only or full disk, a torn row, a real small tmpfs.

Nothing is lost silently: a rating that cannot be written is refused with a message that says
so, kept in memory (and the log) until a retry saves it once, and reported to the experimenter."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mmmos_core.studies import ratings as ratings_module
from mmmos_core.studies.playlists import SessionManager
from mmmos_core.studies.ratings import RatingRow, RatingsStore, RatingsStoreError

pytestmark = pytest.mark.faults
GOOD = {"PQ": 7, "PC": 2, "CE": 6, "CU": 5}


class ReadOnlyLock:
    """What filelock does on a read-only file system: creating the .lock file fails."""

    def __init__(self, path, timeout=None):
        self.path = path

    def __enter__(self):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), self.path)

    def __exit__(self, *exc):
        return False


def manager(tmp_path, clips) -> SessionManager:
    store = RatingsStore(tmp_path / "data" / "ratings.csv")
    playlist = tmp_path / "playlist.csv"
    playlist.write_text("id,path\n" + "".join(f"{c.stem},{c}\n" for c in clips[:4]))
    return SessionManager(store, {"pl": str(playlist)}, require_play=False, audio_roots=[clips[0].parent])


def test_read_only_disk_refuses_keeps_and_saves_on_retry(tmp_path, clips, monkeypatch, caplog):
    m = manager(tmp_path, clips)
    session = m.start("ro-rater", "pl")
    clip = session.current.id
    monkeypatch.setattr(ratings_module, "FileLock", ReadOnlyLock)
    with pytest.raises(RatingsStoreError) as err:
        m.rate(session.id, clip, GOOD, comment="first try")
    assert "Read-only file system" in str(err.value) and "NOT saved" in str(err.value)
    assert "Errno" not in str(err.value)
    assert session.current.id == clip and clip not in session.done  # the rater is still on this clip
    status = m.store.status()
    assert status.unsaved == 1 and status.failures == 1 and "Read-only" in status.last_error
    assert "first try" in caplog.text and "rating NOT saved" in caplog.text  # a second copy, in the log
    monkeypatch.undo()
    m.rate(session.id, clip, GOOD, comment="second try")  # the retry saves it, once
    rows = m.store.read().rows
    assert [(r["clip_id"], r["comment"]) for r in rows] == [(clip, "second try")]
    assert m.store.status().unsaved == 0 and session.current.id != clip


def test_full_disk_mid_write_leaves_whole_rows_only(tmp_path, monkeypatch):
    store = RatingsStore(tmp_path / "ratings.csv")
    store.append(RatingRow("s", "anna", "pl", "a", GOOD))
    before = store.path.read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ratings_module.os, "fsync", no_space)
    with pytest.raises(RatingsStoreError, match="No space left on device"):
        store.append(RatingRow("s", "anna", "pl", "b", GOOD))
    monkeypatch.undo()
    assert store.path.read_bytes() == before  # the half-written row is cut back
    assert store.status().unsaved == 1
    store.append(RatingRow("s", "anna", "pl", "b", GOOD))
    assert list(pd.read_csv(store.path)["clip_id"]) == ["a", "b"]


def test_a_row_torn_inside_a_quoted_comment(tmp_path):
    """Power lost mid-row, inside a quoted comment: our reader must not count it, and pandas
    must still read the file once the next rating is appended."""
    store = RatingsStore(tmp_path / "ratings.csv")
    store.append(RatingRow("s", "anna", "pl", "a", GOOD, comment="fine, really"))
    line = store.path.read_text().splitlines()[1]
    with open(store.path, "a") as f:
        f.write(line.replace(",a,", ",b,")[: line.index('"fine') + 4])  # ... ,"fin
    torn = store.read()
    assert [r["clip_id"] for r in torn.rows] == ["a"] and torn.malformed == [3]
    store.append(RatingRow("s", "anna", "pl", "c", GOOD, comment='says "hi", then =1+1'))
    frame = pd.read_csv(store.path)
    assert list(frame["clip_id"]) == ["a", "c"] and store.read().malformed == []
    assert frame["comment"].iloc[1] == 'says "hi", then =1+1'
    assert '"fin' in store.torn_path.read_text()


def test_the_app_tells_the_rater_without_server_paths_and_reports_to_the_experimenter(tmp_path, logmel_model_dir,
                                                                                     clips, monkeypatch):
    import gradio as gr
    from _app_harness import write_config, write_playlist

    from mmmos_app import MMMOSApp
    from mmmos_core.settings import AppSettings

    config = write_config(tmp_path, write_playlist(tmp_path, clips[:3]), require_play=False)
    ratings = tmp_path / "private-server-folder" / "ratings.csv"
    app = MMMOSApp(AppSettings.from_env({"MMMOS_MODEL": str(logmel_model_dir), "MMMOS_RATINGS_PATH": str(ratings),
                                         "MMMOS_LISTENING_CONFIG": str(config)}))
    outputs = app.ui_start(True, "web-rater", "Shared clips")
    session_id, clip_id = outputs[0], outputs[1]
    monkeypatch.setattr(ratings_module, "FileLock", ReadOnlyLock)
    with pytest.raises(gr.Error) as err:
        app.ui_rate(session_id, clip_id, 5, 5, 5, 5, "")
    assert "NOT saved" in err.value.message and "Submit again" in err.value.message
    assert "private-server-folder" not in err.value.message and "Errno" not in err.value.message
    with pytest.raises(gr.Error, match="NOT saved"):  # the API says the same
        app.api_rate(session_id, clip_id, 5, 5, 5, 5, "")
    status = app.api_ratings_status()
    assert status["unsaved"] == 1 and status["failures"] == 2 and "Read-only" in status["last_error"]
    monkeypatch.undo()
    again = app.ui_rate(session_id, clip_id, 5, 5, 5, 5, "")
    assert again[1] != clip_id  # moved on to the next clip
    assert [r["clip_id"] for r in app.store.read().rows] == [clip_id] and app.api_ratings_status()["unsaved"] == 0


FULL_DISK_SCRIPT = """
import sys
from mmmos_core.studies.ratings import RatingRow, RatingsStore, RatingsStoreError
store = RatingsStore(sys.argv[1])
saved = 0
try:
    for k in range(100000):
        store.append(RatingRow("s", "r", "pl", f"clip{k}", {"PQ": 1, "PC": 2, "CE": 3, "CU": 4}, comment="x" * 200))
        saved += 1
except RatingsStoreError as exc:
    print(saved, exc, sep="\\t")
"""


def test_a_really_full_tmpfs(tmp_path):
    """A 64 KiB tmpfs in a private mount namespace (where the kernel allows it): writes fail with
    ENOSPC, every acknowledged row is in the file, and the file parses."""
    mount = tmp_path / "small"
    mount.mkdir()
    target = mount / "ratings.csv"
    cmd = ["unshare", "-rm", "sh", "-c",
           f'mount -t tmpfs -o size=64k tmpfs "{mount}" && "{sys.executable}" -c "$0" "{target}" && cat "{target}"',
           FULL_DISK_SCRIPT]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    except FileNotFoundError:
        pytest.skip("unshare is not available")
    if run.returncode != 0 or "\t" not in run.stdout:
        pytest.skip(f"cannot mount a private tmpfs here: {run.stderr.strip()[:200]}")
    first, _, csv_text = run.stdout.partition("\n")
    saved, message = first.split("\t", 1)
    assert "No space left on device" in message and "NOT saved" in message
    copy = tmp_path / "copy.csv"
    copy.write_text(csv_text)
    frame = pd.read_csv(copy)
    assert len(frame) == int(saved) > 0  # every acknowledged row, and no half row


def test_an_uploaded_ratings_file_with_a_huge_cell_is_refused_with_its_line(tmp_path):
    from mmmos_core.errors import MMMOSError
    from mmmos_core.studies.compare import load_human_ratings

    store = RatingsStore(tmp_path / "ratings.csv")
    store.append(RatingRow("s", "anna", "pl", "a", GOOD))
    line = store.path.read_text().splitlines()[1]
    with open(store.path, "a") as f:
        f.write(line.replace(",a,", ",b,") + "x" * 1_048_576 + "\n")  # a 1 MB comment
    with pytest.raises(MMMOSError, match=r"ratings.csv, line 3: a row of 1,048,6\d\d characters, over the limit of 100,000"):
        load_human_ratings(store.path)
