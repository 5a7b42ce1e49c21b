"""Multi-model bench overhead: `explorer.benchmarks.many.run_models` vs timing the same runner's `predict` directly.

Target (issue 13): the multi-model bench adds at most 2 % to what it measures. Both paths time the same loaded
random-weight model on the same image, with the detections held at the model's maximum; rounds alternate
which path goes first so drift in machine load hits both alike. Compared per round: the median s/image each
path reports, and the wall time of the timed section (warm-up + runs; the bench's part also includes its skip
check, peak-memory sampling and writing the result to the store).

    python bench/bench_multi.py [--model SSDLite320_MobileNet_V3_Large_Weights.COCO_V1] [--size 320]
                                [--runs 10] [--warmup 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import numpy as np
    import torch

    from explorer.benchmarks.many import BenchSettings, hold_max_detections, plan_models, run_models
    from explorer.benchmarks.store import MeasurementStore
    from explorer.engine.runners import RANDOM_WEIGHTS, load_runner
    from explorer.zoo.table import load_zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="SSDLite320_MobileNet_V3_Large_Weights.COCO_V1")
    parser.add_argument("--size", type=int, default=320, help="min_size (shorter side); the image is 4:3")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    width = round(args.size * 4 / 3)
    settings = BenchSettings(device=args.device, width=width, height=args.size, min_size=args.size, max_size=width,
                             runs=args.runs, warmup=args.warmup, weights="random")
    spec = settings.sized(plan_models(load_zoo(), [args.model])[0][0])
    torch.manual_seed(0)
    runner = load_runner(hold_max_detections(spec), args.device, RANDOM_WEIGHTS)
    image = np.random.default_rng(0).integers(0, 256, (args.size, width, 3), dtype=np.uint8)  # as run_models makes

    def direct() -> tuple[float, float]:
        started = time.perf_counter()
        for _ in range(args.warmup):
            runner.predict([image])
        per_image = []
        for _ in range(args.runs):
            run_started = time.perf_counter()
            runner.predict([image])
            per_image.append(time.perf_counter() - run_started)
        return statistics.median(per_image), time.perf_counter() - started

    def multibench(store: MeasurementStore) -> tuple[float, float]:
        started = time.perf_counter()
        report = run_models([spec], settings, store=store, again=True, loader=lambda *_: runner)
        return report.measured[0].median_s, time.perf_counter() - started

    rows: dict[str, list[tuple[float, float]]] = {"direct predict loop": [], "multi-model bench": []}
    with tempfile.TemporaryDirectory() as folder:
        store = MeasurementStore(Path(folder) / "m.sqlite")
        for round_ in range(args.rounds):
            order = [("direct predict loop", direct), ("multi-model bench", lambda: multibench(store))]
            for name, call in order if round_ % 2 == 0 else order[::-1]:
                rows[name].append(call())
    base_median = statistics.median(m for m, _ in rows["direct predict loop"])
    base_wall = statistics.median(w for _, w in rows["direct predict loop"])
    print(f"{spec.name}, {width}x{args.size}, {args.device}, {args.runs} runs after {args.warmup} warm-up, "
          f"{args.rounds} alternating rounds; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| path | median ms/image | x direct | timed section wall s | x direct |")
    print("|---|---|---|---|---|")
    for name, values in rows.items():
        median = statistics.median(m for m, _ in values)
        wall = statistics.median(w for _, w in values)
        print(f"| {name} | {median * 1000:.1f} | {median / base_median:.3f} | {wall:.2f} | {wall / base_wall:.3f} |")
    ratios = [b[0] / a[0] for a, b in zip(rows["direct predict loop"], rows["multi-model bench"], strict=True)]
    print(f"per-round median ratios (bench / direct): {', '.join(f'{r:.3f}' for r in ratios)}")


if __name__ == "__main__":
    main()
