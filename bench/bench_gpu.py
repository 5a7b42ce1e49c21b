"""Mask R-CNN R-50-FPN latency on a GPU: batch 1 and 8, fp32 vs autocast (fp16, bf16).

Run where a GPU is lent (issue 3); on a CPU-only machine it measures fp32 on the CPU and skips
autocast. Random weights: the network's cost does not depend on the weights, but the number of
detections does, so detections per image are capped at 100 (the zoo's setting) for every row.

    python bench/bench_gpu.py [--runs 20] [--size 800]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import numpy as np
    import torch
    import torchvision

    from explorer.benchmarks.timing import benchmark_runner
    from explorer.engine.runners import RANDOM_WEIGHTS, load_runner, resolve_device
    from explorer.models.catalog import resolve_spec
    from explorer.zoo.table import load_zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="MaskRCNN_ResNet50_FPN_Weights.COCO_V1")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--size", type=int, default=800)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()

    device = resolve_device("auto")
    table = load_zoo(["torchvision"])
    spec = resolve_spec(table, args.model)
    spec = spec.with_sizes(args.size, 1333).with_test(detections_per_image=100)
    torch.manual_seed(0)
    runner = load_runner(spec, device, RANDOM_WEIGHTS)
    image = np.random.default_rng(0).integers(0, 256, (800, 1333, 3), dtype=np.uint8)
    precisions = [None, "fp16", "bf16"] if device.startswith("cuda") else [None]
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    print(f"{args.model} (random weights) on {name}; image 1333x800, min_size {args.size}; "
          f"torch {torch.__version__}, torchvision {torchvision.__version__}")
    print(f"{'batch':>5} {'precision':>9} {'median ms/im':>13} {'p10':>8} {'p90':>8} {'vs fp32':>8} {'peak MiB':>9}")
    for batch in args.batches:
        base = None
        for precision in precisions:
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            result = benchmark_runner(runner, image, batch_size=batch, runs=args.runs, warmup=3, autocast=precision,
                                      weights="random")
            base = base or result.median_s
            peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else float("nan")
            print(f"{batch:>5} {result.autocast:>9} {result.median_s * 1000:>13.1f} {result.p10_s * 1000:>8.1f} "
                  f"{result.p90_s * 1000:>8.1f} {base / result.median_s:>7.2f}x {peak:>9.0f}")


if __name__ == "__main__":
    main()
