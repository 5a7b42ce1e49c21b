"""Per-image mask IoU, the floor of TIDE on masks: pycocotools' `mask.iou` against hotcoco's and
ultrafast-pycocotools' `mask.iou`, on the same images of a results file, alternating, with the outputs compared
bit for bit.

Why: TIDE (explorer.evaluation.analyses.tide_matching) computes each image's detection x (object + crowd) mask
IoU; a library replaces pycocotools there only if it gives the same bits and is faster. hotcoco (the evaluation
core) was exact but slower; ultrafast-pycocotools (explorer.evaluation.masks.rle_iou) is exact and faster.

    PYTHONPATH=$PWD python bench/bench_mask_iou.py GT.json RESULTS.json [--images 300] [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cases(gt_path: Path, results_path: Path, n_images: int) -> list[tuple[list[Any], list[Any], list[int]]]:
    """(detections' RLEs, objects' RLEs, crowd flags) of the first `n_images` images with objects."""
    from explorer.evaluation.inputs.ground_truth import load_ground_truth
    from explorer.evaluation.inputs.result_columns import read_result_columns

    gt = load_ground_truth(gt_path)
    columns = read_result_columns(results_path, gt.prepare("segm"))
    rles = gt.mask_rles()
    objects: dict[int, list[dict[str, Any]]] = {}
    for ann in gt.annotations:
        objects.setdefault(ann["image_id"], []).append(ann)
    order = np.argsort(columns.image_id, kind="stable")
    image_ids = columns.image_id[order]
    found = []
    for image_id in sorted(objects)[:n_images]:
        lo, hi = np.searchsorted(image_ids, [image_id, image_id + 1])
        found.append(([columns.rle(int(k)) for k in order[lo:hi]], [rles[a["id"]] for a in objects[image_id]],
                      [int(a["iscrowd"]) for a in objects[image_id]]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ground_truth", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from hotcoco import mask as hotcoco_mask
    from pycocotools import mask as pycocotools_mask
    from ultrafast_pycocotools import mask as ultrafast_mask

    work = cases(args.ground_truth, args.results, args.images)
    crowds = sum(sum(c) for _, _, c in work)
    libraries = {"pycocotools": pycocotools_mask.iou, "hotcoco": hotcoco_mask.iou,
                 "ultrafast-pycocotools": ultrafast_mask.iou}
    best = dict.fromkeys(libraries, float("inf"))
    identical = dict.fromkeys(libraries, True)
    for _ in range(args.rounds):
        outputs = {}
        for name, iou in libraries.items():
            start = time.perf_counter()
            outputs[name] = [np.asarray(iou(d, g, c), dtype=float).reshape(len(d), len(g)) for d, g, c in work]
            best[name] = min(best[name], time.perf_counter() - start)
            identical[name] &= all(np.array_equal(a, b)
                                   for a, b in zip(outputs["pycocotools"], outputs[name], strict=True))
    print(f"mask IoU, {len(work)} images ({sum(len(d) for d, _, _ in work)} detections, {crowds} crowd regions), "
          f"best of {args.rounds}:")
    for name in libraries:
        print(f"  {name:<22} {best[name]:6.2f} s  {best['pycocotools'] / best[name]:5.2f}x pycocotools  "
              f"bit-identical: {identical[name]}")

if __name__ == "__main__":
    main()
