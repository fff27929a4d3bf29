"""Settings of the headless Chromium the app's Playwright tests drive (Debian's chromium:
Playwright's own browser download does not work here); the `browser` fixture is in conftest."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
