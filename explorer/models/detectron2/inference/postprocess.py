"""Detectron2's test-time post-processing, each step as its code does it:

* `box_detections`: fast_rcnn_inference_single_image: softmax, background (the last column) dropped, boxes
  decoded with (10, 10, 5, 5) and clipped to the resized image, score > threshold, per-class batched NMS
  (torchvision: suppress IoU > threshold), the first `detections_per_image` by score;
* `rescale`: detector_postprocess: boxes scaled to the original size by output / resized per axis, clipped,
  empty ones dropped (with their masks and keypoints);
* `paste_masks`: paste_masks_in_image: each M x M probability map sampled with `grid_sample` at the pixel
  centres of its (float) box, kept where >= 0.5 (Detectron: the map padded by one pixel, the box expanded and
  truncated to integers, cv2 bilinear resize, > 0.5);
* `heatmaps_to_keypoints`: each heatmap resized bicubically to the ceiled box size, argmax, the pixel centre
  scaled back into the box, with the softmax-normalised score Detectron2 reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F
from torchvision.ops import batched_nms

from explorer.models.detectron2 import boxes as box_ops


@dataclass(frozen=True)
class Instances:
    """Detections of one image: boxes (N, 4), scores, 0-based classes; optional masks and keypoints."""

    boxes: torch.Tensor
    scores: torch.Tensor
    classes: torch.Tensor
    masks: torch.Tensor | None = None  # (N, M, M) probabilities, then (N, H, W) bool once pasted
    keypoints: torch.Tensor | None = None  # (N, K, 4): x, y, heatmap logit, score

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def select(self, index: torch.Tensor) -> Instances:
        return Instances(self.boxes[index], self.scores[index], self.classes[index],
                         None if self.masks is None else self.masks[index],
                         None if self.keypoints is None else self.keypoints[index])


def box_detections(logits: torch.Tensor, deltas: torch.Tensor, proposals: torch.Tensor,
                   image_size: tuple[int, int], weights: tuple[float, ...], score_thresh: float, nms_thresh: float,
                   detections_per_image: int) -> Instances:
    """FastRCNNOutputLayers.inference for one image (boxes in resized-image pixels)."""
    boxes = box_ops.decode(deltas, proposals, weights)
    scores = F.softmax(logits.float(), dim=-1)
    valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores).all(dim=1)
    if not bool(valid.all()):
        boxes, scores = boxes[valid], scores[valid]
    scores = scores[:, :-1]
    num_reg = boxes.shape[1] // 4
    boxes = box_ops.clip(boxes.reshape(-1, 4), *image_size).view(-1, num_reg, 4)
    keep_mask = scores > score_thresh
    where = keep_mask.nonzero()
    boxes = boxes[where[:, 0], 0] if num_reg == 1 else boxes[keep_mask]
    scores = scores[keep_mask]
    keep = batched_nms(boxes.float(), scores, where[:, 1], nms_thresh)
    if detections_per_image >= 0:
        keep = keep[:detections_per_image]
    return Instances(boxes[keep], scores[keep], where[keep, 1])


def rescale(instances: Instances, image_size: tuple[int, int], original_size: tuple[int, int]) -> Instances:
    """detector_postprocess's boxes and keypoints: resized-image pixels -> original pixels; empty boxes dropped."""
    scale_x = original_size[1] / image_size[1]
    scale_y = original_size[0] / image_size[0]
    boxes = box_ops.clip(box_ops.scale(instances.boxes, scale_x, scale_y), *original_size)
    keypoints = instances.keypoints
    if keypoints is not None:
        keypoints = keypoints.clone()
        keypoints[:, :, 0] *= scale_x
        keypoints[:, :, 1] *= scale_y
    scaled = Instances(boxes, instances.scores, instances.classes, instances.masks, keypoints)
    return scaled.select(box_ops.nonempty(boxes))


def paste_mask(mask: torch.Tensor, box: torch.Tensor, height: int, width: int,
               ) -> tuple[torch.Tensor, tuple[slice, slice]]:
    """_do_paste_mask with skip_empty for one (M, M) map and its (4,) box: the pasted probabilities over the
    box's pixel range (plus one pixel), and that range."""
    x0_int = int(torch.clamp(box[0].floor() - 1, min=0))
    y0_int = int(torch.clamp(box[1].floor() - 1, min=0))
    x1_int = int(torch.clamp(box[2].ceil() + 1, max=width))
    y1_int = int(torch.clamp(box[3].ceil() + 1, max=height))
    x0, y0, x1, y1 = box.float()
    img_y = torch.arange(y0_int, y1_int, device=mask.device, dtype=torch.float32) + 0.5
    img_x = torch.arange(x0_int, x1_int, device=mask.device, dtype=torch.float32) + 0.5
    img_y = (img_y - y0) / (y1 - y0) * 2 - 1
    img_x = (img_x - x0) / (x1 - x0) * 2 - 1
    grid_x = img_x[None, :].expand(img_y.shape[0], img_x.shape[0])
    grid_y = img_y[:, None].expand(img_y.shape[0], img_x.shape[0])
    grid = torch.stack((grid_x, grid_y), dim=2)[None]
    pasted = F.grid_sample(mask[None, None].float(), grid, align_corners=False)[0, 0]
    return pasted, (slice(y0_int, y1_int), slice(x0_int, x1_int))


def paste_masks(masks: torch.Tensor, boxes: torch.Tensor, height: int, width: int,
                threshold: float = 0.5) -> torch.Tensor:
    """paste_masks_in_image: (N, M, M) probabilities of (N, 4) boxes -> (N, height, width) bool masks."""
    out = torch.zeros((masks.shape[0], height, width), dtype=torch.bool, device=masks.device)
    for index in range(masks.shape[0]):
        pasted, (rows, cols) = paste_mask(masks[index], boxes[index], height, width)
        out[index, rows, cols] = pasted >= threshold
    return out


def heatmaps_to_keypoints(maps: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """(N, K, S, S) heatmap logits of (N, 4) boxes -> (N, K, 4): x, y (box pixels), logit, score.

    The logit is the upsampled heatmap's maximum (what the other families report as a keypoint's score); the
    score is Detectron2's: exp(logit - max) at the argmax over the upsampled map, normalised by the sum
    of exp(logit - max) over the S x S heatmap (so scores of differently sized boxes are comparable).
    """
    count, num_keypoints = maps.shape[:2]
    out = maps.new_zeros((count, num_keypoints, 4), dtype=torch.float32)
    if count == 0:
        return out
    maps, boxes = maps.float(), boxes.float()
    widths = (boxes[:, 2] - boxes[:, 0]).clamp(min=1)
    heights = (boxes[:, 3] - boxes[:, 1]).clamp(min=1)
    widths_ceil, heights_ceil = widths.ceil(), heights.ceil()
    width_corrections, height_corrections = widths / widths_ceil, heights / heights_ceil
    index = torch.arange(num_keypoints, device=maps.device)
    for i in range(count):
        size = (int(heights_ceil[i]), int(widths_ceil[i]))
        roi_map = F.interpolate(maps[[i]], size=size, mode="bicubic", align_corners=False)[0]
        best = roi_map.view(num_keypoints, -1).max(dim=1).values.view(num_keypoints, 1, 1)
        full = (roi_map - best).exp_()
        pooled = (maps[i] - best).exp_()
        scores = full / pooled.sum(dim=(1, 2), keepdim=True)
        map_w = roi_map.shape[2]
        position = roi_map.view(num_keypoints, -1).argmax(dim=1)
        x_int = position % map_w
        y_int = torch.div(position - x_int, map_w, rounding_mode="floor")
        out[i, :, 0] = (x_int.float() + 0.5) * width_corrections[i] + boxes[i, 0]
        out[i, :, 1] = (y_int.float() + 0.5) * height_corrections[i] + boxes[i, 1]
        out[i, :, 2] = roi_map[index, y_int, x_int]
        out[i, :, 3] = scores[index, y_int, x_int]
    return out
