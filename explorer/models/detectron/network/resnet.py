"""Detectron's ResNet / ResNeXt body (ResNet.py): stem, bottleneck blocks, stages, blob names included.

Two details decide whether pretrained weights fit: where a block's stride sits (`STRIDE_1X1`: on the first
1x1 conv for MSRA's ResNets, on the grouped 3x3 for the Torch-trained ResNeXts) and which block strides at all
(the first block of a stage, unless the stage follows the stem's max pool or is dilated).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from explorer.models.detectron.arch import DetectronArch
from explorer.models.detectron.network.layers import AffineChannel, BlobConv, ConvAffine, fold_affine_into

STAGE_DIMS = (256, 512, 1024, 2048)  # output channels of res2..res5
STEM_DIM = 64


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (grouped) -> 1x1 with AffineChannel after each conv, plus a projection shortcut if needed."""

    def __init__(self, prefix: str, dim_in: int, dim_out: int, dim_inner: int, *, stride: int, stride_1x1: bool,
                 groups: int, dilation: int) -> None:
        super().__init__()
        stride_a, stride_b = (stride, 1) if stride_1x1 else (1, stride)
        self.branch2a = ConvAffine(f"{prefix}_branch2a", dim_in, dim_inner, 1, stride=stride_a)
        self.branch2b = ConvAffine(f"{prefix}_branch2b", dim_inner, dim_inner, 3, stride=stride_b, pad=dilation,
                                   dilation=dilation, groups=groups)
        self.branch2c = ConvAffine(f"{prefix}_branch2c", dim_inner, dim_out, 1)
        self.branch1 = ConvAffine(f"{prefix}_branch1", dim_in, dim_out, 1, stride=stride) if dim_in != dim_out \
            else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu_(self.branch2a(x))
        out = F.relu_(self.branch2b(out))
        out = self.branch2c(out)
        shortcut = self.branch1(x) if self.branch1 is not None else x
        return F.relu_(out.add_(shortcut))


def block_stride(dim_in: int, dim_out: int, dilation: int, stride_init: int) -> int:
    """Detectron's rule: stride when the width changes, except right after the stem (dim 64) or when dilated."""
    return stride_init if dim_in != dim_out and dim_in != STEM_DIM and dilation == 1 else 1


def make_stage(arch: DetectronArch, prefix: str, count: int, dim_in: int, dim_out: int, dim_inner: int,
               dilation: int = 1, stride_init: int = 2) -> nn.Sequential:
    """`count` bottlenecks named `<prefix>_0` ... `<prefix>_<count-1>`."""
    blocks = []
    for index in range(count):
        stride = block_stride(dim_in, dim_out, dilation, stride_init)
        blocks.append(Bottleneck(f"{prefix}_{index}", dim_in, dim_out, dim_inner, stride=stride,
                                 stride_1x1=arch.stride_1x1, groups=arch.num_groups, dilation=dilation))
        dim_in = dim_out
    return nn.Sequential(*blocks)


def bottleneck_width(arch: DetectronArch, stage: int) -> int:
    """Inner width of res<stage> blocks: groups x width per group, doubling per stage from res2."""
    return arch.num_groups * arch.width_per_group * 2 ** (stage - 2)


class Stem(nn.Module):
    """conv1 7x7/2 (no bias) -> res_conv1_bn -> ReLU -> 3x3/2 max pool (padding 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = BlobConv("conv1", 3, STEM_DIM, 7, stride=2, pad=3, bias=False)
        self.affine = AffineChannel("res_conv1_bn", STEM_DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.relu_(self.affine(self.conv1(x))), kernel_size=3, stride=2, padding=1)

    def fold(self) -> None:
        fold_affine_into(self.conv1, self.affine)
        self.affine = nn.Identity()  # type: ignore[assignment]


class ResNetBody(nn.Module):
    """res2..res4 (C4 models) or res2..res5 (FPN models); `forward` returns {stage: features}."""

    def __init__(self, arch: DetectronArch, *, with_res5: bool) -> None:
        super().__init__()
        self.stem = Stem()
        counts = arch.stage_blocks if with_res5 else arch.stage_blocks[:3]
        stages = []
        dim_in = STEM_DIM
        for offset, count in enumerate(counts):
            stage = offset + 2
            dilation = arch.res5_dilation if stage == 5 else 1
            stages.append(make_stage(arch, f"res{stage}", count, dim_in, STAGE_DIMS[offset],
                                     bottleneck_width(arch, stage), dilation))
            dim_in = STAGE_DIMS[offset]
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        x = self.stem(x)
        features = {}
        for offset, stage in enumerate(self.stages):
            x = stage(x)
            features[offset + 2] = x
        return features


def stage_output_blob(arch: DetectronArch, stage: int) -> str:
    """Detectron's name for a stage's output (`res4_5_sum` for R-50): FPN's blob names are built from it."""
    return f"res{stage}_{arch.stage_blocks[stage - 2] - 1}_sum"
