"""A small, fully offline stand-in for a trained paper sweep, to run the experiments end to end.

Architecture-true random encoders (`build_trienc_dir(size="tiny")`: WavLM, MuQ and M2D
of the real designs, narrow and shallow) and synthetic clips: tones in noise whose
noise level sets PQ, grouped into made-up "systems" and, for the proxy set, into
made-up generator folders so the paper's PAM split rule has something to split. Its
numbers say nothing about audio quality; they show that every command runs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from mmmos_core.model.audio import Audio

from .recipes import settings_for
from .sweep import SweepReport, TrainItem, train_ensemble

SR = 16000


def synthetic_item(i: int, prefix: str, seconds: float = 1.0) -> TrainItem:
    """A tone in white noise: louder noise, lower PQ; the system (and id folder) is i mod 4."""
    t = np.arange(int(SR * seconds)) / SR
    level = 0.003 * 2.5 ** (i % 6)
    noise = np.random.default_rng(i).standard_normal(len(t))
    x = (0.1 * np.sin(2 * np.pi * (220 + 30 * (i % 11)) * t) + level * noise).astype(np.float32)
    system = f"sys{i % 4}"
    item_id = f"{prefix}/{system}/clip{i}.wav"
    labels = {"PQ": 9.0 - (i % 6), "PC": 3.0 + (i % 3), "CE": 4.0 + (i % 5) / 2, "CU": 5.0 + (i % 4) / 2}
    return TrainItem(item_id, Audio(x, SR, item_id), labels, system)


def demo_sweep(folder: str | Path, n_train: int = 6, n_natural: int = 8, n_proxy: int = 30, epochs: int = 1,
               ensemble: str | None = None, progress=None) -> tuple[Path, SweepReport]:
    """Train the ``paper`` recipe (plus the ablation members) on synthetic data; write model + sweep files."""
    from mmmos_core.model.trienc import build_trienc_dir

    folder = Path(folder)
    encoders = dict(build_trienc_dir(folder / "random-trienc", size="tiny", members=1).encoders)
    train = [synthetic_item(i, "train") for i in range(n_train)]
    natural = [synthetic_item(100 + i, "natural") for i in range(n_natural)]
    proxy = [synthetic_item(200 + i, "pam") for i in range(n_proxy)]
    settings = settings_for("paper", list(encoders), ensemble=ensemble, with_ablation=True, epochs=epochs)
    settings = replace(settings, hidden=16)
    model, report = train_ensemble(encoders, train, natural, proxy, settings, name="paper-demo",
                                   note="random encoders, synthetic data: for testing the commands only",
                                   progress=progress or (lambda m: None))
    out = model.save_pretrained(folder / "sweep")
    report.write(out)
    return out, report
