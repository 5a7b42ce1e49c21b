"""Time a model inside the server: on its device's inference queue, with no other session's run beside it.

A timing taken while another session's batch shares the CPU threads or the GPU measures both; so the page's
speed benchmark waits its turn in the device's queue (`InferenceQueue.hold`), times with the device to itself,
hands it back, and keeps the measurement in the store for the speed/accuracy plot. The Detections page only
collects the settings and shows the outcome (`summary_text`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from explorer.benchmarks.store import MeasurementStore
from explorer.benchmarks.timing import BenchmarkResult, benchmark_runner, weights_identity
from explorer.engine.queue import InferenceQueues, InferenceRequest
from explorer.engine.runners import resolve_device
from explorer.engine.session_runs import RunSettings, sized_spec, weights_choice


def benchmark_on_queue(queues: InferenceQueues, table: pd.DataFrame, settings: RunSettings, image: np.ndarray,
                       runs: int, session: str, *, on_wait: Callable[[InferenceRequest], None] | None = None,
                       on_hold: Callable[[], None] | None = None,
                       store: MeasurementStore | None = None) -> BenchmarkResult:
    """Time the settings' model (looked up in `table`) `runs` times on `image`, alone on its device; store it.

    `on_wait(ticket)` is called while the timing waits for the device (to show its place), `on_hold()` once the
    device is ours. The model is loaded (once per server) before waiting, so the hold is spent timing only.
    """
    spec = sized_spec(table, settings.uid, settings.min_size)
    weights = weights_choice(settings)
    eager = settings.runtime == "torch"
    runner = queues.cache.get(spec, resolve_device(settings.device) if eager else "cpu", weights,
                              runtime=settings.runtime)
    with queues.queue(runner.device).hold(session, on_wait=on_wait):
        if on_hold is not None:
            on_hold()
        result = benchmark_runner(runner, image, batch_size=settings.batch_size, runs=runs,
                                  autocast=settings.autocast if eager else None, weights=weights_identity(weights))
    (store or MeasurementStore()).add(result)
    return result


def summary_text(result: BenchmarkResult) -> str:
    """The one-paragraph outcome a user reads: median and spread per image, and that it was stored."""
    under = "" if result.runtime == "torch" else f" under {result.runtime} {result.runtime_version}"
    return (f"{result.model_name}: median {result.median_s * 1000:.0f} ms/image on {result.device_name}{under} "
            f"(p10 {result.p10_s * 1000:.0f}, p90 {result.p90_s * 1000:.0f} ms; {result.runs} runs). "
            "Stored; the speed vs accuracy page can show it beside the published times.")
