"""Regression tests for the test-time rules of Detectron's first public commit (2f8161e, December 2017).

Each test pins one rule where later Detectron, torchvision or a float64 shortcut would give a different
answer than the code the 12_2017 baselines were tested with; each was written to fail on the code before
the fix. Where a test needs Detectron's exact float32 arithmetic it spells the 2017 formula out in numpy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from explorer.engine import RANDOM_WEIGHTS, load_runner
from explorer.models.catalog import ModelSpec, spec_for
from explorer.models.detectron import boxes as box_ops
from explorer.models.detectron import rpn
from explorer.models.detectron.postprocess import paste_masks
from explorer.models.detectron.preprocess import to_tensor
from explorer.models.detectron.rpn import ImageInfo, proposals_one_level
from explorer.zoo.table import load_zoo
from tests.model_factory import random_image

FASTER_FPN = "detectron:35857345"


@pytest.fixture(scope="module")
def specs() -> dict[str, ModelSpec]:
    table = load_zoo(["detectron"])
    return {row["uid"]: spec_for(row) for row in table.to_dict("records")}


def _small(spec: ModelSpec) -> ModelSpec:
    arch = dataclasses.replace(spec.extra["arch"], rpn_pre_nms_top_n=200, rpn_post_nms_top_n=50)
    return dataclasses.replace(spec, extra=dict(spec.extra, arch=arch)).with_sizes(96, 128).with_test(
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
