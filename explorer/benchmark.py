"""Measure a model's latency on this machine: warm-up, N timed runs, median and spread.

Published zoo times were taken on 2017-2019 datacenter GPUs; this tells a user what a model costs on
their own hardware. Results are plain data, stored by `explorer.store`.
"""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np

from explorer.models.catalog import Runner


@dataclass(frozen=True)
class BenchmarkResult:
    """One latency measurement of one model on one device."""

    model_uid: str
    model_name: str
    device: str
    device_name: str
    image_width: int
    image_height: int
    min_size: int
    batch_size: int
    runs: int
    warmup: int
    median_s: float  # per image
    p10_s: float
    p90_s: float
    mean_s: float
    stdev_s: float
    autocast: str
    weights: str  # "published", "random" or a file name
    torch_version: str
    torchvision_version: str
    measured_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def device_name(device: str) -> str:
    """A human name for the device the numbers belong to, e.g. 'NVIDIA H100 80GB HBM3' or the CPU model."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(device)
    cpu = _cpu_model() or platform.processor() or platform.machine()
    import os

    return f"{cpu} ({os.cpu_count()} cores)"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def benchmark_runner(runner: Runner, image: np.ndarray, *, batch_size: int = 1, runs: int = 10, warmup: int = 2,
                     autocast: str | None = None, weights: str = "published") -> BenchmarkResult:
    """Time `runs` batches of `batch_size` copies of `image` after `warmup` untimed batches."""
    import torch
    import torchvision

    if runs < 1 or warmup < 0 or batch_size < 1:
        raise ValueError("runs and batch size must be at least 1, warm-up at least 0")
    batch = [image] * batch_size
    for _ in range(warmup):
        runner.predict(batch, autocast=autocast)
    per_image: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        runner.predict(batch, autocast=autocast)  # predict synchronises the GPU before returning
        per_image.append((time.perf_counter() - started) / batch_size)
    height, width = image.shape[:2]
    return BenchmarkResult(
        model_uid=runner.spec.uid, model_name=runner.spec.name, device=runner.device,
        device_name=device_name(runner.device), image_width=width, image_height=height,
        min_size=runner.spec.preprocessing.min_size, batch_size=batch_size, runs=runs, warmup=warmup,
        median_s=statistics.median(per_image), p10_s=_percentile(per_image, 10), p90_s=_percentile(per_image, 90),
        mean_s=statistics.fmean(per_image), stdev_s=statistics.stdev(per_image) if runs > 1 else 0.0,
        autocast=autocast or "fp32", weights=weights, torch_version=torch.__version__,
        torchvision_version=torchvision.__version__,
    )
