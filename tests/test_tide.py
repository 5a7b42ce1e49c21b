"""TIDE error types: hand-made cases with a known answer for each type, and the dAP arithmetic by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from explorer.evaluation.analyses.tide import (
    ERRORS,
    classify,
    segment_ap,
    tide,
    tide_difference,
    tide_errors,
)
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import check_ground_truth
from explorer.evaluation.inputs.result_checks import check_results

CATEGORIES = [{"id": 1, "name": "cat", "supercategory": "animal"},
              {"id": 2, "name": "dog", "supercategory": "animal"},
              {"id": 5, "name": "car", "supercategory": "vehicle"}]


def ground_truth(objects: list[tuple[int, list[float]]], crowds: list[tuple[int, list[float]]] = (),
                 images: int = 1) -> dict[str, Any]:
    """One 400x300 image (or more, empty) with these (category, box) objects and crowd regions."""
    anns = [{"id": i + 1, "image_id": 1, "category_id": c, "bbox": box, "area": box[2] * box[3], "iscrowd": 0}
            for i, (c, box) in enumerate(objects)]
    anns += [{"id": len(anns) + i + 1, "image_id": 1, "category_id": c, "bbox": box, "area": box[2] * box[3],
              "iscrowd": 1} for i, (c, box) in enumerate(crowds)]
    return {"images": [{"id": i, "file_name": f"{i}.jpg", "width": 400, "height": 300} for i in range(1, images + 1)],
            "annotations": anns, "categories": CATEGORIES}


def dets(*entries: tuple[int, list[float], float], image_id: int = 1) -> list[dict[str, Any]]:
    return [{"image_id": image_id, "category_id": c, "bbox": box, "score": s} for c, box, s in entries]


def labels(gt_data: dict[str, Any], results: list[dict[str, Any]], **options: Any) -> tuple[list[str], list[bool]]:
    """(label of each detection in results order, missed flag of each object)."""
    gt = check_ground_truth(gt_data)
    c = classify(gt, check_results(results, gt.prepare("bbox")), "bbox", **options)
    frame = c.detection_frame().sort_values("result")
    return list(frame["label"]), list(c.gt_missed)


CAT = [10.0, 10.0, 100.0, 100.0]  # a cat
DOG = [200.0, 100.0, 80.0, 120.0]  # a dog elsewhere


def test_exact_box_is_a_true_positive() -> None:
    assert labels(ground_truth([(1, CAT)]), dets((1, CAT, 0.9))) == (["tp"], [False])


def test_box_of_the_wrong_class_is_cls() -> None:
    assert labels(ground_truth([(1, CAT)]), dets((2, CAT, 0.9))) == (["cls"], [False])  # not missed: fixable


def test_shifted_box_is_loc() -> None:
    shifted = [60.0, 10.0, 100.0, 100.0]  # IoU 50/150 = 1/3
    assert labels(ground_truth([(1, CAT)]), dets((1, shifted, 0.9))) == (["loc"], [False])


def test_second_box_on_a_matched_object_is_dupe() -> None:
    assert labels(ground_truth([(1, CAT)]), dets((1, CAT, 0.9), (1, CAT, 0.8))) == (["tp", "dupe"], [False])


def test_box_on_background_is_bkg() -> None:
    assert labels(ground_truth([(1, CAT)]), dets((1, CAT, 0.9), (1, [300.0, 250.0, 40.0, 40.0], 0.8))) == (
        ["tp", "bkg"], [False])


def test_box_overlapping_no_object_at_background_zero_is_loc_on_the_first_object() -> None:
    # Pairs with IoU 0 never reach the error tests (tide_matching keeps overlapping pairs only); a detection with
    # none must still get what its row of zeros gives: bkg, or at bg 0 loc pointing at the image's first object
    # (the argmax of a row of zeros), whatever that object's class.
    gt = check_ground_truth(ground_truth([(2, DOG), (1, CAT)]))
    apart = dets((1, CAT, 0.9), (1, [300.0, 250.0, 40.0, 40.0], 0.8), (5, [350.0, 10.0, 20.0, 20.0], 0.7))
    for bg, expected in ((0.1, ["tp", "bkg", "bkg"]), (0.0, ["tp", "loc", "loc"])):
        c = classify(gt, check_results(apart, gt.prepare("bbox")), "bbox", bg_threshold=bg)
        assert list(c.detection_frame().sort_values("result")["label"]) == expected
        assert list(c.det_target) == ([1, -1, -1] if bg else [1, 0, 0])  # object 0 is the dog, listed first


def test_image_without_objects_makes_every_detection_bkg() -> None:
    data = ground_truth([(1, CAT)], images=2)
    assert labels(data, dets((1, CAT, 0.9), image_id=2)) == (["bkg"], [True])


def test_object_without_any_detection_is_missed() -> None:
    assert labels(ground_truth([(1, CAT), (2, DOG)]), dets((1, CAT, 0.9))) == (["tp"], [False, True])


def test_wrong_class_and_badly_placed_is_both() -> None:
    shifted_dog = [240.0, 100.0, 80.0, 120.0]  # IoU 1/3 with the dog, no cat anywhere near
    assert labels(ground_truth([(1, CAT), (2, DOG)]), dets((1, CAT, 0.9), (1, shifted_dog, 0.8))) == (
        ["tp", "both"], [False, True])


def test_loc_is_tested_before_cls() -> None:
    """Overlapping cat and dog: a cat box on the dog with IoU .3 to the cat is loc, not cls (TIDE's order)."""
    cat = [100.0, 100.0, 100.0, 100.0]
    dog = [150.0, 100.0, 100.0, 100.0]
    assert labels(ground_truth([(1, cat), (2, dog)]), dets((2, dog, 0.9), (1, dog, 0.8))) == (
        ["tp", "loc"], [False, False])


def test_detection_inside_a_crowd_of_its_class_is_ignored() -> None:
    data = ground_truth([(1, CAT)], crowds=[(5, [200.0, 100.0, 150.0, 150.0])])
    gt = check_ground_truth(data)
    results = check_results(dets((1, CAT, 0.9), (5, [220.0, 120.0, 50.0, 50.0], 0.8),
                                 (1, [220.0, 120.0, 50.0, 50.0], 0.7)), gt.prepare("bbox"))
    frame = classify(gt, results, "bbox").detection_frame().sort_values("result")
    assert list(frame["ignored"]) == [False, True, False]  # the cat box in the car crowd is not ignored


def test_score_threshold_drops_detections_before_matching() -> None:
    data = ground_truth([(1, CAT)])
    assert labels(data, dets((1, CAT, 0.3), (1, CAT, 0.9)), score_threshold=0.5) == (["tp"], [False])
    assert labels(data, dets((1, CAT, 0.3)), score_threshold=0.5) == ([], [True])


def test_best_hundred_detections_per_image_over_all_classes() -> None:
    boxes = [(1 + (i % 2), [300.0, 200.0, 20.0 + i, 20.0], 0.5 + i / 1000) for i in range(120)]
    gt = check_ground_truth(ground_truth([(1, CAT)]))
    c = classify(gt, check_results(dets(*boxes), gt.prepare("bbox")), "bbox")
    assert len(c.det_result) == 100 and c.det_score.min() == pytest.approx(0.5 + 20 / 1000)


def test_segment_ap_by_hand() -> None:
    """One class, two objects: [TP] -> recall .5 at precision 1: 51 of 101 thresholds; [FP, TP] -> half that."""
    one = segment_ap(np.array([0]), np.array([0.9]), np.array([True]), np.array([2]))
    assert one[0] == pytest.approx(100 * 51 / 101)
    fp_first = segment_ap(np.array([0, 0]), np.array([0.95, 0.9]), np.array([False, True]), np.array([2]))
    assert fp_first[0] == pytest.approx(50 * 51 / 101)
    # Empty class: undefined; detections but no objects: 0 (TIDE counts it in the mean).
    mixed = segment_ap(np.array([1]), np.array([0.5]), np.array([False]), np.array([0, 0, 3]))
    assert np.isnan(mixed[0]) and mixed[1] == 0 and mixed[2] == 0


def dap(gt_data: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, float]:
    return tide(gt_data, results, "bbox").dap


def test_dap_of_a_background_box_scored_above_the_hit() -> None:
    """Cat found at .9, a bkg box at .95, the dog missed: AP = 50 * 51/101 (cat) and 0 (dog), mean /2."""
    result = tide(ground_truth([(1, CAT), (1, DOG)]), dets((1, CAT, 0.9), (1, [300.0, 250.0, 40.0, 40.0], 0.95)),
                  "bbox")
    base = 50 * 51 / 101
    assert result.ap == pytest.approx(base)
    assert result.dap["bkg"] == pytest.approx(100 * 51 / 101 - base)
    assert result.dap["miss"] == pytest.approx(50 - base)  # one object left: recall 1 at precision .5
    assert result.dap["false_pos"] == pytest.approx(100 * 51 / 101 - base)
    assert result.dap["false_neg"] == pytest.approx(50 - base)
    assert result.dap["cls"] == result.dap["loc"] == result.dap["dupe"] == result.dap["both"] == 0
    assert result.counts == {"cls": 0, "loc": 0, "both": 0, "dupe": 0, "bkg": 1, "miss": 1}


def test_fixing_cls_moves_the_detection_to_the_objects_class() -> None:
    """A dog box on the cat: cat AP 0, dog AP 0 (detections, no dogs): fixing cls gives the cat 100 and the
    dog class no detections left (out of the mean): dAP 100."""
    result = tide(ground_truth([(1, CAT)]), dets((2, CAT, 0.9)), "bbox")
    assert result.ap == 0 and result.dap["cls"] == pytest.approx(100)
    frame = result.to_frame()
    cat = frame[(frame["category"] == "cat") & (frame["error"] == "cls")]
    assert cat["dap"].item() == pytest.approx(100)
    assert np.isnan(frame[(frame["category"] == "dog") & (frame["error"] == "cls")]["dap"].item())


def test_only_the_best_of_several_errors_on_one_object_is_fixed() -> None:
    """Two loc boxes on one cat: fixing loc makes the better one a hit and drops the other."""
    a, b = [55.0, 10.0, 100.0, 100.0], [60.0, 10.0, 100.0, 100.0]  # IoU .38 and .33
    result = tide(ground_truth([(1, CAT)]), dets((1, a, 0.8), (1, b, 0.9)), "bbox")
    assert result.dap["loc"] == pytest.approx(100)
    gt = check_ground_truth(ground_truth([(1, CAT)]))
    c = classify(gt, check_results(dets((1, a, 0.8), (1, b, 0.9)), gt.prepare("bbox")), "bbox")
    assert list(c.det_label) == [2, 2] and list(c.det_fixable) == [True, False]  # sorted by score: b first


def test_duplicate_costs_what_it_pushes_down() -> None:
    """Two cats; hits at .9 and .5, a duplicate of the first at .8: [TP, FP, TP] -> fixing dupe gives 100."""
    cat2 = [200.0, 10.0, 50.0, 50.0]
    result = tide(ground_truth([(1, CAT), (1, cat2)]), dets((1, CAT, 0.9), (1, CAT, 0.8), (1, cat2, 0.5)), "bbox")
    # Interpolated precision: recall .5 at 1, recall 1 at 2/3: (51 * 1 + 50 * 2/3) / 101.
    assert result.ap == pytest.approx(100 * (51 + 50 * 2 / 3) / 101)
    assert result.dap["dupe"] == pytest.approx(100 - result.ap)


def test_frame_has_overall_rows_then_categories() -> None:
    frame = tide(ground_truth([(1, CAT)]), dets((1, CAT, 0.9)), "bbox").to_frame()
    assert list(frame.columns) == ["category_id", "category", "error", "dap"]
    assert list(frame["error"][:8]) == list(ERRORS) and frame["category_id"][:8].isna().all()
    assert list(frame["category_id"][8:].dropna().unique()) == [1, 2, 5]


def test_difference_between_two_models() -> None:
    gt_data = ground_truth([(1, CAT)])
    good = tide(gt_data, dets((1, CAT, 0.9)), "bbox")
    wrong = tide(gt_data, dets((2, CAT, 0.9)), "bbox")
    diff = tide_difference(good, wrong, ("good", "wrong"))
    assert list(diff.columns) == ["category_id", "category", "error", "good", "wrong", "difference"]
    row = diff[diff["category_id"].isna() & (diff["error"] == "cls")].iloc[0]
    assert row["good"] == 0 and row["wrong"] == pytest.approx(100) and row["difference"] == pytest.approx(-100)


def test_keypoints_are_refused() -> None:
    gt = check_ground_truth(ground_truth([(1, CAT)]))
    with pytest.raises(EvaluationInputError, match="bbox and segm"):
        classify(gt, [], "keypoints")


def test_same_classification_feeds_tide_errors() -> None:
    gt = check_ground_truth(ground_truth([(1, CAT), (2, DOG)]))
    c = classify(gt, check_results(dets((2, CAT, 0.9), (1, CAT, 0.5)), gt.prepare("bbox")), "bbox")
    errors = tide_errors(c, gt.category_names)
    assert errors.counts["cls"] == 1 and errors.counts["miss"] == 1
