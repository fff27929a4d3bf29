"""How many instrument parts sound in a span of a Standard MIDI File.

A rendered General MIDI ensemble is real multi-source material with a known number of
parts (issue 11, for PC): a part is a (channel, program) pair that starts at least one note
in the span; the percussion channel (10, index 9) is one part whatever its program.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PERCUSSION_CHANNEL = 9


@dataclass(frozen=True)
class NoteOn:
    time_s: float
    channel: int
    program: int


def _varlen(data: bytes, i: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[i]
        i += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, i


def _track_events(data: bytes, start: int, end: int):
    """(tick, status, payload, offset of payload) of every event of one MTrk chunk, running
    status resolved."""
    tick, i, status = 0, start, 0
    while i < end:
        delta, i = _varlen(data, i)
        tick += delta
        if data[i] & 0x80:
            status = data[i]
            i += 1
        if status == 0xFF:
            kind = data[i]
            length, i = _varlen(data, i + 1)
            yield tick, 0xFF, bytes([kind]) + data[i:i + length], i
            i += length
        elif status in (0xF0, 0xF7):
            length, i = _varlen(data, i)
            i += length
        else:
            size = 1 if status & 0xF0 in (0xC0, 0xD0) else 2
            yield tick, status, data[i:i + size], i
            i += size


def _events(data: bytes) -> tuple[int, list[tuple[int, int, int, bytes, int]]]:
    """The time division and every event of every track: (tick, order, status, payload, offset)."""
    if data[:4] != b"MThd":
        raise ValueError("not a Standard MIDI File (no MThd header)")
    _, _, division = struct.unpack(">HHH", data[8:14])
    if division & 0x8000:
        raise ValueError("SMPTE time division is not supported")
    events = []
    i = 8 + struct.unpack(">I", data[4:8])[0]
    while i + 8 <= len(data):
        kind, length = data[i:i + 4], struct.unpack(">I", data[i + 4:i + 8])[0]
        if kind == b"MTrk":
            events += [(t, len(events) + k, s, p, at)
                       for k, (t, s, p, at) in enumerate(_track_events(data, i + 8, min(i + 8 + length, len(data))))]
        i += 8 + length
    events.sort(key=lambda e: (e[0], e[1]))
    return division, events


def note_ons(data: bytes) -> list[NoteOn]:
    """Every note start of the file with its time in seconds (tempo map applied)."""
    division, events = _events(data)
    programs = [0] * 16
    tempo, last_tick, seconds = 500000, 0, 0.0
    out = []
    for tick, _, status, payload, _ in events:
        seconds += (tick - last_tick) * tempo / 1e6 / division
        last_tick = tick
        if status == 0xFF:
            if payload[:1] == b"\x51" and len(payload) == 4:
                tempo = int.from_bytes(payload[1:4], "big")
            continue
        channel = status & 0x0F
        if status & 0xF0 == 0xC0:
            programs[channel] = payload[0]
        elif status & 0xF0 == 0x90 and len(payload) == 2 and payload[1] > 0:
            out.append(NoteOn(seconds, channel, programs[channel]))
    return out


def parts_in_span(notes: list[NoteOn], start_s: float, end_s: float) -> int:
    """The number of distinct parts that start a note in [start_s, end_s)."""
    parts = {(n.channel, -1 if n.channel == PERCUSSION_CHANNEL else n.program)
             for n in notes if start_s <= n.time_s < end_s}
    return len(parts)


def busiest_channels(notes: list[NoteOn], start_s: float, end_s: float, count: int) -> tuple[int, ...]:
    """The ``count`` channels that start the most notes in the span (ties: lower channel)."""
    per_channel: dict[int, int] = {}
    for n in notes:
        if start_s <= n.time_s < end_s:
            per_channel[n.channel] = per_channel.get(n.channel, 0) + 1
    ranked = sorted(per_channel, key=lambda c: (-per_channel[c], c))
    return tuple(sorted(ranked[:count]))


def mute_channels(data: bytes, keep: set[int]) -> bytes:
    """The same file with every note start outside ``keep`` turned silent (velocity 0, which
    MIDI reads as a note-off): a rendered ensemble with fewer, known parts. Lengths and
    timing are untouched because only velocity bytes change."""
    out = bytearray(data)
    for _, _, status, payload, at in _events(data)[1]:
        if status & 0xF0 == 0x90 and len(payload) == 2 and (status & 0x0F) not in keep:
            out[at + 1] = 0
    return bytes(out)
