"""Small torchvision detectors of every kind for the runtime tests: torchvision's own classes and heads on the
MobileNet-v3 FPN backbone of its smallest zoo model, so an export takes seconds, not a ResNet-50's minute.

The runtime code only sees a `TorchvisionRunner` and its `runtime_parts`, exactly as for a zoo model; only the
backbone and the keypoint head's width are smaller than the zoo's.
"""

from __future__ import annotations

import torch

from explorer.models.catalog import ModelSpec
from explorer.models.torchvision_zoo import TorchvisionRunner

SIZES = {"min_size": 96, "max_size": 128, "box_detections_per_img": 10, "box_score_thresh": 0.0}


def _backbone() -> torch.nn.Module:
    from torchvision.models.detection.backbone_utils import mobilenet_backbone

    return mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True, trainable_layers=6)


def _anchors(sizes: tuple[tuple[int, ...], ...]) -> torch.nn.Module:
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    return AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))


def small_runner(spec: ModelSpec, kind: str, seed: int = 0) -> TorchvisionRunner:
    """A random-weight runner of `kind` ('masks', 'keypoints' or 'retinanet') named after `spec`."""
    from torchvision.models.detection import KeypointRCNN, MaskRCNN, RetinaNet
    from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor

    torch.manual_seed(seed)
    rpn_anchors = _anchors(((32, 64, 128, 256, 512),) * 3)
    if kind == "masks":
        model = MaskRCNN(_backbone(), 91, rpn_anchor_generator=rpn_anchors, **SIZES)
    elif kind == "keypoints":
        model = KeypointRCNN(_backbone(), 2, rpn_anchor_generator=rpn_anchors,
                             keypoint_head=KeypointRCNNHeads(256, (64, 64)),
                             keypoint_predictor=KeypointRCNNPredictor(64, 17), **SIZES)
    else:
        model = RetinaNet(_backbone(), 91, anchor_generator=_anchors(((32, 40, 50), (64, 80, 101), (128, 161, 203))),
                          min_size=96, max_size=128, detections_per_img=10, score_thresh=0.0)
    classes = ("__background__", "person") if kind == "keypoints" else tuple(f"class {i}" for i in range(91))
    return TorchvisionRunner(spec, "cpu", model.eval(), classes)
