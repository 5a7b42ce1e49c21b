"""`python -m explorer build-zoo [--reference DIR] [--out DIR]`: regenerate `zoo_data/` from the reference pages.

The build itself is explorer.zoo_build.zoo_data (deterministic, so tests/test_zoo_build.py can check the committed files
byte for byte); this command checks the reference folder, writes the files and lists them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from explorer.errors import MissingPathError
from explorer.zoo.paths import DEFAULT_REFERENCE_DIR, ZOO_DATA_DIR

#: The reference folder's parts the build reads: the Detectron and Detectron2 zoo pages (and configs).
REFERENCE_PARTS = ("detectron", "detectron2")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `build-zoo` to `subparsers` (argparse's add_subparsers() result); it sets `run`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "build-zoo", help="regenerate zoo_data/ from the reference pages and torchvision's installed metadata")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE_DIR,
                        help="folder with detectron/ and detectron2/ reference pages (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ZOO_DATA_DIR, help="output folder (default: %(default)s)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> str:
    from explorer.zoo_build.zoo_data import build_files, write_files

    missing = [f"{part}/" for part in REFERENCE_PARTS if not (args.reference / part).is_dir()]
    if missing:
        raise MissingPathError(f"{args.reference} is not a reference folder: it has no {' or '.join(missing)} "
                               "(the zoo pages the build reads)")
    files = build_files(args.reference)
    write_files(files, args.out)
    return "".join(f"{args.out / name}: {text.count(chr(10))} lines\n" for name, text in sorted(files.items()))
