"""Small predicates and message helpers shared by the ground-truth and results checks.

Types are tested as JSON gives them (int, float) and as Python callers may pass them (numpy scalars), never
accepting bool where a number is meant: `True` as a score or a coordinate is a bug in the file, not a 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

_NUMBER = (int, float, np.integer, np.floating)
_BOOL = (bool, np.bool_)
_INT = (int, np.integer)


def is_number(value: Any) -> bool:
    # type() first: JSON's int and float (never bool, whose type is bool) at the cost of one comparison; these
    # run for every field of every annotation and detection.
    return type(value) is int or type(value) is float or (isinstance(value, _NUMBER)
                                                            and not isinstance(value, _BOOL))


def is_int(value: Any) -> bool:
    return type(value) is int or (isinstance(value, _INT) and not isinstance(value, _BOOL))


def finite_number(value: Any) -> bool:
    """A number (is_number) that is finite; an integer too large for a float (10**400, which JSON allows) is not,
    rather than an OverflowError out of math.isfinite."""
    try:
        return is_number(value) and math.isfinite(value)
    except OverflowError:
        return False


def number_types(types: Iterable[type]) -> bool:
    return all(issubclass(t, _NUMBER) and not issubclass(t, _BOOL) for t in types)


def int_types(types: Iterable[type]) -> bool:
    return all(issubclass(t, _INT) and not issubclass(t, _BOOL) for t in types)


def short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def few(values: Iterable[Any], n: int = 5) -> str:
    items = sorted(values, key=lambda v: (str(type(v)), v))
    shown = ", ".join(repr(v) for v in items[:n])
    return shown + (", …" if len(items) > n else "")


def numbers_ok(values: Any, length: int | None = None) -> bool:
    """A list/tuple of finite numbers (of `length`, when given)."""
    if not isinstance(values, list | tuple) or (length is not None and len(values) != length):
        return False
    if set(map(type, values)) <= {int, float}:  # the usual case, at C speed (bool is its own type)
        try:
            return all(map(math.isfinite, values))
        except OverflowError:  # an integer too large for a float
            return False
    return all(map(finite_number, values))


def segmentation_problem(segmentation: Any, size: tuple[int, int]) -> str | None:
    """What is wrong with one mask (polygons or RLE) for an image of `size` = (height, width), or None."""
    if segmentation is None:
        return "no 'segmentation'"
    if isinstance(segmentation, dict):
        rle_size, counts = segmentation.get("size"), segmentation.get("counts")
        if not isinstance(rle_size, list | tuple) or len(rle_size) != 2 or not all(is_int(v) for v in rle_size):
            return f"RLE 'size' must be [height, width], got {short(rle_size)}"
        if tuple(rle_size) != tuple(size):
            return f"mask size {list(rle_size)} differs from the image's [height, width] {list(size)}"
        if isinstance(counts, str | bytes):
            return None
        if isinstance(counts, list) and all(is_int(v) for v in counts):
            if sum(counts) != size[0] * size[1]:
                return f"RLE counts add up to {sum(counts)}, not height x width = {size[0] * size[1]}"
            return None
        return f"RLE 'counts' must be a string or a list of integers, got {short(counts)}"
    if isinstance(segmentation, list):
        if not segmentation:
            return "segmentation is an empty list of polygons"
        for polygon in segmentation:
            if not numbers_ok(polygon) or len(polygon) < 6 or len(polygon) % 2:
                return f"each polygon must be an even number (>= 6) of coordinates, got {short(polygon)}"
        return None
    return f"segmentation must be polygons (a list) or RLE (an object), got {short(segmentation)}"
