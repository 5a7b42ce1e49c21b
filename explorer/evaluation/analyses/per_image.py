"""Which images a model does worst on, and what it got wrong on one image, from TIDE's classification.

`per_image_table` has one row per ground-truth image: AP, true positives, false positives, missed objects and
the most frequent error type, worst images first. `image_overlay` lists what to draw on one image: each
detection as a true positive or a false positive with its TIDE error type, and each missed object. Both read
one `tide.classify` result, at the IoU and score threshold it was made with, so the table, the picture and the
dAPs never disagree about what a detection was.

Per-image AP is TIDE's AP restricted to the image: the mean over the classes present in it (objects or
detections; a class with detections but no objects counts 0), NaN for an image with neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from explorer.evaluation.analyses.tide import DETECTION_LABELS, MAIN_ERRORS, TP, Classification, segment_ap
from explorer.evaluation.coco.results import format_percent
from explorer.evaluation.inputs.ground_truth import GroundTruth
from explorer.evaluation.masks import boxes as mask_boxes

#: The CLI's --per-image columns.
PER_IMAGE_COLUMNS: tuple[str, ...] = ("image_id", "file_name", "ap", "tp", "fp", "fn")


def per_image_table(classification: Classification, gt: GroundTruth) -> pd.DataFrame:
    """image_id, file_name, ap (points, NaN where undefined), tp, fp, fn, worst_error (the most frequent
    error type on the image, "" for a clean one); sorted worst first: lowest AP, then most errors."""
    c = classification
    n_images, k = len(c.image_ids), len(c.category_ids)
    counted = ~c.det_ignored
    tp = np.bincount(c.det_image[counted & (c.det_label == TP)], minlength=n_images)
    fp = np.bincount(c.det_image[counted & (c.det_label != TP)], minlength=n_images)
    fn = np.bincount(c.gt_image[~c.gt_matched], minlength=n_images)
    frame = pd.DataFrame({"image_id": list(c.image_ids), "file_name": [str(i.get("file_name", "")) for i in gt.images],
                          "ap": _image_aps(c, n_images, k), "tp": tp, "fp": fp, "fn": fn,
                          "worst_error": _worst_errors(c, n_images)})
    frame["_errors"] = frame["fp"] + frame["fn"]
    frame = frame.sort_values(["ap", "_errors", "image_id"], ascending=[True, False, True], na_position="last",
                              kind="stable")
    return frame.drop(columns="_errors").reset_index(drop=True)


def _image_aps(c: Classification, n_images: int, k: int) -> np.ndarray:
    """TIDE's AP per (image, class), all at once, then the mean over each image's classes."""
    counted = ~c.det_ignored
    det_key = c.det_image[counted].astype(np.int64) * k + c.det_category[counted]
    gt_key = c.gt_image.astype(np.int64) * k + c.gt_category
    keys, inverse = np.unique(np.r_[det_key, gt_key], return_inverse=True)
    n_gt = np.bincount(inverse[det_key.size:], minlength=keys.size)
    aps = segment_ap(inverse[: det_key.size], c.det_score[counted], c.det_label[counted] == TP, n_gt)
    image_of = keys // k
    sums = np.bincount(image_of, weights=aps, minlength=n_images)
    counts = np.bincount(image_of, minlength=n_images)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _worst_errors(c: Classification, n_images: int) -> list[str]:
    """The most frequent error type per image (ties: TIDE's order), "" where there is none."""
    counts = np.zeros((n_images, len(MAIN_ERRORS)), dtype=np.int64)
    wrong = ~c.det_ignored & (c.det_label != TP)
    for e, error in enumerate(MAIN_ERRORS[:-1]):
        code = DETECTION_LABELS.index(error)
        counts[:, e] = np.bincount(c.det_image[wrong & (c.det_label == code)], minlength=n_images)
    counts[:, -1] = np.bincount(c.gt_image[c.gt_missed], minlength=n_images)
    worst = np.asarray(MAIN_ERRORS)[counts.argmax(axis=1)]
    return [str(w) if n else "" for w, n in zip(worst, counts.max(axis=1), strict=True)]


def per_image_csv_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The CLI's CSV: PER_IMAGE_COLUMNS, AP as percent text with one decimal (empty where undefined)."""
    frame = table[list(PER_IMAGE_COLUMNS)].copy()
    frame["ap"] = [format_percent(v / 100) for v in frame["ap"]]
    return frame


@dataclass(frozen=True)
class OverlayItem:
    """One thing to draw: kind is "tp", an error type (cls, loc, both, dupe, bkg), "ignored" (a detection in a
    crowd region) or "missed" (an object no detection found); box is [x, y, w, h]."""

    kind: str
    box: tuple[float, float, float, float]
    category: str
    score: float | None


def image_overlay(classification: Classification, gt: GroundTruth, results: Sequence[dict[str, Any]],
                  image_id: int, category_names: dict[int, str] | None = None) -> list[OverlayItem]:
    """What to draw on one image: every detection kept by the classification, then every unmatched object
    (missed at this IoU and score threshold). For masks the box drawn is the mask's tight box."""
    c = classification
    names = category_names or gt.category_names
    image = c.image_ids.index(image_id)
    items: list[OverlayItem] = []
    rows = np.flatnonzero(c.det_image == image)
    det_boxes = _result_boxes([results[int(c.det_result[r])] for r in rows], c.iou_type)
    for r, box in zip(rows, det_boxes, strict=True):
        kind = "ignored" if c.det_ignored[r] else DETECTION_LABELS[int(c.det_label[r])]
        items.append(OverlayItem(kind=kind, box=box, category=names[c.category_ids[int(c.det_category[r])]],
                                 score=float(c.det_score[r])))
    for g in np.flatnonzero((c.gt_image == image) & ~c.gt_matched):
        ann = gt.annotations[int(c.gt_annotation[g])]
        items.append(OverlayItem(kind="missed", box=_object_box(ann, gt, c.iou_type),
                                 category=names[ann["category_id"]], score=None))
    return items


def _result_boxes(results: list[dict[str, Any]], iou_type: str) -> list[tuple[float, float, float, float]]:
    if iou_type == "bbox":
        return [tuple(float(v) for v in r["bbox"]) for r in results]  # type: ignore[misc]
    return [tuple(float(v) for v in box) for box in mask_boxes([r["segmentation"] for r in results])]  # type: ignore[misc]


def _object_box(ann: dict[str, Any], gt: GroundTruth, iou_type: str) -> tuple[float, float, float, float]:
    if iou_type == "segm":
        return tuple(float(v) for v in mask_boxes([gt.mask_rles()[ann["id"]]])[0])  # type: ignore[return-value]
    return tuple(float(v) for v in ann["bbox"])  # type: ignore[return-value]
