"""Detectron's RPN: the head (rpn_heads.py / FPN.py) and proposal generation (ops/generate_proposals.py).

C4 models run one head (`conv_rpn`, `rpn_cls_logits`, `rpn_bbox_pred`) on res4 with 15 anchors per location.
FPN models run one head whose weights are named after the finest level (`conv_rpn_fpn2`, ...) on every level
2..6 with 3 anchors per location, generate proposals per level, then keep the best `post_nms_top_n` over all
levels by objectness, without another NMS (CollectAndDistributeFpnRpnProposals / rpn_generator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from explorer.models.detectron import boxes as box_ops
from explorer.models.detectron.arch import DetectronArch
from explorer.models.detectron.network.anchors import rpn_cell_anchors
from explorer.models.detectron.network.layers import BlobConv
from explorer.models.detectron.network.resnet import STAGE_DIMS


class RPNHead(nn.Module):
    """3x3 conv + ReLU, then 1x1 objectness logits (A) and 1x1 box deltas (4A)."""

    def __init__(self, arch: DetectronArch) -> None:
        super().__init__()
        suffix = f"_fpn{arch.rpn_min_level}" if arch.fpn else ""
        dim = arch.fpn_dim if arch.fpn else STAGE_DIMS[2]
        num_anchors = len(arch.rpn_aspect_ratios) * (1 if arch.fpn else len(arch.rpn_anchor_sizes))
        self.conv = BlobConv(f"conv_rpn{suffix}", dim, dim, 3, pad=1)
        self.cls_logits = BlobConv(f"rpn_cls_logits{suffix}", dim, num_anchors, 1)
        self.bbox_pred = BlobConv(f"rpn_bbox_pred{suffix}", dim, 4 * num_anchors, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = F.relu(self.conv(x))
        return torch.sigmoid(self.cls_logits(hidden)), self.bbox_pred(hidden)


@dataclass(frozen=True)
class ImageInfo:
    """Detectron's im_info: the (padded) network input size and the scale from the original image."""

    height: int
    width: int
    scale: float


def all_anchors(cell: torch.Tensor, stride: float, height: int, width: int) -> torch.Tensor:
    """Cell anchors shifted to every (y, x) position, ordered (y, x, anchor) as the head's outputs flatten."""
    shift_x = torch.arange(width, device=cell.device, dtype=cell.dtype) * stride
    shift_y = torch.arange(height, device=cell.device, dtype=cell.dtype) * stride
    sy, sx = torch.meshgrid(shift_y, shift_x, indexing="ij")
    shifts = torch.stack((sx.reshape(-1), sy.reshape(-1), sx.reshape(-1), sy.reshape(-1)), dim=1)
    return (shifts[:, None, :] + cell[None, :, :]).reshape(-1, 4)


def proposals_one_level(probs: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor, info: ImageInfo,
                        pre_nms_top_n: int, post_nms_top_n: int, nms_thresh: float, min_size: float = 0.0,
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """GenerateProposalsOp for one image: top pre-NMS -> decode -> clip -> filter -> NMS -> top post-NMS.

    `probs` is (A, H, W), `deltas` (4A, H, W); returns boxes (R, 4) in input pixels and their objectness.
    """
    scores = probs.permute(1, 2, 0).reshape(-1)
    deltas = deltas.permute(1, 2, 0).reshape(-1, 4)
    if 0 < pre_nms_top_n < scores.numel():
        scores, order = torch.topk(scores, pre_nms_top_n, sorted=True)
    else:
        scores, order = torch.sort(scores, descending=True)
    proposals = box_ops.decode(anchors[order], deltas[order].float())
    proposals = box_ops.clip_tiled(proposals, info.height, info.width)
    keep = _filter(proposals, min_size, info)
    proposals, scores = proposals[keep], scores[keep]
    if nms_thresh > 0:
        keep = box_ops.nms(proposals, scores, nms_thresh)
        if post_nms_top_n > 0:
            keep = keep[:post_nms_top_n]
        proposals, scores = proposals[keep], scores[keep]
    return proposals, scores


def _filter(boxes: torch.Tensor, min_size: float, info: ImageInfo) -> torch.Tensor:
    """Keep boxes at least `min_size * im_scale` input pixels wide and high whose centre is inside the input.

    Detectron's `_filter_boxes` at its first public commit (2f8161e), which the 12_2017 baselines ran: sides
    measured in input pixels with the "+1" (`x2 - x1 + 1 >= min_size * im_scale`), and `TEST.RPN_MIN_SIZE = 0`,
    so a box narrower than a pixel (x2 - x1 between -1 and 0) is kept and becomes a RoI. The later rule that
    drops boxes under one original pixel (47e457a, August 2018) is not what the published numbers used.
    """
    threshold = min_size * info.scale
    ws = boxes[:, 2] - boxes[:, 0] + 1
    hs = boxes[:, 3] - boxes[:, 1] + 1
    x_ctr = boxes[:, 0] + ws / 2.0
    y_ctr = boxes[:, 1] + hs / 2.0
    keep = (ws >= threshold) & (hs >= threshold) & (x_ctr < info.width) & (y_ctr < info.height)
    return torch.nonzero(keep).squeeze(1)


class ProposalGenerator:
    """Runs the RPN head over the feature levels and returns the image's proposals (network input pixels)."""

    def __init__(self, arch: DetectronArch) -> None:
        self.arch = arch
        self.levels: list[int | None] = (list(range(arch.rpn_min_level, arch.rpn_max_level + 1)) if arch.fpn
                                         else [None])
        self._cells: dict[int | None, tuple[float, np.ndarray]] = {level: rpn_cell_anchors(arch, level)
                                                                   for level in self.levels}

    def __call__(self, head: RPNHead, features: dict[int, torch.Tensor], info: ImageInfo,
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        arch = self.arch
        all_boxes, all_scores = [], []
        for level in self.levels:
            x = features[level if level is not None else 4]
            probs, deltas = head(x)
            stride, cell = self._cells[level]
            anchors = all_anchors(torch.as_tensor(cell, dtype=torch.float32, device=x.device), stride,
                                  x.shape[-2], x.shape[-1])
            boxes, scores = proposals_one_level(probs[0].float(), deltas[0], anchors, info, arch.rpn_pre_nms_top_n,
                                                arch.rpn_post_nms_top_n, arch.rpn_nms_thresh)
            all_boxes.append(boxes)
            all_scores.append(scores)
        boxes, scores = torch.cat(all_boxes), torch.cat(all_scores)
        if len(self.levels) > 1:  # FPN: the best post_nms_top_n over all levels, no second NMS
            scores, order = torch.sort(scores, descending=True)
            scores, order = scores[: arch.rpn_post_nms_top_n], order[: arch.rpn_post_nms_top_n]
            boxes = boxes[order]
        return boxes, scores
