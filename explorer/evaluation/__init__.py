"""COCO evaluation of detection results: pycocotools' numbers, per category, with an error breakdown.

    from explorer.evaluation import evaluate
    result = evaluate("instances_val2017.json", "results.json", "segm", progress=lambda stage, f: ...)
    result.summary_text()      # pycocotools' summary lines
    result.to_frame()          # per-category AP, AP50, AP75, AP by area, AR@100 (NaN where undefined)
    result.pr_frame()          # precision-recall curves per category and IoU threshold

Modules, one job each: loading (JSON from paths / bytes, size cap), ground_truth and result_checks (checks
before pycocotools, normalised copies; checks: their shared predicates), masks (RLE conversions), backends
(pycocotools / faster-coco-eval), metrics (numbers from COCOeval's arrays), breakdown (error analysis), results
(the dataclasses), pipeline (evaluate()), matching (uploads <-> annotation images), cli (the `eval` command),
keypoint_errors (good / jitter / inversion / swap / miss per keypoint, and the AP each costs; keypoint_cli).
"""

from explorer.evaluation.analyses.breakdown import LABELS as BREAKDOWN_LABELS
from explorer.evaluation.analyses.breakdown import ErrorBreakdown
from explorer.evaluation.analyses.keypoint_errors import KeypointErrors, analyse_keypoint_errors
from explorer.evaluation.coco.backends import available_backends
from explorer.evaluation.coco.kinds import IOU_TYPES, IouType
from explorer.evaluation.coco.pipeline import ProgressCallback, evaluate, load_ground_truth
from explorer.evaluation.coco.results import CATEGORY_COLUMNS, CategoryMetrics, Evaluation, SummaryStat, percent_table
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import GroundTruth
from explorer.evaluation.inputs.loading import DEFAULT_MAX_BYTES
from explorer.evaluation.inputs.matching import Match, match_images

__all__ = [
    "BREAKDOWN_LABELS",
    "CATEGORY_COLUMNS",
    "DEFAULT_MAX_BYTES",
    "IOU_TYPES",
    "CategoryMetrics",
    "ErrorBreakdown",
    "Evaluation",
    "EvaluationInputError",
    "GroundTruth",
    "IouType",
    "KeypointErrors",
    "Match",
    "ProgressCallback",
    "SummaryStat",
    "analyse_keypoint_errors",
    "available_backends",
    "evaluate",
    "load_ground_truth",
    "match_images",
    "percent_table",
]
