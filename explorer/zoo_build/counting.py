"""GFLOPs and parameters of the models we build, counted on the meta device (shapes only, no arithmetic).

Convention, chosen to match torchvision's own `_ops` ("GFLOPS") metadata so that one x axis can hold both:

* one multiply-add counts once (`torch.utils.flop_counter.FlopCounterMode` counts it as two: we halve it);
  only what that counter counts (convolutions, linear layers, matrix products), nothing for RoIAlign or NMS;
* a square image resized to the test scale (800 -> an 800x800 network input), as torchvision's figures are
  for a 224x224 image that the model resizes to its minimum size;
* the box head on the test-time number of RoIs (the RPN's post-NMS top N, or a Fast R-CNN row's proposal
  limit; the RPN that made those proposals is not counted, as the published times leave it out);
* the heads that run once per detection (masks, keypoints) are reported apart, for the test maximum of
  100 detections: torchvision's published figures count none of them.

Running every part on meta tensors needs no weights and no compute, so the whole Detectron zoo counts in
seconds; the data-dependent steps between the parts (proposal selection, NMS) are replaced by their sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CONVENTION = ("multiply-adds of convolutions, linear layers and matrix products (torchvision's GFLOPS "
              "convention), the box head on the test-time RoI count, mask/keypoint heads counted apart")


@dataclass(frozen=True)
class Complexity:
    """One model's count: the network without per-detection heads, those heads at `detections`, parameters."""

    gflops: float
    detection_heads_gflops: float  # masks/keypoints at `detections` detections (0 for box-only models)
    params_m: float
    input_size: int  # the square network input's side
    rois: int  # RoIs through the box head (0: no box head)
    detections: int


def count_macs(run: Callable[[], Any]) -> int:
    """Multiply-adds of what `run` computes: FlopCounterMode's FLOPs (2 per multiply-add) halved."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        run()
    return int(counter.get_total_flops()) // 2


def detectron_complexity(arch: Any, detections: int | None = None) -> Complexity:
    """Count a Detectron architecture at its test scale; a TTA architecture sums every transform it runs."""
    import torch

    from explorer.models.detectron.network.model import DetectronModel

    with torch.device("meta"):
        model = DetectronModel(arch).eval()
    detections = arch.test_detections_per_im if detections is None else detections
    passes = _tta_scales(arch) if arch.tta else [arch.test_scale]
    macs = sum(count_macs(lambda s=s: _detectron_dense(model, arch, s)) for s in passes)
    rois = _rois(arch)
    head_passes = len(passes) if arch.tta and arch.tta_mask_aug else 1
    channels = _pooled_channels(arch)
    heads = head_passes * count_macs(lambda: _detectron_detection_heads(model, arch, detections, channels))
    return Complexity(gflops=macs / 1e9, detection_heads_gflops=heads / 1e9, params_m=_params_m(model),
                      input_size=arch.test_scale, rois=rois, detections=detections if heads else 0)


def _tta_scales(arch: Any) -> list[int]:
    """The square side of each transform Detectron's TTA runs: identity, flip, every scale (and its flip)."""
    sides = [arch.test_scale] + ([arch.test_scale] if arch.tta_h_flip else [])
    for scale in arch.tta_scales:
        side = min(scale, arch.tta_max_size)
        sides += [side, side] if arch.tta_scale_h_flip else [side]
    return sides


def _rois(arch: Any) -> int:
    if not arch.box_on:
        return 0
    return arch.rpn_post_nms_top_n if arch.kind == "faster" else arch.proposal_limit


def _meta(*shape: int) -> Any:
    import torch

    return torch.empty(*shape, device="meta")


def _padded(side: int, stride: int) -> int:
    return side if not stride else -(-side // stride) * stride


def _detectron_dense(model: Any, arch: Any, side: int) -> None:
    """Body, FPN, RPN or RetinaNet heads on every level, and the box head on the RoIs: the per-image part."""
    side = _padded(side, arch.pad_stride)
    features = model.features(_meta(1, 3, side, side))
    if model.rpn is not None:
        levels = list(range(arch.rpn_min_level, arch.rpn_max_level + 1)) if arch.fpn else [4]
        for level in levels:
            model.rpn(features[level])
    if model.retinanet is not None:
        for level in range(arch.rpn_min_level, arch.rpn_max_level + 1):
            model.retinanet(features[level])
    if model.box_head is not None:
        channels = _roi_channels(arch, features)
        model.box_outputs(model.box_head(_meta(_rois(arch), channels, arch.box_resolution, arch.box_resolution)))


def _roi_channels(arch: Any, features: dict[int, Any]) -> int:
    """Channels of the features RoIs are pooled from (FPN levels, or res4 for C4 models)."""
    return int(features[arch.roi_min_level if arch.fpn else 4].shape[1])


def _pooled_channels(arch: Any) -> int:
    """The same without running the body: the FPN's width, or res4's (what the RPN head also reads)."""
    from explorer.models.detectron.network.resnet import STAGE_DIMS

    return arch.fpn_dim if arch.fpn else STAGE_DIMS[2]


def _detectron_detection_heads(model: Any, arch: Any, detections: int, channels: int) -> None:
    """The mask and keypoint heads on `detections` RoIs pooled from `channels`-deep features."""
    if model.mask_head is not None:
        res = arch.mask_roi_resolution
        model.mask_logits(_meta(detections, channels, res, res))
    if model.keypoint_head is not None:
        res = arch.keypoint_roi_resolution
        model.keypoint_head(_meta(detections, channels, res, res))


def _params_m(model: Any) -> float:
    """Learned parameters in millions (Detectron's frozen batch norm is buffers, as torchvision's is)."""
    return sum(p.numel() for p in model.parameters()) / 1e6


# ---- torchvision: the same parts-on-meta method, to check it against torchvision's published figures ----------

def torchvision_complexity(builder: str, num_classes: int = 91, image_side: int = 224, detections: int = 0,
                           **kwargs: Any) -> Complexity:
    """Count a torchvision detector the way `detectron_complexity` counts ours (for the check against `_ops`).

    `image_side` is the square image given to the model, which resizes it as its transform would; the
    per-detection heads run on `detections` RoIs (torchvision's published figures: none).
    """
    import torch
    from torchvision.models import get_model

    with torch.device("meta"):
        model = get_model(builder, weights=None, weights_backbone=None, num_classes=num_classes, **kwargs).eval()
    side = _torchvision_input_side(model, image_side)
    macs = count_macs(lambda: _torchvision_dense(model, side))
    heads = count_macs(lambda: _torchvision_detection_heads(model, side, detections)) if detections else 0
    rois = model.rpn._post_nms_top_n["testing"] if hasattr(model, "rpn") else 0
    return Complexity(gflops=macs / 1e9, detection_heads_gflops=heads / 1e9, params_m=_params_m(model),
                      input_size=side, rois=int(rois), detections=detections)


def _torchvision_input_side(model: Any, image_side: int) -> int:
    transform = model.transform
    if hasattr(transform, "fixed_size") and transform.fixed_size:
        return int(transform.fixed_size[0])  # SSD resizes to its fixed square
    scale = min(transform.min_size[-1] / image_side, transform.max_size / image_side)
    return int(image_side * scale)


def _torchvision_dense(model: Any, side: int) -> None:
    features = model.backbone(_meta(1, 3, side, side))
    levels = list(features.values()) if isinstance(features, dict) else [features]
    if hasattr(model, "rpn"):  # two-stage: RPN head on every level, box head on the test RoI count
        model.rpn.head(levels)
        rois = model.rpn._post_nms_top_n["testing"]
        channels = int(levels[0].shape[1])
        size = model.roi_heads.box_roi_pool.output_size
        size = size if isinstance(size, (tuple, list)) else (size, size)
        model.roi_heads.box_predictor(model.roi_heads.box_head(_meta(rois, channels, *size)))
    else:  # one-stage: the head on every level
        model.head(levels)


def _torchvision_detection_heads(model: Any, side: int, detections: int) -> None:
    heads = model.roi_heads
    channels = int(next(iter(model.backbone(_meta(1, 3, 64, 64)).values())).shape[1])
    for pool, head, predictor in ((getattr(heads, "mask_roi_pool", None), getattr(heads, "mask_head", None),
                                   getattr(heads, "mask_predictor", None)),
                                  (getattr(heads, "keypoint_roi_pool", None), getattr(heads, "keypoint_head", None),
                                   getattr(heads, "keypoint_predictor", None))):
        if head is None:
            continue
        size = pool.output_size
        size = size if isinstance(size, (tuple, list)) else (size, size)
        predictor(head(_meta(detections, channels, *size)))


# ---- Detectron2: the same convention on its networks ----------------------------------------------------------

def detectron2_complexity(config: Any, detections: int | None = None) -> Complexity:
    """Count a Detectron2 `NetConfig` at its test scale, as `detectron_complexity` counts Detectron's.

    The box head runs on the RPN's post-NMS top N (a Fast R-CNN row: its proposal limit; the RPN that made
    those proposals is left out). Parameters are the learned ones: FrozenBN statistics are not, but the
    affine weight and bias of a trained BN (the LSJ rows' SyncBN) are.
    """
    import torch

    from explorer.models.detectron2.network.model import Detectron2Model

    with torch.device("meta"):
        model = Detectron2Model(config).eval()
    detections = config.detections_per_image if detections is None else detections
    macs = count_macs(lambda: _detectron2_dense(model, config))
    heads = count_macs(lambda: _detectron2_detection_heads(model, config, detections))
    return Complexity(gflops=macs / 1e9, detection_heads_gflops=heads / 1e9, params_m=_detectron2_params_m(model),
                      input_size=config.min_size, rois=_detectron2_rois(config), detections=detections if heads else 0)


def _detectron2_rois(config: Any) -> int:
    if config.meta != "rcnn":
        return 0
    return config.proposal_topk if config.precomputed_proposals else config.rpn_post_nms_topk


def _detectron2_channels(model: Any, config: Any) -> int:
    if config.fpn:
        return config.fpn_dim
    return config.res2_out * 2 ** (config.feature_levels[0] - 2)


def _detectron2_dense(model: Any, config: Any) -> None:
    side = _padded(config.min_size, config.size_divisibility if config.fpn else 0)
    inputs = model.head_inputs(model.features(_meta(1, 3, side, side)))
    if model.proposal_generator is not None:
        model.proposal_generator.rpn_head(inputs)
    if model.head is not None:
        model.head(inputs)
    heads = model.roi_heads
    if heads is not None:
        res = config.box_pooler_resolution
        pooled = _meta(_detectron2_rois(config), _detectron2_channels(model, config), res, res)
        heads.box_predictor(heads.res5(pooled).mean(dim=(2, 3)) if heads.c4 else heads.box_head(pooled))


def _detectron2_detection_heads(model: Any, config: Any, detections: int) -> None:
    heads = model.roi_heads
    if heads is None:
        return
    channels = _detectron2_channels(model, config)
    if config.mask_on:
        res = config.box_pooler_resolution if heads.c4 else config.mask_pooler_resolution
        pooled = _meta(detections, channels, res, res)
        heads.mask_head(heads.res5(pooled) if heads.c4 else pooled)
    if config.keypoint_on:
        res = config.keypoint_pooler_resolution
        heads.keypoint_head(_meta(detections, channels, res, res))


def _detectron2_params_m(model: Any) -> float:
    from explorer.models.detectron2.network.layers import Norm

    count = sum(p.numel() for p in model.parameters())
    if model.config.backbone_norm == "BN" or model.config.fpn_norm == "BN":
        count += sum(m.weight.numel() + m.bias.numel() for m in model.modules() if isinstance(m, Norm))
    return count / 1e6
