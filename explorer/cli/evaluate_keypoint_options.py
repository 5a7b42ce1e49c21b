"""The `eval` command's keypoint options: --kpt-sigmas, --flip-pairs and --keypoint-errors OUT.csv.

    python -m explorer eval --gt person_keypoints_val2017.json --dt keypoints.json --iou-type keypoints \\
        --keypoint-errors keypoint_errors.csv [--kpt-sigmas 0.026,0.025,...] [--flip-pairs left_eye:right_eye,...]

--keypoint-errors prints the error analysis of explorer.evaluation.analyses.keypoint_errors after the summary (share of
each error type, AP with each type corrected and with oracle scores) and writes one CSV row per labelled
keypoint of each matched detection: image_id, gt_id (the annotation's id in the file), dt_id (the detection's
position in the results file + 1, as COCO's loadRes numbers them), keypoint (its name from the category),
error (good, jitter, inversion, swap or miss). With several --dt files, one CSV each, named as --per-category
names them. --kpt-sigmas also applies to the evaluation itself (needed for any keypoints but COCO's 17).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from explorer.evaluation.analyses.keypoint_errors import (
    AP_LABELS,
    CORRECTED_TYPES,
    CORRECTIONS,
    KeypointErrors,
    flip_partners,
    parse_flip_pairs,
    parse_sigmas,
)
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import GroundTruth, keypoint_sigmas


def add_keypoint_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keypoint-errors", type=Path, default=None, metavar="OUT.csv",
                        help="keypoints only: classify each keypoint of each matched detection (good, jitter, "
                             "inversion, swap, miss), print the AP each error type costs, write one row per keypoint")
    parser.add_argument("--kpt-sigmas", default=None, metavar="S1,S2,...",
                        help="OKS sigmas, one per keypoint, comma-separated (default: COCO's 17 person sigmas)")
    parser.add_argument("--flip-pairs", default=None, metavar="A:B,...",
                        help="left/right keypoint pairs by name or 0-based index (default: read from the names: "
                             "left_*/right_*, l_*/r_*)")
    parser.add_argument("--keypoint-corrections", default="exact", choices=CORRECTIONS,
                        help="where corrected keypoints land for the AP gains: at the intended similarity "
                             "(exact), or where coco-analyze puts them (to compare with its reports)")


def keypoint_options(args: argparse.Namespace, gt: GroundTruth) -> tuple[list[float] | None, list[Any] | None]:
    """(sigmas, flip pairs) from the command line, checked against the ground truth before anything runs."""
    if args.keypoint_errors is not None and args.iou_type != "keypoints":
        raise EvaluationInputError(f"--keypoint-errors needs --iou-type keypoints (got {args.iou_type})")
    if args.iou_type != "keypoints":
        for option in ("kpt_sigmas", "flip_pairs"):
            if getattr(args, option) is not None:
                raise EvaluationInputError(f"--{option.replace('_', '-')} applies only to --iou-type keypoints")
        return None, None
    sigmas = parse_sigmas(args.kpt_sigmas) if args.kpt_sigmas is not None else None
    keypoint_sigmas(gt, sigmas)
    pairs = parse_flip_pairs(args.flip_pairs) if args.flip_pairs is not None else None
    if args.keypoint_errors is not None:
        for cat in gt.categories:
            if cat["id"] in gt.keypoint_counts:
                flip_partners([str(n) for n in cat["keypoints"]], pairs, f"category {cat.get('name', cat['id'])!r}")
    return sigmas, pairs


def render_keypoint_errors(errors: KeypointErrors) -> str:
    """The share of each error type and the AP with each correction, as the CLI prints them."""
    counts = errors.counts_frame()
    total = int(counts["count"].sum())
    lines = [f" Keypoint errors (Ronchi & Perona): {errors.n_matched} of {errors.n_detections} detections matched "
             f"at OKS .1, {total} labelled keypoints:"]
    lines += [f"  {row.error:<10} {row.percent:5.1f}%  ({row.count})" for row in counts.itertuples()]
    gains = errors.gains()
    lines.append(f" OKS AP {errors.ap['original']:0.3f} {AP_LABELS['original']}; with each error type corrected:")
    for name in (*CORRECTED_TYPES, "localisation", "score"):
        lines.append(f"  {AP_LABELS[name]:<22} {errors.ap[name]:0.3f}  ({gains[name]:+0.3f})")
    return "\n".join(lines) + "\n"


def write_keypoint_errors(errors: KeypointErrors, path: Path) -> None:
    try:
        errors.to_frame().to_csv(path, index=False)
    except OSError as error:
        raise EvaluationInputError(f"cannot write {path}: {error.strerror or error}") from None
