"""Peak memory of a timed CPU run: growth over the size before it, also after a larger earlier peak."""

from __future__ import annotations

import time

import numpy as np
import pytest

from explorer.benchmarks import memory as benchmark_memory
from explorer.benchmarks.memory import PeakMemory


def _touch(megabytes: int, hold_s: float = 0.0) -> float:
    block = np.ones(megabytes * 1_000_000 // 8)  # np.ones writes every page, so they are resident
    time.sleep(hold_s)  # the sampling fallback sees a peak that lasts a few of its intervals, not a shorter one
    return float(block[-1])


@pytest.mark.parametrize("kernel_mark", [True, False], ids=["kernel-mark", "sampling-thread"])
def test_cpu_peak_is_the_growth_during_the_run_not_an_earlier_peak(monkeypatch: pytest.MonkeyPatch,
                                                                    kernel_mark: bool) -> None:
    if not kernel_mark:
        monkeypatch.setattr(benchmark_memory, "reset_high_water_mark", lambda: False)
    if benchmark_memory.resident_bytes() is None:
        pytest.skip("no /proc here: peak memory is not measured")
    _touch(300)  # an earlier, larger peak: a plain high-water mark would report every later run as free
    with PeakMemory("cpu", interval_s=0.001) as grown:
        _touch(120, hold_s=0.2)
    with PeakMemory("cpu", interval_s=0.001) as idle:
        pass
    assert grown.peak_mb is not None and 100 <= grown.peak_mb <= 200
    assert idle.peak_mb is not None and idle.peak_mb < 20
    assert (grown._thread is None) is kernel_mark  # the kernel's mark needs no sampling thread
