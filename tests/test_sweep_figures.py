"""The Sweeps page's measured-vs-published plot, from a summary table (no Ray needed)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from explorer.figures.sweep import evaluated_metrics, measured_vs_published, sweep_accuracy_figure
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


def test_only_measured_metrics_are_offered(zoo: pd.DataFrame) -> None:
    assert evaluated_metrics(summary()) == ["box_ap"]
    assert evaluated_metrics(summary().assign(box_ap=float("nan"))) == []


def test_pairs_put_each_measurement_beside_its_published_numbers(zoo: pd.DataFrame) -> None:
    pairs = measured_vs_published(summary(), zoo, "box_ap")
    assert len(pairs) == 3
    first = pairs.iloc[0]
    assert first["published_ap"] == zoo.loc["detectron:35857345", "box_ap"]
    assert first["published_s"] == zoo.loc["detectron:35857345", "infer_s"] and first["published_hardware"] == "P100"
    assert first["measured_ap"] == 30.0 and first["measured_s"] == 0.05


def test_figure_joins_each_model_to_its_published_point(zoo: pd.DataFrame) -> None:
    pairs = measured_vs_published(summary(), zoo, "box_ap")
    figure = sweep_accuracy_figure(pairs, "box_ap")
    roles = [trace.meta["role"] for trace in figure.data]
    published_known = pairs["published_s"].notna() & pairs["published_ap"].notna()
    assert roles.count("link") == int(published_known.sum())
    measured = next(trace for trace in figure.data if trace.meta["role"] == "measured")
    assert list(measured.y) == [30.0, 12.5, 30.0] and list(measured.x) == [0.05, 0.01, 2.0]
    published = next(trace for trace in figure.data if trace.meta["role"] == "published")
    assert all(not math.isnan(value) for value in published.y)
    assert figure.layout.xaxis.type == "log" and figure.layout.yaxis.title.text == "box AP"
