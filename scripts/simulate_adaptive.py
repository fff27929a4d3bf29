"""Print the adaptive-order simulation's table for a multi-rater label file (the numbers in docs/app.md).

``python -m scripts.simulate_adaptive ../shared/aes_labels/AES_natural_speech.jsonl --runs 10``
gives the same table as Compare's *Adaptive order* panel with the same settings.
"""

from __future__ import annotations

import argparse

from mmmos_core.studies.adaptive_sim import SimulationSettings, parse_targets, simulate_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels", help="label file with a list of individual ratings per axis")
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--raters", type=int, default=10)
    parser.add_argument("--session-clips", type=int, default=10)
    parser.add_argument("--targets", default="3, 2.5, 2, 1.5")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = SimulationSettings(args.items, args.raters, args.session_clips, parse_targets(args.targets), args.runs,
                                  args.seed)
    result = simulate_file(args.labels, settings)
    for note in result.notes:
        print(note)
    print(result.summary.to_string(index=False))


if __name__ == "__main__":
    main()
