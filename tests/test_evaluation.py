"""explorer.evaluation against pycocotools, the reference: summary, per-category numbers, known perturbations.

The reference numbers are computed here straight from pycocotools (COCO, loadRes, COCOeval) on the same
input, never from our code, so a test fails if we ever stop agreeing with it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import pickle
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from explorer.evaluation.coco.pipeline import evaluate
from explorer.evaluation.coco.results import CATEGORY_COLUMNS, Evaluation, percent_table
from explorer.evaluation.inputs.ground_truth import load_ground_truth
from tests.coco_factory import ABSENT_CATEGORY_ID, ANNOTATED_CATEGORY_IDS, make_ground_truth, perfect_results

REFERENCE = "pycocotools"


def reference_eval(gt: dict[str, Any], results: list[dict[str, Any]], iou_type: str) -> tuple[COCOeval, str]:
    """pycocotools on deep copies of the input: the evaluator and what its summarize() printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        dt = coco.loadRes(copy.deepcopy(results))
        evaluator = COCOeval(coco, dt, iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        evaluator.summarize()
    return evaluator, summary.getvalue()


def reference_mean(values: np.ndarray) -> float:
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else float("nan")


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.fixture(scope="module")
def instances() -> dict[str, Any]:
    return make_ground_truth(16, seed=3)


@pytest.fixture(scope="module")
def people() -> dict[str, Any]:
    return make_ground_truth(16, seed=4, keypoints=True)


def noisy_results(gt: dict[str, Any], iou_type: str, seed: int = 7) -> list[dict[str, Any]]:
    """Perfect results with jittered boxes/keypoints, some dropped, some relabelled, scores shuffled: numbers
    strictly between 0 and 1, so agreement with pycocotools means something."""
    rng = np.random.default_rng(seed)
    results = perfect_results(gt, iou_type, seed=seed)
    out = []
    for entry in results:
        if rng.random() < 0.15:
            continue
        entry = copy.deepcopy(entry)
        entry["score"] = round(float(rng.uniform(0.05, 1.0)), 6)
        if iou_type == "bbox":
            x, y, w, h = entry["bbox"]
            entry["bbox"] = [x + rng.normal(0, 0.15) * w, y + rng.normal(0, 0.15) * h, w, h]
        elif iou_type == "keypoints":
            entry["keypoints"] = [v + (rng.normal(0, 4) if i % 3 != 2 else 0)
                                  for i, v in enumerate(entry["keypoints"])]
        if iou_type != "keypoints" and rng.random() < 0.1:
            entry["category_id"] = int(rng.choice(ANNOTATED_CATEGORY_IDS))
        out.append(entry)
    return out


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
def test_perfect_detections_give_ap_100(instances, people, iou_type) -> None:
    gt = people if iou_type == "keypoints" else instances
    result = evaluate(gt, perfect_results(gt, iou_type), iou_type, backend=REFERENCE)
    assert result.stat("AP") == 1.0
    assert result.stat("AP50") == 1.0
    assert result.stat("AP75") == 1.0
    present = [row for row in result.categories if row.n_gt]
    assert present and all(row.ap == 1.0 and row.ar100 == 1.0 for row in present)


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
def test_summary_is_pycocotools_stats_and_lines(instances, people, iou_type) -> None:
    gt = people if iou_type == "keypoints" else instances
    results = noisy_results(gt, iou_type)
    reference, printed = reference_eval(gt, results, iou_type)
    result = evaluate(gt, results, iou_type, backend=REFERENCE)
    assert result.stats == tuple(float(v) for v in reference.stats)
    assert 0 < result.stat("AP") < 1
    assert result.summary_text() == printed
    names = [s.name for s in result.summary]
    expected = (["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"] if iou_type == "keypoints"
                else ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"])
    assert names == expected


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
def test_per_category_numbers_come_from_pycocotools_arrays(instances, people, iou_type) -> None:
    gt = people if iou_type == "keypoints" else instances
    results = noisy_results(gt, iou_type)
    reference, _ = reference_eval(gt, results, iou_type)
    precision, recall, params = reference.eval["precision"], reference.eval["recall"], reference.params
    t50, t75 = list(params.iouThrs).index(0.5), list(params.iouThrs).index(0.75)
    area = {label: i for i, label in enumerate(params.areaRngLbl)}
    result = evaluate(gt, results, iou_type, backend=REFERENCE)
    assert [row.category_id for row in result.categories] == list(params.catIds)
    for k, row in enumerate(result.categories):
        expected = {
            "ap": reference_mean(precision[:, :, k, 0, -1]),
            "ap50": reference_mean(precision[t50, :, k, 0, -1]),
            "ap75": reference_mean(precision[t75, :, k, 0, -1]),
            "ap_small": reference_mean(precision[:, :, k, area["small"], -1]) if "small" in area else math.nan,
            "ap_medium": reference_mean(precision[:, :, k, area["medium"], -1]),
            "ap_large": reference_mean(precision[:, :, k, area["large"], -1]),
            "ar100": reference_mean(recall[:, k, 0, -1]),
        }
        for name, value in expected.items():
            assert same(getattr(row, name), value), (row.category, name, getattr(row, name), value)
    curves = result.pr_frame()
    k = 0
    one = curves[(curves.category_id == result.categories[k].category_id) & (curves.iou == 0.5)]
    np.testing.assert_array_equal(one.recall.to_numpy(), params.recThrs)
    np.testing.assert_array_equal(one.precision.to_numpy(), precision[t50, :, k, 0, -1])


def test_category_absent_from_ground_truth_is_nan_not_zero(instances) -> None:
    results = noisy_results(instances, "bbox")
    result = evaluate(instances, results, "bbox", backend=REFERENCE)
    absent = result.category(ABSENT_CATEGORY_ID)
    assert absent.n_gt == 0
    for name in CATEGORY_COLUMNS[2:]:
        assert math.isnan(getattr(absent, name))
    table = percent_table(result)
    row = table[table.category_id == ABSENT_CATEGORY_ID].iloc[0]
    assert [row[c] for c in CATEGORY_COLUMNS[2:]] == [""] * 7
    assert all(v != "" for v in table[table.category_id == 1].iloc[0][list(CATEGORY_COLUMNS[2:])])
    # detections of the absent category change nothing either: still undefined, not 0
    extra = [*results, {"image_id": instances["images"][0]["id"], "category_id": ABSENT_CATEGORY_ID,
                        "bbox": [1, 1, 10, 10], "score": 0.99}]
    assert math.isnan(evaluate(instances, extra, "bbox", backend=REFERENCE).category(ABSENT_CATEGORY_ID).ap)


def tiny_set(n: int = 4) -> dict[str, Any]:
    """One image, `n` 20x20 boxes of category 1 far apart, and category 2 with one box."""
    boxes = [[10.0 + 50 * i, 10.0, 20.0, 20.0] for i in range(n)]
    annotations = [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": b, "area": 400.0, "iscrowd": 0}
                   for i, b in enumerate(boxes)]
    annotations.append({"id": n + 1, "image_id": 1, "category_id": 2, "bbox": [10.0, 100.0, 40.0, 40.0],
                        "area": 1600.0, "iscrowd": 0})
    return {"images": [{"id": 1, "width": 400, "height": 300, "file_name": "a.jpg"}], "annotations": annotations,
            "categories": [{"id": 1, "name": "a", "supercategory": "s"}, {"id": 2, "name": "b", "supercategory": "s"}]}


def test_shifting_the_lower_scored_half_of_the_boxes_gives_51_of_101() -> None:
    """4 objects; the two best-scored detections are exact, the other two shifted by 40% of the width (IoU
    0.6/1.4 < 0.5). Precision is 1 up to recall 0.5, 0 after: 51 of COCO's 101 recall thresholds (0, .01, ...,
    .50), at every IoU threshold."""
    gt = tiny_set()
    results = [{"image_id": 1, "category_id": 1, "score": 0.9 - 0.1 * i,
                "bbox": [ann["bbox"][0] + (8.0 if i >= 2 else 0.0), 10.0, 20.0, 20.0]}
               for i, ann in enumerate(gt["annotations"][:4])]
    results.append({"image_id": 1, "category_id": 2, "bbox": [10.0, 100.0, 40.0, 40.0], "score": 0.5})
    result = evaluate(gt, results, "bbox", backend=REFERENCE)
    a = result.category(1)
    assert a.ap50 == pytest.approx(51 / 101, abs=1e-12)
    assert a.ap == pytest.approx(51 / 101, abs=1e-12)
    assert a.ar100 == pytest.approx(0.5, abs=1e-12)
    assert result.category(2).ap == pytest.approx(1.0, abs=1e-12)  # pycocotools: tp / (tp + fp + eps)
    assert result.stat("AP50") == pytest.approx((51 / 101 + 1) / 2, abs=1e-12)


def test_shifted_boxes_scored_highest_halve_that_again() -> None:
    """The same two misses scored above the hits: precision 1/3 at recall .25, 2/4 at .5, so the
    interpolated precision is 0.5 up to recall .5: AP50 = 0.5 * 51/101."""
    gt = tiny_set()
    results = [{"image_id": 1, "category_id": 1, "score": 0.5 + 0.1 * i,
                "bbox": [ann["bbox"][0] + (8.0 if i >= 2 else 0.0), 10.0, 20.0, 20.0]}
               for i, ann in enumerate(gt["annotations"][:4])]
    result = evaluate(gt, results, "bbox", backend=REFERENCE)
    assert result.category(1).ap50 == pytest.approx(0.5 * 51 / 101, abs=1e-12)


def test_wrong_class_for_one_category_drops_only_that_category(instances) -> None:
    results = perfect_results(instances, "bbox")
    relabelled = [dict(r, category_id=3) if r["category_id"] == 2 else r for r in results]  # bicycles as cars
    before = evaluate(instances, results, "bbox", backend=REFERENCE)
    after = evaluate(instances, relabelled, "bbox", backend=REFERENCE)
    assert after.category(2).ap == 0.0  # every bicycle missed (there is ground truth, so 0, not NaN)
    assert after.category(2).n_dt == 0
    assert after.category(3).ap < 1.0  # cars now have false positives
    for category_id in (1, 17, 18):
        assert after.category(category_id).ap == before.category(category_id).ap == 1.0


def test_restricting_to_some_images_evaluates_only_those(instances) -> None:
    """Uploads matched to a few annotation images: the others' objects are not counted as missed."""
    first = [image["id"] for image in instances["images"][:3]]
    results = [r for r in perfect_results(instances, "bbox") if r["image_id"] in first]
    assert evaluate(instances, results, "bbox", backend=REFERENCE, image_ids=first).stat("AP") == 1.0
    assert evaluate(instances, results, "bbox", backend=REFERENCE).stat("AP") < 1.0


def test_progress_reports_stages_in_order(instances) -> None:
    seen: list[tuple[str, float]] = []
    evaluate(instances, perfect_results(instances, "bbox"), "bbox", backend=REFERENCE, analysis=True,
             progress=lambda stage, fraction: seen.append((stage, fraction)))
    stages = list(dict.fromkeys(stage for stage, _ in seen))
    assert stages == ["load", "evaluate", "accumulate", "per-category", "analysis", "done"]
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0


def test_result_is_plain_data_for_the_page_cache(instances) -> None:
    result = evaluate(instances, noisy_results(instances, "segm"), "segm", backend=REFERENCE, analysis=True)
    restored = pickle.loads(pickle.dumps(result))
    assert isinstance(restored, Evaluation)
    assert restored.stats == result.stats
    frame = restored.to_frame()
    assert list(frame.columns) == ["category_id", "category", "supercategory", "n_gt", "n_dt", "ap", "ap50", "ap75",
                                   "ap_small", "ap_medium", "ap_large", "ar100"]
    assert frame.category_id.tolist() == [c["id"] for c in instances["categories"]]
    areas = restored.area_frame()
    assert set(areas.area) == {"all", "small", "medium", "large"}
    overall = areas[(areas.category == "all") & (areas.area == "small")].ap.iloc[0]
    assert overall == result.stat("APs")
    assert restored.breakdown is not None and restored.breakdown.to_frame().shape[0] == len(frame)


def test_ground_truth_loaded_once_from_a_path_or_bytes(tmp_path, instances) -> None:
    import json

    path = tmp_path / "instances.json"
    path.write_text(json.dumps(instances))
    results_path = tmp_path / "results.json"
    results_path.write_text(json.dumps(perfect_results(instances, "bbox")))
    from_path = load_ground_truth(path)
    from_bytes = load_ground_truth(path.read_bytes())
    for gt in (from_path, from_bytes):
        result = evaluate(gt, results_path.read_bytes(), "bbox", backend=REFERENCE)
        assert result.stat("AP") == 1.0
    named = evaluate(from_path, results_path, "bbox", backend=REFERENCE)
    assert (named.ground_truth_name, named.results_name) == ("instances.json", "results.json")


def test_keypoints_with_other_sigmas() -> None:
    """A 3-keypoint category needs its own OKS sigmas; with them, perfect keypoints give AP 100."""
    gt = make_ground_truth(6, seed=5, keypoints=True)
    gt["categories"][0]["keypoints"] = ["a", "b", "c"]
    for ann in gt["annotations"]:
        ann["keypoints"] = ann["keypoints"][:9]
        ann["num_keypoints"] = sum(1 for v in ann["keypoints"][2::3] if v > 0)
    results = perfect_results(gt, "keypoints")
    result = evaluate(gt, results, "keypoints", backend=REFERENCE, kpt_sigmas=[0.05, 0.05, 0.05])
    assert result.stat("AP") == 1.0


def test_garbage_collector_state_is_restored(instances) -> None:
    import gc

    results = perfect_results(instances, "bbox")
    assert gc.isenabled()
    evaluate(instances, results, "bbox", backend=REFERENCE)
    assert gc.isenabled()
    gc.disable()
    try:
        evaluate(instances, results, "bbox", backend=REFERENCE)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(Exception, match="no detections"):
        evaluate(instances, [], "bbox", backend=REFERENCE)
    assert gc.isenabled()
