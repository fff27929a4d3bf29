"""The authors' data split: challenge train + 800 AES-PAM clips to train, dev + 200 PAM to validate.

The authors train on their ``combined_train.csv`` (the 2,700 challenge training clips
plus 800 AES-PAM clips) and validate on ``combined_dev.csv`` (the 250 challenge dev
clips plus the other 200 PAM clips). Which 800 PAM clips they took is not known to
this project, so the PAM part of the shipped lists comes from a deterministic rule
(`pam_validation_ids`): within each PAM folder (generator, or real audio/music), the 20% of clips whose ids
hash lowest (SHA-256) validate and the rest train. Same sizes, same generator mix; not
claimed to be the same clips.

The lists are shipped in ``mmmos_core/assets/paper_split/`` and are exactly what
`write_split_files` writes from ../shared/aes_labels (a test checks this).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

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
# ../shared/aes_labels (challenge: sample_id; AES-PAM: data_path). Source: the AudioMOS 2025
# track-2 official {official} list, plus the AES-PAM clips that mmmos_core/training/paper_split.py
# assigns to the {part} part by its documented rule (per folder, e.g. audio/real, music/musicldm,
# the 20% with the lowest SHA-256 of the id validate). The authors' combined_train.csv / combined_dev.csv have
# the same sizes, but their PAM clips are not known here: this is NOT claimed to be their split.
"""


def write_split_files(challenge_train: Sequence[str], challenge_dev: Sequence[str], pam: Sequence[str],
                      folder: Path = SPLIT_DIR) -> tuple[Path, Path]:
    validation = pam_validation_ids(pam)
    train = list(challenge_train) + sorted(i for i in pam if i not in validation)
    dev = list(challenge_dev) + sorted(validation)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, ids, what, official, part in ((TRAIN_FILE, train, "Training ids", "train", "training"),
                                            (DEV_FILE, dev, "Validation ids", "dev", "validation")):
        path = folder / name
        path.write_text(HEADER.format(what=what, count=len(ids), official=official, part=part) + "\n".join(ids) + "\n")
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
    shipped lists decide; for any other proxy set (another listening test, a synthetic
    stand-in) the same rule is applied to its ids, and a note says so.
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
                     f"{len(validation)} validation clips were chosen by the same per-folder hash rule")
    moved = [p for p in proxy if p.id not in validation]
    kept = [p for p in proxy if p.id in validation]
    if len(kept) < 2 or not moved:
        raise MMMOSError(f"the paper split of the proxy set leaves {len(moved)} clips to train on and "
                         f"{len(kept)} to validate on; it needs at least 1 and 2 (use --recipe mmmos or a "
                         "larger proxy set)")
    return Split(list(train) + moved, list(natural), kept, notes)
