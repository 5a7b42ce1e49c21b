"""The sweep summary joined to the zoo: which AP columns a sweep measured, and each measurement beside its
published numbers (no Ray needed)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from explorer.sweep.summary import COLUMNS, evaluated_metrics, measured_vs_published
from explorer.tasks import EVALUATED
from explorer.zoo.table import load_zoo


@pytest.fixture(scope="module")
def zoo() -> pd.DataFrame:
    return load_zoo()


def summary() -> pd.DataFrame:
    """Two models on one device, the first also on a second device; only box AP evaluated."""
    detectron, torchvision = "detectron:35857345", "torchvision:SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"
    return pd.DataFrame({
        "model_uid": [detectron, torchvision, detectron], "model_name": ["a", "b", "a"],
        "device_name": ["GPU X", "GPU X", "CPU Y"], "images": [50, 50, 50], "median_s": [0.05, 0.01, 2.0],
        "box_ap": [30.0, 12.5, 30.0], "mask_ap": [float("nan")] * 3, "kp_ap": [float("nan")] * 3,
    })


def test_the_summary_has_one_ap_column_per_evaluated_task_named_like_the_zoo_column() -> None:
    assert [column for column in COLUMNS if column in {task.metric for task in EVALUATED}] == [
        task.metric for task in EVALUATED]


def test_only_measured_metrics_are_offered(zoo: pd.DataFrame) -> None:
    assert evaluated_metrics(summary()) == ["box_ap"]
    assert evaluated_metrics(summary().assign(box_ap=float("nan"))) == []
    assert evaluated_metrics(summary().assign(kp_ap=[1.0, float("nan"), float("nan")])) == ["box_ap", "kp_ap"]


def test_pairs_put_each_measurement_beside_its_published_numbers(zoo: pd.DataFrame) -> None:
    pairs = measured_vs_published(summary(), zoo, "box_ap")
    assert len(pairs) == 3
    first = pairs.iloc[0]
    assert first["published_ap"] == zoo.loc["detectron:35857345", "box_ap"]
    assert first["published_s"] == zoo.loc["detectron:35857345", "infer_s"] and first["published_hardware"] == "P100"
    assert first["measured_ap"] == 30.0 and first["measured_s"] == 0.05


def test_a_model_the_zoo_does_not_know_keeps_its_measurement_without_published_numbers(zoo: pd.DataFrame) -> None:
    frame = summary().assign(model_uid=["detectron:35857345", "upload:mine", "detectron:35857345"])
    pairs = measured_vs_published(frame, zoo, "box_ap")
    mine = pairs[pairs["model_uid"] == "upload:mine"].iloc[0]
    assert mine["measured_ap"] == 12.5 and math.isnan(mine["published_ap"]) and math.isnan(mine["published_s"])


def test_rows_without_a_measured_ap_or_time_are_left_out(zoo: pd.DataFrame) -> None:
    frame = summary().assign(median_s=[0.05, float("nan"), 2.0], box_ap=[30.0, 12.5, float("nan")])
    assert measured_vs_published(frame, zoo, "box_ap")["device_name"].tolist() == ["GPU X"]
