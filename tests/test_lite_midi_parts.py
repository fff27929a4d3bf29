"""Counting the instrument parts of a MIDI span: the known part count of a rendered ensemble."""

from __future__ import annotations

import struct

import pytest

from mmmos_core.lite.midi_parts import busiest_channels, mute_channels, note_ons, parts_in_span


def _varlen(n: int) -> bytes:
    out = [n & 0x7F]
    while n > 127:
        n >>= 7
        out.append((n & 0x7F) | 0x80)
    return bytes(reversed(out))


def _track(events: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(_varlen(delta) + ev for delta, ev in events) + b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + body


def _song() -> bytes:
    """480 ticks a beat. Tempo 120 bpm, then 60 bpm from beat 4. Piano (ch 0) from 0 s;
    strings (ch 1, program 48) from 3 s; drums (ch 9) at 5 s with two programs (one part);
    a note-on with velocity 0 (a note-off) on ch 2 never counts."""
    tempo = _track([(0, b"\xff\x51\x03" + (500000).to_bytes(3, "big")),
                    (4 * 480, b"\xff\x51\x03" + (1000000).to_bytes(3, "big"))])
    piano = _track([(0, b"\xc0\x00"), (0, b"\x90\x3c\x64"), (480, b"\x3e\x64")])  # running status
    strings = _track([(0, b"\xc1\x30"), (5 * 480, b"\x91\x40\x50")])  # beat 5 = 2 s + 1 s = 3 s
    drums = _track([(0, b"\xc9\x00"), (7 * 480, b"\x99\x24\x70"), (0, b"\xc9\x10"), (0, b"\x99\x26\x70"),
                    (0, b"\x92\x40\x00")])
    head = b"MThd" + struct.pack(">IHHH", 6, 1, 4, 480)
    return head + tempo + piano + strings + drums


def test_note_times_follow_the_tempo_map():
    times = sorted(round(n.time_s, 6) for n in note_ons(_song()))
    assert times == [0.0, 0.5, 3.0, 5.0, 5.0]


def test_parts_are_channel_program_pairs_with_one_drum_part():
    notes = note_ons(_song())
    assert parts_in_span(notes, 0.0, 10.0) == 3
    assert parts_in_span(notes, 0.0, 1.0) == 1
    assert parts_in_span(notes, 2.5, 10.0) == 2
    assert parts_in_span(notes, 6.0, 10.0) == 0


def test_a_file_that_is_not_midi_is_refused():
    with pytest.raises(ValueError, match="not a Standard MIDI File"):
        note_ons(b"RIFF....WAVE")


def test_muting_channels_leaves_a_smaller_ensemble_with_the_same_timing():
    song = _song()
    quieter = mute_channels(song, {0, 9})
    assert len(quieter) == len(song)
    notes = note_ons(quieter)
    assert {n.channel for n in notes} == {0, 9}
    assert sorted(round(n.time_s, 6) for n in notes) == [0.0, 0.5, 5.0, 5.0]
    assert parts_in_span(notes, 0.0, 10.0) == 2


def test_the_busiest_channels_are_those_with_most_notes_in_the_span():
    notes = note_ons(_song())
    assert busiest_channels(notes, 0.0, 10.0, 1) == (0,)  # piano 2 notes, drums 2 (tie: lower channel)
    assert busiest_channels(notes, 0.0, 10.0, 2) == (0, 9)
    assert busiest_channels(notes, 2.5, 10.0, 1) == (9,)
