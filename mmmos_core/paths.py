"""Where things live on disk: the package's own assets, a checkout's folders, the user cache.

Only the package's assets are guaranteed: a wheel installed anywhere carries them. The
checkout folders (``assets/`` with the example clips, ``../shared``) exist in a clone or a
Space and are looked up, never assumed.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Shipped models (package data): present in every install, wheel or editable.
PACKAGE_ASSETS = PACKAGE_DIR / "assets"
# A checkout's top level; meaningless for a wheel installed into site-packages.
REPO_ROOT = PACKAGE_DIR.parent
# Example clips and the listening-test config of a checkout (or a Space built from one).
REPO_ASSETS = REPO_ROOT / "assets"
EXAMPLES_DIR = REPO_ASSETS / "examples"


def mmmos_home() -> Path:
    """The user cache of downloaded encoders, reference peers and hub models."""
    return Path(os.environ.get("MMMOS_HOME", Path.home() / ".cache" / "mmmos"))


def shared_dir() -> Path:
    """The team's shared material (real recordings, AES labels): ``MMMOS_SHARED`` or the
    folder beside a checkout. May not exist: callers say what is missing."""
    return Path(os.environ.get("MMMOS_SHARED", REPO_ROOT.parent / "shared"))


def shared_audio_dir() -> Path:
    """Real recordings: ``MMMOS_SHARED_AUDIO`` or ``shared_dir()/audio``."""
    env = os.environ.get("MMMOS_SHARED_AUDIO")
    return Path(env) if env else shared_dir() / "audio"
