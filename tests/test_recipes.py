"""The named recipes: what `--recipe paper` resolves to, the authors' data split, the
selection rules, and one epoch of the paper recipe on random TriEnc encoders."""

import json
from collections import Counter
from pathlib import Path

import pytest

from mmmos_core import load_model
from mmmos_core.cli import main
from mmmos_core.errors import MMMOSError
from mmmos_core.model.member import MemberConfig
from mmmos_core.training.demo_sweep import synthetic_item
from mmmos_core.training.paper_split import apply_paper_split, pam_validation_ids, shipped_lists, write_split_files
from mmmos_core.training.recipes import PAPER_CONFIGURATIONS, resolved_config, settings_for
from mmmos_core.training.selection import select
from mmmos_core.training.sweep import TrainItem

LABELS = Path(__file__).resolve().parent.parent.parent / "shared" / "aes_labels"


def print_config(*extra, capsys=None):
    assert main(["train", "--print-config", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_paper_recipe_resolves_to_the_authors_choices(capsys):
    config = print_config("--recipe", "paper", capsys=capsys)
    assert config["optimiser"] == {"name": "adam", "lr": 1e-4, "weight_decay": 0.0, "grad_clip": None}
    assert (config["schedule"], config["epochs"], config["seed"], config["keep_epoch"]) == \
        ("constant", 10, 42, "best-validation")
    assert config["batch_size"] == {"mlp": 32, "blstm": 16, "blstm_t": 16}
    assert config["crop"] == {"mode": "random-window", "window_s": 10.0}
    assert config["loss"]["units"] == "zscore" and config["loss"]["dcq_pairs"] == "all"
    assert config["loss"]["ccc_moments"] == "unbiased-variance"
    assert (config["loss"]["tau"], config["loss"]["margin"]) == (0.5, 0.1)
    assert config["heads"] == "linear" and config["layers"] == {"wavlm": "mix", "muq": "last", "m2d": "last"}
    assert config["data_split"] == "paper"
    assert len(config["configurations"]) == 16 and len(set(config["configurations"])) == 16
    assert config["selection"]["rule"] == "both-sets" and config["selection"]["top_k"] == 8
    assert any("frozen" in d for d in config["deviations_from_authors"])


def test_pam_top4_and_the_mmmos_recipe_are_options_of_the_same_settings(capsys):
    pam = print_config("--recipe", "paper", "--ensemble", "pam-top4", capsys=capsys)
    assert pam["selection"]["rule"] == "proxy-only" and pam["selection"]["top_k"] == 4
    own = print_config("--recipe", "mmmos", "--encoders", "wavlm,muq,m2d", capsys=capsys)
    assert own["optimiser"]["name"] == "adamw" and own["schedule"] == "cosine" and own["epochs"] == 30
    assert own["loss"]["units"] == "rating" and own["heads"] == "mlp" and own["layers"]["muq"] == "mix"
    assert len(own["configurations"]) == 24 and own["data_split"] == "natural-only"
    # an explicit option wins over the recipe's value
    assert print_config("--recipe", "paper", "--epochs", "3", capsys=capsys)["epochs"] == 3


def test_the_shipped_split_has_the_authors_sizes():
    train, dev = shipped_lists()
    assert (len(train), len(dev)) == (3500, 450)
    assert not set(train) & set(dev) and len(set(train)) == 3500
    pam_train = [i for i in train if "/PAM/" in i]
    pam_dev = [i for i in dev if "/PAM/" in i]
    assert (len(pam_train), len(pam_dev)) == (800, 200)
    # every PAM folder (eight generators, real audio, real music) is represented in validation
    assert len(Counter(i.rsplit("/", 1)[0] for i in pam_dev)) == 10


@pytest.mark.skipif(not LABELS.is_dir(), reason="needs ../shared/aes_labels")
def test_the_shipped_split_is_the_official_lists_plus_all_of_aes_pam():
    from mmmos_core.labels import read_labels

    def ids(name):
        return [r.id for r in read_labels(LABELS / name).rows]

    train, dev = shipped_lists()
    pam = set(ids("AES_PAM.jsonl"))
    assert set(train) - pam == set(ids("audiomos2025-track2-train_list.csv"))
    assert set(dev) - pam == set(ids("audiomos2025-track2-dev_list.csv"))
    assert (set(train) | set(dev)) & pam == pam  # every PAM clip, once


def test_the_id_lists_are_written_from_the_authors_csvs(tmp_path):
    rows = ("sample_id,data_path,Production_Quality\n"
            "a-1,/your_path/a/1.flac,5\n/your_path/PAM/x/2.wav,/your_path/PAM/x/2.wav,4\n")
    (tmp_path / "combined_train.csv").write_text("\ufeff" + rows)  # the authors' files start with a BOM
    (tmp_path / "combined_dev.csv").write_text(rows)
    train_file, _ = write_split_files(tmp_path / "combined_train.csv", tmp_path / "combined_dev.csv", tmp_path / "out")
    from mmmos_core.training.paper_split import read_id_list

    assert read_id_list(train_file) == ["a-1", "/your_path/PAM/x/2.wav"]
    assert "robert0518/MMMOS" in train_file.read_text() and "plus 1 AES-PAM clips" in train_file.read_text()


def test_the_paper_split_moves_pam_training_clips_into_training():
    def item(i, folder):
        return TrainItem(f"/x/{folder}/c{i}.wav", "unused.wav", {})
    proxy = [item(i, "gen_a") for i in range(10)] + [item(i, "gen_b") for i in range(5)]
    split = apply_paper_split([item(0, "train")], [item(0, "dev")], proxy)
    assert len(split.proxy) == 2 + 1 and len(split.train) == 1 + 12 and split.notes
    assert {p.id for p in split.proxy} == pam_validation_ids([p.id for p in proxy])
    with pytest.raises(MMMOSError, match="proxy set"):
        apply_paper_split([], [], proxy[:2])
    # a training manifest that already holds the PAM training clips does not get them twice
    again = apply_paper_split(split.train, [], proxy)
    assert len(again.train) == len(split.train) and any("not added twice" in n for n in again.notes)


def test_selection_rules_on_a_constructed_ranking():
    # ten members; 0-2 best on natural only, 7-9 best on PAM only, 3-6 good on both
    natural = [0.99, 0.98, 0.97, 0.90, 0.89, 0.88, 0.87, 0.10, 0.11, 0.12]
    proxy = [0.10, 0.11, 0.12, 0.90, 0.89, 0.88, 0.87, 0.99, 0.98, 0.97]
    assert sorted(select("both-sets", natural, proxy, 4)) == [3, 4, 5, 6]
    assert select("proxy-only", natural, proxy, 4) == [7, 8, 9, 3]
    # top-8 on both: the top-8 lists share only 6 (2-6, 9); the top-9 lists share 8, leaving out
    # member 0 (last on PAM) and member 7 (last on natural)
    assert sorted(select("both-sets", natural, proxy, 8)) == [1, 2, 3, 4, 5, 6, 8, 9]


def test_old_member_configs_load_with_the_project_heads():
    old = MemberConfig.from_dict({"name": "m", "encoders": ["logmel"], "aggregator": "mlp", "loss": "ccc"})
    assert old.heads == "mlp" and old.layers == {}


def test_one_epoch_of_the_paper_recipe_on_random_trienc(paper_demo_sweep):
    folder, report = paper_demo_sweep
    expected = resolved_config(settings_for("paper", ["wavlm", "muq", "m2d"], with_ablation=True, epochs=1))
    expected["hidden"]["size"] = 16  # the demo's narrower BLSTM
    assert report.config == expected
    # 6 training clips + the 24 of 30 proxy clips the rule moves; 6 proxy clips stay to validate
    assert report.split == {"train": 30, "natural": 8, "proxy": 6}
    names = [m.name for m in report.members]
    assert names[:16] == [c.name for c in PAPER_CONFIGURATIONS]
    assert [m.selectable for m in report.members] == [True] * 16 + [False] * 8
    assert all(m.best_epoch == 1 for m in report.members)
    # the selected 8 are exactly the both-sets rule applied to the reported metrics
    eligible = report.members[:16]
    chosen = select("both-sets", [m.natural["mean"]["SRCC"] for m in eligible],
                    [m.proxy["mean"]["SRCC"] for m in eligible], 8)
    assert report.selected == [eligible[i].name for i in chosen]

    model = load_model(str(folder))
    assert [m.config.name for m in model.members] == report.selected
    for member in model.members:
        keys = member.state_dict().keys()
        assert member.config.heads == "linear" and not any("trunk" in k for k in keys)
        assert "layer_logits.muq" not in keys  # MuQ's last hidden state, not a learned mix
    scores = model.predict(synthetic_item(999, "new").audio)
    assert all(1.0 <= scores[a] <= 10.0 for a in ("PQ", "PC", "CE", "CU"))


def test_the_report_carries_the_ensembles_uncertainty(paper_demo_sweep):
    _, report = paper_demo_sweep
    for label in ("natural", "proxy"):
        block = report.uncertainty[label]
        assert block["members"] == 8
        for axis in ("PQ", "PC", "CE", "CU"):
            entry = block[axis]
            assert entry["member_spread"] > 0  # random members disagree
            lo, hi = entry["MSE_ci"]
            assert 0 <= lo <= hi  # resampling members moves the ensemble's error
