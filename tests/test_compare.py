"""Human vs model: loaders for every ratings format, matching, metrics with CIs, rater screening, export."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mmmos_core.axes import AXES
from mmmos_core.errors import ManifestError, MMMOSError
from mmmos_core.studies.compare import (
    PSEUDO_RATER_NOTE,
    StudyFilter,
    build_report,
    detect_system,
    load_human_ratings,
    match_predictions,
    metrics_wide,
    predictions_from_file,
    predictions_from_model,
)
from mmmos_core.studies.ratings import RatingRow, RatingsStore
from conftest import AES_LABELS

AES = AES_LABELS
TRACK2 = AES / "audiomos2025_track2_human_annotations.jsonl"


def aes_subset(tmp_path: Path, name: str, step: int, limit: int) -> Path:
    src = AES / name
    if not src.exists():
        pytest.skip(f"no Audiobox labels at {src}")
    lines = src.read_text().splitlines()[::step][:limit]
    out = tmp_path / name
    out.write_text("\n".join(lines) + "\n")
    return out


@pytest.fixture
def track2(tmp_path) -> Path:
    # Every 34th clip: 90 clips across the 36 systems of the track-2 set.
    return aes_subset(tmp_path, "audiomos2025_track2_human_annotations.jsonl", 34, 90)


def noisy_predictions(human, seed=0, noise=0.8) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    means = {a: human.table.item_means(a) for a in AXES}
    return {item: {a: float(means[a][k] + rng.normal(0, noise)) for a in AXES}
            for k, item in enumerate(human.table.items)}


def test_audiobox_multi_rater_file_uses_positions_as_pseudo_raters(track2):
    human = load_human_ratings(track2)
    assert human.kind == "multi-rater" and human.has_raters
    assert human.table.raters == [f"pos{i:02d}" for i in range(1, 11)]
    assert len(human.table.items) == 90 and human.table.n_ratings() == 900
    assert PSEUDO_RATER_NOTE in human.notes
    assert len({i.system for i in human.items.values()}) > 20
    first = json.loads(track2.read_text().splitlines()[0])
    k = human.table.items.index(first["data_path"])
    assert human.table.values["PQ"][:, k] == pytest.approx(first["Production_Quality"])


def test_zero_ratings_are_kept_and_reported(tmp_path):
    path = aes_subset(tmp_path, "AES_PAM.jsonl", 1, 200)
    zeros = sum(v == 0.0 for line in path.read_text().splitlines() for key, vals in json.loads(line).items()
                if key != "data_path" for v in vals)
    assert zeros > 0  # the public file has them; the loader must neither drop nor hide them
    human = load_human_ratings(path)
    kept = sum(int(np.count_nonzero(v == 0.0)) for v in human.table.values.values())
    assert kept == zeros
    assert any("0.0" in n for n in human.notes)
    assert detect_system(human.table.items[0], None) == Path(human.table.items[0]).parent.name


def test_report_metrics_match_scipy_and_cis_bracket_the_value(track2):
    human = load_human_ratings(track2)
    preds = noisy_predictions(human)
    report = build_report(human, preds, n_boot=200)
    m = report.metrics
    assert set(m["level"]) == {"utterance", "system"}
    assert len(m) == 4 * 4 * 2
    pq = human.table.item_means("PQ")
    p = np.array([preds[i]["PQ"] for i in human.table.items])
    lcc = m[(m.axis == "PQ") & (m.level == "utterance") & (m.metric == "LCC")].iloc[0]
    assert lcc["value"] == pytest.approx(stats.pearsonr(p, pq)[0])
    assert lcc["ci_low"] <= lcc["value"] <= lcc["ci_high"]
    srcc = m[(m.axis == "CE") & (m.level == "utterance") & (m.metric == "SRCC")].iloc[0]
    assert srcc["ci_low"] <= srcc["value"] <= srcc["ci_high"] and srcc["n"] == 90
    assert {"scatter_utterance", "scatter_system", "raters"} <= set(report.figures())
    wide = metrics_wide(report)
    assert len(wide) == 8 and "[" in wide.iloc[0]["LCC"]
    assert len(report.agreement) == 4 and report.agreement["raters_all"].iloc[0] == 10
    assert len(report.raters) == 10


def test_exported_report_has_tables_and_an_offline_html(track2, tmp_path):
    human = load_human_ratings(track2)
    report = build_report(human, noisy_predictions(human), n_boot=0)
    archive = report.export(tmp_path / "out")
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        assert {"metrics.csv", "agreement.csv", "raters.csv", "items.csv", "report.html", "report.json"} <= names
        html = z.read("report.html").decode()
        assert "plotly" in html.lower() and html.count("Plotly.newPlot") == len(report.figures())
        assert '<script src="https://cdn.plot.ly' not in html  # plotly.js is inline: opens without a network
        pngs = [n for n in names if n.endswith(".png")]
        assert pngs or "README.txt" in names  # no kaleido: said so, not failed
    assert json.loads(json.dumps(report.to_json()))["n_items"] == 90  # NaN-free JSON for the API


def test_predictions_match_by_path_tail_across_roots(tmp_path):
    path = aes_subset(tmp_path, "AES_natural_speech.jsonl", 1, 30)
    human = load_human_ratings(path)
    ids = human.table.items
    preds = [(i.replace("/your_path/", "/home/me/corpora/"), {a: 5.0 for a in AXES}) for i in ids[:20]]
    preds.append(("/elsewhere/unknown.wav", {a: 5.0 for a in AXES}))
    matched, unmatched = match_predictions(human, preds)
    assert set(matched) == set(ids[:20]) and unmatched == ["/elsewhere/unknown.wav"]
    # A bare file name shared by several speakers' clips is ambiguous and must not match by chance.
    names = [Path(i).name for i in ids]
    dup = next(n for n in names if names.count(n) > 1)
    assert match_predictions(human, [(dup, {a: 5.0 for a in AXES})])[0] == {}


def test_predictions_file_in_cli_format(track2, tmp_path):
    human = load_human_ratings(track2)
    lines = [json.dumps({"path": i, **{a: 5.0 + k % 3 for a in AXES}, "model": "x"})
             for k, i in enumerate(human.table.items)]
    lines.append(json.dumps({"path": "broken.wav", "error": "cannot decode"}))
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n")
    preds, notes = predictions_from_file(tmp_path / "p.jsonl", human)
    assert len(preds) == 90 and "90 of 90" in notes[0]


def write_app_ratings(path: Path, clips, bad_rater=True) -> None:
    rng = np.random.default_rng(0)
    truth = {c.name: rng.uniform(2, 9, 4) for c in clips}
    store = RatingsStore(path)
    raters = ["ann", "ben", "cat", "dan"] + (["eve"] if bad_rater else [])
    for rater in raters:
        for c in clips:
            if rater == "eve":
                s = rng.integers(1, 11, 4)
            else:
                s = np.clip(np.round(truth[c.name] + rng.normal(0, 0.7, 4)), 1, 10)
            store.append(RatingRow("s-" + rater, rater, "pool", c.name, dict(zip(AXES, map(int, s))),
                                   system_id=c.name.split("_")[0]))
        # One gold item each; eve fails hers.
        store.append(RatingRow("s-" + rater, rater, "pool", "gold-1", {a: 2 for a in AXES}, gold=True,
                               gold_pass=rater != "eve"))


def test_app_csv_screens_raters_and_shows_the_effect(tmp_path, clips):
    path = tmp_path / "ratings.csv"
    write_app_ratings(path, clips)
    human = load_human_ratings(path, clip_path=lambda pl, cid: str(next(c for c in clips if c.name == cid)))
    assert human.kind == "app" and "gold-1" not in human.table.items
    assert human.gold["eve"] == (1, 1) and human.gold["ann"] == (1, 0)
    preds = noisy_predictions(human, noise=0.5)
    report = build_report(human, preds, n_boot=0, min_corr=0.3)
    flagged = set(report.raters.loc[report.raters.flagged, "rater"])
    assert flagged == {"eve"}
    assert "gold" in report.raters.set_index("rater").loc["eve", "reasons"]
    assert (report.agreement["alpha_kept"] > report.agreement["alpha_all"]).all()
    assert len(report.exclusion[report.exclusion.level == "utterance"]) == 16 and "without_flagged" in report.exclusion
    assert report.settings["flagged"] == ["eve"]


def test_run_the_model_on_rated_clips(tmp_path, clips, logmel_model_dir):
    from mmmos_core import load_model

    path = tmp_path / "ratings.csv"
    write_app_ratings(path, clips[:5], bad_rater=False)
    lookup = {c.name: str(c) for c in clips[:4]}  # one clip's audio is not on this machine
    human = load_human_ratings(path, clip_path=lambda pl, cid: lookup.get(cid))
    seen = []
    preds, notes = predictions_from_model(load_model(str(logmel_model_dir)), human, lambda k, n: seen.append((k, n)))
    assert set(preds) == set(lookup) and seen[-1] == (4, 4)
    assert any("no audio file" in n for n in notes)
    report = build_report(human, preds, n_boot=50)
    assert report.metrics["n"].max() == 4


def test_means_only_files_need_predictions(tmp_path):
    src = AES / "audiomos2025-track2-dev_list.csv"
    if not src.exists():
        pytest.skip("no labels")
    path = tmp_path / "dev.csv"
    path.write_text("\n".join(src.read_text().splitlines()[:40]) + "\n")
    human = load_human_ratings(path)
    assert human.kind == "means" and not human.has_raters
    with pytest.raises(MMMOSError, match="mean ratings only"):
        build_report(human, None)
    report = build_report(human, noisy_predictions(human), n_boot=0)
    assert report.raters.empty and len(report.metrics) == 16


def test_unreadable_inputs_say_which_file(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        load_human_ratings(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(ManifestError, match="bad.jsonl"):
        load_human_ratings(bad)


def two_playlists(path: Path) -> None:
    """'systems' has 6 systems x 2 clips, 'plain' has no system ids; three raters each."""
    rng = np.random.default_rng(4)
    store = RatingsStore(path)
    for rater in ("ann", "ben", "cat"):
        for s in range(6):
            for k in range(2):
                score = int(np.clip(2 + s + rng.integers(-1, 2), 1, 10))
                store.append(RatingRow("s-" + rater, rater, "systems", f"sys{s}-{k}", {a: score for a in AXES},
                                       system_id=f"sys{s}"))
        for k in range(5):
            store.append(RatingRow("p-" + rater, rater, "plain", f"clip{k}", {a: 3 + k for a in AXES}))


def test_compare_filters_by_playlist_rater_and_system_and_keeps_the_choice(tmp_path):
    path = tmp_path / "ratings.csv"
    two_playlists(path)
    everything = load_human_ratings(path)
    assert everything.available["playlists"] == ["plain", "systems"] and len(everything.table.items) == 17
    keep = StudyFilter.parse(playlists=["systems"], raters="ann, ben")
    human = load_human_ratings(path, keep=keep)
    assert sorted(human.table.raters) == ["ann", "ben"] and len(human.table.items) == 12
    preds = {i: {a: float(int(i[3]) + 1) for a in AXES} for i in human.table.items}
    report = build_report(human, preds, n_boot=100)
    assert set(report.metrics.level) == {"utterance", "system"}  # the other playlist no longer hides it
    assert report.settings["filter"] == {"playlists": ["systems"], "raters": ["ann", "ben"], "systems": []}
    assert "playlists: systems; raters: ann, ben" in report.html()
    # Mixed playlists: clips without a system id are left out at the system level, and the note says so.
    mixed = build_report(everything, {i: {a: 5.0 + len(i) % 3 for a in AXES} for i in everything.table.items},
                         n_boot=0)
    assert "system" in set(mixed.metrics.level)
    assert any("5 clip(s) have no system id" in n for n in mixed.notes)
    with pytest.raises(ManifestError, match="no ratings match the filter"):
        load_human_ratings(path, keep=StudyFilter.parse(systems=["nope"]))


def test_system_pairs_are_compared_for_humans_and_model(tmp_path):
    path = tmp_path / "ratings.csv"
    two_playlists(path)
    human = load_human_ratings(path, keep=StudyFilter.parse(playlists=["systems"]))
    preds = {i: {a: float(int(i[3]) + 1) for a in AXES} for i in human.table.items}
    report = build_report(human, preds, n_boot=200)
    pq = report.pairwise[report.pairwise.axis == "PQ"]
    assert len(pq) == 2 * 15 and set(pq.source) == {"humans", "model"}  # 6 systems: 15 pairs, each side
    far = pq[(pq.system_a == "sys0") & (pq.system_b == "sys5") & (pq.source == "humans")].iloc[0]
    assert far.difference < 0 and far.verdict == "sys5 higher" and far.unit == "raters (paired)"
    assert (pq.p_holm >= pq.p).all()
    assert "pairwise_PQ" in report.figures()


def test_an_oversized_ratings_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("timestamp_utc,rater_id\n" + "x,y\n" * 5000)
    with pytest.raises(ManifestError, match=r"huge.csv: 0 MB is over the 0 MB limit"):
        load_human_ratings(path, max_bytes=10_000)
