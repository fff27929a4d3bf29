"""What a RIFF/WAVE header claims about the length of its audio, checked against the file.

libsndfile quietly clamps a WAV whose data chunk runs past the end of the file (a cut
download, a copy interrupted) and reads only the declared part of a chunk that is shorter
than the bytes behind it. Both play, so both would be scored as if nothing were wrong;
this reads the chunk table so that the front door can flag them instead.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

# Writers that stream (and never seek back) leave these placeholders; they are not lies.
_UNKNOWN_SIZES = {0, 0xFFFFFFFF, 0x7FFFFFFF}


@dataclass
class WavLength:
    declared_bytes: int  # what the data chunk's size field says
    present_bytes: int  # bytes of the data chunk the file actually holds
    undeclared_bytes: int  # bytes after the chunk that are not a further chunk: audio the header hides

    @property
    def truncated(self) -> bool:
        return self.present_bytes < self.declared_bytes

    @property
    def understated(self) -> bool:
        return self.undeclared_bytes > 0


def _looks_like_chunk(header: bytes) -> bool:
    return len(header) == 8 and all(32 <= b < 127 for b in header[:4])


def wav_length(read_at: Callable[[int, int], bytes], file_size: int) -> WavLength | None:
    """The data chunk's declared and present sizes, or None if the file is not a plain RIFF/WAVE
    file (RF64, other formats, a chunk table past the first 64 KiB). ``read_at(offset, n)``
    returns up to n bytes of the file from offset."""
    head = read_at(0, 65536)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(head):
        chunk_id, size = head[pos:pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        if chunk_id == b"data":
            if size in _UNKNOWN_SIZES:
                return None
            start = pos + 8
            present = max(0, min(size, file_size - start))
            end = start + size + (size & 1)
            rest = max(0, file_size - end)
            if rest and _looks_like_chunk(read_at(end, 8)):
                rest = 0  # a LIST/id3 chunk after the audio is normal
            return WavLength(size, present, rest)
        pos += 8 + size + (size & 1)  # chunks are word-aligned
    return None
