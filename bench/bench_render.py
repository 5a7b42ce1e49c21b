"""Benchmark `draw_detections`: 100 instance masks with boxes and labels on a 1333x800 image.

Target: median at most 50 ms (two CPU cores). The naive baseline, timed in the same run, alpha-blends
each mask over the full image in float, the obvious way, to show what the crop-and-lookup design saves.

Run: .venv/bin/python bench/bench_render.py [--runs 30] [--instances 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from explorer.detections import Detections
from explorer.drawing.detections import RenderOptions, draw_detections, instance_color

WIDTH, HEIGHT = 1333, 800
TARGET_MS = 50.0


def make_case(n: int, seed: int = 0) -> tuple[np.ndarray, Detections]:
    """A noisy photo-sized image and n elliptical masks in random boxes 20-300 px a side."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    boxes = np.zeros((n, 4), np.float32)
    masks = np.zeros((n, HEIGHT, WIDTH), dtype=bool)
    for i in range(n):
        w, h = rng.integers(20, 300, size=2)
        x1, y1 = rng.integers(0, WIDTH - w), rng.integers(0, HEIGHT - h)
        boxes[i] = (x1, y1, x1 + w, y1 + h)
        yy, xx = np.mgrid[0:h, 0:w]
        masks[i, y1:y1 + h, x1:x1 + w] = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2 <= 1
    scores = np.sort(rng.uniform(0.5, 1.0, n).astype(np.float32))[::-1].copy()
    names = [("person", "car", "dog", "traffic light")[i % 4] for i in range(n)]
    detections = Detections(width=WIDTH, height=HEIGHT, boxes=boxes, scores=scores,
                            labels=np.arange(n, dtype=np.int64) % 4 + 1, names=names, masks=masks)
    return image, detections


def naive_blend(image: np.ndarray, detections: Detections, alpha: float = 0.5) -> np.ndarray:
    """Baseline: one full-image float blend per mask (boxes and labels left out, so it is a lower bound)."""
    out = image.astype(np.float32)
    assert detections.masks is not None
    for i, mask in enumerate(detections.masks):
        color = np.array(instance_color(i), np.float32)
        out = np.where(mask[..., None], out * (1 - alpha) + color * alpha, out)
    return out.astype(np.uint8)


def time_ms(function: Callable[[], object], runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--instances", type=int, default=100)
    args = parser.parse_args()

    image, detections = make_case(args.instances)
    options = RenderOptions(score_thresh=0.0)
    print(f"{args.instances} masks + boxes + labels on {WIDTH}x{HEIGHT}; {os.cpu_count()} CPUs; "
          f"numpy {np.__version__}")
    rows = [
        ("draw_detections (all)", time_ms(lambda: draw_detections(image, detections, options), args.runs, 3)),
        ("  masks only", time_ms(lambda: draw_detections(image, detections, RenderOptions(
            score_thresh=0.0, show_boxes=False, show_labels=False)), args.runs, 3)),
        ("  boxes + labels only", time_ms(lambda: draw_detections(image, detections, RenderOptions(
            score_thresh=0.0, show_masks=False)), args.runs, 3)),
        ("naive full-image blend", time_ms(lambda: naive_blend(image, detections), args.baseline_runs, 1)),
    ]
    print(f"{'case':<26}{'median ms':>10}{'p90 ms':>10}{'runs':>6}")
    for name, times in rows:
        print(f"{name:<26}{statistics.median(times):>10.1f}{np.percentile(times, 90):>10.1f}{len(times):>6}")
    median = statistics.median(rows[0][1])
    speedup = statistics.median(rows[-1][1]) / median
    verdict = "PASS" if median <= TARGET_MS else "FAIL"
    print(f"target {TARGET_MS:.0f} ms median: {verdict} ({median:.1f} ms); {speedup:.0f}x faster than the naive "
          "blend (which draws no boxes or labels)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
