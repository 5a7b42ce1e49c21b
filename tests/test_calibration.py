"""Calibration on hand-made cases with known answers (calibrated scores, over-confident scores, a tiny D-ECE, the
hand-made COCO set), against the authors' netcal and hotcoco where installed, and bad inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from explorer.evaluation.analyses.calibration import (
    ALL,
    bin_index,
    box_features,
    calibration,
    detection_ece,
    expected_calibration_error,
    max_calibration_error,
    reliability_bins,
)
from explorer.evaluation.errors import EvaluationInputError
from explorer.figures.calibration import reliability_figure
from tests import score_cases


def test_calibrated_scores_have_ece_zero() -> None:
    # 10 detections at 0.8 of which 8 are right, 20 at 0.25 of which 5 are right
    scores = np.r_[np.full(10, 0.8), np.full(20, 0.25)]
    correct = np.r_[np.ones(8), np.zeros(2), np.ones(5), np.zeros(15)].astype(bool)
    assert expected_calibration_error(scores, correct) == pytest.approx(0.0, abs=1e-12)
    assert max_calibration_error(scores, correct) == pytest.approx(0.0, abs=1e-12)


def test_over_confident_scores() -> None:
    # always 0.9, right half the time: every bin's gap is 0.4
    scores, correct = np.full(10, 0.9), np.r_[np.ones(5), np.zeros(5)].astype(bool)
    assert expected_calibration_error(scores, correct) == pytest.approx(0.4)
    # two bins: 0.95 right 1 of 4 (gap .7), 0.55 right 3 of 4 (gap .2): ECE (4 * .7 + 4 * .2) / 8 = .45, MCE .7
    scores = np.r_[np.full(4, 0.95), np.full(4, 0.55)]
    correct = np.array([1, 0, 0, 0, 1, 1, 1, 0], dtype=bool)
    assert expected_calibration_error(scores, correct) == pytest.approx(0.45)
    assert max_calibration_error(scores, correct) == pytest.approx(0.7)


def test_reliability_bins_follow_numpy_histogram() -> None:
    scores = np.array([0.0, 0.1, 0.3, 0.5, 0.7, 0.99, 1.0])  # 0.3 and 0.7 sit on float-rounded edges
    np.testing.assert_array_equal(np.bincount(bin_index(scores, 10), minlength=10),
                                  np.histogram(scores, 10, (0, 1))[0])
    scores = scores[[0, 1, 3, 5, 6]]
    table = reliability_bins(scores, np.ones(5, dtype=bool), 2)
    assert table["detections"].tolist() == [2, 3]  # 0.5 opens the second bin, 1.0 closes it
    assert table["mean_score"].tolist() == pytest.approx([0.05, (0.5 + 0.99 + 1.0) / 3])
    empty = reliability_bins(np.array([0.95]), np.array([True]), 4)
    assert empty["detections"].tolist() == [0, 0, 0, 1] and np.isnan(empty["precision"][0])


def test_detection_ece_on_a_tiny_case() -> None:
    # 2 bins per dimension over (score, cx, cy, w, h). Cells: {.9 right, .6 right} at low x (precision 1, mean
    # score .75, gap .25); {.9 wrong} at high x (gap .9); {.2 wrong} in the low-score bin (gap .2).
    scores = np.array([0.9, 0.9, 0.2, 0.6])
    correct = np.array([1, 0, 0, 1], dtype=bool)
    features = np.array([[0.1, 0.1, 0.2, 0.2], [0.9, 0.9, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2]])
    assert detection_ece(scores, correct, features, 2) == pytest.approx((2 * 0.25 + 0.9 + 0.2) / 4)
    # without the box the two 0.9s share a bin with 0.6 (mean .8, precision 2/3): (3 * 2/15 + .2) / 4
    assert expected_calibration_error(scores, correct, 2) == pytest.approx((3 * (0.8 - 2 / 3) + 0.2) / 4)


def test_box_features_are_relative_and_clipped() -> None:
    features = box_features(np.array([[10, 20, 40, 20], [180, 0, 40, 10]]), np.array([[100, 200], [100, 200]]))
    np.testing.assert_allclose(features, [[0.15, 0.3, 0.2, 0.2], [1.0, 0.05, 0.2, 0.1]])
    assert np.isnan(box_features(np.array([[0, 0, 1, 1]]), np.array([[np.nan, np.nan]]))).all()


def test_against_netcal() -> None:
    """netcal (Küppers' own package) computes D-ECE with ECE(bins, detection=True); ours must agree."""
    metrics = pytest.importorskip("netcal.metrics")
    rng = np.random.default_rng(0)
    scores, features = rng.random(3000), rng.random((3000, 4))
    correct = rng.random(3000) < scores * features[:, 0]
    theirs = metrics.ECE(bins=5, detection=True).measure(np.c_[scores, features], correct.astype(int))
    assert detection_ece(scores, correct, features, 5) == pytest.approx(theirs, abs=1e-12)
    theirs = metrics.ECE(bins=10).measure(scores, correct.astype(int))
    assert expected_calibration_error(scores, correct, 10) == pytest.approx(theirs, abs=1e-12)


def test_against_hotcoco() -> None:
    hotcoco_metrics = pytest.importorskip("hotcoco.metrics")
    rng = np.random.default_rng(1)
    scores = rng.random(2000)
    correct = rng.random(2000) < scores ** 2
    ece, mce = hotcoco_metrics.calibration_error(scores.tolist(), correct.tolist(), 10)
    assert expected_calibration_error(scores, correct) == pytest.approx(ece, abs=1e-12)
    assert max_calibration_error(scores, correct) == pytest.approx(mce, abs=1e-12)


@pytest.fixture(scope="module")
def cal() -> Any:
    return calibration(score_cases.ground_truth(), score_cases.results(), "bbox", iou=0.75, bins=2, dece_bins=2)


def test_hand_made_set(cal: Any) -> None:
    # At IoU .5 the detections that count (the crowd one left out): .9T .8F .7T .6F .5T | .4F .3T.
    # Bin [.5, 1]: mean .7, 3 of 5 right (gap .1); bin [0, .5): mean .35, 1 of 2 right (gap .15).
    summary = cal.summary()
    pooled = summary[np.isclose(summary["iou"], 0.5) & (summary["category"] == ALL)].iloc[0]
    assert (pooled["detections"], pooled["true_positives"]) == (7, 4)
    assert pooled["ece"] == pytest.approx((5 * 0.1 + 2 * 0.15) / 7)
    assert pooled["mce"] == pytest.approx(0.15)
    reliability = cal.reliability(0.5)
    assert reliability["detections"].tolist() == [2, 5]
    assert reliability["precision"].tolist() == pytest.approx([0.5, 0.6])
    # category b alone: .5T (bin 1, gap .5), .4F (bin 0, gap .4) -> ECE .45
    b = summary[np.isclose(summary["iou"], 0.5) & (summary["category"] == "b")].iloc[0]
    assert b["ece"] == pytest.approx(0.45)
    # At IoU .75 the .7 is wrong too: bin [.5, 1] has 2 of 5 right (gap .3)
    assert cal.overall(0.75)["ece"] == pytest.approx((5 * 0.3 + 2 * 0.15) / 7)


def test_hand_made_dece_uses_the_boxes(cal: Any) -> None:
    # Image 200x100, 2 bins per dimension: a's .9/.6 (x centre .1), .8 (.1, y .7), .7 (.3), .3 (.55)...
    scored = cal.scored
    t = scored.at(0.5)
    keep = ~scored.ignored[t]
    features = box_features(scored.boxes[keep], scored.image_sizes[keep])
    expected = detection_ece(scored.score[keep], scored.tp[t][keep], features, 2)
    assert cal.overall(0.5)["d_ece"] == pytest.approx(expected)
    assert expected != pytest.approx(cal.overall(0.5)["ece"])  # the box bins split the score bins


def test_figure_draws_filled_bins(cal: Any) -> None:
    figure = reliability_figure(cal.reliability(0.5), "title")
    assert list(figure.data[0].y) == pytest.approx([50.0, 60.0])
    assert figure.data[2].name == "calibrated"


@pytest.mark.parametrize(("score", "message"), [
    (1.5, r"results\[2\]: score 1.5 is above 1"),
    (-0.2, r"results\[2\]: score -0.2 is negative"),
    (float("nan"), r"results\[2\]: score must be a number"),
])
def test_bad_scores_one_clear_message(score: float, message: str) -> None:
    results = score_cases.results()
    results[2]["score"] = score
    with pytest.raises(EvaluationInputError, match=message):
        calibration(score_cases.ground_truth(), results, "bbox")


def test_empty_results_one_clear_message() -> None:
    with pytest.raises(EvaluationInputError, match="has no detections"):
        calibration(score_cases.ground_truth(), [], "bbox")


@pytest.mark.parametrize("bins", [0, 2.5, True])
def test_bad_bins(bins: Any) -> None:
    with pytest.raises(EvaluationInputError, match="bins must be a positive integer"):
        calibration(score_cases.ground_truth(), score_cases.results(), "bbox", bins=bins)


def test_pure_functions_refuse_bad_scores() -> None:
    with pytest.raises(EvaluationInputError, match="above 1"):
        expected_calibration_error([0.5, 1.2], [True, False])
    with pytest.raises(EvaluationInputError, match="no detections"):
        expected_calibration_error([], [])
    with pytest.raises(EvaluationInputError, match="2 scores but 1 outcomes"):
        expected_calibration_error([0.5, 0.2], [True])
