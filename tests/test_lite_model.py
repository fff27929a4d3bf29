"""The shipped offline model, mmmos_core/assets/mmmos-lite.

Its acceptance numbers are measured on the held-out sources of the real-audio corpus by
``python -m scripts.lite_card`` (check_report.json, MODEL_CARD.md); the corpus is a cache
that CI does not build, so these tests check the shipped report's consistency and the
model's behaviour on the real recordings of ../shared/audio (training sources since lite 2:
the behaviour is what a user relies on, not evidence of generalisation)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO, SHARED_AUDIO

from mmmos_core import load_model
from mmmos_core.bench import median_time
from mmmos_core.lite import property_checks as pc
from mmmos_core.lite.corpus import list_recordings, split_recordings
from mmmos_core.model.cache import EmbeddingCache

LITE = REPO / "mmmos_core" / "assets" / "mmmos-lite"


@pytest.fixture(scope="module")
def model():
    return load_model("lite")


@pytest.fixture(scope="module")
def held_out(shared_recordings):
    """Nine real recordings, three per domain (the lite 1 held-out rule picks them)."""
    _, held = split_recordings(list_recordings(SHARED_AUDIO))
    return [pc.load_clip(r.path) for r in held]


def score_with(model):
    return lambda audios: [p.scores for p in model.predict_audio(audios)]


def test_it_says_what_it_is(model, clips):
    assert model.name == "mmmos-lite"
    assert "offline demo model" in model.config.note and "not on human ratings" in model.config.note
    record = model.predict(str(clips[0])).to_record()
    assert record["model_note"] == model.config.note
    assert 4 <= len(model.members) <= 8
    assert [e.kind for e in model.encoders.values()] == ["acoustic"]
    card = (LITE / "MODEL_CARD.md").read_text()
    assert "never seen a human rating" in card and "make lite-model" in card
    size = sum(p.stat().st_size for p in LITE.rglob("*") if p.is_file())
    assert size < 5e6, f"mmmos_core/assets/mmmos-lite is {size / 1e6:.1f} MB"


def test_no_held_out_or_validation_source_was_trained_on():
    from mmmos_core.lite.real_corpus import source_splits
    from mmmos_core.lite.sources import read_manifest

    lite = json.loads((LITE / "mmmos.json").read_text())["extra"]["lite"]
    splits = source_splits(read_manifest())
    assert lite["source_splits"] == {k: sorted(s for s, v in splits.items() if v == k) for k in ("fit", "val", "check")}
    fit, val, check = (set(lite["source_splits"][k]) for k in ("fit", "val", "check"))
    assert not fit & check and not fit & val and not val & check
    assert check == {r.source for r in read_manifest().records if r.split == "check"}


def test_it_was_built_from_the_committed_corpus_manifest():
    """A re-pick changes the manifest; a model left from before it would describe, and have
    been checked on, recordings the repository no longer lists."""
    import hashlib

    from mmmos_core.lite.sources import MANIFEST_PATH, read_manifest

    config = json.loads((LITE / "mmmos.json").read_text())
    assert config["extra"]["lite"]["corpus_manifest_sha256"] == hashlib.sha256(MANIFEST_PATH.read_bytes()).hexdigest()
    records = read_manifest().records
    assert f"({len(records)} recordings, {len({r.source for r in records})} sources)" in config["description"]


def test_the_card_reports_the_held_out_checks_it_measured():
    report = json.loads((LITE / "check_report.json").read_text())
    lite = json.loads((LITE / "mmmos.json").read_text())["extra"]["lite"]
    assert report["split"] == "check" and report["sources"] == lite["source_splits"]["check"]
    card = (LITE / "MODEL_CARD.md").read_text()
    assert f"{report['degradation_passed']}/{report['degradation_total']}" in card
    assert f"{report['complexity_passed']}/{report['complexity_total']}" in card
    assert f"{report['ce_pq_srcc']:.3f}" in card and f"{report['produced_mean_PQ']:.2f}" in card
    for key, met in report["met"].items():  # the card says "no" wherever a target is missed
        assert met is None or isinstance(met, bool), key


def test_pq_falls_with_degradation_and_with_its_strength(model, held_out):
    pairs, steps = pc.degradation_check(score_with(model), held_out)
    failed = [(d["clip"].rsplit("/", 1)[-1], d["degradation"]) for d in pairs.details if not d["ok"]]
    print(pairs.summary(), steps.summary(), "failed:", failed)
    # Lite 2.8: 53/54 pairs here (the clipped dog bark; 2.7: 52/54, also 8-bit quantisation of
    # the whale; 2.6: 50/54, 2.5: 53/54); the held-out sources' rate is in MODEL_CARD.md (the
    # target is 97%).
    assert pairs.rate >= 0.90, failed
    # Steps 20 > 10 dB and 10 > 0 dB SNR over all clips: at most one unordered. Lite 2.3 and 2.6-2.8
    # ordered all 18; lite 2.2's, 2.4's and 2.5's one is the hydrophone whale near the bottom of
    # the scale (2.5: 1.62 / 1.27 / 1.31; 2.7: 1.86 / 1.30 / 1.18; 2.8: 1.81 / 1.20 / 1.11).
    steps_in_order = [a > b for d in steps.details for a, b in zip(d["pq"], d["pq"][1:])]
    assert sum(steps_in_order) >= len(steps_in_order) - 1, steps.details


def test_pc_of_a_three_recording_mixture_exceeds_each_alone(model, held_out):
    result = pc.complexity_check(score_with(model), held_out)
    print(result.summary())
    assert result.total == 84  # every three of the nine held-out recordings
    assert result.rate >= 0.90, [d["mixture"] for d in result.details if not d["ok"]]


def test_scores_do_not_move_with_sample_rate_gain_or_channels(model, held_out):
    import soundfile as sf

    stereo = {}
    for audio in held_out:
        data, sr = sf.read(audio.source, dtype="float32", always_2d=True)
        if data.shape[1] == 2:
            stereo[audio.source] = (sr, data)
    assert stereo, "at least one held-out recording is stereo"
    result = pc.stability_check(score_with(model), held_out, tolerance=0.3, stereo=stereo)
    worst = max(result.details, key=lambda d: d["worst"])
    print(result.summary(), f"largest move {worst['worst']:.3f} on {worst['clip']}")
    moved = [(d["clip"], round(d["worst"], 3)) for d in result.details if not d["ok"]]
    assert not moved, moved


def test_ten_second_clip_latency(model):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core: a fair number on a machine shared with other jobs
    model.cache = EmbeddingCache(max_items=0)
    try:
        rng = np.random.default_rng(0)
        clip = (44100, (0.1 * rng.standard_normal(10 * 44100)).astype(np.float32))
        median = median_time(lambda: model.predict(clip), 5)
    finally:
        model.cache = EmbeddingCache()
        torch.set_num_threads(threads)
    print(f"10 s clip at 44.1 kHz: median {1000 * median:.1f} ms")
    # About 30 ms on an idle core; the 0.1 s target is the bench's to judge. The bound here
    # only catches a gross regression, since CI machines run other jobs beside this one.
    assert median < 0.5


def test_cold_start_is_quick():
    code = ("import time; t = time.perf_counter(); from mmmos_core import load_model; m = load_model('lite'); "
            "m.predict((16000, __import__('numpy').zeros(16000, 'float32') + 0.01)); "
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    seconds = float(out.stdout.strip().splitlines()[-1])
    print(f"cold start (import, load, first prediction): {seconds:.2f} s")
    assert seconds < 10.0  # 5 s is the target; headroom for a loaded CI machine


def test_rebuild_comparison_catches_any_difference(tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from scripts.build_lite_model import compare

    copy = tmp_path / "copy"
    shutil.copytree(LITE, copy)
    assert compare(copy, LITE) == []
    member = sorted((copy / "members").glob("*.safetensors"))[0]
    tensors = load_file(str(member))
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1e-4
    save_file(tensors, str(member))
    manifest = json.loads((copy / "mmmos.json").read_text())
    manifest["target_mean"][0] += 0.01
    (copy / "mmmos.json").write_text(json.dumps(manifest))
    problems = compare(copy, LITE)
    assert any(name in p for p in problems) and any("target_mean" in p for p in problems)


def test_it_ships_scores_of_recordings_it_never_trained_on_as_context(model):
    """What the app places a visitor's clip among: validation recordings, never the training ones."""
    from mmmos_core.lite.sources import read_manifest

    context = model.context_records()
    manifest = json.loads((LITE / "mmmos.json").read_text())["extra"]["lite"]
    source_of = {r.id: r.source for r in read_manifest().records}
    assert len(context) >= 9 and {r["domain"] for r in context} == {"speech", "music", "sound"}
    assert all(source_of[r["path"].rsplit(".", 1)[0]] in manifest["source_splits"]["val"] for r in context)
    assert all(r["set"] == "held-out" and 1.0 <= r["PQ"] <= 10.0 for r in context)


def test_a_new_card_compares_with_the_model_it_replaces_and_a_rerun_keeps_that(tmp_path):
    from scripts.lite_card import REPORT, members_sha256, previous_report

    (tmp_path / "members").mkdir()
    (tmp_path / "mmmos.json").write_text('{"description": "MMMOS-lite 9: test"}')
    (tmp_path / "members" / "a.safetensors").write_bytes(b"old weights")
    old_build = members_sha256(tmp_path)
    old = {"model": "MMMOS-lite 8", "build": old_build, "degradation_rate": 0.9, "resources": {"latency_s": 1.0},
           "previous": {"model": "MMMOS-lite 7"}}
    (tmp_path / REPORT).write_text(json.dumps(old))
    assert previous_report(tmp_path, old_build) == {"model": "MMMOS-lite 7"}  # a rerun of the same build
    (tmp_path / "members" / "a.safetensors").write_bytes(b"new weights")
    new_build = members_sha256(tmp_path)
    assert new_build != old_build
    prev = previous_report(tmp_path, new_build)  # a new build: the old report becomes the comparison
    assert prev["model"] == "MMMOS-lite 8" and prev["degradation_rate"] == 0.9
    assert "resources" not in prev and "previous" not in prev
    (tmp_path / REPORT).unlink()
    assert previous_report(tmp_path, new_build) is None


def test_the_card_says_whether_the_replaced_model_was_measured_on_the_same_clips(tmp_path):
    """A corpus re-pick changes the check clips: the replaced model's old report then describes
    other recordings, and the card must not present it as the same checks."""
    import shutil

    from scripts.lite_card_text import write_card

    model_dir = tmp_path / "model"
    shutil.copytree(LITE, model_dir)
    report = json.loads((LITE / "check_report.json").read_text())
    here = dict(report, clips_sha256="a" * 64)
    old = {k: v for k, v in report.items() if k not in ("previous", "resources", "clips_sha256")}
    old |= {"model": "MMMOS-lite 0.9", "recordings": 111}

    write_card(model_dir, here | {"previous": old | {"clips_sha256": "a" * 64}})
    card = (model_dir / "MODEL_CARD.md").read_text()
    assert "MMMOS-lite 0.9, same clips |" in card and "measured on the same clips when it was built" in card

    for previous, which in ((old | {"clips_sha256": "b" * 64}, "which are not these"),
                            (old, "which its report does not identify, so they may not be these")):
        write_card(model_dir, here | {"previous": previous})
        card = (model_dir / "MODEL_CARD.md").read_text()
        assert "MMMOS-lite 0.9, its own clips |" in card and "same clips" not in card
        assert f"check clips of that time (111 recordings), {which}: for orientation only." in card


def test_the_card_marks_the_members_trained_with_the_order_term(tmp_path):
    """The card says how each member was trained from what the member recorded, so a reader can
    tell which members the order term shaped; a build without the term says nothing of it."""
    import shutil

    from scripts.lite_card_text import card_text

    report = json.loads((LITE / "check_report.json").read_text())
    manifest = json.loads((LITE / "mmmos.json").read_text())
    card = card_text(LITE, report)
    for m in manifest["members"]:
        line = next(x for x in card.splitlines() if f"`{m['name']}`" in x)
        assert line.endswith("*order term*") == bool(m["training"].get("order_term")), line
    term = next(m["training"]["order_term"] for m in manifest["members"] if m["training"].get("order_term"))
    assert f"weight {term['weight']}" in card and f"less than {term['reach']} of its label gap" in card

    model_dir = tmp_path / "model"
    shutil.copytree(LITE, model_dir)
    for m in manifest["members"]:  # the softplus form has no reach: it never stops pushing
        if m["training"].get("order_term"):
            m["training"]["order_term"] = dict(m["training"]["order_term"], form="softplus")
    (model_dir / "mmmos.json").write_text(json.dumps(manifest))
    softplus = card_text(model_dir, report)
    assert "not predicted above a worse one (softplus" in softplus and "of its label gap" not in softplus

    for m in manifest["members"]:
        m["training"].pop("order_term", None)
    (model_dir / "mmmos.json").write_text(json.dumps(manifest))
    assert "order term" not in card_text(model_dir, report).lower()


def test_the_split_digest_changes_when_a_checked_recording_does():
    import dataclasses

    from mmmos_core.lite.real_corpus import source_splits
    from mmmos_core.lite.sources import read_manifest
    from scripts.lite_card import clips_sha256

    manifest = read_manifest()
    splits = source_splits(manifest)
    digest = clips_sha256("check", manifest)
    assert digest == clips_sha256("check") != clips_sha256("val", manifest)

    def repicked(split):  # the first recording of that split now has other audio
        i = next(i for i, r in enumerate(manifest.records) if splits[r.source] == split)
        records = list(manifest.records)
        records[i] = dataclasses.replace(records[i], sha256="0" * 64)
        return dataclasses.replace(manifest, records=records)

    assert clips_sha256("check", repicked("check")) != digest
    assert clips_sha256("check", repicked("fit")) == digest


def test_training_items_carry_the_domain_of_their_recordings():
    from mmmos_core.lite.corpus import CorpusItem
    from mmmos_core.lite.sources import read_manifest
    from scripts.build_lite_model import train_items

    by_domain = {}
    for record in read_manifest().records:
        by_domain.setdefault(record.domain, []).append(record.id)
    speech, music = by_domain["speech"], by_domain["music"]

    def item(sources):
        return CorpusItem("x", np.zeros(1600, np.float32), 16000, {"PQ": 5, "PC": 5, "CE": 5, "CU": 5}, sources)

    items = train_items([item(speech[:2]), item([music[0]]), item([speech[0], music[0]]), item(["synthetic-tone"])])
    # Two speech recordings are speech; a mixture across domains, or audio of no recording, has none.
    assert [i.domain for i in items] == ["speech", "music", None, None]
