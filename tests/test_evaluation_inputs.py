"""Bad input gives EvaluationInputError with a message naming the problem and the first offending entry, before
pycocotools sees anything; odd-but-valid input is normalised so pycocotools computes the right thing."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from explorer.evaluation.coco.pipeline import evaluate
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import load_ground_truth
from explorer.evaluation.inputs.loading import read_json
from tests.coco_factory import make_ground_truth, perfect_results
from tests.test_evaluation import reference_eval

REFERENCE = "pycocotools"


@pytest.fixture(scope="module")
def gt() -> dict[str, Any]:
    return make_ground_truth(6, seed=11)


@pytest.fixture(scope="module")
def people() -> dict[str, Any]:
    return make_ground_truth(4, seed=12, keypoints=True)


@pytest.fixture
def results(gt) -> list[dict[str, Any]]:
    return perfect_results(gt, "bbox")


def error_of(*args: Any, **kwargs: Any) -> str:
    with pytest.raises(EvaluationInputError) as caught:
        evaluate(*args, backend=REFERENCE, **kwargs)
    return str(caught.value)


# --------------------------------------------------------------------------------------------- JSON and files


def test_malformed_json_bytes_say_line_and_column(gt) -> None:
    message = error_of(gt, b'[\n  {"image_id": 1,\n   "score": }\n]', "bbox")
    assert message.startswith("results is not valid JSON")
    assert "line 3, column 13" in message


def test_malformed_json_file_names_the_file(tmp_path, gt) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"images": [], "annotations": [')
    message = error_of(path, [], "bbox")
    assert str(path) in message and "not valid JSON" in message and "line 1" in message


def test_missing_file_is_named(tmp_path, gt) -> None:
    message = error_of(gt, tmp_path / "nope.json", "bbox")
    assert "nope.json" in message and "not found" in message


def test_binary_upload_is_not_json(gt) -> None:
    assert "not JSON text" in error_of(gt, b"\x89PNG\r\n\x1a\n\xff\xfe\x00", "bbox")


def test_empty_file(gt) -> None:
    assert "is empty" in error_of(gt, b"  \n", "bbox")


def test_size_cap_for_bytes_and_paths_says_how_to_raise_it(tmp_path, gt, results) -> None:
    data = json.dumps(results).encode()
    message = error_of(gt, data, "bbox", max_bytes=100)
    assert "over the" in message and "max_bytes" in message and "--max-mb" in message
    path = tmp_path / "results.json"
    path.write_bytes(data)
    with pytest.raises(EvaluationInputError, match=r"results\.json is .* over the"):
        read_json(path, what="results", max_bytes=100)
    assert evaluate(gt, data, "bbox", backend=REFERENCE, max_bytes=len(data)).stat("AP") == 1.0


# --------------------------------------------------------------------------------------------- ground truth


def test_ground_truth_must_be_an_object_with_the_three_lists(gt, results) -> None:
    assert "is this a results file" in error_of(results, results, "bbox")
    broken = {k: v for k, v in gt.items() if k != "categories"}
    assert "has no 'categories'" in error_of(broken, results, "bbox")


def test_ground_truth_annotation_with_unknown_category(gt, results) -> None:
    broken = copy.deepcopy(gt)
    broken["annotations"][3]["category_id"] = 99
    assert "annotations[3]: category_id 99 is not in 'categories'" in error_of(broken, results, "bbox")


def test_ground_truth_annotation_without_area(gt, results) -> None:
    broken = copy.deepcopy(gt)
    del broken["annotations"][2]["area"]
    assert "annotations[2]: 'area' must be a number" in error_of(broken, results, "bbox")


def test_masks_need_image_sizes(gt) -> None:
    broken = copy.deepcopy(gt)
    del broken["images"][1]["height"]
    message = error_of(broken, perfect_results(gt, "segm"), "segm")
    assert f"images[1] (id {gt['images'][1]['id']}) has no 'height'" in message


def test_keypoints_need_a_keypoint_category(gt) -> None:
    assert "no category with 'keypoints'" in error_of(gt, perfect_results(gt, "bbox"), "keypoints")


def test_ground_truth_keypoints_of_wrong_length(people) -> None:
    broken = copy.deepcopy(people)
    broken["annotations"][1]["keypoints"] = broken["annotations"][1]["keypoints"][:-3]
    message = error_of(broken, perfect_results(people, "keypoints"), "keypoints")
    assert "annotations[1]" in message and "must be 51 numbers" in message


def test_unknown_iou_type(gt, results) -> None:
    assert "unknown iou type 'boxes'" in error_of(gt, results, "boxes")


# --------------------------------------------------------------------------------------------- results


def test_results_must_be_a_list(gt) -> None:
    assert "must be a JSON list" in error_of(gt, {"detections": []}, "bbox")
    assert "is this the ground-truth file" in error_of(gt, gt, "bbox")


def test_empty_results(gt) -> None:
    assert "no detections (an empty list)" in error_of(gt, [], "bbox")


def test_results_for_another_dataset_say_how_many_ids_and_show_some(gt, results) -> None:
    other = [dict(r, image_id=r["image_id"] + 500_000) for r in results]
    message = error_of(gt, other, "bbox")
    distinct = len({r["image_id"] for r in other})
    assert "another dataset" in message
    assert f"none of their {distinct} image ids" in message
    assert str(min(r["image_id"] for r in other)) in message  # a few of them shown
    assert f"{len(gt['images'])} images" in message


def test_unknown_image_id_names_the_first_entry(gt, results) -> None:
    results[2]["image_id"] = 999
    results[4]["image_id"] = 999
    message = error_of(gt, results, "bbox")
    assert message.startswith("results[2]: image_id 999 is not in the ground truth")
    assert "2 detections" in message


def test_unknown_category_id_names_the_first_entry(gt, results) -> None:
    results[1]["category_id"] = 91
    message = error_of(gt, results, "bbox")
    assert message.startswith("results[1]: category_id 91 is not a category of the ground truth")
    assert "1, 2, 3, 17, 18, 90" in message


def test_image_id_as_text(gt, results) -> None:
    results[0]["image_id"] = str(results[0]["image_id"])
    assert "results[0]: image_id must be an integer" in error_of(gt, results, "bbox")


def test_missing_field(gt, results) -> None:
    del results[5]["category_id"]
    assert "results[5] has no 'category_id'" in error_of(gt, results, "bbox")


def test_bbox_not_4_numbers(gt, results) -> None:
    results[3]["bbox"] = [1, 2, 3]
    assert "results[3]: bbox must be 4 numbers" in error_of(gt, results, "bbox")
    results[3]["bbox"] = [1, 2, "3", 4]
    assert "results[3]: bbox must be 4 numbers" in error_of(gt, results, "bbox")
    del results[3]["bbox"]
    assert "results[3] has no 'bbox'" in error_of(gt, results, "bbox")


def test_negative_box_size(gt, results) -> None:
    results[1]["bbox"] = [1, 2, -3, 4]
    assert "results[1]: bbox must be 4 numbers [x, y, width >= 0" in error_of(gt, results, "bbox")


def test_score_not_a_number(gt, results) -> None:
    results[4]["score"] = "0.9"
    assert "results[4]: score must be a number, got '0.9'" in error_of(gt, results, "bbox")
    results[4]["score"] = float("nan")
    assert "results[4]: score must be a number" in error_of(gt, results, "bbox")
    results[4]["score"] = True
    assert "results[4]: score must be a number" in error_of(gt, results, "bbox")


def test_segmentation_missing_for_segm(gt) -> None:
    results = perfect_results(gt, "segm")
    del results[2]["segmentation"]
    assert "results[2] has no 'segmentation'" in error_of(gt, results, "segm")


def test_mask_of_the_wrong_size(gt) -> None:
    results = perfect_results(gt, "segm")
    results[1]["segmentation"] = dict(results[1]["segmentation"], size=[100, 100])
    message = error_of(gt, results, "segm")
    assert message.startswith("results[1]") and "mask size [100, 100] differs" in message


def test_keypoints_of_the_wrong_length_say_what_k_is(people) -> None:
    results = perfect_results(people, "keypoints")
    results[0]["keypoints"] = results[0]["keypoints"][:-1]
    message = error_of(people, results, "keypoints")
    assert message.startswith("results[0]: keypoints must be 51 numbers")
    assert "17 keypoints" in message and "got 50 values" in message


def test_results_of_a_category_without_keypoints(people) -> None:
    gt = copy.deepcopy(people)
    gt["categories"].append({"id": 2, "name": "car", "supercategory": "vehicle"})
    results = perfect_results(people, "keypoints")
    results[0]["category_id"] = 2
    assert "results[0]: category_id 2 (car) has no keypoints" in error_of(gt, results, "keypoints")


def test_errors_come_before_pycocotools(monkeypatch, gt, results) -> None:
    """No evaluator runs on bad input: its asserts and KeyErrors never reach the user."""
    import pycocotools.coco

    def fail(*_: Any, **__: Any) -> None:
        raise AssertionError("pycocotools was called")

    monkeypatch.setattr(pycocotools.coco.COCO, "loadRes", fail)
    results[0]["image_id"] = 123456789
    with pytest.raises(EvaluationInputError):
        evaluate(gt, results, "bbox", backend=REFERENCE)


# --------------------------------------------------------------------------------------------- normalisation


def test_annotation_ids_from_zero_are_renumbered(gt, results) -> None:
    """pycocotools takes annotation id 0 for "unmatched": the detection on it would count as a false positive."""
    zero_based = copy.deepcopy(gt)
    for ann in zero_based["annotations"]:
        ann["id"] -= 1
    reference, _ = reference_eval(zero_based, results, "bbox")
    assert reference.stats[0] < 1.0  # the reference's own behaviour on this file
    assert evaluate(zero_based, results, "bbox", backend=REFERENCE).stat("AP") == 1.0


def test_missing_iscrowd_means_not_crowd(gt, results) -> None:
    no_crowd_field = copy.deepcopy(gt)
    no_crowd_field["annotations"] = [a for a in no_crowd_field["annotations"] if not a["iscrowd"]]
    for ann in no_crowd_field["annotations"]:
        del ann["iscrowd"]
    assert evaluate(no_crowd_field, results, "bbox", backend=REFERENCE).stat("AP") == 1.0


def test_polygon_and_uncompressed_rle_results_are_accepted(gt) -> None:
    results = perfect_results(gt, "segm")
    by_id = {a["id"]: a for a in gt["annotations"]}
    polygons = [a for a in gt["annotations"] if isinstance(a["segmentation"], list) and not a["iscrowd"]]
    assert polygons
    for entry, ann in zip(results, [a for a in gt["annotations"] if not a["iscrowd"]], strict=True):
        if isinstance(by_id[ann["id"]]["segmentation"], list):
            entry["segmentation"] = ann["segmentation"]
    assert evaluate(gt, results, "segm", backend=REFERENCE).stat("AP") == 1.0


def test_segm_ignores_the_box_of_a_combined_result(gt) -> None:
    """Detectron2 (and our engine) write box and mask in one entry; for segm the mask's own area must decide
    the area range, so the box is dropped, as Detectron2's evaluator does."""
    results = perfect_results(gt, "segm")
    combined = [dict(r, bbox=[0, 0, 1, 1]) for r in results]  # tiny boxes would make every mask "small"
    reference, _ = reference_eval(gt, results, "segm")
    assert evaluate(gt, combined, "segm", backend=REFERENCE).stats == tuple(float(v) for v in reference.stats)


def test_inputs_are_not_modified(gt, results) -> None:
    before_gt, before_results = copy.deepcopy(gt), copy.deepcopy(results)
    evaluate(gt, results, "bbox", backend=REFERENCE)
    evaluate(gt, perfect_results(gt, "segm"), "segm", backend=REFERENCE)
    assert gt == before_gt and results == before_results


def test_ground_truth_checks_name_the_file(tmp_path, gt) -> None:
    broken = copy.deepcopy(gt)
    broken["annotations"][0]["image_id"] = -5
    path = tmp_path / "instances_val.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(EvaluationInputError, match=r"^instances_val.json annotations\[0\]: image_id -5"):
        load_ground_truth(path)


def test_rle_counts_decoder_matches_pycocotools() -> None:
    import numpy as np
    from pycocotools import mask as mask_utils

    from explorer.evaluation.inputs.result_checks import rle_counts

    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = np.asfortranarray(rng.random((13, 17)) > rng.random())
        rle = mask_utils.encode(mask.astype(np.uint8))
        counts = rle_counts(rle["counts"].decode("ascii"))
        assert counts is not None and sum(counts) == 13 * 17
        decoded = np.concatenate([np.full(n, i % 2, np.uint8) for i, n in enumerate(counts)])
        np.testing.assert_array_equal(decoded.reshape(17, 13).T, mask)
    assert rle_counts("garbage") is None or sum(rle_counts("garbage")) != 13 * 17


@pytest.mark.parametrize("backend", ["hotcoco", "pycocotools"])
@pytest.mark.parametrize("iou_type", ["segm", "keypoints"])
def test_one_evaluation_prepares_the_ground_truth_once(gt, people, iou_type, backend, monkeypatch) -> None:
    """The IoU type meets the ground truth once: one prepare, one evaluator dataset, shared by the results check,
    the COCOeval runs and the error breakdown (which used to build its own copy)."""
    from explorer.evaluation.inputs.ground_truth import GroundTruth

    calls: dict[str, int] = {"prepare": 0, "dataset": 0}
    for name in calls:
        real = getattr(GroundTruth, name)

        def counted(self: GroundTruth, *args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(GroundTruth, name, counted)
    data = people if iou_type == "keypoints" else gt
    evaluate(data, perfect_results(data, iou_type), iou_type, analysis=True, backend=backend)
    assert calls == {"prepare": 1, "dataset": 1}


def test_prepared_ground_truth_holds_what_the_iou_type_evaluates(people) -> None:
    data = copy.deepcopy(people)
    data["categories"].append({"id": 99, "name": "no keypoints"})
    data["annotations"][0]["iscrowd"] = 1
    truth = load_ground_truth(data).prepare("keypoints")
    assert truth.category_ids == (1,)  # only the category that names keypoints
    assert len(truth.kpt_sigmas) == 17
    assert {ann["category_id"] for ann in truth.dataset["annotations"]} == {1}
    assert "segmentation" not in truth.dataset["annotations"][0]  # keypoint evaluation reads no masks
    counted = sum(1 for ann in data["annotations"][1:] if sum(v > 0 for v in ann["keypoints"][2::3]) > 0)
    assert truth.n_gt[1] == counted  # the crowd one does not count
    with pytest.raises(EvaluationInputError, match="kpt_sigmas: 3 value"):
        load_ground_truth(data).prepare("keypoints", [0.1] * 3)


def test_one_frozen_request_carries_an_evaluation(gt, results) -> None:
    """evaluate(...) is make_request + run_request: the request holds the inputs, the IoU type and the options,
    cannot be changed on its way, and an option that does not exist is refused by name."""
    import dataclasses

    from explorer.evaluation.coco.pipeline import make_request, run_request

    ids = [gt["images"][0]["id"], gt["images"][1]["id"]]
    results = [r for r in results if r["image_id"] in ids]
    request = make_request(gt, results, "bbox", image_ids=ids, backend="pycocotools")
    assert (request.iou_type, request.options.image_ids, request.options.backend) == ("bbox", tuple(ids),
                                                                                      "pycocotools")
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.iou_type = "segm"  # type: ignore[misc]
    direct = run_request(request)
    assert direct.stats == evaluate(gt, results, "bbox", image_ids=ids, backend="pycocotools").stats
    assert direct.n_images == 2
    with pytest.raises(TypeError, match="unknown evaluation option"):
        evaluate(gt, results, "bbox", workers=2)
    with pytest.raises(EvaluationInputError, match="unknown iou type 'boxes'"):
        make_request(gt, results, "boxes")
