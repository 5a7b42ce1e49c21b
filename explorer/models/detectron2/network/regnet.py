"""Detectron2's RegNet (modeling/backbone/regnet.py) as the LSJ rows use it: SimpleStem and ResBottleneckBlock.

The stage widths and depths follow RegNet's generator: block j of `depth` gets the continuous width
w_0 + j * w_a, quantised to w_0 * w_m^round(log(w / w_0) / log(w_m)) and to a multiple of 8; equal widths form
a stage; then group widths and block widths are made compatible. Modules are named as in Detectron2
(`stem.conv`/`stem.bn`, `s1.b1.proj`/`bn`, `f.a`/`a_bn`, `f.b`/`b_bn`, `f.se.f_ex.0/2`, `f.c`/`c_bn`), convs
without bias and each norm beside its conv (not inside it, unlike ResNet), so `fold_regnet` pairs them.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from explorer.models.detectron2.netconfig import RegNetParams
from explorer.models.detectron2.network.layers import Norm

QUANT = 8


def regnet_stages(params: RegNetParams) -> list[tuple[int, int, int]]:
    """(width, depth, group width) per stage, as Detectron2's generate_regnet_parameters +
    adjust_block_compatibility compute them."""
    if not (params.w_a >= 0 and params.w_0 > 0 and params.w_m > 1 and params.w_0 % QUANT == 0):
        raise ValueError(f"invalid RegNet parameters {params}")
    widths_cont = np.arange(params.depth) * params.w_a + params.w_0
    exponents = np.round(np.log(widths_cont / params.w_0) / np.log(params.w_m))
    widths_all = params.w_0 * np.power(params.w_m, exponents)
    widths_all = np.round(np.divide(widths_all, QUANT)).astype(int) * QUANT
    widths, depths = np.unique(widths_all, return_counts=True)
    out = []
    for width, depth in zip(widths.tolist(), depths.tolist(), strict=True):
        inner = int(max(1, width * params.bottleneck_ratio))
        group = int(min(params.group_width, inner))
        multiple = math.lcm(group, int(params.bottleneck_ratio)) if params.bottleneck_ratio > 1 else group
        inner = max(multiple, int(round(inner / multiple) * multiple))
        out.append((int(inner / params.bottleneck_ratio), int(depth), group))
    return out


def _conv(dim_in: int, dim_out: int, kernel: int, *, stride: int = 1, groups: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(dim_in, dim_out, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups, bias=bias)


class SimpleStem(nn.Module):
    def __init__(self, dim_out: int) -> None:
        super().__init__()
        self.conv = _conv(3, dim_out, 3, stride=2)
        self.bn = Norm(dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu_(self.bn(self.conv(x)))


class SE(nn.Module):
    """Squeeze-and-excitation: global average -> 1x1 (ReLU) -> 1x1 (sigmoid) -> channel weights."""

    def __init__(self, dim: int, dim_se: int) -> None:
        super().__init__()
        self.f_ex = nn.Sequential(_conv(dim, dim_se, 1, bias=True), nn.ReLU(inplace=True),
                                  _conv(dim_se, dim, 1, bias=True), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.f_ex(F.adaptive_avg_pool2d(x, 1))


class BottleneckTransform(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, stride: int, params: RegNetParams, group_width: int) -> None:
        super().__init__()
        inner = round(dim_out * params.bottleneck_ratio)
        dim_se = round(dim_in * params.se_ratio)
        self.a = _conv(dim_in, inner, 1)
        self.a_bn = Norm(inner)
        self.b = _conv(inner, inner, 3, stride=stride, groups=inner // group_width)
        self.b_bn = Norm(inner)
        self.se = SE(inner, dim_se) if dim_se else None
        self.c = _conv(inner, dim_out, 1)
        self.c_bn = Norm(dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu_(self.a_bn(self.a(x)))
        x = F.relu_(self.b_bn(self.b(x)))
        if self.se is not None:
            x = self.se(x)
        return self.c_bn(self.c(x))


class ResBottleneckBlock(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, stride: int, params: RegNetParams, group_width: int) -> None:
        super().__init__()
        self.proj: nn.Conv2d | None = None
        self.bn: nn.Module | None = None
        if dim_in != dim_out or stride != 1:
            self.proj = _conv(dim_in, dim_out, 1, stride=stride)
            self.bn = Norm(dim_out)
        self.f = BottleneckTransform(dim_in, dim_out, stride, params, group_width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.bn(self.proj(x)) if self.proj is not None and self.bn is not None else x
        return F.relu_(shortcut + self.f(x))


class RegNet(nn.Module):
    """`stem`, `s1`..`s4` (strides 4..32); `forward` returns {2: s1, 3: s2, 4: s3, 5: s4} (FPN levels)."""

    def __init__(self, params: RegNetParams) -> None:
        super().__init__()
        self.stem = SimpleStem(params.stem_width)
        self.widths = []
        dim_in = params.stem_width
        for index, (width, depth, group) in enumerate(regnet_stages(params), start=1):
            stage = nn.Module()
            for block in range(1, depth + 1):
                stage.add_module(f"b{block}", ResBottleneckBlock(dim_in, width, 2 if block == 1 else 1, params,
                                                                 group))
                dim_in = width
            self.add_module(f"s{index}", stage)
            self.widths.append(width)
        self.stage_names = [f"s{i}" for i in range(1, len(self.widths) + 1)]

    def out_channels(self) -> dict[int, int]:
        return {index + 2: width for index, width in enumerate(self.widths)}

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        x = self.stem(x)
        out = {}
        for index, name in enumerate(self.stage_names):
            for block in getattr(self, name).children():
                x = block(x)
            out[index + 2] = x
        return out


@torch.no_grad()
def _fold_pair(conv: nn.Conv2d, norm: Norm) -> None:
    scale, shift = norm.scale_shift()
    conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
    conv.bias = nn.Parameter(shift if conv.bias is None else conv.bias * scale + shift, requires_grad=False)


class _Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def fold_regnet(model: RegNet) -> None:
    """Fold every norm into the conv before it (inference only)."""
    _fold_pair(model.stem.conv, model.stem.bn)
    model.stem.bn = _Identity()  # type: ignore[assignment]
    for name in model.stage_names:
        for block in getattr(model, name).children():
            if block.proj is not None and isinstance(block.bn, Norm):
                _fold_pair(block.proj, block.bn)
                block.bn = _Identity()
            f = block.f
            for conv_name in ("a", "b", "c"):
                _fold_pair(getattr(f, conv_name), getattr(f, f"{conv_name}_bn"))
                setattr(f, f"{conv_name}_bn", _Identity())
