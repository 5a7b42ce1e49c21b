"""Which detections are true positives at an IoU threshold, matched as COCOeval matches them, for the analyses
that ask what a score means (the operating point and calibration).

COCOeval's rule (evaluateImg, area range "all"), per image and category: detections are taken in descending
score order (ties: file order, as pycocotools' stable sort); each takes the unmatched object that is not crowd
with the highest IoU >= the threshold (ties: the later object, as pycocotools' loop does); failing that, the crowd
region with the highest IoU (intersection over the detection's area), which makes the detection *ignored*:
neither a true nor a false positive. A crowd region can take any number of detections and is never missed.

Unlike COCOeval's summary numbers, every detection in the file counts (no cap of 100 per image): a deployment
threshold is about all of a model's output. Keypoint results (one class, OKS instead of IoU) are refused.

Kept apart from `explorer.evaluation.coco` on purpose: these analyses need the per-detection outcome at any
IoU, which COCOeval's arrays hold only for its ten thresholds and its top 100 detections per image.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import GroundTruth, load_ground_truth
from explorer.evaluation.inputs.loading import DEFAULT_MAX_BYTES, JsonSource, read_json
from explorer.evaluation.inputs.result_checks import check_results
from explorer.evaluation.masks import boxes as mask_boxes
from explorer.evaluation.masks import coco_iou

#: The IoU types whose detections have a class and a place to match (keypoints have neither in this sense).
MATCHED_TYPES: Final[tuple[str, ...]] = ("bbox", "segm")
DEFAULT_IOU: Final[float] = 0.5


@dataclass(frozen=True, eq=False)
class ScoredDetections:
    """Every detection of a results file with its outcome at each IoU threshold, in the file's order.

    `tp[t, d]`: detection d is a true positive at `iou_thresholds[t]`; `ignored[t, d]`: it matched only a crowd
    region there (so it counts neither way). `boxes` are [x, y, w, h] (for masks the mask's tight box) and
    `image_sizes` (height, width) per detection, NaN where the ground truth does not give the image's size.
    `n_gt[category_id]`: the objects that count (not crowd), for recall.
    """

    iou_type: str
    iou_thresholds: tuple[float, ...]
    category_ids: tuple[int, ...]
    category_names: dict[int, str]
    n_gt: dict[int, int]
    image: np.ndarray
    category: np.ndarray
    score: np.ndarray
    boxes: np.ndarray
    image_sizes: np.ndarray
    tp: np.ndarray
    ignored: np.ndarray
    results_name: str = "results"  # for messages that name a detection (results.json[12])

    def __len__(self) -> int:
        return int(self.score.size)

    def at(self, iou: float) -> int:
        """The row of `tp` / `ignored` for this IoU threshold; KeyError names the thresholds matched."""
        for t, value in enumerate(self.iou_thresholds):
            if math.isclose(value, iou, abs_tol=1e-9):
                return t
        raise KeyError(f"IoU {iou} was not matched (matched: {', '.join(map(str, self.iou_thresholds))})")


def check_iou(iou: Any, what: str = "IoU threshold") -> float:
    """`iou` as a float, or EvaluationInputError unless it is a number in (0, 1]."""
    if isinstance(iou, bool) or not isinstance(iou, int | float) or not 0 < iou <= 1:
        raise EvaluationInputError(f"{what} must be a number in (0, 1], got {iou!r}")
    return float(iou)


def check_scores(scores: np.ndarray, what: str = "results", *, at_most_one: bool = False) -> None:
    """EvaluationInputError naming the first detection whose score no threshold can be read from: NaN,
    negative, or (`at_most_one`, for calibration, which reads scores as probabilities) above 1."""
    if not scores.size:
        raise EvaluationInputError(f"{what} has no detections: nothing to analyse")
    bad = ~np.isfinite(scores)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise EvaluationInputError(f"{what}[{i}]: score is {scores[i]}; scores must be finite numbers")
    if (scores < 0).any():
        i = int(np.flatnonzero(scores < 0)[0])
        raise EvaluationInputError(
            f"{what}[{i}]: score {scores[i]} is negative; a score threshold needs scores of 0 or more")
    if at_most_one and (scores > 1).any():
        i = int(np.flatnonzero(scores > 1)[0])
        raise EvaluationInputError(
            f"{what}[{i}]: score {scores[i]} is above 1; calibration compares scores with probabilities, so "
            f"they must lie in [0, 1] (were these logits?)")


def score_detections(ground_truth: JsonSource | GroundTruth, results: JsonSource | list[dict[str, Any]],
                     iou_type: str = "bbox", iou_thresholds: Sequence[float] = (DEFAULT_IOU,), *,
                     image_ids: Sequence[int] | None = None, results_name: str | None = None,
                     ground_truth_name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                     scores_at_most_one: bool = False) -> ScoredDetections:
    """Check the inputs and match every detection at each IoU threshold (see the module docstring).

    Inputs as for `evaluate` (paths, bytes, parsed JSON; the ground truth also a GroundTruth). `image_ids`: only
    these images (the Detections page's uploads). Raises EvaluationInputError for bad input: keypoints, IoU
    outside (0, 1], no detections, NaN or negative scores, and with `scores_at_most_one` scores above 1.
    """
    if iou_type not in MATCHED_TYPES:
        raise EvaluationInputError(
            f"the operating point and calibration need boxes or masks to match: use bbox or segm, not {iou_type!r}")
    thresholds = tuple(dict.fromkeys(check_iou(t) for t in iou_thresholds))
    gt = load_ground_truth(ground_truth, name=ground_truth_name, max_bytes=max_bytes)
    if image_ids is not None:
        gt = gt.restricted_to(image_ids)
    label = results_name or "results"
    data = results if isinstance(results, list) else read_json(results, what=label, max_bytes=max_bytes)
    checked = check_results(data, gt.prepare(iou_type), what=label)  # type: ignore[arg-type]
    scores = np.array([r["score"] for r in checked], dtype=float)
    check_scores(scores, label, at_most_one=scores_at_most_one)
    return _match(gt, checked, iou_type, thresholds, scores, label)


def _match(gt: GroundTruth, results: list[dict[str, Any]], iou_type: str, thresholds: tuple[float, ...],
           scores: np.ndarray, results_name: str) -> ScoredDetections:
    n = len(results)
    image = np.array([r["image_id"] for r in results], dtype=np.int64)
    category = np.array([r["category_id"] for r in results], dtype=np.int64)
    tp = np.zeros((len(thresholds), n), dtype=bool)
    ignored = np.zeros((len(thresholds), n), dtype=bool)
    objects: dict[tuple[int, int], list[int]] = defaultdict(list)
    for a, ann in enumerate(gt.annotations):
        objects[(ann["image_id"], ann["category_id"])].append(a)
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for d in np.argsort(-scores, kind="stable"):  # within a group: descending score, file order on ties
        groups[(int(image[d]), int(category[d]))].append(int(d))
    rles = gt.mask_rles() if iou_type == "segm" else {}
    for key, dets in groups.items():
        anns = objects.get(key)
        if not anns:
            continue  # every detection a false positive at every threshold
        crowd = np.array([gt.annotations[a]["iscrowd"] == 1 for a in anns], dtype=bool)
        if iou_type == "bbox":
            ious = coco_iou([results[d]["bbox"] for d in dets], [gt.annotations[a]["bbox"] for a in anns],
                            crowd.astype(int).tolist(), "bbox")
        else:
            ious = coco_iou([results[d]["segmentation"] for d in dets], [rles[gt.annotations[a]["id"]] for a in anns],
                            crowd.astype(int).tolist(), "segm")
        for t, threshold in enumerate(thresholds):
            _greedy(ious, crowd, threshold, np.asarray(dets), tp[t], ignored[t])
    category_ids = tuple(gt.category_ids(iou_type))  # type: ignore[arg-type]
    counts = {c: 0 for c in category_ids}
    for ann in gt.annotations:
        if not ann["iscrowd"]:
            counts[ann["category_id"]] += 1
    return ScoredDetections(iou_type=iou_type, iou_thresholds=thresholds, category_ids=category_ids,
                            category_names=dict(gt.category_names), n_gt=counts, image=image, category=category,
                            score=scores, boxes=_boxes(results, iou_type),
                            image_sizes=_sizes(gt, image), tp=tp, ignored=ignored, results_name=results_name)


def _greedy(ious: np.ndarray, crowd: np.ndarray, threshold: float, dets: np.ndarray, tp: np.ndarray,
            ignored: np.ndarray) -> None:
    """COCOeval's matching of one (image, category) at one threshold, writing into `tp` / `ignored`.

    Only detections that reach the threshold with some object can take one, so only they go through the
    (sequential) greedy loop; the rest fall through to the crowd regions at once."""
    bar = min(threshold, 1 - 1e-10)  # pycocotools' own bound
    regular = ious[:, ~crowd]
    matched = np.zeros(len(dets), dtype=bool)
    if regular.size:
        taken = np.zeros(regular.shape[1], dtype=bool)
        last = regular.shape[1] - 1
        for i in np.flatnonzero(regular.max(axis=1) >= bar):  # descending score, as the detections come
            masked = np.where(taken, -1.0, regular[i])
            j = last - int(np.argmax(masked[::-1]))  # the later object on ties, as pycocotools
            if masked[j] >= bar:
                taken[j] = matched[i] = True
    tp[dets[matched]] = True
    if crowd.any():
        ignored[dets[~matched & (ious[:, crowd].max(axis=1) >= bar)]] = True


def _boxes(results: list[dict[str, Any]], iou_type: str) -> np.ndarray:
    if iou_type == "bbox":
        return np.array([r["bbox"] for r in results], dtype=float).reshape(-1, 4)
    return np.asarray(mask_boxes([r["segmentation"] for r in results]), dtype=float).reshape(-1, 4)


def _sizes(gt: GroundTruth, image: np.ndarray) -> np.ndarray:
    """(height, width) of each detection's image, NaN where the ground truth does not say."""
    lookup = {i: size for i, size in gt.image_sizes.items()}
    return np.array([lookup.get(int(i), (np.nan, np.nan)) for i in image], dtype=float).reshape(-1, 2)
