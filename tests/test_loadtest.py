"""The load test's short form, as CI runs it: 10 visitors for 20 s against a real app process,
no errors and no leaked file descriptors; and the upload temp folder is cleaned up."""

from __future__ import annotations

import time

import pytest

from scripts.loadtest import folder_usage, run, running_app

pytestmark = [pytest.mark.faults, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
gradio_client = pytest.importorskip("gradio_client")


def test_ten_visitors_for_twenty_seconds(tmp_path, logmel_model_dir, clips):
    report = run(10, 20.0, clips, model=str(logmel_model_dir), idle_s=5.0, folder=tmp_path)
    assert report["errors"] == 0, report["error_examples"]
    assert report["latency_s"]["/predict"]["n"] >= 10 and report["latency_s"]["/rate"]["n"] >= 10
    # Keep-alive sockets and worker threads come and go; a leak grows with the requests served.
    assert report["fds"]["end"] <= report["fds"]["after_warmup"] + 10, report["fds"]
    assert report["rss_mb"]["growth_after_warmup"] < 150, report["rss_mb"]  # loose: CI machines vary
    assert report["ratings_written"]


def test_uploads_are_deleted_from_the_temp_folder_once_old(tmp_path, logmel_model_dir, clips):
    from gradio_client import Client, handle_file

    with running_app(tmp_path, clips, model=str(logmel_model_dir),
                     env={"MMMOS_UPLOAD_CACHE_MAX_AGE_S": "10"}) as app:  # swept every 5 s
        client = Client(app.url, verbose=False)
        for clip in clips[:6]:
            client.predict(handle_file(str(clip)), False, api_name="/predict")
        files, _ = folder_usage(app.temp_dir)
        assert files >= 6
        deadline = time.monotonic() + 40
        while folder_usage(app.temp_dir)[0] >= files and time.monotonic() < deadline:
            time.sleep(1)
        assert folder_usage(app.temp_dir)[0] < files  # the uploads went; the app still serves
        assert client.predict(handle_file(str(clips[0])), False, api_name="/predict")["file"] == clips[0].name
