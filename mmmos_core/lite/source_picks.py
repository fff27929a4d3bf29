"""Which recordings the real-audio corpus takes from each source, and the manifest that results.

Maintainers run this (``python -m scripts.build_lite_corpus --write-manifest``) only when
the choice of sources changes; everyone else rebuilds from the committed manifest. Each
``PickRule`` names a package, the files it may take (glob patterns), a licence that covers
all of them (checked by hand against the package's ``debian/copyright``; packages whose
audio files carry mixed licences are left out or narrowed to one licence), how many, and
what is known about their quality. The choice within a rule is mechanical: candidates in
path order (a file with the same bytes as an earlier candidate is left out), those at least
``min_s`` long, evenly spaced; long files keep a ``max_s`` span from 30% into the spare
length, moved to the nearest span that sounds where that one mostly rests. A pick whose span
is digital silence, or, for a sound rule, speech by the app's own speech gate (Silero VAD,
`mmmos_core.peers.speech`), gives way to the next candidate. No choice looks at how any
quality model scores a file.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import re
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from mmmos_core.model.audio import Audio
from mmmos_core.peers.speech import detect_speech

from .corpus import sounding_start
from .corpus_build import SourceStore, decode, read_member, to_pcm16
from .midi_parts import busiest_channels, note_ons, parts_in_span
from .sources import HELD_OUT_RULE, SHARED_PREFIX, CorpusRecord, Manifest, audio_sha256, held_out_sources

SOUNDFONT = "fluid-soundfont-gm:3.1-5.3:usr/share/sounds/sf2/FluidR3_GM.sf2"


@dataclass(frozen=True)
class PickRule:
    source: str
    version: str
    primary_domain: str
    domain: str
    licence: str
    patterns: tuple[str, ...]
    count: int
    min_s: float = 1.0
    max_s: float = 20.0
    defects: tuple[str, ...] = ()
    container: str = "file"
    exclude: tuple[str, ...] = ()
    # MIDI only: for ``ladder_files`` of the chosen pieces, also render versions in which only
    # the busiest 1, 2, 3 ... channels play (the same span): one piece, a known number of parts.
    ladder: tuple[int, ...] = ()
    ladder_files: int = 0


def _r(source, version, primary, domain, licence, patterns, count, **kw) -> PickRule:
    return PickRule(source, version, primary, domain, licence, tuple(patterns), count, **kw)


AST = "usr/share/asterisk/sounds"
GAMES = "usr/share/games"
RULES: tuple[PickRule, ...] = (
    # speech
    _r("asterisk-core-sounds-en-wav", "1.6.1-1", "speech", "speech", "CC-BY-SA-3.0",
       [f"{AST}/en_US_f_Allison/*.wav"], 8, min_s=2.0, defects=("telephone-band",)),
    _r("asterisk-core-sounds-it-wav", "1.6.1-1", "speech", "speech", "CC-BY-3.0",
       [f"{AST}/it_IT_m_Carlo/*.wav"], 8, min_s=2.0, defects=("telephone-band",)),
    _r("asterisk-core-sounds-ru-wav", "1.6.1-1", "speech", "speech", "CC-BY-3.0",
       [f"{AST}/ru_RU_f_IvrvoiceRU/*.wav"], 8, min_s=2.0, defects=("telephone-band",)),
    _r("asterisk-core-sounds-fr-wav", "1.6.1-1", "speech", "speech", "CC-BY-SA-3.0",
       [f"{AST}/fr_CA_f_June/*.wav"], 8, min_s=2.0, defects=("telephone-band",)),
    _r("asterisk-prompt-it-menardi-wav", "1:1.4.22+mm20110907-3.1", "speech", "speech", "CC-BY-SA-3.0",
       [f"{AST}/it_IT_f_Menardi/*.wav"], 8, min_s=2.0, defects=("telephone-band",)),
    _r("festvox-ru", "0.5+dfsg-6", "speech", "speech", "BSD-like",
       ["usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav/*.wav"], 10, min_s=3.0),
    _r("fillets-ng-data-cs", "1.0.1-1.1", "speech", "speech", "GPL-2.0",
       [f"{GAMES}/fillets-ng/sound/*/cs/*.ogg"], 10, min_s=2.5, defects=("codec",)),
    _r("fillets-ng-data-nl", "1.0.1-1.1", "speech", "speech", "GPL-2.0",
       [f"{GAMES}/fillets-ng/sound/*/nl/*.ogg"], 10, min_s=2.5, defects=("codec", "band-limited")),
    _r("klettres-data", "4:22.12.3-1", "speech", "speech", "GPL-2.0+",
       ["usr/share/klettres/*/alpha/*.ogg", "usr/share/klettres/*/syllab/*.ogg"], 8, min_s=0.8, defects=("codec",)),
    _r("ktuberling-data", "4:22.12.3-1", "speech", "speech", "GPL-2.0+",
       ["usr/share/ktuberling/sounds/*/*.ogg", "usr/share/ktuberling/sounds/*/*.wav"], 8, min_s=0.8),
    _r("kajongg", "4:22.12.3-1", "speech", "speech", "GPL-2.0+",
       ["usr/share/kajongg/voices/*/*.ogg"], 8, min_s=0.6, defects=("codec", "low-level")),
    _r("hedgewars-data", "1.0.2-6", "speech", "speech", "GFDL-1.3",
       [f"{GAMES}/hedgewars/Data/Sounds/voices/*/*.ogg"], 10, min_s=0.8, defects=("codec",)),
    _r("tuxpaint-stamps-default", "2022.06.04-1", "speech", "speech", "GPL-2.0",
       ["usr/share/tuxpaint/stamps/**/*_desc_*.ogg"], 12, min_s=2.0, defects=("codec",)),
    # music
    _r("warzone2100-music", "4.3.3-3", "music", "music", "GPL-2.0+",
       [f"{GAMES}/warzone2100/music/**/*.opus"], 10, min_s=30.0, defects=("codec",)),
    _r("singularity-music", "007-2", "music", "music", "CC-BY-SA-3.0",
       [f"{GAMES}/singularity/music/**/*.ogg"], 10, min_s=20.0, defects=("codec",)),
    _r("nexuiz-music", "2.5.2-12", "music", "music", "GPL-2.0+",
       [f"{GAMES}/nexuiz/data/music.pk3!*.ogg"], 10, min_s=30.0, defects=("codec",), container="zip"),
    _r("frozen-bubble-data", "2.212-11", "music", "music", "GPL-2.0",
       [f"{GAMES}/frozen-bubble/snd/*zik*.ogg"], 3, min_s=10.0, defects=("codec",)),
    _r("frozen-bubble-data", "2.212-11", "music", "sound", "GPL-2.0",
       [f"{GAMES}/frozen-bubble/snd/*.ogg"], 6, min_s=0.5, defects=("codec",), exclude=("*zik*",)),
    _r("neverball-common", "1.6.0+git20180603-3", "music", "music", "GPL-2.0+",
       [f"{GAMES}/neverball/bgm/*.ogg"], 8, min_s=20.0, defects=("codec",)),
    _r("neverball-common", "1.6.0+git20180603-3", "music", "sound", "GPL-2.0+",
       [f"{GAMES}/neverball/snd/*.ogg"], 6, min_s=0.5, defects=("codec",)),
    _r("xmoto-data", "0.6.1+repack-9", "music", "music", "GPL-2.0+",
       [f"{GAMES}/xmoto/Textures/Musics/*.ogg"], 7, min_s=20.0, defects=("codec",)),
    _r("extremetuxracer-data", "0.8.2-1", "music", "music", "GPL-2.0+",
       [f"{GAMES}/etr/music/*.ogg"], 8, min_s=20.0, defects=("codec",)),
    _r("extremetuxracer-data", "0.8.2-1", "music", "sound", "GPL-2.0+",
       [f"{GAMES}/etr/sounds/*"], 6, min_s=0.5),
    _r("colobot-common-sounds", "0.2.0-2", "music", "music", "GPL-3.0+",
       [f"{GAMES}/colobot/music/*.ogg"], 10, min_s=30.0, defects=("codec",)),
    _r("colobot-common-sounds", "0.2.0-2", "music", "sound", "GPL-3.0+",
       [f"{GAMES}/colobot/sounds/*.wav"], 8, min_s=0.7),
    _r("asterisk-moh-opsound-wav", "2.03-1.1", "music", "music", "CC-BY-SA-3.0",
       ["usr/share/asterisk/moh/*.wav"], 5, min_s=20.0, defects=("telephone-band",)),
    _r("sonic-pi-samples", "3.2.2~repack-8", "music", "music", "CC0-1.0",
       ["usr/share/sonic-pi/samples/loop_*.flac", "usr/share/sonic-pi/samples/guit_*.flac",
        "usr/share/sonic-pi/samples/ambi_piano.flac", "usr/share/sonic-pi/samples/ambi_choir.flac"], 12, min_s=1.0),
    _r("openttd-openmsx", "0.4.2-1", "music", "music", "GPL-2.0",
       ["usr/share/games/openttd/baseset/openmsx/*.mid"], 12, min_s=30.0, max_s=30.0, container="midi",
       ladder=(1, 2, 3), ladder_files=4),
    _r("planetblupi-music-midi", "1.14.2-3", "music", "music", "GPL-3.0+",
       ["usr/share/planetblupi/music/*.mid"], 10, min_s=30.0, max_s=30.0, container="midi",
       ladder=(1, 2, 3), ladder_files=3),
    _r("hedgewars-data", "1.0.2-6", "speech", "music", "GPL-2.0",
       [f"{GAMES}/hedgewars/Data/Music/*.ogg"], 6, min_s=30.0, defects=("codec",)),
    # sound
    _r("bucklespring-data", "1.4.0-2", "sound", "sound", "GPL-2.0+",
       ["usr/share/buckle/wav/*.wav"], 10, min_s=0.05),
    _r("wordwarvi-sound", "1.0.4-2", "sound", "sound", "GPL-2.0+",
       ["usr/share/wordwarvi/sounds/*.ogg"], 10, min_s=0.5, defects=("codec",), exclude=("*lucky13*",)),
    _r("oxygen-sounds", "4:5.27.5-2", "sound", "sound", "LGPL-3.0+",
       ["usr/share/sounds/*.ogg"], 10, min_s=0.5, defects=("codec",)),
    _r("yaru-theme-sound", "22.10.3-1", "sound", "sound", "CC-BY-SA-4.0",
       ["usr/share/sounds/Yaru/stereo/*.oga"], 10, min_s=0.3, defects=("codec",)),
    _r("tuxpaint-data", "1:0.9.28-sdl2-1", "sound", "sound", "GPL-2.0+",
       ["usr/share/tuxpaint/sounds/*.wav", "usr/share/tuxpaint/sounds/*.ogg"], 10, min_s=0.3),
    _r("tuxmath-data", "2.0.3-9", "sound", "sound", "GPL-3.0+",
       ["usr/share/tuxmath/sounds/*.wav", "usr/share/tuxmath/sounds/*.ogg"], 10, min_s=0.3),
    _r("deepin-sound-theme", "15.10.6-1", "sound", "sound", "GPL-3.0",
       ["usr/share/sounds/deepin/stereo/*"], 10, min_s=0.3),
    _r("heroes-sound-effects", "1.0-6", "sound", "sound", "GPL-2.0+",
       ["usr/share/games/heroes/sfx/*.wav"], 10, min_s=0.3, defects=("low-rate",)),
    _r("boswars-data", "2.7+svn160110-5", "sound", "sound", "GPL-2.0+",
       [f"{GAMES}/boswars/**/*.wav", f"{GAMES}/boswars/**/*.ogg"], 12, min_s=0.5),
    # The stamps' sounds beside their spoken names: descriptions (NAME_desc.ogg, NAME_desc_<lang>),
    # localised names (NAME_<lang>[_<REGION>]) and whole folders of voices (letters, digits,
    # dreidel letters, the lunar-lander radio call, the ghost) are speech, so not taken as sound.
    _r("tuxpaint-stamps-default", "2022.06.04-1", "speech", "sound", "GPL-2.0",
       [f"usr/share/tuxpaint/stamps/{folder}/**/*.ogg" for folder in (
           "animals", "food", "hobbies", "household", "military", "naturalforces", "seasonal/christmas",
           "seasonal/halloween", "seasonal/newyears", "town", "vehicles")], 10, min_s=1.0, defects=("codec",),
       exclude=("*_desc*", "*_[a-z][a-z].ogg", "*_[a-z][a-z]_[A-Z][A-Z].ogg", "ghost.ogg")),
    _r("hedgewars-data", "1.0.2-6", "speech", "sound", "GFDL-1.3",
       [f"{GAMES}/hedgewars/Data/Sounds/*.ogg"], 8, min_s=0.5, defects=("codec",), exclude=("*Droplet*",)),
)

# ../shared/audio: SOURCES.md licence text -> licence id; NonCommercial files are left out.
_SHARED_LICENCES = (("CC BY-NC", None), ("Apache-2.0", "Apache-2.0"), ("CC BY 4.0", "CC-BY-4.0"),
                    ("CC BY 3.0", "CC-BY-3.0"), ("Public domain", "PD"), ("BSD-3-Clause", "BSD-3-Clause"))
_SHARED_DEFECTS = (("mp3", "codec"), ("opus", "codec"), ("vorbis", "codec"), ("low level", "low-level"),
                   ("clipped", "clipping"), ("dc offset", "dc-offset"), ("band-limited", "band-limited"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _candidates(root: Path, rule: PickRule) -> list[str]:
    found: set[str] = set()
    for pattern in rule.patterns:
        archive, bang, inner = pattern.partition("!")
        if bang:
            with zipfile.ZipFile(root / archive) as z:
                found |= {f"{archive}!{n}" for n in z.namelist() if fnmatch.fnmatch(n, inner)}
        else:
            found |= {str(p.relative_to(root)) for p in root.glob(pattern) if p.is_file()}
    return sorted(m for m in found if not any(fnmatch.fnmatch(Path(m).name, x) for x in rule.exclude))


def _measure(data: bytes, container: str) -> float:
    if container == "midi":
        notes = note_ons(data)
        return notes[-1].time_s if notes else 0.0
    info = sf.info(io.BytesIO(data))
    return info.frames / info.samplerate


def _auto_defects(pcm: np.ndarray) -> set[str]:
    x = pcm.astype(np.float64) / 32768.0
    out = set()
    if np.mean(np.abs(x) >= 32767 / 32768) > 1e-3:
        out.add("clipping")
    if np.max(np.abs(x), initial=0.0) < 0.1:  # peak below -20 dBFS
        out.add("low-level")
    if abs(float(np.mean(x))) > 0.05:
        out.add("dc-offset")
    return out


# A kept span whose peak stays below this (about -60 dBFS in 16-bit) is no recording: a
# package can ship an all-zero placeholder, or a track that is silent for most of its length.
SILENT_PEAK = 33


class RefusedPick(ValueError):
    """The span a pick would keep is no recording of its rule's domain: digital silence, or,
    for a sound rule, speech (games ship their announcers' voices among the effects)."""


def _record(rule_like: dict, data: bytes, root_font: Path | None,
            span_s: tuple[float, float] | None = None) -> CorpusRecord:
    """The manifest row for one pick; ``span_s`` fixes (start, duration) instead of deriving it."""
    draft = CorpusRecord(**rule_like, sample_rate=1, channels=1, source_sha256="", sha256="")
    audio, sr = decode(data, draft, root_font)
    total = audio.shape[0] / sr
    span = min(total, rule_like["duration_s"])
    start = round(0.3 * (total - span), 3) if total > span else 0.0
    if total > span and span_s is None:
        # A track that rests or fades where the span would fall keeps the nearest span that
        # sounds instead (corpus.sounding_start); one that sounds there is cut as always.
        at, want = int(round(start * sr)), int(round(span * sr))
        moved = sounding_start(audio.mean(axis=1), at, want, sr)
        start = start if moved == at else round(moved / sr, 3)
    span = round(min(span, total - start), 6)
    if span_s is not None:
        start, span = span_s
    # the same conversion the builder applies (corpus_build.convert), without decoding twice
    pcm = to_pcm16(audio, sr, start, span)
    if np.max(np.abs(pcm.astype(np.int32)), initial=0) < SILENT_PEAK:
        raise RefusedPick(f"{rule_like['member']}: the kept span is digital silence "
                          f"(peak below {20 * np.log10(SILENT_PEAK / 32768):.0f} dBFS)")
    if draft.domain == "sound":
        # Heard without the silence around it: a 1 s alert in a 10 s file is still a voice.
        mono = pcm.astype(np.float32).mean(axis=1) / 32768.0
        sounding = np.flatnonzero(np.abs(mono) >= SILENT_PEAK / 32768.0)
        # (a stereo file whose channels cancel can be silent in mono: nothing to hear then)
        heard = detect_speech(Audio(mono[sounding[0]:sounding[-1] + 1], sr)) if sounding.size else None
        if heard is not None and heard.is_speech:
            raise RefusedPick(f"{rule_like['member']}: the kept span is speech "
                              f"({heard.method} hears it in {heard.speech_fraction:.0%}), not a sound")
    defects = tuple(sorted(set(draft.defects) | _auto_defects(pcm)))
    parts = None
    if draft.container == "midi":
        notes = [n for n in note_ons(data) if not draft.keep_channels or n.channel in draft.keep_channels]
        parts = parts_in_span(notes, start, start + span)
    return CorpusRecord(**{**rule_like, "start_s": start, "duration_s": span, "defects": defects, "parts": parts},
                        sample_rate=sr, channels=pcm.shape[1], source_sha256=hashlib.sha256(data).hexdigest(),
                        sha256=audio_sha256(pcm, sr))


def pick_debian(store: SourceStore, progress: Callable[[str], None] = print) -> list[CorpusRecord]:
    """Records for every rule, before splits are assigned (split='train' placeholder)."""
    records: list[CorpusRecord] = []
    font_pkg, font_version, font_path = SOUNDFONT.split(":")
    font = None
    if any(r.container == "midi" for r in RULES):
        font = store.open(font_pkg, font_version) / font_path
    for rule in RULES:
        root = store.open(rule.source, rule.version)
        chosen: list[tuple[str, bytes]] = []
        pool = _candidates(root, rule)
        usable = []
        seen: dict[str, str] = {}
        for member in pool:
            data = read_member(root, _stub(rule, member))
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:  # packages ship one sound under several names: keep the first
                progress(f"  {rule.source}:{member}: same bytes as {seen[digest]}, not a candidate")
                continue
            seen[digest] = member
            try:
                if _measure(data, rule.container) >= rule.min_s:
                    usable.append((member, data))
            except Exception as e:  # noqa: BLE001 - an unreadable candidate is not chosen, and said so
                progress(f"  {rule.source}:{member}: not usable ({type(e).__name__}: {e})")
        n = min(rule.count, len(usable))
        planned = [k * len(usable) // n for k in range(n)] if n else []
        progress(f"{rule.source} [{rule.domain}]: {n} of {len(usable)} usable ({len(pool)} matching)")
        taken: set[int] = set()
        refused: set[int] = set()
        for i in planned:
            # A refused pick is replaced by the next candidate in path order (wrapping round to
            # the first) that no other pick uses and that was not refused already.
            order = [*range(i + 1, len(usable)), *range(i)]
            stand_ins = [j for j in order if j not in taken and j not in planned and j not in refused]
            for j in [i] + stand_ins:
                member, data = usable[j]
                stem = _slug(f"{rule.source}-{Path(member.split('!')[-1]).parent.name}-{Path(member).stem}")
                fields = dict(id=stem, source=rule.source, version=rule.version, member=member,
                              container=rule.container, licence=rule.licence, domain=rule.domain,
                              primary_domain=rule.primary_domain, split="train", start_s=0.0,
                              duration_s=rule.max_s, defects=rule.defects,
                              soundfont=SOUNDFONT if rule.container == "midi" else "")
                try:
                    records.append(_record(fields, data, font))
                except RefusedPick as e:
                    progress(f"  {rule.source}:{e}; not chosen")
                    refused.add(j)
                    continue
                taken.add(j)
                chosen.append((member, data))
                break
            else:
                progress(f"  {rule.source}: no candidate left to stand in for {usable[i][0]}")
        if rule.ladder_files:
            full = records[-len(chosen):]
            for k in range(rule.ladder_files):
                (member, data), whole = chosen[k * len(chosen) // rule.ladder_files], full[k * len(chosen)
                                                                                          // rule.ladder_files]
                for size in rule.ladder:
                    keep = busiest_channels(note_ons(data), whole.start_s, whole.start_s + whole.duration_s, size)
                    fields = {**_fields_of(whole), "id": f"{whole.id}-{size}ch", "keep_channels": keep,
                              "defects": rule.defects}
                    records.append(_record(fields, data, font, span_s=(whole.start_s, whole.duration_s)))
        store.close(rule.source)
    store.close(font_pkg)
    return records


def _fields_of(r: CorpusRecord) -> dict:
    """A record's rule-given fields, to derive another record from it."""
    names = ("id", "source", "version", "member", "container", "licence", "domain", "primary_domain", "split",
             "start_s", "duration_s", "defects", "soundfont")
    return {n: getattr(r, n) for n in names}


def _stub(rule: PickRule, member: str) -> CorpusRecord:
    return CorpusRecord("", rule.source, rule.version, member, rule.container, rule.licence, rule.domain,
                        rule.primary_domain, "train", 0.0, 1.0, 1, 1, "", "")


def pick_shared(shared_audio: Path) -> list[CorpusRecord]:
    """The files of ../shared/audio whose licence is allowed, as listed in its SOURCES.md."""
    records = []
    lines = (shared_audio / "SOURCES.md").read_text().splitlines()
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines if line.startswith("| `")]
    by_repo: Counter = Counter()
    for cells in rows:
        name, domain, repo_cell, _, commit, licence_text, _, _, _, description = cells[:10]
        name, commit = name.strip("`"), commit.strip("`")
        repo = re.search(r"\[([^\]]+)\]", repo_cell).group(1)
        licence = next((lic for key, lic in _SHARED_LICENCES if licence_text.startswith(key) or
                        (key == "CC BY-NC" and key in licence_text)), "unknown")
        if licence is None:
            continue
        data = (shared_audio / name).read_bytes()
        text = f"{description} {name}".lower()
        defects = {d for key, d in _SHARED_DEFECTS if key in text}
        by_repo[(repo, domain)] += 1
        fields = dict(id=_slug(f"shared-{Path(name).stem}"), source=SHARED_PREFIX + repo, version=commit,
                      member=name, container="file", licence=licence, domain=domain, primary_domain=domain,
                      split="train", start_s=0.0, duration_s=1e9, defects=tuple(sorted(defects)))
        records.append(_record(fields, data, None))
    primary = {}
    for (repo, domain), n in sorted(by_repo.items(), key=lambda kv: (-kv[1], kv[0][1])):
        primary.setdefault(SHARED_PREFIX + repo, domain)
    return [CorpusRecord(**{**r.__dict__, "primary_domain": primary[r.source]}) for r in records]


def assemble(records: list[CorpusRecord]) -> Manifest:
    """Assign splits by HELD_OUT_RULE and order the records (domain, source, id)."""
    primary = {r.source: r.primary_domain for r in records}
    check = held_out_sources(primary)
    records = [CorpusRecord(**{**r.__dict__, "split": "check" if r.source in check else "train"}) for r in records]
    records.sort(key=lambda r: (r.domain, r.source, r.id))
    if dup := [i for i, n in Counter(r.id for r in records).items() if n > 1]:
        raise ValueError(f"two picks share an id: {dup}")
    about = ("MMMOS-lite real-audio corpus (issue 11): every recording with its source, licence, checksums, "
             "span and known defects. Rebuild with `make lite-corpus` (python -m scripts.build_lite_corpus); "
             "sha256 is of the converted 16-bit samples (mmmos_core.lite.sources.audio_sha256), "
             "source_sha256 of the file as shipped. See docs/lite.md.")
    return Manifest(about, HELD_OUT_RULE, records)
