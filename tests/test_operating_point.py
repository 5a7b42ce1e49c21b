"""The operating point on a hand-made set whose counts are worked out below, the matcher against pycocotools'
own matching, and bad inputs with one clear message each."""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import numpy as np
import pytest

from explorer.evaluation.analyses.operating_point import ALL, operating_point, rates
from explorer.evaluation.analyses.score_matching import score_detections
from explorer.evaluation.errors import EvaluationInputError
from explorer.figures.operating_point import operating_point_figure
from tests import score_cases
from tests.coco_factory import bench_dataset, make_ground_truth, perfect_results


def optimum_row(frame: Any, iou: float, category: str) -> Any:
    rows = frame[np.isclose(frame["iou"], iou) & (frame["category"] == category)]
    assert len(rows) == 1
    return rows.iloc[0]


@pytest.fixture(scope="module")
def point() -> Any:
    return operating_point(score_cases.ground_truth(), score_cases.results(), "bbox", iou=0.75)


def test_hand_made_matches(point: Any) -> None:
    scored = point.scored
    # file order: a .9 .8 .7 .6 .3, b .95 (crowd) .5 .4
    assert scored.tp[scored.at(0.5)].tolist() == [True, False, True, False, True, False, True, False]
    assert scored.tp[scored.at(0.75)].tolist() == [True, False, False, False, True, False, True, False]
    assert scored.ignored[scored.at(0.5)].tolist() == [False] * 5 + [True, False, False]
    assert scored.n_gt == {1: 3, 2: 1}  # the crowd region is no object


def test_hand_made_optimum_at_iou_05(point: Any) -> None:
    frame = point.optimum()
    # a: thresholds .9 .8 .7 .6 .3 keep TP/FP 1/0 1/1 2/1 2/2 3/2 of 3 objects: F1 .5 .4 .667 .571 .75
    a = optimum_row(frame, 0.5, "a")
    assert (a["threshold"], a["tp"], a["fp"]) == (0.3, 3, 2)
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((0.6, 1.0, 0.75))
    # b: the crowd detection counts neither way; .5 keeps 1/0 (F1 1), .4 keeps 1/1 (F1 .667)
    b = optimum_row(frame, 0.5, "b")
    assert (b["threshold"], b["precision"], b["recall"], b["f1"]) == (0.5, 1.0, 1.0, 1.0)
    assert b["detections"] == 2
    # pooled: .9T .8F .7T .6F .5T .4F .3T of 4 objects; at .3: P 4/7, R 1, F1 8/11 (the best)
    pooled = optimum_row(frame, 0.5, ALL)
    assert (pooled["threshold"], pooled["tp"], pooled["fp"], pooled["objects"]) == (0.3, 4, 3, 4)
    assert (pooled["precision"], pooled["recall"], pooled["f1"]) == pytest.approx((4 / 7, 1.0, 8 / 11))


def test_hand_made_tie_goes_to_the_higher_threshold(point: Any) -> None:
    # a at IoU .75: .7 is now a false positive: F1 at .9 .8 .7 .6 .3 = .5 .4 .333 .286 .5 -> .9 wins the tie
    a = optimum_row(point.optimum(), 0.75, "a")
    assert (a["threshold"], a["precision"], a["f1"]) == pytest.approx((0.9, 1.0, 0.5))
    assert a["recall"] == pytest.approx(1 / 3)


def test_curves_on_a_grid(point: Any) -> None:
    curves = point.curves([0.0, 0.35, 0.65, 0.85, 1.0])
    a = curves[np.isclose(curves["iou"], 0.5) & (curves["category"] == "a")]
    # kept at .35: .9T .8F .7T .6F; at .65: .9T .8F .7T; at .85: .9T
    assert a["tp"].tolist() == [3, 2, 2, 1, 0]
    assert a["fp"].tolist() == [2, 2, 1, 0, 0]
    assert a["precision"].tolist()[:4] == pytest.approx([0.6, 0.5, 2 / 3, 1.0])
    assert np.isnan(a["precision"].iloc[4])  # nothing kept: no precision, F1 0
    assert a["f1"].iloc[4] == 0.0


def test_thresholds_for_the_slider(point: Any) -> None:
    assert point.thresholds(0.5) == {ALL: 0.3, "a": 0.3, "b": 0.5}


def test_rates_edge_cases() -> None:
    precision, recall, f1 = rates(np.array([0, 0]), np.array([0, 3]), 0)
    assert np.isnan(recall).all() and np.isnan(f1).all()
    precision, recall, f1 = rates(np.array([0]), np.array([2]), 4)
    assert (precision[0], recall[0], f1[0]) == (0.0, 0.0, 0.0)


def test_category_without_objects_or_hits_has_no_optimum() -> None:
    gt = score_cases.ground_truth()
    gt["categories"].append({"id": 3, "name": "c"})
    results = [*score_cases.results(), {"image_id": 1, "category_id": 3, "bbox": [0, 0, 5, 5], "score": 0.7}]
    frame = operating_point(gt, results, "bbox").optimum()
    c = optimum_row(frame, 0.5, "c")
    assert np.isnan(c["threshold"]) and np.isnan(c["recall"]) and c["detections"] == 1


def test_figure_marks_the_optimum(point: Any) -> None:
    figure = operating_point_figure(point, 0.5, "a")
    assert [trace.name for trace in figure.data] == ["precision", "recall", "F1", "F1 optimum"]
    assert list(figure.data[3].x) == [0.3] and list(figure.data[3].y) == pytest.approx([75.0])
    assert "0.300" in figure.layout.title.text


def coco_matches(gt: dict[str, Any], results: list[dict[str, Any]], iou_type: str, ious: list[float]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools' own per-detection outcome (every detection, area all) at each IoU."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        evaluator = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), iou_type)
        evaluator.params.maxDets = [10**6]
        evaluator.params.areaRng, evaluator.params.areaRngLbl = [[0, 1e10]], ["all"]
        evaluator.params.iouThrs = np.array(ious)
        evaluator.evaluate()
    tp = np.zeros((len(ious), len(results)), dtype=bool)
    ignored = np.zeros_like(tp)
    for image in filter(None, evaluator.evalImgs):
        for k, dt_id in enumerate(image["dtIds"]):  # loadRes numbers detections 1..N in file order
            ignored[:, dt_id - 1] = image["dtIgnore"][:, k] > 0
            tp[:, dt_id - 1] = (image["dtMatches"][:, k] > 0) & ~ignored[:, dt_id - 1]
    return tp, ignored


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_matching_is_pycocotools_matching(iou_type: str) -> None:
    gt, results = bench_dataset(40, 30, seed=3)
    field = "bbox" if iou_type == "bbox" else "segmentation"
    results = [{k: r[k] for k in ("image_id", "category_id", "score", field)} for r in results]
    ious = [0.5, 0.75, 0.3]
    scored = score_detections(gt, results, iou_type, ious)
    tp, ignored = coco_matches(gt, results, iou_type, ious)
    assert ignored.any() and tp.any()  # the set has crowd hits and true positives to compare
    np.testing.assert_array_equal(scored.tp, tp)
    np.testing.assert_array_equal(scored.ignored, ignored)


def test_perfect_results_have_perfect_optimum() -> None:
    gt = make_ground_truth(n_images=6, seed=5)
    pooled = optimum_row(operating_point(gt, perfect_results(gt, "segm"), "segm").optimum(), 0.5, ALL)
    assert (pooled["precision"], pooled["recall"], pooled["f1"]) == (1.0, 1.0, 1.0)


def with_score(score: float) -> list[dict[str, Any]]:
    results = score_cases.results()
    results[2]["score"] = score
    return results


@pytest.mark.parametrize(("results", "iou_type", "message"), [
    (with_score(float("nan")), "bbox", "results[2]: score must be a number"),
    (with_score(-0.1), "bbox", "results[2]: score -0.1 is negative"),
    ([], "bbox", "has no detections"),
    (score_cases.results(), "keypoints", "use bbox or segm"),
])
def test_bad_inputs_one_clear_message(results: list[dict[str, Any]], iou_type: str, message: str) -> None:
    with pytest.raises(EvaluationInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        operating_point(score_cases.ground_truth(), results, iou_type)


def test_scores_above_one_are_fine_for_the_operating_point() -> None:
    frame = operating_point(score_cases.ground_truth(), with_score(3.5), "bbox").optimum()
    # a: 3.5T .9T .8F .6F .3T -> F1 .5 .8 .667 .571 .75: the optimum moves to .9
    a = optimum_row(frame, 0.5, "a")
    assert (a["threshold"], a["f1"]) == pytest.approx((0.9, 0.8))


@pytest.mark.parametrize("iou", [0, 1.5, "0.5"])
def test_bad_iou(iou: Any) -> None:
    with pytest.raises(EvaluationInputError, match=r"IoU threshold must be a number in \(0, 1\]"):
        operating_point(score_cases.ground_truth(), score_cases.results(), "bbox", iou=iou)
