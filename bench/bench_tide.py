"""TIDE error types: explorer.evaluation.analyses.tide vs the reference implementation `tidecv` 1.0.1, side by side.

Target (issue 20, "Evaluation at the speed of the fastest exact evaluators"): at least 10x tidecv on the
val2017-scale bench set, with the same numbers (within 0.01 dAP). The first target (issue 14) was "no slower than
tidecv".

The set is bench_eval's (tests/coco_factory.bench_dataset): 5,000 images, about 36,500 objects with polygon
masks (1% crowds), 80 categories, 100 detections per image with a box and an RLE mask each. It is written once
as JSON; each timed run starts from the file paths (both read and parse the JSON, convert the ground-truth
polygons, match, classify and compute every dAP), alternating tidecv and ours per iou type, so machine noise
hits both alike. The table gives the median of --repeat runs, the ratio and the largest dAP difference, for our
tide() as the command line runs it (the mask work split with a forked child) and with EXPLORER_FORK=0 (one process),
each twice per round in both orders.

    python bench/bench_tide.py [--images 5000] [--dets 100] [--repeat 1] [--data DIR]

--data DIR keeps the generated JSON files in DIR (gt.json, results.json) and reuses them on the next run, which
saves the minute it takes to generate the set.

tidecv needs OpenCV, matplotlib and seaborn; it is not a project dependency. Install it beside the project,
e.g. `pip install --target /tmp/tidelib tidecv==1.0.1 opencv-python-headless matplotlib seaborn appdirs`
(plus their small dependencies), and run with PYTHONPATH=/tmp/tidelib MPLBACKEND=Agg.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ERROR_NAMES = {"Cls": "cls", "Loc": "loc", "Both": "both", "Dupe": "dupe", "Bkg": "bkg", "Miss": "miss"}


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its children that have ended (the forked child)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_tidecv(gt_path: Path, dt_path: Path, mode: str) -> tuple[float, float, dict[str, float]]:
    """(wall seconds, CPU seconds, dAPs) of tidecv from the paths."""
    import tidecv
    from tidecv import datasets

    start, cpu = time.perf_counter(), cpu_seconds()
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = tidecv.TIDE(mode=tidecv.TIDE.BOX if mode == "bbox" else tidecv.TIDE.MASK)
        evaluator.evaluate(datasets.COCO(str(gt_path)), datasets.COCOResult(str(dt_path)), name="run")
        errors = evaluator.get_all_errors()
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    numbers = {ERROR_NAMES[k]: float(v) for k, v in errors["main"]["run"].items()}
    numbers["false_pos"] = float(errors["special"]["run"]["FalsePos"])
    numbers["false_neg"] = float(errors["special"]["run"]["FalseNeg"])
    return seconds, cpu, numbers


def run_ours(gt_path: Path, dt_path: Path, mode: str, fork: bool) -> tuple[float, float, dict[str, float]]:
    """(wall seconds, CPU seconds, dAPs) of our tide() from the paths, as the command line runs it (fork=True: the
    mask work split with a forked child, explorer.evaluation.analyses.forked) or with EXPLORER_FORK=0 (one
    process)."""
    from explorer.evaluation.analyses.forked import ENVIRONMENT_SWITCH
    from explorer.evaluation.analyses.tide import tide

    before = os.environ.get(ENVIRONMENT_SWITCH)
    os.environ[ENVIRONMENT_SWITCH] = "1" if fork else "0"
    try:
        start, cpu = time.perf_counter(), cpu_seconds()
        result = tide(gt_path, dt_path, mode)
        return time.perf_counter() - start, cpu_seconds() - cpu, dict(result.dap)
    finally:
        if before is None:
            del os.environ[ENVIRONMENT_SWITCH]
        else:
            os.environ[ENVIRONMENT_SWITCH] = before


def write_set(folder: Path, images: int, dets: int) -> tuple[Path, Path]:
    """gt.json and results.json of bench_dataset(images, dets) in `folder`, generated unless already there (a
    stamp file records the size they were made for)."""
    from tests.coco_factory import bench_dataset

    folder.mkdir(parents=True, exist_ok=True)
    gt_path, dt_path, stamp = folder / "gt.json", folder / "results.json", folder / "made-for.txt"
    if not (stamp.exists() and stamp.read_text() == f"{images} {dets}" and gt_path.exists() and dt_path.exists()):
        gt, results = bench_dataset(n_images=images, dets_per_image=dets)
        gt_path.write_text(json.dumps(gt))
        dt_path.write_text(json.dumps(results))
        stamp.write_text(f"{images} {dets}")
    return gt_path, dt_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--dets", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--data", type=Path, help="folder to keep (and reuse) the generated JSON files in")
    args = parser.parse_args()
    try:
        import tidecv  # noqa: F401
    except ImportError as error:
        sys.exit(f"tidecv is not importable ({error}); see this script's docstring for how to install it")
    with tempfile.TemporaryDirectory() as scratch:
        gt_path, dt_path = write_set(args.data or Path(scratch), args.images, args.dets)
        print(f"{args.images} images, {args.dets} detections per image ({gt_path.parent})")
        print("ours: tide() as the command line runs it (the mask work split with a forked child, "
              "explorer/evaluation/analyses/forked.py); 1 proc: with EXPLORER_FORK=0; each run twice per round, "
              "in the order ours, 1 proc, 1 proc, ours; CPU: user + system seconds of tidecv and of 1 proc")
        print(f"{'iou type':<9} {'tidecv s':>9} {'ours s':>7} {'speed-up':>9} {'1 proc s':>9} {'speed-up':>9} "
              f"{'CPU tidecv':>11} {'CPU 1 proc':>11} {'CPU ratio':>10} {'max |dAP diff|':>15}")
        for mode in ("bbox", "segm"):
            runs: dict[str, list[tuple[float, float]]] = {"tidecv": [], "ours": [], "single": []}
            diff = 0.0
            for _ in range(args.repeat):
                *timing, reference = run_tidecv(gt_path, dt_path, mode)
                runs["tidecv"].append(tuple(timing))
                # Both orders: the run right after tidecv's was measured slower, whichever it was.
                for fork, name in ((True, "ours"), (False, "single"), (False, "single"), (True, "ours")):
                    *timing, numbers = run_ours(gt_path, dt_path, mode, fork)
                    runs[name].append(tuple(timing))
                    diff = max(diff, max(abs(numbers[k] - reference[k]) for k in reference))
            wall = {name: statistics.median(t[0] for t in times) for name, times in runs.items()}
            cpu = {name: statistics.median(t[1] for t in times) for name, times in runs.items()}
            print(f"{mode:<9} {wall['tidecv']:9.1f} {wall['ours']:7.1f} {wall['tidecv'] / wall['ours']:8.1f}x "
                  f"{wall['single']:9.1f} {wall['tidecv'] / wall['single']:8.1f}x {cpu['tidecv']:11.1f} "
                  f"{cpu['single']:11.1f} {cpu['tidecv'] / cpu['single']:9.1f}x {diff:15.4f}", flush=True)

if __name__ == "__main__":
    main()
