"""Benchmark: Detectron's per-class NMS (one torchvision `nms` per class) against torchvision's `batched_nms`.

    python bench/bench_detectron_nms.py [--rois 1000] [--classes 80] [--per-roi 3] [--runs 30]

The port runs NMS class by class (Detectron 2f8161e's `box_results_with_nms_and_limit`) because
`batched_nms` shifts boxes by class index and so rounds their coordinates. This measures what that costs on
a typical box-results input: `--rois` RoIs, each scoring above the threshold in `--per-roi` random classes,
boxes in a 1333 x 800 image. Baseline: `torchvision.ops.batched_nms` on the same boxes, timed alternately.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torchvision.ops import batched_nms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.models.detectron import boxes as box_ops


def _inputs(rois: int, classes: int, per_roi: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    count = rois * per_roi
    corners = torch.rand(count, 2, generator=generator) * torch.tensor([1200.0, 700.0])
    sizes = torch.rand(count, 2, generator=generator) * 150 + 4
    boxes = torch.cat((corners, corners + sizes), dim=1)
    scores = torch.rand(count, generator=generator)
    labels = torch.randint(1, classes + 1, (count,), generator=generator)
    return boxes, scores, labels


def _time(fn: object, *args: object) -> float:
    started = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rois", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--per-roi", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    boxes, scores, labels = _inputs(args.rois, args.classes, args.per_roi)
    exclusive = box_ops.exclusive(boxes)
    ours, baseline = [], []
    for _ in range(args.runs):
        ours.append(_time(box_ops.batched_nms, boxes, scores, labels, 0.5))
        baseline.append(_time(batched_nms, exclusive, scores, labels, 0.5))
    ours_ms, base_ms = statistics.median(ours) * 1e3, statistics.median(baseline) * 1e3
    print(f"{boxes.shape[0]} candidate boxes, {args.classes} classes, {args.runs} alternating runs, 1 thread")
    print("| NMS | median ms | vs batched_nms |")
    print("|---|---|---|")
    print(f"| torchvision batched_nms (baseline) | {base_ms:.2f} | — |")
    print(f"| per class, Detectron's rule (ours) | {ours_ms:.2f} | x{ours_ms / base_ms:.2f} |")


if __name__ == "__main__":
    main()
