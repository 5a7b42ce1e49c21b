"""The network of one Detectron config, assembled from the blob-named parts (model_builder.py).

`DetectronModel` holds the weights only; the test-time steps that use them (proposals, box scoring, masks,
keypoints, augmentation) live in `pipeline` and `tta`, mirroring Detectron's split between the network
definition and core/test.py.
"""

from __future__ import annotations

import torch
from torch import nn

from explorer.models.detectron.arch import DetectronArch
from explorer.models.detectron.network.fpn import FPN
from explorer.models.detectron.network.heads import (
    BoxOutputs,
    KeypointHead,
    MaskHeadC4,
    MaskHeadFPN,
    Res5Head,
    TwoMLPHead,
)
from explorer.models.detectron.network.resnet import ResNetBody
from explorer.models.detectron.network.retinanet import RetinaNetHead
from explorer.models.detectron.network.rpn import RPNHead


class DetectronModel(nn.Module):
    """Body (+FPN), RPN, box head and outputs, mask head, keypoint head or RetinaNet head, per `arch`."""

    def __init__(self, arch: DetectronArch) -> None:
        super().__init__()
        self.arch = arch
        self.body = ResNetBody(arch, with_res5=arch.fpn)
        self.fpn = FPN(arch) if arch.fpn else None
        self.rpn = RPNHead(arch) if arch.rpn_on else None
        self.box_head: nn.Module | None = None
        self.box_outputs = None
        if arch.box_on:
            self.box_head = TwoMLPHead(arch) if arch.box_head == "2mlp" else Res5Head(arch, arch.box_resolution)
            self.box_outputs = BoxOutputs(self.box_head.dim_out, arch.num_classes)
        self.mask_head: nn.Module | None = None
        if arch.mask_on:
            self.mask_head = MaskHeadFPN(arch) if arch.mask_head == "v1up4convs" else MaskHeadC4(arch)
        self.keypoint_head = KeypointHead(arch) if arch.keypoints_on else None
        self.retinanet = RetinaNetHead(arch) if arch.kind == "retinanet" else None

    def features(self, data: torch.Tensor) -> dict[int, torch.Tensor]:
        """Detectron's conv_body_net: {4: res4} for C4 bodies, {level: P_level} with FPN."""
        body = self.body(data)
        return self.fpn(body) if self.fpn is not None else {4: body[4]}

    def mask_logits(self, pooled: torch.Tensor) -> torch.Tensor:
        if isinstance(self.mask_head, MaskHeadC4):
            assert isinstance(self.box_head, Res5Head)
            return self.mask_head(pooled, self.box_head.res5)
        assert self.mask_head is not None
        return self.mask_head(pooled)
