"""Many models timed in one command: resume and skip, --again, Ctrl-C, the recorded fields, weights identity."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3

import numpy as np
import pytest
import torch

from explorer.benchmarks.many import BenchPlanError, BenchSettings, hold_max_detections, plan_models, run_models
from explorer.benchmarks.store import LATEST_COLUMNS, MeasurementStore
from explorer.benchmarks.timing import weights_identity
from explorer.cli.main import main
from explorer.engine.runners import RANDOM_WEIGHTS, RandomWeights, load_runner
from explorer.zoo.local_speeds import measured_points
from explorer.zoo.table import load_zoo
from tests.model_factory import torchvision_spec

SSD = "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"
FASTER = "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1"
SMALL = ["--device", "cpu", "--runs", "2", "--warmup", "1", "--width", "64", "--height", "48",
         "--min-size", "64", "--max-size", "96"]


@pytest.fixture
def caches(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("EXPLORER_OFFLINE", "1")  # published weights are never there: auto falls back to random
    return tmp_path


class FakeRunner:
    """A runner that answers instantly with `count` detections per image."""

    def __init__(self, spec, device: str, count: int = 3) -> None:
        self.spec, self.device, self.categories, self.count = spec, device, ("a",), count

    def predict(self, images, *, autocast=None):
        return [type("Found", (), {"scores": np.zeros(self.count)})() for _ in images]


def specs(*names: str):
    table = load_zoo(["torchvision"])
    return [s for s in plan_models(table, names)[0]]


def test_run_skips_what_is_stored_and_again_times_it_again(tmp_path) -> None:
    store = MeasurementStore(tmp_path / "m.sqlite")
    loaded: list[str] = []

    def loader(spec, device, weights):
        loaded.append(spec.uid)
        return FakeRunner(spec, device)

    settings = BenchSettings(width=32, height=24, runs=2, warmup=0, weights="random")
    first = run_models(specs(SSD, FASTER), settings, store=store, loader=loader)
    assert [r.model_uid for r in first.measured] == [f"torchvision:{SSD}", f"torchvision:{FASTER}"]
    second = run_models(specs(SSD, FASTER), settings, store=store, loader=loader)
    assert second.measured == [] and second.already == [f"torchvision:{SSD}", f"torchvision:{FASTER}"]
    other_size = run_models(specs(SSD), dataclasses.replace(settings, width=48), store=store, loader=loader)
    assert len(other_size.measured) == 1  # another input size is another setup
    again = run_models(specs(SSD), settings, store=store, loader=loader, again=True)
    assert len(again.measured) == 1
    assert len(loaded) == 4 and len(store.frame()) == 4


def test_ctrl_c_keeps_the_models_that_finished(tmp_path) -> None:
    store = MeasurementStore(tmp_path / "m.sqlite")

    def loader(spec, device, weights):
        if spec.uid.endswith(FASTER):
            raise KeyboardInterrupt
        return FakeRunner(spec, device)

    report = run_models(specs(SSD, FASTER), BenchSettings(width=32, height=24, runs=1, warmup=0), store=store,
                        loader=loader)
    assert report.interrupted
    assert list(store.frame()["model_uid"]) == [f"torchvision:{SSD}"]


def test_ctrl_c_from_the_command_line_keeps_finished_and_says_so(caches, monkeypatch, capsys) -> None:
    import explorer.engine.runners

    real = explorer.engine.runners.load_runner

    def interrupting(spec, device, weights, progress=None):
        if spec.uid.endswith(FASTER):
            raise KeyboardInterrupt
        return real(spec, device, weights)

    monkeypatch.setattr(explorer.engine.runners, "load_runner", interrupting)
    code = main(["bench", "--models", SSD, FASTER, "--random-weights", *SMALL])
    stdout, stderr = capsys.readouterr()
    assert code == 2 and "interrupted: 1 of 2 models timed and stored" in stderr
    assert SSD in stdout
    assert list(MeasurementStore().frame()["model_uid"]) == [f"torchvision:{SSD}"]


def test_a_failing_model_is_reported_and_the_run_goes_on(tmp_path) -> None:
    store = MeasurementStore(tmp_path / "m.sqlite")

    def loader(spec, device, weights):
        if spec.uid.endswith(SSD):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")
        return FakeRunner(spec, device)

    report = run_models(specs(SSD, FASTER), BenchSettings(width=32, height=24, runs=1, warmup=0), store=store,
                        loader=loader)
    assert report.skipped == [f"torchvision:{SSD}: out of memory"]
    assert [r.model_uid for r in report.measured] == [f"torchvision:{FASTER}"]


def test_random_weights_hold_the_detections_at_the_maximum(tmp_path) -> None:
    seen = []

    def loader(spec, device, weights):
        seen.append((spec.test, isinstance(weights, RandomWeights)))
        return FakeRunner(spec, device, count=7)

    report = run_models(specs(FASTER), BenchSettings(width=32, height=24, runs=1, warmup=0, weights="random"),
                        store=MeasurementStore(tmp_path / "m.sqlite"), loader=loader)
    (test, random), = seen
    assert random and test.score_thresh == 0.0 and test.nms_thresh == 1.0
    assert report.measured[0].detections_held and report.measured[0].detections_mean == 7


def test_held_thresholds_give_a_random_model_its_maximum_of_detections() -> None:
    torch.manual_seed(0)
    spec = torchvision_spec(FASTER, detections=25)
    image = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    as_published = load_runner(spec, "cpu", RANDOM_WEIGHTS).predict([image])[0]
    held = load_runner(hold_max_detections(spec), "cpu", RANDOM_WEIGHTS).predict([image])[0]
    assert len(held.scores) == 25 > len(as_published.scores)  # published thresholds keep fewer from random weights


def test_zoo_plan_reports_rows_it_cannot_run_and_bad_choices() -> None:
    table = load_zoo()
    planned, left_out = plan_models(table, zoo="detectron2")
    assert len(planned) == (table["zoo"] == "detectron2").sum() and left_out == []
    without_facts = table.assign(config_facts=table["config_facts"].where(table["zoo"] != "detectron2", ""))
    planned, left_out = plan_models(without_facts, zoo="detectron2")
    assert planned == [] and left_out and all("cannot be run" in line for line in left_out)
    planned, _ = plan_models(table, zoo="torchvision", table_name="torchvision detection weights")
    assert len(planned) == (table["zoo"] == "torchvision").sum()
    with pytest.raises(BenchPlanError, match="has no table 'Nope'"):
        plan_models(table, zoo="torchvision", table_name="Nope")
    with pytest.raises(BenchPlanError, match="unknown model 'nope'"):
        plan_models(table, ["nope"])


def test_command_line_times_many_models_and_skips_them_next_time(caches, capsys) -> None:
    code = main(["bench", "--models", SSD, FASTER, *SMALL])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "timed with random weights" in stdout  # offline: auto fell back, and said so
    frame = MeasurementStore().frame()
    assert list(frame["model_uid"]) == [f"torchvision:{SSD}", f"torchvision:{FASTER}"]
    row = frame.iloc[1]
    assert row["device"] == "cpu" and row["device_name"].endswith("cores)")
    assert row["torch_version"] == torch.__version__ and (row["min_size"], row["max_size"]) == (64, 96)
    assert row["batch_size"] == 1 and row["autocast"] == "fp32" and row["weights_kind"] == "random"
    assert row["detections_held"] == 1 and row["detections_mean"] == 100  # Faster R-CNN's limit per image
    assert row["peak_mem_mb"] >= 0
    assert main(["bench", "--models", SSD, FASTER, *SMALL]) == 0
    assert "already stored for this setup (use --again to time again): 2 models" in capsys.readouterr()[0]
    assert main(["bench", "--models", SSD, *SMALL, "--again"]) == 0
    assert len(MeasurementStore().frame()) == 3


@pytest.mark.parametrize(("argv", "message"), [
    (["bench"], "give exactly one of --model"),
    (["bench", "--model", SSD, "--zoo", "torchvision"], "got --model and --zoo"),
    (["bench", "--models", "nope"], "unknown model 'nope'"),
    (["bench", "--zoo", "nope"], "unknown zoo 'nope'"),
    (["bench", "--table", "x", "--models", SSD], "--table needs --zoo"),
])
def test_bench_choice_errors_are_one_line(caches, capsys, argv, message) -> None:
    assert main(argv) == 2
    stderr = capsys.readouterr()[1]
    assert message in stderr and len(stderr.strip().splitlines()) == 1


def test_a_zoo_without_a_runnable_model_is_one_line(caches, capsys, monkeypatch) -> None:
    """Every zoo runs today; a table whose Detectron2 rows lost their config facts has nothing to time."""
    from explorer.zoo import table as zoo_table

    full = zoo_table.load_zoo()
    stripped = full.assign(config_facts=full["config_facts"].where(full["zoo"] != "detectron2", ""))
    monkeypatch.setattr(zoo_table, "load_zoo", lambda: stripped)
    assert main(["bench", "--zoo", "detectron2"]) == 2
    stderr = capsys.readouterr()[1]
    assert "no runnable model in detectron2" in stderr and len(stderr.strip().splitlines()) == 1


def test_a_weights_file_is_recorded_by_its_content_not_as_published(caches, capsys) -> None:
    torch.manual_seed(0)
    model = load_runner(torchvision_spec(SSD), "cpu", RANDOM_WEIGHTS).model
    path = caches / "fine-tuned.pth"
    torch.save(model.state_dict(), path)
    code = main(["bench", "--model", SSD, "--weights", str(path), *SMALL])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    row = MeasurementStore().frame().iloc[0]
    assert row["weights_kind"] == "file" and row["weights"] == "fine-tuned.pth"
    assert row["weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "weights file fine-tuned.pth (sha256" in stdout
    # ... and it is not drawn as the published model's speed
    assert measured_points(MeasurementStore().frame(), load_zoo(), "box_ap").empty


def test_weights_identity_of_each_choice(tmp_path) -> None:
    one, two = tmp_path / "a" / "w.pth", tmp_path / "b" / "w.pth"
    for path, payload in ((one, b"first"), (two, b"second")):
        path.parent.mkdir()
        path.write_bytes(payload)
    assert weights_identity(None).kind == "published" and weights_identity(RANDOM_WEIGHTS).kind == "random"
    assert weights_identity(one).kind == "file" and weights_identity(one).sha256 != weights_identity(two).sha256


OLD_SCHEMA = """CREATE TABLE measurements (id INTEGER PRIMARY KEY, model_uid TEXT NOT NULL, model_name TEXT NOT NULL,
device TEXT NOT NULL, device_name TEXT NOT NULL, image_width INTEGER NOT NULL, image_height INTEGER NOT NULL,
min_size INTEGER NOT NULL, batch_size INTEGER NOT NULL, runs INTEGER NOT NULL, warmup INTEGER NOT NULL,
median_s REAL NOT NULL, p10_s REAL NOT NULL, p90_s REAL NOT NULL, mean_s REAL NOT NULL, stdev_s REAL NOT NULL,
autocast TEXT NOT NULL, weights TEXT NOT NULL, torch_version TEXT NOT NULL, torchvision_version TEXT NOT NULL,
measured_at TEXT NOT NULL)"""


def test_an_older_store_opens_keeps_its_rows_and_learns_their_weights_kind(tmp_path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(OLD_SCHEMA)
        for uid, weights in (("torchvision:A", "published"), ("torchvision:B", "random"), ("torchvision:C", "x.pth")):
            db.execute("INSERT INTO measurements (model_uid, model_name, device, device_name, image_width, "
                       "image_height, min_size, batch_size, runs, warmup, median_s, p10_s, p90_s, mean_s, stdev_s, "
                       "autocast, weights, torch_version, torchvision_version, measured_at) VALUES "
                       "(?, 'm', 'cpu', 'CPU', 64, 48, 96, 1, 3, 1, 0.5, 0.5, 0.5, 0.5, 0, 'fp32', ?, 't', 'v', 'x')",
                       (uid, weights))
    store = MeasurementStore(path)
    frame = store.frame()
    assert list(frame["weights_kind"]) == ["published", "random", "file"]
    assert list(frame["median_s"]) == [0.5, 0.5, 0.5] and frame["peak_mem_mb"].isna().all()
    from tests.test_benchmark_store import result

    store.add(dataclasses.replace(result("torchvision:D"), peak_mem_mb=12.5, max_size=128))
    assert MeasurementStore(path).frame().iloc[-1]["peak_mem_mb"] == 12.5  # reopened: migrated once, still fine


def test_latest_measurements_give_the_speed_pages_one_row_per_model_and_setup(tmp_path) -> None:
    from tests.test_benchmark_store import result

    store = MeasurementStore(tmp_path / "m.sqlite")
    store.add(dataclasses.replace(result("torchvision:A", 0.5), weights="published"))
    store.add(dataclasses.replace(result("torchvision:A", 0.4), weights="published"))  # newer: replaces 0.5
    store.add(dataclasses.replace(result("torchvision:A", 0.3)))  # random weights: another setup
    store.add(dataclasses.replace(result("torchvision:B", 0.2), device_name="GPU", weights="published"))
    latest = store.latest(weights_kind="published")
    assert tuple(latest.columns) == LATEST_COLUMNS
    assert sorted(zip(latest["uid"], latest["median_s"], strict=True)) == [("torchvision:A", 0.4),
                                                                            ("torchvision:B", 0.2)]
    on_cpu = store.latest(device_name="cpu (2 cores)", input_size=96, batch=1, precision="fp32")
    assert sorted(on_cpu["median_s"]) == [0.3, 0.4]
    with pytest.raises(ValueError, match="unknown measurement setting"):
        store.latest(colour="red")
