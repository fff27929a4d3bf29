"""A/B and MUSHRA playlists: trials, what each rater sees of them, and their answers.

A design playlist is a JSON object (docs/app.md, "A/B and MUSHRA tests")::

    {"design": "ab", "axes": ["PQ", "CE"], "no_preference": true, "strength": true,
     "items": [{"item": "speech", "versions": {"clean": "a.wav", "noisy": "b.wav"},
                "pairs": [["clean", "noisy"]]}]}

    {"design": "mushra", "axis": "PQ",
     "items": [{"item": "speech", "reference": "clean.wav", "hidden_reference": true,
                "anchor": "lowpass.wav", "conditions": {"noisy": "b.wav", "mp3": "c.wav"}}]}

A/B: one trial per pair (all pairs of an item's versions when ``pairs`` is left out);
the rater says per axis which of A and B is better, or (``no_preference``) neither,
and (``strength``) by how much. MUSHRA: one trial per item, every condition on one
screen with a 0-100 slider for the playlist's axis; ``reference`` is the open reference,
also hidden among the conditions unless ``hidden_reference`` is false; ``anchor`` is one
more condition. Per rater, the order of trials (like the absolute design), which system
is A (A/B) and the order of the conditions (MUSHRA) are shuffled, seeded by playlist,
rater and trial, so a rater who resumes sees the same screens.

An answer is stored as one row of the ratings CSV (``design`` and ``answer`` JSON, which
names the systems, not the screen's labels); `preference_answers` and `mushra_scores`
turn those rows into what the analysis (studies.preference, studies.mushra) reads.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from mmmos_core.axes import AXES, AXIS_NAMES
from mmmos_core.errors import ManifestError, MMMOSError

from .adaptive import rater_seed
from .mushra import MushraScore
from .preference import STRENGTHS, PreferenceAnswer
from .ratings import StoredRating

DESIGNS = ("absolute", "ab", "mushra")
MAX_CONDITIONS = 8  # MUSHRA conditions on one screen (BS.1534 advises no more than 12 with references)
REFERENCE, ANCHOR = "reference", "anchor"


class AnswerError(MMMOSError):
    """An A/B or MUSHRA answer a rater can fix (a missing choice, a score out of range)."""


@dataclass(frozen=True)
class Version:
    system: str
    path: str
    role: str = ""  # "", "reference" (hidden reference) or "anchor"


@dataclass
class Trial:
    id: str
    item: str
    versions: list[Version]
    axes: tuple[str, ...]
    reference: Version | None = None  # MUSHRA: the open reference, played from its own button


@dataclass
class DesignOptions:
    design: str
    no_preference: bool = True
    strength: bool = True


@dataclass
class Screen:
    """One trial as one rater sees it: the versions in their order, under neutral labels."""

    trial: Trial
    labels: list[str]
    versions: list[Version]
    options: DesignOptions

    def public(self) -> dict[str, Any]:
        """What the API tells a client: never the systems or which version is the reference."""
        return {"trial_id": self.trial.id, "design": self.options.design, "labels": self.labels,
                "axes": list(self.trial.axes), "open_reference": self.trial.reference is not None,
                **({"no_preference": self.options.no_preference, "strength": self.options.strength}
                   if self.options.design == "ab" else {"scale": [0, 100]})}

    @property
    def play_keys(self) -> list[str]:
        """What must have been played before answering: each version (and the open reference)."""
        keys = [f"{self.trial.id}#{label}" for label in self.labels]
        return keys + ([f"{self.trial.id}#ref"] if self.trial.reference is not None else [])


def _where(source: Path, k: int, item: Mapping) -> str:
    return f"{source.name}, item {k + 1}" + (f" ({item.get('item')})" if item.get("item") else "")


def _audio(raw: Any, source: Path, where: str, resolve) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ManifestError(f"{where}: a version's audio must be a file path")
    return resolve(raw, where)


def _axes(spec: Mapping, source: Path, default: Iterable[str]) -> tuple[str, ...]:
    axes = spec.get("axes", spec.get("axis", list(default)))
    axes = [axes] if isinstance(axes, str) else list(axes)
    bad = [a for a in axes if a not in AXES]
    if bad or not axes:
        raise ManifestError(f"{source.name}: axes {bad or axes!r} are not among {', '.join(AXES)}")
    return tuple(axes)


def parse_design(spec: Mapping, source: Path, resolve) -> tuple[DesignOptions, list[Trial]]:
    """Options and trials of a design playlist; ``resolve(raw, where)`` turns a clip path into a
    checked absolute path (relative to the playlist, confined to its folder or the allowed roots)."""
    design = str(spec.get("design", "")).strip().lower()
    if design not in ("ab", "mushra"):
        raise ManifestError(f"{source.name}: design {spec.get('design')!r} is not one of {', '.join(DESIGNS)}")
    items = spec.get("items")
    if not isinstance(items, list) or not items:
        raise ManifestError(f"{source.name}: a {design} playlist needs a list of 'items'")
    options = DesignOptions(design, bool(spec.get("no_preference", True)), bool(spec.get("strength", True)))
    trials = []
    for k, item in enumerate(items):
        where = _where(source, k, item if isinstance(item, dict) else {})
        if not isinstance(item, dict) or not str(item.get("item", "")).strip():
            raise ManifestError(f"{where}: each item needs a name ('item')")
        name = str(item["item"]).strip()
        trials += _ab_trials(item, name, where, source, spec, resolve) if design == "ab" else \
            [_mushra_trial(item, name, where, source, spec, resolve)]
    ids = [t.id for t in trials]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ManifestError(f"{source.name}: trial {dup!r} appears more than once")
    return options, trials


def _ab_trials(item, name, where, source, spec, resolve) -> list[Trial]:
    versions = item.get("versions")
    if not isinstance(versions, dict) or len(versions) < 2:
        raise ManifestError(f"{where}: an A/B item needs 'versions' with two or more systems")
    paths = {str(s): _audio(p, source, where, resolve) for s, p in versions.items()}
    pairs = item.get("pairs") or list(itertools.combinations(paths, 2))
    axes = _axes(item, source, _axes(spec, source, AXES))
    trials = []
    for k, pair in enumerate(pairs):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or pair[0] == pair[1] or \
                any(str(s) not in paths for s in pair):
            raise ManifestError(f"{where}: pair {pair!r} must name two different versions of {sorted(paths)}")
        a, b = (str(s) for s in pair)
        # The id is numbered, not named after the systems: it travels to the rater's browser.
        trials.append(Trial(f"{name}:{k + 1}", name, [Version(a, paths[a]), Version(b, paths[b])], axes))
    return trials


def _mushra_trial(item, name, where, source, spec, resolve) -> Trial:
    conditions = item.get("conditions")
    if not isinstance(conditions, dict) or not conditions:
        raise ManifestError(f"{where}: a MUSHRA item needs 'conditions' (system -> audio)")
    versions = [Version(str(s), _audio(p, source, where, resolve)) for s, p in conditions.items()]
    reference = None
    if item.get("reference"):
        reference = Version(REFERENCE, _audio(item["reference"], source, where, resolve), REFERENCE)
        if item.get("hidden_reference", spec.get("hidden_reference", True)):
            versions.append(reference)
    if item.get("anchor"):
        versions.append(Version(ANCHOR, _audio(item["anchor"], source, where, resolve), ANCHOR))
    systems = [v.system for v in versions]
    if len(set(systems)) != len(systems):
        raise ManifestError(f"{where}: conditions may not be named 'reference' or 'anchor' (those are the "
                            "hidden reference and the anchor)")
    if not 2 <= len(versions) <= MAX_CONDITIONS:
        raise ManifestError(f"{where}: {len(versions)} versions on one screen; use 2 to {MAX_CONDITIONS}")
    axes = _axes(item, source, _axes(spec, source, ["PQ"]))
    if len(axes) != 1:
        raise ManifestError(f"{where}: a MUSHRA test rates one axis ('axis': one of {', '.join(AXES)})")
    return Trial(name, name, versions, axes, reference if item.get("reference") else None)


def trial_order(trials: list[Trial], playlist: str, rater: str) -> list[Trial]:
    order = list(trials)
    random.Random(rater_seed(playlist, rater)).shuffle(order)
    return order


def screen_for(trial: Trial, options: DesignOptions, playlist: str, rater: str) -> Screen:
    """The rater's view of ``trial``: the same every time for (playlist, rater, trial)."""
    rng = random.Random(rater_seed(playlist, f"{rater}\x00{trial.id}"))
    versions = list(trial.versions)
    rng.shuffle(versions)  # A/B: which system is A; MUSHRA: the order of the sliders
    labels = ["A", "B"] if options.design == "ab" else [str(k + 1) for k in range(len(versions))]
    return Screen(trial, labels, versions, options)


def _ab_choice(raw: Any, axis: str, options: DesignOptions) -> dict[str, str]:
    if isinstance(raw, Mapping):
        choice, strength = str(raw.get("choice") or ""), str(raw.get("strength") or "")
    else:
        choice, _, strength = str(raw or "").partition(":")
    choice, strength = choice.strip().lower(), strength.strip().lower()
    name = f"{axis} ({AXIS_NAMES[axis]})"
    allowed = "A, B or no preference" if options.no_preference else "A or B"
    if choice in ("none", "no preference", "tie", "="):
        if not options.no_preference:
            raise AnswerError(f"{name}: this test asks for A or B; 'no preference' is not offered.")
        return {"choice": "none", "strength": ""}
    if choice not in ("a", "b"):
        raise AnswerError(f"Please choose {allowed} for {name}.")
    if not options.strength:
        return {"choice": choice.upper(), "strength": ""}
    if strength not in STRENGTHS:
        raise AnswerError(f"Please say how strong your preference is for {name}: {', '.join(STRENGTHS)}.")
    return {"choice": choice.upper(), "strength": strength}


def answer_json(screen: Screen, raw: Mapping[str, Any]) -> str:
    """Validate a rater's answer to ``screen`` and give the JSON stored in the ``answer`` column.

    A/B: axis -> "A" | "B" | "none", with ":slight|clear|strong" (or {"choice", "strength"}).
    MUSHRA: screen label -> 0-100."""
    if not isinstance(raw, Mapping):
        raise AnswerError("The answer must map axes (A/B) or version labels (MUSHRA) to values.")
    trial = screen.trial
    if screen.options.design == "ab":
        choices = {a: _ab_choice(raw.get(a), a, screen.options) for a in trial.axes}
        record = {"item": trial.item, "a": screen.versions[0].system, "b": screen.versions[1].system,
                  "choices": choices}
    else:
        scores = {}
        for label, version in zip(screen.labels, screen.versions):
            value = raw.get(label)
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise AnswerError(f"Please score version {label} from 0 to 100.") from None
            if not math.isfinite(number) or not 0 <= number <= 100:
                raise AnswerError(f"Version {label}: {value!r} is not a score from 0 to 100.")
            scores[version.system] = round(number, 1)
        record = {"item": trial.item, "axis": trial.axes[0], "scores": scores,
                  "roles": {v.system: v.role for v in screen.versions if v.role},
                  "order": [v.system for v in screen.versions]}
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "))


def _answer(row: StoredRating) -> dict[str, Any] | None:
    try:
        record = json.loads(row["answer"])
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def preference_answers(rows: Iterable[StoredRating]) -> list[PreferenceAnswer]:
    """One `PreferenceAnswer` per axis of each stored A/B row."""
    out = []
    for row in rows:
        record = _answer(row) if row["design"] == "ab" else None
        if not record:
            continue
        for axis, c in (record.get("choices") or {}).items():
            out.append(PreferenceAnswer(row["rater_id"], str(record["item"]), axis, str(record["a"]),
                                        str(record["b"]), c["choice"], c.get("strength", "")))
    return out


def mushra_scores(rows: Iterable[StoredRating]) -> list[MushraScore]:
    """One `MushraScore` per condition of each stored MUSHRA row."""
    out = []
    for row in rows:
        record = _answer(row) if row["design"] == "mushra" else None
        if not record:
            continue
        roles = record.get("roles") or {}
        for system, score in (record.get("scores") or {}).items():
            out.append(MushraScore(row["rater_id"], str(record["item"]), str(record["axis"]), system,
                                   float(score), roles.get(system, "")))
    return out


@dataclass
class DesignPlaylistSpec:
    """A design playlist file, read: its options, trials and every audio file they use."""

    options: DesignOptions
    trials: list[Trial] = field(default_factory=list)

    @property
    def versions(self) -> list[tuple[str, Version]]:
        """(clip id, version) for every distinct audio of the playlist, for durations and serving."""
        seen: dict[str, tuple[str, Version]] = {}
        for t in self.trials:
            for v in t.versions + ([t.reference] if t.reference else []):
                seen.setdefault(f"{t.item}/{v.system}", (f"{t.item}/{v.system}", v))
        return list(seen.values())
