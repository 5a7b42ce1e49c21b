"""Detectron2's box arithmetic (modeling/box_regression.py, structures/boxes.py) in torch.

Detectron2 treats boxes as continuous coordinates: a width is x2 - x1 (no "+1" as in Detectron), centres are
x1 + w/2, decoded boxes are centre -/+ w/2, clipping is to [0, width] and [0, height], and a box is "non-empty"
when its width and height exceed a threshold. NMS is torchvision's (suppression on IoU > threshold).
"""

from __future__ import annotations

import math

import torch

SCALE_CLAMP = math.log(1000.0 / 16)  # _DEFAULT_SCALE_CLAMP: caps exp() of the size deltas


def decode(deltas: torch.Tensor, boxes: torch.Tensor, weights: tuple[float, ...]) -> torch.Tensor:
    """Box2BoxTransform.apply_deltas: (R, 4K) deltas on (R, 4) boxes, computed in float32."""
    deltas = deltas.float()
    boxes = boxes.to(deltas.dtype)
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    ctr_x = boxes[:, 0] + 0.5 * widths
    ctr_y = boxes[:, 1] + 0.5 * heights
    wx, wy, ww, wh = weights
    dx = deltas[:, 0::4] / wx
    dy = deltas[:, 1::4] / wy
    dw = (deltas[:, 2::4] / ww).clamp(max=SCALE_CLAMP)
    dh = (deltas[:, 3::4] / wh).clamp(max=SCALE_CLAMP)
    pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
    pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
    pred_w = torch.exp(dw) * widths[:, None]
    pred_h = torch.exp(dh) * heights[:, None]
    out = torch.stack((pred_ctr_x - 0.5 * pred_w, pred_ctr_y - 0.5 * pred_h,
                       pred_ctr_x + 0.5 * pred_w, pred_ctr_y + 0.5 * pred_h), dim=-1)
    return out.reshape(deltas.shape)


def clip(boxes: torch.Tensor, height: float, width: float) -> torch.Tensor:
    """Boxes.clip: (R, 4) x into [0, width], y into [0, height]."""
    return torch.stack((boxes[:, 0].clamp(min=0, max=width), boxes[:, 1].clamp(min=0, max=height),
                        boxes[:, 2].clamp(min=0, max=width), boxes[:, 3].clamp(min=0, max=height)), dim=-1)


def nonempty(boxes: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """Boxes.nonempty: a bool mask of boxes wider and taller than `threshold`."""
    return ((boxes[:, 2] - boxes[:, 0]) > threshold) & ((boxes[:, 3] - boxes[:, 1]) > threshold)


def area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def scale(boxes: torch.Tensor, scale_x: float, scale_y: float) -> torch.Tensor:
    """Boxes.scale: x coordinates times scale_x, y times scale_y (float32, as Detectron2's in-place ops)."""
    out = boxes.clone()
    out[:, 0::2] *= scale_x
    out[:, 1::2] *= scale_y
    return out
