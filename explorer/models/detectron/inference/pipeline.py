"""Detectron's single-image test path (core/test.py: im_detect_all, rpn_generator.im_proposals,
test_retinanet.im_detect_bbox) on a `DetectronModel`.

Boxes inside are in Detectron's inclusive-pixel convention, in original image pixels unless named `rois`
(network input pixels). The runner converts them to the exclusive convention of `Detections` at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from explorer.models.detectron import boxes as box_ops
from explorer.models.detectron.arch import DEDUP_BOXES, MIN_PROPOSAL_SIZE, DetectronArch
from explorer.models.detectron.inference.postprocess import BoxResults, box_results
from explorer.models.detectron.inference.preprocess import ImageBlob, make_blob
from explorer.models.detectron.network.heads import pool_rois
from explorer.models.detectron.network.model import DetectronModel
from explorer.models.detectron.network.retinanet import RetinaNetDecoder
from explorer.models.detectron.network.rpn import ProposalGenerator


@dataclass(frozen=True)
class TestConfig:
    """Test-time settings: the config's, with the catalog spec's input size and thresholds applied."""

    scale: int
    max_size: int
    score_thresh: float
    nms_thresh: float
    detections_per_im: int
    bbox_reg_weights: tuple[float, ...]
    tta_scales: tuple[int, ...] = ()
    tta_max_size: int = 4000
    vote_thresh: float | None = None


@dataclass
class BoxStage:
    """im_detect_bbox's result for one transform: class scores (R, C) and boxes (R, 4C) in original pixels,
    plus the blob and features the mask and keypoint heads reuse."""

    scores: torch.Tensor
    boxes: torch.Tensor
    blob: ImageBlob
    features: dict[int, torch.Tensor] = field(repr=False)


class Pipeline:
    """The test-time steps of one model, each as in Detectron."""

    def __init__(self, model: DetectronModel, config: TestConfig) -> None:
        self.model = model
        self.arch: DetectronArch = model.arch
        self.config = config
        self.proposal_generator = ProposalGenerator(self.arch) if self.arch.rpn_on else None
        self.retinanet_decoder = RetinaNetDecoder(self.arch) if self.arch.kind == "retinanet" else None

    # ------------------------------------------------------------------ input and body

    def blob(self, bgr: torch.Tensor, scale: int, max_size: int) -> ImageBlob:
        return make_blob(bgr, self.arch.pixel_means, scale, max_size, self.arch.pad_stride)

    def body(self, blob: ImageBlob) -> dict[int, torch.Tensor]:
        return self.model.features(blob.data)

    # ------------------------------------------------------------------ RPN

    def rpn_rois(self, blob: ImageBlob, features: dict[int, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Proposals in input pixels and their objectness."""
        assert self.proposal_generator is not None and self.model.rpn is not None
        return self.proposal_generator(self.model.rpn, features, blob.info)

    def proposals(self, bgr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """RPN-only models: proposals in original pixels (rois / scale, not clipped again) and objectness.

        Detectron's rpn_generator feeds im_info with the resized image's size, not the padded blob's (test.py
        does the latter for end-to-end models), so these proposals are clipped to the image, padding excluded.
        """
        blob = self.blob(bgr, self.config.scale, self.config.max_size)
        assert self.proposal_generator is not None and self.model.rpn is not None
        rois, scores = self.proposal_generator(self.model.rpn, self.body(blob), blob.unpadded_info)
        return rois / blob.scale, scores

    # ------------------------------------------------------------------ boxes

    def detect_bbox(self, bgr: torch.Tensor, scale: int, max_size: int,
                    proposals: torch.Tensor | None = None) -> BoxStage:
        """im_detect_bbox: `proposals` (original pixels) for Fast R-CNN models, None for in-network RPN."""
        blob = self.blob(bgr, scale, max_size)
        features = self.body(blob)
        inverse = None
        if proposals is None:
            rois, _ = self.rpn_rois(blob, features)
            boxes = rois / blob.scale
        else:
            boxes = proposals
            rois = project_rois(boxes, blob.scale)
            boxes, rois, inverse = _dedup(boxes, rois)
        assert self.model.box_head is not None and self.model.box_outputs is not None
        pooled = pool_rois(self.arch, features, rois, self.arch.box_resolution, self.arch.box_sampling_ratio)
        scores, deltas = self.model.box_outputs(self.model.box_head(pooled))
        pred = box_ops.decode(boxes, deltas.float(), self.config.bbox_reg_weights)
        pred = box_ops.clip_tiled(pred, blob.orig_height, blob.orig_width)
        scores = scores.float()
        if inverse is not None:
            scores, pred = scores[inverse], pred[inverse]
        return BoxStage(scores=scores, boxes=pred, blob=blob, features=features)

    def box_results(self, scores: torch.Tensor, boxes: torch.Tensor) -> BoxResults:
        config = self.config
        return box_results(scores, boxes, score_thresh=config.score_thresh, nms_thresh=config.nms_thresh,
                           detections_per_im=config.detections_per_im, vote_thresh=config.vote_thresh)

    # ------------------------------------------------------------------ masks and keypoints

    def mask_probs(self, features: dict[int, torch.Tensor], scale: float, boxes: torch.Tensor,
                   classes: torch.Tensor) -> torch.Tensor:
        """im_detect_mask: (N, M, M) sigmoid mask of each detection's own class."""
        arch = self.arch
        if boxes.shape[0] == 0:
            return boxes.new_zeros((0, arch.mask_resolution, arch.mask_resolution))
        pooled = pool_rois(arch, features, project_rois(boxes, scale), arch.mask_roi_resolution,
                           arch.mask_sampling_ratio)
        logits = self.model.mask_logits(pooled)
        own = logits[torch.arange(logits.shape[0], device=logits.device), classes]
        return torch.sigmoid(own.float())

    def keypoint_heatmaps(self, features: dict[int, torch.Tensor], scale: float, boxes: torch.Tensor,
                          ) -> torch.Tensor:
        """im_detect_keypoints: (N, K, S, S) heatmap logits."""
        arch = self.arch
        if boxes.shape[0] == 0:
            return boxes.new_zeros((0, arch.num_keypoints, arch.heatmap_size, arch.heatmap_size))
        assert self.model.keypoint_head is not None
        pooled = pool_rois(arch, features, project_rois(boxes, scale), arch.keypoint_roi_resolution,
                           arch.keypoint_sampling_ratio)
        return self.model.keypoint_head(pooled).float()

    # ------------------------------------------------------------------ RetinaNet

    def retinanet(self, bgr: torch.Tensor) -> BoxResults:
        assert self.model.retinanet is not None and self.retinanet_decoder is not None
        blob = self.blob(bgr, self.config.scale, self.config.max_size)
        features = self.body(blob)
        outputs = {level: self.model.retinanet(features[level]) for level in self.retinanet_decoder.levels}
        boxes, scores, classes = self.retinanet_decoder(outputs, blob.scale, blob.orig_height, blob.orig_width,
                                                        self.config.nms_thresh, self.config.detections_per_im)
        return BoxResults(boxes, scores, classes)


def project_rois(boxes: torch.Tensor, scale: float) -> torch.Tensor:
    """Boxes in original pixels as float32 RoIs in input pixels (`_get_rois_blob`): the product is taken in
    float64 and rounded once, as numpy does it, not float32 boxes times a float32-rounded scale."""
    return (boxes.double() * scale).float()


def prepare_proposals(boxes: torch.Tensor, height: int, width: int, limit: int) -> torch.Tensor:
    """What JsonDataset does to a proposal file's boxes: clip, drop duplicates and boxes <= 2 px, keep `limit`."""
    boxes = box_ops.clip_tiled(boxes.float(), height, width)
    array = boxes.cpu().double().numpy()
    hashes = np.round(array).dot(np.array([1, 1e3, 1e6, 1e9]))
    _, first = np.unique(hashes, return_index=True)
    array = array[np.sort(first)]
    widths = array[:, 2] - array[:, 0] + 1
    heights = array[:, 3] - array[:, 1] + 1
    array = array[(widths > MIN_PROPOSAL_SIZE) & (heights > MIN_PROPOSAL_SIZE)]
    if limit > 0:
        array = array[:limit]
    return torch.as_tensor(array, dtype=torch.float32, device=boxes.device)


def _dedup(boxes: torch.Tensor, rois: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fast R-CNN's DEDUP_BOXES: RoIs equal after rounding at 1/16 share one forward pass (and one result)."""
    array = rois.cpu().double().numpy()
    hashes = np.round(array * DEDUP_BOXES).dot(np.array([1e3, 1e6, 1e9, 1e12]))  # batch index column is 0
    _, index, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    index_t = torch.as_tensor(index, device=rois.device)
    inverse_t = torch.as_tensor(inverse.reshape(-1), device=rois.device)
    return boxes[index_t], rois[index_t].float(), inverse_t
