"""The report people hand out: a header that says what was compared, readable names, PNG and PDF files."""

from __future__ import annotations

import re
import zipfile

import numpy as np
import pytest

from mmmos_core.axes import AXES
from mmmos_core.studies.compare import StudyFilter, build_report, load_human_ratings
from mmmos_core.studies.ratings import RatingRow, RatingsStore
from mmmos_core.studies.report import find_chromium


@pytest.fixture
def report(tmp_path):
    rng = np.random.default_rng(2)
    store = RatingsStore(tmp_path / "ratings.csv")
    for rater in ("ann", "ben", "cat", "dan"):
        for s in range(5):
            for k in range(2):
                score = int(np.clip(2 + s + rng.integers(-1, 2), 1, 10))
                store.append(RatingRow("s-" + rater, rater, "study", f"sys{s}-{k}", {a: score for a in AXES},
                                       system_id=f"sys{s}"))
    human = load_human_ratings(store.path, keep=StudyFilter.parse(playlists=["study"]))
    preds = {i: {a: float(int(i[3]) + 2 + rng.normal(0, 0.3)) for a in AXES} for i in human.table.items}
    return build_report(human, preds, n_boot=100, model="test-model", app_version="9.9")


def test_the_html_report_has_a_header_and_readable_names(report):
    page = report.html()
    for label, value in (("Date", "UTC"), ("Model", "test-model"), ("App version", "9.9"),
                         ("Filters", "playlists: study"), ("Bootstrap", "100 resamples"),
                         ("n", "10 clips, 4 raters, 5 systems")):
        assert re.search(f"<th>{label}</th><td>[^<]*{re.escape(value)}", page), label
    for raw in ("alpha_all", "ci_low", "gold_failed", ">r_PQ<", "p_holm"):
        assert raw not in page
    assert "alpha (all raters)" in page and "p (Holm-adjusted)" in page
    assert "How raters are flagged" in page and "straight-lining" in page and "0.25" in page


def test_the_export_renders_png_and_pdf_offline(report, tmp_path):
    if find_chromium() is None:
        pytest.skip("no Chromium: apt-get install chromium")
    pytest.importorskip("kaleido")
    with zipfile.ZipFile(report.export(tmp_path / "out")) as z:
        names = set(z.namelist())
        assert {"report.html", "report.pdf", "metrics.csv", "pairwise.csv"} <= names
        assert {f"{name}.png" for name in report.figures()} <= names
        assert z.read("report.pdf")[:5] == b"%PDF-" and len(z.read("report.pdf")) > 20_000
        assert z.read("raters.png")[:8] == b"\x89PNG\r\n\x1a\n"
        header = z.read("metrics.csv").decode().splitlines()[0]
        assert header == "axis,level,metric,value,ci_low,ci_high,n,note"  # CSVs keep names scripts rely on
