"""Eager PyTorch fp32 vs ONNX Runtime vs OpenVINO on this CPU, per model, side by side in one run.

Target (issue 22): for Mask R-CNN R-50-FPN (torchvision and Detectron) and RetinaNet R-50-FPN at an 800-pixel
input, the fastest runtime at least 1.5x eager PyTorch, with the parity check passing; export time recorded.
Random weights with the thresholds opened (score 0, no NMS), as `explorer bench --random-weights` times them, so
every image carries the model's maximum of detections through the mask head. Each runtime is exported into a
fresh cache folder (the export time is a real one) and parity-checked before it is timed; then the three
setups are timed in alternation, one image each per round, and the medians compared.

    python bench/bench_runtimes.py [--rounds 5] [--size 800] [--models ID ...] [--seed 0]

A model whose export fails (ParityError, NotExportableError) gets its one-line reason in the table, and the
bench goes on to the next model; the random weights come from `--seed` (the same for the eager and the exported
runners).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = ("MaskRCNN_ResNet50_FPN_Weights.COCO_V1", "35858933", "RetinaNet_ResNet50_FPN_Weights.COCO_V1")
RUNTIMES = ("onnxruntime", "openvino")


def main() -> None:
    import numpy as np
    import torch

    from explorer.benchmarks.many import hold_max_detections
    from explorer.engine.runners import RANDOM_WEIGHTS, load_runner
    from explorer.errors import ExplorerError
    from explorer.models.catalog import resolve_spec
    from explorer.runtimes import RUNTIME_LABELS
    from explorer.runtimes.export import export_runner
    from explorer.zoo.table import load_zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=800, help="min_size (shorter side); the image is 4:3")
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the random weights")
    args = parser.parse_args()

    table = load_zoo()
    image = np.random.default_rng(0).integers(0, 256, (args.size, args.size * 4 // 3, 3), dtype=np.uint8)
    print(f"torch threads {torch.get_num_threads()}, image {image.shape[1]}x{image.shape[0]}, rounds {args.rounds}")
    print("| model | eager s/im | ONNX Runtime s/im (x eager) | OpenVINO s/im (x eager) | export s (ORT / OV) | "
          "parity (worst box px, score) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as root:
        for model in args.models:
            spec = hold_max_detections(resolve_spec(table, model).with_sizes(args.size, max(1333, args.size)))

            def fresh(spec=spec):
                torch.manual_seed(args.seed)
                return load_runner(spec, "cpu", RANDOM_WEIGHTS)

            runners = {"torch": fresh()}
            exports = {}
            try:
                for runtime in RUNTIMES:
                    started = time.perf_counter()
                    runners[runtime] = export_runner(fresh(), runtime, root=Path(root))
                    exports[runtime] = time.perf_counter() - started
            except ExplorerError as error:  # a failed parity check or export: say which and why, go on
                print(f"| {spec.name} | | | | | {RUNTIME_LABELS[runtime]} failed: {error} |", flush=True)
                continue
            times: dict[str, list[float]] = {name: [] for name in runners}
            for runner in runners.values():  # warm-up
                runner.predict([image])
            for _ in range(args.rounds):
                for name, runner in runners.items():
                    started = time.perf_counter()
                    runner.predict([image])
                    times[name].append(time.perf_counter() - started)
            eager = statistics.median(times["torch"])
            cells = [f"{statistics.median(times[r]):.2f} ({eager / statistics.median(times[r]):.2f}x)"
                     for r in RUNTIMES]
            worst = [runners[r].info.parity.worst for r in RUNTIMES]
            parity = " / ".join(f"{w['box_px']:.2g}, {w['score']:.2g}" for w in worst)
            print(f"| {spec.name} | {eager:.2f} | {cells[0]} | {cells[1]} | "
                  f"{exports['onnxruntime']:.0f} / {exports['openvino']:.0f} | passed: {parity} |", flush=True)


if __name__ == "__main__":
    main()
