"""Whole-column versions of the ground-truth checks, for the good path: one question per column ("are all these
image ids integers that name an image?") answered with sets, maps and numpy at C speed, instead of a dozen
Python-level tests per annotation.

Each function returns True only when every entry would pass its item-by-item check in ground_truth.py; when it
returns False (or cannot tell: an unhashable value, an integer too large for a float, a type the column test does
not know), the caller walks the entries one by one and raises today's message naming the first bad one. So the
column tests may be stricter than the item checks, never looser; tests/test_ground_truth_checks.py holds each
kind of bad entry against both.

Why: a val2017-size ground truth (36,000 objects with polygons) took about 0.2 s to check item by item, the
same order as parsing it, on every TIDE or evaluate call that loads the file.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from itertools import chain
from typing import Any

import numpy as np

_JSON_NUMBER = {int, float}  # as JSON gives numbers; numpy scalars and bools go the item-by-item way


def images_pass(images: Sequence[Any]) -> bool:
    """Every image is a dict with an integer id, no id twice (_check_images)."""
    if not _only(images, dict):
        return False
    ids = [image.get("id") for image in images]
    return _only(ids, int) and len(set(ids)) == len(ids)


def annotations_pass(annotations: Sequence[Any], image_ids: Collection[int], category_ids: Collection[int]) -> bool:
    """Every annotation passes _check_annotations: a dict naming a known image and category, a box (where
    given) of 4 finite numbers with width and height >= 0, a finite area, iscrowd 0 or 1 (or missing)."""
    try:
        if not _only(annotations, dict):
            return False
        return (_known_ints([ann.get("image_id") for ann in annotations], image_ids)
                and _known_ints([ann.get("category_id") for ann in annotations], category_ids)
                and _boxes_pass([ann["bbox"] for ann in annotations if "bbox" in ann])
                and _finite_numbers([ann.get("area") for ann in annotations])
                and set(ann.get("iscrowd", 0) for ann in annotations) <= {0, 1})
    except (TypeError, ValueError, OverflowError):  # unhashable values, huge integers: the item checks decide
        return False


def polygons_pass(segmentations: Sequence[Any]) -> bool:
    """Every segmentation is a non-empty list of polygons, each an even number (>= 6) of finite numbers
    (segmentation_problem's polygon branch; RLE masks are left to it)."""
    try:
        if not _only(segmentations, list) or not all(segmentations):
            return False
        polygons = list(chain.from_iterable(segmentations))
        if not _only(polygons, list):
            return False
        lengths = np.fromiter(map(len, polygons), dtype=np.int64, count=len(polygons))
        if lengths.size and (lengths.min() < 6 or np.any(lengths % 2)):
            return False
        return _finite_numbers(list(chain.from_iterable(polygons)))
    except (TypeError, ValueError, OverflowError):
        return False


def _only(values: Sequence[Any], kind: type) -> bool:
    """Every value is exactly of type `kind` (not a subclass: bool is not an int here)."""
    return set(map(type, values)) <= {kind}


def _known_ints(values: list[Any], known: Collection[int]) -> bool:
    return _only(values, int) and set(values).issubset(known)


def _finite_numbers(values: list[Any]) -> bool:
    if not set(map(type, values)) <= _JSON_NUMBER:
        return False
    return bool(np.isfinite(np.array(values, dtype=float)).all()) if values else True


def _boxes_pass(boxes: list[Any]) -> bool:
    if not boxes:
        return True
    if not _only(boxes, list) or set(map(len, boxes)) != {4}:
        return False
    if not set(map(type, chain.from_iterable(boxes))) <= _JSON_NUMBER:
        return False
    array = np.array(boxes, dtype=float)
    return bool(np.isfinite(array).all() and (array[:, 2:] >= 0).all())
