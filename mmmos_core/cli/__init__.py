"""`mmmos`: predict, train, evaluate, bench and more. A thin shell over the library: each
subcommand's module parses its arguments and calls `mmmos_core`."""

from __future__ import annotations

import argparse
import sys

from mmmos_core.errors import MMMOSError

from . import evaluate, predict, tools, train


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mmmos", description="Predict PQ, PC, CE and CU (1-10) for any audio.")
    sub = p.add_subparsers(dest="command", required=True)
    for module in (predict, train, evaluate, tools):
        module.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MMMOSError as exc:
        print(f"mmmos: error: {exc}", file=sys.stderr)
        if getattr(exc, "hint", ""):
            print(f"mmmos: hint: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mmmos: interrupted", file=sys.stderr)
        return 130
