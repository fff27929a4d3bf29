"""The speech teacher of the lite model: DNSMOS, a judge trained on crowdsourced ratings.

Microsoft's DNSMOS P.835 and P.808 models (the ``speechmos`` wheel, MIT, offline) were
trained on large listening tests of speech, so they say how much people mind each kind of
damage (noise, babble, a room, band limits, distortion), which the recipe in `recipe`
could only guess with a hand-set constant. How teacher and recipe are combined, for items
whose every source is speech:

    PQ = TEACHER_WEIGHT * PQ_teacher + (1 - TEACHER_WEIGHT) * PQ_recipe

- ``PQ_teacher`` maps the teacher's score s = (2 * OVRL + P808) / 3 linearly from its
  1-5 scale onto 1-10 so that s = 1 is PQ 1 and a clean studio voice (``STUDIO_SCORE``,
  the level DNSMOS gives read studio speech in the corpus's training sources) lands at the
  AES speech PQ 75th percentile: studio speech is better produced than the average AES
  speech clip, which includes phone-like and amateur recordings.
- OVRL carries twice the weight of P808 because OVRL rates the whole of P.835 (signal and
  background) while P808 barely reacts to a room (a probe on 10 training voices: RT60 0.8 s
  cost OVRL 1.09 points, P808 0.52; white noise at 10 dB cost OVRL 0.92, P808 0.81).
- Lite 2 and 2.1 let the recipe keep a share (0.25, then 0.15), because DNSMOS saturates
  near its floor (below about 0 dB SNR everything is "1.3-1.5") and is blind to level (a
  -60 dBFS recording is normalised away). Lite 2.2 gives the teacher all of it: on the
  validation sources the recipe's share cost more agreement with DNSMOS than its floor and
  level knowledge bought (docs/lite-history.md). The blend stays, so a share can be given back.

Only items made of speech alone get the teacher; music and sound items keep the recipe
(DNSMOS knows nothing about them, `peers.dnsmos`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmmos_core.axes import SCALE_MAX, SCALE_MIN

# Lite 2 used 0.75, lite 2.1 0.85. Lite 2.2 gives the teacher 1.0, chosen on the validation
# sources: DNSMOS OVRL agreement 0.873/0.880 pooled/within clip against 0.849/0.861,
# reverb-minus-noise(10) cost -0.58 against -0.69; degraded pairs 91.8% against 92.5%
# (docs/lite-history.md).
TEACHER_WEIGHT = 1.0
# After lite 2.7, 0.6 and 0.5 were tried for the held-out P.808 miss: on the validation
# sources P.808 agreement rose by 0.002 and 0.006 (the labels' by 0.047) while the room's
# cost against noise fell by up to 0.12 (docs/lite-history.md). The members already reach about what
# the descriptors carry about P.808 (a ridge fit to P.808 itself: 0.829), so 2/3 stays.
OVRL_WEIGHT = 2.0 / 3.0
# DNSMOS's (2*OVRL + P808)/3 for close-miked studio speech: the Asterisk prompts and the
# festvox-ru readings among the training sources score 3.3-3.5 OVRL, 3.5-3.9 P808.
STUDIO_SCORE = 3.5


@dataclass(frozen=True)
class TeacherScores:
    ovrl: float
    p808: float

    @property
    def combined(self) -> float:
        return OVRL_WEIGHT * self.ovrl + (1.0 - OVRL_WEIGHT) * self.p808


class SpeechTeacher:
    """DNSMOS on 16 kHz samples, turned into a PQ target."""

    def __init__(self, studio_pq: float, peer=None):
        if peer is None:
            from mmmos_core.peers.dnsmos import load_dnsmos

            peer = load_dnsmos()
        self.peer = peer
        self.studio_pq = float(studio_pq)
        self.calls = 0

    def scores(self, samples_16k: np.ndarray) -> TeacherScores:
        self.calls += 1
        s = self.peer.first_window(samples_16k)
        return TeacherScores(s["OVRL"], s["P808"])

    def pq(self, scores: TeacherScores) -> float:
        slope = (self.studio_pq - 1.0) / (STUDIO_SCORE - 1.0)
        return float(min(SCALE_MAX, max(SCALE_MIN, 1.0 + slope * (scores.combined - 1.0))))

    @staticmethod
    def blend(teacher_pq: float, recipe_pq: float) -> float:
        return TEACHER_WEIGHT * teacher_pq + (1.0 - TEACHER_WEIGHT) * recipe_pq
