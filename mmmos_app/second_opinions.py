"""Second opinions: published peer models shown beside MMMOS, each on its own scale and domain.

DNSMOS (speech, offline) is shown automatically for clips the speech gate accepts; Audiobox
Aesthetics when its package and checkpoint are present. A peer that cannot run here is not
offered at all: the About tab says in one line how to enable it.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

from mmmos_core.model.audio import Audio
from mmmos_core.peers import dnsmos, speech

from .common import esc

AUDIOBOX_ENABLE = "install `requirements-audiobox.txt` and put its `checkpoint.pt` where `MMMOS_REFERENCE_PATH` points."
DNSMOS_MAX_S = 90.0  # the page scores DNSMOS on the first 90 s of a long clip (see `DNSMOSPeer.score_one`)
DNSMOS_ENABLE = "`pip install speechmos onnxruntime silero-vad`."


class SecondOpinions:
    """Mixin of `MMMOSApp`: the peers, loaded on first use, and their panel."""

    _dnsmos_peer = None
    _peers_lock = threading.Lock()

    def audiobox_ready(self) -> bool:
        """Package and checkpoint present on this machine. Looks only locally: the loader's own lookup
        would fetch 380 MB from the hub on a machine that is online, which a page view must never start."""
        if self.reference_error or importlib.util.find_spec("audiobox_aesthetics") is None:
            return False
        from huggingface_hub import try_to_load_from_cache

        from mmmos_core.peers.audiobox import CHECKPOINT, WEIGHTS

        places = [Path(self.settings.reference_path)] if self.settings.reference_path else []
        places.append(WEIGHTS.home_dir())
        if any((p / CHECKPOINT).is_file() or (p.is_file() and p.suffix == ".pt") for p in places):
            return True
        return isinstance(try_to_load_from_cache(WEIGHTS.hub_repo, CHECKPOINT), str)

    def dnsmos_ready(self) -> bool:
        return dnsmos.available() and speech.available()

    def _dnsmos(self):
        with self._peers_lock:
            if self._dnsmos_peer is None:
                type(self)._dnsmos_peer = dnsmos.load_dnsmos()
            return self._dnsmos_peer

    def second_opinions(self, audio: Audio) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """(the speech check, the peers' records) for an already decoded clip."""
        opinions, check = [], None
        if "silent" in audio.flags:
            return check, opinions
        if self.dnsmos_ready():
            found = speech.detect_speech(audio)
            check = {"is_speech": found.is_speech, "speech_fraction": found.speech_fraction, "method": found.method}
            if found.is_speech:
                opinions.append({"label": dnsmos.LABEL, **self._dnsmos().score([audio], DNSMOS_MAX_S)[0].to_record()})
        if self.audiobox_ready():
            reference = self.reference()
            if reference is not None:
                scores = reference.score([audio])[0].to_record()
                opinions.append({"label": "Audiobox Aesthetics (Meta)", "scale": "1-10",
                                 "domain": "speech, music and sound", **scores})
        return check, opinions

    def peers_about(self) -> list[str]:
        """One line per peer for the About tab: what it is, and how to enable it when it is not."""
        lines = []
        lines.append(f"- **DNSMOS** (Microsoft, {dnsmos.LICENSE.split(': ')[-1]}): SIG, BAK, OVRL (P.835) and P.808, "
                     "1–5, speech only; shown for clips Silero VAD finds to be speech. " +
                     ("Ready." if self.dnsmos_ready() else "Not installed here: " + DNSMOS_ENABLE))
        lines.append("- **Audiobox Aesthetics** (Meta, CC-BY-4.0): the same four axes, 1–10, any audio. " +
                     ("Ready." if self.audiobox_ready() else "Not set up here: " + AUDIOBOX_ENABLE))
        return lines


def opinions_html(record: dict[str, Any] | None) -> str:
    """The panel: one card per peer with its scores, scale and domain; empty when there is none."""
    if not record:
        return ""
    opinions = record.get("second_opinions") or []
    check = record.get("speech") or {}
    cards = []
    for op in opinions:
        keys = [k for k in op if k not in ("label", "model", "scale", "domain", "scored_s")]
        part = f" · first {op['scored_s']:.0f} s" if op.get("scored_s") else ""
        cells = "".join(f"<span class='mmmos-peer-score'><b>{esc(k)}</b> {op[k]:.2f}</span>" for k in keys)
        cards.append(f"<div class='mmmos-peer'><div class='mmmos-peer-title'>{esc(op['label'])}</div>"
                     f"<div>{cells}</div><div class='mmmos-peer-note'>scale {esc(op['scale'])} · "
                     f"{esc(op['domain'])}{part} · not part of the MMMOS scores</div></div>")
    if not cards:
        if check and not check.get("is_speech"):
            return ("<div class='mmmos-peer-none'>Second opinions: none for this clip (DNSMOS rates speech only, "
                    "and this clip does not sound like speech).</div>")
        return ""
    return "<div class='mmmos-peers'><div class='mmmos-peers-head'>Second opinions</div>" + "".join(cards) + "</div>"
