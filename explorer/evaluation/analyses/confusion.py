"""Which classes a model confuses: the detection confusion matrix at one IoU and one score threshold.

    from explorer.evaluation.analyses.confusion import confusion_matrix
    matrix = confusion_matrix("instances_val2017.json", "results.json", "bbox", iou=0.5, score=0.5)
    matrix.to_frame()            # counts, rows ground truth, columns predicted, "background" last on both
    matrix.to_frame(normalise=True)   # each row divided by its total (what fraction of class X went where)
    matrix.cell("cat", "dog")    # the detections behind one cell, with their boxes, to look at

The rule, per image (one-to-one, greedy by score, the way Ultralytics' ConfusionMatrix and the usual detectron2
scripts count, made precise):

1. Only detections with score >= `score` take part; they are taken in descending score order (ties: file order).
2. Each takes the still unmatched ground-truth object with the highest IoU >= `iou` *of its own class*; if there
   is none, the one with the highest IoU >= `iou` of *any* class (class-agnostic: this is a confusion). A match
   counts in row = the object's class, column = the detection's class.
3. A detection matching nothing counts in row "background", column its class (a false detection).
4. A detection matching no object but covering a crowd region (IoU >= `iou` as COCO computes it for crowds:
   intersection over the detection's area) is not counted at all, as COCO ignores it.
5. Every object left unmatched counts in row its class, column "background" (missed). Crowd regions are never
   counted as missed.

IoU is COCO's: box IoU for "bbox", mask IoU for "segm" (pycocotools' maskUtils.iou). Keypoint sets have one class,
so there is nothing to confuse; they are refused with a clear message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from explorer.evaluation.errors import EvaluationInputError, check_iou_type
from explorer.evaluation.inputs.ground_truth import GroundTruth, load_ground_truth
from explorer.evaluation.inputs.loading import DEFAULT_MAX_BYTES, JsonSource, read_json
from explorer.evaluation.inputs.result_checks import check_results
from explorer.evaluation.masks import boxes as mask_boxes
from explorer.evaluation.masks import coco_iou
from explorer.tasks import IouType

BACKGROUND: Final[str] = "background"
DEFAULT_IOU: Final[float] = 0.5
DEFAULT_SCORE: Final[float] = 0.5

#: Columns of ConfusionMatrix.entries: one row per counted detection or missed object.
ENTRY_COLUMNS: Final[tuple[str, ...]] = ("ground_truth", "predicted", "image_id", "file_name", "detection",
                                         "annotation", "score", "iou", "dt_box", "gt_box")


@dataclass(frozen=True, eq=False)
class ConfusionMatrix:
    """counts[i, j]: objects of labels[i] detected as labels[j]; the last label is "background" on both axes.

    `entries` has one row per counted item (ENTRY_COLUMNS): `detection` its index in the results file (-1 for a
    missed object), `annotation` the object's index in the ground truth's annotations (-1 for a background
    detection), boxes as [x, y, w, h] (for masks the mask's tight box), for listing and drawing a cell.
    """

    iou_type: IouType
    iou_threshold: float
    score_threshold: float
    category_ids: tuple[int, ...]
    labels: tuple[str, ...]
    counts: np.ndarray
    entries: pd.DataFrame = field(repr=False)

    def normalised(self) -> np.ndarray:
        """Each row divided by its total (0 where a row has none): where class X's objects went."""
        totals = self.counts.sum(axis=1, keepdims=True)
        return np.divide(self.counts, totals, out=np.zeros(self.counts.shape), where=totals > 0)

    def to_frame(self, normalise: bool = False) -> pd.DataFrame:
        """The CLI's CSV: first column `ground_truth` (category names, then background), one column per
        predicted category name, then background."""
        values = self.normalised() if normalise else self.counts
        frame = pd.DataFrame(values, columns=list(self.labels))
        frame.insert(0, "ground_truth", list(self.labels))
        return frame

    def cell(self, ground_truth: str, predicted: str) -> pd.DataFrame:
        """The entries behind one cell, highest score first (missed objects have no score and come last)."""
        rows = self.entries[(self.entries["ground_truth"] == ground_truth) & (self.entries["predicted"] == predicted)]
        return rows.sort_values("score", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def confusion_matrix(ground_truth: JsonSource | GroundTruth, results: JsonSource, iou_type: IouType | str = "bbox",
                     *, iou: float = DEFAULT_IOU, score: float = DEFAULT_SCORE, max_bytes: int = DEFAULT_MAX_BYTES,
                     results_name: str | None = None, ground_truth_name: str | None = None,
                     image_ids: Sequence[int] | None = None) -> ConfusionMatrix:
    """The confusion matrix of `results` against `ground_truth` (see the module docstring for the rule).

    Inputs as for `evaluate` (paths, bytes, parsed JSON; the ground truth also a GroundTruth). Raises
    EvaluationInputError for bad input or thresholds outside 0..1.
    """
    kind = check_options(iou_type, iou, score)
    gt = load_ground_truth(ground_truth, name=ground_truth_name, max_bytes=max_bytes)
    if image_ids is not None:
        gt = gt.restricted_to(image_ids)
    truth = gt.prepare(kind)
    label = results_name or "results"
    checked = check_results(read_json(results, what=label, max_bytes=max_bytes), truth, what=label)
    return _count(gt, checked, kind, float(iou), float(score))


def check_options(iou_type: IouType | str, iou: float, score: float) -> IouType:
    """The iou type, or EvaluationInputError for keypoints (one class) or thresholds outside 0..1; the command
    line calls this before evaluating anything."""
    kind = check_iou_type(iou_type)
    if kind == "keypoints":
        raise EvaluationInputError("a confusion matrix needs classes to confuse: use bbox or segm (keypoint files "
                                   "have one class, person)")
    for name, value in (("IoU threshold", iou), ("score threshold", score)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise EvaluationInputError(f"{name} must be a number from 0 to 1, got {value!r}")
    return kind


def _count(gt: GroundTruth, results: list[dict[str, Any]], kind: IouType, iou: float, score: float
           ) -> ConfusionMatrix:
    category_ids = tuple(gt.category_ids(kind))
    labels = (*(gt.category_names[c] for c in category_ids), BACKGROUND)
    index = {c: k for k, c in enumerate(category_ids)}
    background = len(category_ids)
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    objects: dict[int, list[int]] = defaultdict(list)
    for a, ann in enumerate(gt.annotations):
        objects[ann["image_id"]].append(a)
    detections: dict[int, list[int]] = defaultdict(list)
    for d, det in enumerate(results):
        if det["score"] >= score:
            detections[det["image_id"]].append(d)
    rles = gt.mask_rles() if kind == "segm" else {}
    file_names = {image["id"]: str(image.get("file_name", "")) for image in gt.images}
    entries: list[tuple[Any, ...]] = []

    def entry(row: int, column: int, image_id: int, d: int, a: int, iou_value: float) -> None:
        counts[row, column] += 1
        entries.append((labels[row], labels[column], image_id, file_names.get(image_id, ""), d, a,
                        results[d]["score"] if d >= 0 else float("nan"), iou_value,
                        _box(results[d], kind) if d >= 0 else None,
                        _box(gt.annotations[a], kind, rles) if a >= 0 else None))

    for image_id in sorted(set(objects) | set(detections)):
        dets = sorted(detections.get(image_id, []), key=lambda d: -results[d]["score"])
        anns = objects.get(image_id, [])
        crowd = np.array([gt.annotations[a]["iscrowd"] == 1 for a in anns], dtype=bool)
        ious = _ious(gt, results, dets, anns, kind, rles)
        taken = crowd.copy()  # crowd regions are never matched one-to-one, nor missed
        for i, d in enumerate(dets):
            own = np.array([gt.annotations[a]["category_id"] == results[d]["category_id"] for a in anns], dtype=bool)
            j = _best(ious[i], ~taken & own, iou)
            if j is None:
                j = _best(ious[i], ~taken, iou)
            if j is not None:
                taken[j] = True
                entry(index[gt.annotations[anns[j]]["category_id"]], index[results[d]["category_id"]], image_id, d,
                      anns[j], float(ious[i, j]))
            elif _best(ious[i], crowd, iou) is None:
                entry(background, index[results[d]["category_id"]], image_id, d, -1, float("nan"))
        for j, a in enumerate(anns):
            if not taken[j]:
                entry(index[gt.annotations[a]["category_id"]], background, image_id, -1, a, float("nan"))
    return ConfusionMatrix(iou_type=kind, iou_threshold=iou, score_threshold=score, category_ids=category_ids,
                           labels=labels, counts=counts,
                           entries=pd.DataFrame(entries, columns=list(ENTRY_COLUMNS)))


def _best(row: np.ndarray, allowed: np.ndarray, threshold: float) -> int | None:
    """Index of the highest IoU >= threshold among `allowed` (first on ties), or None."""
    if not allowed.any():
        return None
    masked = np.where(allowed, row, -1.0)
    j = int(np.argmax(masked))
    return j if masked[j] >= threshold else None


def _ious(gt: GroundTruth, results: list[dict[str, Any]], dets: list[int], anns: list[int], kind: IouType,
          rles: dict[int, Any]) -> np.ndarray:
    """[len(dets), len(anns)] COCO IoU; against crowd regions, intersection over the detection's area."""
    crowd = [int(gt.annotations[a]["iscrowd"]) for a in anns]
    if kind == "bbox":
        d = [list(map(float, results[i]["bbox"])) for i in dets]
        g = [list(map(float, gt.annotations[a]["bbox"])) for a in anns]
    else:
        d = [results[i]["segmentation"] for i in dets]
        g = [rles[gt.annotations[a]["id"]] for a in anns]
    return coco_iou(d, g, crowd, kind)


def _box(item: dict[str, Any], kind: IouType, rles: dict[int, Any] | None = None) -> list[float]:
    if kind == "bbox":
        return [float(v) for v in item["bbox"]]
    mask = rles[item["id"]] if rles is not None else item["segmentation"]
    return [float(v) for v in mask_boxes([mask])[0]]
