"""A model run in a thread beside busy Python threads: CPython's 5 ms GIL switch interval against shorter ones.

Why it was measured (issue 21 §5): in the Streamlit server a model run is a thread whose Python glue releases
the GIL at every torch op and must take it back after; beside a Python thread that keeps busy (another
session's script rerun), each take-back can wait until the holder's switch interval ends (the convoy effect).
This bench shows the effect in isolation: a random-weight detector's forward in the main thread, alone and
beside N threads that compute for 30 ms and sleep 10 ms in turn, for each interval in turn (rounds
alternate the order). The server itself was measured with and without a 0.1 ms interval
(bench_browser_sessions.py --baseline-env EXPLORER_GIL_SWITCH_MS=5, with a temporary switch): no difference
over 16 rounds, so the app keeps CPython's default (bench/README.md, "Six real browser sessions", round 3).

    python bench/bench_gil_switch.py [--rounds 2] [--runs 6] [--busy 0 1 3] [--intervals-ms 5 1 0.5 0.1]
        [--model fasterrcnn_mobilenet_v3_large_320_fpn] [--size 320] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time


def busy(stop: threading.Event) -> None:
    """Python work in 30 ms bursts with 10 ms pauses, as a script rerun or the event loop keeps the GIL."""
    while not stop.is_set():
        start = time.perf_counter()
        while time.perf_counter() - start < 0.03:
            sum(range(1000))
        time.sleep(0.01)


def forward_ms(model, images, runs: int, n_busy: int) -> float:
    """Median wall ms of one forward with `n_busy` busy threads beside it."""
    stop = threading.Event()
    threads = [threading.Thread(target=busy, args=(stop,), daemon=True) for _ in range(n_busy)]
    for thread in threads:
        thread.start()
    times = []
    try:
        for _ in range(runs):
            start = time.perf_counter()
            model(images)
            times.append(time.perf_counter() - start)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 1, 3])
    parser.add_argument("--intervals-ms", type=float, nargs="+", default=[5.0, 1.0, 0.5, 0.1])
    parser.add_argument("--model", default="fasterrcnn_mobilenet_v3_large_320_fpn")
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the app's server runs torch
    import torch
    import torchvision

    torch.set_num_threads(args.threads)
    model = torchvision.models.get_model(args.model, weights=None, weights_backbone=None).eval()
    images = [torch.rand(3, args.size * 3 // 4, args.size)]
    found: dict[tuple[float, int], list[float]] = {}
    with torch.inference_mode():
        for _ in range(2):
            model(images)  # warm-up
        for round_index in range(args.rounds):
            order = args.intervals_ms if round_index % 2 == 0 else args.intervals_ms[::-1]
            for interval in order:
                sys.setswitchinterval(interval / 1000)
                for n_busy in args.busy:
                    found.setdefault((interval, n_busy), []).append(forward_ms(model, images, args.runs, n_busy))
    sys.setswitchinterval(0.005)
    print(f"{args.model}, random weights, {args.size} px, {args.threads} torch threads, OMP_WAIT_POLICY="
          f"{os.environ['OMP_WAIT_POLICY']}, median of {args.runs} forwards, medians over {args.rounds} rounds")
    print("| switch interval ms | " + " | ".join(f"beside {n} busy threads, ms" for n in args.busy) + " |")
    print("|---|" + "---|" * len(args.busy))
    for interval in args.intervals_ms:
        cells = " | ".join(f"{statistics.median(found[(interval, n)]):.0f}" for n in args.busy)
        print(f"| {interval:g} | {cells} |")


if __name__ == "__main__":
    main()
