"""Command line: `python -m explorer <command>` (or the `explorer` console script), the same library calls the
dashboard makes.

This module only builds the parser from the command modules (each adds its sub-parser with `add_parser` and
sets `run`, which returns the text to print) and maps errors: an `ExplorerError` (bad input, unknown zoo, model
id or metric, unreachable download) prints one `error: ...` line to stderr and exits with 2; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from explorer.cli import bench, build_zoo, card, convert, evaluate, export, predict, rank, sweep, verify, zoo
from explorer.errors import ExplorerError

EXIT_USAGE = 2

#: The command modules, in the order `--help` lists them.
COMMANDS = (zoo, rank, card, predict, bench, export, evaluate, convert, verify, sweep, build_zoo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m explorer", description="Detectron Zoo Explorer")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def one_line(message: str) -> str:
    """A message on one line: its lines joined with spaces, so `error: ...` stays a single line of stderr."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command (`argv` defaults to sys.argv[1:]); the exit status: 0, or 2 for a user error."""
    args = build_parser().parse_args(argv)
    try:
        output = args.run(args)
    except ExplorerError as error:
        print(f"error: {one_line(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(output)
    return 0
