"""Sweep scaling on CPU: images/s of `explorer sweep` with 2 workers vs 1 on a small model.

Target: 2 workers at least 1.6x the images/s of 1 worker on a 2-core machine. Each worker is one Ray actor
with one torch thread (Ray gives it one CPU), so the speed-up measures how well Ray Data's decode tasks,
the actor pool and the driver's shard writing overlap, not torch's own threading. Throughput is the pool's
wall clock from the first batch's start to the last batch's end inside the actors (starting actors and
loading the model excluded); each run gets a fresh output folder, and the 1- and 2-worker runs alternate
`--repeats` times so that a slow spell of the machine hits both; the table gives each run and the median.

    python bench/bench_sweep.py [--images 192] [--repeats 3] [--model SSDLite320_MobileNet_V3_Large_Weights.COCO_V1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import numpy as np
    import ray
    from PIL import Image

    from explorer.models.catalog import resolve_spec
    from explorer.sweep.plan import image_items
    from explorer.sweep.run import SweepConfig, run_sweep
    from explorer.zoo.table import load_zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--model", default="SSDLite320_MobileNet_V3_Large_Weights.COCO_V1")
    args = parser.parse_args()

    spec = resolve_spec(load_zoo(), args.model)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    with tempfile.TemporaryDirectory() as root:
        images_dir = Path(root) / "images"
        images_dir.mkdir()
        for i in range(args.images):
            pixels = np.random.default_rng(i).integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(images_dir / f"{i:04d}.jpg", quality=90)
        items = image_items(images_dir)
        runs: dict[int, list[float]] = {1: [], 2: []}
        for repeat in range(args.repeats):
            for workers in runs:
                config = SweepConfig(specs=[spec], items=items, out=Path(root) / f"out{workers}-{repeat}",
                                     workers=workers, batch_size=args.batch_size, shard_size=2 * args.batch_size,
                                     random_weights=True)
                rows = run_sweep(config).rows
                runs[workers].append(rows[0]["sweep_images_per_s"])
                device = rows[0]["device_name"]
    ray.shutdown()
    rates = {workers: statistics.median(values) for workers, values in runs.items()}
    print(f"{spec.name}, {args.images} images {args.width}x{args.height}, batch {args.batch_size}, on {device}, "
          f"Ray {ray.__version__}")
    print("| workers | images/s per run | median images/s | speed-up |\n|---|---|---|---|")
    for workers, rate in rates.items():
        each = ", ".join(f"{value:.2f}" for value in runs[workers])
        print(f"| {workers} | {each} | {rate:.2f} | {rate / rates[1]:.2f}x |")
    speedup = rates[2] / rates[1]
    print(f"target >= 1.6x: {'met' if speedup >= 1.6 else 'NOT met'} ({speedup:.2f}x)")


if __name__ == "__main__":
    main()
