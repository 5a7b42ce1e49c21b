"""Measurements record the runtime they were taken under, and runtimes are never mixed in one setup."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from explorer.benchmarks.many import BenchPlanError, BenchSettings, setup_key, stored_setups
from explorer.benchmarks.store import _COLUMNS, MeasurementStore
from explorer.benchmarks.timing import BenchmarkResult, WeightsIdentity, benchmark_runner
from explorer.detections import Detections
from explorer.runtimes.export import ExportInfo
from explorer.zoo.local_speeds import latest_speeds, settings
from tests.test_benchmark_store import result

RUNTIME_FIELDS = ("runtime", "runtime_version", "execution_provider")


def _under(runtime: str, median: float) -> BenchmarkResult:
    return dataclasses.replace(result(median=median), runtime=runtime, runtime_version="9.9",
                               execution_provider="CPU")


def test_store_keeps_runtimes_apart(tmp_path: Path) -> None:
    store = MeasurementStore(tmp_path / "m.sqlite")
    for measured in (result(median=0.5), _under("openvino", 0.3), _under("onnxruntime", 0.4)):
        store.add(measured)
    latest = store.latest()
    assert sorted(latest["runtime"]) == ["onnxruntime", "openvino", "torch"]
    assert latest.set_index("runtime").loc["openvino", "median_s"] == 0.3
    labels = [setting.label for setting in settings(latest_speeds(store.frame()))]
    assert len(labels) == 3 and sum("under OpenVINO" in label for label in labels) == 1
    assert sum("under ONNX Runtime" in label for label in labels) == 1


def test_a_bench_run_skips_only_what_was_stored_under_the_same_runtime(tmp_path: Path) -> None:
    store = MeasurementStore(tmp_path / "m.sqlite")
    store.add(_under("openvino", 0.3))
    stored = stored_setups(store.frame())
    spec = SimpleNamespace(uid="torchvision:X", preprocessing=SimpleNamespace(min_size=96, max_size=0))
    weights = WeightsIdentity("random", "random")

    def key(runtime: str) -> tuple[object, ...]:
        return setup_key(spec, BenchSettings(width=64, height=48, runtime=runtime), "cpu (2 cores)", weights)

    assert key("openvino") in stored and key("torch") not in stored and key("onnxruntime") not in stored


def test_an_older_store_reads_as_eager_pytorch(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = [name for name in _COLUMNS if name not in RUNTIME_FIELDS]
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE measurements (id INTEGER PRIMARY KEY, {', '.join(old)})")
        values = result().as_dict()
        db.execute(f"INSERT INTO measurements ({', '.join(old)}) VALUES ({', '.join('?' for _ in old)})",
                   [values[name] for name in old])
    frame = MeasurementStore(path).frame()
    assert list(frame["runtime"]) == ["torch"] and list(frame["runtime_version"]) == ["t"]
    assert list(frame["execution_provider"]) == ["cpu"]


def test_benchmark_records_the_runtime_of_an_exported_runner() -> None:
    def predict(images: list[np.ndarray], autocast: str | None = None) -> list[Detections]:
        return [Detections(width=8, height=8, boxes=np.zeros((0, 4), np.float32), scores=np.zeros(0, np.float32),
                           labels=np.zeros(0, np.int64), names=[]) for _ in images]

    spec = SimpleNamespace(uid="torchvision:X", name="x", preprocessing=SimpleNamespace(min_size=96, max_size=128))
    info = ExportInfo("openvino", "2026.4.1", "CPU", parts=("backbone",))
    runner = SimpleNamespace(spec=spec, device="cpu", predict=predict, info=info)
    measured = benchmark_runner(runner, np.zeros((8, 8, 3), np.uint8), runs=2, warmup=0, weights="random")
    assert (measured.runtime, measured.runtime_version, measured.execution_provider) == ("openvino", "2026.4.1", "CPU")
    eager = benchmark_runner(SimpleNamespace(spec=spec, device="cpu", predict=predict), np.zeros((8, 8, 3), np.uint8),
                             runs=2, warmup=0, weights="random")
    assert eager.runtime == "torch" and eager.execution_provider == "cpu"


def test_runtimes_run_on_the_cpu_only() -> None:
    with pytest.raises(BenchPlanError, match="CPU"):
        BenchSettings(device="cuda", runtime="openvino")
    with pytest.raises(BenchPlanError, match="unknown runtime"):
        BenchSettings(runtime="tensorrt")
