"""How large a COCO evaluation fits on this machine: time and peak memory of `evaluate` (bbox + segm) on generated
sets of growing size, each in a child process watched from outside.

Issue 20 §4 (Scale): a 5,000-image and a 50,000-image set, 100 detections per image with a box and an RLE mask
each, evaluate on the 24 GB development machine; record time and peak memory and say what the largest set is
that fits.

The sets: tests/coco_factory.bench_dataset makes `--base` distinct images (val2017-like: ~7.3 objects per
image with polygon masks, 1% crowds, 80 categories); larger sets repeat those images under new image and
annotation ids (so 50,000 images are 10 copies of 5,000 generated ones; evaluation treats every image on its own,
so the work and the memory grow as for distinct images). Files are written to a temporary folder (or --keep
DIR, reused on the next run), the results file streamed image chunk by image chunk so the generator never holds
the 50,000-image list. A set of 50,000 images is about 1.6 GB of results JSON.

Each evaluation runs in a fresh child process from the file paths, as a user of the library would:
load_ground_truth, then evaluate(bbox) and evaluate(segm) on the paths (--via library, default), or two
`python -m explorer eval` runs (--via cli). The parent samples the resident memory of the child and all its
descendants (the evaluator's worker processes) every 0.2 s and reports the peak of their sum; it stops the run
if the machine's available memory falls under --min-free-gb (default 6), and reports that instead.

    python bench/bench_eval_scale.py [--images 5000 50000] [--base 5000] [--dets 100] [--via library|cli]
                                     [--keep DIR] [--min-free-gb 6]

Figures depend on the evaluation core; rerun after changing it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGE = os.sysconf("SC_PAGE_SIZE")


# ---- generating the sets -------------------------------------------------------------------------------------------

def write_set(folder: Path, images: int, base: int, dets: int) -> tuple[Path, Path]:
    """gt.json and results.json for `images` images (copies of bench_dataset(base) under new ids) in `folder`,
    unless a previous run left them there for the same sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    gt_path, dt_path, stamp = folder / "gt.json", folder / "results.json", folder / "made-for.txt"
    wanted = f"{images} {base} {dets}"
    if stamp.exists() and stamp.read_text() == wanted and gt_path.exists() and dt_path.exists():
        return gt_path, dt_path
    # In a child process, so that the generator's memory is returned before anything is measured.
    subprocess.run([sys.executable, __file__, "--generate", str(folder), str(images), str(base), str(dets)],
                   check=True)
    stamp.write_text(wanted)
    return gt_path, dt_path


def generate(folder: Path, images: int, base: int, dets: int) -> None:
    from tests.coco_factory import bench_dataset

    gt, results = bench_dataset(n_images=min(base, images), dets_per_image=dets)
    n_base = len(gt["images"])
    by_image: dict[int, list[dict[str, Any]]] = {}
    for result in results:
        by_image.setdefault(result["image_id"], []).append(result)
    copies = -(-images // n_base)
    out_images, out_annotations = [], []
    with open(folder / "results.json", "w") as handle:
        handle.write("[")
        first = True
        for copy in range(copies):
            shift = copy * n_base
            for image in gt["images"][: images - shift]:
                new_id = image["id"] + shift
                out_images.append({**image, "id": new_id, "file_name": f"{new_id:012d}.jpg"})
                chunk = [{**r, "image_id": new_id} for r in by_image.get(image["id"], [])]
                if chunk:
                    handle.write(("" if first else ",") + json.dumps(chunk)[1:-1])
                    first = False
            kept = {image["id"] for image in gt["images"][: images - shift]}
            out_annotations += [{**ann, "id": ann["id"] + copy * len(gt["annotations"]),
                                 "image_id": ann["image_id"] + shift}
                                for ann in gt["annotations"] if ann["image_id"] in kept]
        handle.write("]")
    Path(folder / "gt.json").write_text(json.dumps({**gt, "images": out_images, "annotations": out_annotations}))


# ---- one evaluation in a child process -----------------------------------------------------------------------------

def run_library(gt_path: Path, dt_path: Path, max_bytes: int) -> dict[str, Any]:
    """In the child: load the ground truth once, evaluate bbox then segm from the paths."""
    from explorer.evaluation.coco.pipeline import evaluate
    from explorer.evaluation.inputs.ground_truth import load_ground_truth

    seconds: dict[str, float] = {}
    start = time.perf_counter()

    def stage(name: str, fraction: float = 0.0) -> None:  # to stderr: where a run stopped for memory was
        with open("/proc/self/statm") as handle:
            rss = int(handle.read().split()[1]) * PAGE / 1024**2
        print(f"{time.perf_counter() - start:.1f} s: {name} ({rss:.0f} MB in the main process)", file=sys.stderr,
              flush=True)

    stage("load gt")
    gt = load_ground_truth(gt_path, max_bytes=max_bytes)
    seconds["load gt"] = time.perf_counter() - start
    stats = {}
    for iou_type in ("bbox", "segm"):
        begin = time.perf_counter()
        evaluation = evaluate(gt, dt_path, iou_type, max_bytes=max_bytes,
                              progress=lambda name, fraction, kind=iou_type: stage(f"{kind} {name}", fraction))
        seconds[iou_type] = time.perf_counter() - begin
        stats[iou_type] = float(evaluation.stats[0])  # AP@[.5:.95], a sanity check that it really ran
    return {"seconds": seconds, "ap": stats}


def cli_commands(gt_path: Path, dt_path: Path, max_bytes: int) -> list[list[str]]:
    return [[sys.executable, "-m", "explorer", "eval", "--gt", str(gt_path), "--dt", str(dt_path), "--iou-type",
             iou_type, "--max-mb", str(max_bytes / 1024 / 1024)] for iou_type in ("bbox", "segm")]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(parent, []).append(int(entry))
    return tree


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants."""
    tree, total, todo = _children(), 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/statm") as handle:
                total += int(handle.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
        todo += tree.get(current, [])
    return total


def available_bytes() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def watched(command: list[str], min_free: int) -> dict[str, Any]:
    """Run `command` in its own process group; its wall time, peak tree RSS, lowest available memory seen, exit
    status, stdout, the tail of stderr, and whether it was stopped for memory. Output goes to files, so a chatty
    child never blocks on a full pipe while we only sample."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True, start_new_session=True, cwd=ROOT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
        peak, lowest, stopped = 0, available_bytes(), False
        while child.poll() is None:
            peak = max(peak, tree_rss(child.pid))
            free = available_bytes()
            lowest = min(lowest, free)
            if free < min_free:
                os.killpg(child.pid, signal.SIGKILL)
                stopped = True
                break
            time.sleep(0.2)
        child.wait()
        out.seek(0)
        err.seek(0)
        return {"seconds": time.perf_counter() - start, "peak_rss": peak, "lowest_available": lowest,
                "returncode": child.returncode, "stdout": out.read(), "stderr": err.read()[-4000:],
                "stopped": stopped}


def measure(gt_path: Path, dt_path: Path, via: str, max_bytes: int, min_free: int) -> dict[str, Any]:
    if via == "library":
        command = [sys.executable, __file__, "--child", str(gt_path), str(dt_path), str(max_bytes)]
        run = watched(command, min_free)
        if run["returncode"] == 0:
            run.update(json.loads(run["stdout"].strip().splitlines()[-1]))
        return run
    runs = [watched(command, min_free) for command in cli_commands(gt_path, dt_path, max_bytes)]
    return {"seconds": {"bbox": runs[0]["seconds"], "segm": runs[1]["seconds"]},
            "peak_rss": max(r["peak_rss"] for r in runs), "lowest_available": min(r["lowest_available"] for r in runs),
            "returncode": max(r["returncode"] for r in runs), "stopped": any(r["stopped"] for r in runs),
            "stderr": runs[-1]["stderr"]}


def main() -> None:
    if sys.argv[1:2] == ["--generate"]:
        generate(Path(sys.argv[2]), *(int(v) for v in sys.argv[3:6]))
        return
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(run_library(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--base", type=int, default=5000, help="distinct generated images (larger sets repeat them)")
    parser.add_argument("--dets", type=int, default=100)
    parser.add_argument("--via", choices=("library", "cli"), default="library")
    parser.add_argument("--keep", type=Path, help="folder for the generated files (kept and reused)")
    parser.add_argument("--min-free-gb", type=float, default=6.0)
    args = parser.parse_args()
    min_free = int(args.min_free_gb * 1024**3)
    print(f"machine: {os.cpu_count()} CPUs, {os.sysconf('SC_PHYS_PAGES') * PAGE / 1024**3:.1f} GiB; via {args.via}")
    print(f"{'images':>7} {'dets':>9} {'results MB':>10} {'bbox s':>7} {'segm s':>7} {'total s':>8} "
          f"{'peak RSS MB':>11} {'MB/1k img':>9} {'min avail GB':>12}  outcome", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for images in args.images:
            folder = (args.keep or Path(scratch)) / f"set-{images}"
            gt_path, dt_path = write_set(folder, images, args.base, args.dets)
            size = dt_path.stat().st_size
            max_bytes = max(size, gt_path.stat().st_size) + 1024**2
            run = measure(gt_path, dt_path, args.via, max_bytes, min_free)
            seconds = run["seconds"] if isinstance(run["seconds"], dict) else {}
            last = [line for line in run["stderr"].splitlines() if " s: " in line][-1:]
            outcome = (f"stopped: available memory under the floor, at {last}" if run["stopped"] else
                       "ok" if run["returncode"] == 0 else f"failed ({run['returncode']}): {run['stderr'][-300:]}")
            peak_mb = run["peak_rss"] / 1024**2
            bbox, segm = seconds.get("bbox", float("nan")), seconds.get("segm", float("nan"))
            print(f"{images:>7} {images * args.dets:>9} {size / 1024**2:>10.0f} {bbox:>7.1f} {segm:>7.1f} "
                  f"{sum(seconds.values()) if seconds else run['seconds']:>8.1f} {peak_mb:>11.0f} "
                  f"{peak_mb / images * 1000:>9.0f} {run['lowest_available'] / 1024**3:>12.1f}  {outcome}", flush=True)
            if args.keep is None:
                for path in (gt_path, dt_path):
                    path.unlink()


if __name__ == "__main__":
    main()
