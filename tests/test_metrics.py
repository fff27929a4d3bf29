import numpy as np
import pytest
from scipy import stats

from mmmos_core.training.metrics import compute_metrics, metric_table, system_means


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    gold = rng.uniform(1, 10, 200)
    pred = gold + rng.normal(0, 1.5, 200)
    systems = [f"sys{i % 7}" for i in range(200)]
    return pred, gold, systems


def test_utterance_metrics_equal_scipy(data):
    pred, gold, _ = data
    m = compute_metrics(pred, gold)
    assert m["MSE"] == pytest.approx(np.mean((pred - gold) ** 2), abs=1e-9)
    assert m["LCC"] == pytest.approx(stats.pearsonr(pred, gold)[0], abs=1e-9)
    assert m["SRCC"] == pytest.approx(stats.spearmanr(pred, gold)[0], abs=1e-9)
    assert m["KTAU"] == pytest.approx(stats.kendalltau(pred, gold)[0], abs=1e-9)


def test_system_level_compares_system_means(data):
    pred, gold, systems = data
    table = metric_table(pred, gold, systems, n_boot=0)
    names, sp = system_means(pred, systems)
    _, sg = system_means(gold, systems)
    assert names == sorted(set(systems))
    assert sp[0] == pytest.approx(np.mean([p for p, s in zip(pred, systems) if s == "sys0"]))
    assert table["system"]["SRCC"]["value"] == pytest.approx(stats.spearmanr(sp, sg)[0], abs=1e-9)
    assert table["system"]["MSE"]["value"] == pytest.approx(np.mean((sp - sg) ** 2), abs=1e-9)


def test_bootstrap_interval_is_seeded_and_brackets_the_value(data):
    pred, gold, _ = data
    a = metric_table(pred, gold, n_boot=300, seed=1)["utterance"]
    b = metric_table(pred, gold, n_boot=300, seed=1)["utterance"]
    for metric, cell in a.items():
        lo, hi = cell["ci"]
        assert lo <= cell["value"] <= hi, metric
        assert cell["ci"] == b[metric]["ci"]
    assert a["LCC"]["ci"][1] - a["LCC"]["ci"][0] < 0.2


def test_constant_predictions_give_nan_correlation_not_a_crash():
    m = compute_metrics([5.0] * 10, list(range(10)))
    assert np.isnan(m["LCC"]) and np.isnan(m["SRCC"]) and m["MSE"] > 0
