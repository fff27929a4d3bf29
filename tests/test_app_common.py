"""Helpers every tab shares: download folders do not pile up."""

import os
import time

import pytest

pytest.importorskip("gradio")

from mmmos_app.common import scratch_dir  # noqa: E402


def test_old_download_folders_are_removed_by_the_next_answer():
    first = scratch_dir("batch-", max_age_s=60)
    (first / "mmmos_scores.csv").write_text("path\n")
    long_ago = time.time() - 3600
    os.utime(first, (long_ago, long_ago))
    second = scratch_dir("batch-", max_age_s=60)
    assert second.is_dir() and not first.exists()
    third = scratch_dir("report-", max_age_s=60)  # a young folder stays: its download may be under way
    assert second.exists() and third.parent == second.parent
