import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from mmmos_core.cli import main


def test_predict_scores_every_clip_with_members(logmel_model_dir, clips, tmp_path, capsys):
    out = tmp_path / "scores.jsonl"
    assert main(["predict", *map(str, clips), "--model", str(logmel_model_dir), "--output", str(out), "--quiet"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["path"] for r in records] == [str(c) for c in clips]
    for r in records:
        assert all(1.0 <= r[a] <= 10.0 for a in ("PQ", "PC", "CE", "CU"))
        assert len(r["members"]) == 4 and set(r["spread"]["PQ"]) == {"std", "min", "max"}
        assert r["model"] == "test-logmel"


def test_bad_inputs_become_error_records_and_a_nonzero_exit(logmel_model_dir, clips, tmp_path, capsys):
    bad = tmp_path / "bad.ogg"
    bad.write_bytes(b"OggS" + b"\x00" * 20)
    listing = tmp_path / "list.jsonl"
    listing.write_text(json.dumps({"path": str(clips[0]), "start_time": 0.5, "end_time": 1.5}) + "\n"
                       + json.dumps({"path": str(bad)}) + "\n")
    out = tmp_path / "scores.csv"
    code = main(["predict", "--input", str(listing), str(tmp_path / "missing.wav"), "--model",
                 str(logmel_model_dir), "--output", str(out), "--quiet"])
    assert code == 1
    rows = list(csv.DictReader(out.open()))
    assert [r["path"] for r in rows] == [str(tmp_path / "missing.wav"), str(clips[0]), str(bad)]
    assert "file not found" in rows[0]["error"] and "cannot decode" in rows[2]["error"]
    assert float(rows[1]["duration_s"]) == pytest.approx(1.0) and float(rows[1]["PQ"]) >= 1
    err = capsys.readouterr().err
    assert "2 of 3 inputs failed" in err and "Traceback" not in err


def test_unknown_model_is_a_message_not_a_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mmmos_core.cli", "predict", "x.wav", "--model", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "not an MMMOS model directory" in proc.stderr and "Traceback" not in proc.stderr


def test_evaluate_json_has_both_levels(tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    preds = tmp_path / "pred.jsonl"
    with labels.open("w") as f:
        f.write("sample_id,data_path,Production_Quality,Production_Complexity,Content_Enjoyment,Content_Usefulness\n")
        for i in range(12):
            f.write(f"audiomos2025-track2-sys{i % 4}-utt{i},/your_path/u{i}.wav,{i % 7 + 1},{i % 5 + 1},{i % 3 + 2},5\n")
    preds.write_text("".join(json.dumps({"path": f"/elsewhere/u{i}.wav", "PQ": i % 7 + 1.5, "PC": 3, "CE": i % 3,
                                         "CU": 5 + i / 10}) + "\n" for i in range(12)))
    assert main(["evaluate", str(preds), str(labels), "--json", "--system-regex", r"^[^-]+-[^-]+-([^-]+)-",
                 "--n-boot", "50"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert set(table) == {"PQ", "PC", "CE", "CU"}
    assert table["PQ"]["utterance"]["LCC"]["value"] == pytest.approx(1.0)
    assert table["PQ"]["utterance"]["MSE"]["value"] == pytest.approx(0.25)
    assert set(table["PQ"]["system"]) == {"MSE", "LCC", "SRCC", "KTAU"}
    assert len(table["CU"]["system"]["SRCC"]["ci"]) == 2


def test_train_command_writes_a_loadable_model(clips, tmp_path, capsys, shared_recordings):
    def manifest(name, chosen):
        path = tmp_path / name
        path.write_text("".join(json.dumps({"path": c.name, "PQ": 2 + i % 7, "PC": 3 + i % 4, "CE": 5, "CU": 4 + i % 2})
                                + "\n" for i, c in enumerate(chosen)))
        return str(path)
    root = str(clips[0].parent)
    out = tmp_path / "model"
    code = main(["train", "--train", manifest("t.jsonl", clips[:10]), "--natural", manifest("n.jsonl", clips[10:15]),
                 "--proxy", manifest("p.jsonl", clips[15:]), "--root", root, "--encoders", "logmel",
                 "--aggregators", "mlp,blstm_t", "--losses", "dcq,contrastive", "--top-k", "2", "--epochs", "2",
                 "--hidden", "16", "--output", str(out), "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    assert (out / "mmmos.json").exists() and (out / "sweep_report.json").exists()
    report = json.loads((out / "sweep_report.json").read_text())
    assert len(report["members"]) == 4 and len(report["selected"]) == 2
    assert any((tmp_path / "cache").rglob("*.pt"))  # embeddings were cached on disk for the next run
    assert main(["predict", str(clips[0]), "--model", str(out), "--quiet"]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert len(record["members"]) == 2


def test_stdout_streams_one_record_per_input_line_repeats_included(logmel_model_dir, clips, capsys):
    code = main(["predict", str(clips[0]), str(clips[0]), "/nope/missing.wav", "--model", str(logmel_model_dir)])
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert [r["path"] for r in records] == [str(clips[0]), str(clips[0]), "/nope/missing.wav"]
    assert records[0]["PQ"] == records[1]["PQ"] and "file not found" in records[2]["error"]
    assert "mmmos: /nope/missing.wav: file not found" in err and "1 of 3 inputs failed" in err


def test_cli_csv_output_has_no_formula_cells(logmel_model_dir, clips, tmp_path):
    import shutil

    hostile = tmp_path / "=cmd.wav"
    shutil.copy(clips[0], hostile)
    out = tmp_path / "o.csv"
    assert main(["predict", str(hostile), "--model", str(logmel_model_dir), "--output", str(out), "--quiet"]) == 0
    cells = [c for row in csv.reader(out.open()) for c in row]
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    # and a rerun resumes on the same (restored) path instead of scoring it again
    assert main(["predict", str(hostile), "--model", str(logmel_model_dir), "--output", str(out), "--quiet"]) == 0
    assert len(list(csv.DictReader(out.open()))) == 1


def test_encoders_reports_every_missing_checkpoint_by_name(tmp_path):
    env = {**__import__("os").environ, "MMMOS_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1",
           "HF_HUB_CACHE": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-m", "mmmos_core.cli", "encoders", "wavlm,m2d,logmel"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("wavlm: MISSING") and lines[1].startswith("m2d: MISSING")
    assert lines[2].startswith("logmel: ok")
    # only the files the loader reads are fetched, not the whole repository
    assert "--include config.json" in lines[0] and "--include pytorch_model.bin" in lines[0]


def test_evaluate_reports_the_ensembles_uncertainty_over_its_members(tmp_path, capsys):
    """Records from `mmmos predict` carry each member's scores: evaluate says how much the
    ensemble's numbers depend on its members (member spread, bootstrap over members)."""
    labels = tmp_path / "labels.csv"
    labels.write_text("sample_id,PQ,PC,CE,CU\n" + "".join(f"u{i},{1 + i % 9},5,5,{2 + i % 7}\n" for i in range(20)))
    rng = np.random.default_rng(0)
    records = []
    for i in range(20):
        members = [{"name": f"m{k}", **{a: float(v) for a, v in zip(("PQ", "PC", "CE", "CU"),
                                                                    [1 + i % 9 + rng.normal(0, k * 0.5), 5, 5,
                                                                     2 + i % 7])}} for k in range(3)]
        mean = {a: float(np.mean([m[a] for m in members])) for a in ("PQ", "PC", "CE", "CU")}
        records.append({"path": f"u{i}.wav", **mean, "members": members})
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["evaluate", str(preds), str(labels), "--json", "--n-boot", "100"]) == 0
    u = json.loads(capsys.readouterr().out)["uncertainty"]
    assert u["members"] == 3 and u["PC"]["member_spread"] == pytest.approx(0.0)
    assert u["PQ"]["member_spread"] > 0.2 and u["PQ"]["SRCC_ci"][0] <= u["PQ"]["SRCC"] <= u["PQ"]["SRCC_ci"][1]
    # the same from the CSV that `mmmos predict --output x.csv` writes
    from mmmos_core.batch import csv_columns, flatten_record
    from mmmos_core.tables import write_records

    rows = [flatten_record(r) for r in records]
    write_records(tmp_path / "p.csv", rows, csv_columns(rows))
    assert main(["evaluate", str(tmp_path / "p.csv"), str(labels)]) == 0
    out = capsys.readouterr().out
    assert "ensemble uncertainty over its 3 members" in out
