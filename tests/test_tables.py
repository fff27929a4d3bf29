"""One reader and one writer for every table: formats, line-numbered errors, safe cells."""

import csv
import json

import pytest

from mmmos_core.errors import ManifestError
from mmmos_core.tables import TableError, csv_text, read_records, restore_cell, safe_cell, write_records

ROWS = [{"path": "a.wav", "PQ": 6.5}, {"path": "b.wav", "PQ": 3.0}]


@pytest.mark.parametrize("name,text", [
    ("t.jsonl", '{"path": "a.wav", "PQ": 6.5}\n\n{"path": "b.wav", "PQ": 3.0}\n'),
    ("t.json", '[{"path": "a.wav", "PQ": 6.5},\n {"path": "b.wav", "PQ": 3.0}]'),
    ("t.csv", "path,PQ\na.wav,6.5\n\nb.wav,3.0\n"),
    ("t.tsv", "path\tPQ\na.wav\t6.5\nb.wav\t3.0\n"),
    ("t.txt", "path,PQ\na.wav,6.5\nb.wav,3.0\n"),  # no known suffix: the first line decides
])
def test_every_format_gives_the_same_records(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    records = read_records(path)
    assert [r.fields["path"] for r in records] == ["a.wav", "b.wav"]
    assert [float(r.fields["PQ"]) for r in records] == [6.5, 3.0]


def test_lines_are_those_of_the_file(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('path,comment\na.wav,"two\nlines"\nb.wav,x\n')
    assert [r.line for r in read_records(path)] == [2, 4]


@pytest.mark.parametrize("name,text,needle", [
    ("bad.jsonl", '{"path": "a.wav"}\n{"path": \n', "bad.jsonl, line 2: not valid JSON"),
    ("bad.jsonl", '{"path": "a.wav"}\n[1, 2]\n', "bad.jsonl, line 2: expected a JSON object"),
    ("bad.json", '"just text"', "bad.json, line 1: expected a JSON object"),
    ("bad.json", '[{"path": "a.wav"}, 3]', "item 2 of the array is not an object"),
    ("torn.csv", 'path,comment\na.wav,ok\nb.wav,"cut off mid-wri', "torn.csv, line 3: not valid CSV"),
    ("wide.csv", "path\na.wav,extra\n", "wide.csv, line 2: 2 cells but the header has 1"),
    ("empty.csv", "\n\n", "empty.csv: empty table"),
])
def test_bad_tables_name_the_file_and_the_line(tmp_path, name, text, needle):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(TableError) as info:
        read_records(path)
    assert needle in str(info.value)
    assert isinstance(info.value, ManifestError)  # callers that catch manifest errors keep working


def test_missing_binary_folder_and_oversized_files_are_refused_before_parsing(tmp_path):
    with pytest.raises(TableError, match="not found"):
        read_records(tmp_path / "nope.csv")
    with pytest.raises(TableError, match="is a folder"):
        read_records(tmp_path)
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TableError, match="not UTF-8"):
        read_records(tmp_path / "bin.csv")
    (tmp_path / "big.csv").write_text("path\n" + "x.wav\n" * 2000)
    with pytest.raises(TableError, match="over the 0 MB limit"):
        read_records(tmp_path / "big.csv", max_bytes=1000)
    (tmp_path / "cell.csv").write_text("path\n" + "y" * 5000 + "\n")
    with pytest.raises(TableError, match="longer than 100 characters"):
        read_records(tmp_path / "cell.csv", max_cell_chars=100)


@pytest.mark.parametrize("value", ["=cmd|' /C calc'!A0", "+1", "-2+3", "@SUM(A1)", "\tx", "'quoted", "plain"])
def test_safe_cells_are_inert_in_a_spreadsheet_and_restore_exactly(value):
    cell = safe_cell(value)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert restore_cell(cell) == value


def test_written_csv_has_no_formula_cell_and_reads_back(tmp_path):
    records = [{"path": "=cmd.wav", "PQ": 6.5, "flags": ["clipped", "short"]},
               {"path": "@evil.wav", "PQ": -1.0, "reference": {"model": "+x"}}]
    out = write_records(tmp_path / "o.csv", records)
    with open(out, newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert "-1.0" in cells  # numbers stay numbers, not defused text
    back = read_records(out, restore=True)
    assert back[0].fields["path"] == "=cmd.wav" and back[0].fields["flags"] == "clipped;short"
    assert back[1].fields["reference:model"] == "+x"


def test_written_jsonl_round_trips_and_leaves_no_temp_file(tmp_path):
    out = write_records(tmp_path / "sub" / "o.jsonl", ROWS)
    assert [json.loads(line) for line in out.read_text().splitlines()] == ROWS
    assert [p.name for p in out.parent.iterdir()] == ["o.jsonl"]
    assert csv_text(ROWS).splitlines() == ["path,PQ", "a.wav,6.5", "b.wav,3.0"]
