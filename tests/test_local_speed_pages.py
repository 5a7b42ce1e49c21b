"""The pages with speeds measured here and projected for here (a seeded store), and the scope choice."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from explorer.benchmarks.store import MeasurementStore
from explorer.benchmarks.timing import BenchmarkResult
from explorer.zoo.paths import REPO_ROOT
from explorer.zoo.table import load_zoo
from tests.deadlines import APP_RUN_S

DEVICE = "Seeded CPU (2 cores)"
#: Four Detectron end-to-end models measured here: enough to project the rest of Detectron's table.
MEASURED = {"detectron:35857197": 0.41, "detectron:35857345": 0.38, "detectron:35857389": 0.40,
            "detectron:35858933": 0.52, "torchvision:FasterRCNN_ResNet50_FPN_Weights.COCO_V1": 0.45}


def seed_store() -> None:
    store = MeasurementStore()
    for uid, median in MEASURED.items():
        store.add(BenchmarkResult(model_uid=uid, model_name=uid, device="cpu", device_name=DEVICE,
                                  image_width=320, image_height=240, min_size=240, batch_size=1, runs=3, warmup=1,
                                  median_s=median, p10_s=median, p90_s=median, mean_s=median, stdev_s=0.0,
                                  autocast="fp32", weights="random", torch_version="t", torchvision_version="v"))


@pytest.fixture
def seeded() -> Any:
    st.cache_data.clear()  # the pages cache the store for 10 s; a test must see its own store
    st.cache_resource.clear()
    seed_store()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=APP_RUN_S)
    at.switch_page(f"explorer/pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def spec(at: AppTest) -> dict[str, Any]:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def model_traces(figure: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in figure["data"] if t.get("meta", {}).get("role") == "models"]


def test_pick_page_ranks_projected_speeds_as_one_list(seeded: None) -> None:
    at = open_page("pick_model")
    at.selectbox(key="pick_speed").set_value("projected").run()
    assert not at.exception
    (banner,) = list(at.success)
    assert banner.value.startswith("Comparing box AP over all COCO categories. Timed on this machine "
                                   f"({DEVICE}, 320×240, batch 1, fp32, random weights)")
    view = at.dataframe[0].value
    assert list(view["rank"]) == list(range(1, len(view) + 1))  # one machine: one ranking across zoos
    assert set(view["speed_source"]) == {"measured", "projected"}
    assert set(view["zoo"]) == {"detectron", "torchvision"}
    measured = view[view["speed_source"] == "measured"]
    assert len(measured) == 5
    projected = view[view["speed_source"] == "projected"]
    assert (projected["projection_n"] == 4).all() and (projected["zoo"] == "detectron").all()
    assert any("Measured on:" in c.value for c in at.caption)
    at.selectbox(key="pick_speed").set_value("measured").run()
    assert set(at.dataframe[0].value["speed_source"]) == {"measured"} and len(at.dataframe[0].value) == 5


def test_pick_page_defaults_and_scope_choice(seeded: None) -> None:
    at = open_page("pick_model")
    view = at.dataframe[0].value
    assert set(view["metric_scope"]) == {"coco"} and set(view["speed_source"]) == {"published"}
    assert "infer_s_e2e" in view.columns  # end to end by default
    for timing, rows in view.groupby("timing"):
        assert list(rows["rank"]) == list(range(1, len(rows) + 1)), timing  # ranks restart per hardware
    at.radio(key="pick_scope").set_value("person").run()
    person = at.dataframe[0].value
    assert set(person["metric_scope"]) == {"person"}
    assert at.success[0].value.startswith("Comparing box AP over the person category only.")


def test_speed_page_plots_measured_solid_and_projected_hollow(seeded: None) -> None:
    at = open_page("speed_accuracy")
    at.selectbox(key="speed_x").set_value("projected_s").run()
    assert not at.exception
    figure = spec(at)
    traces = model_traces(figure)
    kinds = {t["meta"]["speed_source"] for t in traces}
    assert kinds == {"measured", "projected"}
    for trace in traces:
        symbols = trace["marker"]["symbol"]
        hollow = all(s.endswith("-open") for s in symbols)
        assert hollow == (trace["meta"]["speed_source"] == "projected")
        assert ("error_x" in trace) == hollow
    measured = {d[0] for t in traces if t["meta"]["speed_source"] == "measured" for d in t["customdata"]}
    assert measured == set(MEASURED)
    assert DEVICE in figure["layout"]["title"]["text"]
    fronts = [t for t in figure["data"] if t.get("meta", {}).get("role") == "frontier"]
    assert len(fronts) == 1  # every time is for this machine: one frontier across zoos


def test_speed_page_both_scopes_apart_with_person_legend(seeded: None) -> None:
    at = open_page("speed_accuracy")
    at.radio(key="speed_scope").set_value("both").run()
    figure = spec(at)
    zoo = load_zoo()
    person = [t for t in model_traces(figure) if t["meta"]["scope"] == "person"]
    assert person and all("person only" in t["name"] for t in person)
    assert all(zoo.loc[[d[0] for d in t["customdata"]], "metric_scope"].eq("person").all() for t in person)
    person_fronts = [t for t in figure["data"] if t.get("meta", {}).get("role") == "frontier"
                     and t["meta"]["scope"] == "person"]
    assert person_fronts and all(t["name"].endswith("(person only)") for t in person_fronts)


def test_schedules_page_compares_one_scope(seeded: None) -> None:
    at = open_page("schedules")
    coco = at.dataframe[0].value
    at.radio(key="sched_scope").set_value("person").run()
    person = at.dataframe[0].value
    assert set(coco["metric_scope"]) == {"coco"} and set(person["metric_scope"]) == {"person"}
    assert isinstance(person, pd.DataFrame) and set(person["type"]) <= {"Kps", "RPN"}
