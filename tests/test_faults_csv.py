"""Every kind of CSV the project writes, opened and checked cell by cell: no cell a spreadsheet
would run as a formula (a leading = + - @ tab or CR), unless it is a plain number."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from pathlib import Path

import pytest

from mmmos_core.cli import main as cli_main
from mmmos_core.studies.compare import build_report, load_human_ratings
from mmmos_core.studies.ratings import RatingRow, RatingsStore

pytestmark = pytest.mark.faults
HOSTILE = ["=cmd.wav", "+cmd.wav", "@cmd.wav", "-cmd.wav"]
LEADS = ("=", "+", "-", "@", "\t", "\r")


def unsafe_cells(text: str) -> list[str]:
    bad = []
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            if cell.startswith(LEADS):
                try:
                    float(cell)  # -0.25 is a number, not a formula
                except ValueError:
                    bad.append(cell)
    return bad


@pytest.fixture
def hostile_clips(tmp_path, clips) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    paths = []
    for name, clip in zip(HOSTILE, clips):
        shutil.copy(clip, folder / name)
        paths.append(folder / name)
    (folder / "=HYPERLINK(x).wav").write_text("not audio")  # an error record carries the name too
    return paths + [folder / "=HYPERLINK(x).wav"]


def test_cli_predict_csv(hostile_clips, logmel_model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(hostile_clips[0].parent)  # relative names: the cell starts with the name itself
    out = tmp_path / "scores.csv"
    cli_main(["predict", "--model", str(logmel_model_dir), "--output", str(out), "--", *[p.name for p in hostile_clips]])
    text = out.read_text()
    assert unsafe_cells(text) == []
    paths = [row["path"] for row in csv.DictReader(io.StringIO(text))]
    assert paths == ["'" + p.name for p in hostile_clips]  # defused, and still readable


def test_app_batch_download_csv(tmp_path, logmel_model_dir, clips, hostile_clips):
    from _app_harness import write_config, write_playlist

    from mmmos_app import MMMOSApp
    from mmmos_core.settings import AppSettings

    config = write_config(tmp_path, write_playlist(tmp_path, clips[:2]))
    app = MMMOSApp(AppSettings.from_env({"MMMOS_MODEL": str(logmel_model_dir), "MMMOS_LISTENING_CONFIG": str(config),
                                         "MMMOS_RATINGS_PATH": str(tmp_path / "r.csv")}))
    records = app.predict_batch([str(p) for p in hostile_clips], progress=lambda *a, **k: None)
    _, csv_button, _ = app.render_batch(records)
    value = csv_button.value["path"] if isinstance(csv_button.value, dict) else csv_button.value
    text = Path(value).read_text()
    assert unsafe_cells(text) == [] and "'=cmd.wav" in text and "'=HYPERLINK(x).wav" in text


def test_ratings_csv_and_compare_report(tmp_path):
    store = RatingsStore(tmp_path / "ratings.csv")
    for k, rater in enumerate(["=evil", "+evil", "good"]):
        for clip in ("=clip1", "@clip2", "-clip3"):
            store.append(RatingRow("s", rater, "@playlist", clip, {"PQ": 3 + k, "PC": 4, "CE": 5 + k % 2, "CU": 6},
                                   system_id="+sys", comment="=HYPERLINK(\"http://x\",\"y\")\nsecond line"))
    text = store.path.read_text()
    assert unsafe_cells(text) == []
    assert len(text.splitlines()) == 10  # a comment's line break does not split its row
    assert {r["rater_id"] for r in store.read().rows} == {"=evil", "+evil", "good"}  # read back as typed

    report = build_report(load_human_ratings(store.path), n_boot=20)
    with zipfile.ZipFile(report.export(tmp_path / "report")) as z:
        tables = [n for n in z.namelist() if n.endswith(".csv")]
        assert tables
        for name in tables:
            assert unsafe_cells(z.read(name).decode("utf-8")) == [], name
