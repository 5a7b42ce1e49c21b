"""Detectron's box arithmetic in torch, with its "+1" pixel convention (utils/boxes.py).

Detectron treats a box (x1, y1, x2, y2) as the inclusive pixel range x1..x2, so a width is x2 - x1 + 1, and it
decodes boxes, measures areas and computes overlaps that way. The trained regressors expect this, so decoding
follows it exactly; for NMS and overlaps, torchvision's kernels (exclusive widths) get the same numbers when
x2 and y2 are shifted by one pixel first.

Both the network (the RPN and RetinaNet decode their anchors, the heads pool boxes) and the test-time steps
(postprocessing, test-time augmentation) compute with boxes, so this module belongs to neither subpackage.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torchvision.ops import box_iou
from torchvision.ops import nms as tv_nms

BBOX_XFORM_CLIP = math.log(1000.0 / 16.0)  # cfg.BBOX_XFORM_CLIP: caps exp() of the size deltas


def decode(boxes: torch.Tensor, deltas: torch.Tensor, weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0),
           ) -> torch.Tensor:
    """Apply (R, 4K) deltas to (R, 4) boxes (`bbox_transform`): centre shift by width, log-space size."""
    if boxes.shape[0] == 0:
        return deltas.new_zeros((0, deltas.shape[1]))
    boxes = boxes.to(deltas.dtype)
    widths = boxes[:, 2] - boxes[:, 0] + 1.0
    heights = boxes[:, 3] - boxes[:, 1] + 1.0
    ctr_x = boxes[:, 0] + 0.5 * widths
    ctr_y = boxes[:, 1] + 0.5 * heights
    wx, wy, ww, wh = weights
    dx = deltas[:, 0::4] / wx
    dy = deltas[:, 1::4] / wy
    dw = (deltas[:, 2::4] / ww).clamp(max=BBOX_XFORM_CLIP)
    dh = (deltas[:, 3::4] / wh).clamp(max=BBOX_XFORM_CLIP)
    pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
    pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
    pred_w = torch.exp(dw) * widths[:, None]
    pred_h = torch.exp(dh) * heights[:, None]
    out = torch.empty_like(deltas)
    out[:, 0::4] = pred_ctr_x - 0.5 * pred_w
    out[:, 1::4] = pred_ctr_y - 0.5 * pred_h
    out[:, 2::4] = pred_ctr_x + 0.5 * pred_w - 1  # inclusive right edge
    out[:, 3::4] = pred_ctr_y + 0.5 * pred_h - 1
    return out


def clip_tiled(boxes: torch.Tensor, height: float, width: float) -> torch.Tensor:
    """Clip (R, 4K) boxes to the pixel range [0, width - 1] x [0, height - 1] (`clip_tiled_boxes`)."""
    out = boxes.clone()
    out[:, 0::4] = boxes[:, 0::4].clamp(max=width - 1).clamp(min=0)
    out[:, 1::4] = boxes[:, 1::4].clamp(max=height - 1).clamp(min=0)
    out[:, 2::4] = boxes[:, 2::4].clamp(max=width - 1).clamp(min=0)
    out[:, 3::4] = boxes[:, 3::4].clamp(max=height - 1).clamp(min=0)
    return out


def exclusive(boxes: torch.Tensor) -> torch.Tensor:
    """Inclusive Detectron boxes as exclusive ones (x2 + 1, y2 + 1): same areas under torchvision's formulas."""
    return boxes + boxes.new_tensor([0.0, 0.0, 1.0, 1.0])


def suppression_threshold(threshold: float) -> float:
    """The threshold that makes torchvision's `IoU > t` Detectron's `IoU >= float32(t)`.

    Detectron's cython `nms` takes the threshold as float32 and suppresses on `>=`; torchvision suppresses on
    `>`. The largest float32 below float32(t) gives the same decisions on float32 IoUs, on the CPU (compared in
    double) and on CUDA (in float), so an IoU of exactly 0.5 is suppressed at NMS 0.5 as in Detectron.
    """
    return float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Greedy NMS with Detectron's overlaps and `>=` rule; indices of kept boxes, highest score first."""
    return tv_nms(exclusive(boxes.float()), scores.float(), suppression_threshold(threshold))


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, threshold: float) -> torch.Tensor:
    """NMS within each group (class), class by class as Detectron runs it; kept indices, highest score first.

    torchvision's `batched_nms` shifts each class's boxes by class * (largest coordinate + 1) when there are
    few boxes (always, in practice, on CUDA); at class 80 that is about 1e5, where float32 keeps only 1/128 of
    a pixel, which changes overlaps near the threshold. One NMS per class keeps the coordinates as they are.
    """
    if boxes.shape[0] == 0:
        return torch.zeros((0,), dtype=torch.int64, device=boxes.device)
    by_group = torch.argsort(groups, stable=True)
    sorted_boxes = exclusive(boxes[by_group].float())
    sorted_scores = scores[by_group].float()
    counts = torch.unique_consecutive(groups[by_group], return_counts=True)[1].tolist()
    threshold = suppression_threshold(threshold)
    kept, start = [], 0
    for count in counts:
        end = start + count
        if count == 1:
            kept.append(by_group[start:end])
        else:
            kept.append(by_group[start:end][tv_nms(sorted_boxes[start:end], sorted_scores[start:end], threshold)])
        start = end
    keep = torch.cat(kept)
    return keep[torch.argsort(scores[keep], descending=True, stable=True)]


def overlaps(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(A, B) IoU with inclusive widths (`bbox_overlaps`)."""
    return box_iou(exclusive(a.float()), exclusive(b.float()))


def areas(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)


def map_to_levels(rois: torch.Tensor, min_level: int, max_level: int, canonical_scale: float,
                  canonical_level: int) -> torch.Tensor:
    """FPN level per RoI: floor(k0 + log2(sqrt(area) / s0 + 1e-6)), clipped (`map_rois_to_fpn_levels`)."""
    scale = torch.sqrt(areas(rois).clamp(min=0))
    levels = torch.floor(canonical_level + torch.log2(scale / canonical_scale + 1e-6))
    return levels.clamp(min_level, max_level).to(torch.int64)


def expand(boxes: torch.Tensor, scale: float) -> torch.Tensor:
    """Scale boxes about their centres (`expand_boxes`) in float32, returned as float64.

    Detectron's detections are float32 (`box_results_with_nms_and_limit` stacks them so), its `expand_boxes`
    computes half sizes and centres in their dtype and only stores the result in a float64 array. Working in
    float64 instead moves a coordinate that float32 rounds onto an integer (427.0 vs 426.99999) to the other
    side of the truncation that follows in `segm_results`, and so the pasted mask by a pixel.
    """
    boxes = boxes.float()
    half_w = (boxes[:, 2] - boxes[:, 0]) * 0.5 * scale
    half_h = (boxes[:, 3] - boxes[:, 1]) * 0.5 * scale
    x_c = (boxes[:, 2] + boxes[:, 0]) * 0.5
    y_c = (boxes[:, 3] + boxes[:, 1]) * 0.5
    return torch.stack((x_c - half_w, y_c - half_h, x_c + half_w, y_c + half_h), dim=1).double()


def flip(boxes: torch.Tensor, width: int) -> torch.Tensor:
    """Mirror (R, 4K) boxes in an image `width` pixels wide (`flip_boxes`)."""
    out = boxes.clone()
    out[:, 0::4] = width - boxes[:, 2::4] - 1
    out[:, 2::4] = width - boxes[:, 0::4] - 1
    return out
