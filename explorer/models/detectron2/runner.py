"""A loaded Detectron2 model as the catalog's `Runner`: RGB uint8 images in, `Detections` out.

Images run one at a time (Detectron2's evaluation runs batch size 1; batching changes the padding). Boxes are
Detectron2's continuous coordinates, which are what its COCO results encode (width = x2 - x1), so they leave
unchanged. Keypoints leave as Detectron2's COCO results write them: 0.5 pixel up and left of the decoded
position (its evaluator turns the pixel-centre coordinates into COCO's pixel indices); their scores are the
heatmap logits, as the other families report them. A Fast R-CNN model runs its RPN model first, and the
time of both is counted.
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.detections import Detections
from explorer.models.catalog import ModelSpec
from explorer.models.detectron.coco import COCO_CATEGORY_IDS, COCO_NAMES, PROPOSAL_NAME
from explorer.models.detectron2.inference.pipeline import Pipeline
from explorer.models.detectron2.inference.postprocess import Instances
from explorer.models.runtime import StageClock, predict_each

KEYPOINT_INDEX_OFFSET = 0.5  # COCOEvaluator instances_to_coco_json: keypoints[:, :2] -= 0.5


def class_table(num_classes: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """(COCO ids, names) by Detectron2's 0-based class index: COCO's 80 categories sorted by id, or person."""
    if num_classes == len(COCO_CATEGORY_IDS):
        return COCO_CATEGORY_IDS, COCO_NAMES
    if num_classes == 1:
        return COCO_CATEGORY_IDS[:1], COCO_NAMES[:1]
    raise ValueError(f"no COCO class table for a {num_classes}-class Detectron2 model")


class Detectron2Runner:
    """`predict` as the catalog's Runner protocol; `pipeline` exposes Detectron2's steps for tests and tools."""

    #: The tensor-in, tensor-out submodules of `model` an export runs in a runtime (explorer.runtimes); those a
    #: config lacks are skipped. `backbone` is the whole body (ResNet/RegNet + FPN; C4/DC5: the ResNet), the RPN
    #: and RetinaNet heads take all levels in one call, and C4's `roi_heads.res5` serves its box and mask heads.
    #: Anchors, proposal selection, box decoding, NMS, RoI pooling, mask paste and keypoint decoding stay here.
    runtime_parts: tuple[str, ...] = ("backbone", "proposal_generator.rpn_head", "head", "roi_heads.res5",
                                      "roi_heads.box_head", "roi_heads.box_predictor", "roi_heads.mask_head",
                                      "roi_heads.keypoint_head")

    def __init__(self, spec: ModelSpec, device: str, pipeline: Pipeline,
                 proposal_runner: Detectron2Runner | None = None) -> None:
        self.spec = spec
        self.device = device
        self.pipeline = pipeline
        self.model = pipeline.model
        self.config = pipeline.config
        self.proposal_runner = proposal_runner
        if self.config.meta == "rpn":
            self.category_ids, self.categories = (0,), (PROPOSAL_NAME,)
        else:
            self.category_ids, self.categories = class_table(self.config.num_classes)

    def predict(self, images: list[np.ndarray], *, autocast: str | None = None) -> list[Detections]:
        return predict_each(images, self.device, autocast, self._detect)

    def raw_proposals(self, image: np.ndarray, clock: StageClock) -> tuple[torch.Tensor, torch.Tensor]:
        """RPN-only: proposals in original pixels and their objectness logits, best first."""
        with clock.stage("preprocess"):
            batch = self.pipeline.prepare(image, self.device)
        with clock.stage("model"):
            return self.pipeline.rpn_only(batch)

    def _detect(self, image: np.ndarray, clock: StageClock) -> Detections:
        meta = self.config.meta
        if meta == "rpn":
            boxes, logits = self.raw_proposals(image, clock)
            return self._proposal_detections(image, boxes, logits)
        precomputed = None
        if self.config.precomputed_proposals:
            if self.proposal_runner is None:
                raise RuntimeError(f"{self.spec.name} runs on precomputed proposals but has no proposal model")
            precomputed = self.proposal_runner.raw_proposals(image, clock)
        with clock.stage("preprocess"):
            batch = self.pipeline.prepare(image, self.device)
        with clock.stage("model"):
            if meta == "retinanet":
                found = self.pipeline.retinanet(batch)
            else:
                features = self.pipeline.features(batch)
                if precomputed is not None:
                    proposals = self.pipeline.transform_proposals(*precomputed, batch)
                else:
                    proposals, _ = self.pipeline.proposals(batch, features)
                found = self.pipeline.detect(batch, features, proposals)
        with clock.stage("postprocess"):
            return self._detections(image, found)

    def _detections(self, image: np.ndarray, found: Instances) -> Detections:
        order = torch.argsort(found.scores, descending=True, stable=True)
        classes = found.classes[order].cpu().numpy()
        keypoints = keypoint_scores = None
        if found.keypoints is not None:
            points = found.keypoints[order].float().cpu().numpy()
            keypoints = points[:, :, :2] - KEYPOINT_INDEX_OFFSET
            keypoint_scores = points[:, :, 2]
        return Detections(
            width=image.shape[1], height=image.shape[0], boxes=found.boxes[order].float().cpu().numpy().reshape(-1, 4),
            scores=found.scores[order].float().cpu().numpy(),
            labels=np.array([self.category_ids[c] for c in classes], dtype=np.int64),
            names=[self.categories[c] for c in classes],
            masks=None if found.masks is None else found.masks[order].cpu().numpy(),
            keypoints=keypoints, keypoint_scores=keypoint_scores,
        )

    def _proposal_detections(self, image: np.ndarray, boxes: torch.Tensor, logits: torch.Tensor) -> Detections:
        """Proposals, scored by objectness probability (the sigmoid of Detectron2's logit; same order)."""
        count = int(logits.shape[0])
        return Detections(width=image.shape[1], height=image.shape[0],
                          boxes=boxes.float().cpu().numpy().reshape(-1, 4),
                          scores=torch.sigmoid(logits.float()).cpu().numpy(), labels=np.zeros(count, np.int64),
                          names=[PROPOSAL_NAME] * count, kind="proposals")
