import json

import pytest

from mmmos_core.errors import ManifestError
from mmmos_core.labels import TRACK2_SYSTEM_REGEX, join, read_labels, read_predictions, resolve_audio_path
from conftest import AES_LABELS

AES = AES_LABELS


def test_challenge_csv_with_root(tmp_path):
    if not (AES / "audiomos2025-track2-dev_list.csv").exists():
        pytest.skip("no aes_labels")
    labels = read_labels(AES / "audiomos2025-track2-dev_list.csv", root=tmp_path)
    assert len(labels.rows) == 250
    row = labels.rows[0]
    assert row.id.startswith("audiomos2025-track2-")
    assert row.path.startswith(str(tmp_path)) and "/your_path/" not in row.path
    assert set(row.labels) == {"PQ", "PC", "CE", "CU"}


def test_multirater_jsonl_is_averaged_and_zero_ratings_reported():
    path = AES / "audiomos2025_track2_human_annotations.jsonl"
    if not path.exists():
        pytest.skip("no aes_labels")
    labels = read_labels(path, system_regex=TRACK2_SYSTEM_REGEX)
    assert len(labels.rows) == 3060
    first = json.loads(path.read_text().splitlines()[0])
    row = labels.rows[0]
    assert row.labels["PQ"] == pytest.approx(sum(first["Production_Quality"]) / 10)
    assert len(row.ratings["CE"]) == 10
    assert row.system == "sys0v1wm"
    assert len({r.system for r in labels.rows}) == 36
    assert labels.zero_ratings >= 1508 and "0.0" in labels.notes[0]


def test_our_jsonl_and_bad_rows(tmp_path):
    good = tmp_path / "a.jsonl"
    good.write_text('{"path": "x.wav", "PQ": 5, "PC": 4, "CE": 3, "CU": 2}\n\n')
    assert read_labels(good).rows[0].labels == {"PQ": 5.0, "PC": 4.0, "CE": 3.0, "CU": 2.0}
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"path": "x.wav", "PQ": 5, "PC": 4, "CE": 3}\n')
    with pytest.raises(ManifestError, match="line 1: missing axes CU"):
        read_labels(bad)
    broken = tmp_path / "c.jsonl"
    broken.write_text('{"path": "x.wav", "PQ": 5\n')
    with pytest.raises(ManifestError, match="c.jsonl, line 1: not valid JSON"):
        read_labels(broken)
    with pytest.raises(ManifestError, match="manifest not found"):
        read_labels(tmp_path / "missing.csv")


def test_paths_map_onto_the_users_audio_folder():
    assert resolve_audio_path("/your_path/a/b.flac", "/data") == "/data/a/b.flac"
    assert resolve_audio_path("a/b.flac", "/data") == "/data/a/b.flac"
    assert resolve_audio_path("/abs/b.flac", "/data") == "/abs/b.flac"


def test_join_falls_back_to_the_bare_file_name(tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"path": f"/corpus/{n}.wav", "PQ": i, "PC": 1, "CE": 1, "CU": 1}) + "\n"
                              for i, n in enumerate(["a", "b", "c"])))
    preds = tmp_path / "pred.jsonl"
    preds.write_text("".join(json.dumps({"path": p, "PQ": 1, "PC": 1, "CE": 1, "CU": 1}) + "\n"
                             for p in ["/corpus/a.wav", "elsewhere/b.flac", "zzz.wav"])
                     + json.dumps({"path": "bad.wav", "error": "x"}) + "\n")
    joined = join(read_predictions(preds), read_labels(labels).rows)
    assert joined.ids == ["/corpus/a.wav", "/corpus/b.wav"]
    assert joined.gold["PQ"] == [0.0, 1.0]
    assert joined.unmatched_predictions == ["zzz.wav"]
    assert joined.unmatched_labels == ["/corpus/c.wav"]
