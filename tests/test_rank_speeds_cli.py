"""`explorer rank`: end to end by default, ranks per hardware, --scope, and --speed measured|projected."""

from __future__ import annotations

import csv
import io

import pytest

from explorer.benchmarks.store import MeasurementStore
from explorer.benchmarks.timing import BenchmarkResult
from explorer.cli.main import main

#: Detectron end-to-end Faster R-CNN rows (published 0.093 / 0.096 / 0.119 ... s/im) and a torchvision model.
MEASURED = {"detectron:35857197": 0.4, "detectron:35857345": 0.4, "detectron:35857389": 0.4,
            "detectron:35857890": 0.5, "torchvision:FasterRCNN_ResNet50_FPN_Weights.COCO_V1": 0.45}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rows_of(out: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(out)))


def seed_store() -> None:
    store = MeasurementStore()
    for uid, median in MEASURED.items():
        store.add(BenchmarkResult(model_uid=uid, model_name=uid, device="cpu", device_name="Test CPU (2 cores)",
                                  image_width=320, image_height=240, min_size=240, batch_size=1, runs=3, warmup=1,
                                  median_s=median, p10_s=median, p90_s=median * 1.1, mean_s=median, stdev_s=0.0,
                                  autocast="fp32", weights="random", torch_version="t", torchvision_version="v"))


def test_default_rank_is_end_to_end_and_restarts_per_hardware(capsys) -> None:
    code, out, _ = run(capsys, "rank", "--format", "csv")
    rows = rows_of(out)
    assert code == 0 and "infer_s_e2e" in rows[0] and "infer_s" not in rows[0]
    assert {r["speed_source"] for r in rows} == {"published"}
    by_hardware: dict[str, list[int]] = {}
    for r in rows:
        by_hardware.setdefault(r["hardware"], []).append(int(r["rank"]))
    assert set(by_hardware) == {"P100", "V100"}
    assert all(ranks == list(range(1, len(ranks) + 1)) for ranks in by_hardware.values())
    assert all(r["metric_scope"] == "coco" for r in rows)
    assert not any(r["model_id"].startswith("Fast") for r in rows)
    published = rows_of(run(capsys, "rank", "--format", "csv", "--speed", "published")[1])
    assert "infer_s" in published[0] and published[0]["name"].startswith("Fast")  # no RPN time: looks fastest


def test_rank_json_and_person_scope(capsys) -> None:
    import json

    code, out, _ = run(capsys, "rank", "--scope", "person", "--format", "json")
    records = json.loads(out)
    assert code == 0 and records and {r["metric_scope"] for r in records} == {"person"}
    assert {r["hardware"] for r in records} == {"P100", "V100"}
    assert all(r["speed_source"] == "published" for r in records)


def test_rank_on_local_speeds_needs_measurements(capsys) -> None:
    code, _, err = run(capsys, "rank", "--speed", "projected")
    assert code == 2 and "no speeds measured on this machine yet" in err


def test_rank_projected_is_one_list_for_this_machine(capsys) -> None:
    seed_store()
    code, out, _ = run(capsys, "rank", "--speed", "projected", "--format", "csv")
    rows = rows_of(out)
    assert code == 0 and [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))  # one ranking
    assert {r["zoo"] for r in rows} == {"detectron", "torchvision"}
    assert {r["hardware"] for r in rows} == {"Test CPU (2 cores), 320×240, batch 1, fp32, random weights"}
    measured = [r for r in rows if r["speed_source"] == "measured"]
    projected = [r for r in rows if r["speed_source"] == "projected"]
    assert {f"{r['zoo']}:{r['model_id']}" for r in measured} == set(MEASURED)
    assert projected and all(r["zoo"] == "detectron" and r["projection_n"] == "4" for r in projected)
    assert all(float(r["projected_lo_s"]) < float(r["projected_s"]) < float(r["projected_hi_s"]) for r in projected)
    code, out, _ = run(capsys, "rank", "--speed", "measured")
    assert code == 0 and "Timed on this machine (Test CPU (2 cores)" in out
