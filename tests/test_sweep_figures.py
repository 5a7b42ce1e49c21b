"""The Sweeps page's measured-vs-published plot, from a summary table (no Ray needed)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from explorer.figures.sweep import sweep_accuracy_figure
from explorer.sweep.summary import measured_vs_published
from explorer.zoo.table import load_zoo
from tests.test_sweep_summary import summary


@pytest.fixture(scope="module")
def zoo() -> pd.DataFrame:
    return load_zoo()


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
