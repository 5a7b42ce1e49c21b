"""Our TIDE numbers against the reference implementation, the `tidecv` 1.0.1 package, on generated data.

tidecv pulls in OpenCV, matplotlib and seaborn, so it is not in requirements-dev.txt. Two checks instead:

- against tidecv's numbers recorded in tests/tide_reference.json (from tidecv 1.0.1 on exactly these
  generated sets; every run of the suite checks them);
- against tidecv itself, live, on other seeds, where it is importable (skipped with the reason otherwise).

To record again (tidecv and its dependencies importable, e.g. installed with `pip install --target DIR`):

    PYTHONPATH=DIR MPLBACKEND=Agg python tests/test_tide_reference.py
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from explorer.evaluation.analyses.tide import ERRORS, tide  # noqa: E402
from tests.coco_factory import bench_dataset, make_ground_truth, octagon, polygon_rle  # noqa: E402

RECORDED = Path(__file__).with_name("tide_reference.json")
TOLERANCE = 0.5  # dAP points: the bound
MODES = ("bbox", "segm")


def noisy_results(gt: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """Detections with every TIDE error in them: hits, shifted boxes, wrong classes, duplicates, background
    boxes and missed objects; each with a box and its octagon mask, so one list serves bbox and segm."""
    rng = np.random.default_rng(seed)
    images = {image["id"]: image for image in gt["images"]}
    category_ids = [c["id"] for c in gt["categories"]]
    results = []

    def add(image_id: int, category_id: int, box: list[float]) -> None:
        image = images[image_id]
        x, y = max(0.0, box[0]), max(0.0, box[1])
        box = [round(x, 2), round(y, 2), round(min(box[2], image["width"] - x - 1), 2),
               round(min(box[3], image["height"] - y - 1), 2)]
        results.append({"image_id": image_id, "category_id": category_id, "bbox": box,
                        "score": round(float(rng.uniform(0.05, 1.0)), 4),
                        "segmentation": polygon_rle(octagon(box), image["height"], image["width"])})

    for ann in gt["annotations"]:
        if ann["iscrowd"] or rng.random() < 0.15:  # 15% missed
            continue
        x, y, w, h = ann["bbox"]
        kind = rng.random()
        category = ann["category_id"]
        if kind < 0.15:
            category = int(rng.choice([c for c in category_ids if c != category]))
        shift = rng.uniform(0.3, 0.6) if 0.15 <= kind < 0.35 else rng.normal(0, 0.04)
        add(ann["image_id"], category, [x + shift * w, y + rng.normal(0, 0.04) * h, w, h])
        if rng.random() < 0.2:
            add(ann["image_id"], ann["category_id"], [x + rng.normal(0, 0.05) * w, y, w, h])
    for image in gt["images"]:
        for _ in range(int(rng.integers(0, 4))):
            w, h = (float(v) for v in rng.uniform(10, 80, 2))
            add(image["id"], int(rng.choice(category_ids)),
                [float(rng.uniform(0, image["width"] - w)), float(rng.uniform(0, image["height"] - h)), w, h])
    return results


def case(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The generated sets, by name: the test factory's (crowds, RLE and polygon masks, an absent category)
    and a small val2017-like one."""
    if name.startswith("factory"):
        seed = int(name.removeprefix("factory"))
        gt = make_ground_truth(n_images=40, seed=seed)
        return gt, noisy_results(gt, seed + 100)
    seed = int(name.removeprefix("bench"))
    return bench_dataset(n_images=40, dets_per_image=25, seed=seed)


def tidecv_numbers(gt: dict[str, Any], results: list[dict[str, Any]], mode: str) -> dict[str, float]:
    """tidecv's AP and dAPs (our error names), from files as its COCO loaders read them."""
    import tidecv
    from tidecv import datasets

    with tempfile.TemporaryDirectory() as folder:
        gt_path, dt_path = os.path.join(folder, "gt.json"), os.path.join(folder, "dt.json")
        Path(gt_path).write_text(json.dumps(gt))
        Path(dt_path).write_text(json.dumps(results if mode == "segm" else
                                            [{k: v for k, v in r.items() if k != "segmentation"} for r in results]))
        evaluator = tidecv.TIDE(mode=tidecv.TIDE.BOX if mode == "bbox" else tidecv.TIDE.MASK)
        with contextlib.redirect_stdout(io.StringIO()):
            evaluator.evaluate(datasets.COCO(gt_path), datasets.COCOResult(dt_path), name="run")
            errors = evaluator.get_all_errors()
    main = {name.lower(): float(v) for name, v in errors["main"]["run"].items()}
    special = errors["special"]["run"]
    return {"ap": float(evaluator.runs["run"].ap), **main, "false_pos": float(special["FalsePos"]),
            "false_neg": float(special["FalseNeg"])}


def ours(gt: dict[str, Any], results: list[dict[str, Any]], mode: str) -> dict[str, float]:
    errors = tide(gt, results, mode)
    return {"ap": errors.ap, **errors.dap}


def assert_agree(mine: dict[str, float], reference: dict[str, float]) -> None:
    assert set(reference) == {"ap", *ERRORS}
    far = {k: (mine[k], reference[k]) for k in reference if abs(mine[k] - reference[k]) > TOLERANCE}
    assert not far, f"differ by more than {TOLERANCE} AP points: {far}"


RECORDED_CASES = ("factory3", "bench5")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", RECORDED_CASES)
def test_agrees_with_recorded_tidecv(name: str, mode: str) -> None:
    reference = json.loads(RECORDED.read_text())[name][mode]
    gt, results = case(name)
    assert_agree(ours(gt, results, mode), reference)
    assert reference["cls"] > 1 and reference["miss"] > 1  # the set really has these errors to find


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["factory8", "bench9"])
def test_agrees_with_tidecv_itself(name: str, mode: str) -> None:
    try:
        import tidecv  # noqa: F401
    except ImportError as error:
        pytest.skip(f"tidecv 1.0.1 is not installed (it needs OpenCV, matplotlib, seaborn): {error}")
    gt, results = case(name)
    assert_agree(ours(gt, results, mode), tidecv_numbers(gt, results, mode))


def record() -> None:
    """Write tidecv's numbers for RECORDED_CASES (needs tidecv importable)."""
    import tidecv

    assert tidecv.__version__ == "1.0.1", tidecv.__version__
    numbers = {name: {mode: tidecv_numbers(*case(name), mode) for mode in MODES} for name in RECORDED_CASES}
    RECORDED.write_text(json.dumps(numbers, indent=1, sort_keys=True) + "\n")
    print(f"wrote {RECORDED}")


if __name__ == "__main__":
    record()
