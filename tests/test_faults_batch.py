"""A model that raises on one clip in the middle of a batch: the other clips are scored, the
failed one gets an error record, and the app keeps serving."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmmos_core import load_model
from mmmos_core.batch import score_items

pytestmark = [pytest.mark.faults,
              pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")]


def fail_on(model, monkeypatch, name: str) -> None:
    """The encoders blow up on one clip (as a driver fault or a bug would), not on bad input."""
    features = model.features

    def flaky(audio):
        if Path(audio.source).name == name:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return features(audio)

    monkeypatch.setattr(model, "features", flaky)
    scores = model.predict_features

    def flaky_scores(audios, clips, **kwargs):  # the app's timeline path extracts features itself
        if any(Path(a.source).name == name for a in audios):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return scores(audios, clips, **kwargs)

    monkeypatch.setattr(model, "predict_features", flaky_scores)


def test_the_batch_finishes_the_other_clips(logmel_model_dir, clips, monkeypatch):
    model = load_model(logmel_model_dir)
    fail_on(model, monkeypatch, clips[2].name)
    records = score_items(model, [{"path": str(c)} for c in clips[:5]], chunk=8)
    assert [Path(r["path"]).name for r in records] == [c.name for c in clips[:5]]
    assert "internal error: RuntimeError: CUDA error" in records[2]["error"]
    assert all("error" not in r and 1 <= r["PQ"] <= 10 for k, r in enumerate(records) if k != 2)


def test_the_app_batch_and_predict_keep_serving(tmp_path, logmel_model_dir, clips, monkeypatch):
    from _app_harness import running_app
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    with running_app(tmp_path, logmel_model_dir, clips) as server:
        fail_on(server.app.model, monkeypatch, clips[1].name)
        client = Client(server.url, verbose=False)
        records = client.predict([handle_file(str(c)) for c in clips[:3]], api_name="/predict_batch")
        assert [r["file"] for r in records] == [c.name for c in clips[:3]]
        assert "internal error: RuntimeError" in records[1]["error"]  # the batch goes through score_items
        assert "error" not in records[0] and "error" not in records[2]
        with pytest.raises(AppError, match="could not be scored"):
            client.predict(handle_file(str(clips[1])), False, api_name="/predict")
        assert client.predict(handle_file(str(clips[0])), False, api_name="/predict")["file"] == clips[0].name
