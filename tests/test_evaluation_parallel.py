"""Evaluation split over worker processes by category gives exactly the serial numbers
(explorer.evaluation.coco.parallel).

Exactly means bit for bit: the summary stats, every per-category number, the PR curves, AP by size and the
error breakdown, on both backends, for bbox, segm and keypoints, with tied scores and duplicate detections
(where a different order of detections would change the matching).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from explorer.evaluation.coco.backends import EvalArrays, available_backends
from explorer.evaluation.coco.parallel import merge, split_categories
from explorer.evaluation.coco.pipeline import evaluate
from explorer.evaluation.errors import EvaluationInputError
from tests.coco_factory import make_ground_truth, perfect_results
from tests.test_evaluation import noisy_results

BACKENDS = available_backends()


@pytest.fixture(scope="module")
def instances() -> dict[str, Any]:
    return make_ground_truth(16, seed=41)


@pytest.fixture(scope="module")
def people() -> dict[str, Any]:
    return make_ground_truth(16, seed=42, keypoints=True)


def tied_results(gt: dict[str, Any], iou_type: str) -> list[dict[str, Any]]:
    """Noisy results plus a duplicate of every third one with the same score: ties the order must settle."""
    results = noisy_results(gt, iou_type, seed=5)
    return results + [copy.deepcopy(r) for r in results[::3]]


def assert_identical(parallel: Any, serial: Any) -> None:
    assert parallel.stats == serial.stats
    assert parallel.summary_text() == serial.summary_text()
    assert parallel.to_frame().equals(serial.to_frame())  # every per-category number, n_gt and n_dt (NaN = NaN)
    np.testing.assert_array_equal(parallel.curves, serial.curves)
    assert parallel.area_frame().equals(serial.area_frame())
    assert parallel.pr_frame().equals(serial.pr_frame())
    if serial.breakdown is not None:
        np.testing.assert_array_equal(parallel.breakdown.curves, serial.breakdown.curves)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
def test_parallel_equals_serial_exactly(instances, people, backend, iou_type) -> None:
    gt = people if iou_type == "keypoints" else instances
    results = tied_results(gt, iou_type)
    serial = evaluate(gt, results, iou_type, backend=backend, analysis=True, workers=1)
    parallel = evaluate(gt, results, iou_type, backend=backend, analysis=True, workers=3)
    assert_identical(parallel, serial)
    assert 0 < serial.stat("AP") < 1  # numbers that mean something


def test_parallel_with_a_category_without_detections(instances) -> None:
    """A block whose categories have no detection cannot be evaluated alone: it joins another block."""
    results = [r for r in tied_results(instances, "bbox") if r["category_id"] != 2]
    serial = evaluate(instances, results, "bbox", workers=1)
    parallel = evaluate(instances, results, "bbox", workers=5)
    assert_identical(parallel, serial)
    assert serial.category(2).ap == 0.0  # objects to find, none found


def test_split_categories_balances_and_keeps_detected_blocks() -> None:
    weights = {1: 10.0, 2: 9.0, 3: 5.0, 4: 4.0, 5: 1.0, 6: 0.0}
    blocks = split_categories(weights, 2, detected={1, 2, 3, 4, 5})
    assert sorted(c for block in blocks for c in block) == [1, 2, 3, 4, 5, 6]
    loads = [sum(weights[c] for c in block) for block in blocks]
    assert len(blocks) == 2 and max(loads) - min(loads) <= 1.0
    assert split_categories(weights, 3, detected={1}) == [[1, 2, 3, 4, 5, 6]]
    assert split_categories({7: 1.0}, 4, detected={7}) == [[7]]


def test_merge_puts_categories_back_in_id_order() -> None:
    def part(ids: tuple[int, ...]) -> EvalArrays:
        k = len(ids)
        precision = np.zeros((1, 2, k, 1, 1)) + np.array(ids, dtype=float)[None, None, :, None, None]
        recall = np.zeros((1, k, 1, 1)) + np.array(ids, dtype=float)[None, :, None, None]
        return EvalArrays(precision=precision, recall=recall, iou_thresholds=np.array([0.5]),
                          recall_thresholds=np.array([0.0, 1.0]), area_labels=("all",), max_dets=(100,),
                          category_ids=ids)

    merged = merge([part((3, 17)), part((1, 18))])
    assert merged.category_ids == (1, 3, 17, 18)
    assert merged.precision[0, 0, :, 0, 0].tolist() == [1, 3, 17, 18]
    assert merged.recall[0, :, 0, 0].tolist() == [1, 3, 17, 18]


def test_workers_must_be_positive(instances) -> None:
    with pytest.raises(EvaluationInputError, match="workers must be a positive integer"):
        evaluate(instances, noisy_results(instances, "bbox"), "bbox", workers=0)


def test_a_malformed_mask_in_a_worker_is_an_input_error(instances) -> None:
    """The worker's evaluator finds the broken RLE string; the parent reports it as the input's fault."""
    results = perfect_results(instances, "segm")
    results[-1]["segmentation"]["counts"] = "garbage"
    with pytest.raises(EvaluationInputError, match="compressed RLE counts are malformed"):
        evaluate(instances, results, "segm", backend="faster-coco-eval", workers=2)
