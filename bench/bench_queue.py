"""Six sessions pressing Run at once: through the device's inference queue vs one after another vs a lone run.

Targets (issue 12): six concurrent requests finish within 1.1x the time of the same six run one after
another, and the first of them finishes within 1.5x of a lone run. Baseline in the same run: the six
requests started at once without the queue, each on its own thread (how the Detections page ran before).

Every request is what the page submits: `InferenceQueues.submit(InferenceJob(...))` for one image on a
random-weight model shared through one `ModelCache`. The four ways are run in turn, in a rotating order
each round, so drift in the machine's load hits them alike; medians over rounds are printed.

    python bench/bench_queue.py [--rounds 5] [--sessions 6] [--size 240] [--model MaskRCNN_ResNet50_FPN_Weights.COCO_V1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

Timing = tuple[float, float]  # (first finished, last finished), seconds from the start


def main() -> None:
    import numpy as np
    import torch

    from explorer.engine.queue import InferenceJob, InferenceQueues
    from explorer.engine.runners import RANDOM_WEIGHTS, ModelCache, predict_with_fallback
    from explorer.models.catalog import resolve_spec
    from explorer.zoo.table import load_zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="MaskRCNN_ResNet50_FPN_Weights.COCO_V1")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--size", type=int, default=240, help="image width; also the model's min_size")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    table = load_zoo(["torchvision"])
    spec = resolve_spec(table, args.model)
    spec = spec.with_sizes(args.size, max(args.size, round(args.size * 1333 / 800)))
    torch.manual_seed(0)
    cache = ModelCache(max_models=1)
    queues = InferenceQueues(cache)  # sets torch's thread count once, as the server does
    cache.get(spec, args.device, RANDOM_WEIGHTS)
    image = np.random.default_rng(0).integers(0, 256, (args.size * 3 // 4, args.size, 3), dtype=np.uint8)
    job = InferenceJob(spec=spec, device=args.device, weights=RANDOM_WEIGHTS, images=[image])

    def queued() -> None:
        queues.submit(job, session=threading.current_thread().name).result()

    def unqueued() -> None:
        predict_with_fallback(cache, spec, args.device, RANDOM_WEIGHTS, [image])

    ways: dict[str, Callable[[], Timing]] = {
        "lone run (queue)": lambda: one_after_another(queued, 1),
        f"{args.sessions} one after another": lambda: one_after_another(queued, args.sessions),
        f"{args.sessions} at once, queue": lambda: at_once(queued, args.sessions),
        f"{args.sessions} at once, no queue (before)": lambda: at_once(unqueued, args.sessions),
    }
    queued()  # warm-up on both paths: first-call costs (allocator, thread pools) stay out of the figures
    unqueued()
    results: dict[str, list[Timing]] = {name: [] for name in ways}
    names = list(ways)
    for round_index in range(args.rounds):
        for name in names[round_index % len(names):] + names[:round_index % len(names)]:
            results[name].append(ways[name]())
        print(f"round {round_index + 1} (load {os.getloadavg()[0]:.1f}): " + ", ".join(
            f"{name} {runs[-1][0]:.1f}/{runs[-1][1]:.1f} s" for name, runs in results.items()), flush=True)
    queues.close()
    report(args, results, torch)


def one_after_another(call: Callable[[], None], count: int) -> Timing:
    started = time.perf_counter()
    first = None
    for _ in range(count):
        call()
        first = first or time.perf_counter() - started
    return first, time.perf_counter() - started


def at_once(call: Callable[[], None], count: int) -> Timing:
    """Start `count` sessions together (a barrier) and note when each one's result arrives."""
    barrier = threading.Barrier(count + 1)
    finished: list[float] = []
    lock = threading.Lock()

    def session() -> None:
        barrier.wait()
        call()
        with lock:
            finished.append(time.perf_counter())

    threads = [threading.Thread(target=session, name=f"session-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return min(finished) - started, max(finished) - started


def report(args: argparse.Namespace, results: dict[str, list[Timing]], torch) -> None:
    median = {name: (statistics.median(t[0] for t in runs), statistics.median(t[1] for t in runs))
              for name, runs in results.items()}
    lone = median["lone run (queue)"][1]
    sequential = median[f"{args.sessions} one after another"][1]
    print(f"model {args.model} (random weights), image {args.size}x{args.size * 3 // 4}, min_size {args.size}, "
          f"device {args.device}, "
          f"{args.rounds} rounds, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    print("per round above: first/all seconds; medians over rounds:")
    print(f"{'way':<34}{'first s':>9}{'all s':>9}{'first/lone':>12}{'all/sequential':>16}")
    for name, (first, last) in median.items():
        print(f"{name:<34}{first:>9.2f}{last:>9.2f}{first / lone:>11.2f}x{last / sequential:>15.2f}x")
    first, last = median[f"{args.sessions} at once, queue"]
    print(f"target: all within 1.1x sequential -> {'PASS' if last <= 1.1 * sequential else 'FAIL'} "
          f"({last / sequential:.2f}x); first within 1.5x lone -> {'PASS' if first <= 1.5 * lone else 'FAIL'} "
          f"({first / lone:.2f}x)")
    # On a shared machine the load drifts between rounds; ways run next to each other in one round see
    # about the same load, so the median of each round's own ratio is the steadier figure.
    rounds = zip(results["lone run (queue)"], results[f"{args.sessions} one after another"],
                 results[f"{args.sessions} at once, queue"], strict=True)
    paired = [(queued[1] / seq[1], queued[0] / lone_run[1]) for lone_run, seq, queued in rounds]
    print(f"median of per-round ratios: all/sequential {statistics.median(p[0] for p in paired):.2f}x, "
          f"first/lone {statistics.median(p[1] for p in paired):.2f}x")


if __name__ == "__main__":
    main()
