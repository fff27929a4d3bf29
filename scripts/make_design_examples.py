"""Write the bundled A/B and MUSHRA example playlists (assets/studies/) from the example clips.

``python -m scripts.make_design_examples`` cuts 2.5 s of two example clips (16 kHz mono
FLAC, to keep the repository small) and makes degraded versions of each with
mmmos_core.lite.degradations under a fixed seed, so running it again gives the same
audio. The playlists themselves are plain JSON (studies.trials) written beside them.
"""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from mmmos_core.lite import degradations as deg
from mmmos_core.model.audio import resample
from mmmos_core.paths import EXAMPLES_DIR, REPO_ASSETS

OUT = REPO_ASSETS / "studies"
SR = 16_000
SECONDS = 2.5
SEED = 12
SOURCES = {"speech": ("speech_ljspeech_audiobook.wav", 0.5), "music": ("music_jazz_trumpet.wav", 1.0)}


def excerpt(name: str, start_s: float) -> np.ndarray:
    audio, sr = sf.read(EXAMPLES_DIR / name, dtype="float32", always_2d=True)
    mono = resample(audio.mean(axis=1), sr, SR)
    start = int(start_s * SR)
    return deg.peak_normalise(mono[start:start + int(SECONDS * SR)], 0.8)


def versions(x: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The systems under test: clean, noisy (pink noise at 10 dB SNR), a crude codec, and a
    3.5 kHz low-pass, the usual MUSHRA anchor."""
    return {
        "clean": x,
        "noisy": deg.add_noise(x, deg.coloured_noise(len(x), rng, 1.0), 10.0),
        "codec": deg.codec(x, SR, 4000.0, 25.0, rng),
        "lowpass": deg.lowpass(x, SR, 3500.0),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    files: dict[str, dict[str, str]] = {}
    for item, (name, start) in SOURCES.items():
        files[item] = {}
        for system, audio in versions(excerpt(name, start), rng).items():
            rel = f"clips/{item}_{system}.flac"
            (OUT / rel).parent.mkdir(exist_ok=True)
            sf.write(OUT / rel, np.clip(audio, -1, 1), SR, subtype="PCM_16")
            files[item][system] = rel
    ab = {"_comment": "A/B example: per axis, which version is better (or no preference) and how strongly.",
          "design": "ab", "axes": ["PQ", "CE"], "no_preference": True, "strength": True,
          "items": [{"item": item, "versions": {s: f[s] for s in ("clean", "noisy", "codec")},
                     "pairs": [["clean", "noisy"], ["clean", "codec"]]} for item, f in files.items()]}
    mushra = {"_comment": "MUSHRA example: every version on one screen, 0-100 for Production Quality; the clean "
              "clip is the open and the hidden reference, the 3.5 kHz low-pass the anchor.",
              "design": "mushra", "axis": "PQ",
              "items": [{"item": item, "reference": f["clean"], "hidden_reference": True, "anchor": f["lowpass"],
                         "conditions": {"noisy": f["noisy"], "codec": f["codec"]}} for item, f in files.items()]}
    for name, spec in (("ab_example.json", ab), ("mushra_example.json", mushra)):
        (OUT / name).write_text(json.dumps(spec, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
