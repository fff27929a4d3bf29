"""Plain words for a visitor: flag badges, member names, member agreement.

Everything here reads a `mmmos predict` record (or the model's member configs) and returns
text; the app and any report show the same sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from mmmos_core.axes import AXES
from mmmos_core.model.audio import Audio
from mmmos_core.model.results import counted

# Flags the app adds from the decoded signal, beside the model's own (silent, short_padded).
CLIPPED_LEVEL = 0.999
CLIPPED_FRACTION = 0.001  # 0.1 % of samples at full scale: audible distortion in most material
LOW_LEVEL_DBFS = -40.0  # RMS below this: far quieter than any mastered or recorded speech/music

# Member-agreement thresholds on the members' std, in points of the 1-10 scale.
AGREE_CLOSELY = 0.4
DISAGREE = 0.75

AGGREGATOR_WORDS = {"mlp": "MLP", "blstm": "BLSTM", "blstm_t": "BLSTM scoring each step"}
LOSS_WORDS = {"utmos": "UTMOS loss", "contrastive": "contrastive loss", "dcq": "DCQ loss", "ccc": "CCC loss"}
ENCODER_WORDS = {"wavlm": "WavLM", "muq": "MuQ", "m2d": "M2D", "acoustic": "acoustic", "logmel": "log-mel"}


@dataclass(frozen=True)
class Badge:
    flag: str
    title: str
    sentence: str
    severity: str  # "warn" (treat scores with care) or "info"


def level_dbfs(audio: Audio) -> float:
    rms = float(np.sqrt(np.mean(np.square(audio.samples, dtype=np.float64))))
    return 20 * np.log10(max(rms, 1e-12))


def signal_flags(audio: Audio, window_s: float = 10.0) -> list[str]:
    """Flags about the decoded signal that the model does not set itself: clipped, low_level, windowed."""
    flags = []
    if "silent" not in audio.flags:
        if np.mean(np.abs(audio.samples) >= CLIPPED_LEVEL) >= CLIPPED_FRACTION:
            flags.append("clipped")
        if level_dbfs(audio) < LOW_LEVEL_DBFS:
            flags.append("low_level")
    if audio.duration_s > window_s:
        flags.append("windowed")
    return flags


def badges(record: Mapping[str, Any]) -> list[Badge]:
    """One badge per flag of the record, with one sentence saying what it means for the scores."""
    duration = float(record.get("duration_s") or 0.0)
    windows = record.get("windows") or []
    out = []
    for flag in record.get("flags", []):
        if flag == "silent":
            out.append(Badge(flag, "Silent", "The file holds only digital silence: these scores describe "
                                             "nothing and should not be used.", "warn"))
        elif flag == "short_padded":
            out.append(Badge(flag, "Very short", f"Only {duration:.2f} s long, padded to be scored: "
                                                 "treat the scores as rough.", "warn"))
        elif flag == "clipped":
            out.append(Badge(flag, "Clipped source", "Many samples sit at full scale, a sign the recording "
                                                     "was clipped (distorted) before it got here.", "warn"))
        elif flag == "low_level":
            out.append(Badge(flag, "Very low level", "The clip is very quiet (below −40 dBFS on average); "
                                                     "quiet clips are scored less reliably.", "warn"))
        elif flag == "windowed":
            count = len(windows) or int(np.ceil(duration / 10.0))
            out.append(Badge(flag, "Long audio", f"Scored in {count} windows of 10 s; each score is their "
                                                 "length-weighted mean (see the timeline).", "info"))
        else:
            out.append(Badge(flag, flag.replace("_", " ").capitalize(), "Flag set by the model.", "info"))
    return out


def member_label(aggregator: str, loss: str, encoders: Sequence[str] = ()) -> str:
    """'BLSTM, CCC loss' (with 'WavLM + MuQ · ' in front when the encoders are worth naming)."""
    text = f"{AGGREGATOR_WORDS.get(aggregator, aggregator)}, {LOSS_WORDS.get(loss, loss + ' loss')}"
    if encoders:
        text = " + ".join(ENCODER_WORDS.get(e, e) for e in encoders) + " · " + text
    return text


def member_label_from_name(name: str) -> str:
    """Readable label from a member id such as ``acoustic-blstm_t-utmos``; the id itself if it does
    not follow the ``{encoders}-{aggregator}-{loss}`` pattern."""
    parts = name.split("-")
    if len(parts) >= 3 and parts[-2] in AGGREGATOR_WORDS and parts[-1] in LOSS_WORDS:
        return member_label(parts[-2], parts[-1])
    return name


def member_labels(info_members: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Member id -> label, from `MMMOSModel.info()['members']`; encoders named only when they differ,
    and a number added where two members would read the same."""
    kinds = {tuple(m["encoders"]) for m in info_members}
    labels = {m["name"]: member_label(m["aggregator"], m["loss"], m["encoders"] if len(kinds) > 1 else ())
              + (f" · for {' and '.join(m['domains'])}" if m.get("domains") else "")
              for m in info_members}
    counts = {label: list(labels.values()).count(label) for label in labels.values()}
    seen: dict[str, int] = {}
    for name, label in list(labels.items()):
        if counts[label] > 1:
            seen[label] = seen.get(label, 0) + 1
            labels[name] = f"{label} #{seen[label]}"
    return labels


def counted_members(record: Mapping[str, Any]) -> int:
    """How many members a record's spread is taken over (a routed model leaves out those with
    almost no share of the clip, `mmmos_core.model.results.counted`)."""
    members = record.get("members", [])
    if not members or "weight" not in members[0]:
        return len(members)
    return sum(1 for m in members if counted(m["weight"], len(members)))


def heard_as_sentence(record: Mapping[str, Any]) -> str:
    """What a routed model's router heard (its members' shares follow from it): '' for other models."""
    domains = record.get("domain")
    if not domains:
        return ""
    domain = max(domains, key=domains.get)
    return f"Heard as {domain} ({domains[domain]:.0%})."


def agreement_sentence(record: Mapping[str, Any]) -> str:
    """How far the members agree, in words: what a visitor should make of the spread."""
    count = counted_members(record)
    std = {a: float(record["spread"][a]["std"]) for a in AXES}
    unsure = [a for a in AXES if std[a] >= DISAGREE]
    rough = [a for a in AXES if AGREE_CLOSELY <= std[a] < DISAGREE]
    if not unsure and not rough:
        return f"The {count} members agree closely on all four axes (within about ±{max(std.values()):.1f})."
    parts = []
    if unsure:
        parts.append(f"Members disagree on {_join(unsure)} (±{max(std[a] for a in unsure):.1f}): "
                     f"treat {'it' if len(unsure) == 1 else 'them'} as uncertain.")
    if rough:
        # Without a sentence on disagreement before it, "they" would have nothing to refer to.
        who = "They" if parts else f"The {count} members"
        parts.append(f"{who} roughly agree on {_join(rough)} (within about ±{max(std[a] for a in rough):.1f}).")
    close = [a for a in AXES if std[a] < AGREE_CLOSELY]
    if close:
        parts.append(f"They agree closely on {_join(close)}.")
    return " ".join(parts)


def _join(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
