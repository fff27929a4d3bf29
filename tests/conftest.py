"""Shared fixtures: the real clips in ../shared/audio and small real models built offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from mmmos_core.paths import EXAMPLES_DIR, shared_audio_dir, shared_dir  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# The team's real recordings beside the checkout (MMMOS_SHARED_AUDIO / MMMOS_SHARED move
# them); a clone without them (e.g. from a public host) uses the repository's own example
# clips, which are real recordings too, so the suite still runs on real audio.
SHARED_AUDIO = shared_audio_dir()
REAL_AUDIO = SHARED_AUDIO if any(SHARED_AUDIO.glob("*.wav")) else EXAMPLES_DIR
# The public Audiobox Aesthetics ratings; tests of label statistics skip without them.
AES_LABELS = shared_dir() / "aes_labels"


def shared_clips() -> list[Path]:
    """Real recordings: the shared ones, else the bundled examples."""
    return sorted(REAL_AUDIO.glob("*.wav"))


def need_aes_labels() -> Path:
    if not (AES_LABELS / "AES_PAM.jsonl").is_file():
        pytest.skip(f"the Audiobox Aesthetics ratings are not at {AES_LABELS}")
    return AES_LABELS


@pytest.fixture(scope="session")
def shared_recordings() -> Path:
    """The 21 shared recordings themselves: tests of the lite model's held-out split (defined
    over their names) and of manifests that need more clips than the examples hold."""
    if not any(SHARED_AUDIO.glob("*.wav")):
        pytest.skip(f"needs the shared recordings at {SHARED_AUDIO} (the lite split is defined over them)")
    return SHARED_AUDIO


@pytest.fixture(scope="session")
def clips() -> list[Path]:
    found = shared_clips()
    if not found:
        pytest.skip(f"no real clips at {SHARED_AUDIO} nor {EXAMPLES_DIR}")
    return found


def logmel_config(name: str = "test-logmel", aggregators=("mlp", "blstm", "mlp", "blstm_t")):
    from mmmos_core.model.member import MemberConfig
    from mmmos_core.model.mmmos_model import ModelConfig

    members = [MemberConfig(f"m{i}-{agg}", ["logmel"], agg, hidden=32) for i, agg in enumerate(aggregators)]
    return ModelConfig(name=name, encoders={"logmel": {"kind": "logmel", "config": {}}}, members=members,
                       target_mean=[5.0, 4.0, 5.5, 5.0], target_std=[1.5, 1.2, 1.4, 1.3])


@pytest.fixture(scope="session")
def logmel_model_dir(tmp_path_factory) -> Path:
    """A small untrained-but-seeded model saved to disk: real code path, fast to load."""
    from mmmos_core.model.mmmos_model import build_model

    path = tmp_path_factory.mktemp("model") / "test-logmel"
    build_model(logmel_config(), seed=0).save_pretrained(path)
    return path


def encode_alone_and_padded(encoder, short, long):
    """Encode ``short`` alone and zero-padded in a batch beside ``long``; assert padding is invisible.

    Returns (valid frames of ``short``, the batched output) for encoder-specific checks.
    """
    import torch

    from mmmos_core.model.pooling import masked_mean

    alone = encoder.encode(short[None], torch.tensor([len(short)]))
    batch = torch.zeros(2, len(long))
    batch[0, :len(short)] = short
    batch[1] = long
    together = encoder.encode(batch, torch.tensor([len(short), len(long)]))
    n = int(alone.mask.sum())
    assert int(together.mask[0].sum()) == n
    torch.testing.assert_close(together.frames[0, :, :n], alone.frames[0, :, :n], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(masked_mean(together.frames[:1], together.mask[:1]),
                               masked_mean(alone.frames, alone.mask), atol=1e-5, rtol=1e-5)
    return n, together


def assert_encode_alike(first, second, x, exact: bool = False):
    """``first`` and ``second`` encode the 1-D clip ``x`` to the same frames (bit for bit if ``exact``)."""
    import torch

    lengths = torch.tensor([len(x)])
    a = first.encode(x[None], lengths).frames
    b = second.encode(x[None], lengths).frames
    if exact:
        assert torch.equal(a, b)
    else:
        torch.testing.assert_close(a, b)


@pytest.fixture(scope="session")
def paper_demo_sweep(tmp_path_factory):
    """One epoch of the `paper` recipe (plus the ablation members) on tiny random TriEnc
    encoders and synthetic clips: (sweep directory, SweepReport). Built once: it encodes
    about 45 clips with three encoders."""
    from mmmos_core.training.demo_sweep import demo_sweep

    return demo_sweep(tmp_path_factory.mktemp("paper-demo"))


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (tests/_browser.py has its settings)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    from _browser import ARGS, CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
