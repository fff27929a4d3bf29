"""The Ray engine: same records as a local run, bad inputs as error records, resumable.

One local Ray instance (2 CPUs) serves the whole module; Ray is an optional extra, so
without it these tests skip and only the "clear error without Ray" test runs.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mmmos_core.axes import AXES
from mmmos_core.batch import ResumableWriter, result_record, score_items
from mmmos_core.errors import MMMOSError

HAVE_RAY = importlib.util.find_spec("ray") is not None
# Ray Data copies its own context and trips over its own deprecated fields; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="ray is an optional extra: pip install -r requirements-ray.txt")
# Batch composition changes float32 sums by an ulp, and records are rounded to 6 decimals.
TOL = 1e-6 + 1e-9


@pytest.fixture(scope="module")
def ray_local():
    from mmmos_core.batch.ray_engine import start_local_ray

    ray = start_local_ray(2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, clips):
    """The shared clips plus the bad inputs a real corpus has, one of them given relative."""
    bad = tmp_path_factory.mktemp("bad")
    (bad / "empty.wav").write_bytes(b"")
    (bad / "junk.wav").write_bytes(b"\x00\x01 definitely not audio " * 40)
    x = np.zeros(16000, dtype=np.float32)
    x[1234] = np.nan
    sf.write(str(bad / "nan.wav"), x, 16000, subtype="FLOAT")
    items = [{"path": str(c)} for c in clips]
    items += [{"path": str(bad / n)} for n in ("empty.wav", "junk.wav", "nan.wav", "missing.wav")]
    items.append({"path": str(clips[1]), "start_time": 1.0, "end_time": 2.5})
    return items


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def _assert_same(got: dict, want: dict) -> None:
    assert got["path"] == want["path"]
    if "error" in want:
        assert got == want
        return
    for axis in AXES:
        assert abs(got[axis] - want[axis]) <= TOL, (got["path"], axis)
    for gm, wm in zip(got["members"], want["members"]):
        assert gm["name"] == wm["name"]
        assert all(abs(gm[a] - wm[a]) <= TOL for a in AXES)
    assert got["flags"] == want["flags"] and got["duration_s"] == want["duration_s"]


def test_without_ray_the_engine_says_how_to_get_it(monkeypatch, tmp_path):
    from mmmos_core.batch import ray_engine as batch_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(MMMOSError, match="requirements-ray.txt"):
        batch_ray.run_ray_predict([{"path": "a.wav"}], str(tmp_path / "o.jsonl"), "lite", None, 1, 4, 0.0)


@needs_ray
def test_ray_scores_equal_local_predict(ray_local, corpus, logmel_model_dir, tmp_path, monkeypatch):
    from mmmos_core import load_model
    from mmmos_core.batch.ray_engine import run_ray_predict

    # a relative path is read relative to the driver's working directory, as locally
    monkeypatch.chdir(Path(corpus[0]["path"]).parent)
    items = [{"path": Path(corpus[0]["path"]).name}] + corpus[1:]
    out = tmp_path / "scores.jsonl"
    summary = run_ray_predict(items, str(out), str(logmel_model_dir), None, 2, 4, 0.0, progress=False)

    model = load_model(str(logmel_model_dir))
    local = [result_record(it, r) for it, r in zip(items, model.predict_many(items))]
    records = _lines(out)
    assert len(records) == len(items)
    for got, want in zip(records, local):
        _assert_same(got, want)
    errors = {Path(r["path"]).name: r["error"] for r in records if "error" in r}
    assert set(errors) == {"empty.wav", "junk.wav", "nan.wav", "missing.wav"}
    assert all(name in message for name, message in errors.items())  # each names its file
    assert records[-1]["start_time"] == 1.0 and records[-1]["duration_s"] == pytest.approx(1.5)
    assert (summary.scored, summary.failed, summary.skipped) == (len(items) - 4, 4, 0)


@needs_ray
def test_ray_run_resumes_an_interrupted_one(ray_local, corpus, logmel_model_dir, tmp_path):
    from mmmos_core import load_model
    from mmmos_core.batch.ray_engine import run_ray_predict

    out = tmp_path / "scores.jsonl"
    model = load_model(str(logmel_model_dir))
    # What a preempted run leaves: some parts on disk, no final file.
    done_before = corpus[:5]
    writer = ResumableWriter(out)
    writer.write_part([dict(r, resumed_from="earlier run") for r in score_items(model, done_before[:3])])
    writer.write_part([dict(r, resumed_from="earlier run") for r in score_items(model, done_before[3:])])
    writer.close()

    summary = run_ray_predict(corpus, str(out), str(logmel_model_dir), None, 2, 4, 0.0, progress=False)
    assert summary.skipped == 5 and summary.scored + summary.failed == len(corpus) - 5
    records = _lines(out)
    assert [(r["path"], r.get("start_time")) for r in records] == [(it["path"], it.get("start_time"))
                                                                   for it in corpus]
    assert [r.get("resumed_from") for r in records[:5]] == ["earlier run"] * 5  # kept, not rescored
    assert not any("resumed_from" in r for r in records[5:])
    local = [result_record(it, r) for it, r in zip(corpus, model.predict_many(corpus))]
    for got, want in zip(records, local):
        _assert_same(got, want)
    assert not Path(str(out) + ".parts").exists()


@needs_ray
def test_cli_ray_engine_exits_nonzero_when_inputs_fail(ray_local, corpus, logmel_model_dir, tmp_path):
    from mmmos_core.cli import main

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(it) + "\n" for it in corpus[:2] + [corpus[-2]]))
    out = tmp_path / "scores.csv"
    code = main(["predict", "--input", str(src), "--output", str(out), "--model", str(logmel_model_dir),
                 "--engine", "ray", "--num-workers", "1", "--quiet"])
    assert code != 0
    rows = out.read_text().splitlines()
    assert rows[0].startswith("path,") and len(rows) == 4
    assert "missing.wav" in rows[3] and "file not found" in rows[3]


def test_steady_state_excludes_start_up_and_the_drained_tail():
    from mmmos_core.batch.ray_engine import steady_clips_per_s

    # worker 1 is up at t=10, worker 2 only at t=20 (slow model load); both then finish
    # one clip per second each until worker 1 runs dry at t=40 and worker 2 at t=45.
    timings = [(1, float(t), 1) for t in range(10, 41)] + [(2, float(t), 1) for t in range(20, 46)]
    assert steady_clips_per_s(timings) == pytest.approx(2.0)
    assert steady_clips_per_s([]) == 0.0
    # a worker that ran dry before the other started: the window widens instead of vanishing
    assert steady_clips_per_s([(1, 1.0, 4), (1, 2.0, 4), (2, 5.0, 4), (2, 6.0, 4)]) == pytest.approx(4.0)


@needs_ray
def test_ray_bench_reports_both_worker_counts(ray_local, logmel_model_dir):
    from mmmos_core.batch.ray_engine import ray_bench

    result = ray_bench(str(logmel_model_dir), n_clips=48, clip_s=1.0, batch_size=4)
    assert {"ray_clips_per_s_1w", "ray_clips_per_s_2w", "ray_speedup_2v1"} <= set(result)
    assert result["ray_clips_per_s_1w"] > 0 and result["ray_clips_per_s_2w"] > 0
    assert result["ray_worker_cpu_ms_per_clip_1w"] > 0 and result["ray_worker_cpu_ms_per_clip_2w"] > 0
    assert result["ray_speedup_2v1"] == pytest.approx(result["ray_clips_per_s_2w"] / result["ray_clips_per_s_1w"],
                                                      rel=0.01)


@needs_ray
@pytest.mark.filterwarnings("ignore:.*weight_norm")  # the package's own WavLM
def test_ray_workers_score_the_reference_as_locally(ray_local, corpus, logmel_model_dir, tmp_path):
    """--reference on Ray: each worker loads the checkpoint the driver found; the reference
    block equals a local run's, bad inputs stay error records, and a rerun resumes."""
    pytest.importorskip("audiobox_aesthetics")
    from audiobox_aesthetics.model.aes import AesMultiOutput
    from test_reference import PUBLISHED_CFG, TARGETS, save_checkpoint

    from mmmos_core.batch.ray_engine import run_ray_predict
    from mmmos_core.peers.audiobox import CHECKPOINT, load_reference

    # Published size: a shrunken one would need the test's patch inside every worker process.
    torch.manual_seed(0)
    checkpoint = save_checkpoint(AesMultiOutput(**PUBLISHED_CFG, target_transform=TARGETS),
                                 tmp_path / "audiobox" / CHECKPOINT, PUBLISHED_CFG)
    items = [{"path": it["path"], "start_time": 0.5, "end_time": 2.0} for it in corpus[:3]]
    items.append(next(it for it in corpus if it["path"].endswith("junk.wav")))
    out = tmp_path / "scores.jsonl"
    try:
        summary = run_ray_predict(items, str(out), str(logmel_model_dir), None, 2, 2, 0.0, progress=False,
                                  reference=("audiobox", str(checkpoint)))
        reference = load_reference(path=checkpoint)
        records = {(r["path"], r.get("start_time")): r for r in _lines(out)}
        assert (summary.scored, summary.failed) == (3, 1)
        for it in items[:3]:
            got = records[(it["path"], 0.5)]["reference"]
            want = reference.predict(it["path"], start_time=0.5, end_time=2.0).to_record()
            assert got["model"] == want["model"] == "audiobox-aesthetics"
            for a in AXES:
                assert got[a] == pytest.approx(want[a], abs=TOL)
        assert "reference" not in records[(items[3]["path"], None)] and "error" in records[(items[3]["path"], None)]
        again = run_ray_predict(items, str(out), str(logmel_model_dir), None, 2, 2, 0.0, progress=False,
                                reference=("audiobox", str(checkpoint)))
        assert (again.scored, again.skipped) == (0, 3)
    finally:
        checkpoint.unlink()  # 380 MB
