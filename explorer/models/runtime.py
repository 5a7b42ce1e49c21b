"""Run-time helpers every model family shares: mixed precision and honest GPU timing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

AUTOCAST_CHOICES: tuple[str, ...] = ("fp16", "bf16")


def autocast_context(device: str, autocast: str | None) -> Any:
    """A context running the model in fp16/bf16 on a GPU; fp32 (no context) when `autocast` is None."""
    if autocast is None:
        return nullcontext()
    import torch

    dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16}
    if autocast not in dtypes:
        raise ValueError(f"unknown autocast {autocast!r}; choose fp16 or bf16")
    if not device.startswith("cuda"):
        raise ValueError("autocast (fp16/bf16) is for GPUs; run in fp32 on the CPU")
    return torch.autocast(device_type="cuda", dtype=dtypes[autocast])


def synchronized_clock(device: str) -> float:
    """Wait for queued GPU work so a timing includes it, then read the clock."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)
    return time.perf_counter()


class StageClock:
    """Seconds per stage of one prediction (CUDA synchronised, so queued GPU work is counted where it ran)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.seconds: dict[str, float] = {"preprocess": 0.0, "model": 0.0, "postprocess": 0.0}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += synchronized_clock(self.device) - started


def predict_each(images: Sequence[Any], device: str, autocast: str | None,
                 detect: Callable[[Any, StageClock], Any]) -> list[Any]:
    """Run `detect` on each image in inference mode (and autocast), its stage timings added to its detections:
    the per-image loop of the Detectron and Detectron2 runners."""
    import numpy as np
    import torch

    results = []
    for image in images:
        clock = StageClock(device)
        with torch.inference_mode(), autocast_context(device, autocast):
            detections = detect(np.asarray(image), clock)
        detections.timings.update(clock.seconds)
        results.append(detections)
    return results
