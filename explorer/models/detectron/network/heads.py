"""RoI heads: feature pooling, box head + outputs, mask heads, keypoint head (fast_rcnn_heads.py, ResNet.py,
mask_rcnn_heads.py, keypoint_rcnn_heads.py).

Caffe2's RoIAlign samples without the half-pixel offset that torchvision calls `aligned=True`, and with
`sampling_ratio=0` it picks ceil(roi size / output size) samples per bin; torchvision's `roi_align` with
`aligned=False` does exactly the same, so pooled features match Detectron's.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import roi_align

from explorer.models.detectron import boxes as box_ops
from explorer.models.detectron.arch import KEYPOINT_DECONV_KERNEL, MASK_DIM_REDUCED, DetectronArch
from explorer.models.detectron.network.layers import BlobConv, BlobConvTranspose, BlobLinear
from explorer.models.detectron.network.resnet import STAGE_DIMS, bottleneck_width, make_stage

C4_STRIDE = 16


def pool_rois(arch: DetectronArch, features: dict[int, torch.Tensor], rois: torch.Tensor, resolution: int,
              sampling_ratio: int) -> torch.Tensor:
    """(R, C, res, res) features of (R, 4) RoIs in input pixels: res4 for C4, the RoI's FPN level for FPN."""
    if rois.shape[0] == 0:
        some = next(iter(features.values()))
        return some.new_zeros((0, some.shape[1], resolution, resolution))
    if not arch.fpn:
        x = features[4]
        return roi_align(x, _with_batch_index(rois, x.dtype), resolution, 1.0 / C4_STRIDE, sampling_ratio,
                         aligned=False)
    levels = box_ops.map_to_levels(rois, arch.roi_min_level, arch.roi_max_level, arch.roi_canonical_scale,
                                   arch.roi_canonical_level)
    first = features[arch.roi_min_level]
    out = first.new_zeros((rois.shape[0], first.shape[1], resolution, resolution))
    for level in range(arch.roi_min_level, arch.roi_max_level + 1):
        index = torch.nonzero(levels == level).squeeze(1)
        if index.numel():
            x = features[level]
            out[index] = roi_align(x, _with_batch_index(rois[index], x.dtype), resolution, 1.0 / 2**level,
                                   sampling_ratio, aligned=False)
    return out


def _with_batch_index(rois: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.cat((rois.new_zeros((rois.shape[0], 1)), rois), dim=1).to(dtype)


class TwoMLPHead(nn.Module):
    """fc6 -> ReLU -> fc7 -> ReLU on flattened RoI features (add_roi_2mlp_head)."""

    def __init__(self, arch: DetectronArch) -> None:
        super().__init__()
        dim_in = arch.fpn_dim * arch.box_resolution**2
        self.fc6 = BlobLinear("fc6", dim_in, arch.mlp_dim)
        self.fc7 = BlobLinear("fc7", arch.mlp_dim, arch.mlp_dim)
        self.dim_out = arch.mlp_dim

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc7(F.relu(self.fc6(pooled.flatten(1)))))


class Res5Head(nn.Module):
    """The C4 RoI head: res5 (3 blocks, first strided by resolution / 7) then a 7x7 average pool."""

    def __init__(self, arch: DetectronArch, resolution: int) -> None:
        super().__init__()
        self.res5 = make_stage(arch, "res5", 3, STAGE_DIMS[2], STAGE_DIMS[3], bottleneck_width(arch, 5), 1,
                               stride_init=resolution // 7)
        self.dim_out = STAGE_DIMS[3]

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.res5(pooled), kernel_size=7, stride=1).flatten(1)


class BoxOutputs(nn.Module):
    """cls_score (softmax over all classes) and class-specific bbox_pred (4 per class, background included)."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.cls_score = BlobLinear("cls_score", dim, num_classes)
        self.bbox_pred = BlobLinear("bbox_pred", dim, 4 * num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.softmax(self.cls_score(x), dim=1), self.bbox_pred(x)


class MaskHeadFPN(nn.Module):
    """v1up4convs: four 3x3 convs `_[mask]_fcn1..4`, 2x2 deconv `conv5_mask`, 1x1 class-specific logits."""

    def __init__(self, arch: DetectronArch) -> None:
        super().__init__()
        dilation = arch.mask_dilation
        dims = [arch.fpn_dim] + [MASK_DIM_REDUCED] * 4
        self.convs = nn.ModuleList(BlobConv(f"_[mask]_fcn{i + 1}", dims[i], dims[i + 1], 3, pad=dilation,
                                            dilation=dilation) for i in range(4))
        self.deconv = BlobConvTranspose("conv5_mask", MASK_DIM_REDUCED, MASK_DIM_REDUCED, 2, stride=2, pad=0)
        self.logits = BlobConv("mask_fcn_logits", MASK_DIM_REDUCED, arch.num_classes, 1)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        x = pooled
        for conv in self.convs:
            x = F.relu(conv(x))
        return self.logits(F.relu(self.deconv(x)))


class MaskHeadC4(nn.Module):
    """v0upshare: the box head's own res5 (shared weights) on mask RoIs, `conv5_mask` deconv, logits.

    res5 is passed in at call time rather than registered here, so its weights exist (and load) once.
    """

    def __init__(self, arch: DetectronArch) -> None:
        super().__init__()
        self.deconv = BlobConvTranspose("conv5_mask", STAGE_DIMS[3], MASK_DIM_REDUCED, 2, stride=2, pad=0)
        self.logits = BlobConv("mask_fcn_logits", MASK_DIM_REDUCED, arch.num_classes, 1)

    def forward(self, pooled: torch.Tensor, res5: nn.Module) -> torch.Tensor:
        return self.logits(F.relu(self.deconv(res5(pooled))))


class KeypointHead(nn.Module):
    """v1convX: eight 3x3 convs `conv_fcn1..8` (512), deconv `kps_score_lowres` (x2) to K heatmaps, then the
    fixed bilinear x2 deconv `kps_score` Detectron stores as a blob (14 -> 28 -> 56)."""

    def __init__(self, arch: DetectronArch) -> None:
        super().__init__()
        dims = [arch.fpn_dim] + [arch.keypoint_conv_dim] * arch.keypoint_num_convs
        self.convs = nn.ModuleList(BlobConv(f"conv_fcn{i + 1}", dims[i], dims[i + 1], 3, pad=1)
                                   for i in range(arch.keypoint_num_convs))
        kernel, pad = KEYPOINT_DECONV_KERNEL, KEYPOINT_DECONV_KERNEL // 2 - 1
        upsample = arch.keypoint_up_scale > 1
        name = "kps_score_lowres" if upsample else "kps_score"
        self.score = BlobConvTranspose(name, arch.keypoint_conv_dim, arch.num_keypoints, kernel, stride=2, pad=pad)
        scale = arch.keypoint_up_scale
        self.upsample = BlobConvTranspose("kps_score", arch.num_keypoints, arch.num_keypoints, 2 * scale,
                                          stride=scale, pad=scale // 2) if upsample else None

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        x = pooled
        for conv in self.convs:
            x = F.relu(conv(x))
        x = self.score(x)
        return self.upsample(x) if self.upsample is not None else x
