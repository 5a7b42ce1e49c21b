"""What torch's OpenMP threads cost the server: OMP_WAIT_POLICY unset (libgomp spins) vs PASSIVE (the app's).

One process per policy (libgomp reads its environment once, when torch loads it), the policies alternating
over rounds. Each process runs the same random-weight detector on one small image, alone and then beside a
Python thread busy half the time in 10 ms bursts (as a script rerun or the event loop is), and reads every
thread's CPU time from /proc: wall-clock ms per run, and CPU ms per run of the calling thread and of torch's
other threads. CPU time is what spinning wastes; on a machine with other work (six sessions' reruns, the
browsers, other users) that time is taken from them, and from the run's own Python glue. Linux only.

    python bench/bench_omp_wait.py [--rounds 3] [--runs 8] [--size 320]
        [--model fasterrcnn_mobilenet_v3_large_320_fpn] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

POLICIES = {"unset (libgomp default: spin)": None, "PASSIVE (the app's)": "PASSIVE"}
WAYS = ("alone", "beside a busy Python thread")


def thread_cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) of every thread of this process, by thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        found[tid] = (int(fields[11]) + int(fields[12])) / tick
    return found


def busy(stop: threading.Event) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        while time.perf_counter() - started < 0.01:
            {i: str(i) for i in range(200)}
        time.sleep(0.01)


def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    """In this process (its policy already set): {way: [wall ms, calling thread CPU ms, other threads CPU ms]}."""
    import torch
    import torchvision

    torch.set_num_threads(args.threads)
    model = torchvision.models.get_model(args.model, weights=None, weights_backbone=None, num_classes=91).eval()
    image = [torch.rand(3, args.size * 3 // 4, args.size)]
    me = str(threading.get_native_id())
    results = {}
    with torch.inference_mode():
        for _ in range(2):
            model(image)
        for way in WAYS:
            stop, helper = threading.Event(), None
            if way != "alone":
                helper = threading.Thread(target=busy, args=(stop,))
                helper.start()
            before, started = thread_cpu_seconds(), time.perf_counter()
            for _ in range(args.runs):
                model(image)
            wall, after = time.perf_counter() - started, thread_cpu_seconds()
            stop.set()
            if helper is not None:
                helper.join()
            spent = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
            skip = {me, str(helper.native_id) if helper is not None else ""}
            others = sum(seconds for tid, seconds in spent.items() if tid not in skip)
            results[way] = [1000 * wall / args.runs, 1000 * spent[me] / args.runs, 1000 * others / args.runs]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="fasterrcnn_mobilenet_v3_large_320_fpn")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return
    table: dict[tuple[str, str], list[list[float]]] = {}
    for round_index in range(args.rounds):
        names = list(POLICIES)
        for name in names[round_index % 2:] + names[:round_index % 2]:
            env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
            if POLICIES[name] is not None:
                env["OMP_WAIT_POLICY"] = POLICIES[name]
            command = [sys.executable, __file__, "--child", "--runs", str(args.runs), "--size", str(args.size),
                       "--threads", str(args.threads), "--model", args.model]
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
            for way, values in json.loads(out.splitlines()[-1]).items():
                table.setdefault((name, way), []).append(values)
        print(f"round {round_index + 1} done (load {os.getloadavg()[0]:.1f})", flush=True)
    print(f"\n{args.model}, random weights, {args.size} px image, {args.threads} torch threads, {args.runs} runs per "
          f"measurement, medians over {args.rounds} rounds, load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| OMP_WAIT_POLICY | run | wall ms/run | CPU ms/run, calling thread | CPU ms/run, torch's other threads |")
    print("|---|---|---|---|---|")
    for (name, way), rows in table.items():
        wall, mine, others = (statistics.median(column) for column in zip(*rows, strict=True))
        print(f"| {name} | {way} | {wall:.0f} | {mine:.0f} | {others:.0f} |")


if __name__ == "__main__":
    main()
