"""The result of one evaluation as plain, picklable data: what the page caches (`st.cache_data`) and redraws from
without evaluating again, and what the CLI prints and writes.

Metrics are fractions (0..1) with NaN where undefined (pycocotools' -1); `percent_table` gives the zoo tables'
form (percent, one decimal, empty where undefined).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from explorer.evaluation.coco.breakdown import ErrorBreakdown
from explorer.tasks import IouType

#: The per-category metrics, and all per-category columns in the order of the CLI's CSV.
METRIC_COLUMNS: tuple[str, ...] = ("ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar100")
CATEGORY_COLUMNS: tuple[str, ...] = ("category_id", "category", *METRIC_COLUMNS)

#: Said wherever mask numbers are shown: what puts a detection in a size range (the results checks drop a mask
#: result's box, as Detectron2's evaluator does, so loadRes takes the mask's area; plain pycocotools given both
#: would take the box's).
SEGM_AREA_NOTE = "mask area decides small/medium/large (Detectron2's convention, not the box's area)"


@dataclass(frozen=True)
class SummaryStat:
    """One of pycocotools' summary numbers: its short name ("AP50"), value (NaN for pycocotools' -1) and the
    line summarize() prints for it."""

    name: str
    value: float
    line: str


@dataclass(frozen=True)
class CategoryMetrics:
    """One category's numbers at the largest maxDets. n_gt counts the objects that count (not crowd; for
    keypoints, with at least one labelled keypoint); n_dt the detections."""

    category_id: int
    category: str
    supercategory: str
    n_gt: int
    n_dt: int
    ap: float
    ap50: float
    ap75: float
    ap_small: float
    ap_medium: float
    ap_large: float
    ar100: float


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Everything one (ground truth, results, iou type) evaluation produced.

    `stats` is pycocotools' `COCOeval.stats` unchanged (-1 kept), `summary` the same with names and NaN.
    `curves` is precision [T, R, K, A] at the largest maxDets (NaN where undefined), indexed by
    `iou_thresholds`, `recall_thresholds`, `categories` and `area_labels`.
    """

    iou_type: IouType
    backend: str
    ground_truth_name: str
    results_name: str
    n_images: int
    n_ground_truth: int
    n_detections: int
    stats: tuple[float, ...]
    summary: tuple[SummaryStat, ...]
    categories: tuple[CategoryMetrics, ...]
    iou_thresholds: tuple[float, ...]
    recall_thresholds: tuple[float, ...]
    area_labels: tuple[str, ...]
    max_dets: int
    curves: np.ndarray = field(repr=False)
    breakdown: ErrorBreakdown | None = field(default=None, repr=False)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def convention(self) -> str:
        """The convention these numbers follow where it matters (segm: SEGM_AREA_NOTE), else ""."""
        return SEGM_AREA_NOTE if self.iou_type == "segm" else ""

    def summary_text(self) -> str:
        """The summary exactly as pycocotools' summarize() prints it (12 lines; keypoints 10)."""
        return "\n".join(stat.line for stat in self.summary) + "\n"

    def stat(self, name: str) -> float:
        """A summary number by name ("AP", "AP50", "APs", "AR100", ...); NaN if undefined."""
        for stat in self.summary:
            if stat.name == name:
                return stat.value
        raise KeyError(f"no summary number {name!r}; these exist: {', '.join(s.name for s in self.summary)}")

    def category(self, category_id: int) -> CategoryMetrics:
        for row in self.categories:
            if row.category_id == category_id:
                return row
        raise KeyError(f"category {category_id} is not in the ground truth")

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame([(s.name, s.value, s.line) for s in self.summary], columns=["name", "value", "line"])

    def to_frame(self) -> pd.DataFrame:
        """One row per ground-truth category: category_id, category, supercategory, n_gt, n_dt, then the metrics
        of CATEGORY_COLUMNS as fractions, NaN where undefined (e.g. a category absent from the ground truth)."""
        columns = ["category_id", "category", "supercategory", "n_gt", "n_dt", *METRIC_COLUMNS]
        return pd.DataFrame([[getattr(row, c) for c in columns] for row in self.categories], columns=columns)

    def pr_frame(self, category_id: int | None = None, area: str = "all") -> pd.DataFrame:
        """Precision-recall curves, long form: category_id, category, iou, recall, precision (one curve per
        category and IoU threshold; `category_id` picks one category)."""
        a = self.area_labels.index(area)
        ks = range(len(self.categories)) if category_id is None else [self._index(category_id)]
        recall = np.asarray(self.recall_thresholds)
        parts = []
        for k in ks:
            row = self.categories[k]
            for t, iou in enumerate(self.iou_thresholds):
                parts.append(pd.DataFrame({"category_id": row.category_id, "category": row.category,
                                           "iou": round(iou, 2), "recall": recall,
                                           "precision": self.curves[t, :, k, a]}))
        return pd.concat(parts, ignore_index=True)

    def area_frame(self) -> pd.DataFrame:
        """AP by area range, long form: category_id, category, area, ap (and the overall row, category "all",
        from the summary)."""
        rows = []
        overall = {"all": "AP", "small": "APs", "medium": "APm", "large": "APl"}
        for area in self.area_labels:
            rows.append((None, "all", area, self.stat(overall[area])))
            for row in self.categories:
                value = row.ap if area == "all" else getattr(row, f"ap_{area}")
                rows.append((row.category_id, row.category, area, value))
        return pd.DataFrame(rows, columns=["category_id", "category", "area", "ap"])

    def _index(self, category_id: int) -> int:
        for k, row in enumerate(self.categories):
            if row.category_id == category_id:
                return k
        raise KeyError(f"category {category_id} is not in the ground truth")


def format_percent(value: float) -> str:
    """A fraction as the zoo tables print AP: percent with one decimal ("37.9"); "" where undefined."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def percent_table(evaluation: Evaluation) -> pd.DataFrame:
    """The per-category table as the CLI writes it: CATEGORY_COLUMNS, metrics as percent text."""
    frame = evaluation.to_frame()[list(CATEGORY_COLUMNS)].copy()
    for column in METRIC_COLUMNS:
        frame[column] = [format_percent(v) for v in frame[column]]
    return frame
