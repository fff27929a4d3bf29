"""`kill -9` of the real app process while 10 raters submit, then a restart on the same file:
every acknowledged rating is in the CSV, the CSV parses, no row is half-written, and every
rater resumes where they were."""

from __future__ import annotations

import signal
import threading
import time

import pandas as pd
import pytest

from mmmos_core.studies.ratings import RatingsStore
from scripts.loadtest import running_app, start_app, stop_app

pytestmark = [pytest.mark.faults, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
gradio_client = pytest.importorskip("gradio_client")
RATERS = 10


def rater(url: str, rater_id: str, acknowledged: list[str], stop: threading.Event) -> None:
    from gradio_client import Client

    try:
        client = Client(url, verbose=False)
        session = client.predict(rater_id, "", api_name="/start_session")
        while not stop.is_set() and not session["finished"]:
            clip = session["clip"]["clip_id"]
            session = client.predict(session["session_id"], clip, 5, 5, 5, 5, "", api_name="/rate")
            acknowledged.append(clip)  # the app answered: this rating is acknowledged
    except Exception:  # noqa: BLE001 - the app was killed under this rater; that is the point
        pass


@pytest.mark.parametrize("crash", range(2))
def test_kill_9_mid_session_loses_no_acknowledged_rating(tmp_path, logmel_model_dir, clips, crash):
    ratings = tmp_path / "ratings.csv"
    app = start_app(tmp_path / "first", clips, model=str(logmel_model_dir), ratings_path=ratings)
    acknowledged = {f"crash-{k}": [] for k in range(RATERS)}
    stop = threading.Event()
    threads = [threading.Thread(target=rater, args=(app.url, r, acks, stop)) for r, acks in acknowledged.items()]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while sum(map(len, acknowledged.values())) < 30 + 7 * crash and time.monotonic() < deadline:
            time.sleep(0.05)
        app.process.send_signal(signal.SIGKILL)  # mid-flight: raters are still submitting
        app.process.wait(30)
    finally:
        stop.set()
        stop_app(app.process)
        for t in threads:
            t.join(60)
    acked = {(r, c) for r, clips_ in acknowledged.items() for c in clips_}
    assert len(acked) >= 30

    result = RatingsStore(ratings).read()
    stored = [(r["rater_id"], r["clip_id"]) for r in result.rows]
    assert acked <= set(stored)  # every acknowledged rating survived
    assert len(stored) == len(set(stored))  # none twice
    assert len(set(stored) - acked) <= RATERS  # at most the one in flight per rater was saved unacknowledged
    assert result.malformed == [] or result.malformed == [len(stored) + 2]  # at most a torn last row
    with running_app(tmp_path / "second", clips, model=str(logmel_model_dir), ratings_path=ratings) as again:
        from gradio_client import Client

        client = Client(again.url, verbose=False)
        for rater_id in acknowledged:
            mine = {c for r, c in stored if r == rater_id}
            session = client.predict(rater_id, "", api_name="/start_session")
            assert session["resumed"] == len(mine)  # resumes where they were
            if mine:  # told which rating was saved last, even if the crash hid its confirmation
                last = [c for r, c in stored if r == rater_id][-1]
                assert session["last_saved"]["clip_id"] == last
            assert session["clip"]["clip_id"] not in mine
            client.predict(session["session_id"], session["clip"]["clip_id"], 6, 6, 6, 6, "", api_name="/rate")
    frame = pd.read_csv(ratings)  # the file parses, torn row or not
    assert len(frame) == len(stored) + RATERS and RatingsStore(ratings).read().malformed == []


def test_two_app_processes_on_one_ratings_file(tmp_path, logmel_model_dir, clips):
    """A Space restart overlapping the old process: both write the same file, nothing is lost or
    interleaved."""
    ratings = tmp_path / "ratings.csv"
    with running_app(tmp_path / "old", clips, model=str(logmel_model_dir), ratings_path=ratings) as old, \
            running_app(tmp_path / "new", clips, model=str(logmel_model_dir), ratings_path=ratings) as new:
        acknowledged = {f"{side}-{k}": [] for side in ("old", "new") for k in range(5)}
        never = threading.Event()
        threads = [threading.Thread(target=rater, args=(old.url if r.startswith("old") else new.url, r, acks, never))
                   for r, acks in acknowledged.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    result = RatingsStore(ratings).read()
    stored = sorted((r["rater_id"], r["clip_id"]) for r in result.rows)
    assert stored == sorted((r, c) for r, acks in acknowledged.items() for c in acks)
    assert all(len(acks) == len(clips) for acks in acknowledged.values())  # every rater finished
    assert result.malformed == [] and len(pd.read_csv(ratings)) == len(stored)
