"""The Detections page runs a Detectron2 model (random weights): boxes and masks drawn, COCO results written."""

from __future__ import annotations

import json

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from explorer.zoo.paths import REPO_ROOT
from tests.test_detections_page import png_bytes
from tests.test_detectron2_arch import mask_fpn_row

APP = REPO_ROOT / "app.py"
PAGE = "explorer/pages/detections.py"
MODEL = "detectron2:137260431"  # Mask R-CNN R-50-FPN 1x


def _table_with_detectron2_facts():
    """The zoo table with the Mask R-50-FPN row's config facts (few detections, so random weights run fast)."""
    from explorer.models.catalog import runnable_mask
    from explorer.zoo.table import load_zoo

    table = load_zoo()
    facts = json.dumps(mask_fpn_row(detections_per_image="5"))
    table.loc[table["uid"] == MODEL, "config_facts"] = facts
    table["runnable"] = runnable_mask(table)
    return table


@pytest.fixture
def app(monkeypatch, tmp_path) -> AppTest:
    from explorer.views import loaders

    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path))
    monkeypatch.setattr(loaders, "zoo_table", _table_with_detectron2_facts)
    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    yield at
    st.cache_data.clear()


def test_a_detectron2_model_runs_on_the_detections_page(app: AppTest) -> None:
    from explorer.engine import session_runs

    app.file_uploader(key="detections:uploads").set_value([("a.png", png_bytes(), "image/png")])
    app.selectbox(key="detections:model").set_value(MODEL)
    app.radio(key="detections:weights").set_value("random")
    app.select_slider(key="detections:size").set_value(128)
    app.run()
    app.button(key="detections:run").click().run()
    assert not app.exception, app.exception
    runs = app.session_state["detections:runs"]
    assert len(runs) == 1 and runs[0].uid == MODEL
    found = runs[0].detections[0]
    assert 0 < len(found) <= 5 and found.masks is not None and found.masks.shape == (len(found), 60, 80)
    assert len(app.get("image")) == 1
    results = json.loads(session_runs.results_json(runs[0]))
    assert results and all("segmentation" in entry for entry in results)
