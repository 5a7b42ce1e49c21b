"""COCO evaluation cores side by side: pycocotools, faster-coco-eval, hotcoco, ultrafast-pycocotools, vernier and
our `explorer.evaluation.coco.pipeline.evaluate`, on the same generated set, bbox + segm.

Issue 20 §1 asks for the evaluation core to be chosen by measurement. Each row runs in its own process (so its peak
memory is its own and no row warms another's caches), reads the same JSON file (parsing is not timed: it is the
same for everyone), imports what it uses (timed apart, shown as "import s"; `--cold` times it inside), collects
garbage once, and times from the parsed objects to the summary numbers (wall and CPU seconds), bbox then segm,
with one ground-truth index for both where the library allows it (as Detectron2 does). Results are given to every
library in Detectron2's form: the box only for bbox, the mask only for segm (so the mask's area, not the box's,
places a detection in an area range). Each row also saves its `precision` / `recall` / `scores` arrays; the table
says whether they equal pycocotools' bit for bit (tests/test_evaluation_exactness.py checks the same on small sets).

    python bench/bench_eval_cores.py [--images 2000] [--dets 100] [--repeats 2] [--rows a,b,...] [--cold]

Rows alternate (all rows once, then all again) so that load on a shared machine falls on all of them alike; the
table shows each row's best run, its least CPU time, the ratios to plain faster-coco-eval and to the fastest
library (wall, and least CPU against least CPU) and the peak RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IOU_TYPES = ("bbox", "segm")
BASELINE = "faster-coco-eval"
REFERENCE = "pycocotools"


def _only(results: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Detectron2's form of the results for one IoU type: the box for bbox, the mask for segm."""
    return [{"image_id": r["image_id"], "category_id": r["category_id"], "score": r["score"], key: r[key]}
            for r in results]


def _inputs(results: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {"bbox": _only(results, "bbox"), "segm": _only(results, "segmentation")}


def _arrays(evaluator_eval: dict[str, Any]) -> dict[str, np.ndarray]:
    return {name: np.asarray(evaluator_eval[name]) for name in ("precision", "recall", "scores")}


def run_pycocotools(gt: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    inputs = _inputs(results)
    index = COCO()
    index.dataset = gt
    index.createIndex()
    out = {}
    for iou_type in IOU_TYPES:
        evaluator = COCOeval(index, index.loadRes(inputs[iou_type]), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        out[iou_type] = _arrays(evaluator.eval)
    return out


def run_faster_coco_eval(gt: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    from faster_coco_eval import COCO, COCOeval_faster

    inputs = _inputs(results)
    index = COCO(gt)
    out = {}
    for iou_type in IOU_TYPES:
        evaluator = COCOeval_faster(index, index.loadRes(inputs[iou_type]), iou_type, print_function=lambda *a: None)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        out[iou_type] = _arrays(evaluator.eval)
    return out


def run_hotcoco(gt: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    from hotcoco import COCO, COCOeval

    inputs = _inputs(results)
    index = COCO(gt)
    out = {}
    for iou_type in IOU_TYPES:
        evaluator = COCOeval(index, index.load_res(inputs[iou_type]), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        out[iou_type] = _arrays(evaluator.eval)
    return out


def run_ultrafast(gt: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    from ultrafast_pycocotools import COCO, COCOeval

    inputs = _inputs(results)
    index = COCO(gt, verbose=False)
    out = {}
    for iou_type in IOU_TYPES:
        evaluator = COCOeval(index, index.loadRes(inputs[iou_type]), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        out[iou_type] = _arrays(evaluator.eval)
    return out


def run_vernier(gt: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    """vernier's pycocotools shim reads the indexes' `dataset` and ids only: it is handed two light holders. Its
    mask evaluation wants each result's box, as loadRes leaves it: computed here from the masks (timed)."""
    from vernier import COCOeval

    from explorer.evaluation.masks import areas, boxes

    class Holder:
        def __init__(self, dataset: dict[str, Any]) -> None:
            self.dataset = dataset

        def getImgIds(self) -> list[int]:
            return [image["id"] for image in self.dataset["images"]]

        def getCatIds(self) -> list[int]:
            return [category["id"] for category in self.dataset["categories"]]

    inputs = _inputs(results)
    masks = [r["segmentation"] for r in inputs["segm"]]
    for result, box, area in zip(inputs["segm"], boxes(masks).tolist(), areas(masks), strict=True):
        result["bbox"], result["area"] = box, area
    index = Holder(gt)
    out = {}
    for iou_type in IOU_TYPES:
        dt = Holder({"images": gt["images"], "categories": gt["categories"], "annotations": inputs[iou_type]})
        evaluator = COCOeval(index, dt, iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        out[iou_type] = _arrays(evaluator.eval)
    return out


def run_explorer(gt: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    """Our `evaluate`, with its input checks, per-category tables and PR curves (default backend)."""
    from explorer.evaluation.coco.pipeline import evaluate
    from explorer.evaluation.inputs.ground_truth import load_ground_truth

    truth = load_ground_truth(gt)
    out = {}
    for iou_type in IOU_TYPES:
        evaluation = evaluate(truth, results, iou_type)
        evaluation.to_frame()
        out[iou_type] = {"curves": np.asarray(evaluation.curves), "backend": np.array(evaluation.backend)}
    return out


ROWS: dict[str, Callable[[dict[str, Any], list[dict[str, Any]]], dict[str, dict[str, np.ndarray]]]] = {
    "pycocotools": run_pycocotools,
    "faster-coco-eval": run_faster_coco_eval,
    "hotcoco": run_hotcoco,
    "ultrafast-pycocotools": run_ultrafast,
    "vernier": run_vernier,
    "explorer": run_explorer,
}

#: What each row imports. The worker imports it before the clock starts (timed apart, the "import s" column): the
#: table compares evaluating the same parsed input, and a library's import is paid once per process (our row's is
#: mostly pandas, ~0.3 s, which the app and the CLI have loaded anyway). `--cold` times the imports too.
MODULES: dict[str, tuple[str, ...]] = {
    "pycocotools": ("pycocotools.coco", "pycocotools.cocoeval"),
    "faster-coco-eval": ("faster_coco_eval",),
    "hotcoco": ("hotcoco",),
    "ultrafast-pycocotools": ("ultrafast_pycocotools",),
    "vernier": ("vernier", "explorer.evaluation.masks"),
    "explorer": ("explorer.evaluation.coco.pipeline", "explorer.evaluation.inputs.ground_truth"),
}

VERSIONS = {"pycocotools": "pycocotools", "faster-coco-eval": "faster-coco-eval", "hotcoco": "hotcoco",
            "ultrafast-pycocotools": "ultrafast-pycocotools", "vernier": "vernier"}


def worker(row: str, data_path: Path, out_dir: Path, cold: bool = False) -> None:
    with data_path.open("r", encoding="utf-8") as handle:
        gt, results = json.load(handle)  # plain data this script wrote; JSON, never pickle
    import_seconds = 0.0
    if not cold:
        started = time.perf_counter()
        for module in MODULES[row]:
            importlib.import_module(module)
        import_seconds = time.perf_counter() - started
    gc.collect()  # every row starts from the same collected heap (the parsed input), whatever its imports left
    # Every library's progress lines (Python print or native printf) go to /dev/null, not into the table.
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1)
    os.dup2(devnull, 1)
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        arrays = ROWS[row](gt, results)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.savez(out_dir / f"{row}.npz", **{f"{t}.{name}": a for t, named in arrays.items() for name, a in named.items()})
    (out_dir / f"{row}.json").write_text(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": peak_mb,
                                                           "import_seconds": import_seconds}))


def _same_arrays(row: str, out_dir: Path) -> str:
    """Whether a row's precision / recall / scores equal pycocotools' bit for bit (explorer: its PR curves,
    precision at the largest maxDets with -1 as NaN)."""
    reference = out_dir / f"{REFERENCE}.npz"
    if row == REFERENCE or not reference.exists():
        return "(reference)" if row == REFERENCE else ""
    with np.load(reference) as ref, np.load(out_dir / f"{row}.npz") as got:
        worst = 0.0
        for key in got.files:
            if key.endswith(".backend"):
                continue
            if key.endswith(".curves"):
                expected = ref[key.replace(".curves", ".precision")][..., -1].astype(float)
                expected[expected == -1] = np.nan
            else:
                expected = ref[key]
            actual = got[key]
            if actual.shape != expected.shape:
                return f"no (shape {actual.shape} vs {expected.shape})"
            if np.array_equal(actual, expected, equal_nan=True):
                continue
            worst = max(worst, float(np.nanmax(np.abs(actual - expected))))
        return "yes, bit for bit" if worst == 0 else f"no (up to {worst:.1e} apart)"


def _version(row: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(VERSIONS[row]) if row in VERSIONS else ""
    except PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="images in the generated set (default 2000)")
    parser.add_argument("--dets", type=int, default=100, help="detections per image (default 100)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each row, alternating (default 2)")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated subset of: " + ", ".join(ROWS))
    parser.add_argument("--cold", action="store_true",
                        help="time each row's imports too (default: imported before the clock, shown apart)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.data, args.out, args.cold)
        return

    from tests.coco_factory import bench_dataset

    rows = [r for r in args.rows.split(",") if r and _version(r) != "not installed"]
    gt, results = bench_dataset(args.images, args.dets)
    print(f"{len(gt['images'])} images, {len(gt['annotations'])} objects, {len(results)} detections, bbox + segm; "
          f"{os.cpu_count()} CPUs", flush=True)
    best: dict[str, dict[str, float]] = {}
    least_cpu: dict[str, float] = {}  # each row's least CPU time over its runs: steadier than wall time under load
    with tempfile.TemporaryDirectory() as folder:
        data_path = Path(folder) / "data.json"
        data_path.write_text(json.dumps([gt, results]), encoding="utf-8")
        del gt, results
        for repeat in range(args.repeats):
            for row in rows:
                subprocess.run([sys.executable, __file__, "--worker", row, "--data", str(data_path), "--out", folder,
                                *(["--cold"] if args.cold else [])], check=True)
                measured = json.loads((Path(folder) / f"{row}.json").read_text())
                print(f"  run {repeat + 1} {row}: {measured['seconds']:.2f} s (CPU {measured['cpu_seconds']:.2f} s)",
                      flush=True)
                least_cpu[row] = min(least_cpu.get(row, measured["cpu_seconds"]), measured["cpu_seconds"])
                if row not in best or measured["seconds"] < best[row]["seconds"]:
                    best[row] = measured
        exact = {row: _same_arrays(row, Path(folder)) for row in rows}
    base = best.get(BASELINE, {}).get("seconds")
    fastest_library = min((m["seconds"] for r, m in best.items() if r != "explorer"), default=None)
    least_library_cpu = min((c for r, c in least_cpu.items() if r != "explorer"), default=None)
    print()
    print("imports timed inside each row (--cold)" if args.cold else
          "imports done before each row's clock (their seconds in 'import s'); --cold times them too")
    print(f"| evaluator | version | seconds (best of {args.repeats}) | least CPU s | import s "
          "| vs plain faster-coco-eval | vs fastest library (least CPU) | peak RSS MB | arrays = pycocotools |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row, measured in sorted(best.items(), key=lambda item: -item[1]["seconds"]):
        ratio = f"{base / measured['seconds']:.2f}×" if base else ""
        against = (f"{measured['seconds'] / fastest_library:.2f} (CPU {least_cpu[row] / least_library_cpu:.2f})"
                   if fastest_library and least_library_cpu else "")
        print(f"| {row} | {_version(row)} | {measured['seconds']:.2f} | {least_cpu[row]:.2f} | "
              f"{measured['import_seconds']:.2f} | {ratio} | {against} | {measured['peak_mb']:.0f} | {exact[row]} |")


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
