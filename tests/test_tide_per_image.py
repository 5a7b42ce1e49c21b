"""The per-image table and the ground-truth overlay, on a crafted set with known numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from explorer.drawing.ground_truth import KIND_COLORS, draw_ground_truth
from explorer.evaluation.analyses.per_image import (
    PER_IMAGE_COLUMNS,
    image_overlay,
    per_image_csv_frame,
    per_image_table,
)
from explorer.evaluation.analyses.tide import classify
from explorer.evaluation.inputs.ground_truth import check_ground_truth
from explorer.evaluation.inputs.result_checks import check_results
from tests.coco_factory import make_ground_truth, perfect_results

CATS = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
CAT, DOG = [10.0, 10.0, 60.0, 60.0], [100.0, 20.0, 50.0, 40.0]


def crafted() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Image 1: a cat found. Image 2: a cat found at .9 after a background box at .95, a dog missed.
    Image 3: nothing annotated, nothing detected. Image 4: a dog box where there is only a cat (cls)."""
    def ann(i: int, image: int, cat: int, box: list[float]) -> dict[str, Any]:
        return {"id": i, "image_id": image, "category_id": cat, "bbox": box, "area": box[2] * box[3]}

    gt = {"images": [{"id": i, "file_name": f"img{i}.jpg", "width": 200, "height": 100} for i in (1, 2, 3, 4)],
          "annotations": [ann(1, 1, 1, CAT), ann(2, 2, 1, CAT), ann(3, 2, 2, DOG), ann(4, 4, 1, CAT)],
          "categories": CATS}
    results = [{"image_id": 1, "category_id": 1, "bbox": CAT, "score": 0.8},
               {"image_id": 2, "category_id": 1, "bbox": CAT, "score": 0.9},
               {"image_id": 2, "category_id": 1, "bbox": [160.0, 70.0, 20.0, 20.0], "score": 0.95},
               {"image_id": 4, "category_id": 2, "bbox": CAT, "score": 0.7}]
    return gt, results


def setup(score_threshold: float = 0.0) -> tuple[Any, Any, list[dict[str, Any]]]:
    gt_data, results = crafted()
    gt = check_ground_truth(gt_data)
    checked = check_results(results, gt.prepare("bbox"))
    return classify(gt, checked, "bbox", score_threshold=score_threshold), gt, checked


def test_per_image_numbers_and_worst_first() -> None:
    c, gt, _ = setup()
    table = per_image_table(c, gt)
    assert list(table["image_id"]) == [4, 2, 1, 3]  # AP 0 with 2 errors, AP 25, AP 100, undefined last
    rows = table.set_index("image_id")
    # Image 4: the dog class has a detection but no dog (0), the cat is missed... by cls (0): mean 0.
    assert rows.loc[4, ["tp", "fp", "fn"]].tolist() == [0, 1, 1] and rows.loc[4, "ap"] == 0
    assert rows.loc[4, "worst_error"] == "cls"  # the cat is not "missed": a cls error points at it
    # Image 2: cat [FP, TP] of 1 -> precision .5 at every recall = 50; dog missed = 0; mean 25.
    assert rows.loc[2, ["tp", "fp", "fn"]].tolist() == [1, 1, 1] and rows.loc[2, "ap"] == pytest.approx(25)
    assert rows.loc[2, "worst_error"] == "bkg"  # one bkg, one miss: TIDE's order breaks the tie
    assert rows.loc[1, "ap"] == 100 and rows.loc[1, "worst_error"] == ""
    assert np.isnan(rows.loc[3, "ap"]) and rows.loc[3, ["tp", "fp", "fn"]].tolist() == [0, 0, 0]


def test_score_threshold_changes_the_counts() -> None:
    c, gt, _ = setup(score_threshold=0.92)
    rows = per_image_table(c, gt).set_index("image_id")
    assert rows.loc[2, ["tp", "fp", "fn"]].tolist() == [0, 1, 2]
    assert rows.loc[1, ["tp", "fp", "fn"]].tolist() == [0, 0, 1]


def test_csv_frame_columns_and_percent_text() -> None:
    c, gt, _ = setup()
    frame = per_image_csv_frame(per_image_table(c, gt))
    assert tuple(frame.columns) == PER_IMAGE_COLUMNS
    rows = frame.set_index("image_id")
    assert rows.loc[2, "ap"] == "25.0" and rows.loc[3, "ap"] == "" and rows.loc[1, "file_name"] == "img1.jpg"


def test_overlay_items_of_one_image() -> None:
    c, gt, checked = setup()
    items = image_overlay(c, gt, checked, 2)
    assert sorted((i.kind, i.category) for i in items) == [("bkg", "cat"), ("missed", "dog"), ("tp", "cat")]
    missed = next(i for i in items if i.kind == "missed")
    assert missed.box == tuple(DOG) and missed.score is None


def test_drawing_puts_each_kind_in_its_colour() -> None:
    c, gt, checked = setup()
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    drawn = draw_ground_truth(image, image_overlay(c, gt, checked, 2), line_width=2, show_labels=False)
    assert drawn.shape == image.shape and drawn is not image
    assert image.sum() == 0  # the input is untouched
    assert tuple(drawn[10, 40]) == KIND_COLORS["tp"]  # top edge of the cat box
    assert tuple(drawn[70, 170]) == KIND_COLORS["bkg"]  # top edge of the background box
    dog_top = drawn[20, 100:151]
    blue = np.all(dog_top == KIND_COLORS["missed"], axis=1)
    assert 0.3 < blue.mean() < 0.8  # dashed: partly drawn


def test_segm_overlay_uses_mask_boxes() -> None:
    gt_data = make_ground_truth(n_images=2, seed=4)
    gt = check_ground_truth(gt_data)
    results = check_results(perfect_results(gt_data, "segm"), gt.prepare("segm"))
    c = classify(gt, results, "segm")
    image_id = gt.images[0]["id"]
    items = image_overlay(c, gt, results, image_id)
    assert items and all(item.kind == "tp" for item in items)
    assert per_image_table(c, gt)["ap"].tolist() == [100.0, 100.0]


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_overlay_from_columns_as_from_the_checked_list(iou_type: str) -> None:
    """The pages hand the overlay the results as read_result_columns gives them (what load_for_tide returns)."""
    from explorer.evaluation.inputs.result_columns import ResultColumns

    gt_data = make_ground_truth(n_images=3, seed=6)
    gt = check_ground_truth(gt_data)
    results = check_results(perfect_results(gt_data, iou_type), gt.prepare(iou_type))
    columns = ResultColumns.from_records(results, "bbox" if iou_type == "bbox" else "segmentation")
    c = classify(gt, columns, iou_type)
    for image in gt.images:
        assert image_overlay(c, gt, columns, image["id"]) == image_overlay(c, gt, results, image["id"])
