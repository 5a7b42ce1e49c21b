"""Every array hotcoco (our default evaluator) accumulates is pycocotools' bit for bit: `precision`, `recall` and
`scores`, on the COCO API's own data and on generated sets (bbox; segm with polygon, compressed-RLE and crowd
masks; keypoints; images without objects or detections; categories without objects; tied scores and duplicates),
with COCO's parameters and the error breakdown's (IoU .1, extra ignored objects). Then the same through
`evaluate()`: both backends give identical Evaluations, and Detectron2's segm convention holds (the mask's area,
not the box's, places a detection that carries both in an area range).

The reference arrays come from plain pycocotools (its own COCO, loadRes and COCOeval), not from our backend
layer, so a mistake there would show.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from explorer.evaluation.coco.backends import HotcocoBackend, PycocotoolsBackend, Run, iter_runs, matches
from explorer.evaluation.coco.pipeline import evaluate
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import load_ground_truth
from explorer.evaluation.inputs.result_checks import check_result_columns, check_results
from tests.coco_factory import ABSENT_CATEGORY_ID, ANNOTATED_CATEGORY_IDS, make_ground_truth, perfect_results
from tests.test_evaluation import noisy_results

ROOT = Path(__file__).resolve().parents[1]
#: Where ../shared/reference/cocoapi sits: beside the checkout (CI, /work/main) or beside a worktree's folder.
COCOAPI = next((p for p in (ROOT.parent / "shared" / "reference" / "cocoapi",
                            ROOT.parents[1] / "shared" / "reference" / "cocoapi") if p.exists()),
               ROOT.parent / "shared" / "reference" / "cocoapi")
ARRAYS = ("precision", "recall", "scores")


def reference_arrays(gt: dict[str, Any], results: list[dict[str, Any]], iou_type: str,
                     **params: Any) -> dict[str, np.ndarray]:
    """Plain pycocotools, on copies: COCO, loadRes, COCOeval with `params` set, evaluate, accumulate."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        index = COCO()
        index.dataset = copy.deepcopy(gt)
        index.createIndex()
        evaluator = COCOeval(index, index.loadRes(copy.deepcopy(results)), iou_type)
        evaluator.params.catIds = sorted(c["id"] for c in gt["categories"])
        for name, value in params.items():
            setattr(evaluator.params, name, value)
        evaluator.evaluate()
        evaluator.accumulate()
    return {name: np.asarray(evaluator.eval[name]) for name in ARRAYS}


def hotcoco_arrays(gt: dict[str, Any], results: list[dict[str, Any]], iou_type: str,
                   run: Run | None = None, sigmas: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Our default backend through our backend layer, on checked columns (the path evaluate() takes: boxes and
    masks in hotcoco's array form)."""
    categories = sorted(c["id"] for c in gt["categories"])
    base = dict(gt, annotations=[a for a in gt["annotations"] if a["area"] != -1.0])  # the breakdown's copies out
    checked = check_result_columns(copy.deepcopy(results), load_ground_truth(base).prepare(iou_type))  # type: ignore
    (arrays,) = iter_runs(HotcocoBackend(), iou_type, copy.deepcopy(gt), checked,  # type: ignore
                          categories, [run or Run()], sigmas)
    return {name: getattr(arrays, name) for name in ARRAYS}


def assert_bit_for_bit(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    for name in ARRAYS:
        assert actual[name].shape == expected[name].shape, name
        assert actual[name].dtype == expected[name].dtype or name == "scores", name
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name, strict=False)
        assert (actual[name] > -1).any(), f"{name}: nothing defined, the comparison says nothing"


def jittered_masks(gt: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """Mask results that are not the objects: each noisy box of noisy_results as a compressed-RLE mask."""
    sizes = {image["id"]: (image["height"], image["width"]) for image in gt["images"]}
    results = []
    for entry in noisy_results(gt, "bbox", seed=seed):
        height, width = sizes[entry["image_id"]]
        x, y, w, h = entry["bbox"]
        rle = mask_utils.frPyObjects([[x, y, x + w, y, x + w, y + h, x, y + h]], height, width)[0]
        results.append({"image_id": entry["image_id"], "category_id": entry["category_id"], "score": entry["score"],
                        "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")}})
    return results


def with_ties(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A duplicate of every third result with the same score: ties the order must settle as pycocotools does."""
    return results + [copy.deepcopy(r) for r in results[::3]]


@pytest.fixture(scope="module")
def instances() -> dict[str, Any]:
    """Polygons, compressed RLE and uncompressed-RLE crowds; a category without objects; two images with none."""
    gt = make_ground_truth(14, seed=51)
    assert ABSENT_CATEGORY_ID in {c["id"] for c in gt["categories"]}  # a category without objects
    gt["images"] += [{"id": 9001, "file_name": "empty1.jpg", "width": 640, "height": 480},
                     {"id": 9002, "file_name": "empty2.jpg", "width": 640, "height": 480}]
    return gt


@pytest.fixture(scope="module")
def people() -> dict[str, Any]:
    return make_ground_truth(14, seed=52, keypoints=True)


def detection_results(gt: dict[str, Any], iou_type: str) -> list[dict[str, Any]]:
    """Noisy results with ties, a detection on an image without objects and one of a category without any."""
    results = with_ties(jittered_masks(gt, 6) if iou_type == "segm" else noisy_results(gt, iou_type, seed=6))
    extra = copy.deepcopy(results[0])
    extra["image_id"], extra["score"] = 9001, 0.55
    lonely = copy.deepcopy(results[1])
    lonely["category_id"] = ABSENT_CATEGORY_ID
    return [*results, extra, lonely]


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_generated_detection_sets_bit_for_bit(instances, iou_type) -> None:
    results = detection_results(instances, iou_type)
    assert_bit_for_bit(hotcoco_arrays(instances, results, iou_type), reference_arrays(instances, results, iou_type))


def test_generated_keypoints_bit_for_bit(people) -> None:
    results = with_ties(noisy_results(people, "keypoints", seed=6))
    assert_bit_for_bit(hotcoco_arrays(people, results, "keypoints"), reference_arrays(people, results, "keypoints"))


def test_other_keypoint_sigmas_bit_for_bit(people) -> None:
    sigmas = np.linspace(0.03, 0.1, 17)
    results = noisy_results(people, "keypoints", seed=8)
    assert_bit_for_bit(hotcoco_arrays(people, results, "keypoints", sigmas=sigmas),
                       reference_arrays(people, results, "keypoints", kpt_oks_sigmas=sigmas))


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_the_breakdowns_runs_bit_for_bit(instances, iou_type) -> None:
    """IoU .1, maxDets 100, and ignored copies of objects (area -1) as the error breakdown adds them."""
    results = detection_results(instances, iou_type)
    copies = [dict(ann, id=10_000 + n, category_id=ANNOTATED_CATEGORY_IDS[0], area=-1.0)
              for n, ann in enumerate(instances["annotations"]) if ann["category_id"] != ANNOTATED_CATEGORY_IDS[0]]
    relaxed = dict(instances, annotations=instances["annotations"] + copies)
    assert_bit_for_bit(hotcoco_arrays(instances, results, iou_type, Run(copies, [0.1], [100])),
                       reference_arrays(relaxed, results, iou_type, iouThrs=np.array([0.1]), maxDets=[100]))


def test_images_without_any_detection(instances) -> None:
    results = [r for r in noisy_results(instances, "bbox", seed=4) if r["image_id"] != instances["images"][0]["id"]]
    assert_bit_for_bit(hotcoco_arrays(instances, results, "bbox"), reference_arrays(instances, results, "bbox"))


def _cocoapi(iou_type: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    name = {"bbox": "fakebbox", "segm": "fakesegm"}[iou_type]
    gt = json.loads((COCOAPI / "instances_val2014_100.json").read_text())
    results = json.loads((COCOAPI / f"instances_val2014_{name}100_results.json").read_text())
    return gt, results


@pytest.mark.skipif(not COCOAPI.exists(), reason=f"COCO API data not found at {COCOAPI}")
@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_the_coco_apis_own_data_bit_for_bit(iou_type) -> None:
    gt, results = _cocoapi(iou_type)
    if iou_type == "segm":
        results = [{k: v for k, v in r.items() if k != "bbox"} for r in results]  # Detectron2's convention
    assert_bit_for_bit(hotcoco_arrays(gt, results, iou_type), reference_arrays(gt, results, iou_type))


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
def test_both_backends_give_the_same_evaluation(instances, people, iou_type) -> None:
    gt = people if iou_type == "keypoints" else instances
    results = noisy_results(gt, iou_type, seed=9)
    fast = evaluate(gt, results, iou_type, backend="hotcoco", analysis=True)
    reference = evaluate(gt, results, iou_type, backend="pycocotools", analysis=True)
    assert (fast.backend, reference.backend) == ("hotcoco", "pycocotools")
    assert fast.stats == reference.stats and fast.summary_text() == reference.summary_text()
    assert fast.to_frame().equals(reference.to_frame())
    np.testing.assert_array_equal(fast.curves, reference.curves)
    assert fast.area_frame().equals(reference.area_frame()) and fast.pr_frame().equals(reference.pr_frame())
    np.testing.assert_array_equal(fast.breakdown.curves, reference.breakdown.curves)
    assert 0 < fast.stat("AP") < 1  # numbers that mean something


def test_a_category_without_detections_has_ap_zero(instances) -> None:
    results = [r for r in noisy_results(instances, "bbox", seed=5) if r["category_id"] != 2]
    assert evaluate(instances, results, "bbox").category(2).ap == 0.0  # objects to find, none found


def test_matching_is_pycocotools_matching(people) -> None:
    """The keypoint error analysis follows the evaluator's own matching: hotcoco's pairs are pycocotools'."""
    truth = load_ground_truth(people).prepare("keypoints")
    checked = check_results(with_ties(noisy_results(people, "keypoints", seed=3)), truth)
    pairs = {name: matches(backend, truth.dataset, [dict(d) for d in checked], "keypoints",
                           category_ids=truth.category_ids, iou_threshold=0.1, max_dets=20,
                           kpt_sigmas=truth.kpt_sigmas)
             for name, backend in (("hotcoco", HotcocoBackend()), ("pycocotools", PycocotoolsBackend()))}
    assert pairs["hotcoco"] == pairs["pycocotools"] and len(pairs["hotcoco"]) > 10


# ---- Detectron2's segm convention: the mask's area, not the box's --------------------------------------------

def _small_mask_in_a_large_box(gt: dict[str, Any]) -> list[dict[str, Any]]:
    """Small-mask results that each carry a box far larger than the mask (box area says "large", mask area
    "small"): hits, and false positives on an image without objects, where the area decides whether a range
    counts them (a matched detection takes its object's range)."""
    results = []
    for entry in perfect_results(gt, "segm", seed=2):
        area = float(mask_utils.area(entry["segmentation"]))
        if area < 32 ** 2:
            results.append(dict(entry, bbox=[0.0, 0.0, 300.0, 300.0]))
            results.append(dict(entry, image_id=9001, score=entry["score"] - 0.01, bbox=[0.0, 0.0, 300.0, 300.0]))
    assert len(results) > 6
    return results


def test_segm_results_with_a_box_are_placed_by_their_mask_area(instances) -> None:
    both = _small_mask_in_a_large_box(instances)
    mask_only = [{k: v for k, v in r.items() if k != "bbox"} for r in both]
    ours = evaluate(instances, both, "segm")
    expected = reference_arrays(instances, mask_only, "segm")
    box_area = reference_arrays(instances, both, "segm")  # what plain loadRes would do with both fields
    curves = expected["precision"][..., -1].astype(float)
    curves[curves == -1] = np.nan
    np.testing.assert_array_equal(ours.curves, curves)
    assert not np.array_equal(box_area["precision"], expected["precision"])  # the convention changes numbers
    assert ours.stat("APs") > 0


def test_the_convention_is_said_where_mask_numbers_are_shown(instances) -> None:
    from explorer.cli.evaluate import render_summary
    from explorer.evaluation.coco.results import SEGM_AREA_NOTE
    from explorer.evaluation.report import summary_caption

    masks = evaluate(instances, perfect_results(instances, "segm"), "segm")
    boxes = evaluate(instances, perfect_results(instances, "bbox"), "bbox")
    assert masks.convention == SEGM_AREA_NOTE and "mask area" in SEGM_AREA_NOTE and boxes.convention == ""
    assert SEGM_AREA_NOTE in summary_caption(masks) and SEGM_AREA_NOTE in render_summary(masks)
    assert "Detectron2" not in summary_caption(boxes) + render_summary(boxes)


def test_segm_results_without_a_box_give_the_same_numbers(instances) -> None:
    both = _small_mask_in_a_large_box(instances)
    mask_only = [{k: v for k, v in r.items() if k != "bbox"} for r in both]
    with_box, without_box = evaluate(instances, both, "segm"), evaluate(instances, mask_only, "segm")
    assert with_box.stats == without_box.stats
    np.testing.assert_array_equal(with_box.curves, without_box.curves)


def test_one_ground_truth_index_per_type_shared(instances, monkeypatch) -> None:
    """hotcoco's ground-truth index is built once per GroundTruth and IoU type and shared by every later
    evaluation (bbox also reads a segm index already built), and sharing it changes no number: each Evaluation
    equals pycocotools' on a fresh index, whichever type comes first; an evaluation of part of the images gets
    its own index."""
    builds: list[int] = []
    real = HotcocoBackend.coco
    monkeypatch.setattr(HotcocoBackend, "coco", lambda self, dataset: builds.append(1) or real(self, dataset))
    results = {kind: detection_results(instances, kind) for kind in ("bbox", "segm")}
    expected = {kind: evaluate(instances, results[kind], kind, backend="pycocotools") for kind in results}
    for order, n_builds in ((("bbox", "segm", "bbox", "segm"), 2), (("segm", "bbox", "segm", "bbox"), 1)):
        truth, builds[:] = load_ground_truth(instances), []
        for kind in order:
            got = evaluate(truth, results[kind], kind)
            assert got.stats == expected[kind].stats and got.to_frame().equals(expected[kind].to_frame())
            np.testing.assert_array_equal(got.curves, expected[kind].curves)
        assert len(builds) == n_builds
    ids = sorted(image["id"] for image in instances["images"])[:5]
    copied = pickle.loads(pickle.dumps(truth))  # a cache or a worker process: no native index travels along
    assert truth.index_cache and not copied.index_cache
    assert evaluate(copied, results["segm"], "segm").stats == expected["segm"].stats
    builds[:] = []
    on_part = [r for r in results["bbox"] if r["image_id"] in ids]
    part = evaluate(truth, on_part, "bbox", image_ids=ids)
    assert len(builds) == 1 and part.n_images == 5
    assert part.stats == evaluate(instances, on_part, "bbox", image_ids=ids, backend="pycocotools").stats


def test_bbox_evaluates_a_ground_truth_whose_masks_do_not(instances) -> None:
    """A broken mask stops segm (with the annotation named), never bbox, also on one shared GroundTruth."""
    gt = copy.deepcopy(instances)
    gt["annotations"][3]["segmentation"] = {"size": [1, 1], "counts": "0"}
    truth = load_ground_truth(gt)
    results = noisy_results(gt, "bbox", seed=3)
    for _ in range(2):
        assert evaluate(truth, results, "bbox").stats == evaluate(gt, results, "bbox", backend="pycocotools").stats
        with pytest.raises(EvaluationInputError, match="annotations\\[3\\]"):
            evaluate(truth, results, "segm")
