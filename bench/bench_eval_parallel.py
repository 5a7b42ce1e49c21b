"""Parallel COCO evaluation: plain faster-coco-eval vs explorer serial vs explorer parallel, side by side.

Target (issue 14, section 5): bbox + segm including the per-category tables at least 1.6x faster than plain
faster-coco-eval on the 2-core machine, with identical summary numbers; peak memory recorded.

Same set and timing rule as bench/bench_eval.py (tests/coco_factory.bench_dataset, 5,000 images, 500,000
detections with boxes and RLE masks; each row in its own process, timed from parsed JSON objects to the
per-category tables):

- plain faster-coco-eval: its COCO index, loadRes, COCOeval_faster evaluate/accumulate/summarize for bbox then
  segm (one ground-truth index), per-category AP/AR read from eval['precision'] / ['recall'];
- explorer serial: load_ground_truth + evaluate(bbox) + evaluate(segm) with workers=1 (in-process);
- explorer parallel: the same with workers=None (one worker process per CPU, categories split between them).

The machine is shared, so the rows alternate (plain, serial, parallel, plain, ...) for --repeats rounds and the
table gives medians, each run in brackets, and the load average around the runs. Peak memory: the row's own
process, and for the parallel row the largest worker (workers hold their share of the data at the same time).
CPU seconds (the row's own process + its workers, from getrusage; the JSON parsing before the timed part is not
counted) show the work done whatever the load: on a busy machine wall time says little about the split.

    python bench/bench_eval_parallel.py [--images 5000] [--dets 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_eval import _max_difference, _only, _peak_mb, _plain_per_category, _rss_mb  # noqa: E402

ROWS = ("plain faster-coco-eval", "explorer serial", "explorer parallel")
METRICS = ["ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar100"]


def run_plain(gt: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    from faster_coco_eval import COCO, COCOeval_faster

    inputs = {"bbox": _only(results, "bbox"), "segm": _only(results, "segmentation")}  # untimed: input prep
    out: dict[str, Any] = {"seconds": {}, "stats": {}, "per_category": {}}
    started = time.perf_counter()
    coco = COCO(gt)
    index_s = time.perf_counter() - started
    for iou_type in ("bbox", "segm"):
        started = time.perf_counter()
        dt = coco.loadRes(inputs[iou_type])
        evaluator = COCOeval_faster(coco, dt, iou_type, print_function=lambda *_, **__: None)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        out["per_category"][iou_type] = _plain_per_category(evaluator)
        out["stats"][iou_type] = [float(v) for v in evaluator.stats]
        out["seconds"][iou_type] = time.perf_counter() - started + (index_s if iou_type == "bbox" else 0.0)
    return out


def run_explorer(gt: dict[str, Any], results: list[dict[str, Any]], workers: int | None) -> dict[str, Any]:
    from explorer.evaluation.coco.pipeline import evaluate
    from explorer.evaluation.inputs.ground_truth import load_ground_truth

    out: dict[str, Any] = {"seconds": {}, "stats": {}, "per_category": {}, "stages": {}}
    started = time.perf_counter()
    checked = load_ground_truth(gt)
    load_s = time.perf_counter() - started
    for iou_type in ("bbox", "segm"):
        started = time.perf_counter()
        result = evaluate(checked, results, iou_type, workers=workers)
        out["per_category"][iou_type] = result.to_frame()[METRICS].to_numpy().tolist()
        out["stats"][iou_type] = list(result.stats)
        out["seconds"][iou_type] = time.perf_counter() - started + (load_s if iou_type == "bbox" else 0.0)
        out["stages"][iou_type] = result.seconds
    return out


def worker(row: str, data_path: Path, out_path: Path) -> None:
    with data_path.open("r", encoding="utf-8") as handle:
        gt, results = json.load(handle)  # plain data the bench wrote itself
    before = _rss_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    if row == ROWS[0]:
        out = run_plain(gt, results)
    else:
        out = run_explorer(gt, results, 1 if row == "explorer serial" else None)
    usage, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    out["cpu_s"] = usage.ru_utime + usage.ru_stime - cpu_before
    out["worker_cpu_s"] = children.ru_utime + children.ru_stime
    out["rss_before_mb"] = before
    out["peak_mb"] = _peak_mb()
    out["worker_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out_path.write_text(json.dumps(out))


def _load() -> str:
    with contextlib.suppress(OSError):
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    return "?"


def _verdict(diff: float) -> str:
    return "identical" if diff == 0 else (f"yes (max |d| {diff:.1e})" if diff < 1e-12 else f"NO ({diff:.1e})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000, help="images in the generated set (default 5000)")
    parser.add_argument("--dets", type=int, default=100, help="detections per image (default 100)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the three rows, alternating (default 3)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.data, args.out)
        return

    from explorer.evaluation.coco.parallel import cpu_count
    from tests.coco_factory import bench_dataset

    started = time.perf_counter()
    gt, results = bench_dataset(args.images, args.dets)
    print(f"generated {len(gt['images'])} images, {len(gt['annotations'])} objects, {len(results)} detections "
          f"in {time.perf_counter() - started:.0f} s; {cpu_count()} CPUs; load average {_load()}", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {row: [] for row in ROWS}
    loads = [_load()]
    with tempfile.TemporaryDirectory() as folder:
        data_path = Path(folder) / "data.json"
        with data_path.open("w", encoding="utf-8") as handle:
            json.dump([gt, results], handle)
        del gt, results
        for repeat in range(args.repeats):
            for row in ROWS:
                out_path = Path(folder) / "out.json"
                subprocess.run([sys.executable, __file__, "--worker", row, "--data", str(data_path),
                                "--out", str(out_path)], check=True)
                out = json.loads(out_path.read_text())
                runs[row].append(out)
                loads.append(_load())
                print(f"  round {repeat + 1} {row}: bbox {out['seconds']['bbox']:.1f} s, segm "
                      f"{out['seconds']['segm']:.1f} s (load {loads[-1]})", flush=True)

    def total(out: dict[str, Any]) -> float:
        return out["seconds"]["bbox"] + out["seconds"]["segm"]

    base = statistics.median(total(out) for out in runs[ROWS[0]])
    reference = runs[ROWS[0]][0]
    serial = runs["explorer serial"][0]
    header = ["row", "bbox s", "segm s", "total s (each run)", "vs plain fce", "stats = plain fce",
              "per-category = plain fce", "= serial (bit for bit)", "CPU s (own + workers)",
              "peak RSS MB (+eval) / worker"]
    lines = [header]
    failures = []
    for row, outs in runs.items():
        median = statistics.median(total(out) for out in outs)
        stats_diff = max(_max_difference(out["stats"], reference["stats"]) for out in outs)
        table_diff = max(_max_difference(out["per_category"], reference["per_category"]) for out in outs)
        exact = all(out["stats"] == serial["stats"] and out["per_category"] == serial["per_category"]
                    for out in outs) if row != ROWS[0] else None
        if stats_diff >= 1e-12 or table_diff >= 1e-12 or exact is False:
            failures.append(row)
        peak = max(out["peak_mb"] for out in outs)
        grown = max(out["peak_mb"] - out["rss_before_mb"] for out in outs)
        worker_peak = max(out["worker_peak_mb"] for out in outs) if row == "explorer parallel" else 0
        lines.append([row, f"{statistics.median(o['seconds']['bbox'] for o in outs):.1f}",
                      f"{statistics.median(o['seconds']['segm'] for o in outs):.1f}",
                      f"{median:.1f} ({', '.join(f'{total(o):.1f}' for o in outs)})", f"{base / median:.2f}x",
                      _verdict(stats_diff), _verdict(table_diff), "" if exact is None else str(exact),
                      f"{statistics.median(o['cpu_s'] for o in outs):.1f} + "
                      f"{statistics.median(o['worker_cpu_s'] for o in outs):.1f}",
                      f"{peak:.0f} (+{grown:.0f})" + (f" / {worker_peak:.0f}" if worker_peak else "")])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print()
    for n, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * width for width in widths))
    print(f"load average (1 / 5 / 15 min) before and after each run: {'; '.join(loads)}")
    for row in ROWS[1:]:
        stages = {t: ", ".join(f"{k} {v:.1f}" for k, v in s.items()) for t, s in runs[row][0]["stages"].items()}
        print(f"{row} stages (s), round 1: bbox: {stages['bbox']}; segm: {stages['segm']}")
    if failures:
        raise SystemExit(f"numbers differ for: {', '.join(failures)}")


if __name__ == "__main__":
    main()
