"""The confusion-matrix section in AppTest: on the Evaluation page (with optional image uploads, matched and
checked against the annotations) and in the Detections page's evaluation panel (with the uploaded images)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.detections import Detections
from explorer.zoo.paths import REPO_ROOT
from tests.coco_factory import make_ground_truth
from tests.test_evaluation_confusion import GT, RESULTS

APP = REPO_ROOT / "app.py"
PAGE = "explorer/pages/evaluation.py"
JSON = "application/json"
PREFIX = "evaluation:results.json"


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def app() -> AppTest:
    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.switch_page(PAGE)
    at.run()
    at.file_uploader(key="evaluation:gt").set_value([("gt.json", json.dumps(GT).encode(), JSON)])
    at.file_uploader(key="evaluation:results").set_value([("results.json", json.dumps(RESULTS).encode(), JSON)])
    at.run()
    at.button(key="evaluation:run").click().run()
    assert not at.exception, at.exception
    return at


def pick(at: AppTest, row: str, column: str) -> AppTest:
    at.selectbox(key=f"{PREFIX}:cm_row").set_value(row)
    at.selectbox(key=f"{PREFIX}:cm_column").set_value(column)
    return at.run()


def test_section_lists_the_detections_behind_a_cell(app: AppTest) -> None:
    assert "Confusion matrix" in [h.value for h in app.subheader]
    assert app.toggle(key=f"{PREFIX}:cm_normalise").value is False
    pick(app, "dog", "cat")
    assert not app.exception, app.exception
    assert any("**1** item(s) with ground truth **dog** and prediction **cat**" in m.value for m in app.markdown)
    listed = app.dataframe[-1].value
    assert listed["detection"].tolist() == [2] and listed["file_name"].tolist() == ["one.jpg"]


def test_thresholds_recount_and_normalising_only_redraws(app: AppTest) -> None:
    pick(app, "dog", "dog")
    assert any("**1** item(s)" in m.value for m in app.markdown)
    app.slider(key=f"{PREFIX}:cm_iou").set_value(0.7).run()
    assert not app.exception, app.exception
    assert any("**0** item(s) with ground truth **dog** and prediction **dog**" in m.value for m in app.markdown)
    app.toggle(key=f"{PREFIX}:cm_normalise").set_value(True).run()
    assert not app.exception, app.exception
    app.slider(key=f"{PREFIX}:cm_score").set_value(0.1).run()
    pick(app, "cat", "bird")
    assert app.dataframe[-1].value["score"].tolist() == [0.2]


def test_uploaded_images_are_drawn_and_mismatches_named(app: AppTest) -> None:
    pick(app, "dog", "cat")
    uploader = app.file_uploader(key=f"{PREFIX}:cm_images")
    uploader.set_value([("one.jpg", png(200, 200), "image/png"), ("holiday.png", png(50, 50), "image/png")]).run()
    assert not app.exception, app.exception
    assert any("1 uploaded image(s) are not in the annotation file's images, first holiday.png" in w.value
               for w in app.warning)
    assert len(app.get("image")) == 1
    app.file_uploader(key=f"{PREFIX}:cm_images").set_value([("one.jpg", png(100, 80), "image/png")]).run()
    assert any("first one.jpg is 100×80 but the annotations say 200×200" in w.value for w in app.warning)
    assert len(app.get("image")) == 0


def test_keypoints_have_no_matrix() -> None:
    st.cache_data.clear()
    people = make_ground_truth(3, seed=2, keypoints=True)
    results = [{"image_id": a["image_id"], "category_id": 1, "score": 0.9, "keypoints": a["keypoints"]}
               for a in people["annotations"] if a.get("num_keypoints", 0) > 0]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.switch_page(PAGE)
    at.run()
    at.radio(key="evaluation:iou_type").set_value("keypoints")
    at.file_uploader(key="evaluation:gt").set_value([("people.json", json.dumps(people).encode(), JSON)])
    at.file_uploader(key="evaluation:results").set_value([("results.json", json.dumps(results).encode(), JSON)])
    at.run()
    at.button(key="evaluation:run").click().run()
    assert not at.exception, at.exception
    assert any("No confusion matrix for keypoints" in c.value for c in at.caption)


# ---- the Detections page's panel ---------------------------------------------------------------------------

@dataclass
class FakeImage:
    name: str
    rgb: np.ndarray


@dataclass
class FakeRun:
    name: str
    uid: str
    detections: list[Detections]


def panel_script() -> None:
    import streamlit as st

    from explorer.views.eval_views import render_annotations_panel

    render_annotations_panel(st.session_state["images"], st.session_state["runs"], "detections:eval")


def test_detections_panel_draws_the_cell_on_the_uploaded_image() -> None:
    st.cache_data.clear()
    boxes = np.array([[10, 10, 50, 50], [100, 10, 140, 50]], np.float32)  # A as a cat, B (a dog) as a cat
    found = Detections(width=200, height=200, boxes=boxes, scores=np.array([0.9, 0.8], np.float32),
                       labels=np.array([1, 1], np.int64), names=["cat", "cat"])
    at = AppTest.from_function(panel_script, default_timeout=60)
    at.session_state["images"] = [FakeImage("one.jpg", np.zeros((200, 200, 3), np.uint8))]
    at.session_state["runs"] = [FakeRun("model", "fake:m", [found])]
    at.run()
    at.file_uploader(key="detections:eval:annotations").set_value([("gt.json", json.dumps(GT).encode(), JSON)]).run()
    assert not at.exception, at.exception
    prefix = "detections:eval:fake:m:bbox"
    drawn_before = len(at.get("image"))  # the ground-truth section above draws its own image too
    at.selectbox(key=f"{prefix}:cm_row").set_value("dog")
    at.selectbox(key=f"{prefix}:cm_column").set_value("cat")
    at.run()
    assert not at.exception, at.exception
    assert at.dataframe[-1].value["annotation"].tolist() == [1]
    assert len(at.get("image")) == drawn_before + 1
