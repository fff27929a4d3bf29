"""The paper's open experiments as commands: end to end on the offline demo sweep, and
their statistics on constructed predictions whose answer is known."""

import csv

import numpy as np
import pytest

from mmmos_core.cli import main
from mmmos_core.errors import MMMOSError
from mmmos_core.training.experiments import Sweep, ablation, ensemble_comparison, paired_bootstrap, write_table


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_each_experiment_is_one_command_writing_a_table_and_a_plot(paper_demo_sweep, tmp_path, capsys):
    folder, report = paper_demo_sweep
    out = tmp_path / "exp"
    assert main(["experiments", "all", "--sweep", str(folder), "--output", str(out), "--n-boot", "50"]) == 0
    for name in ("ablation", "losses", "ensembles"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    rows = read_csv(out / "ablation.csv")
    assert [r["encoders"] for r in rows if r["loss"] == "mean of losses"] == ["wavlm", "m2d", "wavlm+m2d",
                                                                              "wavlm+muq+m2d"]
    assert {"SRCC_PQ", "SRCC_PC", "SRCC_CE", "SRCC_CU", "SRCC_mean"} <= set(rows[0])  # per axis, not only averaged
    losses = read_csv(out / "losses.csv")
    assert {(r["encoders"], r["aggregator"]) for r in losses} >= {("wavlm+muq+m2d", a) for a in
                                                                  ("mlp", "blstm", "blstm_t")}
    assert all(r["dcq_minus_utmos_proxy_ci"] for r in losses)
    ens = read_csv(out / "ensembles.csv")
    assert {(r["level"], r["metric"]) for r in ens} >= {("utterance", "SRCC"), ("system", "SRCC")}
    for r in ens:  # one member list per cross-fitting half
        assert all(len(half.split(";")) == 4 for half in r["pam_top4_members"].split(" | "))
        assert all(len(half.split(";")) == 8 for half in r["top8_members"].split(" | "))


def test_a_folder_that_is_not_a_sweep_is_named(tmp_path, capsys):
    assert main(["experiments", "losses", "--sweep", str(tmp_path), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "sweep_report.json" in err and "Traceback" not in err


def constructed_sweep(seed=0, n=60):
    """Members 0-3 track the proxy labels closely but not the natural ones; 4-11 the reverse."""
    rng = np.random.default_rng(seed)
    gold = {k: rng.uniform(1, 10, (n, 4)) for k in ("natural", "proxy")}
    members, predictions = [], {}
    for m in range(12):
        good, bad = ("proxy", "natural") if m < 4 else ("natural", "proxy")
        name = f"wavlm+muq+m2d-mlp-m{m}"
        members.append({"name": name, "encoders": ["wavlm", "muq", "m2d"], "aggregator": "mlp", "loss": f"l{m}"})
        predictions[name] = {good: gold[good] + rng.normal(0, 0.3, (n, 4)),
                             bad: gold[bad] + rng.normal(0, 4.0, (n, 4))}
    sets = {k: {"ids": [f"{k}/{i}.wav" for i in range(n)], "systems": [None] * n, "gold": g} for k, g in gold.items()}
    return Sweep(members, sets, predictions)


def test_pam_top4_wins_when_only_pam_predicts_pam():
    rows = {r["metric"]: r for r in ensemble_comparison(constructed_sweep(), n_boot=200)}
    assert rows["SRCC"]["difference"] > 0 and rows["SRCC"]["difference_ci"][0] > 0
    assert rows["MSE"]["difference"] < 0  # lower error for the PAM-selected four
    for half in rows["SRCC"]["pam_top4_members"].split(" | "):
        assert sorted(half.split(";")) == [f"wavlm+muq+m2d-mlp-m{m}" for m in range(4)]


def test_identical_predictions_differ_by_exactly_zero():
    p = np.random.default_rng(1).normal(size=30)
    assert paired_bootstrap(lambda i: float(np.mean(p[i]) - np.mean(p[i])), 30, 100) == [0.0, 0.0]


def test_ablation_asks_for_the_ablation_members():
    with pytest.raises(MMMOSError, match="--with-ablation"):
        ablation(constructed_sweep())


def test_tables_never_hold_a_spreadsheet_formula(tmp_path):
    path = write_table([{"name": "=HYPERLINK(1)", "value": -0.5, "ci": [0.1, 0.2]}], tmp_path / "t.csv")
    row = read_csv(path)[0]
    assert row["name"] == "'=HYPERLINK(1)" and row["value"] == "-0.5" and row["ci"] == "0.1 .. 0.2"
