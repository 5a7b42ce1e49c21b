"""Known answers for each test-time rule where Detectron2 differs from Detectron (the 2017 port), worked out by
hand from Detectron2's code; each test says which rule, and what Detectron would give instead."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer.models.detectron.inference.preprocess import image_scale
from explorer.models.detectron2 import boxes as box_ops
from explorer.models.detectron2.inference.postprocess import (
    Instances,
    box_detections,
    heatmaps_to_keypoints,
    paste_masks,
    rescale,
)
from explorer.models.detectron2.inference.preprocess import output_size, padded_size
from explorer.models.detectron2.netconfig import RegNetParams
from explorer.models.detectron2.network.regnet import regnet_stages
from explorer.models.detectron2.network.roi_heads import ROIPooler, assign_levels
from explorer.models.detectron2.network.rpn import cell_anchors, find_top_proposals, grid_anchors


def test_resize_rounds_half_up_where_detectron_rounds_half_to_even() -> None:
    # 320 x 333 to a short side of 800: scale 2.5, long side 832.5 -> int(832.5 + 0.5) = 833
    assert output_size(320, 333, 800, 1333) == (800, 833)
    assert round(333 * image_scale(320, 333, 800, 1333)) == 832  # Detectron: np.round / Python round -> 832
    assert output_size(427, 640, 800, 1333) == (800, 1199)
    # the max-size rule scales the already-scaled sizes: 100 x 1000 -> 800 x 8000 -> x 1333/8000
    assert output_size(100, 1000, 800, 1333) == (133, 1333)


def test_padding_goes_to_the_size_divisibility_or_a_square() -> None:
    assert padded_size(800, 1199, 32, 0) == (800, 1216)
    assert padded_size(800, 1199, 0, 0) == (800, 1199)  # C4 and DC5 backbones do not pad
    assert padded_size(600, 1000, 32, 1024) == (1024, 1024)


def test_anchors_are_unrounded_and_centred_on_the_grid_points() -> None:
    cell = cell_anchors((32.0,), (0.5, 1.0, 2.0))
    w = math.sqrt(32.0**2 / 0.5)
    np.testing.assert_allclose(cell[0].numpy(), [-w / 2, -w * 0.5 / 2, w / 2, w * 0.5 / 2], rtol=1e-6)
    np.testing.assert_allclose(cell[1].numpy(), [-16, -16, 16, 16])
    anchors = grid_anchors(cell, 4, 2, 3, offset=0.0)
    assert anchors.shape == (2 * 3 * 3, 4)
    np.testing.assert_allclose(anchors[3 * 1 + 1].numpy(), [4 - 16, -16, 4 + 16, 16])  # (y 0, x 1), ratio 1
    np.testing.assert_allclose(anchors[3 * 3 + 1].numpy(), [-16, 4 - 16, 16, 4 + 16])  # (y 1, x 0)
    # Detectron: window (0, 0, 3, 3) scaled about (1.5, 1.5) with inclusive widths -> (-14.5, -14.5, 17.5, 17.5)


def test_box_decoding_has_no_plus_one_and_clamps_sizes_at_log_1000_over_16() -> None:
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    plain = box_ops.decode(torch.tensor([[0.1, 0.0, 0.0, 0.0]]), boxes, (1.0, 1.0, 1.0, 1.0))
    np.testing.assert_allclose(plain.numpy(), [[1.0, 0.0, 11.0, 10.0]], atol=1e-6)
    huge = box_ops.decode(torch.tensor([[0.0, 0.0, 20.0, 20.0]]), boxes, (1.0, 1.0, 1.0, 1.0))
    half = 0.5 * 10 * 1000 / 16
    np.testing.assert_allclose(huge.numpy(), [[5 - half, 5 - half, 5 + half, 5 + half]], rtol=1e-5)
    weighted = box_ops.decode(torch.tensor([[10.0, 0.0, 0.0, 0.0]]), boxes, (10.0, 10.0, 5.0, 5.0))
    np.testing.assert_allclose(weighted.numpy(), [[10.0, 0.0, 20.0, 10.0]], atol=1e-6)


def test_clipping_is_to_the_image_size_not_size_minus_one() -> None:
    clipped = box_ops.clip(torch.tensor([[-5.0, -1.0, 120.0, 90.0]]), 60, 100)
    np.testing.assert_array_equal(clipped.numpy(), [[0.0, 0.0, 100.0, 60.0]])


def test_aligned_roi_align_samples_half_a_pixel_earlier() -> None:
    ramp = torch.arange(16, dtype=torch.float32).repeat(16, 1)[None, None]  # value = x
    box = torch.tensor([[0.0, 0.0, 4.0, 4.0]])
    aligned = ROIPooler((2,), (1,), 1, 1, aligned=True)({2: ramp}, box)
    legacy = ROIPooler((2,), (1,), 1, 1, aligned=False)({2: ramp}, box)
    assert float(aligned) == pytest.approx(1.5)  # box centre 2.0, shifted by -0.5 pixel
    assert float(legacy) == pytest.approx(2.0)  # Detectron's Caffe2 RoIAlign and the Detectron1-comparison rows


def test_fpn_levels_use_areas_without_plus_one() -> None:
    boxes = torch.tensor([[0.0, 0.0, 224.0, 224.0], [0.0, 0.0, 223.0, 224.0], [0.0, 0.0, 10.0, 10.0],
                          [0.0, 0.0, 900.0, 900.0]])
    # a 223 x 224 box is level 3 here; with Detectron's "+1" areas (224 x 225) it would be level 4
    assert assign_levels(boxes, 2, 5, 224, 4).tolist() == [4, 3, 2, 5]


def test_rpn_keeps_the_best_per_level_then_nms_over_levels_and_a_per_image_cap() -> None:
    anchors = [torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.2], [50.0, 50.0, 60.0, 60.0]]),
               torch.tensor([[0.0, 0.0, 10.0, 10.1], [70.0, 70.0, 70.0, 80.0]])]
    deltas = [torch.zeros(3, 4), torch.zeros(2, 4)]  # proposals = anchors
    logits = [torch.tensor([3.0, 2.0, 1.0]), torch.tensor([2.5, 5.0])]
    kept, scores = find_top_proposals(deltas, anchors, logits, (100, 100), 0.7, pre_nms_topk=2, post_nms_topk=3,
                                      min_box_size=0.0)
    # level 0 keeps its top 2 (the third is never seen); NMS runs within a level only, so the level-1 box
    # overlapping level 0's best survives; the empty (zero-width) box is dropped
    assert scores.tolist() == [3.0, 2.5]
    assert kept.shape == (2, 4)


def test_box_results_drop_background_last_column_and_cap_after_nms() -> None:
    proposals = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    logits = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])  # 2 classes + background (last)
    found = box_detections(logits, torch.zeros(2, 8), proposals, (50, 50), (10.0, 10.0, 5.0, 5.0), 0.05, 0.5, 1)
    assert len(found) == 1 and found.classes.tolist() == [0]
    np.testing.assert_allclose(found.boxes.numpy(), [[0.0, 0.0, 10.0, 10.0]])


def test_results_are_scaled_per_axis_to_the_original_size() -> None:
    found = Instances(torch.tensor([[10.0, 10.0, 20.0, 40.0], [5.0, 5.0, 5.0, 9.0]]), torch.tensor([0.9, 0.8]),
                      torch.tensor([1, 2]), keypoints=torch.tensor([[[10.0, 20.0, 1.0, 0.5]]]).repeat(2, 1, 1))
    scaled = rescale(found, (50, 100), (25, 40))
    assert len(scaled) == 1  # the zero-width box is dropped, as detector_postprocess does
    np.testing.assert_allclose(scaled.boxes.numpy(), [[4.0, 5.0, 8.0, 20.0]])
    np.testing.assert_allclose(scaled.keypoints[0, 0, :2].numpy(), [4.0, 10.0])


def test_mask_paste_samples_pixel_centres_and_keeps_half() -> None:
    ones = torch.ones(1, 28, 28)
    whole = paste_masks(ones, torch.tensor([[2.0, 2.0, 6.0, 6.0]]), 10, 10)[0]
    expected = np.zeros((10, 10), bool)
    expected[2:6, 2:6] = True
    np.testing.assert_array_equal(whole.numpy(), expected)
    # half-pixel box edges: the border pixels sample exactly 0.5 and are kept (>= 0.5), the corners 0.25 are
    # not; Detectron's paste (integer-truncated expanded box, "> 0.5") keeps no border pixel
    half = paste_masks(ones, torch.tensor([[2.5, 2.5, 6.5, 6.5]]), 10, 10)[0]
    expected = np.zeros((10, 10), bool)
    expected[2:7, 2:7] = True
    expected[[2, 2, 6, 6], [2, 6, 2, 6]] = False
    np.testing.assert_array_equal(half.numpy(), expected)


def test_keypoints_decode_at_pixel_centres_with_a_normalised_score() -> None:
    maps = torch.full((1, 1, 4, 4), -10.0)
    maps[0, 0, 1, 2] = 10.0
    out = heatmaps_to_keypoints(maps, torch.tensor([[10.0, 20.0, 18.0, 28.0]]))  # an 8 x 8 box
    x, y, logit, score = out[0, 0].tolist()
    assert (x, y) == (10.0 + 4.5, 20.0 + 2.5)  # bicubic 4 -> 8 puts the peak at (4, 2); + 0.5 pixel centre
    assert logit > 0 and 0 < score <= 1


def test_regnet_stage_widths_are_detectron2s() -> None:
    x4 = RegNetParams(depth=23, w_a=38.65, w_0=96, w_m=2.43, group_width=40)
    y4 = RegNetParams(depth=22, w_a=31.41, w_0=96, w_m=2.24, group_width=64, se_ratio=0.25)
    assert regnet_stages(x4) == [(80, 2, 40), (240, 5, 40), (560, 14, 40), (1360, 2, 40)]
    assert regnet_stages(y4) == [(128, 2, 64), (192, 6, 64), (512, 12, 64), (1088, 2, 64)]
