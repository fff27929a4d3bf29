"""The committed corpus manifest keeps its own promises: size, spread, licences, and a
held-out split by source fixed by a rule on names alone (issue 11)."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from mmmos_core.errors import ManifestError
from mmmos_core.lite.sources import (
    ALLOWED_LICENCES,
    DOMAINS,
    MANIFEST_PATH,
    RESERVED_SOURCES,
    SHARED_PREFIX,
    check_manifest,
    held_out_sources,
    read_manifest,
    write_manifest,
)


@pytest.fixture(scope="module")
def manifest():
    return read_manifest()


def test_the_manifest_is_small_text_and_follows_its_own_rules(manifest):
    assert MANIFEST_PATH.stat().st_size < 1_000_000
    assert check_manifest(manifest) == []
    assert manifest.held_out_rule and "sha256" in manifest.held_out_rule


def test_at_least_300_recordings_from_30_sources_balanced_over_domains(manifest):
    records = manifest.records
    assert len(records) >= 300
    assert len({r.source for r in records}) >= 30
    per_domain = Counter(r.domain for r in records)
    assert set(per_domain) == set(DOMAINS)
    assert min(per_domain.values()) >= 0.25 * len(records), per_domain


def test_no_source_is_in_both_splits_and_each_split_covers_every_domain(manifest):
    splits_of = {}
    for r in manifest.records:
        splits_of.setdefault(r.source, set()).add(r.split)
    assert all(len(s) == 1 for s in splits_of.values()), {k: v for k, v in splits_of.items() if len(v) > 1}
    for split in ("train", "check"):
        assert {r.domain for r in manifest.records if r.split == split} == set(DOMAINS)
    # what the project has already looked at is never held out
    assert all(r.split == "train" for r in manifest.records if r.source.startswith(SHARED_PREFIX))


def test_licences_are_allowed_and_no_reserved_source_is_used(manifest):
    assert {r.licence for r in manifest.records} <= ALLOWED_LICENCES
    debian = {r.source for r in manifest.records if not r.source.startswith(SHARED_PREFIX)}
    assert not debian & RESERVED_SOURCES
    assert not any(s.startswith(("0ad", "wesnoth", "freeciv", "supertuxkart")) for s in debian)


def test_rendered_ensembles_state_how_many_parts_play(manifest):
    midi = [r for r in manifest.records if r.container == "midi"]
    whole = [r for r in midi if not r.keep_channels]
    assert len(whole) >= 10
    assert all(r.parts and r.soundfont for r in midi)
    assert all(r.parts >= 2 for r in whole)
    assert len({r.parts for r in midi}) >= 5  # a range of ensemble sizes, not one


def test_the_held_out_rule_depends_on_names_only():
    primary = {f"pkg-{k}": DOMAINS[k % 3] for k in range(12)} | {"shared:someone/repo": "speech"}
    shuffled = dict(reversed(list(primary.items())))
    chosen = held_out_sources(primary)
    assert chosen == held_out_sources(shuffled)
    assert len(chosen) == 3 * 1  # ceil(4/4) per domain
    assert "shared:someone/repo" not in chosen


def _first(manifest, **change):
    return dataclasses.replace(manifest, records=[dataclasses.replace(manifest.records[0], **change)]
                               + manifest.records[1:])


def test_broken_manifests_are_named_record_by_record(manifest):
    flipped = "train" if manifest.records[0].split == "check" else "check"
    cases = {
        "reserved": _first(manifest, source="supertuxkart-data"),
        "not in the allowed list": _first(manifest, licence="CC-BY-NC-3.0"),
        "held-out rule says": _first(manifest, split=flipped),
        "unknown domain": _first(manifest, domain="noise"),
        "duplicate id": _first(manifest, id=manifest.records[1].id),
        "only a rendered MIDI file": _first(manifest, container="file", keep_channels=(0,)),
        "the same audio as": _first(manifest, sha256=manifest.records[1].sha256),
    }
    for needle, broken in cases.items():
        problems = check_manifest(broken)
        assert any(needle in p for p in problems), (needle, problems)


def test_a_manifest_survives_a_write_and_read(manifest, tmp_path):
    path = tmp_path / "m.json"
    write_manifest(manifest, path)
    assert read_manifest(path) == manifest


def test_an_unreadable_manifest_is_one_clear_error(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text('{"records": [\n{"id": 1,}\n]}')
    with pytest.raises(ManifestError, match="m.json: not valid JSON \\(line 2"):
        read_manifest(bad)
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "absent.json")
