"""`python -m explorer predict`: run a model on image files or folders; write annotated PNGs, results.json and
images.json (the same prediction the Detections page makes, through explorer.engine.predict)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from explorer.cli.model_options import add_model_options, load_runner_for
from explorer.errors import ExplorerError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `predict` to `subparsers` (argparse's add_subparsers() result); it sets `run`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "predict", help="run a model on images; write annotated PNGs and results.json")
    add_model_options(parser)
    parser.add_argument("--images", type=Path, nargs="+", required=True,
                        help="image files or folders; a folder's subfolders are read too, and each image is named "
                             "by its path relative to the folder given (sub/img.jpg) in images.json and annotated/")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--score-thresh", type=float, default=0.05, help="keep detections at or above this")
    parser.add_argument("--draw-thresh", type=float, default=0.5, help="draw detections at or above this")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> str:
    from explorer.cli.progress import count_bar
    from explorer.engine.predict import image_inputs, predict_files

    runner, _ = load_runner_for(args)
    paths = image_inputs(args.images)
    if not paths:
        raise ExplorerError("no images found in the given paths")
    summary = predict_files(runner, paths, args.out, batch_size=args.batch_size, score_thresh=args.score_thresh,
                            draw_thresh=args.draw_thresh, progress=count_bar("image"))
    for error in summary.errors:
        print(f"skipped: {error}", file=sys.stderr)
    if not summary.counts:
        raise ExplorerError(f"none of the {len(paths)} images could be read")
    lines = [f"{name}: {count} detections" for name, count in summary.counts.items()]
    lines += [f"wrote {summary.results_path}, {summary.images_path} and {len(summary.annotated)} annotated images"]
    return "\n".join(lines) + "\n"
