"""The adaptive-order simulation: deterministic per seed, saves ratings where clips differ in agreement."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import need_aes_labels

from mmmos_core.errors import ManifestError
from mmmos_core.studies.adaptive_sim import SimulationSettings, multi_rater_pools, parse_targets, simulate


def synthetic_pools(seed=1) -> np.ndarray:
    """40 clips x 10 raters x 4 axes: half the clips with raters in near agreement, half split widely."""
    rng = np.random.default_rng(seed)
    calm = np.clip(np.round(6 + rng.normal(0, 0.4, (20, 10, 4))), 1, 10)
    split = np.clip(np.round(6 + rng.normal(0, 2.5, (20, 10, 4))), 1, 10)
    return np.concatenate([calm, split])


def test_the_same_seed_gives_the_same_table_and_another_seed_another():
    settings = SimulationSettings(items=30, runs=4, targets=(3.0, 2.0), seed=7)
    a, b = simulate(synthetic_pools(), settings), simulate(synthetic_pools(), settings)
    assert a.runs.equals(b.runs) and a.summary.equals(b.summary)
    c = simulate(synthetic_pools(), SimulationSettings(items=30, runs=4, targets=(3.0, 2.0), seed=8))
    assert not a.runs.equals(c.runs)


def test_uncertainty_first_reaches_a_target_with_fewer_ratings_and_never_more_than_the_pool():
    result = simulate(synthetic_pools(), SimulationSettings(items=40, runs=6, targets=(2.5,), seed=0))
    row = result.summary.iloc[0]
    assert row["pooled_ratings"] == 400
    # calm clips are within 2.5 points after 2-3 ratings; random order keeps spending ratings on them
    assert row["adaptive_median"] < row["random_median"] and row["saved_median"] > 50
    assert row["runs_adaptive_fewer"] == 6
    assert (result.runs.ratings <= 400).all()


def test_an_unreachable_target_uses_the_whole_pool_in_both_orders():
    result = simulate(synthetic_pools(), SimulationSettings(items=40, runs=2, targets=(0.2,), seed=0))
    assert set(result.runs.ratings) == {400}  # split clips never get under 0.2 points with 10 raters
    assert result.summary.iloc[0]["saved_median"] == 0


def test_label_files_without_individual_ratings_are_refused(tmp_path):
    means = tmp_path / "means.jsonl"
    means.write_text("".join(json.dumps({"data_path": f"{k}.wav", "PQ": 5, "PC": 5, "CE": 5, "CU": 5}) + "\n"
                             for k in range(3)))
    with pytest.raises(ManifestError, match="means.jsonl: needs individual ratings per axis"):
        multi_rater_pools(means)
    with pytest.raises(ManifestError, match="target CI widths"):
        parse_targets("3, wide")
    with pytest.raises(ManifestError, match="between 0 and 20"):
        simulate(synthetic_pools(), SimulationSettings(targets=(0.0,)))


def test_on_the_aes_natural_speech_ratings():
    pools, notes = multi_rater_pools(need_aes_labels() / "AES_natural_speech.jsonl")
    assert pools.shape[1:] == (10, 4) and "0.0" in notes[0]  # zero ratings are kept and reported
    result = simulate(pools, SimulationSettings(items=50, runs=5, targets=(3.0,), seed=0))
    row = result.summary.iloc[0]
    assert row["adaptive_median"] < row["random_median"] <= 500
