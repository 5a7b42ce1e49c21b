"""TIDE error types (Bolya et al., ECCV 2020, "TIDE: A General Toolbox for Identifying Object Detection Errors"):
the AP each kind of mistake costs, for boxes and masks, overall and per category.

Each detection that is not a true positive gets exactly one error type, tested in this order (IoU with
ground truth that is not crowd; foreground threshold `pos` = .5, background threshold `bg` = .1 by default):

- loc:  its best IoU with an object of its own class is in [bg, pos]: right class, badly placed;
- cls:  its best IoU with an object of another class is >= pos: well placed, wrong class;
- dupe: its best IoU with an already matched object of its class is >= pos: a duplicate;
- bkg:  its best IoU with any object is <= bg: a detection on background;
- both: anything else (wrong class and badly placed);
- (an image without objects makes every detection bkg.)

An object no detection matched and no cls / loc error points at is `miss`.

The AP each type costs (dAP) is TIDE's "oracle": the AP after fixing every error of that type, minus the AP as
it is. Each unmatched object can be fixed once, by the highest-scoring cls or loc error pointing at it: fixing
cls (loc) turns that detection into a true positive (of the object's class for cls) when it is a cls (loc)
error, and drops every other error of the type; fixing dupe, bkg or both drops those detections;
fixing miss removes the missed objects from the count. The two special types: false_pos scores every false
positive below every true positive (perfect precision, same recall); false_neg removes every unmatched object
(perfect recall, same precision). A main type's dAP below 0 (a binning artefact) is reported as 0, as TIDE does.

AP is TIDE's, which is COCO's 101-point interpolated AP at one IoU, with TIDE's choices kept so the numbers
agree with the `tidecv` package: the best 100 detections per image over all classes (not per class), no area
ranges, crowd regions ignore a detection of their class that lies inside them (intersection over the
detection's area above `pos`), and the mean over classes counts a class with detections but no objects as 0.
Per category (our addition; TIDE reports only the mean) a category without objects is undefined (NaN).

`classify()` is the per-detection classification; the dAPs (`tide_errors`), the per-image table
(explorer.evaluation.analyses.per_image) and the ground-truth overlay (explorer.drawing.ground_truth) all read it.
It matches every image at once (explorer.evaluation.analyses.tide_matching) and reads the results as columns
(explorer.evaluation.inputs.result_columns): at val2017 scale that makes it 11-16x faster than tidecv on boxes
and 7-10x on masks (bench/bench_tide.py, bench/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from explorer.evaluation.analyses.forked import Pending
from explorer.evaluation.analyses.tide_matching import (
    BKG,
    BOTH,
    CLS,
    DUPE,
    LOC,
    TP,
    Gathered,
    Side,
    box_corners,
    match_all,
)
from explorer.evaluation.collector import collector_paused
from explorer.evaluation.errors import EvaluationInputError, check_iou_type
from explorer.evaluation.inputs.ground_truth import GroundTruth, load_ground_truth
from explorer.evaluation.inputs.loading import DEFAULT_MAX_BYTES
from explorer.evaluation.inputs.result_columns import ResultColumns, read_result_columns
from explorer.tasks import IouType, task_of_iou_type

#: The six main error types, in TIDE's order, then the two special ones.
MAIN_ERRORS: tuple[str, ...] = ("cls", "loc", "both", "dupe", "bkg", "miss")
SPECIAL_ERRORS: tuple[str, ...] = ("false_pos", "false_neg")
ERRORS: tuple[str, ...] = MAIN_ERRORS + SPECIAL_ERRORS

#: What each detection became (codes in Classification.det_label): a true positive or one of five errors.
DETECTION_LABELS: tuple[str, ...] = ("tp", "cls", "loc", "both", "dupe", "bkg")

ERROR_DESCRIPTIONS: dict[str, str] = {
    "cls": "classification: right place, wrong class",
    "loc": "localisation: right class, badly placed",
    "both": "both wrong class and badly placed",
    "dupe": "duplicate of a detection that already matched",
    "bkg": "background: a detection where there is no object",
    "miss": "missed object (no detection, not even a wrong one)",
    "false_pos": "all false positives (perfect precision)",
    "false_neg": "all false negatives (perfect recall)",
}

POS_THRESHOLD = 0.5
BG_THRESHOLD = 0.1
MAX_DETS = 100
#: TIDE's (and COCO's) 101 recall thresholds, computed as TIDE computes them.
RECALL_THRESHOLDS = np.array([r / 100 for r in range(101)])
#: With EXPLORER_FORK=1 (analyses.forked), load_for_tide rasterises the ground truth's masks in a forked child
#: while it reads the results when there are at least this many to convert.
FORK_MIN_MASKS = 2_000


@dataclass(frozen=True, eq=False)
class Classification:
    """Every detection (the best `max_dets` per image, sorted by image then score) and every object that is not
    crowd, as TIDE's matching at `pos_threshold` leaves them.

    det_result: index into the results list; det_label: DETECTION_LABELS code; det_ignored: inside a crowd
    region of its class (neither true nor false); det_target: for tp the object matched, for cls / loc the object
    the error points at, else -1 (an index into the gt_* arrays); det_fixable: the cls / loc error that fixing
    turns into a true positive (the best-scoring one of an unmatched object). gt_annotation: index into
    GroundTruth.annotations; gt_matched; gt_missed: unmatched and no cls / loc error points at it (TIDE's miss).
    Category indexes refer to `category_ids`; image indexes to `image_ids` (the ground truth's order).
    """

    iou_type: IouType
    pos_threshold: float
    bg_threshold: float
    score_threshold: float
    category_ids: tuple[int, ...]
    image_ids: tuple[int, ...]
    det_result: np.ndarray
    det_image: np.ndarray
    det_category: np.ndarray
    det_score: np.ndarray
    det_label: np.ndarray
    det_ignored: np.ndarray
    det_target: np.ndarray
    det_fixable: np.ndarray
    gt_annotation: np.ndarray
    gt_image: np.ndarray
    gt_category: np.ndarray
    gt_matched: np.ndarray
    gt_missed: np.ndarray

    def detection_frame(self) -> pd.DataFrame:
        """One row per detection kept: result (index in the results list), image_id, category_id, score, label
        (tp, cls, loc, both, dupe, bkg) and ignored (inside a crowd region)."""
        return pd.DataFrame({
            "result": self.det_result, "image_id": np.asarray(self.image_ids, dtype=np.int64)[self.det_image],
            "category_id": np.asarray(self.category_ids, dtype=np.int64)[self.det_category],
            "score": self.det_score, "label": np.asarray(DETECTION_LABELS)[self.det_label],
            "ignored": self.det_ignored})


def _geometry_key(iou_type: IouType) -> str:
    if iou_type not in ("bbox", "segm"):
        raise EvaluationInputError(f"TIDE error types are defined for bbox and segm, not {iou_type}")
    return task_of_iou_type(iou_type).result_field


def classify(gt: GroundTruth, results: Sequence[dict[str, Any]] | ResultColumns, iou_type: IouType, *,
             pos_threshold: float = POS_THRESHOLD, bg_threshold: float = BG_THRESHOLD, max_dets: int = MAX_DETS,
             score_threshold: float = 0.0) -> Classification:
    """TIDE's matching and error type of every detection in `results` (checked results, see check_results, or
    their columns, see read_result_columns) with a score of at least `score_threshold`. All images at once
    (tide_matching)."""
    key = _geometry_key(iou_type)
    if not 0 < pos_threshold <= 1 or not 0 <= bg_threshold <= pos_threshold:
        raise EvaluationInputError(f"need 0 < background {bg_threshold} <= foreground {pos_threshold} <= 1")
    category_ids = tuple(gt.category_ids(iou_type))
    image_ids = tuple(image["id"] for image in gt.images)
    columns = ResultColumns.from_records(results, key)
    dets = _sorted_detections(columns, image_ids, category_ids, max_dets, score_threshold)
    objects = _objects(gt, image_ids, category_ids)
    matching = match_all(*_sides(gt, columns, dets, objects, iou_type), iou_type, pos_threshold, bg_threshold,
                         _image_sizes(gt, columns))
    fixable, usable = _fixable(matching.label, matching.target, matching.matched)
    return Classification(
        iou_type=iou_type, pos_threshold=pos_threshold, bg_threshold=bg_threshold,
        score_threshold=score_threshold, category_ids=category_ids, image_ids=image_ids, det_result=dets.result,
        det_image=dets.image, det_category=dets.category, det_score=dets.score, det_label=matching.label,
        det_ignored=matching.ignored, det_target=matching.target, det_fixable=fixable,
        gt_annotation=objects.annotation, gt_image=objects.image, gt_category=objects.category,
        gt_matched=matching.matched, gt_missed=~matching.matched & ~usable)


@dataclass(frozen=True)
class _Detections:
    result: np.ndarray
    image: np.ndarray
    category: np.ndarray
    score: np.ndarray


def _index_of(values: np.ndarray, keys: Sequence[int]) -> np.ndarray:
    """Position of each value in `keys` (all values are known keys: the results were checked)."""
    keys_array = np.asarray(keys, dtype=np.int64)
    order = np.argsort(keys_array, kind="stable")
    return order[np.searchsorted(keys_array[order], values)]


def _sorted_detections(columns: ResultColumns, image_ids: Sequence[int], category_ids: Sequence[int],
                       max_dets: int, score_threshold: float) -> _Detections:
    """Detections by image (ground-truth order), then score descending (ties in file order, as TIDE's stable
    sort), the best `max_dets` of each image."""
    image = _index_of(columns.image_id, image_ids)
    category = _index_of(columns.category_id, category_ids)
    score = columns.score
    order = segment_order(image, np.argsort(-score, kind="stable"))  # = np.lexsort((-score, image)), faster
    order = order[score[order] >= score_threshold]
    sorted_image = image[order]
    starts = np.r_[0, np.flatnonzero(sorted_image[1:] != sorted_image[:-1]) + 1] if order.size else np.zeros(0, int)
    rank = np.arange(order.size) - np.repeat(starts, np.diff(np.r_[starts, order.size]))
    order = order[rank < max_dets]
    return _Detections(result=order, image=image[order], category=category[order], score=score[order])


@dataclass(frozen=True)
class _Objects:
    annotation: np.ndarray
    image: np.ndarray
    category: np.ndarray
    crowd_annotation: np.ndarray
    crowd_image: np.ndarray
    crowd_category: np.ndarray


def _objects(gt: GroundTruth, image_ids: Sequence[int], category_ids: Sequence[int]) -> _Objects:
    """Objects (not crowd) and crowd regions, by image in ground-truth order, file order within an image."""
    keep = set(category_ids)
    rows = np.array([(i, ann["image_id"], ann["category_id"], ann["iscrowd"])
                     for i, ann in enumerate(gt.annotations) if ann["category_id"] in keep], dtype=np.int64)
    annotation, image_id, category_id, is_crowd = rows.reshape(-1, 4).T
    image = _index_of(image_id, image_ids)
    category = _index_of(category_id, category_ids)
    order = np.argsort(image, kind="stable")
    crowd = is_crowd[order] == 1
    plain, crowds = order[~crowd], order[crowd]
    return _Objects(annotation=annotation[plain], image=image[plain], category=category[plain],
                    crowd_annotation=annotation[crowds], crowd_image=image[crowds], crowd_category=category[crowds])


def _sides(gt: GroundTruth, columns: ResultColumns, dets: _Detections, objects: _Objects,
           iou_type: IouType) -> tuple[Side, Side, Side]:
    """The detections, objects and crowd regions as tide_matching takes them: boxes as box_corners columns,
    masks as the detections' count strings and the objects' RLE dicts."""
    geometry = _gt_geometry(gt, iou_type)
    if iou_type == "bbox":
        det_geometry: Any = box_corners(columns.geometry[dets.result])
        gt_geometry = box_corners(np.asarray(geometry, dtype=float))
        object_geometry: Any = gt_geometry[:, objects.annotation]
        crowd_geometry: Any = gt_geometry[:, objects.crowd_annotation]
    else:
        det_geometry = Gathered(columns.geometry, dets.result)
        object_geometry = [geometry[i] for i in objects.annotation.tolist()]
        crowd_geometry = [geometry[i] for i in objects.crowd_annotation.tolist()]
    n_images = len(gt.images)
    return (Side.of(dets.image, dets.category, det_geometry, n_images),
            Side.of(objects.image, objects.category, object_geometry, n_images),
            Side.of(objects.crowd_image, objects.crowd_category, crowd_geometry, n_images))


def _image_sizes(gt: GroundTruth, columns: ResultColumns) -> list[list[int]] | None:
    """[height, width] of each image (ground-truth order) for the detections' masks, None for boxes."""
    if columns.mask_size is None:
        return None
    return [columns.mask_size.get(image["id"]) for image in gt.images]


def _gt_geometry(gt: GroundTruth, iou_type: IouType) -> list[Any]:
    """Annotation index -> its box, or its mask as compressed RLE (converted once, shared with evaluate)."""
    if iou_type == "bbox":
        return [ann["bbox"] for ann in gt.annotations]
    gt.check_for("segm")
    rles = gt.mask_rles()
    return [rles[ann["id"]] for ann in gt.annotations]


def _fixable(label: np.ndarray, target: np.ndarray, matched: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(detection is the one cls / loc fix of its object, object has a cls / loc error pointing at it).

    An object can be fixed once: by the first (best-scoring) cls or loc error pointing at it, and only if no
    detection matched it (TIDE's BestGTMatch)."""
    candidate = ((label == CLS) | (label == LOC)) & (target >= 0)
    candidate[candidate] = ~matched[target[candidate]]
    rows = np.flatnonzero(candidate)
    objects, first = np.unique(target[rows], return_index=True)
    fixable = np.zeros(label.size, dtype=bool)
    fixable[rows[first]] = True
    usable = np.zeros(matched.size, dtype=bool)
    usable[objects] = True
    return fixable, usable


def segment_order(segment: np.ndarray, by_score: np.ndarray) -> np.ndarray:
    """The permutation that sorts detections by segment, then score descending, ties in their order, from
    `by_score` (the stable descending-score permutation): a stable radix sort on the segment instead of a
    lexsort, so several AP computations over subsets of the same detections share one score sort."""
    small = segment.astype(np.int16) if segment.size and segment.max() < 2**15 else segment
    return by_score[np.argsort(small[by_score], kind="stable")]


def segment_ap(segment: np.ndarray, score: np.ndarray, positive: np.ndarray, n_gt: np.ndarray,
               order: np.ndarray | None = None) -> np.ndarray:
    """TIDE's AP (in points, 0..100) of each segment (a class, or a class in one image): the detections in
    `segment` (0..len(n_gt)-1) with their score and true-positive flag, against n_gt objects each; `order`: their
    segment_order, if known.

    101-point interpolated precision as COCO's; NaN for a segment with neither detections nor objects, 0 for
    one with detections but no objects. All segments at once: one sort, cumulative sums, one searchsorted.
    """
    n_segments = len(n_gt)
    ap = np.where(n_gt > 0, 0.0, np.nan)
    if not segment.size:
        return ap
    if order is None:
        order = np.lexsort((-score, segment))
    seg, hit = segment[order], positive[order].astype(np.int64)
    counts = np.bincount(seg, minlength=n_segments)
    starts = np.cumsum(counts) - counts
    rank = np.arange(seg.size) - starts[seg]
    true_sum = np.cumsum(hit)
    true_count = true_sum - np.r_[0, true_sum][starts[seg]]
    precision = true_count / (rank + 1)
    n = n_gt[seg]
    recall = np.where(n > 0, true_count / np.maximum(n, 1), 0.0)
    # Running maximum from the right within each segment: offsets make each segment start above the last.
    lift = (n_segments - 1 - seg[::-1]) * 2.0
    precision = (np.maximum.accumulate(precision[::-1] + lift) - lift)[::-1]
    with_points = np.flatnonzero(counts)
    keys = seg * 2.0 + recall
    at = np.searchsorted(keys, (with_points[:, None] * 2.0 + RECALL_THRESHOLDS[None, :]).ravel(), side="left")
    at = at.reshape(with_points.size, RECALL_THRESHOLDS.size)
    ends = (starts + counts)[with_points][:, None]
    values = np.where(at < ends, precision[np.minimum(at, seg.size - 1)], 0.0)
    ap[with_points] = np.where(n_gt[with_points] > 0, values.mean(axis=1) * 100, 0.0)
    return ap


@dataclass(frozen=True, eq=False)
class TideErrors:
    """The dAP of each error type (AP points), overall (TIDE's numbers) and per category.

    ap: TIDE's AP at `pos_threshold`; dap: error -> dAP; category_ap [K] and category_dap [8, K] (ERRORS
    order): per category, NaN for a category without objects; counts: how many errors of each main type.
    """

    iou_type: IouType
    pos_threshold: float
    bg_threshold: float
    category_ids: tuple[int, ...]
    category_names: tuple[str, ...]
    ap: float
    dap: dict[str, float]
    category_ap: np.ndarray
    category_dap: np.ndarray
    counts: dict[str, int]

    def to_frame(self) -> pd.DataFrame:
        """The CSV's table: category_id (empty for all categories together), category, error, dap (points);
        one row per error type for all categories, then per category."""
        rows = [(pd.NA, "all", error, self.dap[error]) for error in ERRORS]
        for k, (cid, name) in enumerate(zip(self.category_ids, self.category_names, strict=True)):
            rows += [(cid, name, error, float(self.category_dap[e, k])) for e, error in enumerate(ERRORS)]
        frame = pd.DataFrame(rows, columns=["category_id", "category", "error", "dap"])
        frame["category_id"] = frame["category_id"].astype("Int64")
        return frame

    def category_frame(self) -> pd.DataFrame:
        """Wide form for the pages: one row per category with objects: category_id, category, ap, then the dAP
        of each error type."""
        frame = pd.DataFrame({"category_id": list(self.category_ids), "category": list(self.category_names),
                              "ap": self.category_ap})
        for e, error in enumerate(ERRORS):
            frame[error] = self.category_dap[e]
        return frame[~np.isnan(self.category_ap)].reset_index(drop=True)

    def summary_text(self) -> str:
        """TIDE's summary as lines: the AP, then each error type's dAP."""
        lines = [f" TIDE ({self.iou_type}, IoU {self.pos_threshold:g}, background {self.bg_threshold:g}): "
                 f"AP {self.ap:.2f}"]
        main = "  ".join(f"{e} {self.dap[e]:.2f}" for e in MAIN_ERRORS)
        special = "  ".join(f"{e} {self.dap[e]:.2f}" for e in SPECIAL_ERRORS)
        return "\n".join([*lines, f"  main dAP:    {main}", f"  special dAP: {special}"]) + "\n"


def _tide_mean(ap: np.ndarray) -> float:
    """TIDE's mean over classes: every class with detections or objects (NaN marks neither)."""
    defined = ap[~np.isnan(ap)]
    return float(defined.mean()) if defined.size else float("nan")


def _scenarios(c: Classification, n_gt: np.ndarray) -> dict[str, tuple[np.ndarray, ...]]:
    """(category, score, positive, n_gt, segment_order) of the AP data as it is ("base") and with each error
    type fixed. Every scenario but false_pos keeps a subset of the detections with their scores, so one score
    sort serves them all."""
    counted = ~c.det_ignored
    category, score, label = c.det_category, c.det_score, c.det_label
    positive = label == TP
    by_score = np.argsort(-score, kind="stable")

    def keep(mask: np.ndarray, cat: np.ndarray = category, hit: np.ndarray = positive) -> tuple[np.ndarray, ...]:
        subset = (np.cumsum(mask) - 1)[by_score[mask[by_score]]]  # by_score, in positions of the subset
        return cat[mask], score[mask], hit[mask], n_gt, segment_order(cat[mask], subset)

    scenarios = {"base": keep(counted)}
    for name, code in (("cls", CLS), ("loc", LOC)):
        fixed = (label == code) & c.det_fixable
        mask = (counted & (label != code)) | fixed
        cat = np.where(fixed & (code == CLS), c.gt_category[np.maximum(c.det_target, 0)], category)
        scenarios[name] = keep(mask, cat, positive | fixed)
    for name, code in (("both", BOTH), ("dupe", DUPE), ("bkg", BKG)):
        scenarios[name] = keep(counted & (label != code))
    k = len(n_gt)
    missed = np.bincount(c.gt_category[c.gt_missed], minlength=k)
    unmatched = np.bincount(c.gt_category[~c.gt_matched], minlength=k)
    base_cat, _, base_hit, _, base_order = scenarios["base"]
    scenarios["miss"] = (*scenarios["base"][:3], n_gt - missed, base_order)
    hits_first = segment_order(base_cat, np.argsort(~base_hit, kind="stable"))
    scenarios["false_pos"] = (base_cat, base_hit.astype(float), base_hit, n_gt, hits_first)
    scenarios["false_neg"] = (*scenarios["base"][:3], n_gt - unmatched, base_order)
    return scenarios


def tide_errors(classification: Classification, category_names: dict[int, str]) -> TideErrors:
    """The dAP of each error type from a classification at TIDE's thresholds (see the module docstring)."""
    c = classification
    k = len(c.category_ids)
    n_gt = np.bincount(c.gt_category, minlength=k)
    aps = {name: segment_ap(*data) for name, data in _scenarios(c, n_gt).items()}
    base = aps["base"]
    overall = _tide_mean(base)
    dap: dict[str, float] = {}
    category_dap = np.full((len(ERRORS), k), np.nan)
    has_objects = n_gt > 0
    for e, error in enumerate(ERRORS):
        delta = _tide_mean(aps[error]) - overall
        per_category = np.where(has_objects, aps[error] - base, np.nan)
        if error in MAIN_ERRORS:
            delta, per_category = max(delta, 0.0), np.where(np.isnan(per_category), np.nan,
                                                            np.maximum(per_category, 0.0))
        dap[error] = float(delta)
        category_dap[e] = per_category
    counts = {name: int(np.sum(c.det_label == code)) for name, code in
              (("cls", CLS), ("loc", LOC), ("both", BOTH), ("dupe", DUPE), ("bkg", BKG))}
    counts["miss"] = int(c.gt_missed.sum())
    return TideErrors(iou_type=c.iou_type, pos_threshold=c.pos_threshold, bg_threshold=c.bg_threshold,
                      category_ids=c.category_ids, category_names=tuple(category_names[i] for i in c.category_ids),
                      ap=overall, dap=dap, category_ap=np.where(has_objects, base, np.nan),
                      category_dap=category_dap, counts=counts)


def tide_difference(a: TideErrors, b: TideErrors, names: tuple[str, str] = ("A", "B")) -> pd.DataFrame:
    """What each error type costs model A and model B and the difference A - B (AP points; positive: A loses
    more to it), overall and per category: the to_frame() rows with columns names[0], names[1], difference.
    As the Evaluation page's per-category comparison, which is also A - B."""
    if a.category_ids != b.category_ids or a.iou_type != b.iou_type:
        raise EvaluationInputError("compare TIDE errors of the same ground truth and iou type")
    frame = a.to_frame().rename(columns={"dap": names[0]})
    frame[names[1]] = b.to_frame()["dap"].to_numpy()
    frame["difference"] = frame[names[0]] - frame[names[1]]
    return frame


def load_for_tide(ground_truth: Any, results: Any, iou_type: IouType | str, *, max_bytes: int | None = None,
                  results_name: str | None = None) -> tuple[GroundTruth, ResultColumns]:
    """The checked ground truth and results (paths, bytes or parsed JSON, as evaluate() takes them); the results
    as columns (a sequence of checked detections too), read without json.loads where the file allows."""
    kind = check_iou_type(iou_type)
    _geometry_key(kind)
    limit = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    gt = load_ground_truth(ground_truth, max_bytes=limit)
    truth = gt.prepare(kind)
    if kind != "segm" or len(gt.annotations) - len(gt.rle_cache) < FORK_MIN_MASKS:
        return gt, read_result_columns(results, truth, what=results_name or "results", max_bytes=limit)
    # The ground truth's polygons are rasterised (with EXPLORER_FORK=1 in a child process) while the results are read.
    with Pending(gt.mask_rles) as masks:
        columns = read_result_columns(results, truth, what=results_name or "results", max_bytes=limit)
        gt.rle_cache.update(masks.result())
    return gt, columns


def tide(ground_truth: Any, results: Any, iou_type: IouType | str = "bbox", *,
         pos_threshold: float = POS_THRESHOLD, bg_threshold: float = BG_THRESHOLD,
         max_bytes: int | None = None, results_name: str | None = None) -> TideErrors:
    """TIDE's error types of `results` against `ground_truth` in one call (see tide_errors); the cyclic garbage
    collector pauses meanwhile (explorer.evaluation.collector)."""
    with collector_paused():
        gt, checked = load_for_tide(ground_truth, results, iou_type, max_bytes=max_bytes, results_name=results_name)
        classification = classify(gt, checked, check_iou_type(iou_type), pos_threshold=pos_threshold,
                                  bg_threshold=bg_threshold)
        return tide_errors(classification, gt.category_names)
