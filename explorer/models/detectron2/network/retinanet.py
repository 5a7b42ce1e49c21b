"""Detectron2's RetinaNet head (meta_arch/retinanet.py: RetinaNetHead) and its test-time decoding
(dense_detector.py / retinanet.py inference_single_image).

`head.cls_subnet` and `head.bbox_subnet` are Sequentials of (conv, [norm], ReLU), so the convs sit at indices
0, 2, 4, 6 without a norm; `head.cls_score` gives A x K sigmoid logits (no background class), `head.bbox_pred`
class-agnostic deltas. At test time each level keeps the (anchor, class) pairs whose probability exceeds 0.05,
the best 1000 of them, decodes those with unit weights (no clipping), and the union of the levels goes
through per-class NMS 0.5 and the image cap. Detectron instead thresholds at 0.05 except on the coarsest level
and clips before NMS.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import batched_nms

from explorer.models.detectron2 import boxes as box_ops
from explorer.models.detectron2.network.layers import Norm


class RetinaNetHead(nn.Module):
    def __init__(self, dim: int, num_anchors: int, num_classes: int, num_convs: int, norm: str) -> None:
        super().__init__()
        if norm and norm not in ("BN", "SyncBN", "FrozenBN", "NaiveSyncBN"):
            raise ValueError(f"RetinaNet head norm {norm!r} is not supported")
        self.cls_subnet = self._tower(dim, num_convs, norm)
        self.bbox_subnet = self._tower(dim, num_convs, norm)
        self.cls_score = nn.Conv2d(dim, num_anchors * num_classes, 3, padding=1)
        self.bbox_pred = nn.Conv2d(dim, num_anchors * 4, 3, padding=1)

    @staticmethod
    def _tower(dim: int, num_convs: int, norm: str) -> nn.Sequential:
        layers: list[nn.Module] = []
        for _ in range(num_convs):
            layers.append(nn.Conv2d(dim, dim, 3, padding=1))
            if norm:
                layers.append(Norm(dim))
            layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def forward(self, features: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(class logits, box deltas) of every level, as Detectron2's head: one call per image (one runtime call
        when an export runs it)."""
        return ([self.cls_score(self.cls_subnet(x)) for x in features],
                [self.bbox_pred(self.bbox_subnet(x)) for x in features])


def decode_level(logits: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor, num_classes: int,
                 score_thresh: float, topk: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One level of one image: `logits` (A*K, H, W), `deltas` (A*4, H, W), anchors (H*W*A, 4)."""
    height, width = logits.shape[-2:]
    probs = logits.view(-1, num_classes, height, width).permute(2, 3, 0, 1).reshape(-1).sigmoid()
    keep = probs > score_thresh
    probs = probs[keep]
    candidates = torch.nonzero(keep).squeeze(1)
    count = min(topk, candidates.shape[0])
    probs, order = probs.sort(descending=True)
    probs, candidates = probs[:count], candidates[order[:count]]
    anchor_index = torch.div(candidates, num_classes, rounding_mode="floor")
    classes = candidates % num_classes
    level_deltas = deltas.view(-1, 4, height, width).permute(2, 3, 0, 1).reshape(-1, 4)[anchor_index]
    boxes = box_ops.decode(level_deltas, anchors[anchor_index], (1.0, 1.0, 1.0, 1.0))
    return boxes, probs, classes


def retinanet_detections(levels: list[tuple[torch.Tensor, torch.Tensor]], anchors: list[torch.Tensor],
                         num_classes: int, score_thresh: float, topk: int, nms_thresh: float, max_detections: int,
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(boxes in resized-image pixels, scores, 0-based classes), best first, at most `max_detections`."""
    parts = [decode_level(logits[0], deltas[0], level_anchors, num_classes, score_thresh, topk)
             for (logits, deltas), level_anchors in zip(levels, anchors, strict=True)]
    boxes = torch.cat([p[0] for p in parts])
    scores = torch.cat([p[1] for p in parts])
    classes = torch.cat([p[2] for p in parts])
    keep = batched_nms(boxes, scores, classes, nms_thresh)[:max_detections]
    return boxes[keep], scores[keep], classes[keep]
