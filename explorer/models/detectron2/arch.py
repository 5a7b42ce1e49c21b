"""A Detectron2 config row (the zoo's config table, given with the zoo row) as the typed facts the port runs from.

The config table (`zoo_data/detectron2_configs.csv`, written by `explorer build-zoo` from the yacs and LazyConfig
files, see explorer/zoo/sources/detectron2_configs.py) holds every value as Detectron2 would effectively run it:
keys a yaml leaves out already carry `defaults.py`'s value there, and the LSJ rows carry the values of their
LazyConfig files and of the Python defaults of the classes those files call. So this module reads text and never
invents a value; it only turns text into types, derives what follows from the values (the model kind, C4 / DC5 /
FPN, the test-time norm), and refuses what the port does not build.

No torch here: the catalog turns every zoo row into a spec (and decides whether it is runnable) on the zoo pages.

Norms: the table keeps the name a config gives (FrozenBN, BN, SyncBN, NaiveSyncBN, GN, ""); at test time a
batch norm of any kind is a fixed affine map from its stored statistics, so the arch says "FrozenBN" for
FrozenBN, "BN" for BN / SyncBN / NaiveSyncBN (their checkpoints store the same four tensors plus
`num_batches_tracked`), "GN" for GroupNorm (32 groups in Detectron2's `get_norm`) and "" for none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from explorer.models.catalog import NotRunnableError

#: Bottleneck blocks per stage (res2, res3, res4, res5) by ResNet depth (detectron2 ResNet.make_default_stages).
STAGE_BLOCKS: Mapping[int, tuple[int, int, int, int]] = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
#: Feature strides of the backbone outputs Detectron2 names (ResNet res2..res5, RegNet s1..s4, FPN p2..p7).
FEATURE_STRIDES: Mapping[str, int] = {
    "stem": 4, "res2": 4, "res3": 8, "res4": 16, "res5": 32, "s1": 4, "s2": 8, "s3": 16, "s4": 32,
    "p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64, "p7": 128,
}
GN_GROUPS = 32  # detectron2/layers/batch_norm.py get_norm: "GN" -> nn.GroupNorm(32, channels)
MASK_THRESHOLD = 0.5  # detectron2 paste_masks_in_image / detector_postprocess: mask_threshold=0.5
KEYPOINT_HEAD_UP_SCALE = 2  # KRCNNConvDeconvUpsampleHead: up_scale = 2 after the stride-2 deconvolution
KEYPOINT_DECONV_KERNEL = 4  # KRCNNConvDeconvUpsampleHead: ConvTranspose2d(kernel 4, stride 2, padding 1)

#: Config norm name -> what it is at test time (see the module docstring).
TEST_NORMS: Mapping[str, str] = {
    "": "", "FrozenBN": "FrozenBN", "BN": "BN", "SyncBN": "BN", "NaiveSyncBN": "BN", "GN": "GN",
}
META_ARCHITECTURES = ("GeneralizedRCNN", "ProposalNetwork", "RetinaNet")
POOLER_TYPES = ("ROIAlignV2", "ROIAlign", "ROIPool")


class UnsupportedConfigError(NotRunnableError):
    """A Detectron2 config this port cannot build; the message names the config and each setting at fault."""


@dataclass(frozen=True)
class ResNetSpec:
    """detectron2 ResNet (build_resnet_backbone): BasicStem + bottleneck stages res2..res5."""

    depth: int
    num_groups: int = 1
    width_per_group: int = 64
    stride_in_1x1: bool = True
    res5_dilation: int = 1
    stem_out_channels: int = 64
    res2_out_channels: int = 256
    norm: str = "FrozenBN"  # test-time norm of the stages (TEST_NORMS)
    stem_norm: str = "FrozenBN"  # test-time norm of the stem
    out_features: tuple[str, ...] = ("res4",)
    kind: str = field(default="resnet", init=False)

    @property
    def stage_blocks(self) -> tuple[int, int, int, int]:
        return STAGE_BLOCKS[self.depth]

    @property
    def bottleneck_channels(self) -> int:
        """Bottleneck width of res2 (doubled at each later stage): num_groups * width_per_group."""
        return self.num_groups * self.width_per_group

    @property
    def out_channels(self) -> Mapping[str, int]:
        """Channels of each stage output: res2_out_channels doubling per stage (256, 512, 1024, 2048)."""
        return {f"res{index + 2}": self.res2_out_channels * 2 ** index for index in range(4)}


@dataclass(frozen=True)
class RegNetSpec:
    """detectron2 RegNet (SimpleStem + ResBottleneckBlock stages s1..s4), widths already derived from w_a/w_0/w_m."""

    stem_width: int
    depth: int
    w_a: float
    w_0: int
    w_m: float
    group_width: int
    stage_depths: tuple[int, ...]
    stage_widths: tuple[int, ...]
    stage_group_widths: tuple[int, ...]
    bottleneck_ratio: float = 1.0
    se_ratio: float = 0.0
    stride: int = 2
    norm: str = "BN"  # test-time norm of stem and stages (TEST_NORMS)
    out_features: tuple[str, ...] = ("s1", "s2", "s3", "s4")
    kind: str = field(default="regnet", init=False)

    @property
    def out_channels(self) -> Mapping[str, int]:
        return {f"s{index + 1}": width for index, width in enumerate(self.stage_widths)}


@dataclass(frozen=True)
class FPNSpec:
    """detectron2 FPN over the bottom-up outputs `in_features`; top block adds the coarser levels."""

    in_features: tuple[str, ...]
    out_channels: int = 256
    norm: str = ""  # test-time norm of lateral and output convs
    fuse_type: str = "sum"
    top_block: str = "LastLevelMaxPool"  # | "LastLevelP6P7"
    top_block_in_feature: str = "p5"  # LastLevelMaxPool pools p5; RetinaNet's P6P7 reads res5 (or p5)

    @property
    def out_features(self) -> tuple[str, ...]:
        """p<k> for each input stride 2**k, then p6 (MaxPool) or p6, p7 (P6P7)."""
        levels = [FEATURE_STRIDES[name].bit_length() - 1 for name in self.in_features]
        extra = 1 if self.top_block == "LastLevelMaxPool" else 2
        return tuple(f"p{level}" for level in range(levels[0], levels[-1] + 1 + extra))


@dataclass(frozen=True)
class AnchorSpec:
    """DefaultAnchorGenerator: sizes and aspect ratios per level (one entry broadcast to every level)."""

    sizes: tuple[tuple[float, ...], ...]
    aspect_ratios: tuple[tuple[float, ...], ...]
    offset: float = 0.0

    def per_level(self, num_levels: int) -> tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]:
        """(sizes, aspect ratios) of each of `num_levels` levels, broadcasting a single entry as Detectron2 does."""
        sizes = self.sizes * num_levels if len(self.sizes) == 1 else self.sizes
        ratios = self.aspect_ratios * num_levels if len(self.aspect_ratios) == 1 else self.aspect_ratios
        return tuple(zip(sizes, ratios, strict=True))

    def num_anchors(self, level: int = 0) -> int:
        sizes = self.sizes[0 if len(self.sizes) == 1 else level]
        ratios = self.aspect_ratios[0 if len(self.aspect_ratios) == 1 else level]
        return len(sizes) * len(ratios)


@dataclass(frozen=True)
class RPNSpec:
    """RPN with StandardRPNHead: `head_conv_dims` -1 = as many channels as the input."""

    in_features: tuple[str, ...]
    head_conv_dims: tuple[int, ...] = (-1,)
    pre_nms_topk_test: int = 6000  # per level
    post_nms_topk_test: int = 1000  # per image
    nms_thresh: float = 0.7
    bbox_reg_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    boundary_thresh: int = -1  # training only: anchors beyond the image by more than this are ignored
    min_box_size: float = 0.0  # PROPOSAL_GENERATOR.MIN_SIZE: proposals smaller than this are dropped


@dataclass(frozen=True)
class PoolerSpec:
    """ROIPooler: output resolution, sampling ratio (0 = adaptive) and type (ROIAlignV2 = aligned=True)."""

    resolution: int
    sampling_ratio: int = 0
    type: str = "ROIAlignV2"

    @property
    def aligned(self) -> bool:
        """ROIAlignV2 shifts boxes by -0.5 pixel (torchvision roi_align aligned=True); ROIAlign does not."""
        return self.type == "ROIAlignV2"


@dataclass(frozen=True)
class BoxHeadSpec:
    """FastRCNNConvFCHead (name) or, for Res5ROIHeads, no head of its own ("": res5 then average pooling)."""

    pooler: PoolerSpec
    name: str = "FastRCNNConvFCHead"
    num_conv: int = 0
    conv_dim: int = 256
    num_fc: int = 2
    fc_dim: int = 1024
    norm: str = ""
    bbox_reg_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    cls_agnostic_bbox_reg: bool = False


@dataclass(frozen=True)
class MaskHeadSpec:
    """MaskRCNNConvUpsampleHead: num_conv 3x3 convs, a 2x deconvolution, a 1x1 predictor."""

    pooler: PoolerSpec
    name: str = "MaskRCNNConvUpsampleHead"
    num_conv: int = 4
    conv_dim: int = 256
    norm: str = ""
    cls_agnostic: bool = False


@dataclass(frozen=True)
class KeypointHeadSpec:
    """KRCNNConvDeconvUpsampleHead: 3x3 convs of `conv_dims`, a stride-2 deconvolution, 2x bilinear upsampling."""

    pooler: PoolerSpec
    name: str = "KRCNNConvDeconvUpsampleHead"
    num_keypoints: int = 17
    conv_dims: tuple[int, ...] = (512,) * 8


@dataclass(frozen=True)
class ROIHeadsSpec:
    """Res5ROIHeads (C4: res5 runs per RoI) or StandardROIHeads, with their test-time settings."""

    name: str
    in_features: tuple[str, ...]
    num_classes: int
    box: BoxHeadSpec
    score_thresh_test: float = 0.05
    nms_thresh_test: float = 0.5
    detections_per_image: int = 100
    mask: MaskHeadSpec | None = None
    keypoint: KeypointHeadSpec | None = None


@dataclass(frozen=True)
class RetinaNetSpec:
    in_features: tuple[str, ...]
    num_classes: int = 80
    num_convs: int = 4
    norm: str = ""
    prior_prob: float = 0.01
    score_thresh_test: float = 0.05
    topk_candidates_test: int = 1000  # per level
    nms_thresh_test: float = 0.5
    bbox_reg_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    detections_per_image: int = 100


@dataclass(frozen=True)
class InputSpec:
    """Test-time resize (ResizeShortestEdge) and normalisation ((x - mean) / std in `format` channel order)."""

    min_size_test: int = 800
    max_size_test: int = 1333
    pixel_mean: tuple[float, float, float] = (103.53, 116.28, 123.675)
    pixel_std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    format: str = "BGR"
    size_divisibility: int = 0  # the backbone's: 32 for FPN (its coarsest input stride), 0 otherwise


@dataclass(frozen=True)
class Detectron2Arch:
    """What to build and how to run it. `kind`: rpn | fast | faster | mask | keypoint | retinanet.

    `structure`: "C4" (res2..res4 backbone, res5 inside the RoI heads), "DC5" (res5 dilated, one stride-16 map)
    or "FPN". Parts a model lacks are None: `rpn` for Fast R-CNN (it reads precomputed proposals) and RetinaNet,
    `roi_heads` for RPN-only models and RetinaNet, `retinanet` elsewhere, `fpn` for C4 and DC5.
    """

    config: str
    meta_architecture: str
    kind: str
    structure: str
    backbone: ResNetSpec | RegNetSpec
    input: InputSpec
    anchors: AnchorSpec | None = None
    fpn: FPNSpec | None = None
    rpn: RPNSpec | None = None
    roi_heads: ROIHeadsSpec | None = None
    retinanet: RetinaNetSpec | None = None
    load_proposals: bool = False
    proposals_config: str = ""  # the RPN config whose proposals a Fast R-CNN model reads
    precomputed_proposal_topk_test: int = 1000  # proposals kept per image (read only when load_proposals)
    lsj: bool = False  # a LazyConfig "new baselines" (large-scale jitter) model
    defaults_used: tuple[str, ...] = field(default=(), compare=False)

    @property
    def num_classes(self) -> int:
        """Foreground classes (Detectron2 has no background class in the count)."""
        if self.retinanet is not None:
            return self.retinanet.num_classes
        return self.roi_heads.num_classes if self.roi_heads is not None else 1

    @property
    def mask_on(self) -> bool:
        return self.roi_heads is not None and self.roi_heads.mask is not None

    @property
    def keypoints_on(self) -> bool:
        return self.roi_heads is not None and self.roi_heads.keypoint is not None

    @property
    def outputs(self) -> frozenset[str]:
        if self.kind == "rpn":
            return frozenset({"proposals"})
        return frozenset({"boxes"} | ({"masks"} if self.mask_on else set())
                         | ({"keypoints"} if self.keypoints_on else set()))


# --- reading the text row ------------------------------------------------------------------------------------


class _Row:
    """Typed reads of one all-text config row; every read names the column in its error."""

    def __init__(self, facts: Mapping[str, Any]) -> None:
        self.facts = {key: "" if value is None else str(value).strip() for key, value in facts.items()}
        self.config = self.facts.get("config", "") or "?"

    def text(self, column: str) -> str:
        value = self.facts.get(column, "")
        return "" if value.lower() == "nan" else value

    def has(self, column: str) -> bool:
        return self.text(column) != ""

    def _need(self, column: str) -> str:
        value = self.text(column)
        if not value:
            raise UnsupportedConfigError(f"{self.config}: the config table has no value for {column!r}")
        return value

    def _convert(self, column: str, convert: Any) -> Any:
        value = self._need(column)
        try:
            return convert(value)
        except (TypeError, ValueError) as error:
            raise UnsupportedConfigError(f"{self.config}: {column} = {value!r} is not readable") from error

    def int(self, column: str) -> int:
        return self._convert(column, lambda text: int(float(text)) if float(text).is_integer() else int(text))

    def float(self, column: str) -> float:
        return self._convert(column, float)

    def bool(self, column: str) -> bool:
        def convert(text: str) -> bool:
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        return self._convert(column, convert)

    def norm(self, column: str) -> str:
        value = self.text(column)
        if value not in TEST_NORMS:
            raise UnsupportedConfigError(f"{self.config}: {column} = {value!r} is not a norm this port builds "
                                         f"(known: {', '.join(sorted(name for name in TEST_NORMS if name))})")
        return TEST_NORMS[value]

    def names(self, column: str) -> tuple[str, ...]:
        return tuple(part for part in self.text(column).split(";") if part)

    def floats(self, column: str) -> tuple[float, ...]:
        return self._convert(column, lambda text: tuple(float(part) for part in text.split(";") if part))

    def ints(self, column: str) -> tuple[int, ...]:
        return self._convert(column, lambda text: tuple(int(part) for part in text.split(";") if part))

    def weights(self, column: str) -> tuple[float, float, float, float]:
        values = self.floats(column)
        if len(values) != 4:
            raise UnsupportedConfigError(f"{self.config}: {column} needs 4 box-coding weights, has {len(values)}")
        return values  # type: ignore[return-value]

    def triple(self, column: str) -> tuple[float, float, float]:
        values = self.floats(column)
        if len(values) != 3:
            raise UnsupportedConfigError(f"{self.config}: {column} needs 3 values (one per channel)")
        return values  # type: ignore[return-value]

    def levels(self, column: str) -> tuple[tuple[float, ...], ...]:
        """'32|64|128' or '32;40.3|64;80.6' -> one tuple per level."""
        return self._convert(column, lambda text: tuple(tuple(float(part) for part in level.split(";") if part)
                                                        for level in text.split("|")))


def _backbone(row: _Row) -> ResNetSpec | RegNetSpec:
    bottom_up = row.text("bottom_up")
    if bottom_up == "ResNet":
        return ResNetSpec(
            depth=row.int("resnet_depth"), num_groups=row.int("resnet_num_groups"),
            width_per_group=row.int("resnet_width_per_group"), stride_in_1x1=row.bool("resnet_stride_in_1x1"),
            res5_dilation=row.int("resnet_res5_dilation"), stem_out_channels=row.int("resnet_stem_out_channels"),
            res2_out_channels=row.int("resnet_res2_out_channels"), norm=row.norm("resnet_norm"),
            stem_norm=row.norm("resnet_stem_norm"), out_features=row.names("backbone_out_features"))
    if bottom_up == "RegNet":
        return RegNetSpec(
            stem_width=row.int("regnet_stem_width"), depth=row.int("regnet_depth"), w_a=row.float("regnet_w_a"),
            w_0=row.int("regnet_w_0"), w_m=row.float("regnet_w_m"), group_width=row.int("regnet_group_width"),
            stage_depths=row.ints("regnet_stage_depths"), stage_widths=row.ints("regnet_stage_widths"),
            stage_group_widths=row.ints("regnet_stage_group_widths"),
            bottleneck_ratio=row.float("regnet_bottleneck_ratio"), se_ratio=row.float("regnet_se_ratio"),
            stride=row.int("regnet_stride"), norm=row.norm("regnet_norm"),
            out_features=row.names("backbone_out_features"))
    raise UnsupportedConfigError(f"{row.config}: bottom-up backbone {bottom_up!r} is not supported (ResNet, RegNet)")


def _fpn(row: _Row) -> FPNSpec | None:
    if not row.has("fpn_in_features"):
        return None
    return FPNSpec(in_features=row.names("fpn_in_features"), out_channels=row.int("fpn_out_channels"),
                   norm=row.norm("fpn_norm"), fuse_type=row.text("fpn_fuse_type"),
                   top_block=row.text("fpn_top_block"), top_block_in_feature=row.text("fpn_top_block_in_feature"))


def _anchors(row: _Row) -> AnchorSpec | None:
    if not row.has("anchor_sizes"):
        return None
    return AnchorSpec(sizes=row.levels("anchor_sizes"), aspect_ratios=row.levels("anchor_aspect_ratios"),
                      offset=row.float("anchor_offset"))


def _rpn(row: _Row) -> RPNSpec | None:
    if row.text("proposal_generator") != "RPN":
        return None
    return RPNSpec(in_features=row.names("rpn_in_features"), head_conv_dims=row.ints("rpn_head_conv_dims"),
                   pre_nms_topk_test=row.int("rpn_pre_nms_topk_test"),
                   post_nms_topk_test=row.int("rpn_post_nms_topk_test"), nms_thresh=row.float("rpn_nms_thresh"),
                   bbox_reg_weights=row.weights("rpn_bbox_reg_weights"),
                   boundary_thresh=row.int("rpn_boundary_thresh"), min_box_size=row.float("proposal_min_size"))


def _pooler(row: _Row, prefix: str) -> PoolerSpec:
    return PoolerSpec(resolution=row.int(f"{prefix}_pooler_resolution"),
                      sampling_ratio=row.int(f"{prefix}_pooler_sampling_ratio"), type=row.text(f"{prefix}_pooler_type"))


def _box_head(row: _Row) -> BoxHeadSpec:
    """The box head; Res5ROIHeads has none of its own (res5 + average pooling feed the predictor)."""
    common = {"pooler": _pooler(row, "box"), "bbox_reg_weights": row.weights("box_bbox_reg_weights"),
              "cls_agnostic_bbox_reg": row.bool("box_cls_agnostic_bbox_reg")}
    if row.text("roi_heads_name") == "Res5ROIHeads" and not row.has("box_head_name"):
        return BoxHeadSpec(name="", num_conv=0, num_fc=0, **common)
    return BoxHeadSpec(name=row.text("box_head_name"), num_conv=row.int("box_head_num_conv"),
                       conv_dim=row.int("box_head_conv_dim"), num_fc=row.int("box_head_num_fc"),
                       fc_dim=row.int("box_head_fc_dim"), norm=row.norm("box_head_norm"), **common)


def _roi_heads(row: _Row) -> ROIHeadsSpec | None:
    if row.text("meta_architecture") != "GeneralizedRCNN":
        return None
    box = _box_head(row)
    mask = None
    if row.bool("mask_on"):
        mask = MaskHeadSpec(pooler=_pooler(row, "mask"), name=row.text("mask_head_name"),
                            num_conv=row.int("mask_head_num_conv"), conv_dim=row.int("mask_head_conv_dim"),
                            norm=row.norm("mask_head_norm"), cls_agnostic=row.bool("mask_cls_agnostic"))
    keypoint = None
    if row.bool("keypoint_on"):
        keypoint = KeypointHeadSpec(pooler=_pooler(row, "keypoint"), name=row.text("keypoint_head_name"),
                                    num_keypoints=row.int("keypoint_num_keypoints"),
                                    conv_dims=row.ints("keypoint_conv_dims"))
    return ROIHeadsSpec(
        name=row.text("roi_heads_name"), in_features=row.names("roi_heads_in_features"),
        num_classes=row.int("num_classes"), box=box, score_thresh_test=row.float("roi_score_thresh_test"),
        nms_thresh_test=row.float("roi_nms_thresh_test"), detections_per_image=row.int("detections_per_image"),
        mask=mask, keypoint=keypoint)


def _retinanet(row: _Row) -> RetinaNetSpec | None:
    if row.text("meta_architecture") != "RetinaNet":
        return None
    return RetinaNetSpec(
        in_features=row.names("retinanet_in_features"), num_classes=row.int("retinanet_num_classes"),
        num_convs=row.int("retinanet_num_convs"), norm=row.norm("retinanet_norm"),
        prior_prob=row.float("retinanet_prior_prob"), score_thresh_test=row.float("retinanet_score_thresh_test"),
        topk_candidates_test=row.int("retinanet_topk_candidates_test"),
        nms_thresh_test=row.float("retinanet_nms_thresh_test"),
        bbox_reg_weights=row.weights("retinanet_bbox_reg_weights"),
        detections_per_image=row.int("detections_per_image"))


def _input(row: _Row, fpn: FPNSpec | None) -> InputSpec:
    fmt = row.text("input_format")
    if fmt not in ("BGR", "RGB"):
        raise UnsupportedConfigError(f"{row.config}: input format {fmt!r} is not supported (BGR, RGB)")
    return InputSpec(min_size_test=row.int("min_size_test"), max_size_test=row.int("max_size_test"),
                     pixel_mean=row.triple("pixel_mean"), pixel_std=row.triple("pixel_std"), format=fmt,
                     size_divisibility=32 if fpn is not None else 0)


def _kind(row: _Row, meta: str) -> str:
    if meta == "RetinaNet":
        return "retinanet"
    if meta == "ProposalNetwork":
        return "rpn"
    if row.bool("keypoint_on"):
        return "keypoint"
    if row.bool("mask_on"):
        return "mask"
    return "fast" if row.text("proposal_generator") == "PrecomputedProposals" else "faster"


def _structure(backbone: ResNetSpec | RegNetSpec, fpn: FPNSpec | None) -> str:
    if fpn is not None:
        return "FPN"
    if isinstance(backbone, ResNetSpec) and backbone.res5_dilation == 2 and backbone.out_features == ("res5",):
        return "DC5"
    return "C4"


def arch_from_config(facts: Mapping[str, Any]) -> Detectron2Arch:
    """The `Detectron2Arch` of one `detectron2_configs.csv` row (UnsupportedConfigError if it cannot be built)."""
    row = _Row(facts)
    meta = row.text("meta_architecture")
    if meta not in META_ARCHITECTURES:
        raise UnsupportedConfigError(f"{row.config}: meta architecture {meta!r} is not supported "
                                     f"({', '.join(META_ARCHITECTURES)})")
    backbone = _backbone(row)
    fpn = _fpn(row)
    load_proposals = row.bool("load_proposals")
    proposals = {"proposals_config": row.text("proposals_config"),
                 "precomputed_proposal_topk_test": row.int("precomputed_proposal_topk_test")} if load_proposals else {}
    arch = Detectron2Arch(
        config=row.config, meta_architecture=meta, kind=_kind(row, meta), structure=_structure(backbone, fpn),
        backbone=backbone, input=_input(row, fpn), anchors=_anchors(row), fpn=fpn, rpn=_rpn(row),
        roi_heads=_roi_heads(row), retinanet=_retinanet(row), load_proposals=load_proposals, **proposals,
        lsj=row.text("config_format") == "lazy", defaults_used=row.names("defaults_used"))
    _check(arch, row)
    return arch


def _check(arch: Detectron2Arch, row: _Row) -> None:
    """Refuse what this port does not implement, naming every setting at fault."""
    problems = [*_check_backbone(arch), *_check_heads(arch)]
    if arch.kind == "fast" and not (arch.load_proposals and arch.proposals_config):
        problems.append("a Fast R-CNN model without the RPN config whose proposals it reads")
    if arch.kind in ("rpn", "faster", "mask", "keypoint") and arch.rpn is None:
        problems.append(f"proposal generator {row.text('proposal_generator')!r} (RPN expected)")
    if arch.kind in ("rpn", "faster", "mask", "keypoint", "retinanet") and arch.anchors is None:
        problems.append("no anchor sizes")
    if row.text("test_aug") == "true":
        problems.append("test-time augmentation (TEST.AUG)")
    if problems:
        raise UnsupportedConfigError(f"{arch.config}: not supported here: {'; '.join(problems)}")


def _check_backbone(arch: Detectron2Arch) -> list[str]:
    problems = []
    backbone = arch.backbone
    if isinstance(backbone, ResNetSpec):
        if backbone.depth not in STAGE_BLOCKS:
            problems.append(f"ResNet depth {backbone.depth} (bottleneck depths {sorted(STAGE_BLOCKS)})")
        if backbone.res5_dilation not in (1, 2):
            problems.append(f"res5 dilation {backbone.res5_dilation}")
        if arch.structure == "C4" and (backbone.out_features != ("res4",) or backbone.res5_dilation != 1):
            problems.append(f"a C4 model with backbone outputs {backbone.out_features} and res5 dilation "
                            f"{backbone.res5_dilation}")
    elif len(backbone.stage_widths) != 4 or len(backbone.stage_depths) != 4:
        problems.append(f"a RegNet with {len(backbone.stage_widths)} stages (4 expected)")
    if arch.fpn is not None:
        if arch.fpn.fuse_type != "sum":
            problems.append(f"FPN fuse type {arch.fpn.fuse_type!r}")
        if arch.fpn.top_block not in ("LastLevelMaxPool", "LastLevelP6P7"):
            problems.append(f"FPN top block {arch.fpn.top_block!r}")
    elif isinstance(backbone, RegNetSpec):
        problems.append("a RegNet without FPN")
    return problems


def _check_heads(arch: Detectron2Arch) -> list[str]:
    problems = []
    heads = arch.roi_heads
    if heads is not None:
        if heads.name not in ("Res5ROIHeads", "StandardROIHeads"):
            problems.append(f"RoI heads {heads.name!r}")
        if heads.name == "Res5ROIHeads" and arch.structure != "C4":
            problems.append("Res5ROIHeads on a backbone that already runs res5")
        if heads.name == "StandardROIHeads" and heads.box.name != "FastRCNNConvFCHead":
            problems.append(f"box head {heads.box.name!r}")
        poolers = [heads.box.pooler] + [head.pooler for head in (heads.mask, heads.keypoint) if head is not None]
        problems += [f"pooler type {pooler.type!r}" for pooler in poolers if pooler.type not in POOLER_TYPES[:2]]
        if heads.mask is not None and heads.mask.name != "MaskRCNNConvUpsampleHead":
            problems.append(f"mask head {heads.mask.name!r}")
        if heads.keypoint is not None and heads.keypoint.name != "KRCNNConvDeconvUpsampleHead":
            problems.append(f"keypoint head {heads.keypoint.name!r}")
    if arch.retinanet is not None and arch.fpn is None:
        problems.append("RetinaNet without FPN")
    return problems
