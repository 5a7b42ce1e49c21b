"""The evaluators we drive (explorer.evaluation.coco.backends): hotcoco by default, pycocotools selectable as the
reference, each chosen by name; a bad choice or a malformed mask is the input's fault, said plainly. Their
numbers agree bit for bit: tests/test_evaluation_exactness.py."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from explorer.evaluation.coco.backends import BACKENDS, available_backends, get_backend
from explorer.evaluation.coco.pipeline import evaluate
from explorer.evaluation.errors import EvaluationInputError
from tests.coco_factory import make_ground_truth, perfect_results


@pytest.fixture(scope="module")
def instances() -> dict[str, Any]:
    return make_ground_truth(10, seed=31)


def test_auto_is_hotcoco_and_pycocotools_stays_selectable(instances) -> None:
    assert BACKENDS == ("hotcoco", "pycocotools") and available_backends() == list(BACKENDS)
    assert get_backend("auto").name == "hotcoco"
    assert evaluate(instances, perfect_results(instances, "bbox"), "bbox").backend == "hotcoco"
    assert evaluate(instances, perfect_results(instances, "bbox"), "bbox", backend="pycocotools").backend \
        == "pycocotools"


@pytest.mark.parametrize("backend", BACKENDS)
def test_perfect_masks_are_100_on_each_backend(instances, backend) -> None:
    assert evaluate(instances, perfect_results(instances, "segm"), "segm", backend=backend).stat("AP") == 1.0


def test_auto_falls_back_to_pycocotools(monkeypatch, instances) -> None:
    monkeypatch.setitem(sys.modules, "hotcoco", None)  # import fails as if not installed
    assert available_backends() == ["pycocotools"]
    assert evaluate(instances, perfect_results(instances, "bbox"), "bbox").backend == "pycocotools"
    with pytest.raises(EvaluationInputError, match="backend hotcoco is not installed: pip install hotcoco"):
        get_backend("hotcoco")


def test_an_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(EvaluationInputError,
                       match="unknown backend 'faster-coco-eval': use auto, hotcoco, pycocotools"):
        get_backend("faster-coco-eval")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_malformed_compressed_mask_is_an_input_error(instances, backend) -> None:
    results = perfect_results(instances, "segm")
    results[-1]["segmentation"]["counts"] = "garbage"
    with pytest.raises(EvaluationInputError, match="malformed"):
        evaluate(instances, results, "segm", backend=backend)
