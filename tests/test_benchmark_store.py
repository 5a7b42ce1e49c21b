"""Latency measurement and its SQLite history."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
import torch

from explorer.benchmarks.store import MeasurementStore, default_store_path, latest_measurements
from explorer.benchmarks.timing import BenchmarkResult, benchmark_runner, device_name
from explorer.engine.runners import RANDOM_WEIGHTS, load_runner
from explorer.zoo.local_speeds import SETTING_COLUMNS, latest_speeds
from tests.model_factory import random_image, torchvision_spec


def result(model_uid: str = "torchvision:X", median: float = 0.5) -> BenchmarkResult:
    return BenchmarkResult(model_uid=model_uid, model_name="x", device="cpu", device_name="cpu (2 cores)",
                           image_width=64, image_height=48, min_size=96, batch_size=1, runs=3, warmup=1,
                           median_s=median, p10_s=median, p90_s=median, mean_s=median, stdev_s=0.0,
                           autocast="fp32", weights="random", torch_version="t", torchvision_version="v")


def test_benchmark_measures_the_runner() -> None:
    torch.manual_seed(0)
    runner = load_runner(torchvision_spec("SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"), "cpu", RANDOM_WEIGHTS)
    calls = []
    real_predict = runner.predict
    runner.predict = lambda images, autocast=None: calls.append(len(images)) or real_predict(images)
    measured = benchmark_runner(runner, random_image(48, 64), batch_size=2, runs=3, warmup=1, weights="random")
    assert calls == [2, 2, 2, 2]  # one warm-up batch, then three timed batches of two
    assert measured.runs == 3 and measured.batch_size == 2 and (measured.image_width, measured.image_height) == (64, 48)
    assert 0 < measured.p10_s <= measured.median_s <= measured.p90_s
    assert measured.device == "cpu" and "cores" in measured.device_name
    assert measured.torch_version == torch.__version__ and measured.model_uid.startswith("torchvision:")


def test_bad_benchmark_settings() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        benchmark_runner(object(), random_image(), runs=0)  # type: ignore[arg-type]


def test_device_name_for_cpu() -> None:
    assert device_name("cpu").endswith("cores)")


def test_store_round_trip_and_filter(tmp_path) -> None:
    store = MeasurementStore(tmp_path / "m.sqlite")
    store.add(result("torchvision:A", 0.5))
    store.add(result("torchvision:B", 0.25))
    store.add(result("torchvision:A", 0.4))
    frame = store.frame()
    assert list(frame["model_uid"]) == ["torchvision:A", "torchvision:B", "torchvision:A"]
    assert list(store.frame("torchvision:A")["median_s"]) == [0.5, 0.4]
    assert MeasurementStore(tmp_path / "m.sqlite").frame().shape[0] == 3  # persisted


def test_store_accepts_concurrent_writers(tmp_path) -> None:
    path = tmp_path / "m.sqlite"
    threads = [threading.Thread(target=lambda: MeasurementStore(path).add(result())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(MeasurementStore(path).frame()) == 8


def test_default_store_lives_in_the_cache(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path))
    assert default_store_path() == tmp_path / "measurements.sqlite"


@pytest.mark.parametrize("column", SETTING_COLUMNS)
def test_store_and_speed_pages_agree_on_what_makes_a_setting(column: str) -> None:
    """Two timings that differ in one setting column are two setups to the store and two settings to the pages.

    Before the store and the speed pages shared one key list, the store's "latest" could drop a timing the pages
    kept apart (or merge two the pages would rank separately).
    """
    base = {"model_uid": "torchvision:m", "device": "cpu", "median_s": 0.5, "p90_s": 0.6}
    base.update({name: "x" for name in SETTING_COLUMNS})
    rows = pd.DataFrame([base, {**base, column: "y", "median_s": 0.7}])
    for name in ("peak_mem_mb", "torch_version", "measured_at", "detections_held"):
        rows[name] = None
    assert len(latest_measurements(rows)) == 2
    assert len(latest_speeds(rows)) == 2


def test_one_notion_of_the_newest_measurement_per_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store, the speed pages and the plot's measured points all ask explorer.zoo.setups: a field added to the
    setup key there (say a runtime) keeps two measurements apart everywhere, with no other edit."""
    from explorer.zoo import setups
    from explorer.zoo.local_speeds import measured_points
    from explorer.zoo.table import load_zoo

    uid = "torchvision:MaskRCNN_ResNet50_FPN_Weights.COCO_V1"
    base = {"model_uid": uid, "device": "cpu", "median_s": 0.5, "p90_s": 0.6, "weights": "published",
            "peak_mem_mb": None, "torch_version": "t", "measured_at": "now", "detections_held": 0}
    base.update({name: "x" for name in SETTING_COLUMNS} | {"weights_kind": "published"})
    rows = pd.DataFrame([base | {"runtime": "torch"}, base | {"runtime": "onnxruntime", "median_s": 0.3}])
    zoo = load_zoo()
    counts = (len(latest_measurements(rows)), len(latest_speeds(rows)), len(measured_points(rows, zoo, "box_ap")))
    assert counts == (2, 2, 2)  # the runtime is a field of the setup: eager and ONNX Runtime timings stay apart
    monkeypatch.setattr(setups, "SETUP_KEY", tuple(key for key in setups.SETUP_KEY if key != "runtime"))
    counts = (len(latest_measurements(rows)), len(latest_speeds(rows)), len(measured_points(rows, zoo, "box_ap")))
    assert counts == (1, 1, 1)  # without the field, the newer timing replaces the older one everywhere
