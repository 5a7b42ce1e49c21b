"""Detectron2's FPN (modeling/backbone/fpn.py): `fpn_lateral<L>` 1x1 and `fpn_output<L>` 3x3 per level,
top-down by nearest 2x upsampling and sum, and a top block: P6 = 1x1/2 max pool of P5 (R-CNN), or
`top_block.p6`/`p7` stride-2 3x3 convs on res5 and ReLU(P6) (RetinaNet). The level L of a stage is
log2 of its stride, so RegNet's s1..s4 are 2..5 like res2..res5. With a norm, the convs have no bias.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from explorer.models.detectron2.network.layers import Conv2d


class LastLevelP6P7(nn.Module):
    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.p6 = Conv2d(dim_in, dim_out, 3, stride=2, padding=1)
        self.p7 = Conv2d(dim_out, dim_out, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        p6 = self.p6(x)
        return [p6, self.p7(F.relu(p6))]


class FPN(nn.Module):
    """`bottom_up` (a ResNet or RegNet returning {level: features}), laterals, outputs, top block."""

    def __init__(self, bottom_up: nn.Module, in_channels: dict[int, int], dim: int, norm: str, *,
                 p6p7: bool) -> None:
        super().__init__()
        self.bottom_up = bottom_up
        self.levels = sorted(in_channels)
        for level in self.levels:
            self.add_module(f"fpn_lateral{level}", Conv2d(in_channels[level], dim, 1, norm=norm))
            self.add_module(f"fpn_output{level}", Conv2d(dim, dim, 3, padding=1, norm=norm))
        self.top_block = LastLevelP6P7(in_channels[self.levels[-1]], dim) if p6p7 else None

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        bottom_up = self.bottom_up(x)
        coarsest = self.levels[-1]
        path = getattr(self, f"fpn_lateral{coarsest}")(bottom_up[coarsest])
        out = {coarsest: getattr(self, f"fpn_output{coarsest}")(path)}
        for level in reversed(self.levels[:-1]):
            top_down = F.interpolate(path, scale_factor=2.0, mode="nearest")
            path = getattr(self, f"fpn_lateral{level}")(bottom_up[level]) + top_down
            out[level] = getattr(self, f"fpn_output{level}")(path)
        if self.top_block is None:
            out[coarsest + 1] = F.max_pool2d(out[coarsest], kernel_size=1, stride=2, padding=0)
        else:
            p6, p7 = self.top_block(bottom_up[coarsest])
            out[coarsest + 1], out[coarsest + 2] = p6, p7
        return dict(sorted(out.items()))
