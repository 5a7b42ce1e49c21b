"""Numbers from the accumulated arrays: pycocotools' 12 (keypoints: 10) summary stats, per-category AP/AR, PR
curves.

The summary is recomputed here with pycocotools' own indexing and `np.mean(s[s > -1])` (COCOeval.summarize's
`_summarize`), so it is bit-for-bit its `stats` while working for either backend and without capturing
prints. Per-category numbers are the same means restricted to one category's slice. Where nothing is defined
(-1 everywhere: no ground truth of that category, or of that size) pycocotools says -1; we say NaN, which every
table shows as empty, never as 0.
"""

from __future__ import annotations

import numpy as np

from explorer.evaluation.coco.backends import EvalArrays
from explorer.tasks import IouType

#: Names of `COCOeval.stats`, index for index, as pycocotools' summarize() prints them.
DETECTION_STAT_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APs", "APm", "APl",
                                         "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
KEYPOINT_STAT_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def stat_names(iou_type: IouType) -> tuple[str, ...]:
    return KEYPOINT_STAT_NAMES if iou_type == "keypoints" else DETECTION_STAT_NAMES

# (ap, iouThr, areaRng, maxDets index or fixed value), in COCOeval.summarize's order.
_DETECTION_SPEC: tuple[tuple[int, float | None, str, int], ...] = (
    (1, None, "all", 2), (1, 0.5, "all", 2), (1, 0.75, "all", 2), (1, None, "small", 2), (1, None, "medium", 2),
    (1, None, "large", 2), (0, None, "all", 0), (0, None, "all", 1), (0, None, "all", 2), (0, None, "small", 2),
    (0, None, "medium", 2), (0, None, "large", 2),
)
_KEYPOINT_SPEC: tuple[tuple[int, float | None, str], ...] = (
    (1, None, "all"), (1, 0.5, "all"), (1, 0.75, "all"), (1, None, "medium"), (1, None, "large"),
    (0, None, "all"), (0, 0.5, "all"), (0, 0.75, "all"), (0, None, "medium"), (0, None, "large"),
)

_LINE = " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}"


def _summarize(arrays: EvalArrays, ap: int, iou_thr: float | None, area: str, max_dets: int) -> tuple[float, str]:
    """One of COCOeval.summarize's numbers and the line it prints, by the same code path."""
    title = "Average Precision" if ap == 1 else "Average Recall"
    kind = "(AP)" if ap == 1 else "(AR)"
    thresholds = arrays.iou_thresholds
    iou_text = f"{thresholds[0]:0.2f}:{thresholds[-1]:0.2f}" if iou_thr is None else f"{iou_thr:0.2f}"
    aind = [i for i, label in enumerate(arrays.area_labels) if label == area]
    mind = [i for i, m in enumerate(arrays.max_dets) if m == max_dets]
    if ap == 1:
        s = arrays.precision
        if iou_thr is not None:
            s = s[np.where(iou_thr == thresholds)[0]]
        s = s[:, :, :, aind, mind]
    else:
        s = arrays.recall
        if iou_thr is not None:
            s = s[np.where(iou_thr == thresholds)[0]]
        s = s[:, :, aind, mind]
    mean = -1.0 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1]))
    return mean, _LINE.format(title, kind, iou_text, area, max_dets, mean)


def summary(arrays: EvalArrays, iou_type: IouType) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """pycocotools' `stats` (with its -1 for undefined) and the lines summarize() prints."""
    if iou_type == "keypoints":
        rows = [_summarize(arrays, ap, thr, area, 20) for ap, thr, area in _KEYPOINT_SPEC]
    else:
        rows = [_summarize(arrays, ap, thr, area, arrays.max_dets[m]) for ap, thr, area, m in _DETECTION_SPEC]
    return tuple(v for v, _ in rows), tuple(line for _, line in rows)


def _mean_defined(values: np.ndarray) -> float:
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else float("nan")


def per_category(arrays: EvalArrays) -> dict[str, np.ndarray]:
    """Per category k (in `arrays.category_ids` order): ap, ap50, ap75, ap_small, ap_medium, ap_large (at the
    largest maxDets, area "all" unless named) and ar100 (recall at the largest maxDets: 100, or 20 for
    keypoints). NaN where undefined; an area range the iou type lacks (keypoints: small) is NaN throughout."""
    precision, recall = arrays.precision, arrays.recall
    m = len(arrays.max_dets) - 1
    all_area = arrays.area_labels.index("all")
    t50 = np.where(arrays.iou_thresholds == 0.5)[0]
    t75 = np.where(arrays.iou_thresholds == 0.75)[0]
    k_count = len(arrays.category_ids)
    table = {name: np.full(k_count, np.nan) for name in
             ("ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar100")}
    for k in range(k_count):
        table["ap"][k] = _mean_defined(precision[:, :, k, all_area, m])
        table["ap50"][k] = _mean_defined(precision[t50, :, k, all_area, m])
        table["ap75"][k] = _mean_defined(precision[t75, :, k, all_area, m])
        for area in ("small", "medium", "large"):
            if area in arrays.area_labels:
                table[f"ap_{area}"][k] = _mean_defined(precision[:, :, k, arrays.area_labels.index(area), m])
        table["ar100"][k] = _mean_defined(recall[:, k, all_area, m])
    return table


def precision_curves(arrays: EvalArrays) -> np.ndarray:
    """Precision at each recall threshold, [T, R, K, A] at the largest maxDets; NaN where undefined."""
    curves = arrays.precision[..., -1].astype(float, copy=True)
    curves[curves <= -1] = np.nan
    return curves
