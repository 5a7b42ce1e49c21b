"""The `eval` command's TIDE options: --tide (print the dAP of each error type), --tide-csv OUT (the table:
category_id, category, error, dap) and --per-image OUT.csv (image_id, file_name, ap, tp, fp, fn).

Kept apart from evaluate.py so the `eval` command only calls `add_arguments` and `run_for`. With several --dt files
each CSV gets the results file's stem appended, as --per-category does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from explorer.evaluation.analyses.per_image import per_image_csv_frame, per_image_table
from explorer.evaluation.analyses.tide import BG_THRESHOLD, POS_THRESHOLD, classify, tide_errors
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import GroundTruth
from explorer.evaluation.inputs.result_columns import read_result_columns


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tide", action="store_true",
                        help="also print TIDE's error types (cls, loc, both, dupe, bkg, miss, false_pos, "
                             "false_neg) and the AP each costs (bbox and segm)")
    parser.add_argument("--tide-csv", type=Path, default=None, metavar="OUT.csv",
                        help="write the TIDE table here (category_id, category, error, dap; implies --tide)")
    parser.add_argument("--per-image", type=Path, default=None, metavar="OUT.csv",
                        help="write one row per image (image_id, file_name, ap, tp, fp, fn), worst first")
    parser.add_argument("--per-image-iou", type=float, default=POS_THRESHOLD,
                        help=f"IoU for a true positive in --per-image (default {POS_THRESHOLD})")
    parser.add_argument("--per-image-score", type=float, default=0.0,
                        help="only detections scoring at least this count in --per-image (default 0)")


def wanted(args: argparse.Namespace) -> bool:
    return bool(args.tide or args.tide_csv or args.per_image)


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse what cannot work before anything is evaluated."""
    if wanted(args) and args.iou_type == "keypoints":
        raise EvaluationInputError("--tide, --tide-csv and --per-image need --iou-type bbox or segm")
    if not 0 < args.per_image_iou <= 1:
        raise EvaluationInputError(f"--per-image-iou must be in (0, 1], got {args.per_image_iou}")


def run_for(args: argparse.Namespace, gt: GroundTruth, path: Path, tide_out: Path | None,
            per_image_out: Path | None, max_bytes: int) -> str:
    """The TIDE block printed for one results file, writing its CSVs."""
    if not wanted(args):
        return ""
    results = read_result_columns(path, gt.prepare(args.iou_type), what=path.name, max_bytes=max_bytes)
    block = ""
    if args.tide or args.tide_csv:
        errors = tide_errors(classify(gt, results, args.iou_type), gt.category_names)
        block += errors.summary_text()
        if tide_out is not None:
            _write(errors.to_frame(), tide_out)
            block += f"wrote {tide_out}\n"
    if per_image_out is not None:
        classification = classify(gt, results, args.iou_type, pos_threshold=args.per_image_iou,
                                  bg_threshold=min(BG_THRESHOLD, args.per_image_iou),
                                  score_threshold=args.per_image_score)
        _write(per_image_csv_frame(per_image_table(classification, gt)), per_image_out)
        block += f"wrote {per_image_out}\n"
    return block


def _write(frame: pd.DataFrame, path: Path) -> None:
    try:
        frame.to_csv(path, index=False, float_format="%.2f")  # AP points, as TIDE prints them
    except OSError as error:
        raise EvaluationInputError(f"cannot write {path}: {error.strerror or error}") from None

