"""The authors' data split: challenge train + 800 AES-PAM clips to train, dev + 200 PAM to validate.

The authors train on their ``combined_train.csv`` (the 2,700 challenge training clips
plus 800 AES-PAM clips) and validate on ``combined_dev.csv`` (the 250 challenge dev
clips plus the other 200 PAM clips), both in github robert0518/MMMOS
(``audiomos2025_track2/``, repository commit 33de0d3). Their ids are shipped in
``mmmos_core/assets/paper_split/`` (ids only, in the authors' order; the labels come
from ../shared/aes_labels as for every other manifest), written by
`write_split_files` from those two CSVs.

A proxy set that is not AES-PAM (another listening test, the offline demo's synthetic
stand-in) is split by a documented rule instead (`pam_validation_ids`): within each
folder of ids, the 20% with the lowest SHA-256 validate, like the authors' 200 of 1,000.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable

from mmmos_core.errors import MMMOSError

SPLIT_DIR = Path(__file__).resolve().parent.parent / "assets" / "paper_split"
TRAIN_FILE, DEV_FILE = "combined_train_ids.txt", "combined_dev_ids.txt"
PAM_VALIDATION_SHARE = 0.2  # 200 of 1,000


def _generator(item_id: str) -> str:
    return str(PurePosixPath(item_id.replace("\\", "/")).parent)


def _hash(item_id: str) -> str:
    return hashlib.sha256(item_id.encode("utf-8")).hexdigest()


def pam_validation_ids(ids: Iterable[str], share: float = PAM_VALIDATION_SHARE) -> set[str]:
    """Per generator folder, the ``share`` of ids with the lowest SHA-256 (rounded) validate."""
    groups: dict[str, list[str]] = defaultdict(list)
    for item_id in ids:
        groups[_generator(item_id)].append(item_id)
    chosen: set[str] = set()
    for members in groups.values():
        members.sort(key=_hash)
        chosen.update(members[:int(math.floor(len(members) * share + 0.5))])
    return chosen


def read_id_list(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def shipped_lists() -> tuple[list[str], list[str]]:
    return read_id_list(SPLIT_DIR / TRAIN_FILE), read_id_list(SPLIT_DIR / DEV_FILE)


HEADER = """# {what} of the MMMOS paper recipe ({count} ids), one id per line as mmmos reads them from
# ../shared/aes_labels (challenge clips: sample_id; AES-PAM clips: data_path).
# Source: the authors' audiomos2025_track2/{source} in github robert0518/MMMOS
# (commit 33de0d3f93147d7c6dbf5249b8c2e1524ef6f1b6): the official challenge {official} list
# plus {pam} AES-PAM clips. Ids only; written by mmmos_core/training/paper_split.py.
"""


def write_split_files(combined_train_csv: str | Path, combined_dev_csv: str | Path,
                      folder: Path = SPLIT_DIR) -> tuple[Path, Path]:
    """Write the two id lists from the authors' CSVs (``sample_id`` column, BOM tolerated)."""
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for source, name, what, official in ((combined_train_csv, TRAIN_FILE, "Training ids", "train"),
                                         (combined_dev_csv, DEV_FILE, "Validation ids", "dev")):
        with open(source, newline="", encoding="utf-8-sig") as f:
            ids = [row["sample_id"] for row in csv.DictReader(f)]
        pam = sum(1 for i in ids if "/PAM/" in i)
        path = folder / name
        path.write_text(HEADER.format(what=what, count=len(ids), source=Path(source).name,
                                      official=official, pam=pam) + "\n".join(ids) + "\n")
        out.append(path)
    return out[0], out[1]


@dataclass
class Split:
    train: list
    natural: list
    proxy: list
    notes: list[str] = field(default_factory=list)


def apply_paper_split(train: list, natural: list, proxy: list) -> Split:
    """Move the training part of the proxy (PAM) set into training; keep the rest as proxy validation.

    Items are anything with an ``id``. When the proxy ids are the AES-PAM ids, the
    authors' lists decide; for any other proxy set (another listening test, a synthetic
    stand-in) `pam_validation_ids` picks its 20%, and a note says so.
    """
    listed_train, listed_dev = shipped_lists()
    listed_train_set, listed_dev_set = set(listed_train), set(listed_dev)
    proxy_ids = [p.id for p in proxy]
    notes = []
    if all(i in listed_train_set or i in listed_dev_set for i in proxy_ids):
        validation = {i for i in proxy_ids if i in listed_dev_set}
    else:
        validation = pam_validation_ids(proxy_ids)
        notes.append(f"the proxy set's ids are not the AES-PAM ids of the shipped split; its "
                     f"{len(validation)} validation clips were chosen by the per-folder hash rule (20%)")
    have = {t.id for t in train}
    moved = [p for p in proxy if p.id not in validation]
    kept = [p for p in proxy if p.id in validation]
    if any(p.id in have for p in moved):  # e.g. --train given as the authors' combined_train.csv
        notes.append(f"{sum(p.id in have for p in moved)} PAM training clips were already in the training "
                     "manifest and are not added twice")
        moved = [p for p in moved if p.id not in have]
    if len(kept) < 2 or not (moved or have & set(proxy_ids)):
        raise MMMOSError(f"the paper split of the proxy set leaves {len(moved)} clips to train on and "
                         f"{len(kept)} to validate on; it needs at least 1 and 2 (use --recipe mmmos or a "
                         "larger proxy set)")
    return Split(list(train) + moved, list(natural), kept, notes)
