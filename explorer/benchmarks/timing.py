"""Measure a model's latency on this machine: warm-up, N timed runs, median and spread.

Published zoo times were taken on 2017-2019 datacenter GPUs; this tells a user what a model costs on
their own hardware. Results are plain data, stored by `explorer.benchmarks.store`.
"""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from explorer.benchmarks.memory import PeakMemory
from explorer.models.catalog import Runner

#: What a measurement timed: the zoo's published file, random weights, or a user's file (named by its sha256).
WEIGHTS_KINDS: tuple[str, ...] = ("published", "random", "file")


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
    # Added with the multi-model bench; rows stored before it read them as unknown (see explorer.benchmarks.store).
    weights_kind: str = ""  # one of WEIGHTS_KINDS, always derived from `weights` and `weights_sha256`
    weights_sha256: str = ""  # of the file timed (a file's measurement always has one)
    max_size: int = 0  # cap on the longer side the model resized to (0: a fixed-size model such as SSD)
    peak_mem_mb: float | None = None  # CUDA max allocated on a GPU; resident-set growth on the CPU
    detections_held: bool = False  # thresholds opened so each image yields the model's maximum (random weights)
    detections_mean: float | None = None  # detections per image the timed runs actually produced
    # Added with the runtimes (explorer.runtimes); older rows read as eager PyTorch (see explorer.benchmarks.store).
    runtime: str = "torch"  # "torch" (eager), "onnxruntime" or "openvino": never mixed in one ranking
    runtime_version: str = ""  # the runtime package's version (torch's for eager)
    execution_provider: str = ""  # where the runtime ran: ONNX Runtime's provider, OpenVINO's device, torch's device

    def __post_init__(self) -> None:
        # Derived, never taken on trust: `dataclasses.replace(result, weights=...)` cannot leave a stale kind.
        kind = "file" if self.weights_sha256 or self.weights not in ("published", "random") else self.weights
        object.__setattr__(self, "weights_kind", kind)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class WeightsIdentity:
    """What a timing ran on, in the words a measurement records: label, kind and (for a file) its sha256."""

    label: str
    kind: str
    sha256: str = ""

    def fields(self) -> dict[str, str]:
        return {"weights": self.label, "weights_kind": self.kind, "weights_sha256": self.sha256}


def weights_identity(choice: Any) -> WeightsIdentity:
    """The identity of the engine's weights choice: None is published, RandomWeights random, a path a file.

    A file is named by its content (sha256): an uploaded or fine-tuned file is not the published model, and
    two files of the same name are two different weights.
    """
    if choice is None:
        return WeightsIdentity("published", "published")
    if not isinstance(choice, (str, Path)):
        return WeightsIdentity("random", "random")
    from explorer.weights.checksums import content_digest

    path = Path(choice)  # hashed once per file version, shared with the engine's model-cache key
    return WeightsIdentity(path.name, "file", content_digest(path))


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
                     autocast: str | None = None, weights: str | WeightsIdentity = "published",
                     detections_held: bool = False) -> BenchmarkResult:
    """Time `runs` batches of `batch_size` copies of `image` after `warmup` untimed batches.

    `weights` says what the runner was loaded with (a `WeightsIdentity`, or the legacy label alone);
    `detections_held` that its thresholds were opened so each image yields its maximum of detections.
    """
    import torch
    import torchvision

    if runs < 1 or warmup < 0 or batch_size < 1:
        raise ValueError("runs and batch size must be at least 1, warm-up at least 0")
    identity = weights if isinstance(weights, WeightsIdentity) else WeightsIdentity(weights, "")
    batch = [image] * batch_size
    with PeakMemory(runner.device) as memory:
        for _ in range(warmup):
            runner.predict(batch, autocast=autocast)
        per_image: list[float] = []
        found = []
        for _ in range(runs):
            started = time.perf_counter()
            found = runner.predict(batch, autocast=autocast)  # predict synchronises the GPU before returning
            per_image.append((time.perf_counter() - started) / batch_size)
    height, width = image.shape[:2]
    return BenchmarkResult(
        model_uid=runner.spec.uid, model_name=runner.spec.name, device=runner.device,
        device_name=device_name(runner.device), image_width=width, image_height=height,
        min_size=runner.spec.preprocessing.min_size, batch_size=batch_size, runs=runs, warmup=warmup,
        median_s=statistics.median(per_image), p10_s=_percentile(per_image, 10), p90_s=_percentile(per_image, 90),
        mean_s=statistics.fmean(per_image), stdev_s=statistics.stdev(per_image) if runs > 1 else 0.0,
        autocast=autocast or "fp32", torch_version=torch.__version__, torchvision_version=torchvision.__version__,
        max_size=runner.spec.preprocessing.max_size, peak_mem_mb=memory.peak_mb, detections_held=detections_held,
        detections_mean=_mean_detections(found), **identity.fields(), **runtime_fields(runner),
    )


def runtime_fields(runner: Runner) -> dict[str, str]:
    """What ran the network: eager torch on the runner's device, or the runtime a `RuntimeRunner` exported to."""
    import torch

    info = getattr(runner, "info", None)
    if info is None or not hasattr(info, "runtime_version"):
        return {"runtime": "torch", "runtime_version": torch.__version__, "execution_provider": runner.device}
    return {"runtime": info.runtime, "runtime_version": info.runtime_version,
            "execution_provider": info.execution_provider}


def _mean_detections(found: list[Any]) -> float | None:
    counts = [len(detections.scores) for detections in found if hasattr(detections, "scores")]
    return float(statistics.fmean(counts)) if counts else None
