"""The picking rules that wrote the corpus manifest: mechanical, licence-checked, and in
agreement with the committed manifest."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import SHARED_AUDIO
from mmmos_core.lite import source_picks
from mmmos_core.lite.corpus_build import DirectoryStore
from mmmos_core.lite.source_picks import RULES, PickRule, pick_debian, pick_shared
from mmmos_core.lite.sources import ALLOWED_LICENCES, RESERVED_SOURCES, SHARED_PREFIX, read_manifest


def test_every_rule_uses_an_allowed_licence_and_no_reserved_package():
    for rule in RULES:
        assert rule.licence in ALLOWED_LICENCES, rule.source
        assert rule.source not in RESERVED_SOURCES


def test_the_manifest_is_what_the_rules_produce():
    records = read_manifest().records
    for rule in RULES:
        mine = [r for r in records if r.source == rule.source and r.domain == rule.domain and not r.keep_channels]
        assert 0 < len(mine) <= rule.count, rule
        assert all(r.version == rule.version and r.licence == rule.licence for r in mine)
        assert all(r.duration_s <= rule.max_s for r in mine)
    rule_sources = {r.source for r in RULES}
    assert {r.source for r in records if not r.source.startswith(SHARED_PREFIX)} == rule_sources


def test_ensemble_ladders_play_one_piece_with_more_and_more_of_its_parts():
    records = read_manifest().records
    by_id = {r.id: r for r in records}
    ladders = [r for r in records if r.keep_channels]
    assert len(ladders) >= 15
    for r in ladders:
        whole = by_id[r.id.rsplit("-", 1)[0]]
        size = int(r.id.rsplit("-", 1)[1].removesuffix("ch"))
        assert (r.member, r.start_s, r.duration_s, r.split) == (whole.member, whole.start_s, whole.duration_s,
                                                                  whole.split)
        assert len(r.keep_channels) == size and r.parts <= whole.parts
    for whole_id in {r.id.rsplit("-", 1)[0] for r in ladders}:
        parts = [by_id[f"{whole_id}-{k}ch"].parts for k in (1, 2, 3)] + [by_id[whole_id].parts]
        assert parts == sorted(parts) and parts[0] < parts[-1], (whole_id, parts)


def test_choice_is_evenly_spaced_over_long_enough_files_and_long_files_are_trimmed(tmp_path, monkeypatch, clips):
    folder = tmp_path / "fake-pkg" / "snd"
    folder.mkdir(parents=True)
    audio, sr = sf.read(clips[0], always_2d=True)
    for k in range(10):  # f0 .. f9: f1 is too short to be chosen
        seconds = 0.2 if k == 1 else 1.5
        sf.write(folder / f"f{k}.wav", np.resize(audio, (int(seconds * sr), audio.shape[1])) * (1 - k / 20), sr)
    (folder / "f0-copy.wav").write_bytes((folder / "f0.wav").read_bytes())  # one sound, two names: one candidate
    rule = PickRule("fake-pkg", "1.0", "sound", "sound", "CC0-1.0", ("snd/*.wav",), 3, min_s=1.0, max_s=1.0)
    monkeypatch.setattr(source_picks, "RULES", (rule,))
    records = pick_debian(DirectoryStore(tmp_path), progress=lambda s: None)
    assert [r.member for r in records] == ["snd/f0-copy.wav", "snd/f4.wav", "snd/f7.wav"]  # 9 usable: 0, 3, 6
    assert all(r.duration_s == 1.0 and r.start_s == 0.15 for r in records)  # 30% of the 0.5 s spare


def test_shared_recordings_keep_their_licence_and_leave_out_noncommercial_ones():
    if not (SHARED_AUDIO / "SOURCES.md").is_file():
        pytest.skip(f"the shared recordings are not at {SHARED_AUDIO}")
    records = pick_shared(SHARED_AUDIO)
    assert records and all(r.licence in ALLOWED_LICENCES for r in records)
    assert not any("esc50" in r.member for r in records)  # CC BY-NC
    whale = next(r for r in records if "whale" in r.member)
    assert whale.licence == "PD" and "dc-offset" in whale.defects


def test_a_silent_pick_gives_way_to_the_next_candidate_and_a_resting_span_moves_to_sound(tmp_path, monkeypatch):
    sr = 16000
    folder = tmp_path / "fake-pkg" / "snd"
    folder.mkdir(parents=True)
    t = np.arange(4 * sr) / sr
    for k in range(6):  # distinct tones: candidates with the same bytes would be one candidate
        sf.write(folder / f"f{k}.wav", 0.3 * np.sin(2 * np.pi * (440 + 20 * k) * t), sr)
    sf.write(folder / "f2.wav", np.zeros(4 * sr), sr)  # a placeholder the package ships as all zeros
    quiet_middle = 0.3 * np.sin(2 * np.pi * 440 * t)
    quiet_middle[int(0.5 * sr):] = 0.0  # sounds only for its first half second, then rests
    sf.write(folder / "f4.wav", quiet_middle, sr)
    rule = PickRule("fake-pkg", "1.0", "sound", "sound", "CC0-1.0", ("snd/*.wav",), 3, min_s=1.0, max_s=1.0)
    monkeypatch.setattr(source_picks, "RULES", (rule,))
    said = []
    records = pick_debian(DirectoryStore(tmp_path), progress=said.append)
    # f0, f2, f4 are planned; f2 is silent, so f3 (the next one no other pick uses) stands in
    assert [r.member for r in records] == ["snd/f0.wav", "snd/f3.wav", "snd/f4.wav"]
    assert any("snd/f2.wav" in s and "digital silence" in s for s in said)
    assert records[0].start_s == 0.9  # 30% of the 3 s spare: it sounds there, so it is cut as always
    f4 = records[2]
    assert f4.start_s < 0.5 and f4.duration_s == 1.0  # moved back to where the tone still sounds


def test_no_spoken_stamp_is_taken_as_a_sound():
    import re

    spoken = re.compile(r"_desc|_[a-z]{2}(_[A-Z]{2})?\.ogg$|/symbols/|/hanukkah/|apollo_lander|ghost\.ogg")
    stamps = [r for r in read_manifest().records if r.source == "tuxpaint-stamps-default"]
    assert [r.member for r in stamps if r.domain == "sound" and spoken.search(r.member)] == []
    assert all(spoken.search(r.member) for r in stamps if r.domain == "speech")


def test_a_sound_rule_passes_over_a_voice_and_a_speech_rule_keeps_it(tmp_path, monkeypatch):
    speech = SHARED_AUDIO / "speech_ljspeech_LJ001-0001.wav"
    if not speech.is_file():
        pytest.skip(f"the shared recordings are not at {SHARED_AUDIO}")
    voice, sr = sf.read(speech, always_2d=True)
    folder = tmp_path / "fake-pkg" / "snd"
    folder.mkdir(parents=True)
    t = np.arange(len(voice)) / sr
    sf.write(folder / "a_beep.wav", 0.3 * np.sin(2 * np.pi * 440 * t), sr)
    # a game's 2 s "player one, ready" among its effects, padded with silence to a 10 s file
    voice = voice[: 2 * sr]
    sf.write(folder / "b_announcer.wav", np.concatenate([voice, np.zeros((8 * sr, voice.shape[1]))]), sr)
    sf.write(folder / "c_buzz.wav", 0.3 * np.sign(np.sin(2 * np.pi * 90 * t)), sr)
    for domain, kept in (("sound", ["snd/a_beep.wav", "snd/c_buzz.wav"]),
                         ("speech", ["snd/a_beep.wav", "snd/b_announcer.wav"])):
        rule = PickRule("fake-pkg", "1.0", domain, domain, "CC0-1.0", ("snd/*.wav",), 2, min_s=1.0, max_s=20.0)
        monkeypatch.setattr(source_picks, "RULES", (rule,))
        said = []
        records = pick_debian(DirectoryStore(tmp_path), progress=said.append)
        assert [r.member for r in records] == kept
        assert any("b_announcer.wav" in s and "is speech" in s for s in said) == (domain == "sound")


def test_a_refused_pick_near_the_end_of_the_pool_is_replaced_from_its_start(tmp_path, monkeypatch):
    sr = 16000
    folder = tmp_path / "fake-pkg" / "snd"
    folder.mkdir(parents=True)
    for k in range(4):  # f2 and f3 silent, of different lengths so that they are two candidates
        t = np.arange(2 * sr + k * sr // 4) / sr
        sf.write(folder / f"f{k}.wav", 0.3 * np.sin(2 * np.pi * (300 + 50 * k) * t) * (k < 2), sr)
    rule = PickRule("fake-pkg", "1.0", "sound", "sound", "CC0-1.0", ("snd/*.wav",), 2, min_s=1.0, max_s=2.0)
    monkeypatch.setattr(source_picks, "RULES", (rule,))
    said = []
    records = pick_debian(DirectoryStore(tmp_path), progress=said.append)
    # f0 and f2 are planned; f2 and f3 are silent, so f1 stands in, and each silent file is decoded once
    assert [r.member for r in records] == ["snd/f0.wav", "snd/f1.wav"]
    assert sum("digital silence" in s for s in said) == 2
