"""A/B in the core: the interval method, the sentences, and `mmmos compare-clips`."""

from __future__ import annotations

import json

import pytest

from mmmos_core.ab import compare_records, window_standard_error
from mmmos_core.axes import AXES


def _rec(name, mean, members, windows=None):
    r = {"file": name, "model": "m", **{a: mean[i] for i, a in enumerate(AXES)},
         "members": [{a: m[i] for i, a in enumerate(AXES)} for m in members]}
    if windows is not None:
        r["windows"] = windows
    return r


def test_members_that_all_see_b_higher_make_a_clear_difference():
    a = _rec("a.wav", [4, 3, 4, 4], [[3.9, 3, 4, 4], [4.1, 3, 4, 4]])
    b = _rec("b.wav", [6, 3.1, 4.2, 4], [[6.0, 3.4, 4.0, 4], [6.0, 2.8, 4.4, 4]])
    c = {d.axis: d for d in compare_records(a, b).axes}
    assert c["PQ"].verdict == "higher" and c["PQ"].sentence == "PQ: B is clearly higher than A (+2.0 ± 0.2)."
    assert c["PC"].verdict == "same" and c["PC"].sentence.startswith("PC: about the same")
    assert c["CE"].low < 0 < c["CE"].high  # members split on the sign: no verdict
    assert c["CU"].difference == 0 and c["CU"].low == c["CU"].high == 0


def test_long_clips_widen_the_interval_by_their_window_spread():
    windows = [{"start": 0, "end": 10, **dict.fromkeys(AXES, 3.0)}, {"start": 10, "end": 20, **dict.fromkeys(AXES, 7.0)}]
    steady = _rec("a.wav", [5] * 4, [[5] * 4, [5] * 4])
    varying = _rec("b.wav", [5.5] * 4, [[5.5] * 4, [5.5] * 4], windows)
    assert window_standard_error(varying, "PQ") == pytest.approx(((10**2 * 2**2 + 10**2 * 2**2) ** 0.5) / 20)
    pq = compare_records(steady, varying).axes[0]
    assert pq.verdict == "same" and pq.high - pq.low == pytest.approx(2 * 1.96 * window_standard_error(varying, "PQ"))


def test_pc_says_more_complex_not_better():
    a = _rec("a.wav", [5, 2, 5, 5], [[5, 2, 5, 5]])
    b = _rec("b.wav", [5, 6, 5, 5], [[5, 6, 5, 5]])
    assert "more complex" in compare_records(a, b).axes[1].sentence
    assert "not better" in compare_records(a, b).axes[1].sentence


def test_cli_compare_clips_json_and_a_bad_second_clip(clips, tmp_path, capsys):
    from mmmos_core.cli import main

    a, b = clips[0], clips[1]
    assert main(["compare-clips", str(a), str(b), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["comparison"]["a"] == str(a) and len(out["comparison"]["sentences"]) == 4
    assert out["a"]["windows"] and out["b"]["windows"]
    bad = tmp_path / "empty.wav"
    bad.write_bytes(b"")
    assert main(["compare-clips", str(a), str(bad), "--json"]) == 1
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["comparison"] is None and all(1 <= out["a"][x] <= 10 for x in AXES)
    assert out["b"]["error"] == f"{bad}: file is empty (0 bytes)" and "empty.wav" in captured.err
