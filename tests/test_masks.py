"""explorer.evaluation.masks.rle_iou (ultrafast-pycocotools) against pycocotools' mask.iou, bit for bit: the
mask IoU TIDE's matching runs on."""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from explorer.evaluation.masks import coco_iou, rle_iou
from tests.coco_factory import octagon


def random_masks(rng: np.random.Generator, n: int, height: int, width: int) -> list[dict]:
    """Compressed RLEs of blobs with holes and several parts per column, octagons, an empty mask and a full
    one, as pycocotools encodes them (counts as bytes) or as a results file carries them (str)."""
    masks = []
    for k in range(n):
        grid = np.zeros((height, width), dtype=np.uint8, order="F")
        x, y = rng.integers(0, width - 4), rng.integers(0, height - 4)
        w, h = rng.integers(1, width - x), rng.integers(1, height - y)
        grid[y: y + h, x: x + w] = rng.random((h, w)) < 0.7  # speckled: many runs
        masks.append(mask_utils.encode(np.asfortranarray(grid)))
        if k % 3 == 0:
            masks.append(mask_utils.frPyObjects([octagon([float(x), float(y), float(w), float(h)])], height,
                                                width)[0])
    masks.append(mask_utils.encode(np.zeros((height, width), dtype=np.uint8, order="F")))
    masks.append(mask_utils.encode(np.ones((height, width), dtype=np.uint8, order="F")))
    return [{"size": m["size"], "counts": m["counts"].decode() if i % 2 else m["counts"]}
            for i, m in enumerate(masks)]


def test_rle_iou_is_pycocotools_bit_for_bit_crowds_included() -> None:
    rng = np.random.default_rng(4)
    dets, gts = random_masks(rng, 40, 37, 53), random_masks(rng, 12, 37, 53)
    crowd = [k % 4 == 1 for k in range(len(gts))]
    expected = np.asarray(mask_utils.iou(dets, gts, crowd))
    ours = rle_iou(dets, gts, crowd)
    assert ours.shape == (len(dets), len(gts))
    assert np.array_equal(ours, expected)
    assert np.array_equal(ours, coco_iou(dets, gts, crowd, "segm"))
    assert 0.2 < (expected > 0).mean() < 1  # overlapping and apart pairs
    assert len({float(v) for v in expected[expected > 0]}) > 50  # not a few easy values


def test_touching_masks_have_iou_zero_and_empty_sides_give_an_empty_matrix() -> None:
    left = np.zeros((10, 10), dtype=np.uint8, order="F")
    left[:, :5] = 1
    right = np.asfortranarray(1 - left)
    a, b = mask_utils.encode(left), mask_utils.encode(right)
    assert rle_iou([a], [b], [0]).tolist() == [[0.0]]
    assert rle_iou([a], [a, b], [1, 0]).tolist() == [[1.0, 0.0]]
    assert rle_iou([], [a], [0]).shape == (0, 1)
    assert rle_iou([a], [], []).shape == (1, 0)
