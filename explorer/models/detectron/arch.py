"""A Detectron config row (the zoo's config table, given with the zoo row) as the typed facts the port runs from.

No torch here: the catalog turns every zoo row into a spec (and decides whether it is runnable) on the zoo
pages. Values the config table leaves empty because Detectron never varies them in the 12_2017 baselines are
Detectron's defaults (detectron/core/config.py), named below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from explorer.errors import ExplorerError

#: Blocks per stage (res2, res3, res4, res5) by ResNet depth (ResNet.py: add_ResNet{50,101,152}_conv5_body).
STAGE_BLOCKS: Mapping[int, tuple[int, int, int, int]] = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
MASK_DIM_REDUCED = 256  # MRCNN.DIM_REDUCED
KEYPOINT_DECONV_KERNEL = 4  # KRCNN.DECONV_KERNEL
RPN_C4_STRIDE = 16  # RPN.STRIDE: the C4 body's res4 is 1/16 of the input
DEDUP_BOXES = 1 / 16  # cfg.DEDUP_BOXES: Fast R-CNN feeds each distinct 1/16-rounded RoI once
MIN_PROPOSAL_SIZE = 2  # JsonDataset.get_roidb(min_proposal_size=2) for precomputed proposals
MASK_THRESH_BINARIZE = 0.5  # MRCNN.THRESH_BINARIZE

BOX_HEADS = {"fast_rcnn_heads.add_roi_2mlp_head": "2mlp", "ResNet.add_ResNet_roi_conv5_head": "res5"}
MASK_HEADS = {"mask_rcnn_heads.mask_rcnn_fcn_head_v1up4convs": "v1up4convs",
              "mask_rcnn_heads.mask_rcnn_fcn_head_v0upshare": "v0upshare"}
KEYPOINT_HEADS = {"keypoint_rcnn_heads.add_roi_pose_head_v1convX": "v1convX"}


class UnsupportedConfigError(ExplorerError, ValueError):
    """A config this port cannot build (never raised for the 74 12_2017 baselines)."""


@dataclass(frozen=True)
class DetectronArch:
    """What to build and how to run it. `kind`: rpn | faster | fast (on precomputed proposals) | retinanet."""

    config: str
    kind: str
    num_classes: int
    mask_on: bool = False
    keypoints_on: bool = False
    # ResNet / ResNeXt body
    depth: int = 50
    num_groups: int = 1
    width_per_group: int = 64
    stride_1x1: bool = True
    res5_dilation: int = 1
    # FPN (fpn=False: the C4 body, res2..res4, with res5 as the RoI head)
    fpn: bool = False
    fpn_dim: int = 256
    fpn_min_level: int = 2
    fpn_max_level: int = 6
    fpn_extra_conv_levels: bool = False
    coarsest_stride: int = 32
    # RPN
    rpn_anchor_sizes: tuple[float, ...] = (32.0, 64.0, 128.0, 256.0, 512.0)
    rpn_aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    rpn_min_level: int = 2
    rpn_max_level: int = 6
    rpn_pre_nms_top_n: int = 1000
    rpn_post_nms_top_n: int = 1000
    rpn_nms_thresh: float = 0.7
    # RoI heads
    roi_min_level: int = 2
    roi_max_level: int = 5
    roi_canonical_scale: float = 224.0
    roi_canonical_level: int = 4
    box_head: str = ""  # "2mlp" | "res5" | ""
    box_resolution: int = 7
    box_sampling_ratio: int = 2
    mlp_dim: int = 1024
    bbox_reg_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    mask_head: str = ""  # "v1up4convs" | "v0upshare" | ""
    mask_resolution: int = 28
    mask_roi_resolution: int = 14
    mask_sampling_ratio: int = 2
    mask_dilation: int = 1
    num_keypoints: int = 17
    heatmap_size: int = 56
    keypoint_roi_resolution: int = 14
    keypoint_sampling_ratio: int = 2
    keypoint_conv_dim: int = 512
    keypoint_num_convs: int = 8
    keypoint_up_scale: int = 2
    keypoint_deconv_output: bool = True
    # RetinaNet
    retinanet_num_convs: int = 4
    retinanet_scales_per_octave: int = 3
    retinanet_aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5)
    retinanet_anchor_scale: float = 4.0
    retinanet_pre_nms_top_n: int = 1000
    retinanet_inference_th: float = 0.05
    # Test
    test_scale: int = 800
    test_max_size: int = 1333
    test_nms: float = 0.5
    test_score_thresh: float = 0.05
    test_detections_per_im: int = 100
    proposal_limit: int = 1000
    bbox_vote: bool = False
    bbox_vote_th: float = 0.8
    tta: bool = False
    tta_scales: tuple[int, ...] = ()
    tta_max_size: int = 4000
    tta_h_flip: bool = False
    tta_scale_h_flip: bool = False
    tta_score_heur: str = "UNION"
    tta_coord_heur: str = "UNION"
    tta_mask_aug: bool = False
    tta_mask_heur: str = "SOFT_AVG"
    pixel_means: tuple[float, float, float] = (102.9801, 115.9465, 122.7717)
    defaults_used: tuple[str, ...] = field(default=(), compare=False)

    @property
    def stage_blocks(self) -> tuple[int, int, int, int]:
        return STAGE_BLOCKS[self.depth]

    @property
    def rpn_on(self) -> bool:
        """An in-network RPN: RPN-only and end-to-end models (not Fast R-CNN on proposals, not RetinaNet)."""
        return self.kind in ("rpn", "faster")

    @property
    def box_on(self) -> bool:
        return self.kind in ("faster", "fast")

    @property
    def pad_stride(self) -> int:
        """Detectron pads the input to a multiple of FPN.COARSEST_STRIDE when FPN is on, else not at all."""
        return self.coarsest_stride if self.fpn else 0

    @property
    def outputs(self) -> frozenset[str]:
        if self.kind == "rpn":
            return frozenset({"proposals"})
        return frozenset({"boxes"} | ({"masks"} if self.mask_on else set())
                         | ({"keypoints"} if self.keypoints_on else set()))


def _bool(value: str) -> bool:
    return value.strip().lower() == "true"


def _floats(value: str) -> tuple[float, ...]:
    return tuple(float(part) for part in value.split(";") if part.strip())


def _ints(value: str) -> tuple[int, ...]:
    return tuple(int(float(part)) for part in value.split(";") if part.strip())


def _kind(row: Mapping[str, str]) -> str:
    if _bool(row["retinanet_on"]):
        return "retinanet"
    if _bool(row["rpn_only"]):
        return "rpn"
    return "fast" if _bool(row["precomputed_proposals"]) else "faster"


def _lookup(table: Mapping[str, str], value: str, what: str, config: str) -> str:
    if not value:
        return ""
    if value not in table:
        raise UnsupportedConfigError(f"{config}: {what} {value!r} is not supported")
    return table[value]


class _Fields:
    """Typed reads of one text row; an empty cell keeps the dataclass default."""

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.row = {key: "" if value is None else str(value) for key, value in row.items()}
        self.values: dict[str, Any] = {}

    def put(self, name: str, column: str, convert: Any) -> None:
        text = self.row.get(column, "").strip()
        if text and text.lower() != "nan":
            self.values[name] = convert(text)


_INT_FIELDS = {
    "depth": "depth", "num_groups": "num_groups", "width_per_group": "width_per_group",
    "res5_dilation": "res5_dilation", "fpn_dim": "fpn_dim", "fpn_min_level": "fpn_min_level",
    "fpn_max_level": "fpn_max_level", "coarsest_stride": "fpn_coarsest_stride", "rpn_min_level": "rpn_min_level",
    "rpn_max_level": "rpn_max_level", "rpn_pre_nms_top_n": "rpn_pre_nms_top_n_test",
    "rpn_post_nms_top_n": "rpn_post_nms_top_n_test", "roi_min_level": "roi_min_level",
    "roi_max_level": "roi_max_level", "roi_canonical_level": "roi_canonical_level",
    "box_resolution": "roi_xform_resolution", "box_sampling_ratio": "roi_xform_sampling_ratio",
    "mlp_dim": "mlp_head_dim", "mask_resolution": "mask_resolution", "mask_roi_resolution": "mask_roi_xform_resolution",
    "mask_sampling_ratio": "mask_roi_xform_sampling_ratio", "mask_dilation": "mask_dilation",
    "num_keypoints": "num_keypoints", "heatmap_size": "keypoint_heatmap_size",
    "keypoint_roi_resolution": "keypoint_roi_xform_resolution",
    "keypoint_sampling_ratio": "keypoint_roi_xform_sampling_ratio", "keypoint_conv_dim": "keypoint_conv_dim",
    "keypoint_num_convs": "keypoint_num_convs", "keypoint_up_scale": "keypoint_up_scale",
    "retinanet_num_convs": "retinanet_num_convs", "retinanet_scales_per_octave": "retinanet_scales_per_octave",
    "retinanet_pre_nms_top_n": "retinanet_pre_nms_top_n", "test_scale": "test_scale",
    "test_max_size": "test_max_size", "test_detections_per_im": "test_detections_per_im",
    "proposal_limit": "test_proposal_limit", "tta_max_size": "tta_max_size", "num_classes": "num_classes",
}
_FLOAT_FIELDS = {
    "rpn_nms_thresh": "rpn_nms_thresh_test", "roi_canonical_scale": "roi_canonical_scale",
    "retinanet_anchor_scale": "retinanet_anchor_scale", "retinanet_inference_th": "retinanet_inference_th",
    "test_nms": "test_nms", "test_score_thresh": "test_score_thresh", "bbox_vote_th": "bbox_vote_th",
}
_BOOL_FIELDS = {
    "mask_on": "mask_on", "keypoints_on": "keypoints_on", "stride_1x1": "stride_1x1", "fpn": "fpn",
    "fpn_extra_conv_levels": "fpn_extra_conv_levels", "keypoint_deconv_output": "keypoint_use_deconv_output",
    "bbox_vote": "bbox_vote", "tta": "tta", "tta_h_flip": "tta_h_flip", "tta_scale_h_flip": "tta_scale_h_flip",
    "tta_mask_aug": "tta_mask_aug",
}
_TUPLE_FIELDS = {
    "rpn_anchor_sizes": ("rpn_anchor_sizes", _floats), "rpn_aspect_ratios": ("rpn_aspect_ratios", _floats),
    "retinanet_aspect_ratios": ("retinanet_aspect_ratios", _floats), "tta_scales": ("tta_scales", _ints),
    "bbox_reg_weights": ("bbox_reg_weights", _floats), "pixel_means": ("pixel_means", _floats),
    "defaults_used": ("defaults_used", lambda text: tuple(text.split(";"))),
}


def arch_from_config(row: Mapping[str, Any]) -> DetectronArch:
    """The `DetectronArch` of one `detectron_configs.csv` row (UnsupportedConfigError if it cannot be built)."""
    fields = _Fields(row)
    config = fields.row.get("config", "?")
    for name, column in _INT_FIELDS.items():
        fields.put(name, column, lambda text: int(float(text)))
    for name, column in _FLOAT_FIELDS.items():
        fields.put(name, column, float)
    for name, column in _BOOL_FIELDS.items():
        fields.put(name, column, _bool)
    for name, (column, convert) in _TUPLE_FIELDS.items():
        fields.put(name, column, convert)
    for name, column in (("tta_score_heur", "tta_score_heur"), ("tta_coord_heur", "tta_coord_heur"),
                         ("tta_mask_heur", "tta_mask_heur")):
        fields.put(name, column, str)
    values = fields.values
    values["box_head"] = _lookup(BOX_HEADS, fields.row.get("roi_box_head", ""), "box head", config)
    values["mask_head"] = _lookup(MASK_HEADS, fields.row.get("mask_head", ""), "mask head", config)
    _lookup(KEYPOINT_HEADS, fields.row.get("keypoint_head", ""), "keypoint head", config)
    arch = DetectronArch(config=config, kind=_kind(fields.row), **values)
    _check(arch, fields.row)
    return arch


def _check(arch: DetectronArch, row: Mapping[str, str]) -> None:
    """Refuse what this port does not implement, naming the setting."""
    problems = []
    if arch.depth not in STAGE_BLOCKS:
        problems.append(f"ResNet depth {arch.depth}")
    if row.get("trans_func", "bottleneck_transformation") not in ("", "bottleneck_transformation"):
        problems.append(f"transformation {row['trans_func']}")
    if row.get("roi_xform_method", "") not in ("", "RoIAlign"):
        problems.append(f"RoI transform {row['roi_xform_method']}")
    if arch.box_on and not arch.box_head:
        problems.append("a box model without a box head")
    if arch.mask_on and not arch.mask_head:
        problems.append("a mask model without a mask head")
    if arch.keypoints_on and not arch.keypoint_deconv_output:
        problems.append("keypoint heads without a deconvolution output")
    if arch.kind == "retinanet" and not arch.fpn:
        problems.append("RetinaNet without FPN")
    if arch.tta and (arch.tta_score_heur, arch.tta_coord_heur) != ("UNION", "UNION"):
        problems.append(f"TTA heuristics {arch.tta_score_heur}/{arch.tta_coord_heur}")
    if arch.tta and arch.tta_mask_aug and arch.tta_mask_heur != "SOFT_AVG":
        problems.append(f"mask TTA heuristic {arch.tta_mask_heur}")
    if problems:
        raise UnsupportedConfigError(f"{arch.config}: not supported here: {'; '.join(problems)}")
