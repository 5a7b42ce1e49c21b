"""The plain result of running a model on one image, and its COCO results / pandas forms.

Kept free of torch on purpose: the drawing code, the pages and the evaluation read results without
importing the deep-learning stack. Coordinates are in the original image's pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: COCO's 17 person keypoints, in dataset order.
COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
    "left_ankle", "right_ankle",
)

#: The COCO person skeleton as 0-based index pairs into COCO_KEYPOINT_NAMES.
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
    (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)


@dataclass
class Detections:
    """What one model found in one image.

    `labels` are dataset category ids (COCO ids for COCO models), `names` their class names. `masks`
    are full-image boolean masks (N, H, W); `keypoints` are (N, K, 2) pixel positions with
    `keypoint_scores` (N, K). `kind` is "proposals" for RPN-only models (then labels are 0 and
    scores are objectness).
    """

    width: int
    height: int
    boxes: np.ndarray  # (N, 4) float32, x1 y1 x2 y2
    scores: np.ndarray  # (N,) float32
    labels: np.ndarray  # (N,) int64
    names: list[str]
    masks: np.ndarray | None = None  # (N, H, W) bool
    keypoints: np.ndarray | None = None  # (N, K, 2) float32
    keypoint_scores: np.ndarray | None = None  # (N, K) float32
    kind: str = "detections"
    timings: dict[str, float] = field(default_factory=dict)  # seconds: preprocess, model, postprocess, draw

    def __post_init__(self) -> None:
        n = len(self.boxes)
        if not (len(self.scores) == len(self.labels) == len(self.names) == n):
            raise ValueError("boxes, scores, labels and names must have one entry per detection")
        if self.masks is not None and self.masks.shape != (n, self.height, self.width):
            raise ValueError(f"masks must be (N, H, W) = {(n, self.height, self.width)}, got {self.masks.shape}")
        if self.keypoints is not None and (self.keypoints.ndim != 3 or len(self.keypoints) != n):
            raise ValueError("keypoints must be (N, K, 2)")

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, keep: np.ndarray) -> Detections:
        """A copy with only the detections where `keep` (bool mask or index array) selects."""
        keep = np.asarray(keep)
        index = np.flatnonzero(keep) if keep.dtype == bool else keep

        def pick(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[index]

        return Detections(
            width=self.width, height=self.height, boxes=self.boxes[index], scores=self.scores[index],
            labels=self.labels[index], names=[self.names[i] for i in index], masks=pick(self.masks),
            keypoints=pick(self.keypoints), keypoint_scores=pick(self.keypoint_scores), kind=self.kind,
            timings=dict(self.timings),
        )

    def keep_mask(self, score_thresh: float = 0.0, classes: set[str] | None = None,
                  class_thresholds: Mapping[str, float] | None = None) -> np.ndarray:
        """Which detections score at or above their threshold and (if given) belong to `classes`: a class in
        `class_thresholds` has its own threshold (e.g. its F1-optimal one), every other class `score_thresh`."""
        if class_thresholds:
            bar = np.array([class_thresholds.get(name, score_thresh) for name in self.names], dtype=float)
            keep = self.scores >= bar.reshape(self.scores.shape)
        else:
            keep = self.scores >= score_thresh
        if classes is not None:
            keep &= np.array([name in classes for name in self.names], dtype=bool)
        return keep

    def filter(self, score_thresh: float = 0.0, classes: set[str] | None = None) -> Detections:
        """Detections at or above a score, optionally of some classes only."""
        return self.select(self.keep_mask(score_thresh, classes))

    def to_frame(self) -> pd.DataFrame:
        """One row per detection: class, score, box and size, for a table on the page."""
        x1, y1, x2, y2 = (self.boxes.T if len(self) else np.zeros((4, 0)))
        frame = pd.DataFrame({
            "class": self.names, "category_id": self.labels.astype(int), "score": self.scores.astype(float),
            "x1": x1, "y1": y1, "x2": x2, "y2": y2, "width": x2 - x1, "height": y2 - y1,
        })
        if self.masks is not None:
            frame["mask_area"] = self.masks.reshape(len(self), -1).sum(axis=1)
        return frame

    def to_coco_results(self, image_id: int) -> list[dict[str, Any]]:
        """COCO results entries: bbox as [x, y, w, h], masks as compressed RLE, keypoints as [x, y, v] * K."""
        results: list[dict[str, Any]] = []
        rles = _encode_masks(self.masks) if self.masks is not None else None
        for i in range(len(self)):
            x1, y1, x2, y2 = (float(v) for v in self.boxes[i])
            entry: dict[str, Any] = {
                "image_id": int(image_id),
                "category_id": int(self.labels[i]),
                "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                "score": round(float(self.scores[i]), 5),
            }
            if rles is not None:
                entry["segmentation"] = rles[i]
            if self.keypoints is not None:
                xy = self.keypoints[i]
                entry["keypoints"] = [v for x, y in xy for v in (round(float(x), 2), round(float(y), 2), 1)]
            results.append(entry)
        return results


def _encode_masks(masks: np.ndarray) -> list[dict[str, Any]]:
    from pycocotools import mask as mask_utils

    if len(masks) == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


def empty_detections(width: int, height: int, kind: str = "detections") -> Detections:
    """No detections, e.g. for an image where the model found nothing."""
    return Detections(width=width, height=height, boxes=np.zeros((0, 4), np.float32), scores=np.zeros(0, np.float32),
                      labels=np.zeros(0, np.int64), names=[], kind=kind)
