import numpy as np
import torch

from mmmos_core import load_model
from mmmos_core.encoders import build_encoder
from mmmos_core.training.sweep import SweepSettings, TrainItem, select_members, train_ensemble

SR = 16000


def tone_item(i: int, rng) -> TrainItem:
    """A tone in white noise whose noise level sets PQ: a learnable, checkable relation."""
    t = np.arange(SR * 2) / SR
    noise_level = 0.002 * 3.0 ** (i % 8)
    noise = np.random.default_rng(i).standard_normal(len(t))
    x = (0.1 * np.sin(2 * np.pi * (300 + 20 * i) * t) + noise_level * noise).astype(np.float32)
    from mmmos_core.model.audio import Audio

    pq = 9 - (i % 8)
    return TrainItem(f"tone{i}", Audio(x, SR, f"tone{i}"), {"PQ": pq, "PC": 3.0 + (i % 3), "CE": 5.0, "CU": 5.0})


def small_sweep(seed=0, **kw):
    rng = np.random.default_rng(0)
    items = [tone_item(i, rng) for i in range(40)]
    settings = SweepSettings(subsets=[["logmel"]], aggregators=["mlp", "blstm"], losses=["utmos", "ccc"],
                             top_k=2, epochs=kw.pop("epochs", 15), lr=3e-3, batch_size=8, hidden=32, seed=seed, **kw)
    return train_ensemble({"logmel": build_encoder("logmel")}, items[:24], items[24:32], items[32:], settings,
                          name="tones", progress=lambda m: None)


def test_selection_prefers_members_good_on_both_sets():
    natural = [0.9, 0.8, 0.7, 0.1, 0.6]
    proxy = [0.1, 0.7, 0.8, 0.9, 0.6]
    # member 0 is best on natural only and member 3 best on proxy only; 1, 2 and 4 rank well on both
    assert sorted(select_members(natural, proxy, 3)) == [1, 2, 4]
    assert select_members(natural, proxy, 10) == select_members(natural, proxy, 5)


def test_training_is_seeded_and_learns(tmp_path):
    model_a, report = small_sweep(seed=0)
    model_b, _ = small_sweep(seed=0)
    for ma, mb in zip(model_a.members, model_b.members):
        for (ka, va), (kb, vb) in zip(ma.state_dict().items(), mb.state_dict().items()):
            assert ka == kb and torch.equal(va, vb)
    assert len(report.members) == 4 and len(report.selected) == 2
    selected = [m for m in report.members if m.selected]
    assert all(m.natural["utterance"]["PQ"]["SRCC"] > 0.5 for m in selected)
    names = [m.config.name for m in model_a.members]
    assert set(names) == set(report.selected)

    model_a.save_pretrained(tmp_path / "tones")
    loaded = load_model(str(tmp_path / "tones"))
    clean, noisy = tone_item(40, None), tone_item(47, None)
    assert loaded.predict(clean.audio)["PQ"] > loaded.predict(noisy.audio)["PQ"]
    assert loaded.config.members[0].validation["rank_natural"] >= 1


def test_unreadable_training_clips_are_skipped_and_reported(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"nope")
    rng = np.random.default_rng(0)
    items = [tone_item(i, rng) for i in range(12)] + [TrainItem("bad", str(bad), {a: 5.0 for a in ("PQ", "PC", "CE", "CU")})]
    settings = SweepSettings(subsets=[["logmel"]], aggregators=["mlp"], losses=["ccc"], top_k=1, epochs=1,
                             batch_size=4, hidden=16)
    _, report = train_ensemble({"logmel": build_encoder("logmel")}, items[4:], items[:2], items[2:4], settings,
                               name="x", progress=lambda m: None)
    assert len(report.skipped_items) == 1 and "bad.wav" in report.skipped_items[0]


def test_grouped_batches_keep_each_group_whole_and_cover_every_item_once():
    from mmmos_core.training.sweep import batch_orders

    groups = [f"g{i // 5}" for i in range(40)] + [None] * 7 + ["big"] * 12  # 8 groups of 5, 7 loners, one of 12
    batches = batch_orders(groups, 8, torch.Generator().manual_seed(0), "grouped")
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(groups)))
    assert all(len(b) <= 8 for b in batches)
    where = {}
    for n, b in enumerate(batches):
        for i in b:
            where.setdefault(groups[i], set()).add(n)
    assert all(len(where[f"g{k}"]) == 1 for k in range(8))  # a group that fits a batch is never split
    assert len(where["big"]) == 2  # 12 items in batches of 8: cut once
    # "shuffled" is the plain permutation the trainer always used (bit-identical old builds)
    order = torch.randperm(len(groups), generator=torch.Generator().manual_seed(3)).tolist()
    assert batch_orders(groups, 8, torch.Generator().manual_seed(3)) == [order[i:i + 8] for i in range(0, len(order), 8)]


def test_grouped_training_is_seeded_and_learns():
    rng = np.random.default_rng(0)
    items = [tone_item(i, rng) for i in range(40)]
    for item in items:
        item.group = f"pitch{int(item.id[4:]) // 8}"  # tone_item's noise ladder repeats every 8 items
    settings = SweepSettings(subsets=[["logmel"]], aggregators=["mlp"], losses=["utmos"], top_k=1, epochs=15,
                             lr=3e-3, batch_size=8, hidden=32, seed=0, batching="grouped")
    model, report = train_ensemble({"logmel": build_encoder("logmel")}, items[:24], items[24:32], items[32:],
                                   settings, name="tones", progress=lambda m: None)
    assert report.members[0].natural["utterance"]["PQ"]["SRCC"] > 0.5
    assert model.predict(tone_item(40, None).audio)["PQ"] > model.predict(tone_item(47, None).audio)["PQ"]


def test_training_with_pairs_weighted_by_group_learns_and_says_so():
    rng = np.random.default_rng(0)
    items = [tone_item(i, rng) for i in range(40)]
    for item in items:
        item.group = f"pitch{int(item.id[4:]) // 8}"
    settings = SweepSettings(subsets=[["logmel"]], aggregators=["mlp"], losses=["dcq"], top_k=1, epochs=15,
                             lr=3e-3, batch_size=8, hidden=32, seed=0, batching="grouped",
                             cross_group_pair_weight=0.1)
    model, report = train_ensemble({"logmel": build_encoder("logmel")}, items[:24], items[24:32], items[32:],
                                   settings, name="tones", progress=lambda m: None)
    assert report.members[0].natural["utterance"]["PQ"]["SRCC"] > 0.5
    assert model.predict(tone_item(40, None).audio)["PQ"] > model.predict(tone_item(47, None).audio)["PQ"]
    assert model.config.members[0].training["cross_group_pair_weight"] == 0.1
    assert report.config["loss"]["cross_group_pair_weight"] == 0.1


def train_grouped_tones(order_term, aggregators=("mlp",), epochs=15, hidden=32):
    """The tone items in groups of one pitch (each group a noise ladder), trained with ``order_term``."""
    rng = np.random.default_rng(0)
    items = [tone_item(i, rng) for i in range(40)]
    for item in items:
        item.group = f"pitch{int(item.id[4:]) // 8}"
    settings = SweepSettings(subsets=[["logmel"]], aggregators=list(aggregators), losses=["utmos"],
                             top_k=len(aggregators), epochs=epochs, lr=3e-3, batch_size=8, hidden=hidden, seed=0,
                             batching="grouped", order_term=order_term)
    return train_ensemble({"logmel": build_encoder("logmel")}, items[:24], items[24:32], items[32:], settings,
                          name="tones", progress=lambda m: None)


def test_training_with_an_order_term_learns_and_says_so():
    from mmmos_core.training.losses import OrderTerm
    from mmmos_core.training.recipes import resolved_config

    model, report = train_grouped_tones(OrderTerm(weight=1.0))
    assert report.members[0].natural["utterance"]["PQ"]["SRCC"] > 0.5
    assert model.predict(tone_item(40, None).audio)["PQ"] > model.predict(tone_item(47, None).audio)["PQ"]
    assert model.config.members[0].training["order_term"]["weight"] == 1.0
    assert report.config["loss"]["order_term"]["form"] == "reach"
    # the term reaches the gradient: the same seed without it trains a different member
    plain, plain_report = train_grouped_tones(None)
    clip = tone_item(44, None).audio
    assert abs(model.predict(clip)["PQ"] - plain.predict(clip)["PQ"]) > 1e-4
    # and without it nothing about it is written, so older builds' configs stay as they were
    assert "order_term" not in plain_report.config["loss"] and "order_term" not in resolved_config(
        SweepSettings(subsets=[["logmel"]]))["loss"]
    assert "order_term" not in plain.config.members[0].training


def test_an_order_term_for_some_aggregators_leaves_the_other_members_as_without_it():
    from mmmos_core.training.losses import OrderTerm

    def trained(order_term):
        model, _ = train_grouped_tones(order_term, aggregators=("mlp", "blstm"), epochs=4, hidden=16)
        return {m.config.aggregator: m for m in model.members}

    plain, all_members, mlp_only = (trained(None), trained(OrderTerm(weight=1.0)),
                                    trained(OrderTerm(weight=1.0, aggregators=("mlp",))))
    same = lambda a, b: all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert same(mlp_only["blstm"], plain["blstm"]) and "order_term" not in mlp_only["blstm"].config.training
    assert same(mlp_only["mlp"], all_members["mlp"]) and not same(mlp_only["mlp"], plain["mlp"])
    assert mlp_only["mlp"].config.training["order_term"]["aggregators"] == ("mlp",)


def test_an_order_term_naming_an_unknown_aggregator_is_refused():
    import pytest

    from mmmos_core.training.losses import OrderTerm

    with pytest.raises(ValueError, match="order_term.aggregators"):
        SweepSettings(subsets=[["logmel"]], order_term=OrderTerm(weight=1.0, aggregators=("lstm",)))


def test_a_cross_group_pair_weight_outside_zero_to_one_is_refused():
    import pytest

    with pytest.raises(ValueError, match="cross_group_pair_weight"):
        SweepSettings(subsets=[["logmel"]], cross_group_pair_weight=2.0)


def test_an_order_term_by_domain_reaches_only_that_domains_items():
    from mmmos_core.training.losses import OrderTerm

    def trained(by_domain, domain_of):
        rng = np.random.default_rng(0)
        items = [tone_item(i, rng) for i in range(40)]
        for item in items:
            item.group = f"pitch{int(item.id[4:]) // 8}"
            item.domain = domain_of(int(item.id[4:]))
        settings = SweepSettings(subsets=[["logmel"]], aggregators=["mlp"], losses=["utmos"], top_k=1, epochs=3,
                                 lr=3e-3, batch_size=8, hidden=16, seed=0, batching="grouped",
                                 order_term=OrderTerm(weight=1.0, by_domain=by_domain))
        model, _ = train_ensemble({"logmel": build_encoder("logmel")}, items[:24], items[24:32], items[32:], settings,
                                  name="tones", progress=lambda m: None)
        return model.members[0].state_dict()

    def same(a, b):
        return all(torch.equal(a[k], b[k]) for k in a)

    music = (("music", 1.0, 1.0),)
    # No item is music: the term has no pair to push, and the member is the one trained without it.
    assert same(trained(music, lambda i: "sound"), trained((("speech", 0.0, 1.0),), lambda i: "sound"))
    # Music items: the term pushes their pairs, and the member comes out otherwise.
    assert not same(trained(music, lambda i: "music"), trained(music, lambda i: "sound"))
