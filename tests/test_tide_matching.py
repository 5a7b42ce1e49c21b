"""TIDE's all-images-at-once matching (tide_matching) against a plain per-image reference, and its pieces: box IoU
bit for bit as pycocotools, the shared score sort of the AP scenarios."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from explorer.evaluation.analyses import tide_matching
from explorer.evaluation.analyses.tide import classify, segment_ap, segment_order
from explorer.evaluation.analyses.tide_matching import BKG, BOTH, CLS, DUPE, LOC, TP, box_corners, box_iou
from explorer.evaluation.inputs.ground_truth import check_ground_truth
from explorer.evaluation.inputs.result_checks import check_results
from explorer.evaluation.masks import coco_iou
from tests.coco_factory import bench_dataset, make_ground_truth
from tests.test_tide_reference import noisy_results


def reference_image(iou: np.ndarray, det_cat: np.ndarray, gt_cat: np.ndarray, crowd_cat: np.ndarray, n_gt: int,
                    pos: float, bg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One image the slow, obvious way: a loop over the detections in score order, as TIDE states it."""
    n_det = len(det_cat)
    label = np.full(n_det, TP, dtype=np.int8)
    target = np.full(n_det, -1)
    used = np.zeros(n_gt, dtype=bool)
    for d in range(n_det):
        best, best_j = pos, -1
        for j in range(n_gt):
            if not used[j] and gt_cat[j] == det_cat[d] and iou[d, j] >= best and (best_j < 0 or iou[d, j] > best):
                best, best_j = iou[d, j], j
        if best_j >= 0:
            target[d], used[best_j] = best_j, True
    ignored = np.array([target[d] < 0 and any(iou[d, n_gt + k] > pos and crowd_cat[k] == det_cat[d]
                                              for k in range(len(crowd_cat))) for d in range(n_det)], dtype=bool)
    for d in range(n_det):
        if target[d] >= 0:
            continue
        if not n_gt:
            label[d] = BKG
            continue
        row = iou[d, :n_gt]
        same = np.where(gt_cat == det_cat[d], row, 0.0)
        other = np.where(gt_cat != det_cat[d], row, 0.0)
        if bg <= same.max() <= pos:
            label[d], target[d] = LOC, int(same.argmax())
        elif other.max() >= pos:
            label[d], target[d] = CLS, int(other.argmax())
        elif np.where(used, same, 0.0).max() >= pos:
            label[d] = DUPE
        elif row.max() <= bg:
            label[d] = BKG
        else:
            label[d] = BOTH
    return label, ignored, target, used


def reference_labels(gt: Any, checked: list[dict[str, Any]], iou_type: str, pos: float,
                     bg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(label, ignored, target, matched) in classify's order, image by image with reference_image."""
    c = classify(gt, checked, iou_type, pos_threshold=pos, bg_threshold=bg)  # only for its orders
    key = "bbox" if iou_type == "bbox" else "segmentation"
    rles = gt.mask_rles() if iou_type == "segm" else None
    geometry = [ann["bbox"] if rles is None else rles[ann["id"]] for ann in gt.annotations]
    label, ignored, target = (np.zeros_like(c.det_label), np.zeros_like(c.det_ignored),
                              np.full(c.det_label.size, -1))
    matched = np.zeros(c.gt_annotation.size, dtype=bool)
    crowd_rows = [i for i, ann in enumerate(gt.annotations) if ann["iscrowd"]]
    for image_index, image in enumerate(gt.images):
        rows = np.flatnonzero(c.det_image == image_index)
        objects = np.flatnonzero(c.gt_image == image_index)
        crowds = [i for i in crowd_rows if gt.annotations[i]["image_id"] == image["id"]]
        dets = [checked[int(c.det_result[r])][key] for r in rows]
        gts = [geometry[int(c.gt_annotation[o])] for o in objects] + [geometry[i] for i in crowds]
        iou = coco_iou(dets, gts, [0] * len(objects) + [1] * len(crowds), iou_type)
        crowd_cat = np.array([c.category_ids.index(gt.annotations[i]["category_id"]) for i in crowds], dtype=int)
        out = reference_image(iou, c.det_category[rows], c.gt_category[objects], crowd_cat, len(objects), pos, bg)
        label[rows], ignored[rows] = out[0], out[1]
        target[rows] = np.where(out[2] >= 0, objects[np.maximum(out[2], 0)] if objects.size else -1, -1)
        matched[objects] = out[3]
    return label, ignored, target, matched


CASES = {"factory": lambda: (lambda gt: (gt, noisy_results(gt, 7)))(make_ground_truth(n_images=16, seed=5)),
         "bench": lambda: bench_dataset(n_images=12, dets_per_image=30, seed=3)}


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("pos, bg", [(0.5, 0.1), (0.3, 0.0), (0.75, 0.1)])
def test_matches_the_per_image_reference(case: str, iou_type: str, pos: float, bg: float,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tide_matching, "CHUNK_PAIRS", 500)  # many chunks: images split across calls
    gt_data, results = CASES[case]()
    gt = check_ground_truth(gt_data)
    checked = check_results(results, gt.prepare(iou_type))
    c = classify(gt, checked, iou_type, pos_threshold=pos, bg_threshold=bg)
    label, ignored, target, matched = reference_labels(gt, checked, iou_type, pos, bg)
    assert (c.det_label == label).all()
    assert (c.det_ignored == ignored).all()
    assert (c.det_target == target).all()
    assert (c.gt_matched == matched).all()
    if bg > 0:  # (at bg 0 every unmatched detection is loc: its best IoU with its class is >= 0)
        assert {int(v) for v in np.unique(label)} >= {TP, CLS, LOC, BKG}  # the case has these errors


def test_box_iou_is_pycocotools_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    dets, gts = np.round(rng.uniform(0, 100, (200, 4)), 2), np.round(rng.uniform(0, 100, (30, 4)), 2)
    dets[:5, 2], gts[:3, 3] = 0.0, 0.0  # empty boxes
    crowd = [k % 3 == 0 for k in range(30)]
    expected = np.asarray(mask_utils.iou(dets, gts, crowd))
    d, g = np.meshgrid(np.arange(200), np.arange(30), indexing="ij")
    d, g = d.ravel(), g.ravel()
    plain = box_iou(box_corners(dets)[:, d], box_corners(gts)[:, g], crowd=False)
    crowded = box_iou(box_corners(dets)[:, d], box_corners(gts)[:, g], crowd=True)
    ours = np.where(np.asarray(crowd)[g], crowded, plain).reshape(200, 30)
    assert np.array_equal(ours, expected)
    assert (expected > 0).mean() > 0.2  # many pairs overlap


def test_segment_order_equals_lexsort_and_gives_the_same_ap() -> None:
    rng = np.random.default_rng(1)
    segment = rng.integers(0, 7, 500)
    score = np.round(rng.uniform(0, 1, 500), 2)  # ties
    hit = rng.random(500) < 0.4
    n_gt = np.bincount(segment[hit], minlength=8) + 1
    order = segment_order(segment, np.argsort(-score, kind="stable"))
    assert np.array_equal(order, np.lexsort((-score, segment)))
    assert np.array_equal(segment_ap(segment, score, hit, n_gt, order), segment_ap(segment, score, hit, n_gt),
                          equal_nan=True)
