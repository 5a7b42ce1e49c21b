"""`python -m explorer.evaluation --gt ... --dt ... --iou-type ...`: the `eval` command on its own.

The same parser and run function `python -m explorer eval` uses, with the same error handling (one line on
stderr, exit code 2), so the command works and is testable whether or not explorer/cli/main.py wires it in.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from explorer.cli.evaluate import add_eval_parser
from explorer.evaluation.errors import EvaluationInputError

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.evaluation")
    commands = parser.add_subparsers(dest="command")
    eval_parser = add_eval_parser(commands)
    args = eval_parser.parse_args(argv)
    try:
        output = args.run(args)
    except EvaluationInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
