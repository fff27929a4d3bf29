"""Development builds of the lite model: trained as the shipped build trains, items cached per draw."""

import json
import pickle
from pathlib import Path

import pytest

from scripts import lite_dev_build
from scripts.build_lite_model import DEFAULT_OUT, ROUTED_ORDER_TERM, sweep_settings


def test_the_build_trains_with_what_the_shipped_members_record():
    # build() and the development builds share sweep_settings(): what it says is what the
    # shipped members were trained with, member by member.
    general = sweep_settings()
    routed = sweep_settings(aggregators=("mlp",), order_term=ROUTED_ORDER_TERM)
    config = json.loads((DEFAULT_OUT / "mmmos.json").read_text())
    assert config["members"], "the shipped model lists no members"
    for member in config["members"]:
        settings = routed if member.get("domains") else general
        training = member["training"]
        assert training["epochs"] == settings.epochs and training["lr"] == settings.lr
        assert training["optimiser"] == settings.optimiser and training["weight_decay"] == settings.weight_decay
        assert training["batch_size"] == settings.batch_size_for(member["aggregator"])
        assert training["cross_group_pair_weight"] == settings.cross_group_pair_weight
        assert member["hidden"] == settings.hidden and member["dropout"] == settings.dropout
        term = settings.order_term if settings.order_term.applies_to(member["aggregator"]) else None
        recorded = training.get("order_term")
        assert (recorded is None) == (term is None), member["name"]
        if term is not None:
            assert recorded == json.loads(json.dumps(term.record())), member["name"]


def test_a_bad_order_term_is_refused_before_anything_is_built(tmp_path, capsys):
    for bad, says in (('{"weigh": 1}', "weigh"), ('{"weight": 1, "reach": 2}', "reach in (0, 1]"),
                      ("{weight: 1}", "not JSON")):
        with pytest.raises(SystemExit) as exit_info:
            lite_dev_build.main(["--out", str(tmp_path / "dev"), "--order", bad])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "--order" in err and says in err
    assert not (tmp_path / "dev").exists()


def test_item_draws_are_kept_under_a_name_of_their_seed_and_code(tmp_path, monkeypatch):
    assert lite_dev_build.items_key(0) == lite_dev_build.items_key(0)
    assert lite_dev_build.items_key(0) != lite_dev_build.items_key(1)
    made = {"train": ["item"], "natural": [], "proxy": []}
    (tmp_path / f"{lite_dev_build.items_key(3)}.pkl").write_bytes(pickle.dumps(made))

    def never(*args, **kwargs):
        raise AssertionError("the items were made again although the cache holds them")

    monkeypatch.setattr(lite_dev_build, "corpus_sets", never)
    lines = []
    assert lite_dev_build.cached_sets(3, tmp_path, Path("unused"), None, lines.append) == made
    assert "corpus seed 3" in lines[0]


def test_domain_members_cannot_join_general_members_of_another_draw():
    # Members read descriptors standardised on their draw's training items: joined to members of
    # another draw, the router and one of the two groups would read the wrong scale.
    import torch

    from mmmos_core.encoders.acoustic import AcousticEncoder
    from mmmos_core.errors import MMMOSError
    from mmmos_core.model.mmmos_model import MMMOSModel
    from scripts.build_lite_model import with_router

    general = MMMOSModel.from_pretrained(DEFAULT_OUT)
    n = len(general.encoders["acoustic"].feature_names)
    other = AcousticEncoder().with_statistics(torch.zeros(n), torch.ones(n))
    with pytest.raises(MMMOSError, match="other training items"):
        with_router(general, general, other, [], [], print)


def test_the_learned_front_end_and_a_router_are_not_combined(tmp_path, capsys):
    # The router reads descriptors only; members reading the CNN cannot join a routed model.
    with pytest.raises(SystemExit) as exit_info:
        lite_dev_build.main(["--out", str(tmp_path / "dev"), "--front-end", "--general", str(DEFAULT_OUT)])
    assert exit_info.value.code == 2
    assert "--front-end and --general" in capsys.readouterr().err
    assert not (tmp_path / "dev").exists()
