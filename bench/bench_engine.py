"""Engine overhead: end-to-end time per image through our engine vs calling the torchvision model directly.

Target (issue 3): on CPU the engine is within 5% of the direct call on the same tensor. Both paths use
the same random-weight Mask R-CNN R-50-FPN, the same image and the same input size; the direct path
receives the already-built float tensor, so the comparison includes everything the engine adds
(uint8 -> tensor conversion, inference_mode, result conversion to numpy, mask thresholding).

    python bench/bench_engine.py [--runs 10] [--size 800] [--model MaskRCNN_ResNet50_FPN_Weights.COCO_V1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import numpy as np
    import torch

    from explorer.engine.runners import RANDOM_WEIGHTS, load_runner, predict_images
    from explorer.models.catalog import resolve_spec
    from explorer.zoo.table import load_zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="MaskRCNN_ResNet50_FPN_Weights.COCO_V1")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--size", type=int, default=800, help="min_size (shorter side)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    table = load_zoo(["torchvision"])
    spec = resolve_spec(table, args.model)
    spec = spec.with_sizes(args.size, max(1333, args.size)).with_test(detections_per_image=100)
    torch.manual_seed(0)
    runner = load_runner(spec, args.device, RANDOM_WEIGHTS)
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    tensor = torch.from_numpy(image).permute(2, 0, 1).float().div(255).to(args.device)

    def direct() -> None:
        with torch.inference_mode():
            runner.model([tensor])
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    def engine() -> None:
        predict_images(runner, [image])

    timings: dict[str, list[float]] = {"direct torchvision call": [], "explorer engine": []}
    for _ in range(2):  # warm-up both
        direct()
        engine()
    for _ in range(args.runs):  # interleave so drift in machine load hits both alike
        for name, call in (("direct torchvision call", direct), ("explorer engine", engine)):
            started = time.perf_counter()
            call()
            timings[name].append(time.perf_counter() - started)

    base = statistics.median(timings["direct torchvision call"])
    print(f"model {args.model} (random weights), image 640x480, min_size {args.size}, device {args.device}, "
          f"{args.runs} runs, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'path':<26}{'median s':>10}{'p90 s':>10}{'vs direct':>11}")
    for name, values in timings.items():
        median = statistics.median(values)
        p90 = float(np.percentile(values, 90))
        print(f"{name:<26}{median:>10.3f}{p90:>10.3f}{(median / base - 1) * 100:>+10.1f}%")
    overhead = statistics.median(timings["explorer engine"]) / base - 1
    print(f"target: engine within 5% of direct -> {'PASS' if overhead <= 0.05 else 'FAIL'} ({overhead * 100:+.1f}%)")


if __name__ == "__main__":
    main()
