"""One rule pairs predictions with labelled clips: `mmmos evaluate` (labels.join) and Compare agree."""

from __future__ import annotations

from mmmos_core.axes import AXES
from mmmos_core.labels import LabelRow, PredictionRow, join, match_ids
from mmmos_core.studies.agreement import RatingTable
from mmmos_core.studies.compare import HumanItem, HumanRatings, match_predictions

LABELS = [  # (id, path)
    ("/your_path/EARS/p001/emo_happy.wav", None),
    ("/your_path/EARS/p002/emo_happy.wav", None),   # same file name, another speaker
    ("/your_path/PAM/sysA/clip_01.wav", None),
    ("/your_path/PAM/sysB/clip_01.wav", None),
    ("c-solo", "/data/music/solo_take.flac"),        # id is not a path; the path is
    ("track.mp3", None),
]
PREDICTIONS = [
    "/home/me/corpora/EARS/p002/emo_happy.wav",  # tail p002/emo_happy.wav is unique -> label 1
    "emo_happy.wav",                              # names two labels: ambiguous, no pair
    r"C:\audio\PAM\sysB\clip_01.flac",            # backslashes and another extension -> label 3
    "/mnt/solo_take.wav",                         # stem of label 4's path -> label 4
    "c-solo",                                     # exact id of label 4, already taken -> unmatched
    "track.mp3",                                  # exact id
    "/elsewhere/unknown.wav",
]
EXPECTED = [1, None, 3, 4, None, 5, None]


def test_the_rule_on_tricky_names():
    assert match_ids(PREDICTIONS, LABELS) == EXPECTED


def test_evaluate_and_compare_pair_the_same_files():
    scores = {a: 5.0 for a in AXES}
    labels = [LabelRow(i, p, dict(scores)) for i, p in LABELS]
    joined = join([PredictionRow(pid, dict(scores)) for pid in PREDICTIONS], labels)
    table = RatingTable.from_long([("r1", i, scores) for i, _ in LABELS])
    human = HumanRatings(table, {i: HumanItem(i, p) for i, p in LABELS}, "labels", "means")
    matched, unmatched = match_predictions(human, [(pid, scores) for pid in PREDICTIONS])
    assert set(matched) == set(joined.ids)  # the same clips are paired, by the same predictions:
    assert set(matched) == {LABELS[h][0] for h in EXPECTED if h is not None}
    assert unmatched == joined.unmatched_predictions == ["emo_happy.wav", "c-solo", "/elsewhere/unknown.wav"]
