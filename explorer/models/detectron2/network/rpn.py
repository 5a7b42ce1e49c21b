"""Detectron2's anchors (anchor_generator.py), RPN head (rpn.py: StandardRPNHead) and test-time proposal
selection (proposal_utils.py: find_top_rpn_proposals).

Anchors: for each size, each aspect ratio r, w = sqrt(size^2 / r), h = r * w, centred on (0, 0) (size-major,
unrounded), shifted by (offset + i) * stride on a float32 grid; offset 0.0 in every zoo config. Detectron's
anchors instead start from the window (0, 0, stride - 1, stride - 1) with rounded widths.

Proposals: per level the top `pre_nms_topk` by objectness logit, decoded with the RPN's weights; then over all
levels at once: clip to the resized image, drop empty boxes, NMS 0.7 within each level (batched over levels)
and keep the best `post_nms_topk` per image (Detectron keeps the best per level, then re-ranks).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import batched_nms

from explorer.models.detectron2 import boxes as box_ops
from explorer.models.detectron2.network.layers import Conv2d


def cell_anchors(sizes: tuple[float, ...], ratios: tuple[float, ...]) -> torch.Tensor:
    """(len(sizes) * len(ratios), 4) anchors about (0, 0): DefaultAnchorGenerator.generate_cell_anchors."""
    out = []
    for size in sizes:
        area = size**2.0
        for ratio in ratios:
            w = math.sqrt(area / ratio)
            h = ratio * w
            out.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
    return torch.tensor(out, device="cpu")  # never on the meta device an empty model is built on


def grid_anchors(cell: torch.Tensor, stride: int, height: int, width: int, offset: float) -> torch.Tensor:
    """Cell anchors at every position, ordered (y, x, anchor) as the head's outputs flatten."""
    device = cell.device
    shift_x = torch.arange(offset * stride, width * stride, step=stride, dtype=torch.float32, device=device)
    shift_y = torch.arange(offset * stride, height * stride, step=stride, dtype=torch.float32, device=device)
    sy, sx = torch.meshgrid(shift_y, shift_x, indexing="ij")
    sx, sy = sx.reshape(-1), sy.reshape(-1)
    shifts = torch.stack((sx, sy, sx, sy), dim=1)
    return (shifts.view(-1, 1, 4) + cell.view(1, -1, 4)).reshape(-1, 4)


class AnchorGenerator:
    """Per-level anchors for the given feature sizes; one size list for all levels, or one per level."""

    def __init__(self, sizes: tuple[tuple[float, ...], ...], ratios: tuple[float, ...], strides: tuple[int, ...],
                 offset: float) -> None:
        if len(sizes) == 1:
            sizes = sizes * len(strides)
        if len(sizes) != len(strides):
            raise ValueError(f"{len(sizes)} anchor size lists for {len(strides)} feature levels")
        self.cells = [cell_anchors(level_sizes, ratios) for level_sizes in sizes]
        self.strides = strides
        self.offset = offset

    def __call__(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        return [grid_anchors(cell.to(x.device), stride, x.shape[-2], x.shape[-1], self.offset)
                for cell, stride, x in zip(self.cells, self.strides, features, strict=True)]


class StandardRPNHead(nn.Module):
    """`conv` (3x3 + ReLU; a Sequential `conv0`, `conv1`, ... when the config has several), then 1x1
    `objectness_logits` (A) and `anchor_deltas` (4A), shared by every level.

    Like Detectron2's, `forward` takes the list of levels and returns one list per output: tensors in, tensors
    out, so one call covers the image (one runtime call when an export runs it, explorer.runtimes)."""

    def __init__(self, dim: int, num_anchors: int, num_convs: int = 1) -> None:
        super().__init__()
        if num_convs == 1:
            self.conv: nn.Module = Conv2d(dim, dim, 3, padding=1, relu=True)
        else:
            self.conv = nn.Sequential()
            for index in range(num_convs):
                self.conv.add_module(f"conv{index}", Conv2d(dim, dim, 3, padding=1, relu=True))
        self.objectness_logits = Conv2d(dim, num_anchors, 1)
        self.anchor_deltas = Conv2d(dim, num_anchors * 4, 1)

    def forward(self, features: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        objectness, deltas = [], []
        for x in features:
            hidden = self.conv(x)
            objectness.append(self.objectness_logits(hidden))
            deltas.append(self.anchor_deltas(hidden))
        return objectness, deltas


def find_top_proposals(deltas: list[torch.Tensor], anchors: list[torch.Tensor], logits: list[torch.Tensor],
                       image_size: tuple[int, int], nms_thresh: float, pre_nms_topk: int, post_nms_topk: int,
                       min_box_size: float, weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0),
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """find_top_rpn_proposals for one image: per level `deltas[i]` (Hi*Wi*A, 4) on `anchors[i]`, `logits[i]`.

    Detectron2 decodes every anchor and then takes the top k; decoding is per anchor, so decoding only the
    top k gives the same boxes for a fraction of the work.
    """
    top_boxes, top_scores, level_ids = [], [], []
    for level, (level_deltas, level_anchors, scores) in enumerate(zip(deltas, anchors, logits, strict=True)):
        count = min(scores.shape[0], pre_nms_topk)
        scores, index = scores.topk(count)
        top_boxes.append(box_ops.decode(level_deltas[index], level_anchors[index], weights))
        top_scores.append(scores)
        level_ids.append(torch.full((count,), level, dtype=torch.int64, device=scores.device))
    boxes, scores, levels = torch.cat(top_boxes), torch.cat(top_scores), torch.cat(level_ids)
    valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores)
    if not bool(valid.all()):
        boxes, scores, levels = boxes[valid], scores[valid], levels[valid]
    boxes = box_ops.clip(boxes, *image_size)
    keep = box_ops.nonempty(boxes, min_box_size)
    if not bool(keep.all()):
        boxes, scores, levels = boxes[keep], scores[keep], levels[keep]
    keep = batched_nms(boxes.float(), scores, levels, nms_thresh)[:post_nms_topk]
    return boxes[keep], scores[keep]


class RPN(nn.Module):
    """`rpn_head` (its weights are the checkpoint's); anchors and proposal selection are computed."""

    def __init__(self, dim: int, sizes: tuple[tuple[float, ...], ...], ratios: tuple[float, ...],
                 strides: tuple[int, ...], offset: float, num_convs: int, *, pre_nms_topk: int, post_nms_topk: int,
                 nms_thresh: float, min_box_size: float, weights: tuple[float, ...]) -> None:
        super().__init__()
        self.anchor_generator = AnchorGenerator(sizes, ratios, strides, offset)
        num_anchors = self.anchor_generator.cells[0].shape[0]
        self.rpn_head = StandardRPNHead(dim, num_anchors, num_convs)
        self.pre_nms_topk, self.post_nms_topk = pre_nms_topk, post_nms_topk
        self.nms_thresh, self.min_box_size, self.weights = nms_thresh, min_box_size, weights

    def forward(self, features: list[torch.Tensor], image_size: tuple[int, int],
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Proposals (resized-image pixels) and their objectness logits for one image (batch of 1)."""
        anchors = self.anchor_generator(features)
        all_deltas, logits = [], []
        for objectness, deltas in zip(*self.rpn_head(features), strict=True):
            logits.append(objectness[0].permute(1, 2, 0).reshape(-1))
            height, width = deltas.shape[-2:]
            all_deltas.append(deltas[0].view(-1, 4, height, width).permute(2, 3, 0, 1).reshape(-1, 4))
        return find_top_proposals(all_deltas, anchors, logits, image_size, self.nms_thresh, self.pre_nms_topk,
                                  self.post_nms_topk, self.min_box_size, self.weights)
