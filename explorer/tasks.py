"""The one vocabulary of tasks: what a model outputs, how COCO scores it, which zoo column holds its published
number, and how every page, figure, sentence and command line names that number.

These facts used to be restated in the zoo schema, the evaluation kinds, the ranking, the card, the figures, the
sweep and the command line, each with its own spelling ("kp AP", "keypoint AP", "kp ap"). They live here once, in
a module that imports nothing of ours but the base error class, so that the catalog, the zoo, the evaluation
and the pages can all read them without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, cast

from explorer.errors import ExplorerError


@dataclass(frozen=True)
class Task:
    """One task: a model output and everything that names or scores it."""

    name: str  # the model output and the zoo's `task` value, e.g. "boxes"
    iou_type: str | None  # the COCO evaluation type that scores it; None: no COCO evaluation here (proposals)
    metric: str  # the zoo column with the published number (percent points), e.g. "box_ap"
    label: str  # how the metric is named everywhere a person reads it, e.g. "box AP"
    measure: str  # the summary number published: COCO's "AP", or "AR" (average recall; Detectron: 1000 proposals)
    result_field: str  # the key of a COCO results entry that holds the prediction ("bbox", "segmentation", ...)

    @property
    def per_second(self) -> str:
        """The derived column: the metric per second of published inference time."""
        return f"{self.metric}_per_s"

    @property
    def iou_label(self) -> str:
        """The evaluation type as a choice reads: 'boxes (bbox)'; just the name where the two are one word."""
        if self.iou_type is None or self.iou_type == self.name:
            return self.name
        return f"{self.name} ({self.iou_type})"


#: Every task, in the order metrics are offered (and the zoo's derived columns are written).
TASKS: Final[tuple[Task, ...]] = (
    Task("boxes", "bbox", "box_ap", "box AP", "AP", "bbox"),
    Task("masks", "segm", "mask_ap", "mask AP", "AP", "segmentation"),
    Task("keypoints", "keypoints", "kp_ap", "keypoint AP", "AP", "keypoints"),
    Task("proposals", None, "prop_ar", "proposal AR", "AR", "bbox"),
)

#: The model outputs (the zoo's `task` values) and the zoo's accuracy columns, in table order.
TASK_NAMES: Final[tuple[str, ...]] = tuple(task.name for task in TASKS)
METRICS: Final[tuple[str, ...]] = tuple(task.metric for task in TASKS)
#: Accuracy column -> its label, for choices and axis titles.
METRIC_LABELS: Final[dict[str, str]] = {task.metric: task.label for task in TASKS}
#: The tasks COCO evaluates here (every one with an IoU type), in table order.
EVALUATED: Final[tuple[Task, ...]] = tuple(task for task in TASKS if task.iou_type is not None)
#: COCO IoU type -> how a choice of it reads ("boxes (bbox)").
IOU_LABELS: Final[dict[str, str]] = {str(task.iou_type): task.iou_label for task in EVALUATED}

#: The COCO evaluation types (COCOeval's `iouType`), as a type and as the tuple of them in table order; read from
#: the table above, so that an IoU type always has a task.
IouType = Literal["bbox", "segm", "keypoints"]
IOU_TYPES: Final[tuple[IouType, ...]] = tuple(cast(IouType, task.iou_type) for task in EVALUATED)


class UnknownTaskError(ExplorerError, ValueError):
    """A task, metric or IoU type name that is not in the table; the message lists the known ones."""


def _find(field: str, value: str, what: str) -> Task:
    for task in TASKS:
        if getattr(task, field) == value:
            return task
    known = ", ".join(str(getattr(task, field)) for task in TASKS if getattr(task, field) is not None)
    raise UnknownTaskError(f"unknown {what} {value!r}; choose from {known}")


def task_named(name: str) -> Task:
    """The task whose output is `name` ("boxes", "masks", "keypoints", "proposals")."""
    return _find("name", name, "task")


def task_of_metric(metric: str) -> Task:
    """The task whose zoo column is `metric` ("box_ap", ...)."""
    return _find("metric", metric, "metric")


def task_of_iou_type(iou_type: str) -> Task:
    """The task a COCO evaluation type scores ("bbox", "segm", "keypoints")."""
    return _find("iou_type", iou_type, "iou type")


def iou_type_named(name: str) -> IouType:
    """`name` as an IoU type, or UnknownTaskError listing the three ("proposals" has a task but no IoU type)."""
    if name not in IOU_TYPES:
        raise UnknownTaskError(f"unknown iou type {name!r}; choose from {', '.join(IOU_TYPES)}")
    return cast(IouType, name)
