"""The inference engine: pick a device, load each (model, device) once, run images in batches.

One `ModelCache` per process is shared by every caller (the Streamlit page keeps it in
`st.cache_resource`, so all sessions share it); it holds at most `max_models` loaded models and
evicts the least recently used. Loading is serialised per key, so two sessions asking for the same
model at once load it once.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from explorer.detections import Detections
from explorer.errors import ExplorerError
from explorer.models.catalog import ModelSpec, Runner, family_named

DEFAULT_MAX_MODELS = int(os.environ.get("EXPLORER_MAX_MODELS", "2"))
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


class DeviceError(ExplorerError, ValueError):
    """A device that is not available here."""


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_device(requested: str | None = "auto") -> str:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is a clear error."""
    requested = (requested or "auto").lower()
    if requested == "auto":
        return "cuda" if cuda_available() else "cpu"
    if requested.startswith("cuda"):
        if not cuda_available():
            raise DeviceError("CUDA was requested but no GPU is available here (torch.cuda.is_available() is "
                              "False); use --device cpu")
        return requested
    if requested == "cpu":
        return "cpu"
    raise DeviceError(f"unknown device {requested!r}; choose from {', '.join(DEVICES)}")


@dataclass(frozen=True)
class RandomWeights:
    """Marker: build the architecture with random weights (tests, demos, no download)."""


RANDOM_WEIGHTS = RandomWeights()
WeightsChoice = Path | RandomWeights | None  # None: the spec's published weights (download or cache)


def load_runner(spec: ModelSpec, device: str = "cpu", weights: WeightsChoice = None,
                progress: Callable[[int, int | None], None] | None = None, runtime: str = "torch") -> Runner:
    """Build the model of `spec` on `device` with the chosen weights (no caching: see ModelCache).

    Every file the spec declares (a proposal model's checkpoint too) is fetched by
    `explorer.weights.model_files.fetch_model_files`, under the checkpoint limit, each download reported to `progress`.
    A `runtime` other than "torch" exports the loaded model to it and checks parity first
    (`explorer.runtimes.export.export_runner`; the CPU only).
    """
    if runtime != "torch":
        from explorer.runtimes.backends import backend_for
        from explorer.runtimes.export import export_runner

        backend_for(runtime)  # a missing package is said before any download
        return export_runner(load_runner(spec, device, weights, progress), runtime)
    family = family_named(spec.family)
    files: dict[str, Path] = {}
    if not isinstance(weights, RandomWeights):
        from explorer.weights.model_files import fetch_model_files

        files = fetch_model_files(spec, local_path=weights, progress=(lambda _name: progress) if progress else None)
    return family.load(spec, device, files)


CacheKey = tuple[str, str, str, int, int, str]


def cache_key(spec: ModelSpec, device: str, weights: WeightsChoice, runtime: str = "torch") -> CacheKey:
    """A user's weights file counts by its bytes (sha256), not its path: a rewritten file is another model; the
    same model under another runtime is another loaded runner."""
    return (spec.uid, device, weights_identity(weights), spec.preprocessing.min_size, spec.preprocessing.max_size,
            runtime)


def weights_identity(weights: WeightsChoice) -> str:
    """'random', 'published' or 'sha256:<hex>' of the file (its path while it cannot be read: the load says why)."""
    if isinstance(weights, RandomWeights):
        return "random"
    if weights is None:
        return "published"
    from explorer.weights.checksums import content_digest

    try:
        return f"sha256:{content_digest(Path(weights))}"
    except OSError:
        return str(weights)


class ModelCache:
    """At most `max_models` loaded runners, least recently used evicted first; thread-safe."""

    def __init__(self, max_models: int = DEFAULT_MAX_MODELS,
                 loader: Callable[..., Runner] = load_runner) -> None:
        if max_models < 1:
            raise ValueError("max_models must be at least 1")
        self.max_models = max_models
        self._loader = loader
        self._runners: OrderedDict[CacheKey, Runner] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[CacheKey, threading.Lock] = {}
        self.loads = 0  # how many times a model was actually built (for tests and the page)

    def get(self, spec: ModelSpec, device: str, weights: WeightsChoice = None,
            progress: Callable[[int, int | None], None] | None = None, runtime: str = "torch") -> Runner:
        key = cache_key(spec, device, weights, runtime)
        with self._lock:
            if key in self._runners:
                self._runners.move_to_end(key)
                return self._runners[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._runners:
                    return self._runners[key]
            runner = (self._loader(spec, device, weights, progress) if runtime == "torch"
                      else self._loader(spec, device, weights, progress, runtime))
            with self._lock:
                self.loads += 1
                self._runners[key] = runner
                self._runners.move_to_end(key)
                while len(self._runners) > self.max_models:
                    self._runners.popitem(last=False)
                self._key_locks.pop(key, None)
            return runner

    def put(self, spec: ModelSpec, device: str, weights: WeightsChoice, runner: Runner, runtime: str = "torch") -> None:
        """Place an already built runner (e.g. a test's random-weight model) in the cache."""
        with self._lock:
            key = cache_key(spec, device, weights, runtime)
            self._runners[key] = runner
            self._runners.move_to_end(key)
            while len(self._runners) > self.max_models:
                self._runners.popitem(last=False)

    def loaded(self) -> list[CacheKey]:
        with self._lock:
            return list(self._runners)

    def clear(self) -> None:
        with self._lock:
            self._runners.clear()


def batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [items[start:start + size] for start in range(0, len(items), size)]


def predict_images(runner: Runner, images: Sequence[np.ndarray], *, batch_size: int = 1,
                   autocast: str | None = None,
                   progress: Callable[[int, int], None] | None = None) -> list[Detections]:
    """Run every image through the model in batches; `progress(done, total)` after each batch."""
    results: list[Detections] = []
    for batch in batches(list(images), batch_size):
        results.extend(runner.predict(list(batch), autocast=autocast))
        if progress is not None:
            progress(len(results), len(images))
    return results


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA's out-of-memory error (torch.cuda.OutOfMemoryError, or older RuntimeErrors saying so)."""
    return type(error).__name__ == "OutOfMemoryError" or "out of memory" in str(error).lower()


@dataclass
class FallbackReport:
    """How a run finally succeeded, and what was tried first (shown to the user)."""

    device: str
    batch_size: int
    notes: list[str]


def predict_with_fallback(cache: ModelCache, spec: ModelSpec, device: str, weights: WeightsChoice,
                          images: Sequence[np.ndarray], *, batch_size: int = 1, autocast: str | None = None,
                          progress: Callable[[int, int], None] | None = None, runtime: str = "torch",
                          ) -> tuple[list[Detections], FallbackReport]:
    """Run like `predict_images`, but when the GPU runs out of memory retry with batch 1, then on the CPU.

    Several sessions share one GPU; one large batch must not kill the page. Each step down is noted.
    """
    attempts = [(device, batch_size)]
    if batch_size > 1:
        attempts.append((device, 1))
    if device != "cpu":
        attempts.append(("cpu", 1))
    notes: list[str] = []
    for attempt, (where, size) in enumerate(attempts):
        try:
            runner = cache.get(spec, where, weights, runtime=runtime)
            found = predict_images(runner, images, batch_size=size, autocast=autocast if where != "cpu" else None,
                                   progress=progress)
            return found, FallbackReport(device=where, batch_size=size, notes=notes)
        except Exception as error:
            if not is_out_of_memory(error) or attempt == len(attempts) - 1:
                raise
            _release_gpu_memory()
            next_device, next_size = attempts[attempt + 1]
            notes.append(f"{where} ran out of memory at batch size {size}; retried on {next_device} with batch "
                         f"size {next_size}.")
    raise AssertionError("unreachable")


def _release_gpu_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
