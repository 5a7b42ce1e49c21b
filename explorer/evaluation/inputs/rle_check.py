"""A pure-Python check of compressed-RLE count strings, for the pycocotools backend only.

pycocotools' C decoder trusts these strings: a malformed one makes its IoU loop run for minutes. The
faster-coco-eval backend rejects them itself (cheaply), so only the reference backend pays for this check.
"""

from __future__ import annotations

from typing import Any

from explorer.evaluation.errors import EvaluationInputError

_LOW, _HIGH = 48, 48 + 63  # the string's alphabet: 6-bit groups offset by '0'


def rle_counts(text: str) -> list[int] | None:
    """The run lengths encoded in `text` (COCO's LEB128-like format with deltas), or None if malformed."""
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                return None  # the last run stops mid-number
            code = ord(text[position]) - _LOW
            if not 0 <= code <= _HIGH - _LOW:
                return None
            value |= (code & 0x1F) << shift
            more = bool(code & 0x20)
            position += 1
            shift += 5
            if not more and code & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def check_rle_strings(results: list[dict[str, Any]], sizes: dict[int, tuple[int, int]], what: str) -> None:
    """Every compressed-RLE segmentation decodes to non-negative runs covering its image exactly."""
    for index, result in enumerate(results):
        segmentation = result.get("segmentation")
        if not isinstance(segmentation, dict) or not isinstance(segmentation.get("counts"), str):
            continue
        height, width = sizes[result["image_id"]]
        counts = rle_counts(segmentation["counts"])
        if counts is None or min(counts, default=0) < 0 or sum(counts) != height * width:
            raise EvaluationInputError(
                f"{what}: entry {index} (image {result['image_id']}) has malformed compressed RLE counts: they do "
                f"not decode to runs covering its {height}x{width} image")
