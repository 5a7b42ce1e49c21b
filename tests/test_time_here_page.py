"""The "Time on this machine" page in AppTest: a chosen set of models timed with progress, stored, then skipped."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explorer.benchmarks.store import MeasurementStore
from explorer.zoo.paths import REPO_ROOT
from tests.deadlines import APP_RUN_S

PAGE = "explorer/pages/time_here.py"
SSD = "torchvision:SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"
FASTER = "torchvision:FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1"


@pytest.fixture
def app(monkeypatch, tmp_path) -> AppTest:
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path))
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=APP_RUN_S)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    return at


def choose(at: AppTest) -> None:
    at.selectbox(key="time_here:zoo").set_value("torchvision").run()
    at.multiselect(key="time_here:models").set_value([SSD, FASTER])
    at.select_slider(key="time_here:size").set_value(64)
    at.selectbox(key="time_here:device").set_value("cpu")
    at.selectbox(key="time_here:weights").set_value("random")
    at.number_input(key="time_here:runs").set_value(1)
    at.number_input(key="time_here:warmup").set_value(0).run()


def test_page_times_the_chosen_models_and_then_skips_them(app: AppTest) -> None:
    assert app.button(key="time_here:run").disabled  # nothing chosen yet
    choose(app)
    app.button(key="time_here:run").click().run()
    assert not app.exception and not app.error
    stored = MeasurementStore().frame()
    assert sorted(stored["model_uid"]) == sorted([SSD, FASTER])
    assert (stored["weights_kind"] == "random").all() and stored["detections_held"].all()
    assert (stored["min_size"] == 64).all() and (stored["image_height"] == 64).all()
    timed = app.dataframe[0].value
    assert sorted(timed["uid"]) == sorted([SSD, FASTER]) and set(timed["held"]) == {"yes"}
    assert len(app.dataframe[1].value) == 2
    app.button(key="time_here:run").click().run()
    assert any("2 models were already stored" in info.value for info in app.info)
    assert len(MeasurementStore().frame()) == 2


def test_cuda_without_a_gpu_is_one_clear_error(app: AppTest) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    choose(app)
    app.selectbox(key="time_here:device").set_value("cuda")
    app.button(key="time_here:run").click().run()
    assert not app.exception
    assert "CUDA was requested but no GPU" in app.error[0].value
    assert MeasurementStore().frame().empty


def test_page_times_a_detectron2_model(monkeypatch, tmp_path) -> None:
    """A Detectron2 row (narrowed to test size by its config facts) is chosen, timed and stored like any other."""
    import json

    import streamlit as st

    from explorer.models.catalog import runnable_mask
    from explorer.views import loaders
    from explorer.zoo.table import load_zoo
    from tests.test_detectron2_downstream import SMALL_FACTS, UID

    def table():
        zoo = load_zoo()
        zoo.loc[zoo.index == UID, "config_facts"] = json.dumps(SMALL_FACTS)
        zoo["runnable"] = runnable_mask(zoo)
        return zoo

    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path))
    monkeypatch.setattr(loaders, "zoo_table", table)
    st.cache_data.clear()
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=180)
    at.switch_page(PAGE)
    at.run()
    at.selectbox(key="time_here:zoo").set_value("detectron2").run()
    at.multiselect(key="time_here:models").set_value([UID])
    at.select_slider(key="time_here:size").set_value(64)
    at.selectbox(key="time_here:device").set_value("cpu")
    at.selectbox(key="time_here:weights").set_value("random")
    at.number_input(key="time_here:runs").set_value(1)
    at.number_input(key="time_here:warmup").set_value(0).run()
    at.button(key="time_here:run").click().run()
    st.cache_data.clear()
    assert not at.exception and not at.error
    stored = MeasurementStore().frame()
    assert list(stored["model_uid"]) == [UID] and (stored["weights_kind"] == "random").all()
    assert list(at.dataframe[0].value["uid"]) == [UID]
