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

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import numpy as np
import pandas as pd

from explorer.evaluation.collector import collector_paused
from explorer.evaluation.errors import EvaluationInputError, check_iou_type
from explorer.evaluation.inputs.ground_truth import GroundTruth, load_ground_truth
from explorer.evaluation.inputs.loading import DEFAULT_MAX_BYTES, JsonSource
from explorer.evaluation.inputs.result_columns import ResultColumns, read_result_columns
from explorer.evaluation.masks import boxes as mask_boxes
from explorer.evaluation.masks import coco_iou, rle_iou
from explorer.tasks import IouType

BACKGROUND: Final[str] = "background"
DEFAULT_IOU: Final[float] = 0.5
DEFAULT_SCORE: Final[float] = 0.5

#: Columns of ConfusionMatrix.entries: one row per counted detection or missed object.
ENTRY_COLUMNS: Final[tuple[str, ...]] = ("ground_truth", "predicted", "image_id", "file_name", "detection",
                                         "annotation", "score", "iou", "dt_box", "gt_box")


@dataclass(frozen=True, eq=False)
class _Items:
    """The counted items as columns, index for index: row and column (label indices), image id, detection and
    annotation index (-1 for none), score and IoU (NaN for none), and both boxes ([M, 4], NaN rows for none)."""

    row: np.ndarray
    column: np.ndarray
    image_id: np.ndarray
    detection: np.ndarray
    annotation: np.ndarray
    score: np.ndarray
    iou: np.ndarray
    dt_box: np.ndarray
    gt_box: np.ndarray
    file_names: dict[int, str]

    def frame(self, labels: tuple[str, ...], chosen: np.ndarray) -> pd.DataFrame:
        """The chosen items as ENTRY_COLUMNS (boxes as lists of 4 floats, None where there is none)."""
        names = np.asarray(labels, dtype=object)
        image_ids = self.image_id[chosen].tolist()
        detection, annotation = self.detection[chosen], self.annotation[chosen]
        return pd.DataFrame({
            "ground_truth": names[self.row[chosen]].tolist(), "predicted": names[self.column[chosen]].tolist(),
            "image_id": image_ids, "file_name": [self.file_names.get(i, "") for i in image_ids],
            "detection": detection.tolist(), "annotation": annotation.tolist(), "score": self.score[chosen].tolist(),
            "iou": self.iou[chosen].tolist(),
            "dt_box": [b if d >= 0 else None for b, d in zip(self.dt_box[chosen].tolist(), detection, strict=True)],
            "gt_box": [b if a >= 0 else None for b, a in zip(self.gt_box[chosen].tolist(), annotation, strict=True)]},
            columns=list(ENTRY_COLUMNS))


@dataclass(frozen=True, eq=False)
class ConfusionMatrix:
    """counts[i, j]: objects of labels[i] detected as labels[j]; the last label is "background" on both axes.

    `entries` has one row per counted item (ENTRY_COLUMNS): `detection` its index in the results file (-1 for a
    missed object), `annotation` the object's index in the ground truth's annotations (-1 for a background
    detection), boxes as [x, y, w, h] (for masks the mask's tight box), for listing and drawing a cell. The items
    are kept as arrays (`items`) and made into that frame only when asked for: at 500,000 detections the frame of
    Python lists took longer than the matching, and the page only ever lists one cell (`cell`).
    """

    iou_type: IouType
    iou_threshold: float
    score_threshold: float
    category_ids: tuple[int, ...]
    labels: tuple[str, ...]
    counts: np.ndarray
    items: _Items = field(repr=False)

    @cached_property
    def entries(self) -> pd.DataFrame:
        """Every counted item, in the rule's order (by image; its detections by score, then its missed objects)."""
        return self.items.frame(self.labels, np.ones(self.items.row.size, dtype=bool))

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
        labels = list(self.labels)
        if ground_truth not in labels or predicted not in labels:
            return self.items.frame(self.labels, np.zeros(self.items.row.size, dtype=bool))
        chosen = (self.items.row == labels.index(ground_truth)) & (self.items.column == labels.index(predicted))
        rows = self.items.frame(self.labels, chosen)
        return rows.sort_values("score", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def confusion_matrix(ground_truth: JsonSource | GroundTruth, results: JsonSource, iou_type: IouType | str = "bbox",
                     *, iou: float = DEFAULT_IOU, score: float = DEFAULT_SCORE, max_bytes: int = DEFAULT_MAX_BYTES,
                     results_name: str | None = None, ground_truth_name: str | None = None,
                     image_ids: Sequence[int] | None = None) -> ConfusionMatrix:
    """The confusion matrix of `results` against `ground_truth` (see the module docstring for the rule).

    Inputs as for `evaluate` (paths, bytes, parsed JSON; the ground truth also a GroundTruth). Raises
    EvaluationInputError for bad input or thresholds outside 0..1.
    """
    check_options(iou_type, iou, score)
    overlaps = confusion_overlaps(ground_truth, results, iou_type, max_bytes=max_bytes, results_name=results_name,
                                  ground_truth_name=ground_truth_name, image_ids=image_ids)
    return overlaps.matrix(iou, score)


def confusion_overlaps(ground_truth: JsonSource | GroundTruth, results: JsonSource, iou_type: IouType | str = "bbox",
                       *, max_bytes: int = DEFAULT_MAX_BYTES, results_name: str | None = None,
                       ground_truth_name: str | None = None,
                       image_ids: Sequence[int] | None = None) -> ConfusionOverlaps:
    """What every threshold's matrix shares (ConfusionOverlaps): read and check the inputs once and compute each
    image's IoUs once; `.matrix(iou, score)` then only matches. The page keeps one per file while the sliders
    move."""
    kind = check_options(iou_type, DEFAULT_IOU, DEFAULT_SCORE)
    with collector_paused():  # millions of containers read and built: see explorer.evaluation.collector
        gt = load_ground_truth(ground_truth, name=ground_truth_name, max_bytes=max_bytes)
        if image_ids is not None:
            gt = gt.restricted_to(image_ids)
        truth = gt.prepare(kind)
        label = results_name or "results"
        columns = read_result_columns(results, truth, what=label, max_bytes=max_bytes)
        return ConfusionOverlaps.compute(gt, columns, kind)


@dataclass(frozen=True, eq=False)
class _Group:
    """The images with the same number of objects, stacked: their detections (all of them, highest score first,
    file order on ties; padded with -1 and a score of -inf) and objects, with the IoU of every pair. Stacking
    lets the greedy matching take rank i of every image of the group in one numpy step."""

    image_ids: np.ndarray  # [G]
    dets: np.ndarray  # [G, D] indices into the results, -1 for padding
    det_scores: np.ndarray  # [G, D]
    det_labels: np.ndarray  # [G, D] category index of each detection
    anns: np.ndarray  # [G, N] indices into gt.annotations
    ann_labels: np.ndarray  # [G, N]
    crowd: np.ndarray  # [G, N]
    ious: np.ndarray  # [G, D, N]


@dataclass(frozen=True, eq=False)
class ConfusionOverlaps:
    """The thresholds-independent part of a confusion matrix: checked detections as typed columns and each
    image's IoU between every detection and every object. Detections under a score threshold are a prefix cut
    of each image's score order and an IoU does not depend on the other detections, so every (iou, score) matrix
    is a matching over these arrays, with no file reading and no IoU computed again."""

    gt: GroundTruth
    kind: IouType
    columns: ResultColumns
    category_ids: tuple[int, ...]
    groups: tuple[_Group, ...]
    gt_boxes: np.ndarray  # [annotations, 4]: the box drawn for each object (the mask's tight box for segm)
    det_boxes: np.ndarray  # [detections, 4]: the same for each detection
    file_names: dict[int, str]

    @classmethod
    def compute(cls, gt: GroundTruth, columns: ResultColumns, kind: IouType) -> ConfusionOverlaps:
        category_ids = tuple(gt.category_ids(kind))
        index = {c: k for k, c in enumerate(category_ids)}
        rles = gt.mask_rles() if kind == "segm" else {}
        anns = gt.annotations
        ann_image = np.fromiter((a["image_id"] for a in anns), np.int64, len(anns))
        ann_label = np.fromiter((index[a["category_id"]] for a in anns), np.int64, len(anns))
        ann_crowd = np.fromiter((a["iscrowd"] == 1 for a in anns), bool, len(anns))
        if kind == "bbox":
            gt_boxes = np.asarray([a["bbox"] for a in anns], dtype=float).reshape(-1, 4)
        else:
            gt_boxes = mask_boxes([rles[a["id"]] for a in anns]).reshape(-1, 4)
        det_label = np.searchsorted(np.asarray(category_ids), columns.category_id)
        # by image, then score descending, then file order
        order = np.lexsort((np.arange(len(columns)), -columns.score, columns.image_id))
        det_image = columns.image_id[order]
        ann_order = np.argsort(ann_image, kind="stable")
        sorted_ann_image = ann_image[ann_order]
        by_size: dict[int, list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]] = {}
        for image_id in sorted(set(ann_image.tolist()) | set(np.unique(det_image).tolist())):
            lo, hi = np.searchsorted(det_image, [image_id, image_id + 1])
            dets = order[lo:hi]
            alo, ahi = np.searchsorted(sorted_ann_image, [image_id, image_id + 1])
            objects = ann_order[alo:ahi]
            if kind == "bbox":
                d: list[Any] = columns.geometry[dets].tolist()
                g: list[Any] = gt_boxes[objects].tolist()
            else:
                d = [columns.rle(int(i)) for i in dets]
                g = [rles[anns[int(a)]["id"]] for a in objects]
            crowd = ann_crowd[objects].astype(int).tolist()
            # masks: ultrafast-pycocotools' port of pycocotools' rleIou, bit for bit and faster (masks.rle_iou)
            ious = coco_iou(d, g, crowd, kind) if kind == "bbox" else rle_iou(d, g, crowd)
            by_size.setdefault(objects.size, []).append((image_id, dets, objects, ious))
        groups = tuple(_stack(images, columns.score, det_label, ann_label, ann_crowd)
                       for _, images in sorted(by_size.items()))
        det_boxes = (np.asarray(columns.geometry, dtype=float).reshape(-1, 4) if kind == "bbox"
                     else mask_boxes([columns.rle(i) for i in range(len(columns))]).reshape(-1, 4))
        return cls(gt=gt, kind=kind, columns=columns, category_ids=category_ids, groups=groups, gt_boxes=gt_boxes,
                   det_boxes=det_boxes,
                   file_names={image["id"]: str(image.get("file_name", "")) for image in gt.images})

    def matrix(self, iou: float = DEFAULT_IOU, score: float = DEFAULT_SCORE) -> ConfusionMatrix:
        """The matrix at these thresholds (see the module docstring for the rule)."""
        check_options(self.kind, iou, score)
        iou, score = float(iou), float(score)
        labels = (*(self.gt.category_names[c] for c in self.category_ids), BACKGROUND)
        parts = [_match(group, iou, score, len(self.category_ids)) for group in self.groups]
        image_id, phase, position, row, column, dets, anns = (
            np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, np.int64) for k in range(7))
        values = np.concatenate([p[7] for p in parts]) if parts else np.zeros(0)
        # entries in the order of the rule: by image, its detections by score, then its missed objects
        order = np.lexsort((position, phase, image_id))
        image_id, row, column, dets, anns, values = (v[order] for v in (image_id, row, column, dets, anns, values))
        n = len(labels)
        counts = np.bincount(row * n + column, minlength=n * n).reshape(n, n).astype(np.int64)
        has_det, has_ann = dets >= 0, anns >= 0
        items = _Items(row=row, column=column, image_id=image_id, detection=dets, annotation=anns,
                       score=np.where(has_det, self.columns.score[np.maximum(dets, 0)], np.nan), iou=values,
                       dt_box=np.where(has_det[:, None], self.det_boxes[np.maximum(dets, 0)], np.nan)
                       if dets.size else np.zeros((0, 4)),
                       gt_box=np.where(has_ann[:, None], self.gt_boxes[np.maximum(anns, 0)], np.nan)
                       if anns.size else np.zeros((0, 4)),
                       file_names=self.file_names)
        return ConfusionMatrix(iou_type=self.kind, iou_threshold=iou, score_threshold=score,
                               category_ids=self.category_ids, labels=labels, counts=counts, items=items)


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


def _stack(images: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]], scores: np.ndarray, det_label: np.ndarray,
           ann_label: np.ndarray, ann_crowd: np.ndarray) -> _Group:
    """One _Group of images with the same number of objects (padding the detections to the most of them)."""
    g, n = len(images), images[0][2].size
    width = max(dets.size for _, dets, _, _ in images)
    dets = np.full((g, width), -1, dtype=np.int64)
    ious = np.zeros((g, width, n))
    anns = np.zeros((g, n), dtype=np.int64)
    for k, (_, d, a, iou) in enumerate(images):
        dets[k, : d.size] = d
        anns[k] = a
        ious[k, : d.size] = iou.reshape(d.size, n)
    padded = dets < 0
    return _Group(image_ids=np.asarray([i for i, _, _, _ in images], dtype=np.int64), dets=dets,
                  det_scores=np.where(padded, -np.inf, scores[dets]), det_labels=np.where(padded, -1, det_label[dets]),
                  anns=anns, ann_labels=ann_label[anns], crowd=ann_crowd[anns], ious=ious)


def _match(group: _Group, iou: float, score: float, background: int) -> list[np.ndarray]:
    """The rule (module docstring) on every image of `group` at once, rank by rank: each image's i-th detection
    takes its best free object of its own class, else of any class. The counted items as arrays: image id,
    phase (0 detection, 1 missed object), position in the image, row, column, detection, annotation, IoU."""
    g, n = group.anns.shape
    kept = group.det_scores >= score  # a prefix of each row: scores are in descending order
    depth = int(kept.sum(axis=1).max(initial=0))
    taken = group.crowd.copy()  # crowd regions are never matched one-to-one, nor missed
    match = np.full((g, depth), -1, dtype=np.int64)
    rows_g = np.arange(g)
    if n:
        above = group.ious[:, :depth] >= iou
        own = group.det_labels[:, :depth, None] == group.ann_labels[:, None, :]
        for i in range(depth):
            free = above[:, i] & ~taken
            mine = free & own[:, i]
            row = group.ious[:, i]
            j = np.where(mine.any(axis=1), np.argmax(np.where(mine, row, -1.0), axis=1),
                         np.argmax(np.where(free, row, -1.0), axis=1))
            hit = free.any(axis=1) & kept[:, i]
            match[hit, i] = j[hit]
            taken[rows_g[hit], j[hit]] = True
        crowd_hit = (above & group.crowd[:, None, :]).any(axis=2)
    else:
        crowd_hit = np.zeros((g, depth), dtype=bool)
    kept = kept[:, :depth]
    matched_g, matched_i = np.nonzero(match >= 0)
    matched_j = match[matched_g, matched_i]
    false_g, false_i = np.nonzero(kept & (match < 0) & ~crowd_hit)
    missed_g, missed_j = np.nonzero(~taken)
    det_g = np.concatenate([matched_g, false_g])
    det_i = np.concatenate([matched_i, false_i])
    nan = np.full(false_g.size, np.nan)
    return [
        group.image_ids[np.concatenate([det_g, missed_g])],
        np.concatenate([np.zeros(det_g.size, np.int64), np.ones(missed_g.size, np.int64)]),
        np.concatenate([det_i, missed_j]),
        np.concatenate([group.ann_labels[matched_g, matched_j], np.full(false_g.size, background),
                        group.ann_labels[missed_g, missed_j]]),
        np.concatenate([group.det_labels[det_g, det_i], np.full(missed_g.size, background)]),
        np.concatenate([group.dets[det_g, det_i], np.full(missed_g.size, -1)]),
        np.concatenate([group.anns[matched_g, matched_j], np.full(false_g.size, -1), group.anns[missed_g, missed_j]]),
        np.concatenate([group.ious[matched_g, matched_i, matched_j], nan, np.full(missed_g.size, np.nan)]),
    ]
