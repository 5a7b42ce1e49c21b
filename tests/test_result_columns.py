"""Results read as columns (inputs.result_columns): the fast typed path gives what json.loads + check_results give,
and every file the fast path is not sure of goes the checked way, with check_results' own messages."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs import result_columns
from explorer.evaluation.inputs.ground_truth import check_ground_truth
from explorer.evaluation.inputs.result_checks import check_results
from explorer.evaluation.inputs.result_columns import ResultColumns, read_result_columns
from tests.coco_factory import make_ground_truth, perfect_results


@pytest.fixture(scope="module")
def gt() -> Any:
    return check_ground_truth(make_ground_truth(n_images=6, seed=2))


def results(gt_data: dict[str, Any]) -> list[dict[str, Any]]:
    """Box and compressed-RLE mask on every detection, as a detector writes them."""
    boxes = perfect_results(gt_data, "bbox")
    masks = perfect_results(gt_data, "segm")
    return [{**b, "segmentation": m["segmentation"]} for b, m in zip(boxes, masks, strict=True)
            if isinstance(m["segmentation"], dict) and isinstance(m["segmentation"]["counts"], str)]


def assert_same(columns: ResultColumns, checked: list[dict[str, Any]], field: str) -> None:
    expected = ResultColumns.from_records(checked, field)
    assert np.array_equal(columns.image_id, expected.image_id)
    assert np.array_equal(columns.category_id, expected.category_id)
    assert np.array_equal(columns.score, expected.score)
    if field == "bbox":
        assert np.array_equal(columns.geometry, expected.geometry)
    else:
        assert [columns.rle(i) for i in range(len(columns))] == [
            {"size": list(r[field]["size"]), "counts": r[field]["counts"]} for r in checked]
    assert columns[3] == {**checked[3], field: list(checked[3][field]) if field == "bbox" else columns.rle(3)}


@pytest.mark.parametrize("iou_type, field", [("bbox", "bbox"), ("segm", "segmentation")])
def test_fast_path_gives_the_checked_results(gt: Any, iou_type: str, field: str, tmp_path: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    data = results(make_ground_truth(n_images=6, seed=2))
    truth = gt.prepare(iou_type)
    checked = check_results(data, truth)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    monkeypatch.setattr(result_columns, "check_results", None)  # the fast path must not need it
    assert_same(read_result_columns(path, truth), checked, field)
    assert_same(read_result_columns(path.read_bytes(), truth), checked, field)


def test_polygons_take_the_checked_way_and_are_accepted(gt: Any) -> None:
    data = perfect_results(make_ground_truth(n_images=6, seed=2), "segm")  # polygons and RLE mixed
    truth = gt.prepare("segm")
    columns = read_result_columns(json.dumps(data).encode(), truth)
    assert_same(columns, check_results(data, truth), "segmentation")
    assert all(isinstance(counts, str | bytes) for counts in columns.geometry)


@pytest.mark.parametrize("change", [
    lambda d: d[4].update(image_id=999999),          # unknown image
    lambda d: d[2].update(category_id=77),           # unknown category
    lambda d: d[1].update(score="high"),             # not a number
    lambda d: d[3].update(bbox=[1, 2, -3, 4]),       # negative width
    lambda d: d[0].pop("bbox"),                      # missing
    lambda d: d[5].update(image_id=True),            # a bool is no id
    lambda d: d.clear(),                             # empty
])
def test_bad_results_get_check_results_message(gt: Any, change: Any) -> None:
    data = results(make_ground_truth(n_images=6, seed=2))
    change(data)
    truth = gt.prepare("bbox")
    with pytest.raises(EvaluationInputError) as expected:
        check_results(json.loads(json.dumps(data)), truth, what="mine.json")
    with pytest.raises(EvaluationInputError) as got:
        read_result_columns(json.dumps(data).encode(), truth, what="mine.json")
    assert str(got.value) == str(expected.value)


def test_mask_of_another_size_gets_check_results_message(gt: Any) -> None:
    data = results(make_ground_truth(n_images=6, seed=2))
    data[2]["segmentation"] = {**data[2]["segmentation"], "size": [10, 10]}
    truth = gt.prepare("segm")
    with pytest.raises(EvaluationInputError) as expected:
        check_results(json.loads(json.dumps(data)), truth)
    with pytest.raises(EvaluationInputError) as got:
        read_result_columns(json.dumps(data).encode(), truth)
    assert str(got.value) == str(expected.value)


def test_broken_json_and_objects(gt: Any, tmp_path: Any) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[{"image_id": 1,')
    with pytest.raises(EvaluationInputError, match=r"broken\.json is not valid JSON"):
        read_result_columns(path, gt.prepare("bbox"))
    with pytest.raises(EvaluationInputError, match="got an object"):
        read_result_columns(b'{"annotations": []}', gt.prepare("bbox"))


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_evaluate_reads_a_common_file_as_columns_with_the_same_numbers(gt: Any, iou_type: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """evaluate() on a file's bytes takes the typed path (no json.loads: the memory of a 50,000-image set) and
    gives every array and count that the parsed JSON gives."""
    from explorer.evaluation.coco import pipeline

    data = results(gt.dataset("segm"))
    for k, entry in enumerate(data):  # scores that rank, as a detector's do
        entry["score"] = 1.0 - k / (2 * len(data))
    parsed = pipeline.evaluate(gt, data, iou_type)

    def no_json(*_: Any) -> Any:
        raise AssertionError("json.loads on a common-case results file")

    monkeypatch.setattr(pipeline, "parse_json", no_json)
    typed = pipeline.evaluate(gt, json.dumps(data).encode(), iou_type)
    assert typed.stats == parsed.stats and typed.n_detections == parsed.n_detections == len(data)
    assert [c.n_dt for c in typed.categories] == [c.n_dt for c in parsed.categories]
    assert repr(typed.categories) == repr(parsed.categories)  # every per-category number (NaN prints as nan)
