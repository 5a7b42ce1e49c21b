"""RetinaNet's head (retinanet_heads.py) and its test-time decoding (core/test_retinanet.py).

Two towers of `NUM_CONVS` 3x3 convs + ReLU (classification and box), shared across levels 3..7 and named after
level 3; sigmoid class probabilities (A x 80 per location) and class-agnostic deltas (A x 4). At test time each
level keeps the top 1000 (anchor, class) pairs above 0.05 (above 0.0 on the coarsest level, so tiny inputs
still yield detections), decodes them with unit weights, then per-class NMS and the best 100 overall.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from explorer.models.detectron import boxes as box_ops
from explorer.models.detectron.arch import DetectronArch
from explorer.models.detectron.network.anchors import retinanet_cell_anchors
from explorer.models.detectron.network.layers import BlobConv


class RetinaNetHead(nn.Module):
    """Classification and box towers; `forward` gives per-level (probs (A*C, H, W), deltas (A*4, H, W))."""

    def __init__(self, arch: DetectronArch) -> None:
        super().__init__()
        dim, level = arch.fpn_dim, arch.rpn_min_level
        anchors = arch.retinanet_scales_per_octave * len(arch.retinanet_aspect_ratios)
        self.cls_tower = nn.ModuleList(BlobConv(f"retnet_cls_conv_n{i}_fpn{level}", dim, dim, 3, pad=1)
                                       for i in range(arch.retinanet_num_convs))
        self.bbox_tower = nn.ModuleList(BlobConv(f"retnet_bbox_conv_n{i}_fpn{level}", dim, dim, 3, pad=1)
                                        for i in range(arch.retinanet_num_convs))
        self.cls_pred = BlobConv(f"retnet_cls_pred_fpn{level}", dim, (arch.num_classes - 1) * anchors, 3, pad=1)
        self.bbox_pred = BlobConv(f"retnet_bbox_pred_fpn{level}", dim, 4 * anchors, 3, pad=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cls, box = x, x
        for conv in self.cls_tower:
            cls = F.relu(conv(cls))
        for conv in self.bbox_tower:
            box = F.relu(conv(box))
        return torch.sigmoid(self.cls_pred(cls)), self.bbox_pred(box)


class RetinaNetDecoder:
    """Per-level candidates -> boxes in original pixels -> per-class NMS -> best `detections_per_im`."""

    def __init__(self, arch: DetectronArch) -> None:
        self.arch = arch
        self.levels = list(range(arch.rpn_min_level, arch.rpn_max_level + 1))
        self._cells: dict[int, tuple[float, np.ndarray]] = {lvl: retinanet_cell_anchors(arch, lvl)
                                                            for lvl in self.levels}

    def candidates(self, level: int, probs: torch.Tensor, deltas: torch.Tensor, im_scale: float, im_h: int,
                   im_w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(boxes, scores, 0-based classes) kept at one level, boxes clipped to the original image."""
        arch = self.arch
        stride, cell = self._cells[level]
        num_anchors = cell.shape[0]
        height, width = probs.shape[-2:]
        probs = probs.reshape(num_anchors, -1, height, width)
        flat = probs.reshape(-1)
        threshold = arch.retinanet_inference_th if level < self.levels[-1] else 0.0
        candidates = torch.nonzero(flat > threshold).squeeze(1)
        if candidates.numel() == 0:
            empty = flat.new_zeros((0,))
            return flat.new_zeros((0, 4)), empty, empty.long()
        top = min(arch.retinanet_pre_nms_top_n, candidates.numel())
        scores, order = torch.topk(flat[candidates], top, sorted=False)
        index = candidates[order]
        num_classes = probs.shape[1]
        x = index % width
        y = (index // width) % height
        classes = (index // (width * height)) % num_classes
        anchor_ids = index // (width * height * num_classes)
        # float32 positions * stride += float64 cell anchors: numpy adds in float64, then stores float32
        cell_t = torch.as_tensor(cell, dtype=torch.float64, device=probs.device)
        anchor_boxes = (torch.stack((x, y, x, y), dim=1).double() * stride + cell_t[anchor_ids]).float()
        box_deltas = deltas.reshape(num_anchors, 4, height, width)[anchor_ids, :, y, x].float()
        boxes = box_ops.decode(anchor_boxes, box_deltas) / im_scale
        return box_ops.clip_tiled(boxes, im_h, im_w), scores.float(), classes

    def __call__(self, outputs: dict[int, tuple[torch.Tensor, torch.Tensor]], im_scale: float, im_h: int,
                 im_w: int, nms_thresh: float, detections_per_im: int,
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(boxes, scores, contiguous classes 1..C-1), best first."""
        parts = [self.candidates(level, probs[0], deltas[0], im_scale, im_h, im_w)
                 for level, (probs, deltas) in outputs.items()]
        boxes = torch.cat([p[0] for p in parts])
        scores = torch.cat([p[1] for p in parts])
        classes = torch.cat([p[2] for p in parts])
        keep = box_ops.batched_nms(boxes, scores, classes, nms_thresh)
        keep = keep[torch.argsort(scores[keep], descending=True)][:detections_per_im]
        return boxes[keep], scores[keep], classes[keep] + 1
