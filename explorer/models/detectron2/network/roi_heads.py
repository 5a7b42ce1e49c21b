"""Detectron2's RoI heads (modeling/roi_heads/, poolers.py): pooling, box head and predictor, mask head,
keypoint head, and the C4 models' res5 head.

Pooling (ROIPooler): with several levels each box goes to floor(4 + log2(sqrt(area) / 224 + 1e-8)), clamped
to P2..P5, with Detectron2's areas (no "+1") and eps; "ROIAlignV2" is torchvision's `roi_align(aligned=True)`
(the half-pixel shift Detectron lacks), "ROIAlign" is `aligned=False` (the Detectron1-comparison rows).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import roi_align

from explorer.models.detectron2 import boxes as box_ops
from explorer.models.detectron2.netconfig import NetConfig
from explorer.models.detectron2.network.layers import Conv2d
from explorer.models.detectron2.network.resnet import make_stage

LEVEL_EPS = 1e-8


def assign_levels(boxes: torch.Tensor, min_level: int, max_level: int, canonical_size: int,
                  canonical_level: int) -> torch.Tensor:
    """assign_boxes_to_levels: the FPN level of each box (absolute level numbers)."""
    sizes = torch.sqrt(box_ops.area(boxes))
    levels = torch.floor(canonical_level + torch.log2(sizes / canonical_size + LEVEL_EPS))
    return levels.clamp(min=min_level, max=max_level).to(torch.int64)


class ROIPooler:
    """Pools (R, 4) boxes (resized-image pixels, one image) from {level: features} to (R, C, S, S)."""

    def __init__(self, levels: tuple[int, ...], strides: tuple[int, ...], resolution: int, sampling_ratio: int,
                 aligned: bool, canonical_size: int = 224, canonical_level: int = 4) -> None:
        self.levels, self.strides = levels, strides
        self.resolution, self.sampling_ratio, self.aligned = resolution, sampling_ratio, aligned
        self.canonical_size, self.canonical_level = canonical_size, canonical_level

    def _pool(self, x: torch.Tensor, boxes: torch.Tensor, stride: int) -> torch.Tensor:
        rois = torch.cat((boxes.new_zeros((boxes.shape[0], 1)), boxes), dim=1).to(x.dtype)
        return roi_align(x, rois, self.resolution, 1.0 / stride, self.sampling_ratio, aligned=self.aligned)

    def __call__(self, features: dict[int, torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        if len(self.levels) == 1:
            return self._pool(features[self.levels[0]], boxes, self.strides[0])
        assigned = assign_levels(boxes, self.levels[0], self.levels[-1], self.canonical_size, self.canonical_level)
        first = features[self.levels[0]]
        out = first.new_zeros((boxes.shape[0], first.shape[1], self.resolution, self.resolution))
        for level, stride in zip(self.levels, self.strides, strict=True):
            index = torch.nonzero(assigned == level).squeeze(1)
            if index.numel():
                out[index] = self._pool(features[level], boxes[index], stride)
        return out


class FastRCNNConvFCHead(nn.Module):
    """`conv1..` (3x3, norm, ReLU) then `fc1..` (Linear, ReLU) on the flattened features."""

    def __init__(self, dim_in: int, resolution: int, num_convs: int, conv_dim: int, num_fcs: int, fc_dim: int,
                 norm: str) -> None:
        super().__init__()
        self.num_convs, self.num_fcs = num_convs, num_fcs
        for index in range(1, num_convs + 1):
            self.add_module(f"conv{index}", Conv2d(dim_in, conv_dim, 3, padding=1, norm=norm, relu=True))
            dim_in = conv_dim
        flat = dim_in * resolution * resolution
        for index in range(1, num_fcs + 1):
            self.add_module(f"fc{index}", nn.Linear(flat, fc_dim))
            flat = fc_dim
        self.dim_out = flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index in range(1, self.num_convs + 1):
            x = getattr(self, f"conv{index}")(x)
        if self.num_fcs:
            x = x.flatten(1)
            for index in range(1, self.num_fcs + 1):
                x = F.relu(getattr(self, f"fc{index}")(x))
        return x


class FastRCNNOutputLayers(nn.Module):
    """`cls_score` (K + 1, background last) and `bbox_pred` (4K, or 4 when class-agnostic)."""

    def __init__(self, dim_in: int, num_classes: int, cls_agnostic: bool) -> None:
        super().__init__()
        self.cls_score = nn.Linear(dim_in, num_classes + 1)
        self.bbox_pred = nn.Linear(dim_in, 4 * (1 if cls_agnostic else num_classes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.flatten(1)
        return self.cls_score(x), self.bbox_pred(x)


class MaskRCNNConvUpsampleHead(nn.Module):
    """`mask_fcn1..` (3x3, norm, ReLU), `deconv` (2x2/2 + ReLU), `predictor` (1x1, one mask per class)."""

    def __init__(self, dim_in: int, num_convs: int, conv_dim: int, num_classes: int, norm: str) -> None:
        super().__init__()
        self.num_convs = num_convs
        for index in range(1, num_convs + 1):
            self.add_module(f"mask_fcn{index}", Conv2d(dim_in, conv_dim, 3, padding=1, norm=norm, relu=True))
            dim_in = conv_dim
        self.deconv = nn.ConvTranspose2d(dim_in, conv_dim, 2, stride=2, padding=0)
        self.predictor = Conv2d(conv_dim, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index in range(1, self.num_convs + 1):
            x = getattr(self, f"mask_fcn{index}")(x)
        return self.predictor(F.relu(self.deconv(x)))


class KRCNNConvDeconvUpsampleHead(nn.Module):
    """`conv_fcn1..8` (3x3, ReLU), `score_lowres` (4x4/2 deconv), then a fixed bilinear 2x upsampling."""

    def __init__(self, dim_in: int, conv_dims: tuple[int, ...], num_keypoints: int) -> None:
        super().__init__()
        for index, dim in enumerate(conv_dims, start=1):
            self.add_module(f"conv_fcn{index}", Conv2d(dim_in, dim, 3, padding=1, relu=True))
            dim_in = dim
        self.num_convs = len(conv_dims)
        self.score_lowres = nn.ConvTranspose2d(dim_in, num_keypoints, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index in range(1, self.num_convs + 1):
            x = getattr(self, f"conv_fcn{index}")(x)
        return F.interpolate(self.score_lowres(x), scale_factor=2.0, mode="bilinear", align_corners=False)


class ROIHeads(nn.Module):
    """StandardROIHeads (FPN, DC5) or Res5ROIHeads (C4: `res5` runs on the pooled features of each RoI)."""

    def __init__(self, config: NetConfig, dim_in: int) -> None:
        super().__init__()
        levels = config.roi_levels
        strides = tuple(config.stride(level) for level in levels)
        canonical = (config.canonical_box_size, config.canonical_level)
        self.c4 = config.layout == "C4"
        self.box_pooler = ROIPooler(levels, strides, config.box_pooler_resolution, config.box_sampling_ratio,
                                    config.box_aligned, *canonical)
        if self.c4:
            self.res5 = make_stage(config, 5, first_stride=2)
            dim_in = config.res2_out * 8
            predictor_in = dim_in
        else:
            self.box_head = FastRCNNConvFCHead(dim_in, config.box_pooler_resolution, config.box_convs,
                                               config.box_conv_dim, config.box_fcs, config.box_fc_dim,
                                               config.box_norm)
            predictor_in = self.box_head.dim_out
        self.box_predictor = FastRCNNOutputLayers(predictor_in, config.num_classes, config.cls_agnostic_bbox_reg)
        self.mask_pooler = self.keypoint_pooler = None
        if config.mask_on:
            self.mask_pooler = ROIPooler(levels, strides, config.mask_pooler_resolution, config.mask_sampling_ratio,
                                         config.mask_aligned, *canonical)
            classes = 1 if config.cls_agnostic_mask else config.num_classes
            self.mask_head = MaskRCNNConvUpsampleHead(dim_in, 0 if self.c4 else config.mask_convs,
                                                      config.mask_conv_dim, classes, config.mask_norm)
        if config.keypoint_on:
            self.keypoint_pooler = ROIPooler(levels, strides, config.keypoint_pooler_resolution,
                                             config.keypoint_sampling_ratio, config.keypoint_aligned, *canonical)
            self.keypoint_head = KRCNNConvDeconvUpsampleHead(dim_in, config.keypoint_conv_dims,
                                                             config.num_keypoints)

    def box_outputs(self, features: dict[int, torch.Tensor], boxes: torch.Tensor,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(class logits (R, K + 1), box deltas (R, 4K)) of proposals in resized-image pixels."""
        pooled = self.box_pooler(features, boxes)
        if self.c4:
            return self.box_predictor(self.res5(pooled).mean(dim=(2, 3)))
        return self.box_predictor(self.box_head(pooled))

    def mask_logits(self, features: dict[int, torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        assert self.mask_pooler is not None
        if self.c4:  # Res5ROIHeads: the shared res5 transform on the box pooler's features of the detections
            return self.mask_head(self.res5(self.box_pooler(features, boxes)))
        return self.mask_head(self.mask_pooler(features, boxes))

    def keypoint_logits(self, features: dict[int, torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        assert self.keypoint_pooler is not None
        return self.keypoint_head(self.keypoint_pooler(features, boxes))
