"""faster-coco-eval, our fast backend, against pycocotools, the reference: same numbers everywhere.

Measured differences: the accumulated precision arrays differ by at most 2.2e-16 (one ulp, from the C++
computing tp / (tp + fp + eps) in another order); summary stats by at most 1.1e-16. Hence the 1e-12 tolerance
here (printed summaries, three decimals, are identical).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

from explorer.evaluation.coco.backends import available_backends, get_backend
from explorer.evaluation.coco.pipeline import evaluate
from tests.coco_factory import make_ground_truth, perfect_results
from tests.test_evaluation import noisy_results

needs_faster = pytest.mark.skipif("faster-coco-eval" not in available_backends(),
                                  reason="faster-coco-eval is not installed")
TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def instances() -> dict[str, Any]:
    return make_ground_truth(20, seed=31)


@pytest.fixture(scope="module")
def people() -> dict[str, Any]:
    return make_ground_truth(20, seed=32, keypoints=True)


def assert_close(a: np.ndarray, b: np.ndarray) -> None:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=0, atol=TOLERANCE)


@needs_faster
@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
def test_faster_coco_eval_gives_pycocotools_numbers(instances, people, iou_type) -> None:
    gt = people if iou_type == "keypoints" else instances
    results = noisy_results(gt, iou_type, seed=9)
    reference = evaluate(gt, results, iou_type, backend="pycocotools", analysis=True)
    fast = evaluate(gt, results, iou_type, backend="faster-coco-eval", analysis=True)
    assert fast.backend == "faster-coco-eval"
    assert_close(np.array(fast.stats), np.array(reference.stats))
    assert fast.summary_text() == reference.summary_text()
    metrics = ["ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar100"]
    assert_close(fast.to_frame()[metrics].to_numpy(), reference.to_frame()[metrics].to_numpy())
    assert_close(fast.curves, reference.curves)
    assert fast.breakdown is not None and reference.breakdown is not None
    assert_close(fast.breakdown.curves, reference.breakdown.curves)


@needs_faster
def test_faster_coco_eval_perfect_is_100(instances) -> None:
    result = evaluate(instances, perfect_results(instances, "segm"), "segm", backend="faster-coco-eval")
    assert result.stat("AP") == pytest.approx(1.0, abs=TOLERANCE)


@needs_faster
def test_auto_prefers_faster_coco_eval() -> None:
    assert get_backend("auto").name == "faster-coco-eval"


def test_auto_falls_back_to_pycocotools(monkeypatch, instances) -> None:
    monkeypatch.setitem(sys.modules, "faster_coco_eval", None)  # import fails as if not installed
    assert available_backends() == ["pycocotools"]
    result = evaluate(instances, perfect_results(instances, "bbox"), "bbox")
    assert result.backend == "pycocotools"
