"""`python -m explorer eval`: pycocotools' summary for one or more results files, and per-category CSVs.

    python -m explorer eval --gt instances_val2017.json --dt results.json --iou-type bbox \\
        [--dt other.json ...] [--per-category per_category.csv] [--breakdown] [--backend auto] \\
        [--keypoint-errors keypoint_errors.csv] [--kpt-sigmas S1,...] [--flip-pairs A:B,...]
        [--tide] [--tide-csv tide.csv] [--per-image per_image.csv]
        [--confusion confusion.csv [--confusion-iou 0.5] [--confusion-score 0.5]]
        [--operating-point operating_point.csv] [--calibration calibration.csv] [--score-iou 0.75]

Prints one block per results file: a header line, then pycocotools' summary lines exactly as its summarize()
prints them (and, with --breakdown, the error breakdown). --per-category writes the per-category table with
columns category_id, category, ap, ap50, ap75, ap_small, ap_medium, ap_large, ar100: percent with one decimal
as in the zoo tables, empty where undefined (a category without ground truth). With several --dt files it
writes one CSV per file, named after the --per-category path with the results file's stem appended
(per_category-results.csv, per_category-other.csv; -1, -2, ... when stems repeat), so every CSV has exactly
those columns. --confusion writes the confusion matrix (explorer.evaluation.analyses.confusion) as counts: first column
`ground_truth` (category names, then `background`), then one column per predicted category name and `background`;
several --dt files are named as for --per-category.

Every results file is read and checked before any is evaluated, so a broken second file fails in seconds, not
after the first one's evaluation. User errors raise EvaluationInputError (explorer/cli/main.py prints it as one
`error: ...` line and exits with 2).

The keypoint options, the TIDE options and the score options (operating point, calibration) are their own modules
(evaluate_keypoint_options.py, evaluate_tide_options.py, evaluate_score_options.py); this one adds them to the
parser and calls them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from explorer.cli import evaluate_score_options as score_options
from explorer.cli import evaluate_tide_options as tide_options
from explorer.cli.evaluate_keypoint_options import (
    add_keypoint_arguments,
    keypoint_options,
    render_keypoint_errors,
    write_keypoint_errors,
)
from explorer.evaluation.analyses.confusion import DEFAULT_IOU, DEFAULT_SCORE, confusion_matrix
from explorer.evaluation.analyses.confusion import check_options as check_confusion_options
from explorer.evaluation.analyses.keypoint_errors import analyse_keypoint_errors
from explorer.evaluation.coco.backends import BACKENDS
from explorer.evaluation.coco.breakdown import ERROR_NAMES, LABELS
from explorer.evaluation.coco.pipeline import evaluate
from explorer.evaluation.coco.results import Evaluation, percent_table
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import load_ground_truth
from explorer.evaluation.inputs.loading import DEFAULT_MAX_BYTES, read_json
from explorer.evaluation.inputs.result_checks import check_results
from explorer.tasks import IOU_TYPES


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `eval` sub-command to `subparsers` (argparse's add_subparsers() result); it sets `run`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "eval", help="COCO-evaluate results files against annotations (pycocotools summary, per-category table)",
        description="COCO evaluation with pycocotools' numbers, per category.")
    parser.add_argument("--gt", type=Path, required=True, help="COCO annotation file (e.g. instances_val2017.json)")
    parser.add_argument("--dt", type=Path, required=True, action="append",
                        help="COCO results file (a JSON list of detections); repeat to compare several")
    parser.add_argument("--iou-type", required=True, choices=IOU_TYPES, help="what to evaluate")
    parser.add_argument("--per-category", type=Path, default=None, metavar="OUT.csv",
                        help="write the per-category table here (several --dt: one file each, the results "
                             "file's stem appended to the name)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also print the error breakdown (C75/C50/Loc/Sim/Oth/BG/FN; three more evaluations)")
    parser.add_argument("--confusion", type=Path, default=None, metavar="OUT.csv",
                        help="write the confusion matrix here (counts; rows ground truth, columns predicted, "
                             "background last; several --dt: one file each, as --per-category)")
    parser.add_argument("--confusion-iou", type=float, default=DEFAULT_IOU, metavar="IOU",
                        help=f"IoU a detection needs to match an object in the confusion matrix "
                             f"(default {DEFAULT_IOU})")
    parser.add_argument("--confusion-score", type=float, default=DEFAULT_SCORE, metavar="SCORE",
                        help=f"detections below this score are left out of the confusion matrix "
                             f"(default {DEFAULT_SCORE})")
    parser.add_argument("--backend", default="auto", choices=("auto", *BACKENDS),
                        help="evaluator: auto (hotcoco when installed), or pycocotools (the reference); same numbers")
    parser.add_argument("--max-mb", type=float, default=DEFAULT_MAX_BYTES / 1024 / 1024,
                        help=f"refuse JSON files larger than this (default {DEFAULT_MAX_BYTES // 1024 // 1024})")
    add_keypoint_arguments(parser)
    tide_options.add_arguments(parser)
    score_options.add_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def per_category_paths(out: Path, results: Sequence[Path]) -> list[Path]:
    """Where each results file's CSV goes: `out` itself for one file, else `out` with the stem appended."""
    if len(results) == 1:
        return [out]
    stems = [path.stem for path in results]
    unique = len(set(stems)) == len(stems)
    tags = stems if unique else [f"{i + 1}" for i in range(len(results))]
    return [out.with_name(f"{out.stem}-{tag}{out.suffix or '.csv'}") for tag in tags]


def run(args: argparse.Namespace) -> str:
    """The `eval` command: the text to print. Raises EvaluationInputError for user errors."""
    if args.max_mb <= 0:
        raise EvaluationInputError("--max-mb must be positive")
    max_bytes = int(args.max_mb * 1024 * 1024)
    if args.confusion:
        check_confusion_options(args.iou_type, args.confusion_iou, args.confusion_score)
    score_options.check_arguments(args)
    gt = load_ground_truth(args.gt, max_bytes=max_bytes)
    gt.check_for(args.iou_type)
    sigmas, flip_pairs = keypoint_options(args, gt)
    tide_options.check_arguments(args)
    truth = gt.prepare(args.iou_type, sigmas)
    for path in args.dt:  # check every file before evaluating any
        check_results(read_json(path, what="results", max_bytes=max_bytes), truth, what=path.name)
    outputs = per_category_paths(args.per_category, args.dt) if args.per_category else [None] * len(args.dt)
    kpt_outputs = (per_category_paths(args.keypoint_errors, args.dt) if args.keypoint_errors
                   else [None] * len(args.dt))
    tide_outs = per_category_paths(args.tide_csv, args.dt) if args.tide_csv else [None] * len(args.dt)
    image_outs = per_category_paths(args.per_image, args.dt) if args.per_image else [None] * len(args.dt)
    confusions = per_category_paths(args.confusion, args.dt) if args.confusion else [None] * len(args.dt)
    operating = per_category_paths(args.operating_point, args.dt) if args.operating_point else [None] * len(args.dt)
    calibrations = per_category_paths(args.calibration, args.dt) if args.calibration else [None] * len(args.dt)
    blocks = []
    for path, out, kpt_out, tide_out, image_out, confusion_out, operating_out, calibration_out in zip(
            args.dt, outputs, kpt_outputs, tide_outs, image_outs, confusions, operating, calibrations, strict=True):
        evaluation = evaluate(gt, path, args.iou_type, backend=args.backend, analysis=args.breakdown,
                              max_bytes=max_bytes, kpt_sigmas=sigmas)
        block = render_summary(evaluation)
        if evaluation.breakdown is not None:
            block += render_breakdown(evaluation)
        if kpt_out is not None:
            errors = analyse_keypoint_errors(gt, path, kpt_sigmas=sigmas, flip_pairs=flip_pairs, backend=args.backend,
                                             original_ap=evaluation.stats[0], max_bytes=max_bytes,
                                             results_name=path.name, corrections=args.keypoint_corrections)
            write_keypoint_errors(errors, kpt_out)
            block += render_keypoint_errors(errors) + f"wrote {kpt_out}\n"
        if out is not None:
            write_per_category(evaluation, out)
            block += f"wrote {out}\n"
        block += tide_options.run_for(args, gt, path, tide_out, image_out, max_bytes)
        if confusion_out is not None:
            matrix = confusion_matrix(gt, path, args.iou_type, iou=args.confusion_iou, score=args.confusion_score,
                                      max_bytes=max_bytes, results_name=path.name)
            write_csv(matrix.to_frame(), confusion_out)
            block += f"wrote {confusion_out}\n"
        block += score_options.run_for(args, gt, path, operating_out, calibration_out, max_bytes)
        blocks.append(block)
    return "\n".join(blocks)


def render_summary(evaluation: Evaluation) -> str:
    """A header line and pycocotools' summary lines."""
    header = (f"{evaluation.results_name}: {evaluation.iou_type}, {evaluation.n_images} images, "
              f"{evaluation.n_ground_truth} objects, {evaluation.n_detections} detections ({evaluation.backend})\n")
    note = f" ({evaluation.convention})\n" if evaluation.convention else ""
    return header + note + evaluation.summary_text()


def render_breakdown(evaluation: Evaluation) -> str:
    """The breakdown's APs over categories (area all) and what each error type costs."""
    assert evaluation.breakdown is not None
    overall = evaluation.breakdown.overall()
    gains = evaluation.breakdown.gains()
    lines = [" Error breakdown (COCO analyze(); AP under each curve, mean over categories with ground truth):"]
    for label in LABELS:
        line = f"  {label:<4} {overall[label]:0.3f}"
        if label in gains:
            line += f"  (+{gains[label]:0.3f} {ERROR_NAMES[label]})"
        lines.append(line)
    return "\n".join(lines) + "\n"


def write_per_category(evaluation: Evaluation, path: Path) -> None:
    write_csv(percent_table(evaluation), path)


def write_csv(frame: Any, path: Path) -> None:
    try:
        frame.to_csv(path, index=False)
    except OSError as error:
        raise EvaluationInputError(f"cannot write {path}: {error.strerror or error}") from None
