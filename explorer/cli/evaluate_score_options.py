"""The `eval` command's score options: --operating-point OUT.csv (the F1-optimal threshold overall and per
category, with its precision, recall and F1) and --calibration OUT.csv (ECE, MCE and D-ECE overall and per
category; the reliability diagram's bins are printed), each at IoU 0.5 and at --score-iou.

Kept apart from evaluate.py so the `eval` command only calls `add_arguments`, `check_arguments` and `run_for`.
With several --dt files each CSV gets the results file's stem appended, as --per-category does. The detections
are matched once per results file for both analyses.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.evaluation.analyses.calibration import DEFAULT_BINS, DEFAULT_DECE_BINS, Calibration, from_scored
from explorer.evaluation.analyses.operating_point import OperatingPoint
from explorer.evaluation.analyses.score_matching import DEFAULT_IOU, MATCHED_TYPES, check_iou, score_detections
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import GroundTruth
from explorer.evaluation.inputs.loading import read_json

DEFAULT_SCORE_IOU = 0.75


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--operating-point", type=Path, default=None, metavar="OUT.csv",
                        help="write the F1-optimal score threshold overall and per category (precision, recall, "
                             "F1 at it) here, at IoU 0.5 and --score-iou (bbox and segm)")
    parser.add_argument("--calibration", type=Path, default=None, metavar="OUT.csv",
                        help="write ECE, MCE and D-ECE overall and per category here and print the reliability "
                             "diagram's bins, at IoU 0.5 and --score-iou (scores must lie in [0, 1])")
    parser.add_argument("--score-iou", type=float, default=DEFAULT_SCORE_IOU, metavar="IOU",
                        help=f"the IoU besides 0.5 for --operating-point and --calibration "
                             f"(default {DEFAULT_SCORE_IOU})")
    parser.add_argument("--calibration-bins", type=int, default=DEFAULT_BINS, metavar="N",
                        help=f"score bins of the ECE and the reliability diagram (default {DEFAULT_BINS})")
    parser.add_argument("--dece-bins", type=int, default=DEFAULT_DECE_BINS, metavar="N",
                        help=f"bins per dimension of the D-ECE (default {DEFAULT_DECE_BINS})")


def wanted(args: argparse.Namespace) -> bool:
    return bool(args.operating_point or args.calibration)


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse what cannot work before anything is evaluated."""
    if not wanted(args):
        return
    if args.iou_type not in MATCHED_TYPES:
        raise EvaluationInputError("--operating-point and --calibration need --iou-type bbox or segm")
    check_iou(args.score_iou, "--score-iou")
    for name, value in (("--calibration-bins", args.calibration_bins), ("--dece-bins", args.dece_bins)):
        if value < 1:
            raise EvaluationInputError(f"{name} must be a positive integer, got {value}")


def run_for(args: argparse.Namespace, gt: GroundTruth, path: Path, operating_out: Path | None,
            calibration_out: Path | None, max_bytes: int) -> str:
    """The operating-point and calibration blocks printed for one results file, writing their CSVs."""
    if operating_out is None and calibration_out is None:
        return ""
    data = read_json(path, what="results", max_bytes=max_bytes)
    scored = score_detections(gt, data, args.iou_type, (DEFAULT_IOU, args.score_iou), results_name=path.name)
    block = ""
    if operating_out is not None:
        point = OperatingPoint(scored)
        block += render_operating_point(point)
        _write(point.optimum(), operating_out)
        block += f"wrote {operating_out}\n"
    if calibration_out is not None:
        cal = from_scored(scored, args.calibration_bins, args.dece_bins)
        block += render_calibration(cal)
        _write(cal.summary(), calibration_out)
        block += f"wrote {calibration_out}\n"
    return block


def render_operating_point(point: OperatingPoint) -> str:
    """One line per IoU: the pooled F1-optimal threshold and its precision, recall and F1."""
    lines = [" Operating point (F1-optimal score threshold, all categories pooled):"]
    frame = point.optimum()
    for row in frame[frame["category_id"].isna()].itertuples():
        if row.threshold != row.threshold:
            lines.append(f"  IoU {row.iou:.2f}: none (no detection finds an object)")
            continue
        lines.append(f"  IoU {row.iou:.2f}: score >= {row.threshold:.4f}  precision {row.precision:.3f}  "
                     f"recall {row.recall:.3f}  F1 {row.f1:.3f}  ({row.tp} TP, {row.fp} FP, {row.objects} objects)")
    return "\n".join(lines) + "\n"


def render_calibration(cal: Calibration) -> str:
    """ECE, MCE and D-ECE per IoU, then the reliability diagram's bins at each IoU."""
    lines = [f" Calibration ({cal.bins} score bins; D-ECE {cal.dece_bins} bins per dimension over score, centre "
             f"x, centre y, width, height):"]
    for iou in cal.iou_thresholds:
        numbers = cal.overall(iou)
        lines.append(f"  IoU {iou:.2f}: ECE {numbers['ece']:.4f}  MCE {numbers['mce']:.4f}  "
                     f"D-ECE {numbers['d_ece']:.4f}")
        for row in cal.reliability(iou).itertuples():
            if row.detections:
                lines.append(f"    scores {row.lower:.2f}-{row.upper:.2f}: {row.detections:>7} detections, mean "
                             f"score {row.mean_score:.3f}, true positives {row.precision:.3f}")
    return "\n".join(lines) + "\n"


def _write(frame: pd.DataFrame, path: Path) -> None:
    try:
        frame.replace({np.nan: None}).to_csv(path, index=False)
    except OSError as error:
        raise EvaluationInputError(f"cannot write {path}: {error.strerror or error}") from None
