"""`python -m explorer zoo`: the merged zoo table with its derived columns, as CSV, JSON or Markdown."""

from __future__ import annotations

import argparse
from typing import Any

from explorer.zoo.schema import ZOOS


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `zoo` to `subparsers` (argparse's add_subparsers() result); it sets `run`."""
    parser: argparse.ArgumentParser = subparsers.add_parser("zoo", help="print the merged zoo table with derived "
                                                                        "columns")
    parser.add_argument("--zoo", default="all", help=f"one of {', '.join(ZOOS)}, all (default: all)")
    parser.add_argument("--format", default="csv", choices=("csv", "json", "markdown"))
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> str:
    from explorer.models.catalog import runnable_mask
    from explorer.zoo.export import export_frame, render
    from explorer.zoo.table import load_zoo, load_zoo_text

    zoos = [args.zoo]
    table = load_zoo(zoos)
    table["runnable"] = runnable_mask(table)  # as the Zoo tables page shows it ("runs here")
    return render(export_frame(table, load_zoo_text(zoos)), args.format)
