"""Mask conversions with pycocotools, done the way its COCO.annToRLE does them, in batches where possible.

Every backend and the error breakdown need masks as compressed RLE; converting each ground-truth polygon once
and sharing the result is most of what makes mask evaluation at val2017 scale fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

# pycocotools' area() and toBbox() hold the list's length in a uint8 array (numpy 2 raises OverflowError past
# 255 masks), so batches are at most this long.
_BATCH = 255


def to_rle(segmentation: Any, height: int, width: int) -> dict[str, Any]:
    """Compressed RLE of a mask given as polygons, uncompressed RLE or compressed RLE (returned as is)."""
    return to_rles([(segmentation, height, width)])[0]


def to_rles(masks: Iterable[tuple[Any, int, int]]) -> list[dict[str, Any]]:
    """to_rle of each (segmentation, height, width), with one import for all: `from pycocotools import mask`
    inside to_rle cost about 5 us a call, 0.15 s of a val2017-size ground truth's 36,000 polygons."""
    from pycocotools import mask as mask_utils

    return [_to_rle(mask_utils, segmentation, height, width) for segmentation, height, width in masks]


def _to_rle(mask_utils: Any, segmentation: Any, height: int, width: int) -> dict[str, Any]:
    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    if isinstance(segmentation.get("counts"), list):
        return mask_utils.frPyObjects(segmentation, height, width)
    return segmentation


def areas(rles: Sequence[dict[str, Any]]) -> list[int]:
    """Pixel area of each compressed-RLE mask."""
    from pycocotools import mask as mask_utils

    return [int(a) for i in range(0, len(rles), _BATCH) for a in mask_utils.area(list(rles[i: i + _BATCH]))]


def boxes(rles: Sequence[dict[str, Any]]) -> np.ndarray:
    """[N, 4] tight box (x, y, w, h) of each compressed-RLE mask."""
    from pycocotools import mask as mask_utils

    if not rles:
        return np.zeros((0, 4))
    return np.concatenate([mask_utils.toBbox(list(rles[i: i + _BATCH])) for i in range(0, len(rles), _BATCH)])


def coco_iou(dets: Sequence[Any], gts: Sequence[Any], crowd: Sequence[int], iou_type: str) -> np.ndarray:
    """[D, G] IoU as COCOeval computes it: boxes (x, y, w, h) for "bbox", compressed RLEs otherwise; for crowd
    columns intersection over the detection's area (pycocotools' convention). The confusion matrix's boxes, and
    the reference rle_iou is tested against."""
    if not dets or not gts:
        return np.zeros((len(dets), len(gts)))
    from pycocotools import mask as mask_utils

    if iou_type == "bbox":
        dets, gts = np.asarray(dets, dtype=float), np.asarray(gts, dtype=float)
    return np.asarray(mask_utils.iou(dets, gts, list(crowd)), dtype=float).reshape(len(dets), len(gts))


def rle_iou(dets: Sequence[dict[str, Any]], gts: Sequence[dict[str, Any]], crowd: Sequence[int]) -> np.ndarray:
    """[D, G] IoU of compressed-RLE masks, pycocotools' `mask.iou` bit for bit (crowd columns: intersection over
    the detection's area), computed by ultrafast-pycocotools' port of the same C code.

    Why not pycocotools here: TIDE and the confusion matrix call this once per image (5,000 calls on a
    val2017-size set) and ultrafast-pycocotools does the same work ~1.4x faster with less per-call overhead
    (bench/README.md, "TIDE at 10x tidecv"); tests/test_masks.py checks it against pycocotools, crowds and
    empty masks included. coco_iou stays pycocotools' (the reference the tests compare with)."""
    if not dets or not gts:
        return np.zeros((len(dets), len(gts)))
    from ultrafast_pycocotools import mask as fast_mask

    return np.asarray(fast_mask.iou(dets, gts, list(crowd)), dtype=float).reshape(len(dets), len(gts))
