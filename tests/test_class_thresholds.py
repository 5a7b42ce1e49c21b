"""Per-class score thresholds (the Detections page's "use per-class F1-optimal thresholds"): which detections
are kept, drawn, counted and listed."""

from __future__ import annotations

import numpy as np

from explorer.detections import Detections
from explorer.drawing.detections import RenderOptions, visible_indices
from explorer.engine.session_runs import draw_result


def found() -> Detections:
    boxes = np.array([[0, 0, 10, 10], [10, 10, 20, 20], [20, 20, 30, 30], [30, 30, 40, 40]], np.float32)
    return Detections(width=64, height=48, boxes=boxes, scores=np.array([0.9, 0.35, 0.6, 0.2], np.float32),
                      labels=np.array([1, 1, 2, 3], np.int64), names=["cat", "cat", "dog", "bird"])


def test_keep_mask_uses_each_class_threshold_and_the_global_one_for_the_rest() -> None:
    detections = found()
    assert detections.keep_mask(0.5).tolist() == [True, False, True, False]
    # cat from .3, dog from .7, bird (not listed) from the global .5
    kept = detections.keep_mask(0.5, None, {"cat": 0.3, "dog": 0.7})
    assert kept.tolist() == [True, True, False, False]
    assert detections.keep_mask(0.5, {"cat"}, {"cat": 0.3, "dog": 0.7}).tolist() == [True, True, False, False]
    assert detections.keep_mask(0.1, None, {}).tolist() == [True] * 4  # empty: the global threshold


def test_drawing_counts_and_table_honour_class_thresholds() -> None:
    options = RenderOptions(score_thresh=0.5, class_thresholds={"cat": 0.3, "bird": 0.1})
    assert visible_indices(found(), options).tolist() == [0, 1, 2, 3]
    drawn = draw_result(np.zeros((48, 64, 3), np.uint8), found(), options)
    assert drawn.shown == 4 and drawn.table["score"].round(2).tolist() == [0.9, 0.35, 0.6, 0.2]
    plain = draw_result(np.zeros((48, 64, 3), np.uint8), found(), RenderOptions(score_thresh=0.5))
    assert plain.shown == 2 and len(plain.table) == 2
