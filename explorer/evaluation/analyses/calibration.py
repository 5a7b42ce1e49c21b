"""Are a detector's scores probabilities? Reliability diagram, expected calibration error (ECE) and the detection
ECE over box position and size (D-ECE), from its results on annotated images.

    from explorer.evaluation.analyses.calibration import calibration
    cal = calibration("instances_val2017.json", "results.json", "bbox", iou=0.75)
    cal.reliability(0.5)     # per score bin: detections, mean score, share that are true positives, gap
    cal.summary()            # ECE, MCE and D-ECE overall and per category, at IoU 0.5 and the chosen IoU

A detection is correct when it is a true positive at the IoU threshold, matched as COCOeval matches
(explorer.evaluation.analyses.score_matching); a detection that matched only a crowd region is left out, as
COCOeval ignores it. A calibrated detector's detections scoring about 0.8 are correct about 80% of the time.

- Bins are equal-width over [0, 1], each closed on the left and the last also on the right (numpy's histogram
  convention; a score of exactly 1 is in the last bin).
- ECE = sum over bins b of (n_b / N) * |precision(b) - mean score(b)| (Naeini et al., AAAI 2015; Guo et al.,
  ICML 2017), where precision(b) is the share of b's detections that are true positives. MCE: the largest gap
  of a non-empty bin.
- D-ECE (Küppers et al., CVPRW 2020, "Multivariate Confidence Calibration for Object Detection") is the same sum
  over the bins of a joint histogram of the score and the box's relative position and size: centre x / image
  width, centre y / image height, width / image width, height / image height, each clipped to [0, 1] and cut
  into `dece_bins` equal-width bins. Detections on images whose size the annotations do not give are left out
  of the D-ECE (NaN when that is all of them). This is what the authors' netcal package computes with
  `ECE(bins, detection=True)` on those five features; the tests check ours against it on hand-made cases.

Scores must lie in [0, 1]: anything else is refused with a message rather than clipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import numpy as np
import pandas as pd

from explorer.evaluation.analyses.score_matching import DEFAULT_IOU, ScoredDetections, check_scores, score_detections
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import GroundTruth
from explorer.evaluation.inputs.loading import DEFAULT_MAX_BYTES, JsonSource

DEFAULT_BINS: Final[int] = 10
DEFAULT_DECE_BINS: Final[int] = 5
#: The box features of the D-ECE, in the order of `box_features`' columns.
BOX_FEATURES: Final[tuple[str, ...]] = ("cx", "cy", "w", "h")
ALL: Final[str] = "all categories"
#: Columns of `Calibration.summary()` (and the CLI's --calibration CSV).
SUMMARY_COLUMNS: Final[tuple[str, ...]] = ("iou", "category_id", "category", "detections", "true_positives",
                                           "mean_score", "precision", "ece", "mce", "d_ece")
#: Columns of `reliability_bins` / `Calibration.reliability()`.
RELIABILITY_COLUMNS: Final[tuple[str, ...]] = ("bin", "lower", "upper", "detections", "mean_score", "precision",
                                               "gap")


def bin_index(values: np.ndarray, bins: int) -> np.ndarray:
    """The equal-width bin over [0, 1] of each value, as np.histogram assigns it (the last bin closed)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)


def _check(scores: Any, correct: Any, bins: int) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=float).ravel()
    correct = np.asarray(correct, dtype=bool).ravel()
    if scores.shape != correct.shape:
        raise EvaluationInputError(f"{scores.size} scores but {correct.size} outcomes")
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise EvaluationInputError(f"the number of bins must be a positive integer, got {bins!r}")
    check_scores(scores, "scores", at_most_one=True)
    return scores, correct


def _binned(scores: np.ndarray, correct: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per score bin: detections, mean score and share of true positives (NaN for an empty bin)."""
    index = bin_index(scores, bins)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(index, weights=scores, minlength=bins) / count
        precision = np.bincount(index, weights=correct.astype(float), minlength=bins) / count
    return count, mean, precision


def _errors(scores: np.ndarray, correct: np.ndarray, bins: int) -> tuple[float, float]:
    """(ECE, MCE) of checked inputs."""
    count, mean, precision = _binned(scores, correct, bins)
    filled = count > 0
    gap = np.abs(precision[filled] - mean[filled])
    return float((count[filled] * gap).sum() / count.sum()), float(gap.max())


def reliability_bins(scores: Any, correct: Any, bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """RELIABILITY_COLUMNS, one row per bin (empty bins too, with NaN means): the reliability diagram."""
    scores, correct = _check(scores, correct, bins)
    count, mean, precision = _binned(scores, correct, bins)
    edges = np.linspace(0.0, 1.0, bins + 1)
    return pd.DataFrame({"bin": np.arange(bins), "lower": edges[:-1], "upper": edges[1:], "detections": count,
                         "mean_score": mean, "precision": precision, "gap": precision - mean})


def expected_calibration_error(scores: Any, correct: Any, bins: int = DEFAULT_BINS) -> float:
    """ECE: the detection-weighted mean of |precision - mean score| over the score bins."""
    return _errors(*_check(scores, correct, bins), bins)[0]


def max_calibration_error(scores: Any, correct: Any, bins: int = DEFAULT_BINS) -> float:
    """MCE: the largest |precision - mean score| of a non-empty bin."""
    return _errors(*_check(scores, correct, bins), bins)[1]


def detection_ece(scores: Any, correct: Any, features: Any, bins: int | Sequence[int] = DEFAULT_DECE_BINS) -> float:
    """D-ECE over the joint bins of the score and `features` ([N, k], each in [0, 1]; clipped there).

    `bins`: one count for every dimension, or one per dimension (score first)."""
    features = np.asarray(features, dtype=float)
    scores = np.asarray(scores, dtype=float).ravel()
    if features.ndim != 2 or features.shape[0] != scores.size:
        raise EvaluationInputError(f"features must be [N, k] with N = {scores.size} detections")
    counts = [bins] * (features.shape[1] + 1) if isinstance(bins, int | np.integer) else list(bins)
    if len(counts) != features.shape[1] + 1:
        raise EvaluationInputError(f"{len(counts)} bin counts for {features.shape[1] + 1} dimensions")
    scores, correct = _check(scores, correct, int(counts[0]))
    if not np.isfinite(features).all():
        raise EvaluationInputError("box features must be finite numbers")
    flat = bin_index(scores, int(counts[0]))
    for k, n in enumerate(counts[1:]):
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise EvaluationInputError(f"the number of bins must be a positive integer, got {n!r}")
        flat = flat * int(n) + bin_index(np.clip(features[:, k], 0.0, 1.0), int(n))
    _, cell = np.unique(flat, return_inverse=True)
    count = np.bincount(cell)
    gap = np.abs(np.bincount(cell, weights=correct.astype(float)) - np.bincount(cell, weights=scores)) / count
    return float((count * gap).sum() / scores.size)


def box_features(boxes: np.ndarray, image_sizes: np.ndarray) -> np.ndarray:
    """[N, 4] (centre x, centre y, width, height) of [x, y, w, h] boxes relative to their image's (height,
    width), clipped to [0, 1]; NaN rows where the image's size is unknown."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    height, width = np.asarray(image_sizes, dtype=float).reshape(-1, 2).T
    x, y, w, h = boxes.T
    features = np.stack([(x + w / 2) / width, (y + h / 2) / height, w / width, h / height], axis=1)
    return np.clip(features, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class Calibration:
    """Reliability and calibration errors at each IoU of `scored`; `bins` score bins for the ECE and the
    diagram, `dece_bins` bins per dimension for the D-ECE."""

    scored: ScoredDetections
    bins: int = DEFAULT_BINS
    dece_bins: int = DEFAULT_DECE_BINS

    @property
    def iou_thresholds(self) -> tuple[float, ...]:
        return self.scored.iou_thresholds

    def _counted(self, iou: float, category_id: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scores, correct, box features) of the detections that count at `iou` (of one category)."""
        s = self.scored
        t = s.at(iou)
        keep = ~s.ignored[t]
        if category_id is not None:
            keep &= s.category == category_id
        return s.score[keep], s.tp[t][keep], box_features(s.boxes[keep], s.image_sizes[keep])

    def reliability(self, iou: float = DEFAULT_IOU, category_id: int | None = None) -> pd.DataFrame:
        """The reliability diagram's bins (RELIABILITY_COLUMNS), over all categories or one."""
        scores, correct, _ = self._counted(iou, category_id)
        if not scores.size:
            return pd.DataFrame(columns=list(RELIABILITY_COLUMNS))
        return reliability_bins(scores, correct, self.bins)

    def summary(self) -> pd.DataFrame:
        """SUMMARY_COLUMNS, one row per IoU and category (all categories first); NaN where a category has no
        detection that counts. Computed once per Calibration (the pages read it for the table, the metrics and
        the CSV); a copy comes back."""
        return self._summary.copy()

    @cached_property
    def _summary(self) -> pd.DataFrame:
        s = self.scored
        rows: list[tuple[Any, ...]] = []
        for iou in self.iou_thresholds:
            scores, correct, features = self._counted(iou)
            category = s.category[~s.ignored[s.at(iou)]]
            order = np.argsort(category, kind="stable")
            bounds = np.searchsorted(category[order], s.category_ids, side="left"), np.searchsorted(
                category[order], s.category_ids, side="right")
            rows.append((iou, None, ALL, *self._row(scores, correct, features)))
            for c, start, stop in zip(s.category_ids, *bounds, strict=True):
                pick = order[start:stop]
                rows.append((iou, c, s.category_names[c], *self._row(scores[pick], correct[pick], features[pick])))
        frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
        frame["category_id"] = frame["category_id"].astype("Int64")
        return frame

    def _row(self, scores: np.ndarray, correct: np.ndarray, features: np.ndarray) -> tuple[Any, ...]:
        if not scores.size:
            return 0, 0, np.nan, np.nan, np.nan, np.nan, np.nan
        sized = ~np.isnan(features).any(axis=1)
        dece = (detection_ece(scores[sized], correct[sized], features[sized], self.dece_bins) if sized.any()
                else np.nan)
        ece, mce = _errors(scores, correct, self.bins)
        return (int(scores.size), int(correct.sum()), float(scores.mean()), float(correct.mean()), ece, mce, dece)

    def overall(self, iou: float = DEFAULT_IOU) -> dict[str, float]:
        """ECE, MCE and D-ECE over all categories at `iou`."""
        row = self.summary()
        row = row[np.isclose(row["iou"], iou) & row["category_id"].isna()].iloc[0]
        return {"ece": float(row["ece"]), "mce": float(row["mce"]), "d_ece": float(row["d_ece"])}


def calibration(ground_truth: JsonSource | GroundTruth, results: JsonSource | list[dict[str, Any]],
                iou_type: str = "bbox", *, iou: float = DEFAULT_IOU, bins: int = DEFAULT_BINS,
                dece_bins: int = DEFAULT_DECE_BINS, image_ids: Sequence[int] | None = None,
                results_name: str | None = None, ground_truth_name: str | None = None,
                max_bytes: int = DEFAULT_MAX_BYTES) -> Calibration:
    """The calibration of `results`' scores against `ground_truth` at IoU 0.5 and at `iou` (see the module).

    Raises EvaluationInputError for bad input, scores outside [0, 1] included."""
    for name, value in (("bins", bins), ("D-ECE bins", dece_bins)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise EvaluationInputError(f"{name} must be a positive integer, got {value!r}")
    thresholds = (DEFAULT_IOU, iou) if iou != DEFAULT_IOU else (DEFAULT_IOU,)
    scored = score_detections(ground_truth, results, iou_type, thresholds, image_ids=image_ids,
                              results_name=results_name, ground_truth_name=ground_truth_name, max_bytes=max_bytes,
                              scores_at_most_one=True)
    return Calibration(scored, bins=bins, dece_bins=dece_bins)


def from_scored(scored: ScoredDetections, bins: int = DEFAULT_BINS, dece_bins: int = DEFAULT_DECE_BINS
                ) -> Calibration:
    """A Calibration of detections already matched (the pages match once for both analyses); checks that the
    scores lie in [0, 1] first."""
    check_scores(scored.score, scored.results_name, at_most_one=True)
    return Calibration(scored, bins=bins, dece_bins=dece_bins)
