"""The operating point: which score threshold to deploy a detector with, from its results on annotated images.

    from explorer.evaluation.analyses.operating_point import operating_point
    point = operating_point("instances_val2017.json", "results.json", "bbox", iou=0.75)
    point.optimum()      # the F1-optimal threshold overall and per category, with its precision, recall, F1
    point.curves()       # precision, recall and F1 against the score threshold (on a grid), per category
    point.thresholds(0.5)   # {category name: F1-optimal threshold}, for a per-class score slider

Detections are matched to objects as COCOeval matches them (explorer.evaluation.analyses.score_matching), at IoU
0.5 and at one more chosen IoU. At a threshold s only the detections scoring at least s are kept:
precision = TP / (TP + FP), recall = TP / objects, F1 = 2PR / (P + R); detections that matched only a crowd
region count neither way. "all categories" pools every detection and every object (micro average), so it is
the operating point of one threshold for the whole model.

The optimum is searched over every distinct score (the only places the counts change), not a grid; on a tie the
higher threshold wins (as good an F1 with fewer detections). A category without objects has no recall and no
optimum (NaN); one whose detections find none of its objects (or that has none) has F1 0 and no optimum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import numpy as np
import pandas as pd

from explorer.evaluation.analyses.score_matching import DEFAULT_IOU, ScoredDetections, score_detections
from explorer.evaluation.inputs.ground_truth import GroundTruth
from explorer.evaluation.inputs.loading import DEFAULT_MAX_BYTES, JsonSource

#: The name of the pooled row in every table.
ALL: Final[str] = "all categories"
#: Columns of `optimum()` (and the CLI's --operating-point CSV).
OPTIMUM_COLUMNS: Final[tuple[str, ...]] = ("iou", "category_id", "category", "threshold", "precision", "recall",
                                           "f1", "tp", "fp", "objects", "detections")
#: Columns of `curves()`.
CURVE_COLUMNS: Final[tuple[str, ...]] = ("iou", "category_id", "category", "threshold", "precision", "recall", "f1",
                                         "tp", "fp")
#: The thresholds `curves()` is drawn at unless told otherwise: 0, 0.01, ..., 1.
GRID: Final[np.ndarray] = np.round(np.linspace(0.0, 1.0, 101), 2)


@dataclass(frozen=True)
class _Counts:
    """One category (or all) at one IoU: the distinct scores, descending, and TP / FP kept at each."""

    scores: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    objects: int

    def at(self, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TP and FP kept at each threshold (score >= threshold)."""
        kept = np.searchsorted(-self.scores, -np.asarray(thresholds, dtype=float), side="right")
        tp = np.r_[0, self.tp][kept]
        fp = np.r_[0, self.fp][kept]
        return tp, fp


def _counts(score: np.ndarray, tp: np.ndarray, objects: int) -> _Counts:
    """Cumulative TP / FP at each distinct score of these (not ignored) detections."""
    order = np.argsort(-score, kind="stable")
    score, tp = score[order], tp[order]
    cum_tp = np.cumsum(tp)
    cum_fp = np.cumsum(~tp)
    last = np.r_[np.flatnonzero(np.diff(score) != 0), score.size - 1] if score.size else np.zeros(0, dtype=int)
    return _Counts(scores=score[last], tp=cum_tp[last], fp=cum_fp[last], objects=objects)


def rates(tp: np.ndarray, fp: np.ndarray, objects: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision (NaN with nothing kept), recall (NaN without objects) and F1 (0 where P + R is 0)."""
    tp, fp = np.asarray(tp, dtype=float), np.asarray(fp, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), np.nan)
        recall = tp / objects if objects else np.full(tp.shape, np.nan)
        total = precision + recall
        f1 = np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1), 0.0)
    f1 = np.where(np.isnan(recall), np.nan, np.where(np.isnan(precision), 0.0, f1))
    return precision, recall, f1


@dataclass(frozen=True, eq=False)
class OperatingPoint:
    """Precision, recall and F1 against the score threshold at each IoU of `scored`, overall and per category."""

    scored: ScoredDetections

    @property
    def iou_thresholds(self) -> tuple[float, ...]:
        return self.scored.iou_thresholds

    def _groups(self, iou: float) -> list[tuple[int | None, str, _Counts]]:
        """(category id or None for all, name, counts) at one IoU: all first, then each category."""
        return self._all_groups[self.scored.at(iou)]

    @cached_property
    def _all_groups(self) -> list[list[tuple[int | None, str, _Counts]]]:
        """_groups for each IoU row, counted once (categories as slices of one sort, not a mask each)."""
        s = self.scored
        result = []
        for t in range(len(s.iou_thresholds)):
            counted = ~s.ignored[t]
            score, tp, category = s.score[counted], s.tp[t][counted], s.category[counted]
            groups = [(None, ALL, _counts(score, tp, sum(s.n_gt.values())))]
            order = np.argsort(category, kind="stable")
            starts = np.searchsorted(category[order], s.category_ids, side="left")
            stops = np.searchsorted(category[order], s.category_ids, side="right")
            for c, start, stop in zip(s.category_ids, starts, stops, strict=True):
                pick = order[start:stop]
                groups.append((c, s.category_names[c], _counts(score[pick], tp[pick], s.n_gt[c])))
            result.append(groups)
        return result

    def optimum(self) -> pd.DataFrame:
        """OPTIMUM_COLUMNS, one row per IoU and category (all categories first): the F1-optimal threshold and its
        precision, recall, F1, TP and FP; `detections` counts those the category has (not crowd-ignored).
        Computed once per OperatingPoint (the pages read it for the figure, the table and the CSV)."""
        return self._optimum.copy()

    @cached_property
    def _optimum(self) -> pd.DataFrame:
        rows: list[tuple[Any, ...]] = []
        for iou in self.iou_thresholds:
            for category_id, name, counts in self._groups(iou):
                precision, recall, f1 = rates(counts.tp, counts.fp, counts.objects)
                detections = int(counts.tp[-1] + counts.fp[-1]) if counts.scores.size else 0
                if not counts.scores.size or np.isnan(f1).all() or np.nanmax(f1) == 0:
                    # nothing to choose: no objects (no recall), or no threshold finds any of them
                    none = np.nan if not counts.objects else 0.0
                    rows.append((iou, category_id, name, np.nan, 0.0 if detections else np.nan, none, none, 0,
                                 detections, counts.objects, detections))
                    continue
                best = int(np.flatnonzero(f1 == np.nanmax(f1))[0])  # scores descend: the highest threshold
                rows.append((iou, category_id, name, float(counts.scores[best]), float(precision[best]),
                             float(recall[best]), float(f1[best]), int(counts.tp[best]), int(counts.fp[best]),
                             counts.objects, detections))
        frame = pd.DataFrame(rows, columns=list(OPTIMUM_COLUMNS))
        frame["category_id"] = frame["category_id"].astype("Int64")
        return frame

    def curves(self, thresholds: Sequence[float] | np.ndarray | None = None) -> pd.DataFrame:
        """CURVE_COLUMNS at each of `thresholds` (default GRID, computed once), for each IoU and category (all
        categories first)."""
        if thresholds is None:
            return self._grid_curves.copy()
        return self._curves(np.asarray(thresholds, dtype=float))

    @cached_property
    def _grid_curves(self) -> pd.DataFrame:
        return self._curves(GRID)

    def _curves(self, grid: np.ndarray) -> pd.DataFrame:
        frames = []
        for iou in self.iou_thresholds:
            for category_id, name, counts in self._groups(iou):
                tp, fp = counts.at(grid)
                precision, recall, f1 = rates(tp, fp, counts.objects)
                frames.append(pd.DataFrame({"iou": iou, "category_id": category_id, "category": name,
                                            "threshold": grid, "precision": precision, "recall": recall, "f1": f1,
                                            "tp": tp, "fp": fp}))
        frame = pd.concat(frames, ignore_index=True)
        frame["category_id"] = frame["category_id"].astype("Int64")
        return frame[list(CURVE_COLUMNS)]

    def thresholds(self, iou: float = DEFAULT_IOU) -> dict[str, float]:
        """Category name -> its F1-optimal threshold at `iou`, for the categories that have one; the pooled
        optimum under ALL."""
        frame = self.optimum()
        frame = frame[np.isclose(frame["iou"], iou) & frame["threshold"].notna()]
        return {str(row.category): float(row.threshold) for row in frame.itertuples()}


def operating_point(ground_truth: JsonSource | GroundTruth, results: JsonSource | list[dict[str, Any]],
                    iou_type: str = "bbox", *, iou: float = DEFAULT_IOU, image_ids: Sequence[int] | None = None,
                    results_name: str | None = None, ground_truth_name: str | None = None,
                    max_bytes: int = DEFAULT_MAX_BYTES) -> OperatingPoint:
    """The operating point of `results` against `ground_truth` at IoU 0.5 and at `iou` (see the module).

    Raises EvaluationInputError for bad input (see score_matching.score_detections)."""
    thresholds = (DEFAULT_IOU, iou) if iou != DEFAULT_IOU else (DEFAULT_IOU,)
    return OperatingPoint(score_detections(ground_truth, results, iou_type, thresholds, image_ids=image_ids,
                                           results_name=results_name, ground_truth_name=ground_truth_name,
                                           max_bytes=max_bytes))
