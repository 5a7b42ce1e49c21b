"""The column layout shared by every zoo table in `zoo_data/`.

Every source (the Detectron page, the Detectron2 page, torchvision's weights metadata) is turned
into rows with exactly these columns, so that the tables can be stacked and compared. In the files
every value is text, written as the source prints it ("0.080", not 0.08); a missing value is the
empty string, never 0.
"""

from __future__ import annotations

from typing import Final

#: Columns the command line promises, in this order (issue 2, "Library and command line").
CORE_COLUMNS: Final[tuple[str, ...]] = (
    "zoo",  # detectron | detectron2 | torchvision
    "table",  # the section of the page the row comes from, e.g. "End-to-End Faster & Mask R-CNN Baselines"
    "model_id",  # the page's model id; torchvision: the weights enum, e.g. "MaskRCNN_ResNet50_FPN_Weights.COCO_V1"
    "tta",  # "true" | "false": test-time augmentation used for this row's numbers
    "backbone",  # e.g. "R-50-FPN", "X-101-32x8d-FPN"
    "type",  # e.g. "RPN", "Fast", "Faster", "Mask", "Kps", "RetinaNet"
    "lr_schedule",  # e.g. "1x", "2x", "s1x", "3x"; empty where the source has none
    "ims_per_gpu",
    "train_mem_gb",
    "train_s_per_iter",
    "train_hours",
    "infer_s_gpu",  # GPU part of "X + Y"; the whole figure where the source gives one number
    "infer_s_cpu",  # CPU part of "X + Y"; empty where the source gives one number
    "infer_s",  # infer_s_gpu + infer_s_cpu, exact decimal sum
    "box_ap",
    "mask_ap",
    "kp_ap",
    "prop_ar",
    "model_url",
    "config",  # config name (yaml stem), as found in the model URL
)

#: Further columns every zoo file carries (empty where the source has no such fact).
EXTRA_COLUMNS: Final[tuple[str, ...]] = (
    "name",  # a short human label, unique within the zoo
    "task",  # proposals | boxes | masks | keypoints: the richest output the model gives
    "hardware",  # GPU the published times were measured on, e.g. "P100"; empty when not measured
    "train_gpus",  # number of GPUs used for training
    "gflops",
    "params_m",  # parameters, millions
    "file_size_mb",
    "boxes_url",
    "masks_url",
    "kps_url",
    "proposals_train_url",
    "proposals_valminusminival_url",
    "proposals_minival_url",
    "metrics_url",
    "proposals_model_id",  # precomputed-proposal rows: the RPN row whose proposals they run on
    "notes",  # free text: what the row's numbers include / exclude, in our words
    "metric_scope",  # what every AP/AR of the row was measured on: "coco" (all categories) or "person"
)

ZOO_COLUMNS: Final[tuple[str, ...]] = CORE_COLUMNS + EXTRA_COLUMNS

#: Columns holding numbers (text in the files, floats once loaded).
NUMERIC_COLUMNS: Final[tuple[str, ...]] = (
    "ims_per_gpu",
    "train_mem_gb",
    "train_s_per_iter",
    "train_hours",
    "infer_s_gpu",
    "infer_s_cpu",
    "infer_s",
    "box_ap",
    "mask_ap",
    "kp_ap",
    "prop_ar",
    "train_gpus",
    "gflops",
    "params_m",
    "file_size_mb",
)

ZOOS: Final[tuple[str, ...]] = ("detectron", "detectron2", "torchvision")
ZOO_LABELS: Final[dict[str, str]] = {"detectron": "Detectron", "detectron2": "Detectron2", "torchvision": "torchvision"}

#: Model type (Detectron's vocabulary) -> the richest output it gives (a name of `explorer.tasks.TASKS`; the
#: accuracy columns above are those tasks' metrics).
TYPE_TASK: Final[dict[str, str]] = {
    "RPN": "proposals",
    "Fast": "boxes",
    "Faster": "boxes",
    "RetinaNet": "boxes",
    "Mask": "masks",
    "Kps": "keypoints",
}

#: Metric scopes: AP/AR over all COCO categories, or over the person category only (keypoint models and
#: Detectron's person-specific RPNs). Numbers of different scopes are never ranked or plotted as one.
SCOPES: Final[tuple[str, ...]] = ("coco", "person")
SCOPE_LABELS: Final[dict[str, str]] = {"coco": "COCO, all categories", "person": "person only"}

ZooRow = dict[str, str]
"""One table row as the sources produce it: every key of ZOO_COLUMNS, every value text."""


def empty_row() -> ZooRow:
    """A row with every column present and empty, for parsers to fill."""
    return {column: "" for column in ZOO_COLUMNS}
