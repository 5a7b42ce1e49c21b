"""Detectron's Feature Pyramid Network (FPN.py: add_fpn), returning {level: features}.

Top-down from the coarsest backbone stage: a 1x1 `fpn_inner_<stage>` seeds the path, each finer stage adds its
1x1 lateral `fpn_inner_<stage>_lateral` to the 2x nearest-upsampled path, and a 3x3 `fpn_<stage>` smooths
every level. Above res5 either P6 is P5 subsampled by 2 (Faster/Mask R-CNN: a 1x1 max pool with stride 2) or
P6/P7 are stride-2 3x3 convs `fpn_6`/`fpn_7` on C5 and ReLU(P6) (RetinaNet's EXTRA_CONV_LEVELS).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from explorer.models.detectron.arch import DetectronArch
from explorer.models.detectron.network.layers import BlobConv
from explorer.models.detectron.network.resnet import STAGE_DIMS, stage_output_blob

LOWEST_BACKBONE_LEVEL = 2
HIGHEST_BACKBONE_LEVEL = 5


class FPN(nn.Module):
    """Levels `fpn_min_level`..`fpn_max_level` from a res2..res5 body's features."""

    def __init__(self, arch: DetectronArch) -> None:
        super().__init__()
        self.min_level, self.max_level = arch.fpn_min_level, arch.fpn_max_level
        self.stages = list(range(HIGHEST_BACKBONE_LEVEL, max(self.min_level, LOWEST_BACKBONE_LEVEL) - 1, -1))
        dim = arch.fpn_dim
        names = {stage: stage_output_blob(arch, stage) for stage in self.stages}
        coarsest = self.stages[0]
        self.inner = nn.ModuleDict({str(coarsest): BlobConv(f"fpn_inner_{names[coarsest]}",
                                                            STAGE_DIMS[coarsest - 2], dim, 1)})
        for stage in self.stages[1:]:
            self.inner[str(stage)] = BlobConv(f"fpn_inner_{names[stage]}_lateral", STAGE_DIMS[stage - 2], dim, 1)
        self.smooth = nn.ModuleDict({str(stage): BlobConv(f"fpn_{names[stage]}", dim, dim, 3, pad=1)
                                     for stage in self.stages})
        self.extra_convs = arch.fpn_extra_conv_levels and self.max_level > HIGHEST_BACKBONE_LEVEL
        self.subsample_p6 = not arch.fpn_extra_conv_levels and self.max_level == HIGHEST_BACKBONE_LEVEL + 1
        self.extra = nn.ModuleDict()
        if self.extra_convs:
            dim_in = STAGE_DIMS[-1]
            for level in range(HIGHEST_BACKBONE_LEVEL + 1, self.max_level + 1):
                self.extra[str(level)] = BlobConv(f"fpn_{level}", dim_in, dim, 3, stride=2, pad=1)
                dim_in = dim

    def forward(self, body: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        coarsest = self.stages[0]
        path = self.inner[str(coarsest)](body[coarsest])
        levels = {coarsest: self.smooth[str(coarsest)](path)}
        for stage in self.stages[1:]:
            lateral = self.inner[str(stage)](body[stage])
            path = lateral.add_(F.interpolate(path, scale_factor=2.0, mode="nearest"))
            levels[stage] = self.smooth[str(stage)](path)
        if self.subsample_p6:
            levels[HIGHEST_BACKBONE_LEVEL + 1] = levels[HIGHEST_BACKBONE_LEVEL][:, :, ::2, ::2]
        if self.extra_convs:
            x = body[HIGHEST_BACKBONE_LEVEL]
            for level in range(HIGHEST_BACKBONE_LEVEL + 1, self.max_level + 1):
                if level > HIGHEST_BACKBONE_LEVEL + 1:
                    x = F.relu(x)
                x = self.extra[str(level)](x)
                levels[level] = x
        return levels
