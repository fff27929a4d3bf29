"""Predict and A/B in a real Chromium at phone, tablet and desktop widths.

Screenshots land in tests/artifacts/predict_{390,768,1400}.png and ab_{390,1400}.png for a
human to look at; the asserts check what can be checked: nothing wider than the screen,
radar labels inside the chart, badges, the timeline, the A/B sentences, presenter mode.
"""

from __future__ import annotations


import numpy as np
import pytest
import soundfile as sf
from _app_harness import running_app
from _browser import ARTIFACTS

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

from mmmos_core.model.registry import resolve_model_dir  # noqa: E402

# The clips are shared recordings picked by name and length (long takes, speech vs music).
pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore"), pytest.mark.usefixtures("shared_recordings")]

TIMEOUT_MS = 90_000
WIDTHS = (390, 768, 1400)


@pytest.fixture(scope="module")
def media(tmp_path_factory, clips):
    """A 25 s take (speech, noise burst, speech) and 3 s of digital silence."""
    folder = tmp_path_factory.mktemp("media")
    speech, sr = sf.read(str(next(c for c in clips if c.name.startswith("speech_librispeech_1320"))), dtype="float32")
    noise = np.random.default_rng(0).normal(0, 0.3, 10 * sr).astype(np.float32)
    sf.write(str(folder / "take_with_noise.wav"), np.concatenate([speech, speech, noise, speech]), sr)
    sf.write(str(folder / "silence.wav"), np.zeros(3 * sr, dtype=np.float32), sr)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, clips):
    examples = [c for c in clips if c.name.startswith(("speech_ljspeech", "music_tabla"))]
    with running_app(tmp_path_factory.mktemp("predict-browser"), resolve_model_dir("lite"), clips,
                     examples=examples) as running:
        yield running


def open_page(browser, server, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url)
    page.wait_for_selector("#clip-input")
    return page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(800)  # let plotly finish its transition before the picture
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def labels_inside_chart(page, chart: str) -> bool:
    return page.evaluate("""(sel) => {
        const svg = document.querySelector(sel + ' svg.main-svg').getBoundingClientRect();
        return [...document.querySelectorAll(sel + ' .angularaxistick text')].every(t => {
            const r = t.getBoundingClientRect();
            return r.left >= svg.left - 1 && r.right <= svg.right + 1;
        });
    }""", chart)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_long_take_reads_well_at_every_width(browser, server, media, width):
    page = open_page(browser, server, width)
    page.locator("#clip-input input[type=file]").set_input_files(str(media / "take_with_noise.wav"))
    page.locator("#timeline .js-plotly-plot").wait_for()
    summary = page.locator("#predict-summary").inner_text()
    assert "Long audio" in summary and "windows of 10 s" in summary
    assert "members" in summary.lower() and "Timeline: PQ drops from" in summary  # the noise burst at 0:10-0:20
    assert page.locator("#radar .angularaxistick text").count() == 4
    assert labels_inside_chart(page, "#radar")
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1  # no sideways scrolling
    assert "DNSMOS" in page.locator("#second-opinions").inner_text()  # it is speech
    shot(page, f"predict_{width}")
    page.close()


def test_digital_silence_says_so_on_screen(browser, server, media):
    page = open_page(browser, server, 1400)
    page.locator("#clip-input input[type=file]").set_input_files(str(media / "silence.wav"))
    badge = page.locator(".mmmos-badge[data-flag=silent]")
    badge.wait_for()
    assert "digital silence" in badge.inner_text()
    assert page.locator("#reference-toggle").count() == 0  # no box offered for a peer that cannot run
    page.close()


def test_clicking_the_timeline_plays_from_that_window(browser, server, media):
    page = open_page(browser, server, 1400)
    page.locator("#clip-input input[type=file]").set_input_files(str(media / "take_with_noise.wav"))
    page.locator("#timeline .js-plotly-plot").wait_for()
    page.wait_for_timeout(800)
    point = page.locator("#timeline .scatterlayer .trace").first.locator(".points path").nth(2)  # window 20-30 s
    page.locator("#timeline").scroll_into_view_if_needed()
    box = point.bounding_box()  # plotly's drag layer takes the pointer events: click where the point is drawn
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(300)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("document.querySelector('#clip-input audio').currentTime >= 20")
    page.close()


def test_presenter_mode_hides_the_controls(browser, server, clips):
    page = open_page(browser, server, 1400)
    page.locator("#clip-input input[type=file]").set_input_files(str(clips[0]))
    page.locator("#radar .js-plotly-plot").wait_for()
    page.locator("#predict-tools button", has_text="Presenter mode").click()
    expect(page.locator("#clip-input")).to_be_hidden(timeout=TIMEOUT_MS)
    expect(page.locator("#radar")).to_be_visible(timeout=TIMEOUT_MS)
    with page.expect_download() as download:
        page.locator("#predict-tools button", has_text="Radar SVG").click()
    assert download.value.suggested_filename == "mmmos-radar.svg"
    shot(page, "predict_presenter")
    page.close()


@pytest.mark.parametrize("width", (390, 1400))
def test_ab_overlays_two_clips_and_says_it_in_words(browser, server, clips, width):
    page = open_page(browser, server, width)
    page.get_by_role("tab", name="A/B").click()
    page.locator("#ab-a input[type=file]").set_input_files(str(next(c for c in clips if "1320" in c.name)))
    page.locator("#ab-b input[type=file]").set_input_files(str(next(c for c in clips if "ljspeech" in c.name)))
    page.locator("#ab-btn").click()
    page.locator("#ab-diff .js-plotly-plot").wait_for()
    sentences = page.locator(".mmmos-ab-sentences li").all_inner_texts()
    assert [s.split(":")[0] for s in sentences] == ["PQ", "PC", "CE", "CU"]
    assert page.locator("#ab-radar .scatterlayer .trace").count() == 2
    assert labels_inside_chart(page, "#ab-radar")
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    shot(page, f"ab_{width}")
    page.close()
