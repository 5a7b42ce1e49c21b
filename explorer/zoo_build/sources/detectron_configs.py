"""Read the Detectron 12_2017 baseline yaml configs into one flat, all-text record per model.

A later stage rebuilds every zoo model in PyTorch, so each record holds the facts a port needs (backbone,
heads, anchors, test-time settings) as Detectron would *effectively* run them, not just what the yaml
spells out. A yaml only lists what differs from Detectron's defaults, so every key it leaves out is taken
from `DETECTRON_DEFAULTS` (Detectron's own `detectron/core/config.py`), and the record's `defaults_used`
column names each such key so that a reader can tell a written value from an inherited one.

Conventions, so that the table stays easy to filter and diff:

* every value is text; booleans are "true"/"false"; sequences are ";"-joined ("400;500;600");
* a column is "" when the yaml and the defaults say nothing about it, *or* when Detectron never reads
  it for this kind of model (mask columns of a box-only model, RPN columns of RetinaNet or of a model
  that runs on precomputed proposals, test NMS of an RPN-only model, ...). Only the model-kind flags
  (fpn, rpn_only, end_to_end, ...) are always "true"/"false".

The yaml files are plain yaml except that Detectron writes tuples as Python literals, e.g.
`SCALES: (640, 672)`; yaml reads those as strings, and `parse_tuple` turns exactly those strings (and
nothing else) into tuples with `ast.literal_eval`. No unsafe yaml loader is used.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from explorer.zoo.paths import DEFAULT_REFERENCE_DIR

#: Where the 74 baseline configs live: beside the checkout, never copied into the repo.
DEFAULT_CONFIG_DIR = DEFAULT_REFERENCE_DIR / "detectron" / "configs_12_2017_baselines"

#: Detectron's defaults for every key this module reads, by dotted config key.
#: Source: facebookresearch/Detectron, detectron/core/config.py (read at commit 04155a0; every value here is
#: the same in the first public release 2f8161e, lib/core/config.py, which the 12_2017 baselines used).
#: Keys whose upstream default is a "must be set" sentinel (MODEL.NUM_CLASSES = -1, KRCNN.NUM_KEYPOINTS = -1,
#: KRCNN.HEATMAP_SIZE = -1, KRCNN.UP_SCALE = -1, TRAIN.WEIGHTS = '') are left out on purpose: a config that
#: lacks them should show "" rather than a meaningless -1.
DETECTRON_DEFAULTS: dict[str, object] = {
    # Model kind. RPN.RPN_ON and TEST.PRECOMPUTED_PROPOSALS are inferred from these
    # (config.py: assert_and_infer_cfg), never read from a yaml.
    "MODEL.FASTER_RCNN": False,
    "MODEL.MASK_ON": False,
    "MODEL.KEYPOINTS_ON": False,
    "MODEL.RPN_ONLY": False,
    "MODEL.BBOX_REG_WEIGHTS": (10.0, 10.0, 5.0, 5.0),  # (dx, dy, dw, dh), Fast R-CNN box head only
    "RETINANET.RETINANET_ON": False,
    # ResNet / ResNeXt body.
    "RESNETS.NUM_GROUPS": 1,
    "RESNETS.WIDTH_PER_GROUP": 64,
    "RESNETS.STRIDE_1X1": True,  # True = original MSRA ResNet (stride on the 1x1 conv)
    "RESNETS.TRANS_FUNC": "bottleneck_transformation",
    "RESNETS.RES5_DILATION": 1,
    # Fast R-CNN box head.
    "FAST_RCNN.MLP_HEAD_DIM": 1024,
    "FAST_RCNN.ROI_XFORM_METHOD": "RoIPoolF",
    "FAST_RCNN.ROI_XFORM_RESOLUTION": 14,
    "FAST_RCNN.ROI_XFORM_SAMPLING_RATIO": 0,  # 0 = adaptive (ceil(roi_size / output_size)) in RoIAlign
    # Mask head.
    "MRCNN.RESOLUTION": 14,
    "MRCNN.ROI_XFORM_METHOD": "RoIAlign",
    "MRCNN.ROI_XFORM_RESOLUTION": 7,
    "MRCNN.ROI_XFORM_SAMPLING_RATIO": 0,
    "MRCNN.DILATION": 2,
    # Keypoint head.
    "KRCNN.ROI_XFORM_METHOD": "RoIAlign",
    "KRCNN.ROI_XFORM_RESOLUTION": 7,
    "KRCNN.ROI_XFORM_SAMPLING_RATIO": 0,
    "KRCNN.NUM_STACKED_CONVS": 8,
    "KRCNN.CONV_HEAD_DIM": 256,
    "KRCNN.USE_DECONV_OUTPUT": False,
    # Single-level (C4) RPN anchors.
    "RPN.SIZES": (64, 128, 256, 512),
    "RPN.ASPECT_RATIOS": (0.5, 1, 2),
    # FPN.
    "FPN.FPN_ON": False,
    "FPN.DIM": 256,
    "FPN.COARSEST_STRIDE": 32,
    "FPN.EXTRA_CONV_LEVELS": False,
    "FPN.MULTILEVEL_RPN": False,
    "FPN.RPN_MIN_LEVEL": 2,
    "FPN.RPN_MAX_LEVEL": 6,
    "FPN.RPN_ASPECT_RATIOS": (0.5, 1, 2),
    "FPN.RPN_ANCHOR_START_SIZE": 32,
    "FPN.MULTILEVEL_ROIS": False,
    "FPN.ROI_MIN_LEVEL": 2,
    "FPN.ROI_MAX_LEVEL": 5,
    "FPN.ROI_CANONICAL_SCALE": 224,
    "FPN.ROI_CANONICAL_LEVEL": 4,
    # RetinaNet.
    "RETINANET.NUM_CONVS": 4,
    "RETINANET.SCALES_PER_OCTAVE": 3,
    "RETINANET.ASPECT_RATIOS": (0.5, 1.0, 2.0),
    "RETINANET.ANCHOR_SCALE": 4,
    "RETINANET.PRE_NMS_TOP_N": 1000,  # per FPN level
    "RETINANET.INFERENCE_TH": 0.05,
    # Inference.
    "TEST.DATASETS": (),
    "TEST.SCALE": 600,
    "TEST.MAX_SIZE": 1000,
    "TEST.NMS": 0.3,
    "TEST.SCORE_THRESH": 0.05,
    "TEST.DETECTIONS_PER_IM": 100,
    "TEST.RPN_PRE_NMS_TOP_N": 12000,  # per FPN level when FPN is used
    "TEST.RPN_POST_NMS_TOP_N": 2000,  # total, FPN or not
    "TEST.RPN_NMS_THRESH": 0.7,
    "TEST.PROPOSAL_LIMIT": 2000,
    "TEST.PROPOSAL_FILES": (),
    "TEST.BBOX_VOTE.ENABLED": False,
    "TEST.BBOX_VOTE.VOTE_TH": 0.8,
    "TEST.BBOX_AUG.ENABLED": False,
    "TEST.BBOX_AUG.SCALES": (),
    "TEST.BBOX_AUG.MAX_SIZE": 4000,
    "TEST.BBOX_AUG.H_FLIP": False,
    "TEST.BBOX_AUG.SCALE_H_FLIP": False,
    "TEST.BBOX_AUG.SCORE_HEUR": "UNION",
    "TEST.BBOX_AUG.COORD_HEUR": "UNION",
    "TEST.MASK_AUG.ENABLED": False,
    "TEST.MASK_AUG.HEUR": "SOFT_AVG",
    "TEST.KPS_AUG.ENABLED": False,
    # Input normalisation: BGR order, subtracted from every image (Detectron stores a (1, 1, 3) array).
    "PIXEL_MEANS": (102.9801, 115.9465, 122.7717),
    # Training.
    "TRAIN.DATASETS": (),
    "TRAIN.SCALES": (600,),
    "TRAIN.MAX_SIZE": 1000,
    "TRAIN.IMS_PER_BATCH": 2,  # per GPU
    "NUM_GPUS": 1,
    "SOLVER.BASE_LR": 0.001,
    "SOLVER.MAX_ITER": 40000,
    "SOLVER.STEPS": (),
}

#: Old MODEL.TYPE names that Detectron's model_builder.py still accepts as deprecated wrappers around
#: `generalized_rcnn` (rpn_R-50-C4_1x.yaml uses `rpn`). We report what Detectron actually builds.
_GENERALIZED_RCNN_ALIASES: frozenset[str] = frozenset(
    {"fast_rcnn", "faster_rcnn", "mask_rcnn", "keypoint_rcnn", "mask_and_keypoint_rcnn", "rpn", "fpn_rpn"}
)

#: Old head-function names that Detectron remaps before building (detectron/modeling/name_compat.py);
#: the 12_2017 keypoint configs still say `head_builder.add_roi_2mlp_head`.
_RENAMED_FUNCTIONS: dict[str, str] = {
    "head_builder.add_roi_2mlp_head": "fast_rcnn_heads.add_roi_2mlp_head",
    "mask_rcnn_heads.ResNet_mask_rcnn_fcn_head_v1up4convs": "mask_rcnn_heads.mask_rcnn_fcn_head_v1up4convs",
    "mask_rcnn_heads.ResNet_mask_rcnn_fcn_head_v1up": "mask_rcnn_heads.mask_rcnn_fcn_head_v1up",
    "mask_rcnn_heads.ResNet_mask_rcnn_fcn_head_v0upshare": "mask_rcnn_heads.mask_rcnn_fcn_head_v0upshare",
    "mask_rcnn_heads.ResNet_mask_rcnn_fcn_head_v0up": "mask_rcnn_heads.mask_rcnn_fcn_head_v0up",
}

#: The backbone levels FPN can tap without extra layers: res2 (stride 4) ... res5 (stride 32).
_LOWEST_BACKBONE_LEVEL = 2

CONFIG_COLUMNS: tuple[str, ...] = (
    # --- what the model is ---
    "config",  # yaml file stem, e.g. "e2e_mask_rcnn_R-50-FPN_1x"; joins with MODEL_ZOO.md rows
    "model_type",  # MODEL.TYPE as Detectron builds it: generalized_rcnn | retinanet (legacy aliases mapped)
    "conv_body",  # MODEL.CONV_BODY builder, e.g. "FPN.add_fpn_ResNet50_conv5_body"
    "depth",  # ResNet depth from the body name: 50 | 101 | 152
    "fpn",  # FPN.FPN_ON
    "rpn_only",  # MODEL.RPN_ONLY: the model outputs proposals only, no detections
    "end_to_end",  # MODEL.FASTER_RCNN: RPN and detection heads trained jointly and run together
    "precomputed_proposals",  # Detectron's inferred TEST.PRECOMPUTED_PROPOSALS: needs TEST.PROPOSAL_FILES
    "mask_on",  # MODEL.MASK_ON
    "keypoints_on",  # MODEL.KEYPOINTS_ON
    "retinanet_on",  # RETINANET.RETINANET_ON
    "num_classes",  # MODEL.NUM_CLASSES, background included (81 COCO, 2 person-only)
    "train_datasets",  # TRAIN.DATASETS (added: tells COCO from person-keypoint training data)
    "test_datasets",  # TEST.DATASETS (added: RPN configs also list the train sets they made proposals for)
    # --- ResNet / ResNeXt body ---
    "stride_1x1",  # RESNETS.STRIDE_1X1: true = MSRA ResNet, false = ResNeXt / C2 / Torch style
    "num_groups",  # RESNETS.NUM_GROUPS: 1 = ResNet, >1 = ResNeXt cardinality
    "width_per_group",  # RESNETS.WIDTH_PER_GROUP (64 for ResNet; "4" in X-101-64x4d)
    "res5_dilation",  # RESNETS.RES5_DILATION; conv5 bodies only (C4 runs res5 in the box head, undilated)
    "trans_func",  # RESNETS.TRANS_FUNC
    # --- Fast R-CNN box head (not for RPN-only or RetinaNet) ---
    "roi_box_head",  # FAST_RCNN.ROI_BOX_HEAD, legacy names mapped as Detectron does
    "roi_xform_method",  # FAST_RCNN.ROI_XFORM_METHOD (RoIAlign | RoIPoolF)
    "roi_xform_resolution",  # FAST_RCNN.ROI_XFORM_RESOLUTION (RoI feature size)
    "roi_xform_sampling_ratio",  # FAST_RCNN.ROI_XFORM_SAMPLING_RATIO (0 = adaptive)
    "mlp_head_dim",  # FAST_RCNN.MLP_HEAD_DIM; only for heads that end in fc layers (2mlp, Xconv1fc)
    # --- mask head (mask_on only) ---
    "mask_head",  # MRCNN.ROI_MASK_HEAD, legacy names mapped
    "mask_resolution",  # MRCNN.RESOLUTION: predicted mask size
    "mask_roi_xform_resolution",  # MRCNN.ROI_XFORM_RESOLUTION
    "mask_roi_xform_sampling_ratio",  # MRCNN.ROI_XFORM_SAMPLING_RATIO (0 = adaptive)
    "mask_dilation",  # MRCNN.DILATION of the head's convs (also of the res5 mask head in C4)
    # --- keypoint head (keypoints_on only) ---
    "keypoint_head",  # KRCNN.ROI_KEYPOINTS_HEAD
    "num_keypoints",  # KRCNN.NUM_KEYPOINTS
    "keypoint_heatmap_size",  # KRCNN.HEATMAP_SIZE: output heatmap side
    "keypoint_roi_xform_resolution",  # KRCNN.ROI_XFORM_RESOLUTION
    "keypoint_roi_xform_sampling_ratio",  # KRCNN.ROI_XFORM_SAMPLING_RATIO (added, symmetric with the others)
    "keypoint_conv_dim",  # KRCNN.CONV_HEAD_DIM: channels of the stacked convs
    "keypoint_num_convs",  # KRCNN.NUM_STACKED_CONVS: the "X" of a *_v1convX head (added)
    "keypoint_up_scale",  # KRCNN.UP_SCALE: final bilinear upsampling factor
    "keypoint_use_deconv_output",  # KRCNN.USE_DECONV_OUTPUT: stride-2 ConvTranspose predictor (added)
    # --- RPN (models with an RPN: rpn_only or end_to_end) ---
    "rpn_anchor_sizes",  # C4: RPN.SIZES on the one stride-16 map; FPN: one size per level, min..max level
    "rpn_aspect_ratios",  # RPN.ASPECT_RATIOS (C4) or FPN.RPN_ASPECT_RATIOS (FPN)
    # --- FPN (fpn only) ---
    "fpn_dim",  # FPN.DIM: channels of every pyramid level
    "fpn_min_level",  # finest pyramid level the body builds (added; Detectron's FPN.get_min_max_levels)
    "fpn_max_level",  # coarsest pyramid level the body builds (added)
    "fpn_extra_conv_levels",  # FPN.EXTRA_CONV_LEVELS: P6+ from stride-2 convs, else P6 by subsampling (added)
    "fpn_coarsest_stride",  # FPN.COARSEST_STRIDE: inputs are zero-padded to a multiple of it (added)
    "rpn_min_level",  # FPN.RPN_MIN_LEVEL: finest RPN level (RetinaNet: finest head level)
    "rpn_max_level",  # FPN.RPN_MAX_LEVEL: coarsest RPN level (RetinaNet: coarsest head level)
    "roi_min_level",  # FPN.ROI_MIN_LEVEL: finest level RoIs are pooled from (MULTILEVEL_ROIS)
    "roi_max_level",  # FPN.ROI_MAX_LEVEL
    "roi_canonical_scale",  # FPN.ROI_CANONICAL_SCALE: box side s0 that maps to the canonical level
    "roi_canonical_level",  # FPN.ROI_CANONICAL_LEVEL: k0
    # --- RetinaNet (retinanet_on only) ---
    "retinanet_num_convs",  # RETINANET.NUM_CONVS in each of the cls and box towers
    "retinanet_scales_per_octave",  # RETINANET.SCALES_PER_OCTAVE
    "retinanet_aspect_ratios",  # RETINANET.ASPECT_RATIOS
    "retinanet_anchor_scale",  # RETINANET.ANCHOR_SCALE: anchor size = scale * level stride
    "retinanet_pre_nms_top_n",  # RETINANET.PRE_NMS_TOP_N, per level (RetinaNet ignores TEST.RPN_*)
    "retinanet_inference_th",  # RETINANET.INFERENCE_TH (Detectron uses 0.0 on the coarsest level)
    # --- inference ---
    "test_scale",  # TEST.SCALE: shorter image side
    "test_max_size",  # TEST.MAX_SIZE: cap on the longer side
    "test_nms",  # TEST.NMS: per-class NMS IoU (models that output detections)
    "test_score_thresh",  # TEST.SCORE_THRESH (Fast R-CNN heads; RetinaNet uses retinanet_inference_th)
    "test_detections_per_im",  # TEST.DETECTIONS_PER_IM
    "rpn_pre_nms_top_n_test",  # TEST.RPN_PRE_NMS_TOP_N (per level with FPN)
    "rpn_post_nms_top_n_test",  # TEST.RPN_POST_NMS_TOP_N (total)
    "rpn_nms_thresh_test",  # TEST.RPN_NMS_THRESH
    "test_proposal_limit",  # TEST.PROPOSAL_LIMIT: proposals kept per image (precomputed proposals only)
    "test_proposal_files",  # TEST.PROPOSAL_FILES, one per TEST.DATASETS entry
    "bbox_vote",  # TEST.BBOX_VOTE.ENABLED (Fast R-CNN heads)
    "bbox_vote_th",  # TEST.BBOX_VOTE.VOTE_TH (when voting)
    "tta",  # TEST.BBOX_AUG.ENABLED (Fast R-CNN heads; RetinaNet has no TTA in Detectron)
    "tta_scales",  # TEST.BBOX_AUG.SCALES (extra scales besides TEST.SCALE)
    "tta_max_size",  # TEST.BBOX_AUG.MAX_SIZE
    "tta_h_flip",  # TEST.BBOX_AUG.H_FLIP: flip at TEST.SCALE
    "tta_scale_h_flip",  # TEST.BBOX_AUG.SCALE_H_FLIP: flip at every extra scale too (added)
    "tta_score_heur",  # TEST.BBOX_AUG.SCORE_HEUR
    "tta_coord_heur",  # TEST.BBOX_AUG.COORD_HEUR
    "tta_mask_aug",  # TEST.MASK_AUG.ENABLED (mask models)
    "tta_mask_heur",  # TEST.MASK_AUG.HEUR (when mask aug is on)
    "tta_kps_aug",  # TEST.KPS_AUG.ENABLED (keypoint models)
    "bbox_reg_weights",  # MODEL.BBOX_REG_WEIGHTS (dx;dy;dw;dh) of the Fast R-CNN box head
    "pixel_means",  # PIXEL_MEANS, BGR order, as Detectron subtracts them
    # --- training ---
    "train_scales",  # TRAIN.SCALES (several = scale jitter)
    "train_max_size",  # TRAIN.MAX_SIZE
    "ims_per_batch_per_gpu",  # TRAIN.IMS_PER_BATCH
    "num_gpus",  # NUM_GPUS
    "max_iter",  # SOLVER.MAX_ITER
    "base_lr",  # SOLVER.BASE_LR
    "lr_steps",  # SOLVER.STEPS (iterations where the LR is decayed; starts at 0)
    "pretrained_weights_url",  # TRAIN.WEIGHTS: the ImageNet initialisation
    # --- provenance ---
    "defaults_used",  # sorted dotted keys whose value came from DETECTRON_DEFAULTS, ";"-joined
)


def parse_tuple(text: str) -> tuple[object, ...]:
    """Turn Detectron's tuple notation, e.g. "(640, 672)" or "('coco_2014_train',)", into a tuple.

    yaml has no tuple syntax, so Detectron's configs carry tuples as Python literals inside plain strings.
    `ast.literal_eval` only evaluates literals, never code; we also insist on a real tuple so that "(5)"
    (an int in Python) is refused instead of silently becoming something else.
    """
    stripped = text.strip()
    if not (stripped.startswith("(") and stripped.endswith(")")):
        raise ValueError(f"not a tuple literal: {text!r}")
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, SyntaxError) as error:
        raise ValueError(f"not a tuple literal: {text!r}") from error
    if not isinstance(value, tuple):
        raise ValueError(f"not a tuple literal: {text!r}")
    return value


def _decode(value: object) -> object:
    """A yaml scalar as Detectron would see it: tuple-looking strings become tuples, the rest is kept."""
    if isinstance(value, str) and value.strip().startswith("(") and value.strip().endswith(")"):
        return parse_tuple(value)
    return value


def _flatten(tree: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """Nested yaml sections -> dotted keys ("TEST.BBOX_AUG.SCALES"), the way Detectron names options."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = _decode(value)
    return flat


def load_config_values(path: Path) -> dict[str, object]:
    """The yaml's own settings as {dotted key: value}, tuples decoded, defaults not applied."""
    tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    if tree is None:
        return {}
    if not isinstance(tree, Mapping):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(tree).__name__}")
    return _flatten(tree)


def _text(value: object) -> str:
    """One value as table text: "" for nothing, "true"/"false", sequences joined by ";"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ";".join(_text(item) for item in value)
    return str(value)


class _Settings:
    """The yaml's values with Detectron's defaults behind them, remembering which defaults were read.

    Only settings that feed the record are read, so `defaults_used` lists exactly the inherited facts.
    """

    def __init__(self, values: Mapping[str, object]) -> None:
        self._values = values
        self._defaults_used: set[str] = set()

    def get(self, key: str) -> object:
        """The yaml's value, else Detectron's default (noted), else None."""
        if key in self._values:
            return self._values[key]
        if key in DETECTRON_DEFAULTS:
            self._defaults_used.add(key)
            return DETECTRON_DEFAULTS[key]
        return None

    def flag(self, key: str) -> bool:
        return bool(self.get(key))

    def number(self, key: str) -> int:
        value = self.get(key)
        if not isinstance(value, int):
            raise ValueError(f"{key} should be an integer, got {value!r}")
        return value

    def text(self, key: str) -> str:
        return _text(self.get(key))

    def defaults_used(self) -> str:
        return ";".join(sorted(self._defaults_used))


@dataclass(frozen=True)
class _Kind:
    """Which parts of Detectron a config switches on; decides which columns apply."""

    fpn: bool
    rpn_only: bool
    end_to_end: bool
    retinanet: bool
    mask: bool
    keypoints: bool

    @property
    def rpn(self) -> bool:
        """Detectron's inferred RPN.RPN_ON."""
        return self.rpn_only or self.end_to_end

    @property
    def precomputed_proposals(self) -> bool:
        """Detectron's inferred TEST.PRECOMPUTED_PROPOSALS."""
        return not (self.rpn or self.retinanet)

    @property
    def roi_heads(self) -> bool:
        """Fast R-CNN style heads on RoIs (box, and optionally mask/keypoints)."""
        return not (self.rpn_only or self.retinanet)


def _kind(settings: _Settings) -> _Kind:
    return _Kind(
        fpn=settings.flag("FPN.FPN_ON"),
        rpn_only=settings.flag("MODEL.RPN_ONLY"),
        end_to_end=settings.flag("MODEL.FASTER_RCNN"),
        retinanet=settings.flag("RETINANET.RETINANET_ON"),
        mask=settings.flag("MODEL.MASK_ON"),
        keypoints=settings.flag("MODEL.KEYPOINTS_ON"),
    )


def _renamed(settings: _Settings, key: str) -> str:
    """A head-builder name after Detectron's own legacy-name mapping."""
    name = settings.text(key)
    return _RENAMED_FUNCTIONS.get(name, name)


def _model_columns(settings: _Settings, kind: _Kind) -> dict[str, str]:
    model_type = settings.text("MODEL.TYPE")
    conv_body = settings.text("MODEL.CONV_BODY")
    depth = re.search(r"ResNet(\d+)_", conv_body)
    return {
        "model_type": "generalized_rcnn" if model_type in _GENERALIZED_RCNN_ALIASES else model_type,
        "conv_body": conv_body,
        "depth": depth.group(1) if depth else "",
        "fpn": _text(kind.fpn),
        "rpn_only": _text(kind.rpn_only),
        "end_to_end": _text(kind.end_to_end),
        "precomputed_proposals": _text(kind.precomputed_proposals),
        "mask_on": _text(kind.mask),
        "keypoints_on": _text(kind.keypoints),
        "retinanet_on": _text(kind.retinanet),
        "num_classes": settings.text("MODEL.NUM_CLASSES"),
        "train_datasets": settings.text("TRAIN.DATASETS"),
        "test_datasets": settings.text("TEST.DATASETS"),
    }


def _backbone_columns(settings: _Settings) -> dict[str, str]:
    conv_body = settings.text("MODEL.CONV_BODY")
    if "ResNet" not in conv_body:
        return {}
    columns = {
        "stride_1x1": settings.text("RESNETS.STRIDE_1X1"),
        "num_groups": settings.text("RESNETS.NUM_GROUPS"),
        "width_per_group": settings.text("RESNETS.WIDTH_PER_GROUP"),
        "trans_func": settings.text("RESNETS.TRANS_FUNC"),
    }
    if "conv5_body" in conv_body:
        columns["res5_dilation"] = settings.text("RESNETS.RES5_DILATION")
    return columns


def _box_head_columns(settings: _Settings, kind: _Kind) -> dict[str, str]:
    if not kind.roi_heads:
        return {}
    head = _renamed(settings, "FAST_RCNN.ROI_BOX_HEAD")
    columns = {
        "roi_box_head": head,
        "roi_xform_method": settings.text("FAST_RCNN.ROI_XFORM_METHOD"),
        "roi_xform_resolution": settings.text("FAST_RCNN.ROI_XFORM_RESOLUTION"),
        "roi_xform_sampling_ratio": settings.text("FAST_RCNN.ROI_XFORM_SAMPLING_RATIO"),
        "bbox_reg_weights": settings.text("MODEL.BBOX_REG_WEIGHTS"),
    }
    if head.endswith(("_2mlp_head", "conv1fc_head", "conv1fc_gn_head")):
        columns["mlp_head_dim"] = settings.text("FAST_RCNN.MLP_HEAD_DIM")
    return columns


def _mask_columns(settings: _Settings, kind: _Kind) -> dict[str, str]:
    if not (kind.roi_heads and kind.mask):
        return {}
    return {
        "mask_head": _renamed(settings, "MRCNN.ROI_MASK_HEAD"),
        "mask_resolution": settings.text("MRCNN.RESOLUTION"),
        "mask_roi_xform_resolution": settings.text("MRCNN.ROI_XFORM_RESOLUTION"),
        "mask_roi_xform_sampling_ratio": settings.text("MRCNN.ROI_XFORM_SAMPLING_RATIO"),
        "mask_dilation": settings.text("MRCNN.DILATION"),
    }


def _keypoint_columns(settings: _Settings, kind: _Kind) -> dict[str, str]:
    if not (kind.roi_heads and kind.keypoints):
        return {}
    head = _renamed(settings, "KRCNN.ROI_KEYPOINTS_HEAD")
    columns = {
        "keypoint_head": head,
        "num_keypoints": settings.text("KRCNN.NUM_KEYPOINTS"),
        "keypoint_heatmap_size": settings.text("KRCNN.HEATMAP_SIZE"),
        "keypoint_roi_xform_resolution": settings.text("KRCNN.ROI_XFORM_RESOLUTION"),
        "keypoint_roi_xform_sampling_ratio": settings.text("KRCNN.ROI_XFORM_SAMPLING_RATIO"),
        "keypoint_conv_dim": settings.text("KRCNN.CONV_HEAD_DIM"),
        "keypoint_up_scale": settings.text("KRCNN.UP_SCALE"),
        "keypoint_use_deconv_output": settings.text("KRCNN.USE_DECONV_OUTPUT"),
    }
    if head.endswith("convX"):  # the X is KRCNN.NUM_STACKED_CONVS; other heads fix their own depth
        columns["keypoint_num_convs"] = settings.text("KRCNN.NUM_STACKED_CONVS")
    return columns


def _multilevel_rpn(settings: _Settings, kind: _Kind) -> bool:
    """True when proposals (or RetinaNet outputs) come from several FPN levels."""
    return kind.fpn and settings.flag("FPN.MULTILEVEL_RPN")


def _rpn_columns(settings: _Settings, kind: _Kind) -> dict[str, str]:
    if not kind.rpn:
        return {}
    columns = {
        "rpn_pre_nms_top_n_test": settings.text("TEST.RPN_PRE_NMS_TOP_N"),
        "rpn_post_nms_top_n_test": settings.text("TEST.RPN_POST_NMS_TOP_N"),
        "rpn_nms_thresh_test": settings.text("TEST.RPN_NMS_THRESH"),
    }
    if _multilevel_rpn(settings, kind):
        low, high = settings.number("FPN.RPN_MIN_LEVEL"), settings.number("FPN.RPN_MAX_LEVEL")
        start = settings.number("FPN.RPN_ANCHOR_START_SIZE")
        columns["rpn_anchor_sizes"] = _text([start * 2 ** (level - low) for level in range(low, high + 1)])
        columns["rpn_aspect_ratios"] = settings.text("FPN.RPN_ASPECT_RATIOS")
    else:
        columns["rpn_anchor_sizes"] = settings.text("RPN.SIZES")
        columns["rpn_aspect_ratios"] = settings.text("RPN.ASPECT_RATIOS")
    return columns


def _fpn_levels(settings: _Settings) -> tuple[int, int]:
    """The pyramid levels the FPN body builds: the union of the RPN and RoI level ranges in use.

    Mirrors Detectron's FPN.get_min_max_levels; with neither multilevel option the body is P2..P5.
    """
    ranges = []
    if settings.flag("FPN.MULTILEVEL_RPN"):
        ranges.append((settings.number("FPN.RPN_MIN_LEVEL"), settings.number("FPN.RPN_MAX_LEVEL")))
    if settings.flag("FPN.MULTILEVEL_ROIS"):
        ranges.append((settings.number("FPN.ROI_MIN_LEVEL"), settings.number("FPN.ROI_MAX_LEVEL")))
    if not ranges:
        return _LOWEST_BACKBONE_LEVEL, _LOWEST_BACKBONE_LEVEL + 3
    return min(low for low, _ in ranges), max(high for _, high in ranges)


def _fpn_columns(settings: _Settings, kind: _Kind) -> dict[str, str]:
    if not kind.fpn:
        return {}
    low, high = _fpn_levels(settings)
    columns = {
        "fpn_dim": settings.text("FPN.DIM"),
        "fpn_min_level": str(low),
        "fpn_max_level": str(high),
        "fpn_extra_conv_levels": settings.text("FPN.EXTRA_CONV_LEVELS"),
        "fpn_coarsest_stride": settings.text("FPN.COARSEST_STRIDE"),
    }
    if (kind.rpn or kind.retinanet) and _multilevel_rpn(settings, kind):
        columns["rpn_min_level"] = settings.text("FPN.RPN_MIN_LEVEL")
        columns["rpn_max_level"] = settings.text("FPN.RPN_MAX_LEVEL")
    if kind.roi_heads and settings.flag("FPN.MULTILEVEL_ROIS"):
        columns["roi_min_level"] = settings.text("FPN.ROI_MIN_LEVEL")
        columns["roi_max_level"] = settings.text("FPN.ROI_MAX_LEVEL")
        columns["roi_canonical_scale"] = settings.text("FPN.ROI_CANONICAL_SCALE")
        columns["roi_canonical_level"] = settings.text("FPN.ROI_CANONICAL_LEVEL")
    return columns


def _retinanet_columns(settings: _Settings, kind: _Kind) -> dict[str, str]:
    if not kind.retinanet:
        return {}
    return {
        "retinanet_num_convs": settings.text("RETINANET.NUM_CONVS"),
        "retinanet_scales_per_octave": settings.text("RETINANET.SCALES_PER_OCTAVE"),
        "retinanet_aspect_ratios": settings.text("RETINANET.ASPECT_RATIOS"),
        "retinanet_anchor_scale": settings.text("RETINANET.ANCHOR_SCALE"),
        "retinanet_pre_nms_top_n": settings.text("RETINANET.PRE_NMS_TOP_N"),
        "retinanet_inference_th": settings.text("RETINANET.INFERENCE_TH"),
    }


def _test_columns(settings: _Settings, kind: _Kind) -> dict[str, str]:
    columns = {
        "test_scale": settings.text("TEST.SCALE"),
        "test_max_size": settings.text("TEST.MAX_SIZE"),
        "pixel_means": settings.text("PIXEL_MEANS"),
    }
    if not kind.rpn_only:
        columns["test_nms"] = settings.text("TEST.NMS")
        columns["test_detections_per_im"] = settings.text("TEST.DETECTIONS_PER_IM")
    if kind.roi_heads:
        columns["test_score_thresh"] = settings.text("TEST.SCORE_THRESH")
        columns["bbox_vote"] = settings.text("TEST.BBOX_VOTE.ENABLED")
        if settings.flag("TEST.BBOX_VOTE.ENABLED"):
            columns["bbox_vote_th"] = settings.text("TEST.BBOX_VOTE.VOTE_TH")
    if kind.precomputed_proposals:
        columns["test_proposal_limit"] = settings.text("TEST.PROPOSAL_LIMIT")
        columns["test_proposal_files"] = settings.text("TEST.PROPOSAL_FILES")
    return columns


def _tta_columns(settings: _Settings, kind: _Kind) -> dict[str, str]:
    """Test-time augmentation; Detectron applies it only on the Fast R-CNN path (test.py im_detect_all)."""
    if not kind.roi_heads:
        return {}
    columns = {"tta": settings.text("TEST.BBOX_AUG.ENABLED")}
    if settings.flag("TEST.BBOX_AUG.ENABLED"):
        columns |= {
            "tta_scales": settings.text("TEST.BBOX_AUG.SCALES"),
            "tta_max_size": settings.text("TEST.BBOX_AUG.MAX_SIZE"),
            "tta_h_flip": settings.text("TEST.BBOX_AUG.H_FLIP"),
            "tta_scale_h_flip": settings.text("TEST.BBOX_AUG.SCALE_H_FLIP"),
            "tta_score_heur": settings.text("TEST.BBOX_AUG.SCORE_HEUR"),
            "tta_coord_heur": settings.text("TEST.BBOX_AUG.COORD_HEUR"),
        }
    if kind.mask:
        columns["tta_mask_aug"] = settings.text("TEST.MASK_AUG.ENABLED")
        if settings.flag("TEST.MASK_AUG.ENABLED"):
            columns["tta_mask_heur"] = settings.text("TEST.MASK_AUG.HEUR")
    if kind.keypoints:
        columns["tta_kps_aug"] = settings.text("TEST.KPS_AUG.ENABLED")
    return columns


def _train_columns(settings: _Settings) -> dict[str, str]:
    return {
        "train_scales": settings.text("TRAIN.SCALES"),
        "train_max_size": settings.text("TRAIN.MAX_SIZE"),
        "ims_per_batch_per_gpu": settings.text("TRAIN.IMS_PER_BATCH"),
        "num_gpus": settings.text("NUM_GPUS"),
        "max_iter": settings.text("SOLVER.MAX_ITER"),
        "base_lr": settings.text("SOLVER.BASE_LR"),
        "lr_steps": settings.text("SOLVER.STEPS"),
        "pretrained_weights_url": settings.text("TRAIN.WEIGHTS"),
    }


def record_from_values(name: str, values: Mapping[str, object]) -> dict[str, str]:
    """One flat record from a config's own {dotted key: value} settings (see `load_config_values`)."""
    settings = _Settings(values)
    kind = _kind(settings)
    columns: dict[str, str] = {"config": name}
    for part in (
        _model_columns(settings, kind),
        _backbone_columns(settings),
        _box_head_columns(settings, kind),
        _mask_columns(settings, kind),
        _keypoint_columns(settings, kind),
        _rpn_columns(settings, kind),
        _fpn_columns(settings, kind),
        _retinanet_columns(settings, kind),
        _test_columns(settings, kind),
        _tta_columns(settings, kind),
        _train_columns(settings),
    ):
        columns |= part
    columns["defaults_used"] = settings.defaults_used()
    unknown = set(columns) - set(CONFIG_COLUMNS)
    if unknown:  # a programming error here, not a data problem: keep the columns list and code in step
        raise AssertionError(f"columns missing from CONFIG_COLUMNS: {sorted(unknown)}")
    return {column: columns.get(column, "") for column in CONFIG_COLUMNS}


def parse_config(path: Path) -> dict[str, str]:
    """One Detectron yaml -> one flat record with exactly CONFIG_COLUMNS, every value text."""
    return record_from_values(path.stem, load_config_values(path))


def parse_detectron_configs(config_dir: Path = DEFAULT_CONFIG_DIR) -> list[dict[str, str]]:
    """Every *.yaml in config_dir, one record each, sorted by config name.

    A missing folder is an error rather than an empty table, so that a build never quietly drops the
    config facts.
    """
    if not config_dir.is_dir():
        raise FileNotFoundError(f"Detectron config folder not found: {config_dir}")
    return [parse_config(path) for path in sorted(config_dir.glob("*.yaml"), key=lambda p: p.stem)]
