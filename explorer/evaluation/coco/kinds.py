"""The three COCO evaluation types and the names of their summary numbers, in pycocotools' order.

Which task each type scores, and the zoo column and label of its number, is `explorer.tasks`' table; the types
are read from it, so that a type here always has a task there.
"""

from __future__ import annotations

from typing import Literal

from explorer.tasks import EVALUATED

IouType = Literal["bbox", "segm", "keypoints"]
IOU_TYPES: tuple[IouType, ...] = tuple(task.iou_type for task in EVALUATED)  # type: ignore[misc]

#: Names of `COCOeval.stats`, index for index, as pycocotools' summarize() prints them.
DETECTION_STAT_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APs", "APm", "APl",
                                         "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
KEYPOINT_STAT_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def stat_names(iou_type: IouType) -> tuple[str, ...]:
    return KEYPOINT_STAT_NAMES if iou_type == "keypoints" else DETECTION_STAT_NAMES


def check_iou_type(iou_type: str) -> IouType:
    """`iou_type` itself, or EvaluationInputError naming the three allowed."""
    from explorer.evaluation.errors import EvaluationInputError

    if iou_type not in IOU_TYPES:
        raise EvaluationInputError(f"unknown iou type {iou_type!r}: use one of {', '.join(IOU_TYPES)}")
    return iou_type  # type: ignore[return-value]
