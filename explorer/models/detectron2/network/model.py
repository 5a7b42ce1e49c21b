"""A Detectron2 detector: `backbone`, `proposal_generator`, `roi_heads` (GeneralizedRCNN, ProposalNetwork) or
`backbone`, `head` (RetinaNet), so that `model.state_dict()` keys are the names in a zoo checkpoint.

FPN models: `backbone` is the FPN and `backbone.bottom_up` the ResNet/RegNet. C4 and DC5 models: `backbone`
is the ResNet itself (C4 stops at res4; its res5 is `roi_heads.res5`).
"""

from __future__ import annotations

import torch
from torch import nn

from explorer.models.detectron2.netconfig import NetConfig
from explorer.models.detectron2.network.fpn import FPN
from explorer.models.detectron2.network.layers import fold_norms
from explorer.models.detectron2.network.regnet import RegNet, fold_regnet
from explorer.models.detectron2.network.resnet import ResNet
from explorer.models.detectron2.network.retinanet import RetinaNetHead
from explorer.models.detectron2.network.roi_heads import ROIHeads
from explorer.models.detectron2.network.rpn import RPN, AnchorGenerator


def _bottom_up(config: NetConfig) -> tuple[nn.Module, dict[int, int]]:
    if config.backbone == "regnet":
        if config.regnet is None:
            raise ValueError(f"{config.config}: a RegNet backbone without RegNet parameters")
        regnet = RegNet(config.regnet)
        return regnet, regnet.out_channels()
    resnet = ResNet(config)
    return resnet, resnet.out_channels(config)


class Detectron2Model(nn.Module):
    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        bottom_up, channels = _bottom_up(config)
        if config.fpn:
            in_channels = {level: channels[level] for level in config.fpn_stages}
            self.backbone: nn.Module = FPN(bottom_up, in_channels, config.fpn_dim, config.fpn_norm,
                                           p6p7=config.meta == "retinanet")
            head_dim = config.fpn_dim
        else:
            if config.backbone != "resnet":
                raise ValueError(f"{config.config}: {config.layout} needs a ResNet backbone")
            self.backbone = bottom_up
            head_dim = channels[config.feature_levels[0]]
        strides = tuple(config.stride(level) for level in config.feature_levels)
        self.proposal_generator: RPN | None = None
        self.roi_heads: ROIHeads | None = None
        self.head: RetinaNetHead | None = None
        self.anchor_generator: AnchorGenerator | None = None
        if config.meta == "retinanet":
            self.anchor_generator = AnchorGenerator(config.anchor_sizes, config.anchor_ratios, strides,
                                                    config.anchor_offset)
            self.head = RetinaNetHead(head_dim, config.retinanet_anchors_per_cell, config.num_classes,
                                      config.retinanet_convs, config.retinanet_norm)
            return
        if not config.precomputed_proposals:
            self.proposal_generator = RPN(
                head_dim, config.anchor_sizes, config.anchor_ratios, strides, config.anchor_offset, config.rpn_convs,
                pre_nms_topk=config.rpn_pre_nms_topk, post_nms_topk=config.rpn_post_nms_topk,
                nms_thresh=config.rpn_nms_thresh, min_box_size=config.rpn_min_box_size,
                weights=config.rpn_bbox_reg_weights)
        if config.meta == "rcnn":
            self.roi_heads = ROIHeads(config, head_dim)

    def features(self, images: torch.Tensor) -> dict[int, torch.Tensor]:
        """{level: features} the heads read (FPN P-levels; res4 for C4; the dilated res5 for DC5)."""
        out = self.backbone(images)
        if self.config.fpn:
            return out
        level = self.config.feature_levels[0]
        return {level: out[level]}

    def head_inputs(self, features: dict[int, torch.Tensor]) -> list[torch.Tensor]:
        return [features[level] for level in self.config.feature_levels]


def fold_model(model: Detectron2Model) -> None:
    """Fold every test-time norm into its conv (inference only; the state dict changes layout)."""
    fold_norms(model)
    bottom_up = model.backbone.bottom_up if model.config.fpn else model.backbone
    if isinstance(bottom_up, RegNet):
        fold_regnet(bottom_up)
