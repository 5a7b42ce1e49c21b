"""`python -m explorer card ID`: one model's card (every field, links, config, neighbours) as Markdown."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `card` to `subparsers` (argparse's add_subparsers() result); it sets `run`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "card", help="print one model's card (all fields, links, config, neighbours)")
    parser.add_argument("model", help="model id, e.g. 35861858")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> str:
    from explorer.zoo.card import model_card_markdown
    from explorer.zoo.table import find_model, load_configs, load_notes, load_zoo

    table = load_zoo()
    rows = find_model(table, args.model)
    return model_card_markdown(table, rows, load_configs(), load_notes())
