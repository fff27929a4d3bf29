"""`mmmos predict`: score files, lists of files, corpora (local or Ray), to a file or stdout."""

from __future__ import annotations

import sys
from typing import Any, Iterable

from mmmos_core.errors import MMMOSError


def _input_items(args) -> list[dict[str, Any]]:
    items = [{"path": p} for p in args.paths]
    if args.input:
        from mmmos_core.batch import read_input_list

        items += read_input_list(args.input)
    if not items:
        raise MMMOSError("nothing to score: give audio paths or --input LIST")
    return items


def _report_errors(records: Iterable[dict[str, Any]]) -> None:
    errors = [record["error"] for record in records if record.get("error")]
    for error in errors:
        print(f"mmmos: {error}", file=sys.stderr)
    _print_cli_hints(errors)


def _print_cli_hints(errors: list[str]) -> None:
    """Advice that only makes sense on the command line; the core's messages leave it out
    because the app shows them to web visitors too (see `AudioInputError.hint`)."""
    from mmmos_core.model.audio import CLI_DURATION_HINT, OVER_LENGTH_MARK

    if any(OVER_LENGTH_MARK in e for e in errors):
        print(f"mmmos: hint: {CLI_DURATION_HINT}", file=sys.stderr)


def cmd_predict(args) -> int:
    from mmmos_core.batch import read_output_records, run_local_predict

    items = _input_items(args)
    to_file = args.output not in (None, "-")
    if args.reference_path and not args.reference:
        args.reference = "audiobox"  # the one peer with a checkpoint path: a path alone says which is meant
    if args.engine == "ray" and args.reference not in (None, "audiobox"):
        raise MMMOSError(f"--engine ray supports --reference audiobox only, not {args.reference}")
    if args.engine == "ray":
        if args.timeline:
            raise MMMOSError("--timeline runs on the local engine (one record per clip with its windows)")
        if not to_file:
            raise MMMOSError("--engine ray needs --output FILE (results are written in resumable parts)")
        from mmmos_core.batch.ray_engine import run_ray_predict

        summary = run_ray_predict(items, args.output, args.model, args.address, args.num_workers,
                                  args.batch_size, args.gpus_per_worker, progress=not args.quiet,
                                  max_duration_s=args.max_duration,
                                  reference=(args.reference, args.reference_path) if args.reference else None)
    else:
        from mmmos_core import load_model

        model = load_model(args.model, device=args.device, max_duration_s=args.max_duration,
                           reference=args.reference, reference_path=args.reference_path)
        if args.timeline:
            from mmmos_core.batch.timeline import run_timeline_predict

            return 1 if run_timeline_predict(items, model, args.output) else 0
        # To a file: written in parts and merged atomically, so a rerun into the same file resumes.
        # To standard output: each record as soon as it is scored.
        summary = run_local_predict(items, args.output if to_file else None, model, batch_size=args.batch_size,
                                    progress=not args.quiet and to_file)
        if to_file:
            print(summary.line(), file=sys.stderr)
    if summary.failed:
        where = f"in {args.output}" if to_file else "on standard output"
        if to_file:
            _report_errors(read_output_records(args.output))
        print(f"mmmos: {summary.failed} of {len(items)} inputs failed (see their error records {where})",
              file=sys.stderr)
    return 1 if summary.failed else 0


def add_parsers(sub) -> None:
    pr = sub.add_parser("predict", help="score audio files")
    pr.add_argument("paths", nargs="*", help="audio files (wav, flac, ogg, mp3)")
    pr.add_argument("--input", help="list of inputs: JSONL with {'path', 'start_time'?, 'end_time'?} per line")
    pr.add_argument("--output", help="JSONL (default, stdout) or .csv")
    pr.add_argument("--model", default="lite", help="'lite', 'trienc-random', a model directory or a hub id")
    pr.add_argument("--device", default=None, help="torch device, e.g. cuda")
    pr.add_argument("--max-duration", type=float, default=600.0, help="seconds; longer inputs are rejected")
    pr.add_argument("--batch-size", type=int, default=8, help="clips per member pass (ray: per worker batch)")
    pr.add_argument("--engine", choices=["local", "ray"], default="local")
    pr.add_argument("--address", default=None, help="ray: join this cluster instead of starting one")
    pr.add_argument("--num-workers", type=int, default=2, help="ray: model replicas (actors)")
    pr.add_argument("--gpus-per-worker", type=float, default=0.0, help="ray: GPUs per actor")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.add_argument("--reference", choices=["audiobox", "dnsmos"], default=None,
                    help="also score with a peer model, added as a 'reference' block to each record: "
                         "'audiobox' (Meta's Audiobox Aesthetics, 1-10, needs requirements-audiobox.txt) or "
                         "'dnsmos' (Microsoft's DNSMOS SIG/BAK/OVRL/P808, 1-5, speech only, offline)")
    pr.add_argument("--timeline", action="store_true",
                    help="add each clip's 'windows' (start, end, four scores, member spread); JSONL only")
    pr.add_argument("--reference-path", default=None,
                    help="the reference's checkpoint.pt (or its folder); default: $MMMOS_HOME/reference/"
                         "audiobox-aesthetics, then the Hugging Face cache")
    pr.set_defaults(func=cmd_predict)
