"""The confusion matrix (explorer.evaluation.analyses.confusion) on a hand-made set whose matrix is known, and its CSV.

One 200x200 image, classes cat, dog, bird:
  A cat [10, 10, 40, 40]    detected as cat (0.9) and again as cat (0.6: a duplicate -> background / cat)
  B dog [100, 10, 40, 40]   detected as cat (0.8): a wrong class -> dog / cat
  C cat [10, 100, 40, 40]   only a bird at 0.2: below the score threshold -> missed (cat / background);
                            with the threshold at 0.1 -> cat / bird
  D dog [100, 100, 40, 40]  detected as dog, shifted by 8 px (0.95, IoU 2/3): dog / dog at IoU .5; at IoU .7 the
                            detection is background / dog and D is missed (dog / background)
  a crowd of cats [150, 0, 50, 50] with a bird inside (0.9): ignored, counted nowhere
  a bird on empty background [150, 150, 40, 40] (0.7) -> background / bird
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from explorer.cli.main import main
from explorer.evaluation.analyses.confusion import BACKGROUND, confusion_matrix, confusion_overlaps
from explorer.evaluation.errors import EvaluationInputError
from tests.coco_factory import make_ground_truth, octagon, perfect_results

LABELS = ["cat", "dog", "bird", BACKGROUND]


def _ann(i: int, category: int, box: list[float], crowd: int = 0) -> dict[str, Any]:
    return {"id": i, "image_id": 1, "category_id": category, "bbox": box, "area": box[2] * box[3], "iscrowd": crowd,
            "segmentation": [octagon(box)] if not crowd else {"size": [200, 200], "counts": _crowd_counts(box)}}


def _crowd_counts(box: list[float]) -> list[int]:
    mask = np.zeros((200, 200), dtype=np.uint8)
    x, y, w, h = (int(v) for v in box)
    mask[y: y + h, x: x + w] = 1
    flat = mask.flatten(order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1
    return np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()


GT: dict[str, Any] = {
    "images": [{"id": 1, "file_name": "one.jpg", "width": 200, "height": 200}],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}],
    "annotations": [_ann(1, 1, [10, 10, 40, 40]), _ann(2, 2, [100, 10, 40, 40]), _ann(3, 1, [10, 100, 40, 40]),
                    _ann(4, 2, [100, 100, 40, 40]), _ann(5, 1, [150, 0, 50, 50], crowd=1)],
}


def _det(category: int, box: list[float], score: float) -> dict[str, Any]:
    return {"image_id": 1, "category_id": category, "bbox": box, "score": score}


RESULTS = [_det(1, [10, 10, 40, 40], 0.9), _det(1, [10, 10, 40, 40], 0.6), _det(1, [100, 10, 40, 40], 0.8),
           _det(3, [10, 100, 40, 40], 0.2), _det(2, [108, 100, 40, 40], 0.95), _det(3, [155, 5, 30, 30], 0.9),
           _det(3, [150, 150, 40, 40], 0.7)]


def test_known_matrix_at_the_defaults() -> None:
    matrix = confusion_matrix(GT, RESULTS, "bbox")
    assert list(matrix.labels) == LABELS
    assert matrix.counts.tolist() == [
        # cat dog bird background (predicted)
        [1, 0, 0, 1],  # cat: A found, C missed
        [1, 1, 0, 0],  # dog: B taken for a cat, D found
        [0, 0, 0, 0],  # bird: no birds
        [1, 0, 1, 0],  # background: the duplicate on A, the bird on empty ground (the one in the crowd: ignored)
    ]
    wrong = matrix.cell("dog", "cat")
    assert wrong["detection"].tolist() == [2] and wrong["annotation"].tolist() == [1]
    assert wrong["iou"].tolist() == [1.0] and wrong["dt_box"].tolist() == [[100.0, 10.0, 40.0, 40.0]]
    missed = matrix.cell("cat", BACKGROUND)
    assert missed["detection"].tolist() == [-1] and missed["annotation"].tolist() == [2]
    assert missed["file_name"].tolist() == ["one.jpg"]


def test_score_threshold_leaves_low_scores_out() -> None:
    matrix = confusion_matrix(GT, RESULTS, "bbox", score=0.1)
    assert matrix.counts[0].tolist() == [1, 0, 1, 0]  # C is now found, as a bird
    assert matrix.cell("cat", "bird")["score"].tolist() == [0.2]
    strict = confusion_matrix(GT, RESULTS, "bbox", score=0.85)  # only A's 0.9, D's 0.95 and the crowd bird
    assert strict.counts.tolist() == [[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_iou_threshold_turns_a_loose_box_into_background_and_a_miss() -> None:
    matrix = confusion_matrix(GT, RESULTS, "bbox", iou=0.7)
    assert matrix.counts[1].tolist() == [1, 0, 0, 1]  # D missed
    assert matrix.counts[3].tolist() == [1, 1, 1, 0]  # the shifted dog is a false detection
    assert matrix.cell("dog", "dog").empty


def test_same_class_match_wins_over_a_higher_iou_of_another_class() -> None:
    """A cat detection between a dog (IoU .90) and a cat (IoU .74): it is the cat's true positive, and the dog is
    missed; class-agnostic matching only decides what a detection with no object of its own class confused."""
    gt = {**GT, "annotations": [_ann(1, 2, [0, 0, 40, 40]), _ann(2, 1, [8, 0, 40, 40])]}
    matrix = confusion_matrix(gt, [_det(1, [2, 0, 40, 40], 0.9)], "bbox")
    assert matrix.counts.tolist() == [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_row_normalisation() -> None:
    matrix = confusion_matrix(GT, RESULTS, "bbox")
    normalised = matrix.normalised()
    assert normalised[0].tolist() == [0.5, 0, 0, 0.5]
    assert normalised[2].tolist() == [0, 0, 0, 0]  # no birds: a row of zeros, not NaN
    assert np.allclose(normalised[[0, 1, 3]].sum(axis=1), 1.0)
    assert matrix.to_frame(normalise=True)["background"].tolist() == [0.5, 0.0, 0.0, 0.0]


def test_segm_uses_mask_iou() -> None:
    """Masks are octagons inside the boxes: the same detections (as masks) give the same matrix."""
    results = [{**{k: v for k, v in r.items() if k != "bbox"}, "segmentation": [octagon(r["bbox"])]}
               for r in RESULTS]
    matrix = confusion_matrix(GT, results, "segm")
    assert matrix.counts.tolist() == confusion_matrix(GT, RESULTS, "bbox").counts.tolist()
    assert matrix.cell("dog", "dog")["iou"].iloc[0] < 1.0


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_one_set_of_overlaps_gives_every_threshold_s_matrix(iou_type: str) -> None:
    """The page computes the IoUs once per file (read from its bytes as typed columns) and re-matches per slider
    position: each matrix is the one computed from scratch on the parsed JSON, entries included."""
    results = RESULTS if iou_type == "bbox" else [
        {**{k: v for k, v in r.items() if k != "bbox"}, "segmentation": [octagon(r["bbox"])]} for r in RESULTS]
    if iou_type == "segm":  # compressed RLE, as engines write masks: the typed reader's common case
        from explorer.evaluation.masks import to_rle

        results = [{**r, "segmentation": to_rle(r["segmentation"], 200, 200)} for r in results]
        for r in results:
            r["segmentation"]["counts"] = r["segmentation"]["counts"].decode() \
                if isinstance(r["segmentation"]["counts"], bytes) else r["segmentation"]["counts"]
    overlaps = confusion_overlaps(GT, json.dumps(results).encode(), iou_type)
    for iou, score in [(0.5, 0.5), (0.7, 0.5), (0.5, 0.1), (0.3, 0.85), (0.05, 0.0)]:
        cached, fresh = overlaps.matrix(iou, score), confusion_matrix(GT, results, iou_type, iou=iou, score=score)
        assert cached.counts.tolist() == fresh.counts.tolist()
        assert cached.entries.fillna(-1).to_dict("records") == fresh.entries.fillna(-1).to_dict("records")


def test_perfect_results_are_diagonal() -> None:
    gt = make_ground_truth(6, seed=4)
    matrix = confusion_matrix(gt, perfect_results(gt, "bbox"), "bbox", score=0.0)
    off_diagonal = matrix.counts - np.diag(np.diag(matrix.counts))
    assert off_diagonal.sum() == 0 and np.trace(matrix.counts) > 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"iou": 1.5}, "IoU threshold must be a number from 0 to 1"),
    ({"score": -0.1}, "score threshold must be a number from 0 to 1"),
    ({"iou_type": "keypoints"}, "needs classes to confuse"),
])
def test_bad_options_are_one_clear_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(EvaluationInputError, match=message):
        confusion_matrix(GT, RESULTS, **{"iou_type": "bbox", **kwargs})


def test_results_of_another_dataset_name_the_first_offending_entry() -> None:
    with pytest.raises(EvaluationInputError, match=r"results\[0\]|image"):
        confusion_matrix(GT, [_det(1, [0, 0, 5, 5], 0.9) | {"image_id": 77}], "bbox")


def _read(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_cli_writes_the_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt_path, dt_path, out = tmp_path / "gt.json", tmp_path / "dt.json", tmp_path / "confusion.csv"
    gt_path.write_text(json.dumps(GT))
    dt_path.write_text(json.dumps(RESULTS))
    code = main(["eval", "--gt", str(gt_path), "--dt", str(dt_path), "--iou-type", "bbox", "--confusion", str(out),
                 "--confusion-iou", "0.7", "--confusion-score", "0.1"])
    assert code == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert _read(out) == [["ground_truth", "cat", "dog", "bird", "background"],
                          ["cat", "1", "0", "1", "0"],
                          ["dog", "1", "0", "0", "1"],
                          ["bird", "0", "0", "0", "0"],
                          ["background", "1", "1", "1", "0"]]


def test_cli_refuses_bad_thresholds_before_evaluating(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt_path, dt_path = tmp_path / "gt.json", tmp_path / "dt.json"
    gt_path.write_text(json.dumps(GT))
    dt_path.write_text(json.dumps(RESULTS))
    code = main(["eval", "--gt", str(gt_path), "--dt", str(dt_path), "--iou-type", "bbox", "--confusion",
                 str(tmp_path / "c.csv"), "--confusion-score", "2"])
    captured = capsys.readouterr()
    assert code == 2 and "score threshold must be a number from 0 to 1" in captured.err
    assert "Average Precision" not in captured.out and not (tmp_path / "c.csv").exists()


def test_figure_shows_counts_or_row_percent_and_reports_the_clicked_cell() -> None:
    from explorer.figures.evaluation import confusion_cell_from_selection, confusion_figure

    matrix = confusion_matrix(GT, RESULTS, "bbox")
    counts = confusion_figure(matrix)
    heatmap = counts.data[0]
    assert list(heatmap.x) == LABELS and list(heatmap.y) == LABELS
    assert heatmap.text[1][0] == "1" and heatmap.text[2][2] == ""  # dog taken for a cat; no birds
    percent = confusion_figure(matrix, normalise=True).data[0]
    assert percent.text[0][0] == "50%" and percent.zmax == 100
    assert len(counts.data[1].x) == len(LABELS) ** 2  # one clickable marker per cell
    event = {"selection": {"points": [{"x": "cat", "y": "dog", "curve_number": 1}]}}
    assert confusion_cell_from_selection(event) == ("dog", "cat")
    assert confusion_cell_from_selection({"selection": {"points": []}}) is None
    assert confusion_cell_from_selection(None) is None


def test_drawing_a_cell_marks_both_boxes() -> None:
    from explorer.drawing.confusion import DETECTION_COLOUR, GROUND_TRUTH_COLOUR, draw_cell_items

    matrix = confusion_matrix(GT, RESULTS, "bbox")
    image = np.zeros((200, 200, 3), np.uint8)
    drawn = draw_cell_items(image, matrix.cell("dog", "cat").to_dict("records"))
    assert drawn.shape == image.shape and not image.any()  # a copy; the input is untouched
    assert tuple(drawn[45, 100]) in (GROUND_TRUTH_COLOUR, DETECTION_COLOUR)  # the shared left edge of both boxes
    assert not drawn[150:, :90].any()  # nothing drawn away from the boxes
