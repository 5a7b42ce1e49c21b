"""Detectron's test-time augmentation (core/test.py: im_detect_bbox_aug, im_detect_mask_aug).

Boxes: the horizontally flipped image at the test scale, then every TTA scale (at the TTA max size) plain and
flipped, and the identity transform last; the UNION heuristic stacks every transform's (scores, boxes) and
the usual per-class NMS (with box voting when the config enables it) runs on the union. Masks: the identity,
the flipped image, and every scale plain and flipped, each computed for the final boxes and averaged
(SOFT_AVG) before pasting. Only the union / soft-average heuristics of the 12_2017 TTA config are implemented.
"""

from __future__ import annotations

import torch

from explorer.models.detectron import boxes as box_ops
from explorer.models.detectron.inference.pipeline import BoxStage, Pipeline


def _transforms(pipe: Pipeline, h_flip: bool, scale_h_flip: bool) -> list[tuple[int, int, bool]]:
    """(scale, max size, flipped) of each non-identity transform, in Detectron's order."""
    config = pipe.config
    out = [(config.scale, config.max_size, True)] if h_flip else []
    for scale in config.tta_scales:
        out.append((scale, config.tta_max_size, False))
        if scale_h_flip:
            out.append((scale, config.tta_max_size, True))
    return out


def _flip_image(bgr: torch.Tensor) -> torch.Tensor:
    return bgr.flip(-1)


def detect_bbox_aug(pipe: Pipeline, bgr: torch.Tensor, proposals: torch.Tensor | None = None,
                    ) -> tuple[torch.Tensor, torch.Tensor, BoxStage]:
    """Union of (scores, boxes) over all transforms; the identity transform's stage (for masks) last."""
    arch = pipe.arch
    width = bgr.shape[-1]
    scores, boxes = [], []
    for scale, max_size, flipped in _transforms(pipe, arch.tta_h_flip, arch.tta_scale_h_flip):
        if flipped:
            flipped_props = box_ops.flip(proposals, width) if proposals is not None else None
            stage = pipe.detect_bbox(_flip_image(bgr), scale, max_size, flipped_props)
            scores.append(stage.scores)
            boxes.append(box_ops.flip(stage.boxes, width))
        else:
            stage = pipe.detect_bbox(bgr, scale, max_size, proposals)
            scores.append(stage.scores)
            boxes.append(stage.boxes)
    identity = pipe.detect_bbox(bgr, pipe.config.scale, pipe.config.max_size, proposals)
    scores.append(identity.scores)
    boxes.append(identity.boxes)
    return torch.cat(scores), torch.cat(boxes), identity


def mask_probs_aug(pipe: Pipeline, bgr: torch.Tensor, identity: BoxStage, boxes: torch.Tensor,
                   classes: torch.Tensor) -> torch.Tensor:
    """SOFT_AVG of the (N, M, M) masks over the identity, flip and scale transforms."""
    arch = pipe.arch
    width = bgr.shape[-1]
    masks = [pipe.mask_probs(identity.features, identity.blob.scale, boxes, classes)]
    for scale, max_size, flipped in _transforms(pipe, arch.tta_h_flip, arch.tta_scale_h_flip):
        image = _flip_image(bgr) if flipped else bgr
        blob = pipe.blob(image, scale, max_size)
        features = pipe.body(blob)
        these = box_ops.flip(boxes, width) if flipped else boxes
        probs = pipe.mask_probs(features, blob.scale, these, classes)
        masks.append(probs.flip(-1) if flipped else probs)
    return torch.stack(masks).mean(dim=0)

