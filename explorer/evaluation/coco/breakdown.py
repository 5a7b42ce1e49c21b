"""Where the AP goes: the COCO error breakdown (C75 / C50 / Loc / Sim / Oth / BG / FN).

This is `CocoEval.analyze()` of the COCO Matlab API (the "Derek Hoiem style analysis of false positives" whose
stacked plots the Detectron era published), reimplemented in Python on top of COCOeval. For each category, seven
precision-recall curves at the largest maxDets (100; 20 for keypoints), each removing one more kind of error:

- C75: PR at IoU .75 (its area is AP75).
- C50: PR at IoU .50 (its area is AP50).
- Loc: PR at IoU .10: localisation errors forgiven, duplicate detections still false positives.
- Sim: Loc, and a detection on an object of another category *of the same supercategory* is neither a false nor
  a true positive. (Matlab: those objects are relabelled to this category with ignore=1.)
- Oth: the same for objects of *any* other category: all class confusion forgiven.
- BG: every remaining false positive (background) removed: precision 1 up to Oth's highest recall, 0 after.
- FN: every remaining error removed: precision 1 at every recall (what is missing from BG is the objects never
  detected, the false negatives).

Each curve's area is an AP; the gaps between successive ones are the AP lost to each kind of error (e.g. Loc - C50
is what perfect localisation would gain). `ErrorBreakdown.gains()` reports those gaps.

How Sim and Oth are computed. Matlab runs, per category, a class-agnostic evaluation at IoU .1 of that category's
detections against ground truth in which the other objects carry ignore=1. We compute all categories in one
COCOeval run per step instead: a copy of each other-class object is added under the category in question, marked
ignored, so COCOeval's own matching (a detection takes an unignored object first, and one matched to an ignored
object is ignored) does exactly what Matlab's does. Two details keep this cheap and exact:

- "ignored" is expressed through fields pycocotools actually reads (its Python _prepare overwrites an `ignore`
  field with `iscrowd`): for bbox and segm the copy's area is -1, outside every area range, which COCOeval
  treats as ignore in every range; for keypoints its num_keypoints is 0, which COCOeval's keypoint path treats
  as ignore while still computing OKS from its keypoints (area, which OKS divides by, is left alone).
- a copy is made only where a detection of that category overlaps the object's box with positive area (for
  masks: the mask's tight box). Any other copy could never be matched (IoU 0 < .1), and an unmatched ignored
  object changes nothing. For keypoints (OKS is not bounded by box overlap) every copy in an image with
  detections of the category is made.

Keypoints: COCO keypoint files have one category (person) and person is its own supercategory, so there is
no other class to confuse with: Sim and Oth equal Loc (the copies are computed the same way, there are simply
none). The Loc step relaxes OKS, not IoU, to .1.

Differences from Matlab, on purpose: a category without ground truth gets NaN curves (Matlab draws it as
precision 0) and is left out of the averages over categories.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from explorer.evaluation.coco.backends import EvalArrays, Run
from explorer.evaluation.inputs.ground_truth import PreparedGroundTruth
from explorer.evaluation.masks import boxes as mask_boxes
from explorer.tasks import IouType

LABELS: tuple[str, ...] = ("C75", "C50", "Loc", "Sim", "Oth", "BG", "FN")

#: What each step forgives, for legends and tables: gains()[label] is what fixing this error type adds.
ERROR_NAMES: dict[str, str] = {
    "C50": "IoU .75 -> .50",
    "Loc": "localisation (IoU .50 -> .10)",
    "Sim": "confusion with a similar class (same supercategory)",
    "Oth": "confusion with any other class",
    "BG": "background false positives",
    "FN": "missed objects (false negatives)",
}

RELAXED_IOU = 0.1


@dataclass(frozen=True, eq=False)
class ErrorBreakdown:
    """The seven curves for every category and area range.

    curves: [7, R, K, A] precision at `recall_thresholds`, in LABELS order; NaN for categories (or area
    ranges) with no ground truth.
    """

    iou_type: IouType
    category_ids: tuple[int, ...]
    category_names: tuple[str, ...]
    area_labels: tuple[str, ...]
    recall_thresholds: np.ndarray
    curves: np.ndarray

    def ap(self) -> np.ndarray:
        """[7, K, A]: the area under each curve (mean precision over recall thresholds), NaN where undefined."""
        return self.curves.mean(axis=1)

    def overall(self, area: str = "all") -> dict[str, float]:
        """Each curve's AP averaged over the categories that have ground truth (Matlab's "overall-all")."""
        values = self.ap()[:, :, self.area_labels.index(area)]
        defined = ~np.isnan(values[0])
        if not defined.any():
            return dict.fromkeys(LABELS, float("nan"))
        return {label: float(values[i, defined].mean()) for i, label in enumerate(LABELS)}

    def gains(self, area: str = "all") -> dict[str, float]:
        """AP gained by removing each error type in turn (C50 - C75, Loc - C50, ..., FN - BG), over categories."""
        values = self.overall(area)
        return {label: values[label] - values[previous] for previous, label in itertools.pairwise(LABELS)}

    def to_frame(self, area: str = "all") -> pd.DataFrame:
        """One row per category: category_id, category, then the AP under each curve (fractions; NaN if absent)."""
        values = self.ap()[:, :, self.area_labels.index(area)]
        frame = pd.DataFrame({"category_id": list(self.category_ids), "category": list(self.category_names)})
        for i, label in enumerate(LABELS):
            frame[label] = values[i]
        return frame

    def curves_frame(self, category_id: int | None = None, area: str = "all") -> pd.DataFrame:
        """Long form for a stacked area plot: label, recall, precision. `category_id` None: the mean curve over
        categories with ground truth."""
        a = self.area_labels.index(area)
        if category_id is None:
            block = self.curves[:, :, :, a]
            defined = ~np.isnan(block[0, 0])
            curves = block[:, :, defined].mean(axis=2) if defined.any() else np.full(block.shape[:2], np.nan)
        else:
            curves = self.curves[:, :, self.category_ids.index(category_id), a]
        rows = [(label, float(r), float(p)) for i, label in enumerate(LABELS)
                for r, p in zip(self.recall_thresholds, curves[i], strict=True)]
        return pd.DataFrame(rows, columns=["label", "recall", "precision"])


def relaxed_runs(truth: PreparedGroundTruth, results: list[dict[str, Any]]) -> list[Run]:
    """The three extra evaluations (Loc, Sim, Oth): IoU .1 at the largest maxDets, against the ground truth,
    then with the same-supercategory copies, then with every other-class copy. `results` are the checked
    detections the main evaluation uses."""
    max_dets = [20 if truth.iou_type == "keypoints" else 100]
    detections = _detections_by_image(results, truth.iou_type)
    return [Run((), [RELAXED_IOU], max_dets)] + [
        Run(_confusable_copies(truth, detections, scope), [RELAXED_IOU], max_dets)
        for scope in ("supercategory", "any")]


def error_breakdown(truth: PreparedGroundTruth, main: EvalArrays, relaxed: Sequence[EvalArrays]) -> ErrorBreakdown:
    """The breakdown from the main evaluation's arrays (C75 and C50 are read from them) and the arrays of the
    three `relaxed_runs`, in their order."""
    category_ids = list(main.category_ids)

    def at(iou: float) -> np.ndarray:
        return main.precision[int(np.where(np.isclose(main.iou_thresholds, iou))[0][0]), :, :, :, -1]

    steps = [at(0.75), at(0.5), *(arrays.precision[0, :, :, :, 0] for arrays in relaxed)]
    curves = np.stack([*steps, steps[-1], steps[-1]]).astype(float)
    undefined = main.precision[0, 0, :, :, -1] <= -1  # [K, A]: no ground truth to find
    curves[5] = curves[4] > 0
    curves[6] = 1.0
    curves[:, :, undefined] = np.nan
    return ErrorBreakdown(iou_type=truth.iou_type, category_ids=tuple(category_ids),
                          category_names=tuple(truth.gt.category_names[c] for c in category_ids),
                          area_labels=main.area_labels, recall_thresholds=np.asarray(main.recall_thresholds),
                          curves=curves)


def _detections_by_image(results: list[dict[str, Any]], iou_type: IouType
                         ) -> dict[int, list[tuple[int, Any]]]:
    """image id -> (category id, box) of its detections; for masks the mask's tight box; no box for keypoints."""
    found: dict[int, list[tuple[int, Any]]] = defaultdict(list)
    if iou_type == "keypoints":
        for det in results:
            found[det["image_id"]].append((det["category_id"], None))
        return found
    boxes = [r["bbox"] for r in results] if iou_type == "bbox" else mask_boxes([r["segmentation"] for r in results])
    for det, box in zip(results, boxes, strict=True):
        found[det["image_id"]].append((det["category_id"], box))
    return found


def _confusable_copies(truth: PreparedGroundTruth, detections: dict[int, list[tuple[int, Any]]],
                       scope: str) -> list[dict[str, Any]]:
    """Per category k, ignored copies (relabelled k) of the other-class objects k's detections could match: same
    supercategory (`scope` "supercategory") or any ("any"). Made before any evaluator writes into the dataset."""
    iou_type, gt = truth.iou_type, truth.gt
    annotations: list[dict[str, Any]] = truth.dataset["annotations"]
    supers = gt.supercategories
    by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ann in annotations:
        by_image[ann["image_id"]].append(ann)
    boxes = _object_boxes(truth, annotations)
    copies: list[dict[str, Any]] = []
    next_id = max((ann["id"] for ann in gt.annotations), default=0) + 1
    for image_id, dets in detections.items():
        objects = by_image.get(image_id)
        if not objects:
            continue
        det_categories = np.array([category for category, _ in dets])
        if iou_type == "keypoints":
            near = np.ones((len(dets), len(objects)), dtype=bool)
        else:
            near = _overlaps(np.array([box for _, box in dets], dtype=float).reshape(-1, 4),
                             np.array([boxes[id(o)] for o in objects], dtype=float).reshape(-1, 4))
        for k in np.unique(det_categories):
            k = int(k)
            reachable = near[det_categories == k].any(axis=0)
            for j in np.flatnonzero(reachable):
                obj = objects[j]
                if obj["category_id"] == k or (scope == "supercategory"
                                               and supers[obj["category_id"]] != supers[k]):
                    continue
                copy = dict(obj, id=next_id, category_id=k)
                if iou_type == "keypoints":
                    copy["num_keypoints"] = 0
                else:
                    copy["area"] = -1.0
                copies.append(copy)
                next_id += 1
    return copies


def _object_boxes(truth: PreparedGroundTruth, annotations: Sequence[dict[str, Any]]) -> dict[int, list[float]]:
    """Box of each object by id(): its bbox, or for segm its mask's tight box (what mask overlap implies)."""
    if truth.iou_type != "segm":
        return {id(ann): ann.get("bbox", [0.0, 0.0, 0.0, 0.0]) for ann in annotations}
    rles = truth.gt.mask_rles()
    tight = mask_boxes([rles[ann["id"]] for ann in annotations])
    return {id(ann): box for ann, box in zip(annotations, tight, strict=True)}


def _overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[len(a), len(b)]: whether boxes (x, y, w, h) share an area > 0."""
    x = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2]) - np.maximum(a[:, None, 0],
                                                                                              b[None, :, 0])
    y = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3]) - np.maximum(a[:, None, 1],
                                                                                              b[None, :, 1])
    return (x > 0) & (y > 0)
