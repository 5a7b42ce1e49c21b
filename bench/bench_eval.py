"""COCO evaluation speed: explorer.evaluation vs plain pycocotools on a generated val2017-scale set.

Target (issue "Per-category COCO evaluation"): bbox + segm evaluation including the per-category tables at
least 3x faster than plain pycocotools, with identical summary numbers.

The set (tests/coco_factory.bench_dataset): 5,000 images, about 36,500 objects with polygon masks (1% crowds
as RLE), 80 categories, 100 detections per image with a box and an RLE mask each (500,000). Each row runs in its
own process (so peak memory is its own), from the same generated data (written once as JSON), and times from
parsed JSON objects to the per-category tables (JSON parsing is the same for everyone and is not timed):

- plain pycocotools: COCO index, loadRes, COCOeval evaluate/accumulate/summarize for bbox then segm (one
  ground-truth index, as Detectron2 does), per-category AP/AR read from eval['precision'] / ['recall'];
- explorer (<backend>): load_ground_truth + evaluate(bbox) + evaluate(segm), i.e. with our input checks and
  normalised copies, on the given backend.

    python bench/bench_eval.py [--images 5000] [--dets 100] [--breakdown]

At full scale on 2 CPU cores this takes several minutes (plain pycocotools alone is most of it).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROWS = ("plain pycocotools", "explorer / pycocotools", "explorer / hotcoco")


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _plain_per_category(evaluator: Any) -> list[list[float]]:
    import numpy as np

    precision, recall, p = evaluator.eval["precision"], evaluator.eval["recall"], evaluator.params
    t50, t75 = list(p.iouThrs).index(0.5), list(p.iouThrs).index(0.75)

    def mean(values: Any) -> float:
        defined = values[values > -1]
        return float(np.mean(defined)) if defined.size else float("nan")

    return [[mean(precision[:, :, k, 0, -1]), mean(precision[t50, :, k, 0, -1]), mean(precision[t75, :, k, 0, -1]),
             mean(precision[:, :, k, 1, -1]), mean(precision[:, :, k, 2, -1]), mean(precision[:, :, k, 3, -1]),
             mean(recall[:, k, 0, -1])] for k in range(len(p.catIds))]


def _only(results: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [{"image_id": r["image_id"], "category_id": r["category_id"], "score": r["score"], key: r[key]}
            for r in results]


def run_plain(gt: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    inputs = {"bbox": _only(results, "bbox"), "segm": _only(results, "segmentation")}  # untimed: input prep
    out: dict[str, Any] = {"seconds": {}, "stats": {}, "per_category": {}}
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
    index_s = time.perf_counter() - started
    for iou_type in ("bbox", "segm"):
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            dt = coco.loadRes(inputs[iou_type])
            evaluator = COCOeval(coco, dt, iou_type)
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        out["per_category"][iou_type] = _plain_per_category(evaluator)
        out["stats"][iou_type] = [float(v) for v in evaluator.stats]
        out["seconds"][iou_type] = time.perf_counter() - started + (index_s if iou_type == "bbox" else 0.0)
    return out


def run_explorer(gt: dict[str, Any], results: list[dict[str, Any]], backend: str, breakdown: bool) -> dict[str, Any]:
    from explorer.evaluation.coco.pipeline import evaluate
    from explorer.evaluation.inputs.ground_truth import load_ground_truth

    out: dict[str, Any] = {"seconds": {}, "stats": {}, "per_category": {}}
    started = time.perf_counter()
    checked = load_ground_truth(gt)
    load_s = time.perf_counter() - started
    for iou_type in ("bbox", "segm"):
        started = time.perf_counter()
        result = evaluate(checked, results, iou_type, backend=backend, analysis=breakdown)
        frame = result.to_frame()
        out["per_category"][iou_type] = frame[["ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large",
                                               "ar100"]].to_numpy().tolist()
        out["stats"][iou_type] = list(result.stats)
        out["seconds"][iou_type] = time.perf_counter() - started + (load_s if iou_type == "bbox" else 0.0)
        out.setdefault("stages", {})[iou_type] = result.seconds
    return out


def worker(row: str, data_path: Path, out_path: Path, breakdown: bool) -> None:
    with data_path.open("r", encoding="utf-8") as handle:
        gt, results = json.load(handle)  # plain data the bench wrote itself; JSON, never pickle
    before = _rss_mb()
    if row == "plain pycocotools":
        out = run_plain(gt, results)
    else:
        out = run_explorer(gt, results, row.split(" / ")[1], breakdown)
    out["rss_before_mb"] = before
    out["peak_mb"] = _peak_mb()
    out_path.write_text(json.dumps(out))


def _max_difference(a: dict[str, list[Any]], b: dict[str, list[Any]]) -> float:
    import numpy as np

    worst = 0.0
    for key in a:
        x, y = np.asarray(a[key], dtype=float), np.asarray(b[key], dtype=float)
        if x.shape != y.shape or not np.array_equal(np.isnan(x), np.isnan(y)):
            return float("inf")
        if (~np.isnan(x)).any():
            worst = max(worst, float(np.abs(x[~np.isnan(x)] - y[~np.isnan(y)]).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000, help="images in the generated set (default 5000)")
    parser.add_argument("--dets", type=int, default=100, help="detections per image (default 100)")
    parser.add_argument("--breakdown", action="store_true", help="explorer rows also run the error breakdown")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated subset of: " + ", ".join(ROWS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.data, args.out, args.breakdown)
        return

    from explorer.evaluation.coco.backends import available_backends
    from tests.coco_factory import bench_dataset

    rows = [r for r in args.rows.split(",") if r]
    rows = [r for r in rows if r == ROWS[0] or r.split(" / ")[1] in available_backends()]
    started = time.perf_counter()
    gt, results = bench_dataset(args.images, args.dets)
    print(f"generated {len(gt['images'])} images, {len(gt['annotations'])} objects, {len(results)} detections "
          f"in {time.perf_counter() - started:.0f} s; {os.cpu_count()} CPUs", flush=True)
    measured: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        data_path = Path(folder) / "data.json"
        with data_path.open("w", encoding="utf-8") as handle:
            json.dump([gt, results], handle)
        del gt, results
        for row in rows:
            out_path = Path(folder) / "out.json"
            command = [sys.executable, __file__, "--worker", row, "--data", str(data_path), "--out", str(out_path)]
            subprocess.run(command + (["--breakdown"] if args.breakdown else []), check=True)
            measured[row] = json.loads(out_path.read_text())
            seconds = measured[row]["seconds"]
            print(f"  {row}: bbox {seconds['bbox']:.1f} s, segm {seconds['segm']:.1f} s", flush=True)

    base = measured.get(ROWS[0])
    header = ["backend", "bbox s", "segm s", "total s", "speed-up", "stats equal?", "per-category equal?",
              "peak RSS MB (+eval)"]
    lines = [header]
    for row, out in measured.items():
        total = out["seconds"]["bbox"] + out["seconds"]["segm"]
        speedup = "" if base is None else f"{(base['seconds']['bbox'] + base['seconds']['segm']) / total:.2f}x"
        stats_diff = None if base is None else _max_difference(out["stats"], base["stats"])
        table_diff = None if base is None else _max_difference(out["per_category"], base["per_category"])

        def verdict(diff: float | None) -> str:
            if diff is None:
                return ""
            return "identical" if diff == 0 else (f"yes (max |d| {diff:.1e})" if diff < 1e-9 else f"NO ({diff:.1e})")

        lines.append([row, f"{out['seconds']['bbox']:.1f}", f"{out['seconds']['segm']:.1f}", f"{total:.1f}", speedup,
                      verdict(stats_diff), verdict(table_diff),
                      f"{out['peak_mb']:.0f} (+{out['peak_mb'] - out['rss_before_mb']:.0f})"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print()
    for n, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * width for width in widths))
    for row, out in measured.items():
        if "stages" in out:
            stages = {t: ", ".join(f"{k} {v:.1f}" for k, v in s.items()) for t, s in out["stages"].items()}
            print(f"{row} stages (s): bbox: {stages['bbox']}; segm: {stages['segm']}")


if __name__ == "__main__":
    main()
