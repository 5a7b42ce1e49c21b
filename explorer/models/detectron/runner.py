"""A loaded Detectron model as the catalog's `Runner`: RGB uint8 images in, `Detections` out.

Images run one at a time, as Detectron tests them (batching would change the FPN padding and so the results).
Fast R-CNN models and keypoint models trained on precomputed proposals carry the RPN model that made those
proposals and run it first, post-processing its output as Detectron's dataset loader did the proposal file.
Boxes leave in the exclusive convention of `Detections` (x2 = Detectron's x2 + 1), which is what Detectron's
own COCO results encode (width = x2 - x1 + 1).
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.detections import Detections
from explorer.models.catalog import ModelSpec
from explorer.models.detectron.arch import MASK_THRESH_BINARIZE
from explorer.models.detectron.coco import PROPOSAL_NAME, class_table
from explorer.models.detectron.inference import tta
from explorer.models.detectron.inference.pipeline import Pipeline, prepare_proposals
from explorer.models.detectron.inference.postprocess import BoxResults, heatmaps_to_keypoints, paste_masks
from explorer.models.detectron.inference.preprocess import to_tensor
from explorer.models.detectron.network.heads import MaskHeadC4
from explorer.models.runtime import StageClock, predict_each


class DetectronRunner:
    """`predict` as the catalog's Runner protocol; `pipeline` exposes Detectron's steps for tests and tools."""

    #: The tensor-in, tensor-out submodules of `model` an export runs in a runtime (explorer.runtimes); those a
    #: config lacks are skipped. A C4 mask head calls the box head's res5 itself, so for C4 mask models the
    #: runtime runs that res5 (`box_head.res5`, shared by both heads) in place of the whole box head.
    runtime_parts: tuple[str, ...] = ("body", "fpn", "rpn", "box_head", "box_outputs", "mask_head",
                                      "keypoint_head", "retinanet")

    def __init__(self, spec: ModelSpec, device: str, pipeline: Pipeline,
                 proposal_runner: DetectronRunner | None = None) -> None:
        self.spec = spec
        self.device = device
        self.pipeline = pipeline
        self.model = pipeline.model
        self.arch = pipeline.arch
        self.proposal_runner = proposal_runner
        if isinstance(self.model.mask_head, MaskHeadC4):
            self.runtime_parts = tuple("box_head.res5" if name == "box_head" else name for name in self.runtime_parts)
        self.category_ids, self.categories = class_table(self.arch.num_classes) if self.arch.kind != "rpn" \
            else ((0,), (PROPOSAL_NAME,))

    def predict(self, images: list[np.ndarray], *, autocast: str | None = None) -> list[Detections]:
        return predict_each(images, self.device, autocast, self._detect)

    # ------------------------------------------------------------------ per kind

    def _detect(self, image: np.ndarray, clock: StageClock) -> Detections:
        with clock.stage("preprocess"):
            bgr = to_tensor(image, self.device)
        kind = self.arch.kind
        if kind == "rpn":
            with clock.stage("model"):
                boxes, scores = self.pipeline.proposals(bgr)
            return self._proposal_detections(image, boxes, scores)
        if kind == "retinanet":
            with clock.stage("model"):
                results = self.pipeline.retinanet(bgr)
            return self._detections(image, results)
        proposals = self._proposals_for(image, bgr, clock) if kind == "fast" else None
        return self._detect_rcnn(image, bgr, proposals, clock)

    def raw_proposals(self, bgr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """RPN-only: Detectron's proposals (inclusive boxes in original pixels) and objectness."""
        return self.pipeline.proposals(bgr)

    def _proposals_for(self, image: np.ndarray, bgr: torch.Tensor, clock: StageClock) -> torch.Tensor:
        if self.proposal_runner is None:
            raise RuntimeError(f"{self.spec.name} runs on precomputed proposals but has no proposal model")
        with clock.stage("model"):
            boxes, _ = self.proposal_runner.raw_proposals(bgr)
        with clock.stage("postprocess"):
            return prepare_proposals(boxes, image.shape[0], image.shape[1], self.arch.proposal_limit)

    def _detect_rcnn(self, image: np.ndarray, bgr: torch.Tensor, proposals: torch.Tensor | None,
                     clock: StageClock) -> Detections:
        pipe, arch = self.pipeline, self.arch
        with clock.stage("model"):
            if arch.tta:
                scores, boxes, stage = tta.detect_bbox_aug(pipe, bgr, proposals)
            else:
                stage = pipe.detect_bbox(bgr, pipe.config.scale, pipe.config.max_size, proposals)
                scores, boxes = stage.scores, stage.boxes
        with clock.stage("postprocess"):
            results = pipe.box_results(scores, boxes)
        masks = keypoints = keypoint_scores = None
        if arch.mask_on:
            with clock.stage("model"):
                if arch.tta and arch.tta_mask_aug:
                    probs = tta.mask_probs_aug(pipe, bgr, stage, results.boxes, results.classes)
                else:
                    probs = pipe.mask_probs(stage.features, stage.blob.scale, results.boxes, results.classes)
            with clock.stage("postprocess"):
                masks = paste_masks(probs, results.boxes, image.shape[0], image.shape[1], MASK_THRESH_BINARIZE)
        if arch.keypoints_on:
            with clock.stage("model"):
                heatmaps = pipe.keypoint_heatmaps(stage.features, stage.blob.scale, results.boxes)
            with clock.stage("postprocess"):
                keypoints, keypoint_scores = heatmaps_to_keypoints(heatmaps, results.boxes)
        with clock.stage("postprocess"):
            return self._detections(image, results, masks, keypoints, keypoint_scores)

    # ------------------------------------------------------------------ outputs

    def _detections(self, image: np.ndarray, results: BoxResults, masks: torch.Tensor | None = None,
                    keypoints: torch.Tensor | None = None, keypoint_scores: torch.Tensor | None = None,
                    ) -> Detections:
        order = torch.argsort(results.scores, descending=True, stable=True)
        classes = results.classes[order].cpu().numpy()
        labels = np.array([self.category_ids[c - 1] for c in classes], dtype=np.int64)

        def pick(tensor: torch.Tensor | None) -> np.ndarray | None:
            return None if tensor is None else tensor[order].cpu().numpy()

        return Detections(
            width=image.shape[1], height=image.shape[0], boxes=_exclusive(results.boxes[order]),
            scores=results.scores[order].float().cpu().numpy(), labels=labels,
            names=[self.categories[c - 1] for c in classes], masks=pick(masks),
            keypoints=pick(keypoints), keypoint_scores=pick(keypoint_scores),
        )

    def _proposal_detections(self, image: np.ndarray, boxes: torch.Tensor, scores: torch.Tensor) -> Detections:
        count = int(scores.shape[0])
        return Detections(width=image.shape[1], height=image.shape[0], boxes=_exclusive(boxes),
                          scores=scores.float().cpu().numpy(), labels=np.zeros(count, np.int64),
                          names=[PROPOSAL_NAME] * count, kind="proposals")


def _exclusive(boxes: torch.Tensor) -> np.ndarray:
    """Detectron's inclusive boxes as `Detections` boxes: x2 + 1, y2 + 1."""
    out = boxes.float().cpu().numpy().astype(np.float32).reshape(-1, 4)
    out[:, 2:] += 1.0
    return out


