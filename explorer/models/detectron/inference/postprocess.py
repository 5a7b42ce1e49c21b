"""Detectron's test-time post-processing (core/test.py, utils/boxes.py, utils/keypoints.py) in torch.

* `box_results`: per class, scores > threshold, NMS, optional box voting, then the image-wide limit (every
  detection scoring at least the limit-th best score survives, as in box_results_with_nms_and_limit);
* `paste_masks`: segm_results: a 1-pixel zero border around each M x M soft mask, the box expanded by
  (M + 2) / M and truncated to integers, bilinear resize to that box, threshold 0.5, clipped paste;
* `heatmaps_to_keypoints`: each heatmap resized bicubically to the box size (rounded up), argmax, and the
  "+0.5" pixel-centre offset scaled back to the box.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from explorer.models.detectron import boxes as box_ops


@dataclass(frozen=True)
class BoxResults:
    """Detections after NMS: inclusive-pixel boxes, scores, contiguous classes (1..C-1), in Detectron's order."""

    boxes: torch.Tensor
    scores: torch.Tensor
    classes: torch.Tensor

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def box_results(scores: torch.Tensor, boxes: torch.Tensor, *, score_thresh: float, nms_thresh: float,
                detections_per_im: int, vote_thresh: float | None = None) -> BoxResults:
    """`scores` (R, C), `boxes` (R, 4C) -> thresholded, NMS'd, limited detections (class-major order)."""
    num_classes = scores.shape[1]
    rows, cols = torch.nonzero(scores[:, 1:] > score_thresh, as_tuple=True)
    cols = cols + 1
    cand_boxes = boxes.view(boxes.shape[0], num_classes, 4)[rows, cols].float()
    cand_scores = scores[rows, cols].float()
    keep = box_ops.batched_nms(cand_boxes, cand_scores, cols, nms_thresh)
    kept_boxes, kept_scores, kept_classes = cand_boxes[keep], cand_scores[keep], cols[keep]
    if vote_thresh is not None:
        kept_boxes = _vote(kept_boxes, kept_classes, cand_boxes, cand_scores, cols, vote_thresh)
    order = _class_major(kept_classes, kept_scores)
    kept_boxes, kept_scores, kept_classes = kept_boxes[order], kept_scores[order], kept_classes[order]
    if detections_per_im > 0 and kept_scores.numel() > detections_per_im:
        limit = torch.sort(kept_scores, descending=True).values[detections_per_im - 1]
        mask = kept_scores >= limit
        kept_boxes, kept_scores, kept_classes = kept_boxes[mask], kept_scores[mask], kept_classes[mask]
    return BoxResults(kept_boxes, kept_scores, kept_classes)


def _class_major(classes: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Order by class, then by descending score within a class (Detectron stacks classes 1..C-1)."""
    by_score = torch.argsort(scores, descending=True, stable=True)
    return by_score[torch.argsort(classes[by_score], stable=True)]


def _vote(top_boxes: torch.Tensor, top_classes: torch.Tensor, all_boxes: torch.Tensor, all_scores: torch.Tensor,
          all_classes: torch.Tensor, threshold: float) -> torch.Tensor:
    """Box voting (box_voting, scoring 'ID'): each kept box becomes the score-weighted mean of the boxes of
    its class overlapping it by at least `threshold` (itself included); scores are unchanged."""
    out = top_boxes.clone()
    for cls in torch.unique(top_classes).tolist():
        top = torch.nonzero(top_classes == cls).squeeze(1)
        members = torch.nonzero(all_classes == cls).squeeze(1)
        ious = box_ops.overlaps(top_boxes[top], all_boxes[members])
        weights = (ious >= threshold).double() * all_scores[members].double()[None, :]
        voted = (weights @ all_boxes[members].double()) / weights.sum(dim=1, keepdim=True)
        out[top] = voted.to(out.dtype)
    return out


def paste_masks(masks: torch.Tensor, boxes: torch.Tensor, height: int, width: int,
                threshold: float = 0.5) -> torch.Tensor:
    """(N, M, M) soft masks of (N, 4) inclusive boxes -> (N, height, width) bool masks (segm_results)."""
    count, size = masks.shape[0], masks.shape[-1]
    out = torch.zeros((count, height, width), dtype=torch.bool, device=masks.device)
    if count == 0:
        return out
    padded = F.pad(masks.float(), (1, 1, 1, 1))
    ref = box_ops.expand(boxes, (size + 2.0) / size).trunc().to(torch.int64).tolist()
    for i, (x1, y1, x2, y2) in enumerate(ref):
        box_w, box_h = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)
        resized = F.interpolate(padded[i][None, None], size=(box_h, box_w), mode="bilinear", align_corners=False)
        binary = resized[0, 0] > threshold
        x_0, x_1 = max(x1, 0), min(x2 + 1, width)
        y_0, y_1 = max(y1, 0), min(y2 + 1, height)
        if x_1 > x_0 and y_1 > y_0:
            out[i, y_0:y_1, x_0:x_1] = binary[y_0 - y1:y_1 - y1, x_0 - x1:x_1 - x1]
    return out


def heatmaps_to_keypoints(heatmaps: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K, S, S) heatmap logits of (N, 4) boxes -> keypoints (N, K, 2) in image pixels and their logits.

    Box sizes and the size corrections are float32, as `heatmaps_to_keypoints` computes them from the float32
    detections; only `(x_int + 0.5) * correction + x1` is float64 (numpy promotes the integer position).
    """
    count, num_keypoints = heatmaps.shape[:2]
    xy = heatmaps.new_zeros((count, num_keypoints, 2), dtype=torch.float32)
    logits = heatmaps.new_zeros((count, num_keypoints), dtype=torch.float32)
    boxes = boxes.float()
    widths = (boxes[:, 2] - boxes[:, 0]).clamp(min=1)
    heights = (boxes[:, 3] - boxes[:, 1]).clamp(min=1)
    widths_ceil, heights_ceil = torch.ceil(widths), torch.ceil(heights)
    width_corrections = (widths / widths_ceil).double()
    height_corrections = (heights / heights_ceil).double()
    for i in range(count):
        map_w, map_h = int(widths_ceil[i]), int(heights_ceil[i])
        roi_map = F.interpolate(heatmaps[i][None].float(), size=(map_h, map_w), mode="bicubic",
                                align_corners=False)[0]
        flat = roi_map.reshape(num_keypoints, -1)
        best, position = flat.max(dim=1)
        x_int = (position % map_w).double()
        y_int = torch.div(position, map_w, rounding_mode="floor").double()
        xy[i, :, 0] = ((x_int + 0.5) * width_corrections[i] + boxes[i, 0].double()).float()
        xy[i, :, 1] = ((y_int + 0.5) * height_corrections[i] + boxes[i, 1].double()).float()
        logits[i] = best
    return xy, logits
