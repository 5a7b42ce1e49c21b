"""What the evaluation views show, computed as plain library calls (no Streamlit): explorer.evaluation.report and
explorer.evaluation.uploaded_images."""

from __future__ import annotations

import io
import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from explorer.detections import Detections
from explorer.evaluation import report
from explorer.evaluation import uploaded_images as uploaded
from explorer.evaluation.coco import pipeline
from explorer.evaluation.coco.breakdown import LABELS
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.matching import match_images
from tests.coco_factory import make_ground_truth, perfect_results
from tests.deadlines import HANG_S


def dumps(data: Any) -> bytes:
    return json.dumps(data).encode()


@pytest.fixture(scope="module")
def gt() -> dict[str, Any]:
    return make_ground_truth(n_images=4, seed=3)


@pytest.fixture(scope="module")
def files(gt) -> tuple[report.Source, report.Source]:
    return ("gt.json", dumps(gt)), ("folder/perfect.json", dumps(perfect_results(gt)))


@dataclass
class Upload:
    name: str
    rgb: np.ndarray | None = None


@dataclass
class FakeRun:
    name: str
    uid: str
    detections: list[Any]


def box_detections(width: int = 640, height: int = 480, **extra: Any) -> Detections:
    return Detections(width=width, height=height, boxes=np.array([[10, 10, 50, 50]], np.float32),
                      scores=np.array([0.9], np.float32), labels=np.array([1]), names=["person"], **extra)


# ---- evaluating -------------------------------------------------------------------------------------------------

def test_evaluate_uploads_gives_the_evaluation_or_the_input_error(files) -> None:
    (gt_name, gt_bytes), _ = files
    evaluation, problem, _ = report.evaluate_uploads(report.upload_request(*files, "bbox"))
    assert problem is None and evaluation.stat("AP") == pytest.approx(1.0)
    bad = report.upload_request((gt_name, gt_bytes), ("bad.json", b"not json"), "bbox")
    evaluation, problem, _ = report.evaluate_uploads(bad)
    assert evaluation is None and "bad.json" in problem


def test_evaluate_uploads_on_some_images_only(gt, files) -> None:
    (gt_name, gt_bytes), (name, _) = files
    first = gt["images"][0]["id"]
    only_first = [r for r in perfect_results(gt) if r["image_id"] == first]
    request = report.upload_request((gt_name, gt_bytes), (name, dumps(only_first)), "bbox", image_ids=[first])
    evaluation, problem, _ = report.evaluate_uploads(request)
    assert problem is None and evaluation.n_images == 1 and evaluation.stat("AP") == pytest.approx(1.0)


def test_an_evaluation_task_reports_progress_and_its_outcome(files) -> None:
    stages: list[str] = []
    gate = threading.Event()
    real = pipeline.run_request

    def slow(request: Any, progress: Any = None) -> Any:
        def relay(stage: str, fraction: float) -> None:
            stages.append(stage)
            progress(stage, fraction)

        gate.wait(30)
        return real(request, relay)

    with ThreadPoolExecutor(1) as executor, pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "run_request", slow)
        task = report.start_evaluation(executor, report.upload_request(*files, "bbox"))
        assert not task.done() and task.progress.latest == ("starting", 0.0)  # returned at once
        gate.set()
        evaluation, problem, _ = task.outcome(timeout=HANG_S)
    assert problem is None and evaluation.stat("AP") == pytest.approx(1.0)
    assert task.done() and not task.failed() and stages and task.progress.latest[0] == stages[-1]


def test_a_task_that_crashed_says_so(files) -> None:
    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug")

    with ThreadPoolExecutor(1) as executor, pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "run_request", crash)
        task = report.start_evaluation(executor, report.upload_request(*files, "bbox"))
        with pytest.raises(RuntimeError, match="bug"):
            task.outcome(timeout=HANG_S)
    assert task.failed()


def test_progress_log_clamps_fractions() -> None:
    log = report.ProgressLog()
    log("matching", 1.7)
    assert log.latest == ("matching", 1.0)
    log("loading", -1)
    assert log.latest == ("loading", 0.0)


def test_annotation_images_or_the_error(gt, files) -> None:
    (gt_name, gt_bytes), _ = files
    images, problem = report.annotation_images(gt_bytes, gt_name)
    assert problem is None and [i["id"] for i in images] == [i["id"] for i in gt["images"]]
    images, problem = report.annotation_images(b"[]", "list.json")
    assert images == [] and "list.json" in problem


def test_unique_names_keep_every_file() -> None:
    named = report.unique_names([("a.json", b"1"), ("b.json", b"2"), ("a.json", b"3"), ("a.json", b"4")])
    assert named == [("a.json", b"1"), ("b.json", b"2"), ("a.json (2)", b"3"), ("a.json (3)", b"4")]


def test_sorted_ids() -> None:
    assert report.sorted_ids([3, 1, 2]) == (1, 2, 3) and report.sorted_ids(None) is None


# ---- one evaluation, as shown -----------------------------------------------------------------------------------

def test_summary_numbers_and_names(files) -> None:
    evaluation, *_ = report.evaluate_uploads(report.upload_request(*files, "bbox", analysis=True))
    assert [n for n, _ in report.key_numbers(evaluation)] == list(report.KEY_STATS)
    assert dict(report.key_numbers(evaluation))["AP"] == "100.0"
    caption = report.summary_caption(evaluation)
    assert caption.startswith("folder/perfect.json vs gt.json · bbox · 4 images") and caption.endswith(" s")
    assert report.csv_name(evaluation) == "per_category-perfect.csv"
    table = report.breakdown_table(evaluation, "all")
    assert all(isinstance(v, str) for label in LABELS for v in table[label])


def test_breakdown_table_needs_the_breakdown(files) -> None:
    evaluation, *_ = report.evaluate_uploads(report.upload_request(*files, "bbox"))
    with pytest.raises(ValueError, match="without the error breakdown"):
        report.breakdown_table(evaluation, "all")


def test_percent_texts() -> None:
    assert report.percent_text(0.4567) == "45.7" and report.percent_text(math.nan) == "—"
    assert report.percent_share(12.34) == "12.3%" and report.percent_share(math.nan) == "—"
    assert report.results_stem("a/b/c.json") == "c" and report.results_stem(".json") == "results"


# ---- keypoints ------------------------------------------------------------------------------------------------

def test_keypoint_options_parse_or_raise() -> None:
    assert report.keypoint_options("", " ") == (None, None)
    sigmas, pairs = report.keypoint_options("0.1, 0.2", "left_eye:right_eye")
    assert sigmas == [0.1, 0.2] and pairs == [("left_eye", "right_eye")]
    with pytest.raises(EvaluationInputError):
        report.keypoint_options("lots", "")


def test_keypoint_tables() -> None:
    people = make_ground_truth(3, seed=2, keypoints=True)
    results = perfect_results(people, "keypoints")
    request = report.upload_request(("people.json", dumps(people)), ("kp.json", dumps(results)), "keypoints")
    evaluation, problem, errors = report.evaluate_uploads(request, keypoint_errors=True)
    assert problem is None and evaluation is not None and errors is not None
    assert "good" in report.keypoint_counts(errors).index
    ap = report.keypoint_ap_table(errors)
    assert list(ap.columns) == ["keypoints", "OKS AP", "gain (points)"] and ap["gain (points)"].str[0].isin(
        ["+", "-"]).all()
    percent = report.keypoint_table(errors, True)
    assert percent.equals(percent.round(1))
    assert report.keypoint_table(errors, False).equals(errors.per_keypoint_frame(percent=False))


# ---- TIDE, the per-image table and the confusion matrix -----------------------------------------------------------

def test_tide_outcomes_from_the_checked_inputs(gt, files) -> None:
    loaded = report.tide_inputs(*files, "bbox", None)
    errors, problem = report.tide_outcome(loaded, "bbox")
    assert problem is None and errors.ap == pytest.approx(100.0)
    _, table, problem = report.classification_outcome(loaded, "bbox", 0.5, 0.0)
    assert problem is None and len(table) == len(gt["images"]) and set(table["fp"]) == {0}
    first = gt["images"][0]["id"]
    on_first = ("first.json", dumps([r for r in perfect_results(gt) if r["image_id"] == first]))
    restricted = report.tide_inputs(files[0], on_first, "bbox", [first])
    _, table, problem = report.classification_outcome(restricted, "bbox", 0.5, 0.0)
    assert problem is None and list(table["image_id"]) == [first]


def test_tide_input_errors_pass_through_as_messages(files) -> None:
    loaded = report.tide_inputs(files[0], ("bad.json", b"{"), "bbox", None)
    assert isinstance(loaded, str) and "bad.json" in loaded
    assert report.tide_outcome(loaded, "bbox") == (None, loaded)
    assert report.classification_outcome(loaded, "bbox", 0.5, 0.5) == (None, None, loaded)


def test_tide_difference_of_a_file_with_itself_is_zero(files) -> None:
    errors, _ = report.tide_outcome(report.tide_inputs(*files, "bbox", None), "bbox")
    frame = report.tide_difference_table(errors, errors, ("A", "B"), "cls")
    assert "error" not in frame.columns and len(frame) >= 1


def test_per_image_rows_and_the_row_shown() -> None:
    table = pd.DataFrame({"image_id": [5, 7, 9], "ap": [10.04, 55.54, 99.99], "file_name": ["a", "b", "c"]})
    rows = report.per_image_rows(table, {7: None, 9: None})
    assert list(rows["image"]) == [False, True, True] and list(rows["ap"]) == [10.0, 55.5, 100.0]
    assert report.shown_row(rows, []) == 1 and report.shown_row(rows, [0]) == 0
    assert report.shown_row(report.per_image_rows(table, {}), []) is None


def test_size_mismatch_warning() -> None:
    assert report.size_mismatch((480, 640), 480, 640, "a.jpg") is None
    assert report.size_mismatch(None, 1, 1, "a.jpg") is None
    assert report.size_mismatch((480, 640), 100, 200, "a.jpg") == (
        "a.jpg is 200x100 but the annotations say 640x480: the boxes may not line up.")


def test_confusion_outcome(files) -> None:
    matrix, problem = report.confusion_outcome(*files, "bbox", 0.5, 0.0)
    assert problem is None and matrix.to_frame().shape[0] > 0
    matrix, problem = report.confusion_outcome(files[0], ("bad.json", b"{"), "bbox", 0.5, 0.0)
    assert matrix is None and "bad.json" in problem


# ---- uploads matched to the annotations -----------------------------------------------------------------------

def test_match_report_says_both_sides(gt) -> None:
    names = [gt["images"][0]["file_name"], "holiday.jpg"]
    said = uploaded.match_report(match_images(gt["images"], names), len(gt["images"]))
    assert said.matched_any and said.summary.endswith(".")
    assert "holiday.jpg" in said.uploads_left_out
    assert said.annotations_left_out.startswith(f"{len(gt['images']) - 1} of the {len(gt['images'])} annotated")
    nothing = uploaded.match_report(match_images(gt["images"], ["x.jpg"]), len(gt["images"]))
    assert not nothing.matched_any


def test_few_lists_ten_then_counts() -> None:
    assert uploaded.few([1, 2]) == "1, 2"
    assert uploaded.few(list(range(12))).endswith("9 and 2 more")


def test_supported_iou_types() -> None:
    assert uploaded.supported_iou_types([box_detections()]) == ["bbox"]
    masked = box_detections(masks=np.zeros((1, 480, 640), bool))
    posed = box_detections(keypoints=np.zeros((1, 17, 2), np.float32), keypoint_scores=np.zeros((1, 17), np.float32))
    assert uploaded.supported_iou_types([masked, posed]) == ["bbox", "segm", "keypoints"]


def test_run_results_use_the_annotation_files_image_ids(gt) -> None:
    names = [gt["images"][1]["file_name"], "other.jpg", gt["images"][0]["file_name"]]
    images = [Upload(name) for name in names]
    run = FakeRun("m", "fake:m", [box_detections() for _ in names])
    match = match_images(gt["images"], names)
    results = json.loads(uploaded.run_results(images, run, match))
    assert sorted(r["image_id"] for r in results) == sorted([gt["images"][0]["id"], gt["images"][1]["id"]])


def test_matched_pixels_and_their_loaders(gt) -> None:
    rgb = np.ones((4, 4, 3), np.uint8)
    name = gt["images"][0]["file_name"]
    images = [Upload(name, rgb), Upload(name, rgb * 2), Upload("no-pixels.jpg")]
    pixels = uploaded.matched_pixels(images, match_images(gt["images"], [i.name for i in images]))
    assert list(pixels) == [gt["images"][0]["id"]] and pixels[gt["images"][0]["id"]] is rgb  # the first upload
    loaders = uploaded.loaders_of(pixels)
    lazy = uploaded.LazyImages(loaders)
    assert len(lazy) == 1 and lazy[gt["images"][0]["id"]] is rgb


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 7, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_upload_and_folder_loaders_decode_only_when_asked(tmp_path: Path) -> None:
    annotated = [{"id": 1, "file_name": "a.png", "width": 3, "height": 2},
                 {"id": 2, "file_name": "b.png", "width": 3, "height": 2}]
    reads: list[str] = []

    def reader(name: str) -> Any:
        return lambda: reads.append(name) or png(3, 2)

    loaders = uploaded.upload_loaders(annotated, {"a.png": reader("a.png"), "zzz.png": reader("zzz.png")})
    assert list(loaders) == [1] and reads == []
    assert loaders[1]().shape == (2, 3, 3) and reads == ["a.png"]
    (tmp_path / "b.png").write_bytes(png(3, 2))
    from_folder = uploaded.folder_loaders(annotated, str(tmp_path))
    assert list(from_folder) == [2] and from_folder[2]().shape == (2, 3, 3)


def test_match_uploaded_images_refuses_other_names_and_sizes() -> None:
    annotated = [{"id": 1, "file_name": "a.png", "width": 3, "height": 2},
                 {"id": 2, "file_name": "b.png", "width": 3, "height": 2}]
    found, problems = uploaded.match_uploaded_images(annotated, {
        "a.png": np.zeros((2, 3, 3), np.uint8), "b.png": np.zeros((5, 5, 3), np.uint8),
        "c.png": np.zeros((2, 3, 3), np.uint8)})
    assert list(found) == [1]
    assert problems[0].startswith("1 uploaded image(s) are not in the annotation file's images, first c.png")
    assert "b.png is 5×5 but the annotations say 3×2" in problems[1]


def test_cell_images_are_capped_and_captioned() -> None:
    items = pd.DataFrame({"image_id": [1, 1, 2, 3], "file_name": ["a.png", "a.png", "", "c.png"],
                          "score": [0.9, 0.8, 0.7, 0.6]})
    drawn = uploaded.cell_images(items, {1: None, 2: None, 3: None}, limit=2)
    assert [(image_id, len(rows), caption) for image_id, rows, caption in drawn] == [(1, 2, "a.png"),
                                                                                    (2, 1, "image 2")]
    assert uploaded.cell_images(items, {}, limit=6) == []
