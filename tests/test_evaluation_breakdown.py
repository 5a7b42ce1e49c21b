"""The error breakdown: sanity on hand-made cases, and agreement with a literal transcription of the COCO Matlab
API's analyze() (per category, class-agnostic COCOeval at IoU .1 with the other objects' ignore flag set)."""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from explorer.evaluation.coco.breakdown import LABELS as BREAKDOWN_LABELS
from explorer.evaluation.coco.pipeline import evaluate
from tests.coco_factory import ABSENT_CATEGORY_ID, make_ground_truth, perfect_results
from tests.test_evaluation import noisy_results

REFERENCE = "pycocotools"


def animals() -> dict[str, Any]:
    """One image: two dogs and two cats (both supercategory animal) and a car (vehicle), far apart."""
    boxes = {1: (10, 2), 2: (60, 2), 3: (110, 1), 4: (160, 1), 5: (210, 3)}  # id: (x, category)
    annotations = [{"id": i, "image_id": 1, "category_id": c, "bbox": [float(x), 10.0, 30.0, 30.0], "area": 900.0,
                    "iscrowd": 0} for i, (x, c) in boxes.items()]
    return {"images": [{"id": 1, "width": 300, "height": 100}], "annotations": annotations,
            "categories": [{"id": 1, "name": "cat", "supercategory": "animal"},
                           {"id": 2, "name": "dog", "supercategory": "animal"},
                           {"id": 3, "name": "car", "supercategory": "vehicle"}]}


def det(x: float, category: int, score: float) -> dict[str, Any]:
    return {"image_id": 1, "category_id": category, "bbox": [float(x), 10.0, 30.0, 30.0], "score": score}


def table(result: Any) -> dict[str, dict[str, float]]:
    frame = result.breakdown.to_frame().set_index("category")
    return {name: {label: frame.loc[name, label] for label in BREAKDOWN_LABELS} for name in frame.index}


def test_perfect_detections_lose_nothing() -> None:
    gt = make_ground_truth(8, seed=21)
    result = evaluate(gt, perfect_results(gt, "bbox"), "bbox", backend=REFERENCE, analysis=True)
    overall = result.breakdown.overall()
    assert all(overall[label] == pytest.approx(1.0, abs=1e-12) for label in BREAKDOWN_LABELS)
    assert all(abs(gain) < 1e-12 for gain in result.breakdown.gains().values())


def test_absent_category_is_nan() -> None:
    gt = make_ground_truth(8, seed=21)
    result = evaluate(gt, perfect_results(gt, "bbox"), "bbox", backend=REFERENCE, analysis=True)
    row = result.breakdown.to_frame().set_index("category_id").loc[ABSENT_CATEGORY_ID]
    assert row[list(BREAKDOWN_LABELS)].isna().all()


def test_all_boxes_shifted_is_a_localisation_loss() -> None:
    """Every detection 40% of a width off (IoU 0.43): nothing at IoU .5, everything at .1."""
    gt = animals()
    results = [det(ann["bbox"][0] + 12, ann["category_id"], 0.9 - 0.1 * i) for i, ann in enumerate(gt["annotations"])]
    result = evaluate(gt, results, "bbox", backend=REFERENCE, analysis=True)
    overall = result.breakdown.overall()
    assert overall["C75"] == overall["C50"] == 0.0
    assert overall["Loc"] == pytest.approx(1.0, abs=1e-12)
    gains = result.breakdown.gains()
    assert gains["Loc"] == pytest.approx(1.0, abs=1e-12)
    assert all(abs(gains[label]) < 1e-12 for label in ("Sim", "Oth", "BG", "FN"))


def test_confusing_similar_classes_is_sim_and_other_classes_is_oth() -> None:
    """Both cats detected as dogs, scored between the two real dogs; the car detected as a dog too. For dog:
    the cat detections are forgiven at Sim (same supercategory), the car detection only at Oth."""
    gt = animals()
    results = [det(10, 2, 0.9), det(60, 2, 0.6),   # the dogs
               det(110, 2, 0.95), det(160, 2, 0.85),  # the cats, called dogs
               det(210, 2, 0.7)]  # the car, called a dog
    rows = table(evaluate(gt, results, "bbox", backend=REFERENCE, analysis=True))
    dog = rows["dog"]
    # by score: cat(FP) .95, dog .9, cat(FP) .85, car(FP) .7, dog .6: precision at recall 1 is 2/5
    assert dog["C50"] == pytest.approx(dog["Loc"]) and dog["C50"] < 0.6
    # Sim: cats ignored -> dog .9, car FP .7, dog .6: precision 1 up to recall .5, then 2/3
    assert dog["Sim"] == pytest.approx((51 * 1.0 + 50 * 2 / 3) / 101, abs=1e-9)
    assert dog["Oth"] == pytest.approx(1.0, abs=1e-12)
    cat = rows["cat"]  # never detected: all of it is missed objects
    assert cat["Oth"] == 0.0 and cat["BG"] == 0.0 and cat["FN"] == 1.0
    assert rows["car"]["FN"] == 1.0 and rows["car"]["BG"] == 0.0


def test_background_false_positives_are_bg() -> None:
    gt = animals()
    results = [det(ann["bbox"][0], ann["category_id"], 0.5) for ann in gt["annotations"]]
    results += [det(260, 1, 0.9), {"image_id": 1, "category_id": 3, "bbox": [5.0, 60.0, 20.0, 20.0], "score": 0.9}]
    rows = table(evaluate(gt, results, "bbox", backend=REFERENCE, analysis=True))
    for name in ("cat", "car"):
        assert rows[name]["Oth"] < 1.0
        assert rows[name]["BG"] == pytest.approx(1.0)
    assert rows["dog"]["C50"] == pytest.approx(1.0, abs=1e-12)


def test_keypoints_sim_and_oth_collapse_to_loc() -> None:
    """One category (person, its own supercategory): no class to confuse. Jittered keypoints lose at C75 and
    C50 what OKS .1 forgives."""
    gt = make_ground_truth(10, seed=22, keypoints=True)
    rng = np.random.default_rng(0)
    results = perfect_results(gt, "keypoints")
    for entry in results:
        entry["keypoints"] = [v + (rng.normal(0, 6) if i % 3 != 2 else 0) for i, v in enumerate(entry["keypoints"])]
    result = evaluate(gt, results, "keypoints", backend=REFERENCE, analysis=True)
    overall = result.breakdown.overall()
    assert overall["C75"] <= overall["C50"] < overall["Loc"]
    assert overall["Sim"] == overall["Oth"] == overall["Loc"]
    assert result.breakdown.area_labels == ("all", "medium", "large")


# ----------------------------------------------------------------------- the Matlab analyze(), transcribed


class _IgnoringCOCOeval(COCOeval):
    """COCOeval honouring an explicit `ignore` flag, as the Matlab CocoEval does (pycocotools' Python _prepare
    overwrites it with iscrowd)."""

    def _prepare(self) -> None:
        super()._prepare()
        for gts in self._gts.values():
            for gt in gts:
                gt["ignore"] = int(bool(gt["ignore"]) or bool(gt.get("matlab_ignore", 0)))


def _matlab_precision(gt: dict[str, Any], dts: list[dict[str, Any]], iou_type: str) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        dt = coco.loadRes(copy.deepcopy(dts)) if dts else None
        if dt is None:
            return np.zeros((101, 4))
        evaluator = _IgnoringCOCOeval(coco, dt, iou_type)
        evaluator.params.useCats = 0
        evaluator.params.iouThrs = np.array([0.1])
        evaluator.params.maxDets = [100]
        evaluator.evaluate()
        evaluator.accumulate()
    return evaluator.eval["precision"][0, :, 0, :, 0]


def matlab_analyze(gt: dict[str, Any], results: list[dict[str, Any]], iou_type: str) -> np.ndarray:
    """ps(4) and ps(5) of CocoEval.m analyze(), per category: [2 (Sim, Oth), R, K, A]."""
    categories = sorted(c["id"] for c in gt["categories"])
    supers = {c["id"]: c["supercategory"] for c in gt["categories"]}
    out = np.zeros((2, 101, len(categories), 4))
    for k, cat in enumerate(categories):
        dts = [r for r in results if r["category_id"] == cat]
        same = [a for a in gt["annotations"] if supers[a["category_id"]] == supers[cat]]
        for step, anns in enumerate((same, gt["annotations"])):
            marked = [dict(copy.deepcopy(a), matlab_ignore=int(a["category_id"] != cat)) for a in anns]
            out[step, :, k, :] = _matlab_precision(dict(gt, annotations=marked), dts, iou_type)
    return out


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_sim_and_oth_equal_the_matlab_transcription(iou_type) -> None:
    gt = make_ground_truth(10, seed=23)
    results = noisy_results(gt, iou_type, seed=5)
    rng = np.random.default_rng(3)
    sibling = {2: 3, 3: 2, 17: 18, 18: 17}
    for entry in results:  # plenty of confusion, within and across supercategories
        draw = rng.random()
        if draw < 0.3 and entry["category_id"] in sibling:
            entry["category_id"] = sibling[entry["category_id"]]
        elif draw > 0.8:
            entry["category_id"] = int(rng.choice([1, 2, 3, 17, 18]))
    expected = matlab_analyze(gt, results, iou_type)
    result = evaluate(gt, results, iou_type, backend=REFERENCE, analysis=True)
    curves = result.breakdown.curves
    defined = ~np.isnan(curves[3])
    assert defined.any()
    np.testing.assert_array_equal(curves[3][defined], expected[0][defined])
    np.testing.assert_array_equal(curves[4][defined], expected[1][defined])
    overall = result.breakdown.overall()
    assert overall["Loc"] < overall["Sim"] < overall["Oth"]  # the data exercises both steps


def test_breakdown_on_a_subset_of_images() -> None:
    """Evaluating only some images (uploads): the breakdown's added objects must not reuse annotation ids."""
    gt = make_ground_truth(10, seed=24)
    later = [image["id"] for image in gt["images"][2:]]
    results = [dict(r, category_id=3 if r["category_id"] == 2 else r["category_id"])
               for r in perfect_results(gt, "bbox") if r["image_id"] in later]
    result = evaluate(gt, results, "bbox", backend=REFERENCE, analysis=True, image_ids=later)
    rows = table(result)
    assert rows["car"]["Sim"] == pytest.approx(1.0, abs=1e-12)  # bicycles called cars: forgiven at Sim
    assert rows["car"]["C50"] < 1.0
    assert rows["bicycle"]["FN"] == 1.0 and rows["bicycle"]["BG"] == 0.0
    subset = dict(gt, images=[i for i in gt["images"] if i["id"] in later],
                  annotations=[a for a in gt["annotations"] if a["image_id"] in later])
    alone = evaluate(subset, results, "bbox", backend=REFERENCE, analysis=True)
    np.testing.assert_array_equal(result.breakdown.curves, alone.breakdown.curves)
