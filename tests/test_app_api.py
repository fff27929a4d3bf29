"""The app's named endpoints, called with gradio_client against the app on a local port."""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
from pathlib import Path

import numpy as np
import pytest
from _app_harness import example_design_playlists, gold_count, running_app

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from mmmos_core.axes import AXES  # noqa: E402
from mmmos_core.batch import CSV_HEAD  # noqa: E402
from mmmos_core.studies.ratings import COLUMNS, RatingRow, RatingsStore  # noqa: E402
from conftest import AES_LABELS, need_aes_labels, shared_clips  # noqa: E402

# Gradio's own queue code trips pandas deprecation warnings on every call; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")

AES_TRACK2 = AES_LABELS / \
    "audiomos2025_track2_human_annotations.jsonl"


@pytest.fixture(scope="module")
def server(tmp_path_factory, logmel_model_dir, clips):
    with running_app(tmp_path_factory.mktemp("app"), logmel_model_dir, clips) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url, verbose=False)


def test_named_endpoints_are_published(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/predict", "/predict_batch", "/start_session", "/rate", "/compare", "/model_info"} <= names


def test_predict_returns_scores_members_spread_and_model(client, clips):
    record = client.predict(handle_file(str(clips[0])), api_name="/predict")
    assert record["file"] == clips[0].name and record["model"] == "test-logmel"
    assert all(1.0 <= record[a] <= 10.0 for a in AXES)
    assert len(record["members"]) == 4
    for a in AXES:
        values = [m[a] for m in record["members"]]
        assert record[a] == pytest.approx(np.mean(values), abs=1e-5)
        assert record["spread"][a]["min"] == pytest.approx(min(values), abs=1e-5)
        assert record["spread"][a]["max"] == pytest.approx(max(values), abs=1e-5)
    info = client.predict(api_name="/model_info")
    assert info["loaded"] and info["name"] == "test-logmel" and len(info["members"]) == 4


def test_a_bad_file_is_a_clear_error_and_the_app_keeps_serving(client, clips, tmp_path):
    bad = tmp_path / "not_audio.wav"
    bad.write_text("this is text, not sound")
    with pytest.raises(AppError) as err:
        client.predict(handle_file(str(bad)), api_name="/predict")
    assert "not_audio.wav" in str(err.value) and "decode" in str(err.value)
    assert "/tmp/gradio" not in str(err.value)
    assert client.predict(handle_file(str(clips[1])), api_name="/predict")["file"] == clips[1].name


def test_batch_scores_every_file_and_reports_bad_ones(client, server, clips, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    files = [handle_file(str(c)) for c in clips[:3]] + [handle_file(str(bad))]
    records = client.predict(files, api_name="/predict_batch")
    assert [r["file"] for r in records] == [c.name for c in clips[:3]] + ["broken.wav"]
    assert all(len(r["members"]) == 4 and set(r["spread"]) == set(AXES) for r in records[:3])
    assert "decode" in records[3]["error"] and "/tmp/gradio" not in records[3]["error"]
    # The UI's table and downloads are drawn from these records, in the CLI's formats.
    table, csv_path, jsonl_path = server.app.render_batch(records)
    assert list(table["file"]) == [r["file"] for r in records] and table["error"].iloc[3]
    lines = [json.loads(x) for x in Path(jsonl_path.value["path"] if isinstance(jsonl_path.value, dict)
                                         else jsonl_path.value).read_text().splitlines()]
    assert [r["path"] for r in lines] == [r["file"] for r in records]
    csv_file = csv_path.value["path"] if isinstance(csv_path.value, dict) else csv_path.value
    header = Path(csv_file).read_text().splitlines()[0].split(",")
    assert header[:len(CSV_HEAD)] == CSV_HEAD  # the leading columns of `mmmos predict --output x.csv`


def rate_all(client, session, n=None, scores=(6, 3, 5, 5)):
    rated = []
    while not session["finished"] and (n is None or len(rated) < n):
        clip = session["clip"]["clip_id"]
        session = client.predict(session["session_id"], clip, *scores, "", api_name="/rate")
        assert session["saved"]["clip_id"] == clip
        rated.append(clip)
    return rated, session


def test_full_rating_session_with_resume(client, server):
    session = client.predict("resume-rater", "Shared clips", api_name="/start_session")
    total = session["total"]
    assert session["rated"] == 0 and session["resumed"] == 0 and total == len(shared_clips())
    first, _ = rate_all(client, session, n=5)
    again = client.predict("resume-rater", "Shared clips", api_name="/start_session")  # e.g. after a reload
    assert again["session_id"] != session["session_id"]
    assert again["resumed"] == 5 and again["clip"]["clip_id"] not in first
    rest, final = rate_all(client, again)
    assert final["finished"] and len(rest) == total - 5
    rows = [r for r in RatingsStore(server.ratings_path).read().rows if r["rater_id"] == "resume-rater"]
    assert sorted(r["clip_id"] for r in rows) == sorted(first + rest)
    gold = {r["clip_id"]: r["gold_pass"] for r in rows if r["gold"] == "1"}
    # PQ 6, PC 3: outside the noise clip's PQ 1-4, inside the speech clip's PQ 6-10 and PC 1-3.
    expected = {c.stem: "0" if c.name.startswith("sound_musan_noise") else "1"
                for c in shared_clips() if c.name.startswith(("sound_musan_noise", "speech_ljspeech"))}
    assert gold == expected and expected  # the shared clips' two gold items, or the example audiobook
    assert all(r["model_id"] == "test-logmel" and r["played"] == "" for r in rows)


@pytest.mark.parametrize("rater,args,problem", [
    ("has space", None, "not valid"),
    ("ok-rater", (0, 5, 5, 5), "PQ"),
    ("ok-rater", (5, 5, 5, 11), "CU"),
])
def test_rating_input_is_validated(client, rater, args, problem):
    with pytest.raises(AppError, match=problem):
        session = client.predict(rater, "", api_name="/start_session")
        client.predict(session["session_id"], session["clip"]["clip_id"], *args, "", api_name="/rate")


def test_compare_on_the_audiobox_multi_rater_file(client, tmp_path):
    if not AES_TRACK2.exists():
        pytest.skip("no Audiobox labels")
    lines = AES_TRACK2.read_text().splitlines()[::40][:77]  # 77 clips across the 36 systems
    labels = tmp_path / "track2_subset.jsonl"
    labels.write_text("\n".join(lines) + "\n")
    rng = np.random.default_rng(0)
    preds = []
    for line in lines:
        rec = json.loads(line)
        means = {a: float(np.mean(rec[k])) for a, k in zip(AXES, ("Production_Quality", "Production_Complexity",
                                                                 "Content_Enjoyment", "Content_Usefulness"))}
        preds.append(json.dumps({"path": rec["data_path"], **{a: v + rng.normal(0, 0.7) for a, v in means.items()}}))
    pred_file = tmp_path / "preds.jsonl"
    pred_file.write_text("\n".join(preds) + "\n")
    report, archive = client.predict(handle_file(str(labels)), "Upload predictions (JSONL from `mmmos predict`)",
                                     handle_file(str(pred_file)), "", False, 200, 0, 0.25, 0.25, api_name="/compare")
    assert any("pseudo-rater" in n for n in report["notes"])
    levels = {(m["axis"], m["level"]) for m in report["metrics"]}
    assert levels == {(a, lvl) for a in AXES for lvl in ("utterance", "system")}
    lcc = next(m for m in report["metrics"] if m["axis"] == "PQ" and m["level"] == "utterance" and m["metric"] == "LCC")
    assert 0.0 < lcc["ci_low"] <= lcc["value"] <= lcc["ci_high"]
    assert len(report["agreement"]) == 4 and len(report["raters"]) == 10
    assert report["n_items"] == 77 and archive.endswith(".zip")


def test_compare_this_apps_ratings_by_running_the_model(client, server):
    for k in range(3):
        rate_all(client, client.predict(f"cmp-rater-{k}", "", api_name="/start_session"), n=len(shared_clips()),
                 scores=(4 + k, 3, 5 + k % 2, 6))
    report, _ = client.predict(None, "Run the current model on the clips", None, "", True, 0, 0, 0.25, 0.25,
                               api_name="/compare")
    scored = len(shared_clips()) - gold_count(shared_clips())  # gold items are not scored
    assert any("test-logmel" in n and f"scored {scored} of {scored}" in n for n in report["notes"])
    assert report["settings"]["z_normalise"] and report["settings"]["kind"] == "app"
    assert {m["metric"] for m in report["metrics"]} == {"MSE", "LCC", "SRCC", "KTAU"}


def _direct_rater(path: str, rater: str, clips: list[str]) -> None:
    store = RatingsStore(path)
    for k, clip in enumerate(clips):
        store.append(RatingRow(f"proc-{rater}", rater, "Shared clips", clip, {a: 1 + (k + i) % 10 for i, a in
                                                                          enumerate(AXES)}, comment="direct"))


def test_twenty_raters_at_once_lose_nothing(server):
    """10 raters through the API (threads) and 10 writing to the store (processes), 20 ratings each."""
    clip_ids = [line.split(",")[0] for line in (Path(server.ratings_path).parent.parent / "playlist.csv")
                .read_text().splitlines()[1:21]]
    per_rater = len(clip_ids)  # 20 with the shared clips
    errors = []

    def api_rater(k: int) -> None:
        try:
            c = Client(server.url, verbose=False)
            rated, _ = rate_all(c, c.predict(f"conc-api-{k}", "", api_name="/start_session"), n=per_rater,
                                scores=(1 + k % 10, 2, 3, 4))
            assert len(rated) == per_rater
        except Exception as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=api_rater, args=(k,)) for k in range(10)]
    procs = [mp.get_context("fork").Process(target=_direct_rater, args=(str(server.ratings_path), f"conc-proc-{k}",
                                                                          clip_ids)) for k in range(10)]
    for t in threads:
        t.start()
    for p in procs:
        p.start()
    for t in threads:
        t.join(120)
    for p in procs:
        p.join(120)
    assert not errors, errors[:3]
    assert all(p.exitcode == 0 for p in procs)
    result = RatingsStore(server.ratings_path).read()
    assert result.malformed == []
    rows = [r for r in result.rows if r["rater_id"].startswith("conc-")]
    assert len(rows) == 20 * per_rater
    assert len({(r["rater_id"], r["clip_id"]) for r in rows}) == 20 * per_rater
    raw_lines = server.ratings_path.read_text().splitlines()
    assert raw_lines.count(",".join(COLUMNS)) == 1 and all(line.count(",") >= len(COLUMNS) - 1 for line in raw_lines)


def test_uploads_over_the_size_limit_are_refused(client, server, tmp_path):
    import soundfile as sf

    big = tmp_path / "long.wav"
    sf.write(big, np.zeros(16000 * 660, dtype=np.int16), 16000)  # 21 MB, over MMMOS_MAX_UPLOAD_MB=20
    with pytest.raises(ValueError, match="maximum file size"):  # gradio_client reads the limit from the app
        client.predict(handle_file(str(big)), api_name="/predict")
    import httpx  # and the server enforces it for anyone else

    with open(big, "rb") as f:
        response = httpx.post(server.url + "gradio_api/upload", files={"files": ("long.wav", f, "audio/wav")})
    assert response.status_code == 413


def make_app(tmp_path, model_spec, model=None):
    from _app_harness import write_config, write_playlist

    import app as app_module
    from mmmos_core.settings import AppSettings

    clips = shared_clips()[:3]
    config = write_config(tmp_path, write_playlist(tmp_path, clips))
    settings = AppSettings.from_env({"MMMOS_MODEL": model_spec, "MMMOS_LISTENING_CONFIG": str(config),
                                     "MMMOS_RATINGS_PATH": str(tmp_path / "r.csv")})
    return app_module.MMMOSApp(settings, model=model)


def test_the_demo_model_says_so_in_a_banner(tmp_path, logmel_model_dir):
    from mmmos_core import load_model

    model = load_model(str(logmel_model_dir))
    model.config.note = "offline demo model: small encoders trained on a few hundred clips."
    app = make_app(tmp_path, str(logmel_model_dir), model)
    banner = app.banner()
    assert "About this model:</b> Offline demo model: small encoders trained on a few hundred clips." in banner
    assert banner.lower().count("offline demo model") == 1  # said once, by the model's own note
    assert "test-logmel" in banner
    model.config.note = ""
    assert "About this model" not in app.banner()


def test_without_a_model_the_app_still_serves_listening_tests(tmp_path):
    import gradio as gr

    app = make_app(tmp_path, str(tmp_path / "no-model-here"))
    assert app.model is None and "No model loaded" in app.banner() and "no-model-here" in app.banner()
    app.build()  # every tab still lays out
    with pytest.raises(gr.Error, match="No model is loaded"):
        app.predict(str(tmp_path / "x.wav"))
    session = app.api_start_session("rater-1", "")
    saved = app.api_rate(session["session_id"], session["clip"]["clip_id"], 5, 5, 5, 5)
    assert saved["rated"] == 1 and RatingsStore(tmp_path / "r.csv").read().rows[0]["model_id"] == ""


def test_compare_errors_name_the_uploaded_file_and_line_not_the_server_path(client, tmp_path):
    bad = tmp_path / "my_labels.jsonl"
    bad.write_text('{"data_path": "a.wav", "Production_Quality": [5, 6]}\n{not json\n')
    with pytest.raises(AppError) as err:
        client.predict(handle_file(str(bad)), "No predictions: rater statistics only", None, "", False, 0, 0,
                       0.25, 0.25, api_name="/compare")
    message = str(err.value)
    assert "my_labels.jsonl" in message and "line 2" in message
    assert "/tmp" not in message and "gradio" not in message.lower()


def test_compare_filters_the_apps_ratings_by_rater_and_keeps_the_choice(client, server):
    for k in range(3):
        rate_all(client, client.predict(f"flt-rater-{k}", "", api_name="/start_session"), n=8,
                 scores=(3 + k, 4, 5, 6))
    report, _ = client.predict(None, "No predictions: rater statistics only", None, "", False, 0, 0, 0.25, 0.25,
                               [], ["flt-rater-0", "flt-rater-1", "flt-rater-2"], [], api_name="/compare")
    assert report["settings"]["filter"]["raters"] == ["flt-rater-0", "flt-rater-1", "flt-rater-2"]
    assert report["settings"]["raters"] == 3
    assert "flt-rater-0" in report["settings"]["available"]["raters"]


def test_ab_and_mushra_results_are_analysed_with_the_model_beside(client, tmp_path):
    ab = tmp_path / "ab.csv"
    ab.write_text("rater,item,axis,system_a,system_b,choice,strength\n"
                  + "".join(f"r{k},song,PQ,new,old,{'A' if k < 7 else 'none'},clear\n" for k in range(9)))
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"path": f"{s}/{k}.wav", "system": s, **{a: v for a in AXES}}) + "\n"
                             for s, v in (("new", 7.0), ("old", 4.0)) for k in range(2)))
    out, notes, _, _, _ = client.predict(handle_file(str(ab)), handle_file(str(preds)), api_name="/analyse_design")
    assert out["design"] == "ab" and out["pairs"][0]["a_wins"] == 7 and out["pairs"][0]["no_preference"] == 2
    scale = {r["system"]: r for r in out["scale"]}
    assert scale["new"]["bradley_terry"] > scale["old"]["bradley_terry"] and scale["new"]["model_mean"] == 7.0
    mushra = tmp_path / "mushra.csv"
    mushra.write_text("rater,item,axis,condition,score,role\n"
                      + "".join(f"r{k},t1,PQ,ref,100,reference\nr{k},t1,PQ,codec,{60 + k},\n" for k in range(3)))
    out, _, _, _, _ = client.predict(handle_file(str(mushra)), None, api_name="/analyse_design")
    codec = next(r for r in out["conditions"] if r["condition"] == "codec")
    assert out["design"] == "mushra" and codec["mean"] == 61 and codec["raters"] == 3
    mushra.write_text("rater,item,axis,condition,score\nr1,t1,PQ,ref,150\n")
    with pytest.raises(AppError) as err:
        client.predict(handle_file(str(mushra)), None, api_name="/analyse_design")
    assert "mushra.csv, line 2: score 150 is outside 0-100" in str(err.value) and "/tmp" not in str(err.value)


@pytest.fixture(scope="module")
def design_client(tmp_path_factory, logmel_model_dir, clips):
    with running_app(tmp_path_factory.mktemp("designs"), logmel_model_dir, clips,
                     listening={"playlists": example_design_playlists()}) as running:
        yield Client(running.url, verbose=False), running


def test_an_ab_and_a_mushra_playlist_rated_through_the_api_then_analysed(design_client):
    client, server = design_client
    for rater in ("ann", "bob", "cy"):
        status = client.predict(rater, "AB", api_name="/start_session")
        assert status["design"] == "ab" and status["total"] == 4
        while not status["finished"]:
            screen = status["screen"]
            assert screen["labels"] == ["A", "B"] and screen["axes"] == ["PQ", "CE"]
            assert "clean" not in json.dumps(screen)  # the rater is never told which system is which
            status = client.predict(status["session_id"], screen["trial_id"], {"PQ": "A:clear", "CE": "none"},
                                    "", api_name="/rate_trial")
        status = client.predict(rater, "MUSHRA", api_name="/start_session")
        while not status["finished"]:
            screen = status["screen"]
            assert screen["open_reference"] and screen["scale"] == [0, 100]
            answer = {label: 95 - k for k, label in enumerate(screen["labels"])}  # the hidden reference >= 90
            status = client.predict(status["session_id"], screen["trial_id"], answer, "", api_name="/rate_trial")
    assert not server.app.store.read().rows and len(server.app.store.read().answers) == 3 * (4 + 2)
    out, notes, _, _, _ = client.predict(None, None, "ab", api_name="/analyse_design")
    assert out["design"] == "ab" and sum(r["a_wins"] + r["b_wins"] for r in out["pairs"] if r["axis"] == "PQ") == 12
    assert [r["no_preference"] for r in out["pairs"] if r["axis"] == "CE"] == [6, 6]  # 2 items x 3 raters per pair
    out, _, _, _, _ = client.predict(None, None, "mushra", api_name="/analyse_design")
    conditions = {r["condition"]: r for r in out["conditions"]}
    assert set(conditions) == {"reference", "anchor", "noisy", "codec"} and conditions["anchor"]["role"] == "anchor"
    assert all(r["raters"] == 3 for r in conditions.values())
    with pytest.raises(AppError, match="both A/B and MUSHRA answers; choose which"):
        client.predict(None, None, "auto", api_name="/analyse_design")


def test_a_bad_trial_answer_is_a_clear_error(design_client):
    client, _ = design_client
    status = client.predict("dee", "AB", api_name="/start_session")
    with pytest.raises(AppError, match=r"Please choose A, B or no preference for CE \(Content Enjoyment\)"):
        client.predict(status["session_id"], status["screen"]["trial_id"], {"PQ": "B:slight"}, "",
                       api_name="/rate_trial")
    status = client.predict("dee", "MUSHRA", api_name="/start_session")
    with pytest.raises(AppError, match="Please score version 2 from 0 to 100"):
        client.predict(status["session_id"], status["screen"]["trial_id"], {"1": 50}, "", api_name="/rate_trial")


def test_the_adaptive_simulation_endpoint_is_the_same_for_the_same_seed(client):
    labels = need_aes_labels() / "AES_natural_speech.jsonl"
    args = (handle_file(str(labels)), 30, 10, 10, "3, 2", 3, 5)
    first, _, _, _ = client.predict(*args, api_name="/simulate_adaptive")
    again, _, _, _ = client.predict(*args, api_name="/simulate_adaptive")
    assert first["summary"] == again["summary"] and [r["target_width"] for r in first["summary"]] == [3.0, 2.0]
    assert all(r["adaptive_median"] <= r["random_median"] <= 300 for r in first["summary"])
    assert "stand" in " ".join(first["notes"]) or "model terms" in " ".join(first["notes"])
