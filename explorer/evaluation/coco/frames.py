"""Numbers read out of evaluations for tables and figures: the all-categories precision-recall curve of one
`Evaluation`, and per-category metrics of several side by side or of two against each other.

Metrics stay fractions with NaN where undefined (a category without ground truth), except where a frame says it
holds percent; NaN is never turned into 0, so "no objects to find" and "found none of them" stay apart.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from explorer.evaluation.coco.results import METRIC_COLUMNS, Evaluation


def check_metric(metric: str) -> str:
    """`metric` itself, or ValueError naming the per-category metrics."""
    if metric not in METRIC_COLUMNS:
        raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(METRIC_COLUMNS)}")
    return metric


def mean_precision(evaluation: Evaluation, iou: float, area: str = "all") -> np.ndarray:
    """The all-categories PR curve at one IoU: precision averaged over the categories that have ground truth
    (how pycocotools' AP averages), NaN everywhere if none has."""
    t = iou_index(evaluation, iou)
    block = evaluation.curves[t, :, :, evaluation.area_labels.index(area)]
    defined = ~np.isnan(block).all(axis=0)
    if not defined.any():
        return np.full(block.shape[0], np.nan)
    return np.nanmean(block[:, defined], axis=1)


def iou_index(evaluation: Evaluation, iou: float) -> int:
    """The index of the IoU threshold nearest `iou` (thresholds are floats like 0.5499999)."""
    thresholds = np.asarray(evaluation.iou_thresholds)
    index = int(np.argmin(np.abs(thresholds - iou)))
    if abs(thresholds[index] - iou) > 1e-6:
        raise ValueError(f"IoU {iou} is not one of the thresholds {', '.join(f'{t:.2f}' for t in thresholds)}")
    return index


def category_matrix(evaluations: Mapping[str, Evaluation], metric: str = "ap") -> pd.DataFrame:
    """Rows = categories (by name, in the first evaluation's order), columns = evaluation names, fractions with NaN
    where undefined or where a category is missing from an evaluation."""
    check_metric(metric)
    columns: dict[str, pd.Series] = {}
    order: list[str] = []
    for name, evaluation in evaluations.items():
        frame = evaluation.to_frame()
        columns[name] = pd.Series(list(frame[metric]), index=list(frame["category"]), dtype=float)
        order += [c for c in frame["category"] if c not in order]
    return pd.DataFrame(columns, index=pd.Index(order, name="category"))


def difference_frame(a: Evaluation, b: Evaluation, metric: str = "ap", names: tuple[str, str] = ("A", "B")
                     ) -> pd.DataFrame:
    """Per category: A's and B's metric (percent) and A - B, matched by category id, largest gain of A first.
    A difference is NaN where either side is undefined."""
    check_metric(metric)
    left = a.to_frame()[["category_id", "category", metric]].rename(columns={metric: names[0]})
    right = b.to_frame()[["category_id", metric]].rename(columns={metric: names[1]})
    frame = left.merge(right, on="category_id", how="outer")
    frame[names[0]] = frame[names[0]] * 100.0
    frame[names[1]] = frame[names[1]] * 100.0
    frame["difference"] = frame[names[0]] - frame[names[1]]
    frame = frame.sort_values(["difference", "category"], ascending=[False, True], na_position="last")
    return frame.reset_index(drop=True)
