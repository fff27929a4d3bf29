"""Shared fixtures: the real clips in ../shared/audio and small real models built offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
SHARED_AUDIO = REPO.parent / "shared" / "audio"


def shared_clips() -> list[Path]:
    return sorted(SHARED_AUDIO.glob("*.wav"))


@pytest.fixture(scope="session")
def clips() -> list[Path]:
    found = shared_clips()
    if not found:
        pytest.skip(f"no shared clips at {SHARED_AUDIO}")
    return found


def logmel_config(name: str = "test-logmel", aggregators=("mlp", "blstm", "mlp", "blstm_t")):
    from mmmos_core.member import MemberConfig
    from mmmos_core.model import ModelConfig

    members = [MemberConfig(f"m{i}-{agg}", ["logmel"], agg, hidden=32) for i, agg in enumerate(aggregators)]
    return ModelConfig(name=name, encoders={"logmel": {"kind": "logmel", "config": {}}}, members=members,
                       target_mean=[5.0, 4.0, 5.5, 5.0], target_std=[1.5, 1.2, 1.4, 1.3])


@pytest.fixture(scope="session")
def logmel_model_dir(tmp_path_factory) -> Path:
    """A small untrained-but-seeded model saved to disk: real code path, fast to load."""
    from mmmos_core.model import build_model

    path = tmp_path_factory.mktemp("model") / "test-logmel"
    build_model(logmel_config(), seed=0).save_pretrained(path)
    return path
