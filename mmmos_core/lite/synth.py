"""Synthetic source material for the lite model's corpus: music, tones, textures, speech.

Everything is generated at 16 kHz from a seeded `numpy.random.Generator` (speech from
espeak-ng, which is deterministic for a given version), and returned with the number
of simultaneous layers it holds, which the label recipe turns into complexity (PC).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import soundfile as sf
from scipy import signal

from mmmos_core.errors import MMMOSError
from mmmos_core.model.audio import resample

SR = 16000


@dataclass
class Synth:
    samples: np.ndarray  # float32 at SR
    layers: float  # simultaneous sources / instrument parts
    kind: str  # "music", "tone", "texture", "tts"
    description: str


# ---- building blocks -----------------------------------------------------------------
def envelope(n: int, attack: float, decay: float, sustain: float, release: float) -> np.ndarray:
    """ADSR over n samples (times in seconds); the release ends the note."""
    a, d, r = int(attack * SR), int(decay * SR), int(release * SR)
    a, d = max(1, min(a, n)), max(1, min(d, max(1, n - a)))
    r = max(1, min(r, max(1, n - a - d)))
    s = max(0, n - a - d - r)
    env = np.concatenate([np.linspace(0, 1, a, endpoint=False), np.linspace(1, sustain, d, endpoint=False),
                          np.full(s, sustain), np.linspace(sustain, 0, r)])
    return env[:n] if len(env) >= n else np.pad(env, (0, n - len(env)))


@dataclass
class Timbre:
    harmonics: int
    rolloff: float  # amplitude of harmonic k ~ k**-rolloff
    odd_only: bool
    inharmonicity: float
    vibrato_hz: float
    vibrato_depth: float  # in semitones
    attack: float
    decay: float
    sustain: float
    release: float

    @classmethod
    def random(cls, rng: np.random.Generator, percussive: bool = False) -> "Timbre":
        return cls(harmonics=int(rng.integers(3, 16)), rolloff=float(rng.uniform(0.6, 2.0)),
                   odd_only=bool(rng.random() < 0.25), inharmonicity=float(rng.uniform(0, 4e-4)),
                   vibrato_hz=float(rng.uniform(4.5, 6.5)), vibrato_depth=float(rng.uniform(0, 0.25)),
                   attack=float(rng.uniform(0.002, 0.01) if percussive else rng.uniform(0.01, 0.12)),
                   decay=float(rng.uniform(0.05, 0.4)),
                   sustain=float(rng.uniform(0.0, 0.3) if percussive else rng.uniform(0.4, 0.9)),
                   release=float(rng.uniform(0.03, 0.3)))


def note(freq: float, dur: float, timbre: Timbre, rng: np.random.Generator) -> np.ndarray:
    n = max(1, int(dur * SR))
    t = np.arange(n) / SR
    vib = 2 ** (timbre.vibrato_depth / 12 * np.sin(2 * np.pi * timbre.vibrato_hz * t + rng.uniform(0, 6.28)))
    phase_base = 2 * np.pi * np.cumsum(freq * vib) / SR
    out = np.zeros(n)
    for k in range(1, timbre.harmonics + 1):
        if timbre.odd_only and k % 2 == 0:
            continue
        fk = freq * k * np.sqrt(1 + timbre.inharmonicity * k * k)
        if fk >= 0.45 * SR:
            break
        out += k ** -timbre.rolloff * np.sin(phase_base * fk / freq + rng.uniform(0, 6.28))
    return out * envelope(n, timbre.attack, timbre.decay, timbre.sustain, timbre.release)


def midi_hz(m: float) -> float:
    return 440.0 * 2 ** ((m - 69) / 12)


SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10], "penta": [0, 2, 4, 7, 9]}


def _place(track: np.ndarray, sig: np.ndarray, start: int) -> None:
    end = min(len(track), start + len(sig))
    if end > start:
        track[start:end] += sig[:end - start]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


# ---- music -------------------------------------------------------------------------------
def music_piece(rng: np.random.Generator, dur: float, parts: list[str]) -> Synth:
    """A short piece in one key and tempo with the given parts (melody, chords, bass, drums, arpeggio)."""
    n = int(dur * SR)
    tonic = int(rng.integers(48, 60))
    scale = SCALES[str(rng.choice(list(SCALES)))]
    beat = 60.0 / float(rng.uniform(70, 150))
    degrees = [tonic + o + 12 * oc for oc in range(-1, 3) for o in scale]
    tracks = []
    for part in parts:
        track = np.zeros(n)
        if part == "drums":
            track = drum_pattern(rng, dur, beat).samples.astype(np.float64)
        elif part == "melody":
            timbre = Timbre.random(rng, percussive=rng.random() < 0.3)
            t = 0.0
            idx = int(rng.integers(7, 14))
            while t < dur:
                d = beat * float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
                idx = int(np.clip(idx + rng.integers(-2, 3), 5, len(degrees) - 1))
                if rng.random() > 0.1:
                    _place(track, note(midi_hz(degrees[idx] + 12), d * 0.95, timbre, rng), int(t * SR))
                t += d
        elif part in ("chords", "arpeggio"):
            timbre = Timbre.random(rng, percussive=part == "arpeggio")
            t = 0.0
            while t < dur:
                root = int(rng.integers(0, len(scale)))
                chord = [degrees[len(scale) + root + s] for s in (0, 2, 4) if len(scale) + root + s < len(degrees)]
                if part == "chords":
                    for m in chord:
                        _place(track, 0.6 * note(midi_hz(m), beat * 4, timbre, rng), int(t * SR))
                else:
                    for i in range(8):
                        m = chord[i % len(chord)] + 12 * (i // len(chord) % 2)
                        _place(track, note(midi_hz(m), beat * 0.5, timbre, rng), int((t + i * beat * 0.5) * SR))
                t += beat * 4
        elif part == "bass":
            timbre = Timbre.random(rng, percussive=True)
            timbre.harmonics = int(rng.integers(2, 6))
            t = 0.0
            while t < dur:
                m = degrees[int(rng.integers(0, len(scale)))] - 12
                _place(track, note(midi_hz(m), beat * 0.9, timbre, rng), int(t * SR))
                t += beat
        else:
            raise ValueError(f"unknown part {part!r}")
        if np.any(track):
            tracks.append(_unit(track) * 10 ** (rng.uniform(-4, 2) / 20))
    x = np.sum(tracks, axis=0) if tracks else np.zeros(n)
    return Synth(_unit(x).astype(np.float32) * 0.1, float(len(tracks)), "music", "+".join(parts))


def drum_pattern(rng: np.random.Generator, dur: float, beat: float | None = None) -> Synth:
    """Kick, snare and hi-hat on a sixteenth-note grid; one kit counts as one layer."""
    n = int(dur * SR)
    beat = beat or 60.0 / float(rng.uniform(70, 160))
    step = beat / 4
    x = np.zeros(n)
    kick_f, snare_f = float(rng.uniform(45, 70)), float(rng.uniform(150, 250))
    pattern_kick = rng.random(16) < np.array([.9, 0, .1, 0, .2, 0, .3, 0, .8, 0, .2, .1, .2, 0, .3, 0])
    pattern_snare = rng.random(16) < np.array([0, 0, 0, 0, .9, 0, 0, .1, 0, 0, 0, 0, .9, 0, .1, .2])
    pattern_hat = rng.random(16) < float(rng.uniform(0.3, 0.9))
    i = 0
    while i * step < dur:
        s = int(i * step * SR)
        k = i % 16
        if pattern_kick[k]:
            m = int(0.3 * SR)
            t = np.arange(m) / SR
            f = kick_f * (1 + 3 * np.exp(-t * 30))
            _place(x, np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-t * 9), s)
        if pattern_snare[k]:
            m = int(0.2 * SR)
            t = np.arange(m) / SR
            body = np.sin(2 * np.pi * snare_f * t) * np.exp(-t * 25)
            _place(x, 0.6 * body + 0.5 * rng.standard_normal(m) * np.exp(-t * 18), s)
        if pattern_hat[k]:
            m = int(0.06 * SR)
            t = np.arange(m) / SR
            hat = signal.lfilter([1, -1], [1], rng.standard_normal(m)) * np.exp(-t * 60)
            _place(x, 0.2 * hat, s)
        i += 1
    return Synth((_unit(x) * 0.1).astype(np.float32), 1.0, "music", "drums")


def tone(rng: np.random.Generator, dur: float) -> Synth:
    """A steady sine or a simple harmonic tone: technically clean, musically empty."""
    t = np.arange(int(dur * SR)) / SR
    f = midi_hz(float(rng.integers(45, 90)))
    x = np.sin(2 * np.pi * f * t)
    if rng.random() < 0.5:
        x += 0.3 * np.sin(4 * np.pi * f * t) + 0.1 * np.sin(6 * np.pi * f * t)
    x *= envelope(len(t), 0.02, 0.01, 1.0, 0.05)
    return Synth((_unit(x) * 0.1).astype(np.float32), 1.0, "tone", f"tone {f:.0f} Hz")


# ---- sound textures -------------------------------------------------------------------------
TEXTURES = ("rain", "wind", "hum", "engine", "crickets", "bubbles", "fan", "crackle", "events")


def texture(kind: str, rng: np.random.Generator, dur: float) -> Synth:
    n = int(dur * SR)
    t = np.arange(n) / SR
    if kind == "rain":
        bed = signal.lfilter(*signal.butter(2, [800, 6000], "band", fs=SR), rng.standard_normal(n))
        drops = np.zeros(n)
        for s in rng.integers(0, n, size=int(dur * rng.uniform(30, 200))):
            m = int(0.01 * SR)
            _place(drops, rng.standard_normal(m) * np.exp(-np.arange(m) / (0.002 * SR)) * rng.uniform(0.5, 3), s)
        x = 0.5 * _unit(bed) + _unit(drops)
    elif kind == "wind":
        lfo = 1 + 0.8 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 6.28))
        x = signal.lfilter(*signal.butter(2, rng.uniform(200, 900), fs=SR), rng.standard_normal(n)) * lfo
    elif kind == "hum":
        f0 = float(rng.choice([50.0, 60.0]))
        x = sum(k ** -1.0 * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) for k in range(1, 12))
        x = x + 0.05 * rng.standard_normal(n)
    elif kind == "engine":
        f = rng.uniform(20, 60) * (1 + 0.1 * np.sin(2 * np.pi * 0.2 * t))
        pulses = (np.sin(2 * np.pi * np.cumsum(f) / SR) > 0.95).astype(float)
        x = signal.lfilter(*signal.butter(2, 1500, fs=SR), pulses + 0.2 * rng.standard_normal(n))
    elif kind == "crickets":
        carrier = np.sin(2 * np.pi * rng.uniform(3500, 5500) * t)
        chirp_rate = rng.uniform(2, 6)
        gate = (np.sin(2 * np.pi * chirp_rate * t) > 0.3) * (0.5 + 0.5 * np.sin(2 * np.pi * 40 * t))
        x = carrier * gate + 0.02 * rng.standard_normal(n)
    elif kind == "bubbles":
        x = np.zeros(n)
        for s in rng.integers(0, n, size=int(dur * rng.uniform(5, 25))):
            m = int(rng.uniform(0.02, 0.08) * SR)
            tt = np.arange(m) / SR
            f = rng.uniform(300, 1500) * (1 + 2 * tt / tt[-1])
            _place(x, np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-tt * 40), s)
        x = x + 0.01 * rng.standard_normal(n)
    elif kind == "fan":
        x = signal.lfilter(*signal.butter(2, [100, 3000], "band", fs=SR), rng.standard_normal(n))
        x = x + 0.5 * np.sin(2 * np.pi * rng.uniform(80, 200) * t)
    elif kind == "crackle":
        x = np.zeros(n)
        idx = rng.integers(0, n, size=int(dur * rng.uniform(20, 80)))
        x[idx] = rng.uniform(-1, 1, size=len(idx))
        x = signal.lfilter(*signal.butter(2, 3000, fs=SR), x) + 0.003 * rng.standard_normal(n)
    elif kind == "events":
        # A few isolated events (knocks, barks, thuds) in silence or a faint room tone,
        # as in clips cut around a single sound.
        x = np.zeros(n)
        for _ in range(int(rng.integers(1, 5))):
            m = int(rng.uniform(0.08, 0.5) * SR)
            tt = np.arange(m) / SR
            f0 = rng.uniform(150, 900)
            body = sum(k ** -1.2 * np.sin(2 * np.pi * f0 * k * tt * (1 - 0.2 * tt)) for k in range(1, 8))
            burst = signal.lfilter(*signal.butter(2, [300, 4000], "band", fs=SR), rng.standard_normal(m))
            ev = (body + rng.uniform(0.2, 2.0) * _unit(burst)) * np.exp(-tt * rng.uniform(8, 30))
            _place(x, ev, int(rng.integers(0, max(1, n - m))))
        room_db = float(rng.choice([-200.0, -70.0, -55.0]))  # digital silence, or a room tone
        x = x + 10 ** (room_db / 20) * np.sqrt(np.mean(x ** 2)) * rng.standard_normal(n)
    else:
        raise ValueError(f"unknown texture {kind!r}")
    return Synth((_unit(np.asarray(x, dtype=np.float64)) * 0.1).astype(np.float32), 1.0, "texture", kind)


# ---- speech (espeak-ng) ------------------------------------------------------------------------
# Our own short sentences, a few per language, so voices differ in more than accent.
TEXTS = {
    "en-us": ["The morning train was late again, so we walked along the river instead.",
              "Please put the blue folder on the second shelf before you leave.",
              "Nobody expected the small bakery to become the busiest place in town.",
              "We measured the room twice and still ordered the wrong carpet."],
    "en-gb": ["The garden looks wonderful after a week of gentle rain.",
              "Could you tell me which platform the next train departs from?",
              "She painted the old fence a bright shade of yellow last summer."],
    "de": ["Der Zug nach Hamburg hat heute leider zwanzig Minuten Verspätung.",
           "Am Wochenende fahren wir mit den Fahrrädern an den See."],
    "es": ["Mañana por la mañana vamos a visitar el mercado del centro.",
           "El perro de mis vecinos ladra cada vez que pasa el cartero."],
    "it": ["La biblioteca resta aperta fino alle otto di sera.",
           "Abbiamo cucinato una zuppa di verdure per tutta la famiglia."],
    "nl": ["De fietsenmaker repareert vandaag nog mijn achterband."],
    "pt": ["O concerto começa às nove horas na praça principal."],
}
VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4", "f5")


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak_version() -> str:
    if not espeak_available():
        return "missing"
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=False).stdout
    # "eSpeak NG text-to-speech: 1.51  Data at: ..." -> "1.51"
    head = out.split("Data at")[0].strip() if out else ""
    return head.rsplit(":", 1)[-1].strip() if head else "unknown"


def speak(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    if not espeak_available():
        raise MMMOSError("espeak-ng is not installed; the lite model's corpus needs it for synthetic speech "
                         "(Debian/Ubuntu: apt-get install espeak-ng)")
    proc = subprocess.run(["espeak-ng", "--stdout", "-v", voice, "-s", str(speed), "-p", str(pitch), text],
                          capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        raise MMMOSError(f"espeak-ng failed for voice {voice!r}: {proc.stderr.decode(errors='replace')[:200]}")
    data, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    if data.ndim > 1:
        data = data.mean(axis=1)
    return resample(data, sr, SR)


def tts_utterances(rng: np.random.Generator, count: int) -> list[Synth]:
    """``count`` utterances cycling through the sentences, each with a random voice, speed and pitch."""
    items = [(lang, text) for lang, texts in TEXTS.items() for text in texts]
    out = []
    for i in range(count):
        lang, text = items[i % len(items)]
        variant = str(rng.choice(VARIANTS))
        speed, pitch = int(rng.integers(130, 200)), int(rng.integers(25, 75))
        x = speak(text, f"{lang}+{variant}", speed, pitch)
        out.append(Synth((_unit(x.astype(np.float64)) * 0.1).astype(np.float32), 1.0, "tts",
                         f"espeak-ng {lang}+{variant} s{speed} p{pitch}"))
    return out
