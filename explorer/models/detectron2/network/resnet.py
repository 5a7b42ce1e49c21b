"""Detectron2's ResNet / ResNeXt (modeling/backbone/resnet.py): `stem.conv1`, `res2`..`res5` of bottlenecks.

A bottleneck is conv1 (1x1) -> conv2 (3x3, grouped, dilated) -> conv3 (1x1), each with its norm, plus a
`shortcut` 1x1 conv when the width changes. MSRA's ImageNet models (R-50, R-101) put the stride on the 1x1
(`stride_in_1x1`), FAIR's ResNeXt on the 3x3. A stage's first block is strided by 2 except res2 and a dilated
res5 (DC5: dilation 2, stride 1, so res5 stays at 1/16).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from explorer.models.detectron2.netconfig import RESNET_BLOCKS, NetConfig
from explorer.models.detectron2.network.layers import Conv2d


class BasicStem(nn.Module):
    """conv1 7x7/2 + norm + ReLU, then a 3x3/2 max pool."""

    def __init__(self, dim_out: int, norm: str) -> None:
        super().__init__()
        self.conv1 = Conv2d(3, dim_out, 7, stride=2, padding=3, norm=norm, relu=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(self.conv1(x), kernel_size=3, stride=2, padding=1)


class BottleneckBlock(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, dim_inner: int, *, stride: int, groups: int, norm: str,
                 stride_in_1x1: bool, dilation: int) -> None:
        super().__init__()
        self.shortcut = (Conv2d(dim_in, dim_out, 1, stride=stride, norm=norm, bias=False)
                         if dim_in != dim_out else None)
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = Conv2d(dim_in, dim_inner, 1, stride=stride_1x1, norm=norm, bias=False, relu=True)
        self.conv2 = Conv2d(dim_inner, dim_inner, 3, stride=stride_3x3, padding=dilation, dilation=dilation,
                            groups=groups, norm=norm, bias=False, relu=True)
        self.conv3 = Conv2d(dim_inner, dim_out, 1, norm=norm, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3(self.conv2(self.conv1(x)))
        out += self.shortcut(x) if self.shortcut is not None else x
        return F.relu_(out)


def make_stage(config: NetConfig, stage: int, *, dilation: int = 1, first_stride: int = 2) -> nn.Sequential:
    """res<stage> of `config`: its blocks, widths from res2's, doubling per stage."""
    factor = 2 ** (stage - 2)
    dim_out = config.res2_out * factor
    dim_in = config.stem_out if stage == 2 else dim_out // 2
    dim_inner = config.num_groups * config.width_per_group * factor
    blocks = []
    for index in range(RESNET_BLOCKS[config.depth][stage - 2]):
        blocks.append(BottleneckBlock(dim_in, dim_out, dim_inner, stride=first_stride if index == 0 else 1,
                                      groups=config.num_groups, norm=config.backbone_norm,
                                      stride_in_1x1=config.stride_in_1x1, dilation=dilation))
        dim_in = dim_out
    return nn.Sequential(*blocks)


def stage_width(config: NetConfig, stage: int) -> int:
    return config.res2_out * 2 ** (stage - 2)


class ResNet(nn.Module):
    """`stem`, then `res2`.. as attributes; `forward` returns {stage number: output} of the stages something
    reads (Detectron2's `out_features`): those FPN takes, or C4's res4 / DC5's res5 alone, so an export of the
    backbone (explorer.runtimes) hands back only features the heads use."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        if config.depth not in RESNET_BLOCKS:
            raise ValueError(f"ResNet depth {config.depth} is not one of {sorted(RESNET_BLOCKS)}")
        self.stem = BasicStem(config.stem_out, config.backbone_norm)
        self.stage_numbers = config.bottom_up_stages
        self.out_stages = config.fpn_stages if config.fpn else config.feature_levels
        for stage in self.stage_numbers:
            dilation = config.res5_dilation if stage == 5 else 1
            first_stride = 1 if stage == 2 or (stage == 5 and dilation == 2) else 2
            self.add_module(f"res{stage}", make_stage(config, stage, dilation=dilation, first_stride=first_stride))

    def out_channels(self, config: NetConfig) -> dict[int, int]:
        return {stage: stage_width(config, stage) for stage in self.stage_numbers}

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        x = self.stem(x)
        out = {}
        for stage in self.stage_numbers:
            x = getattr(self, f"res{stage}")(x)
            if stage in self.out_stages:
                out[stage] = x
        return out
