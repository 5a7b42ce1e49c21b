"""Peak memory of a timed run: CUDA's max allocated on a GPU, resident-set growth on the CPU.

A CPU process's high-water mark (`ru_maxrss`) only ever grows, so after one large model every later one
would read as free. On Linux the kernel's own mark can be reset (`5` written to `/proc/self/clear_refs`) and
read back after the runs (`VmHWM` in `/proc/self/status`): exact, and it costs the timed runs nothing. Where
that is not allowed, a background thread samples the current resident set instead; its wake-ups every few
milliseconds took about 9 % off a small model's speed on 2 cores, which is why it is only the fallback.
On a GPU the allocator's peak counter of that device is reset first and read after: the model's weights
count too, as `torch.cuda.max_memory_allocated` reports them (runs on one device go one at a time).
"""

from __future__ import annotations

import os
import threading
from types import TracebackType

SAMPLE_INTERVAL_S = 0.005
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def reset_high_water_mark() -> bool:
    """Reset this process's peak resident set to its current size; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def high_water_bytes() -> int | None:
    """This process's peak resident set since start or the last reset (VmHWM), or None without /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def resident_bytes() -> int | None:
    """This process's resident set now, or None where /proc is not available (not Linux)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


class PeakMemory:
    """`with PeakMemory(device) as memory: ...` then `memory.peak_mb` (None when it cannot be measured)."""

    def __init__(self, device: str, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self.device = device
        self.interval_s = interval_s
        self.peak_mb: float | None = None
        self._start = 0
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._kernel_mark = False

    def __enter__(self) -> PeakMemory:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        start = resident_bytes()
        if start is None:
            return self
        self._start = self._peak = start
        self._kernel_mark = reset_high_water_mark() and high_water_bytes() is not None
        if not self._kernel_mark:
            self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            now = resident_bytes() or 0
            self._peak = max(self._peak, now)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 1e6
            return
        if self._kernel_mark:
            self._peak = max(self._start, high_water_bytes() or 0)
            self.peak_mb = (self._peak - self._start) / 1e6
            return
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, resident_bytes() or 0)
        self.peak_mb = (self._peak - self._start) / 1e6
