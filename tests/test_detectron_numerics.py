"""Small numbers worked out by hand for Detectron's building blocks: block strides, AffineChannel, the input blob,
box decoding and overlaps with the "+1" convention, anchors, FPN levels, mask pasting, keypoint decoding,
box voting and the detection limit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer.models.detectron import boxes as box_ops
from explorer.models.detectron.inference.postprocess import box_results, heatmaps_to_keypoints, paste_masks
from explorer.models.detectron.inference.preprocess import image_scale, make_blob, to_tensor
from explorer.models.detectron.network.anchors import cell_anchors
from explorer.models.detectron.network.layers import AffineChannel
from explorer.models.detectron.network.resnet import Bottleneck, block_stride

MEANS = (102.9801, 115.9465, 122.7717)


def _block(stride_1x1: bool) -> Bottleneck:
    """1 -> 2 channels, stride 2; 2a and 2c pass values through, 2b reads only its top-left tap, shortcut 0."""
    block = Bottleneck("t", 1, 2, 1, stride=2, stride_1x1=stride_1x1, groups=1, dilation=1)
    with torch.no_grad():
        for part in (block.branch2a, block.branch2b, block.branch2c, block.branch1):
            part.conv.weight.zero_()
        block.branch2a.conv.weight.fill_(1.0)
        block.branch2b.conv.weight[0, 0, 0, 0] = 1.0
        block.branch2c.conv.weight.fill_(1.0)
    return block.eval()


def test_stride_sits_on_the_1x1_for_msra_and_on_the_3x3_for_resnext() -> None:
    x = torch.arange(1.0, 17.0).view(1, 1, 4, 4)
    # stride on 1x1: 2a samples x[::2, ::2] = [[1, 3], [9, 11]]; the top-left tap shifts it by one: b[1,1] = 1
    assert _block(True)(x)[0, 0].tolist() == [[0.0, 0.0], [0.0, 1.0]]
    # stride on 3x3: the tap reads x[2i - 1, 2j - 1] of the full-resolution map: b[1,1] = x[1,1] = 6
    out = _block(False)(x)
    assert out[0, 0].tolist() == [[0.0, 0.0], [0.0, 6.0]] and torch.equal(out[0, 0], out[0, 1])


def test_only_the_first_block_of_a_stage_after_res2_strides() -> None:
    assert block_stride(64, 256, 1, 2) == 1  # res2 follows the max pool
    assert block_stride(256, 512, 1, 2) == 2  # res3_0
    assert block_stride(512, 512, 1, 2) == 1  # res3_1
    assert block_stride(1024, 2048, 2, 2) == 1  # dilated res5
    assert block_stride(1024, 2048, 1, 14 // 7) == 2  # C4 head on 14x14 RoIs


def test_affine_channel_is_scale_and_bias_per_channel() -> None:
    affine = AffineChannel("x_bn", 2)
    affine.scale.copy_(torch.tensor([2.0, -1.0]))
    affine.bias.copy_(torch.tensor([0.5, 1.0]))
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).expand(1, 2, 2, 2)
    out = affine(x)
    assert out[0, 0].tolist() == [[2.5, 4.5], [6.5, 8.5]]
    assert out[0, 1].tolist() == [[0.0, -1.0], [-2.0, -3.0]]


def test_blob_is_bgr_minus_pixel_means_resized_and_padded() -> None:
    image = np.zeros((100, 50, 3), np.uint8)
    image[...] = (10, 20, 30)  # RGB
    blob = make_blob(to_tensor(image, "cpu"), MEANS, 25, 1000, 32)
    assert blob.scale == 0.5 and (blob.info.height, blob.info.width) == (64, 32)
    assert tuple(blob.data.shape) == (1, 3, 64, 32)
    expected = [30 - MEANS[0], 20 - MEANS[1], 10 - MEANS[2]]  # B, G, R, no std
    inside = blob.data[0, :, :50, :25]
    for channel in range(3):
        assert torch.allclose(inside[channel], torch.tensor(expected[channel]), atol=1e-4)
    assert blob.data[0, :, 50:].abs().max() == 0 and blob.data[0, :, :, 25:].abs().max() == 0


def test_resize_matches_cv2_linear_with_half_pixel_centres() -> None:
    image = np.zeros((1, 2, 3), np.uint8)
    image[0, 1, 2] = 10  # blue channel of the right pixel
    blob = make_blob(to_tensor(image, "cpu"), (0.0, 0.0, 0.0), 2, 100, 0)
    # cv2: source x = (dx + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
    assert blob.data[0, 0, 0].tolist() == pytest.approx([0.0, 2.5, 7.5, 10.0])


def test_scale_respects_the_max_size() -> None:
    assert image_scale(480, 640, 800, 1333) == pytest.approx(800 / 480)
    assert image_scale(100, 400, 100, 200) == 0.5
    assert image_scale(600, 1000, 800, 1333) == pytest.approx(800 / 600)  # 1333.3 rounds to 1333: allowed
    assert image_scale(600, 1001, 800, 1333) == pytest.approx(1333 / 1001)  # 1334.7 rounds to 1335: capped


def test_decode_uses_inclusive_widths_and_clips_the_size_delta() -> None:
    box = torch.tensor([[0.0, 0.0, 9.0, 9.0]])  # 10 x 10 pixels, centre (5, 5)
    deltas = torch.tensor([[1.0, 0.0, 5 * math.log(2.0), 0.0]])  # dx = 0.1, width x2 after (10, 10, 5, 5)
    out = box_ops.decode(box, deltas, (10.0, 10.0, 5.0, 5.0))
    assert out[0].tolist() == pytest.approx([-4.0, 0.0, 15.0, 9.0])
    huge = box_ops.decode(box, torch.tensor([[0.0, 0.0, 100.0, 0.0]]))
    assert float(huge[0, 2] - huge[0, 0] + 1) == pytest.approx(10 * 1000 / 16)
    clipped = box_ops.clip_tiled(out, 20, 12)
    assert clipped[0].tolist() == pytest.approx([0.0, 0.0, 11.0, 9.0])


def test_nms_and_overlaps_count_inclusive_pixels() -> None:
    boxes = torch.tensor([[0.0, 0.0, 9.0, 9.0], [5.0, 0.0, 14.0, 9.0]])
    assert float(box_ops.overlaps(boxes[:1], boxes[1:])) == pytest.approx(50 / 150)  # 0.2857 without +1
    assert box_ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.3).tolist() == [0]
    assert box_ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.34).tolist() == [0, 1]


def test_rpn_anchors_are_detectrons() -> None:
    expected = [[-84, -40, 99, 55], [-176, -88, 191, 103], [-360, -184, 375, 199], [-56, -56, 71, 71],
                [-120, -120, 135, 135], [-248, -248, 263, 263], [-36, -80, 51, 95], [-80, -168, 95, 183],
                [-168, -344, 183, 359]]
    assert cell_anchors(16, (128, 256, 512), (0.5, 1, 2)).tolist() == expected


def test_fpn_levels_follow_the_canonical_scale() -> None:
    sizes = [10, 112, 224, 448, 1000]
    rois = torch.tensor([[0.0, 0.0, s - 1.0, s - 1.0] for s in sizes])
    assert box_ops.map_to_levels(rois, 2, 5, 224, 4).tolist() == [2, 3, 4, 5, 5]


def test_tiny_mask_is_pasted_like_detectron() -> None:
    # 2x2 box, M = 2: expanded by 4/2 to 9.5..11.5 -> ints 9..11 (3 px); the 4x4 zero-bordered mask resized to 3x3
    # is [[.03, .17, .03], [.17, 1, .17], [.03, .17, .03]] -> only the centre pixel passes 0.5
    out = paste_masks(torch.ones(1, 2, 2), torch.tensor([[10.0, 10.0, 11.0, 11.0]]), 20, 20)
    assert torch.nonzero(out[0]).tolist() == [[10, 10]]


def test_full_mask_covers_its_box() -> None:
    out = paste_masks(torch.ones(1, 28, 28), torch.tensor([[10.0, 20.0, 59.0, 39.0]]), 60, 80)[0]
    inside = out[20:40, 10:60]
    assert inside.float().mean() > 0.9 and out.sum() == inside.sum()
    # expanded to 8..60 (ints), the zero border lands the 0.5 edge half a pixel inside the box's far sides
    assert out[30, 10:59].all() and out[20:39, 35].all() and not out[30, 59] and not out[39, 35]


def test_keypoints_are_argmax_plus_half_pixel_scaled_to_the_box() -> None:
    heatmaps = torch.zeros(2, 17, 56, 56)
    heatmaps[:, :, 7, 5] = 10.0
    boxes = torch.tensor([[10.0, 20.0, 66.0, 76.0], [10.0, 20.0, 65.5, 75.5]])
    xy, logits = heatmaps_to_keypoints(heatmaps, boxes)
    assert xy[0, 0].tolist() == pytest.approx([15.5, 27.5])
    assert xy[1, 3].tolist() == pytest.approx([10 + 5.5 * 55.5 / 56, 20 + 7.5 * 55.5 / 56])
    assert logits[0].tolist() == pytest.approx([10.0] * 17)


def test_box_results_threshold_nms_per_class_and_limit() -> None:
    scores = torch.tensor([[0.1, 0.9, 0.04], [0.1, 0.8, 0.6], [0.3, 0.06, 0.6]])
    boxes = torch.tensor([[0.0, 0.0, 9.0, 9.0] * 3, [0.0, 0.0, 9.0, 9.0] * 3, [50.0, 50.0, 59.0, 59.0] * 3])
    out = box_results(scores, boxes, score_thresh=0.05, nms_thresh=0.5, detections_per_im=100)
    # class 1: rows 0 and 1 overlap (row 1 suppressed), row 2 (0.06) elsewhere; class 2: rows 1 and 2
    assert out.classes.tolist() == [1, 1, 2, 2]
    assert out.scores.tolist() == pytest.approx([0.9, 0.06, 0.6, 0.6])
    limited = box_results(scores, boxes, score_thresh=0.05, nms_thresh=0.5, detections_per_im=2)
    assert limited.scores.tolist() == pytest.approx([0.9, 0.6, 0.6])  # ties at the limit all stay


def test_box_voting_averages_overlapping_boxes_by_score() -> None:
    scores = torch.tensor([[0.1, 0.9], [0.7, 0.3]])
    boxes = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 9.0, 9.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 10.0, 9.0]])
    out = box_results(scores, boxes, score_thresh=0.05, nms_thresh=0.5, detections_per_im=100, vote_thresh=0.8)
    # IoU 90 / 110 = 0.82 >= 0.8: x1 = (0 * 0.9 + 1 * 0.3) / 1.2
    assert out.boxes.tolist() == [pytest.approx([0.25, 0.0, 9.25, 9.0])]
    assert out.scores.tolist() == pytest.approx([0.9])
