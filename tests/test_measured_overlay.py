"""Speeds measured on this machine appear beside the published ones on the speed-vs-accuracy plot."""

from __future__ import annotations

import dataclasses

import pandas as pd
from streamlit.testing.v1 import AppTest

from explorer.benchmarks.store import MeasurementStore
from explorer.figures import zoo as plots
from explorer.models.catalog import runnable_mask
from explorer.zoo.local_speeds import measured_points
from explorer.zoo.paths import REPO_ROOT
from explorer.zoo.table import load_zoo
from tests.deadlines import APP_RUN_S
from tests.test_benchmark_store import result

MASK = "torchvision:MaskRCNN_ResNet50_FPN_Weights.COCO_V1"


def measured(uid: str, median: float, device: str = "CPU A", weights: str = "published"):
    return dataclasses.replace(result(uid, median), device_name=device, weights=weights)


def measurements() -> pd.DataFrame:
    rows = [
        measured(MASK, 0.9),
        measured(MASK, 0.7),  # newer: replaces the 0.9 above
        measured(MASK, 0.05, device="GPU B"),
        measured("torchvision:SSD300_VGG16_Weights.COCO_V1", 0.1, weights="random"),  # times the pipeline only
        measured("detectron:35998814", 0.1),  # an RPN: no box AP to plot it at
    ]
    return pd.DataFrame([dataclasses.asdict(r) for r in rows])


def test_measured_points_keep_the_latest_real_measurement_per_device() -> None:
    points = measured_points(measurements(), load_zoo(), "box_ap")
    assert sorted(zip(points["device_name"], points["median_s"], strict=True)) == [("CPU A", 0.7), ("GPU B", 0.05)]
    assert (points["published_y"] == 37.9).all()


def test_figure_overlays_one_trace_per_device() -> None:
    table = load_zoo()
    points = measured_points(measurements(), table, "box_ap")
    fig = plots.speed_accuracy_figure(table, "infer_s", "box_ap", measured=points)
    measured = [trace for trace in fig.data if trace.meta and trace.meta.get("role") == "measured"]
    assert sorted(trace.name for trace in measured) == ["measured here: CPU A", "measured here: GPU B"]
    assert all(trace.customdata[0][0] == MASK for trace in measured)  # a click selects the model
    no_overlay = plots.speed_accuracy_figure(table, "train_hours", "box_ap", measured=points)
    assert not [t for t in no_overlay.data if t.meta and t.meta.get("role") == "measured"]


def test_speed_page_shows_stored_measurements() -> None:
    store = MeasurementStore()
    store.add(measured(MASK, 0.6, device="This CPU"))
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=APP_RUN_S)
    at.switch_page("explorer/pages/speed_accuracy.py").run()
    assert not at.exception
    figure = at.get("plotly_chart")[0].proto.spec
    assert "measured here: This CPU" in figure


def test_runnable_rows_are_marked() -> None:
    table = load_zoo()
    runnable = runnable_mask(table)
    assert runnable[table["zoo"] == "torchvision"].all()
    fig = plots.speed_accuracy_figure(table.assign(runnable=runnable), "gflops", "box_ap")
    assert {point[6] for trace in fig.data if trace.meta and trace.meta.get("role") == "models"
            for point in trace.customdata} == {"yes"}
