"""Detectron2's single-image test path on a `Detectron2Model` (GeneralizedRCNN.inference, ProposalNetwork,
RetinaNet), returning results in original-image pixels.

Fast R-CNN models get their proposals from another model's output (Detectron2 reads them from the RPN row's
proposal file); `transform_proposals` repeats what Detectron2's dataset mapper does to them: scale to the
resized image, clip, drop empty boxes, keep the first `proposal_topk`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from explorer.models.detectron2 import boxes as box_ops
from explorer.models.detectron2.inference.postprocess import (
    Instances,
    box_detections,
    heatmaps_to_keypoints,
    paste_masks,
    rescale,
)
from explorer.models.detectron2.inference.preprocess import ModelInput, model_input
from explorer.models.detectron2.netconfig import NetConfig
from explorer.models.detectron2.network.model import Detectron2Model
from explorer.models.detectron2.network.retinanet import retinanet_detections

MASK_THRESHOLD = 0.5


@dataclass(frozen=True)
class TestSettings:
    """The config's input size and thresholds, with the spec's overrides applied."""

    min_size: int
    max_size: int
    score_thresh: float
    nms_thresh: float
    detections_per_image: int


def default_settings(config: NetConfig) -> TestSettings:
    retina = config.meta == "retinanet"
    return TestSettings(config.min_size, config.max_size,
                        config.retinanet_score_thresh if retina else config.score_thresh,
                        config.retinanet_nms_thresh if retina else config.nms_thresh, config.detections_per_image)


class Pipeline:
    def __init__(self, model: Detectron2Model, settings: TestSettings) -> None:
        self.model = model
        self.config: NetConfig = model.config
        self.settings = settings

    def prepare(self, rgb: np.ndarray, device: str | torch.device) -> ModelInput:
        config, settings = self.config, self.settings
        return model_input(rgb, short=settings.min_size, max_size=settings.max_size,
                           input_format=config.input_format, pixel_mean=config.pixel_mean,
                           pixel_std=config.pixel_std, size_divisibility=config.size_divisibility if config.fpn else 0,
                           square_pad=config.square_pad, device=device)

    def features(self, batch: ModelInput) -> dict[int, torch.Tensor]:
        return self.model.features(batch.tensor)

    # ------------------------------------------------------------------ proposals

    def proposals(self, batch: ModelInput, features: dict[int, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """RPN proposals (resized-image pixels) and objectness logits, best first."""
        assert self.model.proposal_generator is not None
        return self.model.proposal_generator(self.model.head_inputs(features), batch.image_size)

    def rpn_only(self, batch: ModelInput) -> tuple[torch.Tensor, torch.Tensor]:
        """ProposalNetwork.inference: proposals in original pixels (scaled, clipped, non-empty) and logits."""
        boxes, logits = self.proposals(batch, self.features(batch))
        found = rescale(Instances(boxes, logits, torch.zeros_like(logits, dtype=torch.int64)), batch.image_size,
                        batch.original_size)
        return found.boxes, found.scores

    def transform_proposals(self, boxes: torch.Tensor, logits: torch.Tensor, batch: ModelInput,
                            ) -> torch.Tensor:
        """Precomputed proposals (original pixels, best first) as the mapper gives them to a Fast R-CNN model."""
        order = torch.argsort(logits, descending=True, stable=True)
        boxes = boxes[order].float()
        scale_x = batch.image_size[1] / batch.original_size[1]
        scale_y = batch.image_size[0] / batch.original_size[0]
        boxes = box_ops.clip(box_ops.scale(boxes, scale_x, scale_y), *batch.image_size)
        boxes = boxes[box_ops.nonempty(boxes)]
        return boxes[: self.config.proposal_topk]

    # ------------------------------------------------------------------ R-CNN

    def detect(self, batch: ModelInput, features: dict[int, torch.Tensor], proposals: torch.Tensor) -> Instances:
        """Boxes, masks and keypoints of one image in original pixels (masks pasted, keypoints decoded)."""
        heads, config, settings = self.model.roi_heads, self.config, self.settings
        assert heads is not None
        logits, deltas = heads.box_outputs(features, proposals)
        found = box_detections(logits, deltas, proposals, batch.image_size, config.bbox_reg_weights,
                               settings.score_thresh, settings.nms_thresh, settings.detections_per_image)
        masks = keypoints = None
        if config.mask_on:
            masks = self.mask_probs(features, found)
        if config.keypoint_on:
            keypoints = heatmaps_to_keypoints(heads.keypoint_logits(features, found.boxes), found.boxes) \
                if len(found) else found.boxes.new_zeros((0, config.num_keypoints, 4))
        found = rescale(replace(found, masks=masks, keypoints=keypoints), batch.image_size, batch.original_size)
        if found.masks is not None:
            height, width = batch.original_size
            found = replace(found, masks=paste_masks(found.masks, found.boxes, height, width, MASK_THRESHOLD))
        return found

    def mask_probs(self, features: dict[int, torch.Tensor], found: Instances) -> torch.Tensor:
        """mask_rcnn_inference: the sigmoid of each detection's own class mask (N, M, M)."""
        heads = self.model.roi_heads
        assert heads is not None
        if len(found) == 0:
            size = self.config.mask_pooler_resolution * 2 if self.config.layout != "C4" \
                else self.config.box_pooler_resolution
            return found.boxes.new_zeros((0, size, size))
        logits = heads.mask_logits(features, found.boxes)
        if logits.shape[1] == 1:
            own = logits[:, 0]
        else:
            own = logits[torch.arange(logits.shape[0], device=logits.device), found.classes]
        return own.float().sigmoid()

    # ------------------------------------------------------------------ RetinaNet

    def retinanet(self, batch: ModelInput) -> Instances:
        model, config, settings = self.model, self.config, self.settings
        assert model.head is not None and model.anchor_generator is not None
        inputs = model.head_inputs(self.features(batch))
        anchors = model.anchor_generator(inputs)
        outputs = list(zip(*model.head(inputs), strict=True))
        boxes, scores, classes = retinanet_detections(outputs, anchors, config.num_classes, settings.score_thresh,
                                                      config.retinanet_topk, settings.nms_thresh,
                                                      settings.detections_per_image)
        return rescale(Instances(boxes, scores, classes), batch.image_size, batch.original_size)
