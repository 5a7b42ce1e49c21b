"""Regression tests for the test-time rules of Detectron's first public commit (2f8161e, January 2018), the
code closest to the December 2017 runs behind the 12_2017 baselines.

Each test pins one rule where later Detectron, torchvision or a float64 shortcut would give a different
answer than that code; each (but the class-by-class NMS equivalence check) failed on the code before its
fix. Where a test needs Detectron's exact float32 arithmetic it spells the 2017 formula out in numpy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from explorer.engine.runners import RANDOM_WEIGHTS, load_runner
from explorer.models.catalog import ModelSpec, spec_for_uid
from explorer.models.detectron import boxes as box_ops
from explorer.models.detectron.arch import DetectronArch
from explorer.models.detectron.config import detectron_config
from explorer.models.detectron.inference import pipeline
from explorer.models.detectron.inference.postprocess import heatmaps_to_keypoints, paste_masks
from explorer.models.detectron.inference.preprocess import make_blob, to_tensor
from explorer.models.detectron.network import rpn
from explorer.models.detectron.network.anchors import retinanet_cell_anchors
from explorer.models.detectron.network.retinanet import RetinaNetDecoder
from explorer.models.detectron.network.rpn import ImageInfo, proposals_one_level
from explorer.zoo.table import load_zoo
from tests.model_factory import random_image

FASTER_FPN, MASK_FPN = "detectron:35857345", "detectron:35858933"


@pytest.fixture(scope="module")
def specs() -> dict[str, ModelSpec]:
    table = load_zoo(["detectron"])
    return {uid: spec_for_uid(table, uid) for uid in table["uid"]}


def _small(spec: ModelSpec) -> ModelSpec:
    config = detectron_config(spec)
    config = dataclasses.replace(config, arch=dataclasses.replace(config.arch, rpn_pre_nms_top_n=200,
                                                                  rpn_post_nms_top_n=50))
    return dataclasses.replace(spec, family_config=config).with_sizes(96, 128).with_test(
        detections_per_image=8, score_thresh=0.0)


# ---------------------------------------------------------------------------------------------- RPN min size

def test_sub_pixel_proposal_survives_the_min_size_filter() -> None:
    """TEST.RPN_MIN_SIZE = 0 and `x2 - x1 + 1 >= 0`: a box 0.2 pixels wide (x2 < x1) is kept."""
    anchors = torch.tensor([[10.0, 10.0, 10.6, 10.6], [20.0, 20.0, 40.0, 40.0]])
    deltas = torch.zeros(4, 1, 2)  # one anchor per location, two locations
    deltas[2:, 0, 0] = -np.log(3.0)  # the first box shrinks to a third of its 1.6-pixel inclusive width
    probs = torch.tensor([0.9, 0.8]).view(1, 1, 2)
    boxes, scores = proposals_one_level(probs, deltas, anchors, ImageInfo(64, 64, 2.0), 0, 0, 0.7)
    widths = boxes[:, 2] - boxes[:, 0]
    assert boxes.shape[0] == 2 and -1.0 < float(widths[0]) < 0.0 and float(scores[0]) == pytest.approx(0.9)


def test_sub_pixel_proposals_reach_the_box_head(specs: dict[str, ModelSpec]) -> None:
    """An RPN whose every proposal is narrower than a pixel still feeds them all to the box head."""
    torch.manual_seed(0)
    runner = load_runner(_small(specs[FASTER_FPN]), "cpu", RANDOM_WEIGHTS)
    pipe = runner.pipeline
    with torch.no_grad():
        bbox_pred = pipe.model.rpn.bbox_pred
        bbox_pred.weight.zero_()
        bias = torch.zeros(bbox_pred.bias.shape[0] // 4, 4)
        bias[:, 2:] = -8.0  # every box shrinks by e^8: at most 0.02 pixels wide
        bbox_pred.bias.copy_(bias.reshape(-1))
    seen: list[torch.Tensor] = []
    pipe.model.box_head.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    bgr = to_tensor(random_image(), "cpu")
    with torch.inference_mode():
        blob = pipe.blob(bgr, pipe.config.scale, pipe.config.max_size)
        rois, _ = pipe.rpn_rois(blob, pipe.body(blob))
        stage = pipe.detect_bbox(bgr, pipe.config.scale, pipe.config.max_size)
    assert rois.shape[0] == 50 and bool(((rois[:, 2] - rois[:, 0]) < 0).all())
    assert len(seen) == 1 and seen[0].shape[0] == 50 and stage.scores.shape[0] == 50


def test_a_positive_min_size_is_measured_in_input_pixels_with_the_plus_one() -> None:
    """min_size * im_scale against `x2 - x1 + 1` in input pixels, as 2f8161e's `_filter_boxes` does."""
    boxes = torch.tensor([[0.0, 0.0, 2.9, 2.9], [0.0, 0.0, 3.1, 3.1]])
    keep = rpn._filter(boxes, 2.0, ImageInfo(64, 64, 2.0))  # threshold 4 input pixels: widths 3.9 and 4.1
    assert keep.tolist() == [1]


# ---------------------------------------------------------------------------------------------- mask pasting

BOUNDARY_BOX = [39.51890182495117, 13.507925033569336, 413.6385803222656, 163.48956298828125]


def _detectron_expand_int(boxes: np.ndarray, scale: float) -> np.ndarray:
    """2f8161e `expand_boxes` on float32 detections, then `segm_results`' `astype(np.int32)`."""
    boxes = boxes.astype(np.float32)
    w_half = (boxes[:, 2] - boxes[:, 0]) * np.float32(0.5)
    h_half = (boxes[:, 3] - boxes[:, 1]) * np.float32(0.5)
    x_c = (boxes[:, 2] + boxes[:, 0]) * np.float32(0.5)
    y_c = (boxes[:, 3] + boxes[:, 1]) * np.float32(0.5)
    w_half *= np.float32(scale)
    h_half *= np.float32(scale)
    out = np.zeros(boxes.shape)
    out[:, 0], out[:, 2] = x_c - w_half, x_c + w_half
    out[:, 1], out[:, 3] = y_c - h_half, y_c + h_half
    return out.astype(np.int32)


def test_mask_box_expansion_is_float32_where_truncation_sits_on_a_boundary() -> None:
    """x2 expands to 427.0 in float32 but 426.99999741 in float64: Detectron's box ends at pixel 427."""
    scale = 30.0 / 28.0
    boxes = np.vstack([BOUNDARY_BOX, np.random.default_rng(0).uniform(0, 600, (200, 4))]).astype(np.float32)
    boxes[:, 2:] = boxes[:, :2] + np.abs(boxes[:, 2:] - boxes[:, :2])
    ours = box_ops.expand(torch.from_numpy(boxes), scale).trunc().to(torch.int64).numpy()
    assert ours[0, 0] == 26 and ours[0, 2] == 427
    assert np.array_equal(ours, _detectron_expand_int(boxes, scale))


def test_pasted_mask_follows_the_float32_reference_box() -> None:
    """The full mask of the boundary box fills Detectron's 402-pixel reference box, the last column included."""
    masks = torch.ones(1, 28, 28)
    pasted = paste_masks(masks, torch.tensor([BOUNDARY_BOX]), 200, 500)[0]
    columns = torch.nonzero(pasted.any(dim=0)).squeeze(1)
    padded = F.pad(masks, (1, 1, 1, 1))[None]
    x1, y1, x2, y2 = _detectron_expand_int(np.array([BOUNDARY_BOX]), 30.0 / 28.0)[0].tolist()
    resized = F.interpolate(padded, size=(y2 - y1 + 1, x2 - x1 + 1), mode="bilinear", align_corners=False)[0, 0]
    inside = torch.nonzero((resized > 0.5).any(dim=0)).squeeze(1) + x1
    assert columns.tolist() == inside.tolist()


# ---------------------------------------------------------------------------------------------- NMS

def test_nms_suppresses_an_overlap_of_exactly_the_threshold() -> None:
    """cython_nms: `ovr >= float32(thresh)`. Inclusive boxes of 100 and 50 pixels sharing 50: IoU 0.5 exactly."""
    boxes = torch.tensor([[0.0, 0.0, 9.0, 9.0], [0.0, 0.0, 9.0, 4.0]])
    scores = torch.tensor([0.9, 0.8])
    assert float(box_ops.overlaps(boxes[:1], boxes[1:])) == 0.5
    assert box_ops.nms(boxes, scores, 0.5).tolist() == [0]
    assert box_ops.batched_nms(boxes, scores, torch.tensor([3, 3]), 0.5).tolist() == [0]
    assert box_ops.nms(boxes, scores, 0.5000001).tolist() == [0, 1]


def test_per_class_nms_does_not_shift_boxes_by_the_class_index() -> None:
    """Two class-80 boxes overlapping by IoU 0.50001 (suppressed at 0.5) stay exactly as they are: no
    class-offset trick that rounds coordinates near 1e5 to 1/128 pixel and lets the second one through."""
    exclusive = torch.tensor([[294.0560607910156, 537.8668212890625, 394.0560607910156, 637.8668212890625],
                              [327.38848876953125, 537.8668212890625, 427.38848876953125, 637.8668212890625],
                              [0.0, 0.0, 1333.0, 10.0]])
    boxes = exclusive - torch.tensor([0.0, 0.0, 1.0, 1.0])
    scores = torch.tensor([0.9, 0.8, 0.7])
    classes = torch.tensor([80, 80, 1])
    alone = box_ops.nms(boxes[:2], scores[:2], 0.5)
    assert alone.tolist() == [0]
    assert box_ops.batched_nms(boxes, scores, classes, 0.5).tolist() == [0, 2]


def test_per_class_nms_equals_nms_class_by_class() -> None:
    generator = torch.Generator().manual_seed(0)
    corners = torch.rand(300, 2, generator=generator) * 1200
    boxes = torch.cat((corners, corners + torch.rand(300, 2, generator=generator) * 200 + 1), dim=1)
    scores = torch.rand(300, generator=generator)
    classes = torch.randint(1, 81, (300,), generator=generator)
    expected = []
    for cls in range(1, 81):
        members = torch.nonzero(classes == cls).squeeze(1)
        expected += members[box_ops.nms(boxes[members], scores[members], 0.5)].tolist()
    keep = box_ops.batched_nms(boxes, scores, classes, 0.5)
    assert sorted(keep.tolist()) == sorted(expected) and bool((scores[keep].diff() <= 0).all())


# ---------------------------------------------------------------------------------------------- RPN-only models

RPN_FPN = "detectron:35998814"


def test_rpn_only_proposals_are_clipped_to_the_image_not_to_the_padding(specs: dict[str, ModelSpec]) -> None:
    """rpn_generator's im_info is the resized image (120 px wide here), not the blob padded to 128."""
    torch.manual_seed(0)
    runner = load_runner(_small(specs[RPN_FPN]), "cpu", RANDOM_WEIGHTS)
    pipe = runner.pipeline
    bgr = to_tensor(random_image(72, 90), "cpu")
    blob = pipe.blob(bgr, pipe.config.scale, pipe.config.max_size)
    assert (blob.resized_width, blob.info.width) == (120, 128)
    with torch.inference_mode():
        boxes, _ = runner.raw_proposals(bgr)
    right = (boxes[:, 2] * blob.scale).max().item()
    assert right == pytest.approx(119.0, abs=1e-3)


# ---------------------------------------------------------------------------------------------- float32 arithmetic

def _detectron_bbox_transform(boxes: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """2f8161e `bbox_transform` with unit weights, in the deltas' float32 as numpy evaluates it."""
    boxes = boxes.astype(np.float32)
    widths = boxes[:, 2] - boxes[:, 0] + np.float32(1.0)
    heights = boxes[:, 3] - boxes[:, 1] + np.float32(1.0)
    ctr_x = boxes[:, 0] + np.float32(0.5) * widths
    ctr_y = boxes[:, 1] + np.float32(0.5) * heights
    pred_ctr_x = deltas[:, 0] * widths + ctr_x
    pred_ctr_y = deltas[:, 1] * heights + ctr_y
    pred_w = np.exp(np.minimum(deltas[:, 2], np.float32(np.log(1000.0 / 16.0)))) * widths
    pred_h = np.exp(np.minimum(deltas[:, 3], np.float32(np.log(1000.0 / 16.0)))) * heights
    half = np.float32(0.5)
    return np.stack((pred_ctr_x - half * pred_w, pred_ctr_y - half * pred_h,
                     pred_ctr_x + half * pred_w - np.float32(1), pred_ctr_y + half * pred_h - np.float32(1)), axis=1)


def test_retinanet_anchors_are_shifted_in_float64_then_stored_float32() -> None:
    """test_retinanet.py: float32 (x, y) * stride += float64 cell anchors, rounded once. At level 3, anchor 3,
    x = 30 adding the float32-rounded cell instead moves the decoded box by a float32 step."""
    arch = DetectronArch(config="retinanet", kind="retinanet", num_classes=81, fpn=True, rpn_min_level=3,
                         rpn_max_level=7)
    decoder = RetinaNetDecoder(arch)
    stride, cell = retinanet_cell_anchors(arch, 3)
    anchors, classes, height, width = cell.shape[0], 80, 4, 32
    probs = torch.zeros(anchors, classes, height, width)
    probs[3, 0, 3, 30] = 0.9
    deltas = torch.zeros(anchors * 4, height, width)
    boxes, scores, labels = decoder.candidates(3, probs.reshape(-1, height, width), deltas, 1.0, 1000, 1000)
    shift = np.array([[30, 3, 30, 3]], dtype=np.float32) * np.float32(stride)
    anchor = (shift.astype(np.float64) + cell[3]).astype(np.float32)
    expected = np.clip(_detectron_bbox_transform(anchor, np.zeros((1, 4), np.float32)), 0, 999)
    assert labels.tolist() == [0] and float(scores[0]) == pytest.approx(0.9)
    assert np.array_equal(boxes.numpy(), expected)


def test_pixel_means_are_subtracted_in_float64_then_stored_float32() -> None:
    """prep_im_for_blob: `im = im.astype(np.float32); im -= PIXEL_MEANS` (a float64 array) rounds once."""
    means = (102.9801, 115.9465, 122.7717)
    values = np.arange(256, dtype=np.uint8)
    image = np.stack([np.tile(values, (2, 1))] * 3, axis=-1)  # (2, 256, 3) RGB, every grey level
    blob = make_blob(to_tensor(image, "cpu"), means, 2, 1000, 0)
    bgr = image[..., ::-1].astype(np.float32)
    expected = (bgr.astype(np.float64) - np.array(means)).astype(np.float32).transpose(2, 0, 1)[None]
    assert blob.scale == 1.0 and np.array_equal(blob.data.numpy(), expected)


def test_mask_rois_are_projected_in_float64_then_stored_float32(specs: dict[str, ModelSpec],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """_get_rois_blob: float32 boxes `astype(np.float)` times the float64 scale, then float32."""
    runner = load_runner(_small(specs[MASK_FPN]), "cpu", RANDOM_WEIGHTS)
    pipe = runner.pipeline
    seen: list[torch.Tensor] = []
    real = pipeline.pool_rois

    def recording(arch, features, rois, resolution, sampling_ratio):
        seen.append(rois.clone())
        return real(arch, features, rois, resolution, sampling_ratio)

    monkeypatch.setattr(pipeline, "pool_rois", recording)
    bgr = to_tensor(random_image(), "cpu")
    blob = pipe.blob(bgr, pipe.config.scale, pipe.config.max_size)
    boxes = torch.from_numpy(np.random.default_rng(1).uniform(0, 60, (50, 4)).astype(np.float32))
    boxes[:, 2:] = boxes[:, :2] + 10.123
    with torch.inference_mode():
        pipe.mask_probs(pipe.body(blob), blob.scale, boxes, torch.ones(50, dtype=torch.int64))
    expected = (boxes.numpy().astype(np.float64) * blob.scale).astype(np.float32)
    assert len(seen) == 1 and np.array_equal(seen[0].numpy(), expected)


def test_keypoint_box_sizes_and_corrections_are_float32() -> None:
    """heatmaps_to_keypoints: widths, ceil and width / ceil(width) in the detections' float32."""
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 500, (40, 2)).astype(np.float32)
    sizes = rng.uniform(1, 120, (40, 2)).astype(np.float32)
    boxes = np.concatenate((corners, corners + sizes), axis=1).astype(np.float32)
    heatmaps = torch.from_numpy(rng.normal(size=(40, 17, 8, 8)).astype(np.float32))
    xy, _ = heatmaps_to_keypoints(heatmaps, torch.from_numpy(boxes))
    widths = np.maximum(boxes[:, 2] - boxes[:, 0], np.float32(1))
    heights = np.maximum(boxes[:, 3] - boxes[:, 1], np.float32(1))
    for i in range(40):
        w, h = int(np.ceil(widths[i])), int(np.ceil(heights[i]))
        resized = F.interpolate(heatmaps[i][None], size=(h, w), mode="bicubic", align_corners=False)[0]
        position = resized.reshape(17, -1).argmax(dim=1).numpy()
        x_int, y_int = position % w, position // w
        x = ((x_int + 0.5) * (widths[i] / np.float32(w)) + boxes[i, 0]).astype(np.float32)
        y = ((y_int + 0.5) * (heights[i] / np.float32(h)) + boxes[i, 1]).astype(np.float32)
        assert np.array_equal(xy[i, :, 0].numpy(), x) and np.array_equal(xy[i, :, 1].numpy(), y)
