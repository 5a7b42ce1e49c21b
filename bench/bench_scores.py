"""The operating point and calibration: our matcher and calibration errors against the libraries that compute
the same numbers, side by side in one run.

- matching: `score_detections` (every detection matched at IoU .5 and .75, as COCOeval matches) against
  pycocotools' own `evaluateImg` with the cap and area ranges lifted (maxDets 10**6, area "all"), from parsed
  JSON; both must give the same per-detection outcome (checked here and in tests/test_operating_point.py);
- ECE: ours against hotcoco's `metrics.calibration_error` (10 bins), on the matched outcome;
- D-ECE: ours against netcal's `ECE(bins=5, detection=True)` over (score, cx, cy, w, h), the authors' package.

hotcoco and netcal are not project dependencies; each row is skipped when its library is not importable (netcal
pulls scikit-learn, scipy, matplotlib, tensorboard, gpytorch and pyro-ppl: install it beside the project with
`pip install --target DIR netcal==1.4.0 scipy scikit-learn matplotlib ...` and PYTHONPATH=DIR).

    python bench/bench_scores.py [--images 500] [--dets 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.evaluation.analyses.calibration import box_features, detection_ece, expected_calibration_error
from explorer.evaluation.analyses.score_matching import score_detections
from tests.coco_factory import bench_dataset

IOUS = (0.5, 0.75)


def pycocotools_matches(gt: dict[str, Any], results: list[dict[str, Any]]) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        evaluator = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), "bbox")
        evaluator.params.maxDets = [10**6]
        evaluator.params.areaRng, evaluator.params.areaRngLbl = [[0, 1e10]], ["all"]
        evaluator.params.iouThrs = np.array(IOUS)
        evaluator.evaluate()
    tp = np.zeros((len(IOUS), len(results)), dtype=bool)
    for image in filter(None, evaluator.evalImgs):
        for k, dt_id in enumerate(image["dtIds"]):
            tp[:, dt_id - 1] = (image["dtMatches"][:, k] > 0) & ~(image["dtIgnore"][:, k] > 0)
    return tp


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--dets", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    gt, results = bench_dataset(args.images, args.dets)
    results = [{k: r[k] for k in ("image_id", "category_id", "bbox", "score")} for r in results]
    print(f"{args.images} images, {len(gt['annotations'])} objects, {len(results)} detections (bbox)\n")
    rows = []
    ours_s = theirs_s = 0.0
    ours = theirs = None
    for _ in range(args.repeat):  # alternate, so machine noise hits both alike
        s, ours = timed(lambda: score_detections(gt, results, "bbox", IOUS), 1)
        ours_s += s / args.repeat
        s, theirs = timed(lambda: pycocotools_matches(gt, results), 1)
        theirs_s += s / args.repeat
    assert ours is not None and theirs is not None
    rows.append(("matching at IoU .5 and .75", "pycocotools evaluateImg", theirs_s, ours_s,
                 "same" if np.array_equal(ours.tp, theirs) else "DIFFERENT"))
    t = ours.at(0.5)
    keep = ~ours.ignored[t]
    scores, correct = ours.score[keep], ours.tp[t][keep]
    features = box_features(ours.boxes[keep], ours.image_sizes[keep])
    try:
        from hotcoco import metrics as hotcoco_metrics

        theirs_s, (ece, _) = timed(lambda: hotcoco_metrics.calibration_error(scores.tolist(), correct.tolist(), 10),
                                   args.repeat)
        ours_s, mine = timed(lambda: expected_calibration_error(scores, correct, 10), args.repeat)
        rows.append(("ECE, 10 bins", "hotcoco metrics.calibration_error", theirs_s, ours_s, f"{abs(ece - mine):.1e}"))
    except ImportError:
        print("hotcoco not importable: ECE row skipped")
    try:
        from netcal.metrics import ECE

        x = np.c_[scores, features]
        theirs_s, dece = timed(lambda: ECE(bins=5, detection=True).measure(x, correct.astype(int)), args.repeat)
        ours_s, mine = timed(lambda: detection_ece(scores, correct, features, 5), args.repeat)
        rows.append(("D-ECE, 5 bins x 5 dims", "netcal ECE(detection=True)", theirs_s, ours_s,
                     f"{abs(dece - mine):.1e}"))
    except ImportError:
        print("netcal not importable: D-ECE row skipped")
    print("| what | baseline | baseline s | ours s | ours vs baseline | numbers |")
    print("|---|---|---|---|---|---|")
    for what, baseline, theirs_s, ours_s, same in rows:
        print(f"| {what} | {baseline} | {theirs_s:.3f} | {ours_s:.3f} | {theirs_s / ours_s:.2f}× faster | {same} |")


if __name__ == "__main__":
    main()
