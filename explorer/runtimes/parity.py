"""Parity of an export with eager PyTorch: detections matched one to one on fixed images, within stated tolerances.

Matching: each eager detection, highest score first, takes the runtime detection of the same class whose box is
closest (largest-coordinate difference at most `box_px`), preferring the closest score. A matched pair must
agree within the tolerances below. A detection left without a partner is allowed only at the tail of the
list: its score no more than `score` above the other list's lowest score, where float noise can decide which
of two near-equal candidates the detections-per-image cap or the score threshold keeps. Anything else fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from explorer.detections import Detections


@dataclass(frozen=True)
class Tolerances:
    """The largest differences an export may show against eager PyTorch (fp32 on both sides)."""

    box_px: float = 1.0  # any box coordinate, in image pixels
    score: float = 1e-3  # absolute
    mask_iou: float = 0.97  # the smallest IoU of a matched pair's masks (both empty counts as 1)
    keypoint_px: float = 2.0  # any keypoint coordinate, in image pixels
    part_relative: float = 1e-3  # each exported part's outputs on its recorded inputs, relative to the largest value

    def describe(self) -> str:
        return (f"each part's outputs within {self.part_relative:g} of their largest value, boxes within "
                f"{self.box_px:g} px, scores within {self.score:g}, mask IoU at least {self.mask_iou:g}, "
                f"keypoints within {self.keypoint_px:g} px, unmatched detections only at the list's tail")


DEFAULT_TOLERANCES = Tolerances()


@dataclass
class ParityReport:
    """What the check found over all images: pairs, tail-only misses, and the worst difference of each kind."""

    images: int = 0
    matched: int = 0
    unmatched_tail: int = 0
    unmatched_other: int = 0
    worst: dict[str, float] = field(default_factory=lambda: {"box_px": 0.0, "score": 0.0, "mask_iou": 1.0,
                                                              "keypoint_px": 0.0})
    failures: list[str] = field(default_factory=list)
    parts: dict[str, float] = field(default_factory=dict)  # part -> relative output difference

    def check_parts(self, differences: dict[str, float], tolerances: Tolerances) -> None:
        """Record each part's output difference; one beyond `part_relative` is a failure."""
        self.parts.update(differences)
        for name, difference in differences.items():
            if difference > tolerances.part_relative:
                self.failures.insert(0, f"part {name}'s outputs differ by {difference:.3g} of their largest value "
                                        f"(tolerance {tolerances.part_relative:g})")

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        w = self.worst
        part = max(self.parts.values(), default=0.0)
        return (f"parts' outputs within {part:.2g} (relative); {self.matched} detections matched on {self.images} "
                f"images ({self.unmatched_tail} at the tail "
                f"unmatched); worst: box {w['box_px']:.3g} px, score {w['score']:.3g}, mask IoU {w['mask_iou']:.4g}, "
                f"keypoint {w['keypoint_px']:.3g} px")


def compare(eager: list[Detections], exported: list[Detections],
            tolerances: Tolerances = DEFAULT_TOLERANCES) -> ParityReport:
    """Match each image's detections one to one and check every pair; `ParityReport.passed` says the verdict."""
    report = ParityReport(images=len(eager))
    for index, (ref, got) in enumerate(zip(eager, exported, strict=True)):
        _compare_image(index, ref, got, tolerances, report)
    return report


def _compare_image(index: int, ref: Detections, got: Detections, tol: Tolerances, report: ParityReport) -> None:
    taken = np.zeros(len(got), dtype=bool)
    unmatched_ref = []
    for i in np.argsort(-ref.scores, kind="stable"):
        j = _partner(ref, got, int(i), taken, tol)
        if j is None:
            unmatched_ref.append(int(i))
            continue
        taken[j] = True
        report.matched += 1
        _check_pair(index, ref, got, int(i), j, tol, report)
    _check_tail(index, "eager", ref.scores[unmatched_ref], got.scores, tol, report)
    _check_tail(index, "runtime", got.scores[~taken], ref.scores, tol, report)


def _partner(ref: Detections, got: Detections, i: int, taken: np.ndarray, tol: Tolerances) -> int | None:
    if len(got) == 0:
        return None
    distance = np.abs(got.boxes - ref.boxes[i]).max(axis=1)
    ok = (~taken) & (got.labels == ref.labels[i]) & (distance <= tol.box_px)
    if not ok.any():
        return None
    candidates = np.flatnonzero(ok)
    return int(candidates[np.argmin(np.abs(got.scores[candidates] - ref.scores[i]))])


def _check_pair(index: int, ref: Detections, got: Detections, i: int, j: int, tol: Tolerances,
                report: ParityReport) -> None:
    worst = report.worst
    box = float(np.abs(got.boxes[j] - ref.boxes[i]).max())
    score = float(abs(got.scores[j] - ref.scores[i]))
    worst["box_px"] = max(worst["box_px"], box)
    worst["score"] = max(worst["score"], score)
    if score > tol.score:
        report.failures.append(f"image {index}: a score differs by {score:.3g} (tolerance {tol.score:g})")
    if ref.masks is not None and got.masks is not None:
        iou = _mask_iou(ref.masks[i], got.masks[j])
        worst["mask_iou"] = min(worst["mask_iou"], iou)
        if iou < tol.mask_iou:
            report.failures.append(f"image {index}: a mask's IoU with eager is {iou:.4g} (tolerance {tol.mask_iou:g})")
    if ref.keypoints is not None and got.keypoints is not None:
        shift = float(np.abs(got.keypoints[j] - ref.keypoints[i]).max()) if ref.keypoints[i].size else 0.0
        worst["keypoint_px"] = max(worst["keypoint_px"], shift)
        if shift > tol.keypoint_px:
            report.failures.append(f"image {index}: a keypoint moved {shift:.3g} px (tolerance {tol.keypoint_px:g})")


def _mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _check_tail(index: int, side: str, scores: np.ndarray, other: np.ndarray, tol: Tolerances,
                report: ParityReport) -> None:
    if scores.size == 0:
        return
    floor = float(other.min()) if other.size else -np.inf
    at_tail = scores <= floor + tol.score
    report.unmatched_tail += int(at_tail.sum())
    report.unmatched_other += int((~at_tail).sum())
    if (~at_tail).any():
        report.failures.append(f"image {index}: {int((~at_tail).sum())} {side} detection(s) have no partner within "
                               f"{tol.box_px:g} px, the highest scoring {float(scores[~at_tail].max()):.3g}")
