"""Long audio is scored in fixed windows (10 s, hop 10 s by default).

The last window is zero-padded to full length and its padding masked; each window's
score is weighted by its real length (the Audiobox Aesthetics convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Windows:
    samples: torch.Tensor  # [W, window_len], zero-padded
    lengths: torch.Tensor  # [W] real samples in each window
    sample_rate: int

    @property
    def weights(self) -> torch.Tensor:
        """Seconds of real audio per window: the weights of the window average."""
        return self.lengths.double() / self.sample_rate


def window_spans(duration_s: float, window_s: float = 10.0, hop_s: float = 10.0) -> list[tuple[float, float]]:
    """(start, end) in seconds of every window; spans are shared by all encoders of a clip."""
    if duration_s <= window_s:
        return [(0.0, duration_s)]
    count = math.ceil((duration_s - window_s) / hop_s - 1e-9) + 1
    spans = []
    for i in range(count):
        start = i * hop_s
        if start >= duration_s:
            break
        spans.append((start, min(start + window_s, duration_s)))
    return spans


def cut_windows(samples: np.ndarray, sample_rate: int, spans: list[tuple[float, float]],
                window_s: float = 10.0) -> Windows:
    window = int(round(window_s * sample_rate))
    out = np.zeros((len(spans), window), dtype=np.float32)
    lengths = []
    for i, (start_s, end_s) in enumerate(spans):
        a = int(round(start_s * sample_rate))
        b = min(len(samples), int(round(end_s * sample_rate)), a + window)
        piece = samples[a:b]
        out[i, :len(piece)] = piece
        lengths.append(max(1, len(piece)))
    return Windows(torch.from_numpy(out), torch.tensor(lengths, dtype=torch.long), sample_rate)
