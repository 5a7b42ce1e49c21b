"""The ground-truth checks' column fast path (explorer/evaluation/inputs/column_checks.py) lets no bad entry
through: each kind of bad image, annotation or mask, placed after good ones in a file whose good entries take the
fast path, is still refused with the item-by-item check's exact message naming it; odd-but-valid entries the
column tests do not know (numpy scalars, tuples, True as iscrowd) are still accepted, normalised as before."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs import column_checks, ground_truth
from explorer.evaluation.inputs.ground_truth import check_ground_truth
from explorer.evaluation.inputs.loading import parse_json
from tests.coco_factory import make_ground_truth

WHAT = "gt.json"


@pytest.fixture(scope="module")
def good() -> dict[str, Any]:
    """A ground truth with JSON's own types (as a file gives it), polygons and RLE crowds."""
    return json.loads(json.dumps(make_ground_truth(6, seed=11), default=float))


def refused(data: dict[str, Any], iou_type: str | None = None) -> str:
    with pytest.raises(EvaluationInputError) as caught:
        gt = check_ground_truth(data, what=WHAT)
        if iou_type:
            gt.check_for(iou_type)
    return str(caught.value)


def test_a_file_of_good_entries_takes_the_column_path(good) -> None:
    images = {image["id"] for image in good["images"]}
    categories = {category["id"] for category in good["categories"]}
    assert column_checks.images_pass(good["images"])
    assert column_checks.annotations_pass(good["annotations"], images, categories)
    assert column_checks.polygons_pass([a["segmentation"] for a in good["annotations"]
                                        if not isinstance(a["segmentation"], dict)])
    assert any(isinstance(a["segmentation"], dict) for a in good["annotations"])  # crowds: RLE, checked one by one


def test_column_path_and_item_path_give_the_same_ground_truth(good, monkeypatch) -> None:
    fast = check_ground_truth(copy.deepcopy(good), what=WHAT)
    fast.check_for("segm")
    monkeypatch.setattr(ground_truth, "annotations_pass", lambda *a: False)
    monkeypatch.setattr(ground_truth, "images_pass", lambda *a: False)
    slow = check_ground_truth(copy.deepcopy(good), what=WHAT)
    slow.check_for("segm")
    assert fast.annotations == slow.annotations and fast.images == slow.images
    assert [a["id"] for a in fast.annotations] == list(range(1, len(good["annotations"]) + 1))
    assert [a["source_id"] for a in fast.annotations] == [a["id"] for a in good["annotations"]]


def test_the_callers_data_is_not_modified(good) -> None:
    data = copy.deepcopy(good)
    data["annotations"][0]["id"] = 77
    check_ground_truth(data, what=WHAT)
    assert data == {**good, "annotations": [{**good["annotations"][0], "id": 77}, *good["annotations"][1:]]}


def _set(section: str, index: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data[section][index][key] = value
    return change


def _drop(section: str, index: int, key: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        del data[section][index][key]
    return change


def _replace(section: str, index: int, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data[section][index] = value
    return change


A = 5  # the bad annotation's index: after good ones
BAD_ENTRIES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("image not an object", _replace("images", 4, [1]), "images[4] is not an object: [1]"),
    ("image id a string", _set("images", 3, "id", "7"), "images[3]: 'id' must be an integer, got '7'"),
    ("image id a float", _set("images", 3, "id", 7.0), "images[3]: 'id' must be an integer, got 7.0"),
    ("image id true", _set("images", 3, "id", True), "images[3]: 'id' must be an integer, got True"),
    ("image id missing", _drop("images", 2, "id"), "images[2]: 'id' must be an integer, got None"),
    ("annotation not an object", _replace("annotations", A, None), f"annotations[{A}] is not an object: None"),
    ("image_id unknown", _set("annotations", A, "image_id", 424242),
     f"annotations[{A}]: image_id 424242 is not in 'images'"),
    ("image_id a string", _set("annotations", A, "image_id", "1000"),
     f"annotations[{A}]: image_id '1000' is not in 'images'"),
    ("image_id true", _set("annotations", A, "image_id", True), f"annotations[{A}]: image_id True is not in"),
    ("category_id unknown", _set("annotations", A, "category_id", 999),
     f"annotations[{A}]: category_id 999 is not in 'categories'"),
    ("category_id a float", _set("annotations", A, "category_id", 1.0),
     f"annotations[{A}]: category_id 1.0 is not in 'categories'"),
    ("bbox of 3", _set("annotations", A, "bbox", [1, 2, 3]),
     f"annotations[{A}]: bbox must be 4 numbers [x, y, width >= 0, height >= 0], got [1, 2, 3]"),
    ("bbox a string", _set("annotations", A, "bbox", "1,2,3,4"), f"annotations[{A}]: bbox must be 4 numbers"),
    ("bbox negative width", _set("annotations", A, "bbox", [1, 2, -3, 4]),
     f"annotations[{A}]: bbox must be 4 numbers [x, y, width >= 0, height >= 0], got [1, 2, -3, 4]"),
    ("bbox negative height", _set("annotations", A, "bbox", [1, 2, 3, -0.5]), f"annotations[{A}]: bbox must"),
    ("bbox NaN", _set("annotations", A, "bbox", [1, 2, math.nan, 4]), f"annotations[{A}]: bbox must"),
    ("bbox infinite", _set("annotations", A, "bbox", [math.inf, 2, 3, 4]), f"annotations[{A}]: bbox must"),
    ("bbox with a bool", _set("annotations", A, "bbox", [1, True, 3, 4]), f"annotations[{A}]: bbox must"),
    ("bbox with a string", _set("annotations", A, "bbox", [1, "2", 3, 4]), f"annotations[{A}]: bbox must"),
    ("bbox null", _set("annotations", A, "bbox", None), f"annotations[{A}]: bbox must be 4 numbers"),
    ("area missing", _drop("annotations", A, "area"), f"annotations[{A}]: 'area' must be a number"),
    ("area a string", _set("annotations", A, "area", "12"), f"annotations[{A}]: 'area' must be a number"),
    ("area true", _set("annotations", A, "area", True), f"annotations[{A}]: 'area' must be a number"),
    ("area NaN", _set("annotations", A, "area", math.nan), f"annotations[{A}]: 'area' must be a number"),
    ("area infinite", _set("annotations", A, "area", -math.inf), f"annotations[{A}]: 'area' must be a number"),
    ("area huge integer", _set("annotations", A, "area", 10**400), f"annotations[{A}]: 'area' must be a number"),
    ("bbox huge integer", _set("annotations", A, "bbox", [1, 2, 10**400, 4]), f"annotations[{A}]: bbox must"),
    ("iscrowd 2", _set("annotations", A, "iscrowd", 2), f"annotations[{A}]: iscrowd must be 0 or 1, got 2"),
    ("iscrowd a string", _set("annotations", A, "iscrowd", "1"), f"annotations[{A}]: iscrowd must be 0 or 1"),
    ("iscrowd null", _set("annotations", A, "iscrowd", None), f"annotations[{A}]: iscrowd must be 0 or 1"),
    ("iscrowd a list", _set("annotations", A, "iscrowd", [0]), f"annotations[{A}]: iscrowd must be 0 or 1"),
]


@pytest.mark.parametrize(("change", "message"), [case[1:] for case in BAD_ENTRIES],
                         ids=[case[0] for case in BAD_ENTRIES])
def test_each_kind_of_bad_entry_is_refused_with_its_message(good, change, message) -> None:
    data = copy.deepcopy(good)
    change(data)
    text = refused(data)
    assert text.startswith(f"{WHAT} ") and message in text


def test_the_first_bad_annotation_is_the_one_named(good) -> None:
    data = copy.deepcopy(good)
    data["annotations"][7]["area"] = "x"
    data["annotations"][3]["iscrowd"] = 5
    assert "annotations[3]: iscrowd must be 0 or 1, got 5" in refused(data)


def _first_polygon_annotation(data: dict[str, Any]) -> int:
    return next(i for i, a in enumerate(data["annotations"]) if i >= A and isinstance(a["segmentation"], list))


def _first_rle_annotation(data: dict[str, Any]) -> int:
    return next(i for i, a in enumerate(data["annotations"]) if isinstance(a["segmentation"], dict))


BAD_MASKS: list[tuple[str, Any, str]] = [
    ("no segmentation", None, "no 'segmentation'"),
    ("empty polygons", [], "segmentation is an empty list of polygons"),
    ("polygon of 4", [[1, 2, 3, 4]], "each polygon must be an even number (>= 6) of coordinates, got [1, 2, 3, 4]"),
    ("odd polygon", [[1, 2, 3, 4, 5, 6, 7]], "each polygon must be an even number (>= 6)"),
    ("polygon not a list", [5], "each polygon must be an even number (>= 6) of coordinates, got 5"),
    ("second polygon bad", [[1, 2, 3, 4, 5, 6], [1, 2]], "got [1, 2]"),
    ("polygon with a string", [[1, 2, 3, "4", 5, 6]], "each polygon must be an even number (>= 6)"),
    ("polygon with a bool", [[1, 2, 3, False, 5, 6]], "each polygon must be an even number (>= 6)"),
    ("polygon with NaN", [[1, 2, 3, math.nan, 5, 6]], "each polygon must be an even number (>= 6)"),
    ("polygon with a huge integer", [[1, 2, 3, 10**400, 5, 6]], "each polygon must be an even number (>= 6)"),
    ("segmentation a string", "mask", "segmentation must be polygons (a list) or RLE (an object), got 'mask'"),
    ("RLE of another size", {"size": [10, 10], "counts": "abc"},
     "mask size [10, 10] differs from the image's [height, width] [480, 640]"),
    ("RLE counts too short", {"size": [480, 640], "counts": [5, 5]},
     "RLE counts add up to 10, not height x width = 307200"),
    ("RLE counts a number", {"size": [480, 640], "counts": 5}, "RLE 'counts' must be a string or a list of integers"),
    ("RLE without size", {"counts": "abc"}, "RLE 'size' must be [height, width], got None"),
]


@pytest.mark.parametrize(("segmentation", "message"), [case[1:] for case in BAD_MASKS],
                         ids=[case[0] for case in BAD_MASKS])
@pytest.mark.parametrize("where", ["polygon annotation", "crowd annotation"])
def test_each_kind_of_bad_mask_is_refused_with_its_message(good, segmentation, message, where) -> None:
    data = copy.deepcopy(good)
    i = _first_polygon_annotation(data) if where == "polygon annotation" else _first_rle_annotation(data)
    data["annotations"][i]["segmentation"] = segmentation
    assert data["images"][0]["height"] == 480 and all(image["height"] == 480 for image in data["images"])
    text = refused(data, "segm")
    assert text.startswith(f"{WHAT} annotations[{i}] (image {data['annotations'][i]['image_id']}): ")
    assert message in text


def test_an_image_without_a_size_is_refused_for_masks(good) -> None:
    data = copy.deepcopy(good)
    del data["images"][3]["height"]
    assert refused(data, "segm") == (f"{WHAT} images[3] (id {data['images'][3]['id']}) has no 'height' and "
                                     f"'width' (needed for masks)")


def test_entries_the_column_path_does_not_know_are_still_accepted(good) -> None:
    data = copy.deepcopy(good)
    ann = data["annotations"][A]
    ann.update(image_id=np.int64(ann["image_id"]), bbox=tuple(ann["bbox"]), area=np.float32(ann["area"]),
               iscrowd=True, category_id=np.int32(ann["category_id"]))
    data["images"][1]["id"] = np.int64(data["images"][1]["id"])
    gt = check_ground_truth(data, what=WHAT)
    gt.check_for("segm")
    assert gt.annotations[A]["iscrowd"] == 1 and type(gt.annotations[A]["iscrowd"]) is int
    assert gt.annotations[A]["bbox"] == ann["bbox"]


@pytest.mark.parametrize(("text", "check"), [
    (b'{"a": NaN, "b": Infinity, "c": 1e400}', lambda v: math.isnan(v["a"]) and v["b"] == v["c"] == math.inf),
    (b'\xef\xbb\xbf{"a": 1}', lambda v: v == {"a": 1}),  # a UTF-8 byte-order mark
    ('{"a": "é"}'.encode("utf-16"), lambda v: v == {"a": "é"}),
    (b'{"a": "\\ud800"}', lambda v: v == {"a": "\ud800"}),  # a lone surrogate
    (b'{"a": 1, "a": 2, "b": 123456789012345678901234567890}',
     lambda v: v == {"a": 2, "b": 123456789012345678901234567890}),
])
def test_parse_json_takes_what_json_loads_takes(text, check) -> None:
    assert check(parse_json(text, "gt.json"))
    assert parse_json(text, "gt.json").keys() == json.loads(text).keys()


def test_parse_json_keeps_json_loads_messages() -> None:
    broken = b'{"a":\n  1, ]'
    with pytest.raises(json.JSONDecodeError) as reference:
        json.loads(broken)
    with pytest.raises(EvaluationInputError) as caught:
        parse_json(broken, "gt.json")
    error = reference.value
    assert str(caught.value) == f"gt.json is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
    with pytest.raises(EvaluationInputError, match="not UTF-8"):
        parse_json(b'{"a": "\xff"}', "gt.json")
    with pytest.raises(EvaluationInputError, match="nested too deeply"):
        parse_json(b"[" * 100_000 + b"]" * 100_000, "gt.json")


def test_a_file_read_here_is_normalised_in_place_like_a_callers_dict_is_copied(good, tmp_path) -> None:
    data = copy.deepcopy(good)
    data["annotations"][2]["source_id"] = "kept?"
    data["annotations"][4].pop("iscrowd")
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(data))
    from_file = ground_truth.load_ground_truth(path)
    before = copy.deepcopy(data)
    from_dict = ground_truth.load_ground_truth(data)
    assert data == before  # the caller's dict: copied, not changed
    assert from_file.annotations == from_dict.annotations
    assert [list(a) for a in from_file.annotations] == [list(a) for a in from_dict.annotations]  # key order too
    assert from_file.annotations[4]["iscrowd"] == 0 and from_file.annotations[2]["source_id"] == good[
        "annotations"][2]["id"]
