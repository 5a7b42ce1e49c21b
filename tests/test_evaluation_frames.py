"""explorer.evaluation.coco.frames: the numbers the evaluation figures and tables read out of evaluations with known
numbers (perfect = 1, every cat missed = 0, a category without ground truth = NaN)."""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pytest

from explorer.evaluation.coco.frames import category_matrix, check_metric, difference_frame, iou_index, mean_precision
from explorer.evaluation.coco.pipeline import evaluate
from explorer.evaluation.coco.results import METRIC_COLUMNS, Evaluation
from tests.coco_factory import ABSENT_CATEGORY_ID, make_ground_truth, perfect_results


@pytest.fixture(scope="module")
def gt() -> dict:
    return make_ground_truth(n_images=8, seed=3)


@pytest.fixture(scope="module")
def perfect(gt: dict) -> Evaluation:
    return evaluate(gt, perfect_results(gt), "bbox", results_name="perfect.json")


@pytest.fixture(scope="module")
def worse(gt: dict) -> Evaluation:
    """Perfect except that every cat (17) detection is missing: cat AP 0, the rest 100."""
    results = [r for r in perfect_results(gt) if r["category_id"] != 17]
    return evaluate(gt, results, "bbox", results_name="no_cats.json")


def test_difference_frame_matches_categories_and_puts_the_largest_gain_first(perfect: Evaluation,
                                                                           worse: Evaluation) -> None:
    frame = difference_frame(perfect, worse, names=("perfect", "no cats"))
    assert list(frame.columns) == ["category_id", "category", "perfect", "no cats", "difference"]
    assert frame.iloc[0]["category"] == "cat" and frame.iloc[0]["difference"] == pytest.approx(100.0)
    assert math.isnan(frame.iloc[-1]["difference"]) and frame.iloc[-1]["category"] == "toothbrush"
    assert (frame["difference"].dropna().iloc[1:] == 0).all()  # percent points, equal elsewhere


def test_matrix_with_missing_category(perfect: Evaluation, gt: dict) -> None:
    fewer = copy.deepcopy(gt)
    fewer["categories"] = [c for c in fewer["categories"] if c["id"] != ABSENT_CATEGORY_ID]
    other = evaluate(fewer, perfect_results(fewer), "bbox")
    matrix = category_matrix({"a": perfect, "b": other})
    assert list(matrix.columns) == ["a", "b"] and matrix.index.name == "category"
    assert math.isnan(matrix.loc["toothbrush", "b"]) and matrix.loc["cat", "b"] == 1.0


def test_mean_precision_averages_only_categories_with_ground_truth(perfect: Evaluation, worse: Evaluation) -> None:
    assert np.allclose(mean_precision(perfect, 0.5), 1.0)  # the category without ground truth does not pull it down
    missed = mean_precision(worse, 0.5)
    assert len(missed) == len(worse.recall_thresholds) and missed.max() < 1.0


def test_iou_index_finds_a_threshold_and_refuses_others(perfect: Evaluation) -> None:
    assert perfect.iou_thresholds[iou_index(perfect, 0.75)] == pytest.approx(0.75)
    assert iou_index(perfect, 0.5) == 0
    with pytest.raises(ValueError, match=re.escape("IoU 0.51 is not one of the thresholds 0.50, 0.55")):
        iou_index(perfect, 0.51)


def test_only_per_category_metrics_are_accepted() -> None:
    assert [check_metric(metric) for metric in METRIC_COLUMNS] == list(METRIC_COLUMNS)
    with pytest.raises(ValueError, match="unknown metric 'apx': use one of ap, ap50"):
        check_metric("apx")
