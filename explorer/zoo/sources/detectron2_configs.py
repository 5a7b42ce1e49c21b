"""Read the Detectron2 configs behind the zoo rows into one flat, all-text record per config.

The Detectron2 family rebuilds each zoo model from these records (explorer/models/detectron2/arch.py), so a
record holds every test-time fact as Detectron2 would effectively run it:

* yacs configs (`*.yaml`): a file's `_BASE_` chain is merged (the child wins), strings are decoded the way
  yacs decodes them (`ast.literal_eval`, so "(800,)" is a tuple), and every key the chain leaves out takes its
  value from Detectron2's `defaults.py`, read statically (`static_python`), never imported;
* LazyConfig files (the LSJ rows, `new_baselines/*_LSJ.py` + `common/`): read statically by the same module;
  an argument a file leaves out takes the default of the Python signature it calls, listed in
  `LAZY_DEFAULTS` with the class it belongs to (read from detectron2 at the commit the reference folder names).

`defaults_used` names each inherited value: dotted yacs keys (MODEL.RPN.NMS_THRESH) or `Class.argument`
(FastRCNNOutputLayers.test_nms_thresh), so a reader can tell a written value from an inherited one.

Conventions, shared with detectron_configs.py: every value is text; booleans are "true"/"false"; sequences
are ";"-joined; per-level lists are "|"-joined ("32|64|128" = one anchor size on each of three levels); floats
are written with `repr`, so the table is byte-for-byte reproducible; a column is "" when the model never reads
it (RPN columns of RetinaNet, mask columns of a box-only model, ...). The model-kind flags (mask_on,
keypoint_on, load_proposals, test_aug) are always "true"/"false".

A zoo row names its config by its download URL (`.../detectron2/<folder>/<stem>/<id>/model_final_*.pkl`):
`config_of_model_url` turns it into the record's key `<folder>/<stem>` (the stem alone is ambiguous:
COCO-Keypoints/ and Detectron1-Comparisons/ both have keypoint_rcnn_R_50_FPN_1x).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from explorer.zoo.paths import DEFAULT_REFERENCE_DIR
from explorer.zoo.sources.static_python import (
    ConfigModule,
    LambdaCall,
    StaticConfigError,
    Symbol,
    evaluate_expression,
    lookup,
)

DEFAULT_CONFIG_DIR = DEFAULT_REFERENCE_DIR / "detectron2" / "configs"
_EVAL_TAG = "tag:yaml.org,2002:python/object/apply:eval"
_MAX_BASE_DEPTH = 8

#: Python defaults of the classes the LSJ LazyConfig files call, for arguments those files leave out.
#: Source: facebookresearch/detectron2 at 02b5c4e (the reference folder's commit): the `__init__` signatures of
#: DefaultAnchorGenerator (offset 0.5), FPN, RPN, StandardRPNHead, FastRCNNOutputLayers, BottleneckBlock,
#: RegNet; ResNet.make_default_stages fixes the stage widths (res2 256 out, bottleneck out/4 = 64 per group).
LAZY_DEFAULTS: dict[str, object] = {
    "DefaultAnchorGenerator.offset": 0.5,
    "FPN.norm": "",
    "FPN.fuse_type": "sum",
    "RPN.nms_thresh": 0.7,
    "RPN.min_box_size": 0.0,
    "RPN.anchor_boundary_thresh": -1,
    "StandardRPNHead.conv_dims": (-1,),
    "FastRCNNOutputLayers.test_score_thresh": 0.0,
    "FastRCNNOutputLayers.test_nms_thresh": 0.5,
    "FastRCNNOutputLayers.test_topk_per_image": 100,
    "FastRCNNOutputLayers.cls_agnostic_bbox_reg": False,
    "FastRCNNConvFCHead.conv_norm": "",
    "MaskRCNNConvUpsampleHead.conv_norm": "",
    "BottleneckBlock.num_groups": 1,
    "BottleneckBlock.dilation": 1,
    "BottleneckBlock.stride_in_1x1": False,
    "BottleneckBlock.norm": "BN",
    "BasicStem.out_channels": 64,
    "BasicStem.norm": "BN",
    "ResNet.make_default_stages.res2_out_channels": 256,
    "ResNet.make_default_stages.bottleneck_channels_per_group": 64,
    "RegNet.stride": 2,
    "RegNet.bottleneck_ratio": 1.0,
    "RegNet.se_ratio": 0.0,
    "RegNet.norm": "BN",
    "GeneralizedRCNN.input_format": "BGR",
    "ResizeShortestEdge.max_size": 2 ** 63 - 1,  # sys.maxsize: no cap
}
#: A norm a LazyConfig gives as a factory (`lambda c: NaiveSyncBatchNorm(c, ...)`) -> its get_norm name.
_NORM_FACTORIES = {"NaiveSyncBatchNorm": "NaiveSyncBN", "FrozenBatchNorm2d": "FrozenBN", "BatchNorm2d": "BN",
                   "SyncBatchNorm": "SyncBN"}

CONFIG_COLUMNS: tuple[str, ...] = (
    # --- what the model is ---
    "config",  # "<folder>/<stem>" under configs/, e.g. "COCO-Detection/faster_rcnn_R_50_C4_1x"
    "config_file",  # the file read, relative to configs/ (".yaml" or ".py")
    "config_format",  # yacs | lazy
    "meta_architecture",  # GeneralizedRCNN | ProposalNetwork | RetinaNet
    "backbone_name",  # MODEL.BACKBONE.NAME (yacs) or FPN (lazy)
    "bottom_up",  # ResNet | RegNet
    # --- ResNet / ResNeXt ---
    "resnet_depth",  # MODEL.RESNETS.DEPTH
    "resnet_num_groups",  # NUM_GROUPS: >1 = ResNeXt cardinality
    "resnet_width_per_group",  # WIDTH_PER_GROUP: res2 bottleneck width per group
    "resnet_stride_in_1x1",  # STRIDE_IN_1X1: true = MSRA (stride on the 1x1), false = C2/torch style
    "resnet_res5_dilation",  # RES5_DILATION: 2 = DC5
    "resnet_stem_out_channels",  # STEM_OUT_CHANNELS
    "resnet_res2_out_channels",  # RES2_OUT_CHANNELS
    "resnet_norm",  # NORM of the stages, as the config names it (FrozenBN, SyncBN, ...)
    "resnet_stem_norm",  # norm of the stem (yacs: the same NORM)
    # --- RegNet (LSJ) ---
    "regnet_stem_width",
    "regnet_depth",  # total blocks
    "regnet_w_a",
    "regnet_w_0",
    "regnet_w_m",
    "regnet_group_width",
    "regnet_bottleneck_ratio",
    "regnet_se_ratio",  # 0 = RegNetX, 0.25 = RegNetY
    "regnet_stride",
    "regnet_norm",
    "regnet_stage_depths",  # derived as detectron2's generate_regnet_parameters does
    "regnet_stage_widths",  # ... then adjust_block_compatibility
    "regnet_stage_group_widths",
    "backbone_out_features",
    # --- FPN ---
    "fpn_in_features",
    "fpn_out_channels",
    "fpn_norm",
    "fpn_fuse_type",
    "fpn_top_block",  # LastLevelMaxPool (p6 = maxpool of p5) | LastLevelP6P7 (RetinaNet)
    "fpn_top_block_in_feature",  # what the top block reads: p5 | res5
    # --- anchors (models with an RPN, and RetinaNet) ---
    "anchor_generator",
    "anchor_sizes",  # per level, "|"-joined
    "anchor_aspect_ratios",  # per level, "|"-joined (one entry = every level)
    "anchor_offset",
    # --- proposals ---
    "proposal_generator",  # RPN | PrecomputedProposals ("" for RetinaNet)
    "proposal_min_size",  # PROPOSAL_GENERATOR.MIN_SIZE (RPN.min_box_size)
    "rpn_head",
    "rpn_in_features",
    "rpn_head_conv_dims",  # -1 = as many channels as the input
    "rpn_pre_nms_topk_test",  # per level
    "rpn_post_nms_topk_test",  # per image
    "rpn_nms_thresh",
    "rpn_bbox_reg_weights",
    "rpn_boundary_thresh",
    # --- RoI heads (GeneralizedRCNN) ---
    "roi_heads_name",  # Res5ROIHeads (C4) | StandardROIHeads
    "roi_heads_in_features",
    "num_classes",  # foreground classes
    "roi_score_thresh_test",
    "roi_nms_thresh_test",
    "box_head_name",  # "" for Res5ROIHeads (res5 is the head)
    "box_head_num_conv",
    "box_head_conv_dim",
    "box_head_num_fc",
    "box_head_fc_dim",
    "box_head_norm",
    "box_pooler_resolution",
    "box_pooler_sampling_ratio",  # 0 = adaptive
    "box_pooler_type",  # ROIAlignV2 (aligned) | ROIAlign
    "box_bbox_reg_weights",
    "box_cls_agnostic_bbox_reg",
    "mask_on",
    "mask_head_name",
    "mask_head_num_conv",
    "mask_head_conv_dim",
    "mask_head_norm",
    "mask_pooler_resolution",  # Res5ROIHeads: the box pooler's (the mask head reads res5 of the box RoIs)
    "mask_pooler_sampling_ratio",
    "mask_pooler_type",
    "mask_cls_agnostic",
    "keypoint_on",
    "keypoint_head_name",
    "keypoint_num_keypoints",
    "keypoint_conv_dims",
    "keypoint_pooler_resolution",
    "keypoint_pooler_sampling_ratio",
    "keypoint_pooler_type",
    # --- RetinaNet ---
    "retinanet_num_classes",
    "retinanet_in_features",
    "retinanet_num_convs",
    "retinanet_norm",
    "retinanet_prior_prob",
    "retinanet_score_thresh_test",
    "retinanet_topk_candidates_test",  # per level
    "retinanet_nms_thresh_test",
    "retinanet_bbox_reg_weights",
    # --- inference ---
    "detections_per_image",  # TEST.DETECTIONS_PER_IMAGE (models that output detections)
    "min_size_test",  # ResizeShortestEdge: shorter side
    "max_size_test",  # ... longer side cap
    "input_format",  # channel order the model expects: BGR | RGB
    "pixel_mean",  # in input_format order
    "pixel_std",
    "test_aug",  # TEST.AUG.ENABLED
    "load_proposals",  # MODEL.LOAD_PROPOSALS: Fast R-CNN on precomputed proposals
    "proposals_config",  # the RPN config whose proposals a Fast R-CNN model reads
    "proposal_files_test",
    "precomputed_proposal_topk_test",  # DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TEST
    # --- training ---
    "train_datasets",
    "test_datasets",
    "train_min_size",  # shorter-side choices (yacs); "" for LSJ
    "train_max_size",
    "train_crop_size",  # LSJ: the square crop (FixedSizeCrop)
    "train_scale_range",  # LSJ: ResizeScale min;max scale of the crop size
    "ims_per_batch",  # total over all GPUs
    "max_iter",
    "base_lr",
    "lr_steps",
    "pretrained_weights",  # ImageNet initialisation ("" = from scratch)
    # --- provenance ---
    "defaults_used",  # ";"-joined: yacs keys from defaults.py, or Class.argument Python defaults (LSJ)
)


def text(value: object) -> str:
    """One value as table text: "" for None, "true"/"false", repr for floats, sequences ";"-joined."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return ";".join(text(item) for item in value)
    return str(value)


def levels_text(value: object) -> str:
    """A per-level list ([[32], [64]] -> "32|64"); a flat list is one entry for every level."""
    if isinstance(value, list | tuple) and value and all(isinstance(item, list | tuple) for item in value):
        return "|".join(text(item) for item in value)
    return text(value)


def config_of_model_url(url: str) -> str:
    """`<folder>/<stem>` from `https://dl.fbaipublicfiles.com/detectron2/<folder>/<stem>/<id>/model_final_*.pkl`."""
    parts = urlsplit(url).path.strip("/").split("/")
    if len(parts) < 5 or parts[-5] != "detectron2" or not parts[-1].endswith(".pkl"):
        raise ValueError(f"not a Detectron2 model URL shaped .../detectron2/<folder>/<config>/<id>/<file>.pkl: "
                         f"{url!r}")
    return f"{parts[-4]}/{parts[-3]}"


def config_file(config_dir: Path, config: str) -> Path:
    """The file behind a config key: `<key>.yaml`, else `<key>.py` (LazyConfig)."""
    for suffix in (".yaml", ".py"):
        path = config_dir / f"{config}{suffix}"
        if path.is_file() and path.resolve().is_relative_to(config_dir.resolve()):
            return path
    raise FileNotFoundError(f"no config file for {config!r} in {config_dir} (.yaml or .py)")


# --- yacs -----------------------------------------------------------------------------------------------------


class _YamlLoader(yaml.SafeLoader):
    """yaml's safe loader plus Detectron2's one Python tag, `!!python/object/apply:eval ["expr"]`, read statically."""


def _construct_eval(loader: _YamlLoader, node: yaml.Node) -> Any:
    args = loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else []
    if len(args) != 1 or not isinstance(args[0], str):
        raise StaticConfigError(f"line {node.start_mark.line + 1}: !!python/object/apply:eval needs one string")
    return evaluate_expression(args[0], f"yaml line {node.start_mark.line + 1}")


_YamlLoader.add_constructor(_EVAL_TAG, _construct_eval)


def _decode(value: Any) -> Any:
    """A yaml string as yacs decodes it: a Python literal if it is one ("(800,)" -> (800,)), else the string."""
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = _decode(value)
    return flat


def load_yaml_values(path: Path, depth: int = 0, root: Path | None = None) -> dict[str, Any]:
    """A yaml's settings merged over its `_BASE_` chain, as {dotted key: value}; defaults not applied.

    Every base must lie below `root` (default: the first file's folder's parent, e.g. configs/).
    """
    root = (root or path.parent.parent).resolve()
    if depth > _MAX_BASE_DEPTH:
        raise StaticConfigError(f"{path}: _BASE_ chain deeper than {_MAX_BASE_DEPTH} (a cycle?)")
    if not path.resolve().is_relative_to(root):
        raise StaticConfigError(f"{path}: a _BASE_ outside the config folder {root}")
    try:
        tree = yaml.load(path.read_text(encoding="utf-8"), Loader=_YamlLoader)  # a SafeLoader subclass
    except yaml.YAMLError as error:  # a tag other than the one eval above, or not yaml at all
        raise StaticConfigError(f"{path}: not a config this reader accepts ({error})") from error
    if tree is None:
        tree = {}
    if not isinstance(tree, Mapping):
        raise StaticConfigError(f"{path}: expected a mapping at the top level")
    tree = dict(tree)
    base = tree.pop("_BASE_", None)
    values = {}
    if base is not None:
        base_path = (path.parent / str(base)).resolve()
        values = load_yaml_values(base_path, depth + 1, root)
    values.update(_flatten(tree))
    return values


def load_yacs_defaults(defaults_py: Path) -> dict[str, Any]:
    """Every `_C.X.Y = value` of detectron2/config/defaults.py as {"X.Y": value}, read statically."""
    module = ConfigModule(defaults_py, defaults_py.parent, relative_imports_are_code=True)
    root = module.namespace.get("_C")
    if not isinstance(root, Mapping):
        raise StaticConfigError(f"{defaults_py}: no `_C = CN()` config root")
    return _flatten(root)


class _Yacs:
    """A yacs config's values with defaults.py behind them, remembering which defaults were read."""

    def __init__(self, values: Mapping[str, Any], defaults: Mapping[str, Any], name: str) -> None:
        self.values, self.defaults, self.name = values, defaults, name
        self.used: set[str] = set()

    def get(self, key: str) -> Any:
        if key in self.values:
            return self.values[key]
        if key in self.defaults:
            self.used.add(key)
            return self.defaults[key]
        raise KeyError(f"{self.name}: {key} is neither in the config nor in defaults.py")

    def __call__(self, key: str) -> str:
        return text(self.get(key))


def _pooler_columns(get: _Yacs, head: str, prefix: str) -> dict[str, str]:
    return {f"{prefix}_pooler_resolution": get(f"MODEL.{head}.POOLER_RESOLUTION"),
            f"{prefix}_pooler_sampling_ratio": get(f"MODEL.{head}.POOLER_SAMPLING_RATIO"),
            f"{prefix}_pooler_type": get(f"MODEL.{head}.POOLER_TYPE")}


def _yacs_backbone(get: _Yacs) -> dict[str, str]:
    name = get("MODEL.BACKBONE.NAME")
    if name not in ("build_resnet_backbone", "build_resnet_fpn_backbone", "build_retinanet_resnet_fpn_backbone"):
        raise StaticConfigError(f"{get.name}: backbone {name!r} is not one this table describes")
    columns = {
        "backbone_name": name, "bottom_up": "ResNet", "resnet_depth": get("MODEL.RESNETS.DEPTH"),
        "resnet_num_groups": get("MODEL.RESNETS.NUM_GROUPS"),
        "resnet_width_per_group": get("MODEL.RESNETS.WIDTH_PER_GROUP"),
        "resnet_stride_in_1x1": get("MODEL.RESNETS.STRIDE_IN_1X1"),
        "resnet_res5_dilation": get("MODEL.RESNETS.RES5_DILATION"),
        "resnet_stem_out_channels": get("MODEL.RESNETS.STEM_OUT_CHANNELS"),
        "resnet_res2_out_channels": get("MODEL.RESNETS.RES2_OUT_CHANNELS"),
        "resnet_norm": get("MODEL.RESNETS.NORM"), "resnet_stem_norm": get("MODEL.RESNETS.NORM"),
        "backbone_out_features": get("MODEL.RESNETS.OUT_FEATURES"),
    }
    if name != "build_resnet_backbone":
        retinanet = name == "build_retinanet_resnet_fpn_backbone"
        columns |= {"fpn_in_features": get("MODEL.FPN.IN_FEATURES"), "fpn_out_channels": get("MODEL.FPN.OUT_CHANNELS"),
                    "fpn_norm": get("MODEL.FPN.NORM"), "fpn_fuse_type": get("MODEL.FPN.FUSE_TYPE"),
                    "fpn_top_block": "LastLevelP6P7" if retinanet else "LastLevelMaxPool",
                    "fpn_top_block_in_feature": "res5" if retinanet else "p5"}
    return columns


def _yacs_anchors(get: _Yacs) -> dict[str, str]:
    return {"anchor_generator": get("MODEL.ANCHOR_GENERATOR.NAME"),
            "anchor_sizes": levels_text(get.get("MODEL.ANCHOR_GENERATOR.SIZES")),
            "anchor_aspect_ratios": levels_text(get.get("MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS")),
            "anchor_offset": get("MODEL.ANCHOR_GENERATOR.OFFSET")}


def _yacs_rpn(get: _Yacs) -> dict[str, str]:
    conv_dims = get.get("MODEL.RPN.CONV_DIMS")
    return _yacs_anchors(get) | {
        "proposal_min_size": get("MODEL.PROPOSAL_GENERATOR.MIN_SIZE"), "rpn_head": get("MODEL.RPN.HEAD_NAME"),
        "rpn_in_features": get("MODEL.RPN.IN_FEATURES"), "rpn_head_conv_dims": text(conv_dims),
        "rpn_pre_nms_topk_test": get("MODEL.RPN.PRE_NMS_TOPK_TEST"),
        "rpn_post_nms_topk_test": get("MODEL.RPN.POST_NMS_TOPK_TEST"), "rpn_nms_thresh": get("MODEL.RPN.NMS_THRESH"),
        "rpn_bbox_reg_weights": get("MODEL.RPN.BBOX_REG_WEIGHTS"),
        "rpn_boundary_thresh": get("MODEL.RPN.BOUNDARY_THRESH")}


def _yacs_roi_heads(get: _Yacs) -> dict[str, str]:
    name = get("MODEL.ROI_HEADS.NAME")
    res5 = name == "Res5ROIHeads"
    columns = {
        "roi_heads_name": name, "roi_heads_in_features": get("MODEL.ROI_HEADS.IN_FEATURES"),
        "num_classes": get("MODEL.ROI_HEADS.NUM_CLASSES"),
        "roi_score_thresh_test": get("MODEL.ROI_HEADS.SCORE_THRESH_TEST"),
        "roi_nms_thresh_test": get("MODEL.ROI_HEADS.NMS_THRESH_TEST"), "box_head_name": get("MODEL.ROI_BOX_HEAD.NAME"),
        "box_bbox_reg_weights": get("MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS"),
        "box_cls_agnostic_bbox_reg": get("MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG"),
        **_pooler_columns(get, "ROI_BOX_HEAD", "box"),
    }
    if not res5:  # Res5ROIHeads has no box head of its own: res5, then average pooling
        columns |= {"box_head_num_conv": get("MODEL.ROI_BOX_HEAD.NUM_CONV"),
                    "box_head_conv_dim": get("MODEL.ROI_BOX_HEAD.CONV_DIM"),
                    "box_head_num_fc": get("MODEL.ROI_BOX_HEAD.NUM_FC"),
                    "box_head_fc_dim": get("MODEL.ROI_BOX_HEAD.FC_DIM"),
                    "box_head_norm": get("MODEL.ROI_BOX_HEAD.NORM")}
    if get.get("MODEL.MASK_ON"):
        columns |= {"mask_head_name": get("MODEL.ROI_MASK_HEAD.NAME"),
                    "mask_head_num_conv": get("MODEL.ROI_MASK_HEAD.NUM_CONV"),
                    "mask_head_conv_dim": get("MODEL.ROI_MASK_HEAD.CONV_DIM"),
                    "mask_head_norm": get("MODEL.ROI_MASK_HEAD.NORM"),
                    "mask_cls_agnostic": get("MODEL.ROI_MASK_HEAD.CLS_AGNOSTIC_MASK")}
        # Res5ROIHeads pools once with the box settings and feeds res5's output to the mask head
        columns |= {key.replace("box_", "mask_", 1): value for key, value in columns.items()
                    if key.startswith("box_pooler_")} if res5 else _pooler_columns(get, "ROI_MASK_HEAD", "mask")
    if get.get("MODEL.KEYPOINT_ON"):
        columns |= {"keypoint_head_name": get("MODEL.ROI_KEYPOINT_HEAD.NAME"),
                    "keypoint_num_keypoints": get("MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS"),
                    "keypoint_conv_dims": get("MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS"),
                    **_pooler_columns(get, "ROI_KEYPOINT_HEAD", "keypoint")}
    return columns


def _yacs_retinanet(get: _Yacs) -> dict[str, str]:
    return _yacs_anchors(get) | {
        "retinanet_num_classes": get("MODEL.RETINANET.NUM_CLASSES"),
        "retinanet_in_features": get("MODEL.RETINANET.IN_FEATURES"),
        "retinanet_num_convs": get("MODEL.RETINANET.NUM_CONVS"), "retinanet_norm": get("MODEL.RETINANET.NORM"),
        "retinanet_prior_prob": get("MODEL.RETINANET.PRIOR_PROB"),
        "retinanet_score_thresh_test": get("MODEL.RETINANET.SCORE_THRESH_TEST"),
        "retinanet_topk_candidates_test": get("MODEL.RETINANET.TOPK_CANDIDATES_TEST"),
        "retinanet_nms_thresh_test": get("MODEL.RETINANET.NMS_THRESH_TEST"),
        "retinanet_bbox_reg_weights": get("MODEL.RETINANET.BBOX_REG_WEIGHTS")}


def _proposals_config(files: Sequence[str]) -> str:
    """"detectron2://COCO-Detection/rpn_R_50_FPN_1x/137258492/x.pkl" -> "COCO-Detection/rpn_R_50_FPN_1x"."""
    configs = {"/".join(name.split("://", 1)[-1].split("/")[:2]) for name in files}
    if len(configs) != 1:
        raise StaticConfigError(f"proposal files from several (or no) RPN configs: {sorted(configs)}")
    return configs.pop()


def yacs_record(config: str, path: Path, defaults: Mapping[str, Any], config_dir: Path) -> dict[str, str]:
    """The record of one yacs config (its `_BASE_` chain merged, defaults.py behind it)."""
    get = _Yacs(load_yaml_values(path, root=config_dir), defaults, config)
    meta = get("MODEL.META_ARCHITECTURE")
    columns = {"config_format": "yacs", "meta_architecture": meta, **_yacs_backbone(get),
               "mask_on": get("MODEL.MASK_ON"), "keypoint_on": get("MODEL.KEYPOINT_ON"),
               "load_proposals": get("MODEL.LOAD_PROPOSALS"), "test_aug": get("TEST.AUG.ENABLED")}
    if meta == "RetinaNet":
        columns |= _yacs_retinanet(get)
    else:
        generator = get("MODEL.PROPOSAL_GENERATOR.NAME")
        columns["proposal_generator"] = generator
        if generator == "RPN":
            columns |= _yacs_rpn(get)
        if meta == "GeneralizedRCNN":
            columns |= _yacs_roi_heads(get)
    if meta != "ProposalNetwork":
        columns["detections_per_image"] = get("TEST.DETECTIONS_PER_IMAGE")
    if get.get("MODEL.LOAD_PROPOSALS"):
        files = list(get.get("DATASETS.PROPOSAL_FILES_TEST"))
        columns |= {"proposal_files_test": text(files), "proposals_config": _proposals_config(files),
                    "precomputed_proposal_topk_test": get("DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TEST")}
    columns |= {
        "min_size_test": get("INPUT.MIN_SIZE_TEST"), "max_size_test": get("INPUT.MAX_SIZE_TEST"),
        "input_format": get("INPUT.FORMAT"), "pixel_mean": get("MODEL.PIXEL_MEAN"),
        "pixel_std": get("MODEL.PIXEL_STD"), "train_datasets": get("DATASETS.TRAIN"),
        "test_datasets": get("DATASETS.TEST"), "train_min_size": get("INPUT.MIN_SIZE_TRAIN"),
        "train_max_size": get("INPUT.MAX_SIZE_TRAIN"), "ims_per_batch": get("SOLVER.IMS_PER_BATCH"),
        "max_iter": get("SOLVER.MAX_ITER"), "base_lr": get("SOLVER.BASE_LR"), "lr_steps": get("SOLVER.STEPS"),
        "pretrained_weights": get("MODEL.WEIGHTS"),
    }
    columns["defaults_used"] = ";".join(sorted(get.used))
    return columns


# --- LazyConfig -----------------------------------------------------------------------------------------------


def regnet_stages(w_a: float, w_0: int, w_m: float, depth: int, group_width: int,
                  bottleneck_ratio: float = 1.0, quantum: int = 8) -> tuple[list[int], list[int], list[int]]:
    """(depths, widths, group widths) of each stage, as detectron2's RegNet derives them.

    Block j's continuous width w_0 + j * w_a is snapped to w_0 * w_m ** k (k rounded), then to a multiple of
    `quantum`; runs of equal width are the stages (generate_regnet_parameters). Group widths are capped by the
    bottleneck width and widths rounded to a multiple of the group width (adjust_block_compatibility).
    """
    if not (w_a >= 0 and w_0 > 0 and w_m > 1 and w_0 % quantum == 0 and 0 < depth <= 1000):
        raise StaticConfigError(f"RegNet parameters out of range: w_a={w_a}, w_0={w_0}, w_m={w_m}, depth={depth}")
    widths_all = []
    for block in range(depth):
        exponent = round(math.log((block * w_a + w_0) / w_0) / math.log(w_m))  # half to even, as np.round
        widths_all.append(round(w_0 * w_m ** exponent / quantum) * quantum)
    widths = sorted(set(widths_all))
    depths = [widths_all.count(width) for width in widths]
    inner = [int(max(1, width * bottleneck_ratio)) for width in widths]
    groups = [int(min(group_width, value)) for value in inner]
    multiples = [math.lcm(group, int(bottleneck_ratio)) if bottleneck_ratio > 1 else group for group in groups]
    inner = [max(multiple, int(round(value / multiple) * multiple)) for value, multiple in zip(inner, multiples,
                                                                                            strict=True)]
    widths = [int(value / bottleneck_ratio) for value in inner]
    return depths, widths, groups


class _Lazy:
    """A LazyConfig namespace with the Python defaults of the classes it calls behind it."""

    def __init__(self, namespace: Mapping[str, Any], name: str) -> None:
        self.namespace, self.name = namespace, name
        self.used: set[str] = set()

    def get(self, dotted: str, default_key: str | None = None) -> Any:
        try:
            return lookup(self.namespace, dotted, self.name)
        except KeyError:
            if default_key is None:
                raise
            self.used.add(default_key)
            return LAZY_DEFAULTS[default_key]

    def target(self, dotted: str) -> str:
        """The short class name a LazyCall node calls (`_target_` "...backbone.RegNet" -> "RegNet")."""
        value = self.get(dotted)
        if not isinstance(value, Mapping) or "_target_" not in value:
            raise StaticConfigError(f"{self.name}: {dotted} is not a LazyCall")
        return str(value["_target_"]).rsplit(".", 1)[-1]

    def norm(self, dotted: str, default_key: str) -> str:
        value = self.get(dotted, default_key)
        if isinstance(value, LambdaCall):
            callee = value.callee.rsplit(".", 1)[-1]
            if callee not in _NORM_FACTORIES:
                raise StaticConfigError(f"{self.name}: {dotted} is a factory of {callee}, not a known norm")
            return _NORM_FACTORIES[callee]
        if not isinstance(value, str):
            raise StaticConfigError(f"{self.name}: {dotted} = {value!r} is not a norm name")
        return value

    def __call__(self, dotted: str, default_key: str | None = None) -> str:
        return text(self.get(dotted, default_key))


def _lazy_backbone(get: _Lazy) -> dict[str, str]:
    if get.target("model.backbone") != "FPN":
        raise StaticConfigError(f"{get.name}: only FPN backbones are described for LazyConfig models")
    bottom = "model.backbone.bottom_up"
    kind = get.target(bottom)
    columns = {"backbone_name": "FPN", "bottom_up": kind, "backbone_out_features": get(f"{bottom}.out_features")}
    if kind == "ResNet":
        if get.target(f"{bottom}.stages") != "make_default_stages":
            raise StaticConfigError(f"{get.name}: ResNet stages not from ResNet.make_default_stages")
        columns |= {
            "resnet_depth": get(f"{bottom}.stages.depth"),
            "resnet_num_groups": get(f"{bottom}.stages.num_groups", "BottleneckBlock.num_groups"),
            "resnet_width_per_group": get(f"{bottom}.stages.width_per_group",
                                          "ResNet.make_default_stages.bottleneck_channels_per_group"),
            "resnet_stride_in_1x1": get(f"{bottom}.stages.stride_in_1x1", "BottleneckBlock.stride_in_1x1"),
            "resnet_res5_dilation": get(f"{bottom}.stages.dilation", "BottleneckBlock.dilation"),
            "resnet_stem_out_channels": get(f"{bottom}.stem.out_channels", "BasicStem.out_channels"),
            "resnet_res2_out_channels": get("model.backbone.bottom_up.stages.res2_out_channels",
                                            "ResNet.make_default_stages.res2_out_channels"),
            "resnet_norm": get.norm(f"{bottom}.stages.norm", "BottleneckBlock.norm"),
            "resnet_stem_norm": get.norm(f"{bottom}.stem.norm", "BasicStem.norm"),
        }
    elif kind == "RegNet":
        params = {key: get.get(f"{bottom}.{key}") for key in ("w_a", "w_0", "w_m", "depth", "group_width")}
        ratio = get.get(f"{bottom}.bottleneck_ratio", "RegNet.bottleneck_ratio")
        depths, widths, groups = regnet_stages(**params, bottleneck_ratio=ratio)
        blocks = (get.get(f"{bottom}.stem_class"), get.get(f"{bottom}.block_class"))
        if [block.short if isinstance(block, Symbol) else "" for block in blocks] != ["SimpleStem",
                                                                                    "ResBottleneckBlock"]:
            raise StaticConfigError(f"{get.name}: a RegNet other than SimpleStem + ResBottleneckBlock")
        columns |= {
            "regnet_stem_width": get(f"{bottom}.stem_width"), "regnet_depth": text(params["depth"]),
            "regnet_w_a": text(params["w_a"]), "regnet_w_0": text(params["w_0"]), "regnet_w_m": text(params["w_m"]),
            "regnet_group_width": text(params["group_width"]), "regnet_bottleneck_ratio": text(ratio),
            "regnet_se_ratio": get(f"{bottom}.se_ratio", "RegNet.se_ratio"),
            "regnet_stride": get(f"{bottom}.stride", "RegNet.stride"),
            "regnet_norm": get.norm(f"{bottom}.norm", "RegNet.norm"),
            "regnet_stage_depths": text(depths), "regnet_stage_widths": text(widths),
            "regnet_stage_group_widths": text(groups),
        }
    else:
        raise StaticConfigError(f"{get.name}: bottom-up backbone {kind!r} is not described")
    top = get.target("model.backbone.top_block")
    columns |= {"fpn_in_features": get("model.backbone.in_features"),
                "fpn_out_channels": get("model.backbone.out_channels"),
                "fpn_norm": get.norm("model.backbone.norm", "FPN.norm"),
                "fpn_fuse_type": get("model.backbone.fuse_type", "FPN.fuse_type"), "fpn_top_block": top,
                "fpn_top_block_in_feature": {"LastLevelMaxPool": "p5", "LastLevelP6P7": "res5"}.get(top, "")}
    return columns


def _lazy_heads(get: _Lazy) -> dict[str, str]:
    rpn, heads = "model.proposal_generator", "model.roi_heads"
    if (get.target(rpn), get.target(f"{rpn}.head"), get.target(heads)) != ("RPN", "StandardRPNHead",
                                                                           "StandardROIHeads"):
        raise StaticConfigError(f"{get.name}: only RPN + StandardROIHeads models are described for LazyConfig")
    box_head = f"{heads}.box_head"
    conv_dims, fc_dims = list(get.get(f"{box_head}.conv_dims")), list(get.get(f"{box_head}.fc_dims"))
    mask_dims = list(get.get(f"{heads}.mask_head.conv_dims"))
    if len(set(conv_dims)) > 1 or len(set(fc_dims)) > 1 or len(set(mask_dims)) != 1:
        raise StaticConfigError(f"{get.name}: head convs or fcs of unequal widths")
    pre, post = get.get(f"{rpn}.pre_nms_topk"), get.get(f"{rpn}.post_nms_topk")
    columns = {
        "anchor_generator": get.target(f"{rpn}.anchor_generator"),
        "anchor_sizes": levels_text(get.get(f"{rpn}.anchor_generator.sizes")),
        "anchor_aspect_ratios": levels_text(get.get(f"{rpn}.anchor_generator.aspect_ratios")),
        "anchor_offset": get(f"{rpn}.anchor_generator.offset", "DefaultAnchorGenerator.offset"),
        "proposal_generator": "RPN", "proposal_min_size": get(f"{rpn}.min_box_size", "RPN.min_box_size"),
        "rpn_head": "StandardRPNHead", "rpn_in_features": get(f"{rpn}.in_features"),
        "rpn_head_conv_dims": get(f"{rpn}.head.conv_dims", "StandardRPNHead.conv_dims"),
        "rpn_pre_nms_topk_test": text(pre[1]), "rpn_post_nms_topk_test": text(post[1]),  # (train, test) pairs
        "rpn_nms_thresh": get(f"{rpn}.nms_thresh", "RPN.nms_thresh"),
        "rpn_bbox_reg_weights": get(f"{rpn}.box2box_transform.weights"),
        "rpn_boundary_thresh": get(f"{rpn}.anchor_boundary_thresh", "RPN.anchor_boundary_thresh"),
        "roi_heads_name": "StandardROIHeads", "roi_heads_in_features": get(f"{heads}.box_in_features"),
        "num_classes": get(f"{heads}.num_classes"),
        "roi_score_thresh_test": get(f"{heads}.box_predictor.test_score_thresh",
                                     "FastRCNNOutputLayers.test_score_thresh"),
        "roi_nms_thresh_test": get(f"{heads}.box_predictor.test_nms_thresh", "FastRCNNOutputLayers.test_nms_thresh"),
        "detections_per_image": get(f"{heads}.box_predictor.test_topk_per_image",
                                    "FastRCNNOutputLayers.test_topk_per_image"),
        "box_head_name": get.target(box_head), "box_head_num_conv": text(len(conv_dims)),
        "box_head_conv_dim": text(conv_dims[0] if conv_dims else 256), "box_head_num_fc": text(len(fc_dims)),
        "box_head_fc_dim": text(fc_dims[0] if fc_dims else 1024),
        "box_head_norm": get.norm(f"{box_head}.conv_norm", "FastRCNNConvFCHead.conv_norm"),
        "box_pooler_resolution": get(f"{heads}.box_pooler.output_size"),
        "box_pooler_sampling_ratio": get(f"{heads}.box_pooler.sampling_ratio"),
        "box_pooler_type": get(f"{heads}.box_pooler.pooler_type"),
        "box_bbox_reg_weights": get(f"{heads}.box_predictor.box2box_transform.weights"),
        "box_cls_agnostic_bbox_reg": get(f"{heads}.box_predictor.cls_agnostic_bbox_reg",
                                         "FastRCNNOutputLayers.cls_agnostic_bbox_reg"),
        "mask_on": "true", "mask_head_name": get.target(f"{heads}.mask_head"),
        # conv_dims lists the 3x3 convs and, last, the deconvolution's width (MaskRCNNConvUpsampleHead)
        "mask_head_num_conv": text(len(mask_dims) - 1), "mask_head_conv_dim": text(mask_dims[0]),
        "mask_head_norm": get.norm(f"{heads}.mask_head.conv_norm", "MaskRCNNConvUpsampleHead.conv_norm"),
        "mask_pooler_resolution": get(f"{heads}.mask_pooler.output_size"),
        "mask_pooler_sampling_ratio": get(f"{heads}.mask_pooler.sampling_ratio"),
        "mask_pooler_type": get(f"{heads}.mask_pooler.pooler_type"),
        "mask_cls_agnostic": text(get.get(f"{heads}.mask_head.num_classes") == 1),
        "keypoint_on": "false",
    }
    return columns


def _lazy_input(get: _Lazy) -> dict[str, str]:
    test_resize = get.get("dataloader.test.mapper.augmentations")
    if len(test_resize) != 1 or str(test_resize[0].get("_target_", "")).rsplit(".", 1)[-1] != "ResizeShortestEdge":
        raise StaticConfigError(f"{get.name}: test augmentations other than one ResizeShortestEdge")
    short = test_resize[0]["short_edge_length"]
    columns = {
        "min_size_test": text(short if isinstance(short, int) else list(short)),
        "max_size_test": text(test_resize[0].get("max_size", LAZY_DEFAULTS["ResizeShortestEdge.max_size"])),
        "input_format": get("model.input_format", "GeneralizedRCNN.input_format"),
        "pixel_mean": get("model.pixel_mean"), "pixel_std": get("model.pixel_std"),
        "train_datasets": get("dataloader.train.dataset.names"), "test_datasets": get("dataloader.test.dataset.names"),
        "ims_per_batch": get("dataloader.train.total_batch_size"), "max_iter": get("train.max_iter"),
        "base_lr": get("optimizer.lr"), "lr_steps": get("lr_multiplier.scheduler.milestones"),
        "pretrained_weights": get("train.init_checkpoint"),
    }
    if "max_size" not in test_resize[0]:
        get.used.add("ResizeShortestEdge.max_size")
    for augmentation in get.get("dataloader.train.mapper.augmentations"):
        kind = str(augmentation.get("_target_", "")).rsplit(".", 1)[-1]
        if kind == "ResizeScale":
            columns["train_scale_range"] = text([augmentation["min_scale"], augmentation["max_scale"]])
        elif kind == "FixedSizeCrop":
            columns["train_crop_size"] = text(augmentation["crop_size"][0])
        elif kind == "ResizeShortestEdge":
            columns["train_min_size"] = text(augmentation["short_edge_length"])
            columns["train_max_size"] = text(augmentation.get("max_size", ""))
    return columns


def lazy_record(config: str, path: Path, config_dir: Path) -> dict[str, str]:
    """The record of one LazyConfig file (read statically, with the Python defaults of what it calls)."""
    get = _Lazy(ConfigModule(path, config_dir).namespace, config)
    meta = get.target("model")
    if meta != "GeneralizedRCNN":
        raise StaticConfigError(f"{config}: LazyConfig model {meta!r} is not described (GeneralizedRCNN)")
    columns = {"config_format": "lazy", "meta_architecture": meta, **_lazy_backbone(get), **_lazy_heads(get),
               **_lazy_input(get), "load_proposals": "false", "test_aug": "false"}
    columns["defaults_used"] = ";".join(sorted(get.used))
    return columns


# --- the table ------------------------------------------------------------------------------------------------


def parse_config(config: str, config_dir: Path = DEFAULT_CONFIG_DIR,
                 defaults: Mapping[str, Any] | None = None) -> dict[str, str]:
    """One config key ("COCO-Detection/faster_rcnn_R_50_C4_1x") -> one record with exactly CONFIG_COLUMNS."""
    path = config_file(config_dir, config)
    if path.suffix == ".yaml":
        if defaults is None:
            defaults = load_yacs_defaults(config_dir / "defaults.py")
        columns = yacs_record(config, path, defaults, config_dir)
    else:
        columns = lazy_record(config, path, config_dir)
    columns |= {"config": config, "config_file": path.relative_to(config_dir).as_posix()}
    unknown = set(columns) - set(CONFIG_COLUMNS)
    if unknown:  # a programming error, not a data problem: keep CONFIG_COLUMNS and the code in step
        raise AssertionError(f"columns missing from CONFIG_COLUMNS: {sorted(unknown)}")
    return {column: columns.get(column, "") for column in CONFIG_COLUMNS}


def parse_detectron2_configs(model_urls: Iterable[str], config_dir: Path = DEFAULT_CONFIG_DIR) -> list[dict[str, str]]:
    """One record per config the zoo rows (given by their model URLs) use, sorted by config key.

    A missing folder or file is an error rather than a shorter table, so a build never quietly drops facts.
    """
    if not config_dir.is_dir():
        raise FileNotFoundError(f"Detectron2 config folder not found: {config_dir}")
    defaults = load_yacs_defaults(config_dir / "defaults.py")
    configs = sorted({config_of_model_url(url) for url in model_urls})
    return [parse_config(config, config_dir, defaults) for config in configs]
