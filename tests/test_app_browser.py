"""A real browser (Chromium through Playwright) drives the app: upload, radar, ratings, compare.

Screenshots of every tab land in tests/artifacts/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _app_harness import example_design_playlists, running_app
from _browser import ARTIFACTS

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

from mmmos_core.studies.ratings import RatingsStore  # noqa: E402
from conftest import AES_LABELS, shared_clips  # noqa: E402

pytestmark = [pytest.mark.browser,
              pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")]

AES_TRACK2 = AES_LABELS / \
    "audiomos2025_track2_human_annotations.jsonl"
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def server(tmp_path_factory, logmel_model_dir, clips):
    examples = [next(c for c in clips if c.name.startswith(kind)) for kind in ("speech_", "music_", "sound_")]
    with running_app(tmp_path_factory.mktemp("browser-app"), logmel_model_dir, clips, examples=examples) as running:
        yield running


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url)
    page.wait_for_selector("#clip-input")
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(600)  # let plotly finish its transition before the picture
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_upload_a_clip_and_see_the_radar(page, clips):
    page.locator("#clip-input input[type=file]").set_input_files(str(clips[0]))
    radar = page.locator("#radar .js-plotly-plot")
    radar.wait_for()
    assert radar.locator(".scatterlayer .trace").count() == 5  # four members and the ensemble mean
    assert "ensemble mean" in radar.inner_text() and "more ≠ better" in radar.inner_text()
    page.get_by_text("The members, one by one").click()  # the numbers are one click away
    page.locator("#spread .js-plotly-plot").wait_for()
    assert "test-logmel" in page.locator("body").inner_text()  # which model scored it is always on screen
    page.get_by_text("members as min–max band").click()
    page.locator("#radar", has_text="member min").wait_for()
    shot(page, "predict")


def test_an_example_is_one_click_away(page, clips):
    music = next(c for c in clips if c.name.startswith("music_"))  # the first music clip is among the examples
    page.get_by_text(music.stem.replace("_", " ")).click()
    from mmmos_core.views.figures import short_title

    page.locator("#radar", has_text=short_title(music.name)).wait_for()  # long names are shortened
    assert page.locator("#radar .js-plotly-plot .scatterlayer .trace").count() == 5


def test_a_bad_upload_is_named_in_a_message_and_the_app_keeps_working(page, clips, tmp_path):
    bad = tmp_path / "not_audio.wav"
    bad.write_text("plain text pretending to be audio")
    page.locator("#clip-input input[type=file]").set_input_files(str(bad))
    toast = page.locator(".toast-body", has_text="not_audio.wav")
    toast.wait_for()
    assert "decode" in toast.inner_text()
    shot(page, "predict_error")
    clear = page.locator("#clip-input button[aria-label='Clear']").first
    clear.click()
    # The empty uploader replaces the player; a file set before it is back lands on the old input.
    expect(clear).to_be_hidden(timeout=TIMEOUT_MS)
    page.locator("#clip-input input[type=file]").set_input_files(str(clips[2]))
    page.locator("#radar .js-plotly-plot").wait_for()


def test_batch_table_and_downloads(page, clips):
    open_tab(page, "Batch")
    page.locator("#batch-files input[type=file]").set_input_files([str(c) for c in clips[3:6]])
    page.locator("#batch-btn").click()
    table = page.locator("#batch-table")
    page.locator("#batch-table", has_text=clips[5].name).wait_for()
    for c in clips[3:6]:
        assert c.name in table.inner_text()
    # The buttons arrive in the same update as the table but may be drawn a moment later:
    # expect() waits for them where is_visible() would only sample once.
    expect(page.get_by_role("button", name="Download CSV")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_role("button", name="Download JSONL")).to_be_visible(timeout=TIMEOUT_MS)
    shot(page, "batch")


def rate_current_clip(page, scores: dict[str, int], next_position: str, comment: str = "") -> None:
    page.locator("#rating-clip button[aria-label='Play']").click()
    for axis, value in scores.items():
        page.locator(f"#rate-{axis} label").filter(has_text=str(value)).first.click()
    if comment:
        page.locator("#rate-comment textarea").fill(comment)
    moved_on = page.locator("#clip-position", has_text=next_position)
    for _ in range(3):
        # On a loaded machine the play event can reach the server after the click on Submit,
        # which is then refused ("play the clip") with the inputs kept: submit again.
        page.locator("#submit-rating").click()
        try:
            moved_on.wait_for(timeout=10_000)
            return
        except playwright_api.TimeoutError:
            continue
    moved_on.wait_for()


def test_rate_two_clips_and_find_the_rows_in_the_csv(page, server):
    open_tab(page, "Listening test")
    page.locator("#start-btn").click()  # without consent: refused with a message
    page.locator(".toast-body", has_text="consent").wait_for()
    page.locator("#consent input[type=checkbox]").check()
    page.locator("#rater-id textarea, #rater-id input").first.fill("browser-rater")
    page.locator("#start-btn").click()
    position = page.locator("#clip-position")
    position.wait_for()
    n = len(shared_clips())
    assert f"Clip 1 of {n}" in position.inner_text()
    rate_current_clip(page, {"PQ": 7, "PC": 3, "CE": 6, "CU": 5}, f"Clip 2 of {n}", comment="=clean speech")
    shot(page, "listening")
    rate_current_clip(page, {"PQ": 4, "PC": 8, "CE": 2, "CU": 10}, f"Clip 3 of {n}")
    rows = [r for r in RatingsStore(server.ratings_path).read().rows if r["rater_id"] == "browser-rater"]
    assert [(r["PQ"], r["PC"], r["CE"], r["CU"]) for r in rows] == [("7", "3", "6", "5"), ("4", "8", "2", "10")]
    assert all(r["played"] == "1" and float(r["seconds_spent"]) > 0 for r in rows)
    assert rows[0]["comment"] == "=clean speech"  # stored defused ('=...), read back as typed
    assert "'=clean speech" in server.ratings_path.read_text()


def test_compare_tab_draws_the_report(page, tmp_path):
    if not AES_TRACK2.exists():
        pytest.skip("no Audiobox labels")
    lines = AES_TRACK2.read_text().splitlines()[::60][:51]
    labels = tmp_path / "track2_subset.jsonl"
    labels.write_text("\n".join(lines) + "\n")
    rng = np.random.default_rng(1)
    keys = dict(PQ="Production_Quality", PC="Production_Complexity", CE="Content_Enjoyment", CU="Content_Usefulness")
    preds = []
    for line in lines:
        rec = json.loads(line)
        preds.append(json.dumps({"path": rec["data_path"],
                                 **{a: float(np.mean(rec[k]) + rng.normal(0, 0.8)) for a, k in keys.items()}}))
    pred_file = tmp_path / "preds.jsonl"
    pred_file.write_text("\n".join(preds) + "\n")
    open_tab(page, "Compare")
    # Before a run, every table and plot says what to do next: no placeholder headers, no blank plot.
    assert "press Compare" in page.locator("#cmp-metrics").inner_text()
    page.locator("#cmp-scatter", has_text="press Compare").wait_for()
    shot(page, "compare_empty")
    page.locator("#cmp-ratings input[type=file]").set_input_files(str(labels))
    page.get_by_text("Upload predictions (JSONL").click()
    page.locator("#cmp-preds input[type=file]").set_input_files(str(pred_file))
    page.get_by_text("Options").click()
    # The bootstrap count stays at its default: typing into Gradio's slider box proved
    # unreliable on a loaded CI machine, and the default only makes the run a little longer.
    page.locator("#cmp-btn").click()
    page.locator("#cmp-notes", has_text="pseudo-rater").wait_for(timeout=120_000)
    page.locator("#cmp-scatter .js-plotly-plot", has_text="predicted vs human").wait_for()
    assert "[" in page.locator("#cmp-metrics").inner_text()  # values with their confidence intervals
    assert "pos10" in page.locator("#cmp-raters").inner_text()
    assert "alpha (all raters)" in page.locator("#cmp-agreement").inner_text()  # readable names
    assert "alpha_all" not in page.locator("body").inner_text()
    shot(page, "compare")


def test_about_tab(page):
    open_tab(page, "About")
    page.get_by_text("The four axes").wait_for()
    assert "m0-mlp" in page.locator("body").inner_text()
    shot(page, "about")


def test_a_shared_link_opens_the_test_with_playlist_and_rater_chosen(page, server):
    page.goto(server.url.rstrip("/") + "/?playlist=Shared+clips&rater=link-rater")
    rater = page.locator("#rater-id textarea, #rater-id input").first
    rater.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('#rater-id textarea, #rater-id input')]"
                           ".some(e => e.value === 'link-rater')")
    assert page.get_by_role("tab", name="Listening test").get_attribute("aria-selected") == "true"
    page.locator("#consent input[type=checkbox]").check()
    page.locator("#start-btn").click()
    page.locator("#listen-status", has_text="link-rater").wait_for()
    rate_current_clip(page, {"PQ": 5, "PC": 5, "CE": 5, "CU": 5}, f"Clip 2 of {len(shared_clips())}")
    # The experimenter sees the rater's progress in the Compare tab, without any score.
    open_tab(page, "Compare")
    page.get_by_text("Experimenter view").click()
    page.locator("#progress-btn").click()
    table = page.locator("#progress-table", has_text="link-rater")
    table.wait_for()
    assert f"1 / {len(shared_clips())}" in table.inner_text() and "?playlist=Shared+clips" in page.locator("#share-links").inner_text()
    shot(page, "experimenter_view")


def test_the_scales_unlock_only_when_the_clip_has_played_to_its_end(browser, logmel_model_dir, clips, tmp_path):
    short = [c for c in clips if c.name.startswith("sound_robin")]  # 2.7 s
    with running_app(tmp_path / "full-play", logmel_model_dir, short, examples=short,
                     listening={"min_play_fraction": 1.0}) as running:
        context = browser.new_context(viewport={"width": 1360, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(running.url)
        open_tab(page, "Listening test")
        page.locator("#consent input[type=checkbox]").check()
        page.locator("#rater-id textarea, #rater-id input").first.fill("patient-rater")
        page.locator("#start-btn").click()
        page.locator("#clip-position", has_text="scales unlock when it ends").wait_for()
        first_choice = page.locator("#rate-PQ input[type=radio]").first
        assert first_choice.is_disabled()  # nothing to click before the clip has played
        shot(page, "listening_locked")
        page.locator("#rating-clip button[aria-label='Play']").click()
        page.wait_for_function("() => !document.querySelector('#rate-PQ input[type=radio]').disabled",
                               timeout=30_000)
        for axis in ("PQ", "PC", "CE", "CU"):
            page.locator(f"#rate-{axis} label").filter(has_text="6").first.click()
        page.locator("#submit-rating").click()
        page.locator("#listen-status", has_text="All 1 clips").wait_for()
        context.close()
        rows = RatingsStore(running.ratings_path).read().rows
        assert len(rows) == 1 and float(rows[0]["seconds_spent"]) >= 2.2


def test_ab_results_are_analysed_in_the_compare_tab(page, tmp_path):
    ab = tmp_path / "ab_results.csv"
    ab.write_text("rater,item,axis,system_a,system_b,choice,strength\n"
                  + "".join(f"r{k},song{k % 2},CE,new,old,{'A' if k < 6 else 'B'},slight\n" for k in range(8)))
    open_tab(page, "Compare")
    page.get_by_text("A/B preference and MUSHRA-style results").click()
    page.locator("#design-results input[type=file]").set_input_files(str(ab))
    page.locator("#design-btn").click()
    page.locator("#design-notes", has_text="Wilson").wait_for()
    assert "75" in page.locator("#design-first").inner_text() or "0.75" in page.locator("#design-first").inner_text()
    page.locator("#design-plot", has_text="Bradley").wait_for()
    shot(page, "compare_ab_results")


@pytest.fixture(scope="module")
def design_app(tmp_path_factory, logmel_model_dir, clips):
    with running_app(tmp_path_factory.mktemp("browser-designs"), logmel_model_dir, clips,
                     listening={"playlists": example_design_playlists()}) as running:
        yield running


def _design_page(browser, app, query: str, rater: str):
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app.url + query)
    page.locator("#consent input[type=checkbox]").check()
    page.locator("#rater-id textarea, #rater-id input").first.fill(rater)
    page.locator("#start-btn").click()
    return context, page


def _play(page, *players: str) -> None:
    for player in players:
        page.locator(f"#{player} button[aria-label='Play']").click()
    page.wait_for_timeout(1500)  # the play events reach the server


def test_an_ab_trial_in_the_browser_needs_both_versions_played_then_is_saved(browser, design_app):
    context, page = _design_page(browser, design_app, "?playlist=AB", "ab-browser")
    page.locator("#ab-position", has_text="Trial 1 of 4").wait_for()
    assert page.locator("#rating-panel").is_hidden() and page.locator("#ab-choice-PC").is_hidden()  # PQ, CE only
    page.locator("#ab-choice-PQ label").filter(has_text="A").first.click()
    page.locator("#ab-strength-PQ label").filter(has_text="clear").click()
    page.locator("#ab-choice-CE label").filter(has_text="No preference").click()
    page.locator("#ab-submit").click()
    page.locator(".toast-body", has_text="Please play every version").wait_for()
    _play(page, "ab-audio-A", "ab-audio-B")
    shot(page, "listening_ab")
    page.locator("#ab-submit").click()
    page.locator("#ab-position", has_text="Trial 2 of 4").wait_for()
    context.close()
    rows = [r for r in RatingsStore(design_app.ratings_path).read().answers if r["rater_id"] == "ab-browser"]
    answer = json.loads(rows[0]["answer"])
    assert rows[0]["design"] == "ab" and rows[0]["played"] == "1"
    assert answer["choices"] == {"PQ": {"choice": "A", "strength": "clear"}, "CE": {"choice": "none", "strength": ""}}


def test_a_mushra_trial_in_the_browser_scores_every_version_then_compare_analyses_it(browser, design_app):
    context, page = _design_page(browser, design_app, "?playlist=MUSHRA", "mushra-browser")
    page.locator("#mushra-position", has_text="Trial 1 of 2").wait_for()
    expect(page.locator("#mushra-audio-4")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("#mushra-audio-5")).to_be_hidden(timeout=TIMEOUT_MS)
    _play(page, "mushra-reference", *(f"mushra-audio-{k}" for k in range(1, 5)))
    for k, score in enumerate((92, 40, 75, 20), 1):
        box = page.locator(f"#mushra-score-{k} input[type=number]")
        box.fill(str(score))
        box.press("Enter")
    page.wait_for_timeout(500)
    shot(page, "listening_mushra")
    page.locator("#mushra-submit").click()
    page.locator("#mushra-position", has_text="Trial 2 of 2").wait_for()
    rows = [r for r in RatingsStore(design_app.ratings_path).read().answers if r["rater_id"] == "mushra-browser"]
    assert sorted(json.loads(rows[0]["answer"])["scores"].values()) == [20, 40, 75, 92]
    open_tab(page, "Compare")
    page.get_by_text("A/B preference and MUSHRA-style results").click()
    page.locator("#design-kind label").filter(has_text="MUSHRA").click()
    page.locator("#design-btn").click()  # no upload: this app's own answers
    page.locator("#design-notes", has_text="t-based 95% CI").wait_for()
    assert "anchor" in page.locator("#design-first").inner_text()
    shot(page, "compare_mushra_own_answers")
    context.close()


def test_the_adaptive_simulation_table_and_plot_in_compare(page):
    labels = AES_LABELS / "AES_natural_speech.jsonl"
    if not labels.exists():
        pytest.skip("no Audiobox labels")
    open_tab(page, "Compare")
    page.get_by_text("Adaptive order: how many ratings it saves").click()
    page.locator("#sim-labels input[type=file]").set_input_files(str(labels))
    page.locator("#sim-runs input").fill("4")
    page.locator("#sim-btn").click()
    page.locator("#sim-notes", has_text="stand").or_(page.locator("#sim-notes", has_text="model terms")).wait_for()
    assert "adaptive" in page.locator("#sim-table").inner_text().lower()
    page.locator("#sim-plot", has_text="ratings needed").wait_for()
    shot(page, "compare_adaptive_simulation")
