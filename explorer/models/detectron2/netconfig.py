"""What the network and the test-time code of one Detectron2 config need, in this package's own terms.

No torch here: the catalog builds specs (and decides what is runnable) on the zoo pages. The zoo row's config
facts arrive as a `Detectron2Arch` (explorer.models.detectron2.arch, generated from the configs); `adapt`
turns one into a `NetConfig`. Keeping the network's view separate lets tests build the same architectures at
reduced widths (`res2_out`, `stem_out`, `fpn_dim`, head widths are real Detectron2 config keys), so checkpoint
and inference tests run in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explorer.models.detectron2.arch import Detectron2Arch

#: Blocks per ResNet stage res2..res5 by depth (Detectron2's build_resnet_backbone).
RESNET_BLOCKS: dict[int, tuple[int, int, int, int]] = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


@dataclass(frozen=True)
class RegNetParams:
    """RegNet's generator (Detectron2 regnet.RegNet): widths from w_a, w_0, w_m over `depth` blocks."""

    depth: int
    w_a: float
    w_0: int
    w_m: float
    group_width: int
    stem_width: int = 32
    se_ratio: float = 0.0
    bottleneck_ratio: float = 1.0


@dataclass(frozen=True)
class NetConfig:
    """One Detectron2 model. `meta`: rcnn | rpn (ProposalNetwork) | retinanet; `layout`: FPN | C4 | DC5.

    Norms are "" (none: conv with bias), "FrozenBN" or "BN" (BN, SyncBN and NaiveSyncBN at test time: an
    affine transform with the running statistics, the same arithmetic as FrozenBN).
    """

    config: str
    meta: str = "rcnn"
    layout: str = "FPN"
    num_classes: int = 80
    # ResNet / ResNeXt body (backbone "resnet") or RegNet (backbone "regnet", `regnet` set)
    backbone: str = "resnet"
    depth: int = 50
    num_groups: int = 1
    width_per_group: int = 64
    stem_out: int = 64
    res2_out: int = 256
    stride_in_1x1: bool = True
    res5_dilation: int = 1
    backbone_norm: str = "FrozenBN"
    regnet: RegNetParams | None = None
    # FPN
    fpn_dim: int = 256
    fpn_norm: str = ""
    # RPN
    rpn_convs: int = 1
    anchor_sizes: tuple[tuple[float, ...], ...] = ((32.0,), (64.0,), (128.0,), (256.0,), (512.0,))
    anchor_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    anchor_offset: float = 0.0
    rpn_pre_nms_topk: int = 1000
    rpn_post_nms_topk: int = 1000
    rpn_nms_thresh: float = 0.7
    rpn_min_box_size: float = 0.0
    rpn_bbox_reg_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    precomputed_proposals: bool = False
    proposal_topk: int = 1000  # DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TEST
    # RoI heads
    box_pooler_resolution: int = 7
    box_sampling_ratio: int = 0
    box_aligned: bool = True  # ROIAlignV2 (True) or ROIAlign (False)
    box_convs: int = 0
    box_conv_dim: int = 256
    box_fcs: int = 2
    box_fc_dim: int = 1024
    box_norm: str = ""
    cls_agnostic_bbox_reg: bool = False
    bbox_reg_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    score_thresh: float = 0.05
    nms_thresh: float = 0.5
    detections_per_image: int = 100
    mask_on: bool = False
    mask_pooler_resolution: int = 14
    mask_sampling_ratio: int = 0
    mask_aligned: bool = True
    mask_convs: int = 4
    mask_conv_dim: int = 256
    mask_norm: str = ""
    cls_agnostic_mask: bool = False
    keypoint_on: bool = False
    num_keypoints: int = 17
    keypoint_pooler_resolution: int = 14
    keypoint_sampling_ratio: int = 0
    keypoint_aligned: bool = True
    keypoint_conv_dims: tuple[int, ...] = (512,) * 8
    canonical_box_size: int = 224
    canonical_level: int = 4
    # RetinaNet
    retinanet_convs: int = 4
    retinanet_norm: str = ""
    retinanet_score_thresh: float = 0.05
    retinanet_topk: int = 1000
    retinanet_nms_thresh: float = 0.5
    # input
    min_size: int = 800
    max_size: int = 1333
    input_format: str = "BGR"
    pixel_mean: tuple[float, float, float] = (103.53, 116.28, 123.675)
    pixel_std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    size_divisibility: int = 32
    square_pad: int = 0
    lsj: bool = False  # trained with large-scale jitter (the "Mask R-CNN (LSJ)" rows)
    extras: tuple[str, ...] = field(default=(), compare=False)

    @property
    def fpn(self) -> bool:
        return self.layout == "FPN"

    @property
    def bottom_up_stages(self) -> tuple[int, ...]:
        """ResNet stages the backbone computes: res2..res4 for C4 (res5 lives in the RoI head), else res2..res5."""
        return (2, 3, 4) if self.layout == "C4" else (2, 3, 4, 5)

    @property
    def fpn_stages(self) -> tuple[int, ...]:
        """Backbone stages FPN reads: res3..res5 for RetinaNet (P6/P7 come from res5), else res2..res5."""
        return (3, 4, 5) if self.meta == "retinanet" else (2, 3, 4, 5)

    @property
    def feature_levels(self) -> tuple[int, ...]:
        """Levels of the features the heads read (FPN: P2..P6 or P3..P7; C4: res4 = 4; DC5: res5 = 5 at 1/16)."""
        if self.fpn:
            return (3, 4, 5, 6, 7) if self.meta == "retinanet" else (2, 3, 4, 5, 6)
        return (4,) if self.layout == "C4" else (5,)

    @property
    def roi_levels(self) -> tuple[int, ...]:
        return (2, 3, 4, 5) if self.fpn else self.feature_levels

    def stride(self, level: int) -> int:
        """Feature stride of a level; DC5's dilated res5 stays at 1/16."""
        return 16 if self.layout == "DC5" else 2**level

    @property
    def retinanet_anchors_per_cell(self) -> int:
        return len(self.anchor_sizes[0]) * len(self.anchor_ratios)

    @property
    def outputs(self) -> frozenset[str]:
        if self.meta == "rpn":
            return frozenset({"proposals"})
        return frozenset({"boxes"} | ({"masks"} if self.mask_on else set())
                         | ({"keypoints"} if self.keypoint_on else set()))


# --- from the config table's facts ---------------------------------------------------------------------------


def _level(name: str) -> int:
    from explorer.models.detectron2.arch import FEATURE_STRIDES

    return FEATURE_STRIDES[name].bit_length() - 1


def _norm(arch: Detectron2Arch, what: str, norm: str) -> str:
    from explorer.models.detectron2.arch import UnsupportedConfigError

    if norm == "GN":
        raise UnsupportedConfigError(f"{arch.config}: GroupNorm in the {what} is not built by this port")
    return norm


def _backbone_fields(arch: Detectron2Arch) -> dict[str, Any]:
    from explorer.models.detectron2.arch import RegNetSpec, UnsupportedConfigError

    backbone = arch.backbone
    if isinstance(backbone, RegNetSpec):
        params = RegNetParams(depth=backbone.depth, w_a=backbone.w_a, w_0=backbone.w_0, w_m=backbone.w_m,
                              group_width=backbone.group_width, stem_width=backbone.stem_width,
                              se_ratio=backbone.se_ratio, bottleneck_ratio=backbone.bottleneck_ratio)
        return {"backbone": "regnet", "regnet": params, "backbone_norm": _norm(arch, "RegNet", backbone.norm)}
    if backbone.norm != backbone.stem_norm:
        raise UnsupportedConfigError(f"{arch.config}: stem norm {backbone.stem_norm!r} differs from the stages' "
                                     f"{backbone.norm!r}")
    return {"backbone": "resnet", "depth": backbone.depth, "num_groups": backbone.num_groups,
            "width_per_group": backbone.width_per_group, "stem_out": backbone.stem_out_channels,
            "res2_out": backbone.res2_out_channels, "stride_in_1x1": backbone.stride_in_1x1,
            "res5_dilation": backbone.res5_dilation, "backbone_norm": _norm(arch, "backbone", backbone.norm)}


def _rpn_fields(arch: Detectron2Arch) -> dict[str, Any]:
    from explorer.models.detectron2.arch import UnsupportedConfigError

    values: dict[str, Any] = {}
    if arch.anchors is not None:
        ratios = set(arch.anchors.aspect_ratios)
        if len(ratios) != 1:
            raise UnsupportedConfigError(f"{arch.config}: different aspect ratios per level")
        values.update(anchor_sizes=arch.anchors.sizes, anchor_ratios=arch.anchors.aspect_ratios[0],
                      anchor_offset=arch.anchors.offset)
    rpn = arch.rpn
    if rpn is not None:
        if any(dim != -1 for dim in rpn.head_conv_dims):
            raise UnsupportedConfigError(f"{arch.config}: RPN head conv widths {rpn.head_conv_dims}")
        values.update(rpn_convs=len(rpn.head_conv_dims), rpn_pre_nms_topk=rpn.pre_nms_topk_test,
                      rpn_post_nms_topk=rpn.post_nms_topk_test, rpn_nms_thresh=rpn.nms_thresh,
                      rpn_min_box_size=rpn.min_box_size, rpn_bbox_reg_weights=rpn.bbox_reg_weights)
    return values


def _roi_fields(arch: Detectron2Arch) -> dict[str, Any]:
    heads = arch.roi_heads
    if heads is None:
        return {}
    box = heads.box
    values: dict[str, Any] = {
        "num_classes": heads.num_classes, "box_pooler_resolution": box.pooler.resolution,
        "box_sampling_ratio": box.pooler.sampling_ratio, "box_aligned": box.pooler.aligned,
        "box_convs": box.num_conv, "box_conv_dim": box.conv_dim, "box_fcs": box.num_fc, "box_fc_dim": box.fc_dim,
        "box_norm": _norm(arch, "box head", box.norm), "cls_agnostic_bbox_reg": box.cls_agnostic_bbox_reg,
        "bbox_reg_weights": box.bbox_reg_weights, "score_thresh": heads.score_thresh_test,
        "nms_thresh": heads.nms_thresh_test, "detections_per_image": heads.detections_per_image,
    }
    if heads.mask is not None:
        mask = heads.mask
        values.update(mask_on=True, mask_pooler_resolution=mask.pooler.resolution,
                      mask_sampling_ratio=mask.pooler.sampling_ratio, mask_aligned=mask.pooler.aligned,
                      mask_convs=mask.num_conv, mask_conv_dim=mask.conv_dim,
                      mask_norm=_norm(arch, "mask head", mask.norm), cls_agnostic_mask=mask.cls_agnostic)
    if heads.keypoint is not None:
        keypoint = heads.keypoint
        values.update(keypoint_on=True, num_keypoints=keypoint.num_keypoints,
                      keypoint_pooler_resolution=keypoint.pooler.resolution,
                      keypoint_sampling_ratio=keypoint.pooler.sampling_ratio,
                      keypoint_aligned=keypoint.pooler.aligned, keypoint_conv_dims=keypoint.conv_dims)
    return values


def _retinanet_fields(arch: Detectron2Arch) -> dict[str, Any]:
    head = arch.retinanet
    if head is None:
        return {}
    return {"num_classes": head.num_classes, "retinanet_convs": head.num_convs,
            "retinanet_norm": _norm(arch, "RetinaNet head", head.norm),
            "retinanet_score_thresh": head.score_thresh_test, "retinanet_topk": head.topk_candidates_test,
            "retinanet_nms_thresh": head.nms_thresh_test, "detections_per_image": head.detections_per_image}


def adapt(arch: Detectron2Arch) -> NetConfig:
    """The network's view of a config row's `Detectron2Arch`; UnsupportedConfigError for what is not built."""
    from explorer.models.detectron2.arch import UnsupportedConfigError

    meta = {"rpn": "rpn", "retinanet": "retinanet"}.get(arch.kind, "rcnn")
    fpn = arch.fpn
    values: dict[str, Any] = {
        "config": arch.config, "meta": meta, "layout": arch.structure,
        **_backbone_fields(arch), **_rpn_fields(arch), **_roi_fields(arch), **_retinanet_fields(arch),
        "precomputed_proposals": arch.kind == "fast", "proposal_topk": arch.precomputed_proposal_topk_test,
        "min_size": arch.input.min_size_test, "max_size": arch.input.max_size_test,
        "input_format": arch.input.format, "pixel_mean": arch.input.pixel_mean, "pixel_std": arch.input.pixel_std,
        "size_divisibility": arch.input.size_divisibility, "lsj": arch.lsj,
    }
    if fpn is not None:
        values.update(fpn_dim=fpn.out_channels, fpn_norm=_norm(arch, "FPN", fpn.norm))
    config = NetConfig(**values)
    problems = []
    if fpn is not None and tuple(_level(name) for name in fpn.in_features) != config.fpn_stages:
        problems.append(f"FPN inputs {fpn.in_features}")
    features = arch.rpn.in_features if arch.rpn is not None else (
        arch.retinanet.in_features if arch.retinanet is not None else ())
    levels = tuple(16 if config.layout == "DC5" else FEATURE_STRIDES_BY_NAME.get(name, 0) for name in features)
    if features and levels != tuple(config.stride(level) for level in config.feature_levels):
        problems.append(f"head inputs {features}")
    if problems:
        raise UnsupportedConfigError(f"{arch.config}: not built by this port: {'; '.join(problems)}")
    return config


FEATURE_STRIDES_BY_NAME = {"res4": 16, "res5": 32, "p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64, "p7": 128}
