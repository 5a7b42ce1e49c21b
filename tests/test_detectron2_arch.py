"""`arch_from_config`: a Detectron2 config-table row (all text) becomes typed facts, or a clear refusal."""

from __future__ import annotations

import pytest

from explorer.models.catalog import NotRunnableError
from explorer.models.detectron2.arch import (
    Detectron2Arch,
    RegNetSpec,
    ResNetSpec,
    UnsupportedConfigError,
    arch_from_config,
)


def mask_fpn_row(**changes: str) -> dict[str, str]:
    """A Mask R-CNN R-50-FPN row as the config table holds it (the values of Base-RCNN-FPN.yaml + defaults.py)."""
    row = {
        "config": "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x", "config_format": "yacs",
        "meta_architecture": "GeneralizedRCNN", "bottom_up": "ResNet", "resnet_depth": "50",
        "resnet_num_groups": "1", "resnet_width_per_group": "64", "resnet_stride_in_1x1": "true",
        "resnet_res5_dilation": "1", "resnet_stem_out_channels": "64", "resnet_res2_out_channels": "256",
        "resnet_norm": "FrozenBN", "resnet_stem_norm": "FrozenBN", "backbone_out_features": "res2;res3;res4;res5",
        "fpn_in_features": "res2;res3;res4;res5", "fpn_out_channels": "256", "fpn_norm": "", "fpn_fuse_type": "sum",
        "fpn_top_block": "LastLevelMaxPool", "fpn_top_block_in_feature": "p5",
        "anchor_sizes": "32|64|128|256|512", "anchor_aspect_ratios": "0.5;1.0;2.0", "anchor_offset": "0.0",
        "proposal_generator": "RPN", "proposal_min_size": "0", "rpn_in_features": "p2;p3;p4;p5;p6",
        "rpn_head_conv_dims": "-1", "rpn_pre_nms_topk_test": "1000", "rpn_post_nms_topk_test": "1000",
        "rpn_nms_thresh": "0.7", "rpn_bbox_reg_weights": "1.0;1.0;1.0;1.0", "rpn_boundary_thresh": "-1",
        "roi_heads_name": "StandardROIHeads", "roi_heads_in_features": "p2;p3;p4;p5", "num_classes": "80",
        "roi_score_thresh_test": "0.05", "roi_nms_thresh_test": "0.5", "detections_per_image": "100",
        "box_head_name": "FastRCNNConvFCHead", "box_head_num_conv": "0", "box_head_conv_dim": "256",
        "box_head_num_fc": "2", "box_head_fc_dim": "1024", "box_head_norm": "", "box_pooler_resolution": "7",
        "box_pooler_sampling_ratio": "0", "box_pooler_type": "ROIAlignV2", "box_bbox_reg_weights": "10.0;10.0;5.0;5.0",
        "box_cls_agnostic_bbox_reg": "false", "mask_on": "true", "mask_head_name": "MaskRCNNConvUpsampleHead",
        "mask_head_num_conv": "4", "mask_head_conv_dim": "256", "mask_head_norm": "", "mask_pooler_resolution": "14",
        "mask_pooler_sampling_ratio": "0", "mask_pooler_type": "ROIAlignV2", "mask_cls_agnostic": "false",
        "keypoint_on": "false", "min_size_test": "800", "max_size_test": "1333", "input_format": "BGR",
        "pixel_mean": "103.53;116.28;123.675", "pixel_std": "1.0;1.0;1.0", "load_proposals": "false",
        "precomputed_proposal_topk_test": "1000", "test_aug": "false", "defaults_used": "MODEL.PIXEL_MEAN;INPUT.FORMAT",
    }
    row.update(changes)
    return row


def test_a_mask_fpn_row_reads_into_typed_facts() -> None:
    arch = arch_from_config(mask_fpn_row())
    assert isinstance(arch, Detectron2Arch)
    assert (arch.kind, arch.structure, arch.meta_architecture) == ("mask", "FPN", "GeneralizedRCNN")
    assert isinstance(arch.backbone, ResNetSpec) and arch.backbone.stage_blocks == (3, 4, 6, 3)
    assert arch.backbone.out_channels["res5"] == 2048
    assert arch.fpn is not None and arch.fpn.out_features == ("p2", "p3", "p4", "p5", "p6")
    assert arch.anchors is not None and arch.anchors.per_level(5)[4] == ((512.0,), (0.5, 1.0, 2.0))
    assert arch.anchors.num_anchors() == 3
    assert arch.rpn is not None and arch.rpn.pre_nms_topk_test == 1000 and arch.rpn.head_conv_dims == (-1,)
    heads = arch.roi_heads
    assert heads is not None and heads.mask is not None and heads.keypoint is None
    assert heads.box.pooler.aligned and heads.box.pooler.resolution == 7
    assert heads.box.bbox_reg_weights == (10.0, 10.0, 5.0, 5.0)
    assert arch.input.pixel_mean == (103.53, 116.28, 123.675) and arch.input.size_divisibility == 32
    assert arch.outputs == frozenset({"boxes", "masks"}) and arch.num_classes == 80
    assert arch.defaults_used == ("MODEL.PIXEL_MEAN", "INPUT.FORMAT") and not arch.lsj


def test_norms_are_read_as_they_run_at_test_time() -> None:
    arch = arch_from_config(mask_fpn_row(resnet_norm="SyncBN", resnet_stem_norm="NaiveSyncBN", fpn_norm="GN",
                                         box_head_norm="BN", mask_head_norm="NaiveSyncBN"))
    assert isinstance(arch.backbone, ResNetSpec)
    assert (arch.backbone.norm, arch.backbone.stem_norm) == ("BN", "BN")
    assert arch.fpn is not None and arch.fpn.norm == "GN"
    assert arch.roi_heads is not None and arch.roi_heads.mask is not None
    assert (arch.roi_heads.box.norm, arch.roi_heads.mask.norm) == ("BN", "BN")


def test_kinds_follow_the_meta_architecture_and_heads() -> None:
    assert arch_from_config(mask_fpn_row(mask_on="false")).kind == "faster"
    assert arch_from_config(mask_fpn_row(mask_on="false", meta_architecture="ProposalNetwork")).outputs == {
        "proposals"}
    fast = arch_from_config(mask_fpn_row(mask_on="false", proposal_generator="PrecomputedProposals",
                                         load_proposals="true", proposals_config="COCO-Detection/rpn_R_50_FPN_1x"))
    assert fast.kind == "fast" and fast.rpn is None and fast.proposals_config == "COCO-Detection/rpn_R_50_FPN_1x"


def test_a_regnet_row_reads_its_stage_widths() -> None:
    arch = arch_from_config(mask_fpn_row(
        config_format="lazy", bottom_up="RegNet", regnet_stem_width="32", regnet_depth="22", regnet_w_a="31.41",
        regnet_w_0="96", regnet_w_m="2.24", regnet_group_width="64", regnet_stage_depths="2;6;12;2",
        regnet_stage_widths="96;192;432;1088", regnet_stage_group_widths="64;64;64;64",
        regnet_bottleneck_ratio="1.0", regnet_se_ratio="0.25", regnet_stride="2", regnet_norm="SyncBN",
        backbone_out_features="s1;s2;s3;s4", fpn_in_features="s1;s2;s3;s4"))
    assert isinstance(arch.backbone, RegNetSpec) and arch.lsj
    assert arch.backbone.out_channels == {"s1": 96, "s2": 192, "s3": 432, "s4": 1088}
    assert arch.backbone.norm == "BN" and arch.backbone.se_ratio == 0.25
    assert arch.fpn is not None and arch.fpn.out_features == ("p2", "p3", "p4", "p5", "p6")


@pytest.mark.parametrize(("changes", "named"), [
    ({"meta_architecture": "PanopticFPN"}, "meta architecture 'PanopticFPN'"),
    ({"resnet_depth": "18"}, "ResNet depth 18"),
    ({"bottom_up": "Swin"}, "bottom-up backbone 'Swin'"),
    ({"resnet_norm": "LN"}, "resnet_norm = 'LN'"),
    ({"box_pooler_type": "ROIPool"}, "pooler type 'ROIPool'"),
    ({"fpn_fuse_type": "avg"}, "FPN fuse type 'avg'"),
    ({"mask_head_name": "PointRendMaskHead"}, "mask head 'PointRendMaskHead'"),
    ({"test_aug": "true"}, "test-time augmentation"),
    ({"input_format": "YUV"}, "input format 'YUV'"),
    ({"rpn_bbox_reg_weights": "1;1;1"}, "4 box-coding weights"),
    ({"num_classes": ""}, "no value for 'num_classes'"),
    ({"rpn_nms_thresh": "high"}, "rpn_nms_thresh = 'high'"),
])
def test_unsupported_or_broken_rows_are_refused_by_name(changes: dict[str, str], named: str) -> None:
    with pytest.raises(UnsupportedConfigError) as caught:
        arch_from_config(mask_fpn_row(**changes))
    assert named in str(caught.value)
    assert str(caught.value).startswith("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x: ")
    assert isinstance(caught.value, NotRunnableError)
