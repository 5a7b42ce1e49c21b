"""Benchmark: converting a Detectron R-50-FPN Mask R-CNN checkpoint, and CPU inference against torchvision.

    python bench/bench_convert.py [--height 480 --width 640] [--min-size 800] [--runs 5] [--threads N]

1. Writes a synthetic `model_final.pkl` with the real blob names and shapes of e2e_mask_rcnn_R-50-FPN_1x (plus
   momentum and ImageNet leftovers, as published files have them; ~340 MB), then times the safe unpickling and
   conversion (target: at most 5 s), writing the converted cache, and loading the converted file back.
2. Times inference of the converted model and of torchvision's `maskrcnn_resnet50_fpn` on the same image at the
   same input size, both with random weights (target: ours within 10% of torchvision). Runs alternate between
   the two models so a busy machine slows both alike; the table shows the median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.models.catalog import spec_for_uid
from explorer.models.detectron.checkpoint.convert import build_model, convert_pickle, load_converted, save_converted
from explorer.models.detectron.checkpoint.loading import load_runner
from explorer.models.detectron.config import detectron_config
from explorer.zoo.table import load_zoo
from tests.detectron_factory import checkpoint, write_pickle

MODEL_ID = "35858933"  # Mask R-CNN R-50-FPN 1x
CONVERT_TARGET_S = 5.0
SPEED_TARGET = 1.10


def _timed(fn: object, *args: object, **kwargs: object) -> tuple[object, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)  # type: ignore[operator]
    return result, time.perf_counter() - started


def bench_conversion(workdir: Path) -> list[tuple[str, float, str]]:
    spec = spec_for_uid(load_zoo(["detectron"]), f"detectron:{MODEL_ID}")
    arch = detectron_config(spec).arch
    blobs = checkpoint(arch.config)
    pkl = write_pickle(workdir / "model_final.pkl", blobs)
    del blobs
    size_mb = pkl.stat().st_size / 1e6
    converted, convert_s = _timed(convert_pickle, pkl, arch)
    _, save_s = _timed(save_converted, converted, workdir / "model_final.converted.pt", pkl)
    loaded, load_s = _timed(load_converted, workdir / "model_final.converted.pt", arch, pkl)
    _, build_s = _timed(build_model, arch, loaded, "cpu")
    verdict = "ok" if convert_s <= CONVERT_TARGET_S else f"SLOWER than {CONVERT_TARGET_S:.0f} s"
    return [
        (f"safe unpickle + convert ({size_mb:.0f} MB pkl)", convert_s, verdict),
        ("write converted cache (torch.save)", save_s, ""),
        ("load converted cache (weights_only)", load_s, ""),
        ("build model from converted weights", build_s, ""),
    ]


def bench_inference(height: int, width: int, min_size: int, max_size: int, runs: int) -> list[tuple[str, float, str]]:
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    torch.manual_seed(0)
    spec = spec_for_uid(load_zoo(["detectron"]), f"detectron:{MODEL_ID}").with_sizes(min_size, max_size)
    ours = load_runner(spec, "cpu", {})  # no files: random weights
    theirs = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, min_size=min_size, max_size=max_size).eval()
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    tensor = torch.from_numpy(image).permute(2, 0, 1).float().div(255)

    def run_ours() -> None:
        ours.predict([image])

    def run_theirs() -> None:
        with torch.inference_mode():
            theirs([tensor])

    for fn in (run_ours, run_theirs):  # warm-up
        fn()
    times: dict[str, list[float]] = {"ours": [], "torchvision": []}
    for _ in range(runs):
        for name, fn in (("ours", run_ours), ("torchvision", run_theirs)):
            _, seconds = _timed(fn)
            times[name].append(seconds)
    ours_s, theirs_s = statistics.median(times["ours"]), statistics.median(times["torchvision"])
    ratio = ours_s / theirs_s
    verdict = f"{ratio:.2f}x torchvision: " + ("ok" if ratio <= SPEED_TARGET else "SLOWER than +10%")
    label = f"{width}x{height} image, input {min_size}/{max_size}"
    return [(f"torchvision maskrcnn_resnet50_fpn, {label}", theirs_s, ""),
            (f"Detectron R-50-FPN Mask (converted arch), {label}", ours_s, verdict)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--min-size", type=int, default=800)
    parser.add_argument("--max-size", type=int, default=1333)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--skip-conversion", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows: list[tuple[str, float, str]] = []
    if not args.skip_conversion:
        with tempfile.TemporaryDirectory() as tmp:
            rows += bench_conversion(Path(tmp))
    rows += bench_inference(args.height, args.width, args.min_size, args.max_size, args.runs)
    width = max(len(name) for name, _, _ in rows)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, median of {args.runs} runs")
    print(f"{'step':<{width}}  {'seconds':>8}  verdict")
    for name, seconds, verdict in rows:
        print(f"{name:<{width}}  {seconds:8.3f}  {verdict}")


if __name__ == "__main__":
    main()
