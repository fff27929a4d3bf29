"""A built wheel is self-contained: installed into a fresh virtualenv and run from a folder
outside the repository, `mmmos predict` scores a clip with the default model it carries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from conftest import REPO, shared_clips

pytestmark = pytest.mark.slow


def test_wheel_installs_and_scores_outside_the_repository(tmp_path):
    pytest.importorskip("build")
    dist = tmp_path / "dist"
    # --no-isolation: build with the setuptools already here instead of fetching one.
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
                   check=True, capture_output=True, text=True)
    wheel = next(dist.glob("mmmos-*.whl"))

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # The dependencies (torch & co, ~2 GB) come from this environment through a path entry;
    # a path entry's own .pth files are not run, so this environment's editable install of
    # mmmos does not leak in. The package itself comes only from the wheel.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # Nothing of the checkout may leak in: a PYTHONPATH to it would let pip see the build's
    # egg-info there as "already installed".
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MMMOS_LITE_DIR")}
    env["HF_HUB_OFFLINE"] = "1"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--force-reinstall", "-q", str(wheel)], check=True, capture_output=True, text=True, env=env)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    clip = shared_clips()[0]
    where = subprocess.run([str(python), "-c", "import mmmos_core; print(mmmos_core.__file__)"], cwd=outside,
                           env=env, check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(env_dir), where
    proc = subprocess.run([str(env_dir / "bin" / "mmmos"), "predict", str(clip)], cwd=outside, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["model"] == "mmmos-lite" and 1.0 <= record["PQ"] <= 10.0
