"""The "Keypoint errors" section in AppTest: on the Evaluation page (with the error analysis switched on) and in
the Detections page's annotations panel (for a keypoints evaluation), on the hand-made people of
tests/test_keypoint_errors.py: one detection with its left ankle far off (a miss), one exact."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from explorer.detections import Detections
from explorer.evaluation.analyses.keypoint_errors import analyse_keypoint_errors
from explorer.figures.keypoints import ap_gain_figure, error_share_figure, keypoint_heatmap_figure
from explorer.zoo.paths import REPO_ROOT
from tests.deadlines import APP_RUN_S
from tests.test_evaluation_page import FakeImage, FakeRun, panel_script
from tests.test_keypoint_errors import ANIMAL, ANIMAL_SIGMAS, NAMES, detection, people_gt, person_points

APP = REPO_ROOT / "app.py"
PAGE = "explorer/pages/evaluation.py"
JSON = "application/json"
KEY = "evaluation:dets.json"


def miss_points() -> list[tuple[float, float]]:
    points = person_points(50)
    points[NAMES.index("left_ankle")] = (300.0, 390.0)
    return points


@pytest.fixture
def files() -> tuple[bytes, bytes]:
    st.cache_data.clear()
    return (json.dumps(people_gt()).encode(),
            json.dumps([detection(miss_points()), detection(person_points(450), 0.8)]).encode())


def table_with(at: AppTest, column: str) -> Any:
    """The one dataframe on the page with this column (dataframes have no key in AppTest's tree)."""
    found = [frame.value for frame in at.dataframe if column in frame.value.columns]
    assert len(found) == 1, [list(frame.value.columns) for frame in at.dataframe]
    return found[0]


def evaluation_page(files: tuple[bytes, bytes], analysis: bool) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=APP_RUN_S)
    at.switch_page(PAGE)
    at.run()
    at.file_uploader(key="evaluation:gt").set_value([("people.json", files[0], JSON)])
    at.file_uploader(key="evaluation:results").set_value([("dets.json", files[1], JSON)])
    at.radio(key="evaluation:iou_type").set_value("keypoints")
    if analysis:
        at.checkbox(key="evaluation:analysis").check()
    at.run()
    at.button(key="evaluation:run").click().run()
    assert not at.exception, at.exception
    return at


def test_evaluation_page_shows_the_keypoint_errors_section(files) -> None:
    at = evaluation_page(files, analysis=True)
    assert "Keypoint errors" in [tab.label for tab in at.tabs]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["good"] == "97.1%" and metrics["miss"] == "2.9%" and metrics["swap"] == "0.0%"
    ap_table = table_with(at, "OKS AP").set_index("keypoints")
    assert ap_table.loc["misses corrected", "OKS AP"] == "100.0"
    assert ap_table.loc["swaps corrected", "gain (points)"] == "+0.0"
    per_keypoint = table_with(at, "labelled").set_index("keypoint")
    assert per_keypoint.loc["left_ankle", "miss"] == 50.0
    at.toggle(key=f"{KEY}:kpt_pct").set_value(False).run()
    assert table_with(at, "labelled").set_index("keypoint").loc["left_ankle", "miss"] == 1
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Keypoint errors CSV" in labels


def test_without_the_analysis_there_is_no_keypoint_section(files) -> None:
    at = evaluation_page(files, analysis=False)
    assert "Keypoint errors" not in [tab.label for tab in at.tabs]
    assert {m.label for m in at.metric} >= {"AP", "AP50"}


def test_figures_show_gains_and_the_failing_joint() -> None:
    errors = analyse_keypoint_errors(people_gt(), [detection(miss_points()), detection(person_points(450), 0.8)])
    gains = ap_gain_figure(errors).data[0]
    assert gains.x[0] == "misses corrected"
    assert gains.y[0] == pytest.approx(100 * (1 - (9 + 0.5 * 51 / 101) / 10))
    assert all(v == 0 for v in gains.y[1:4])
    heat = keypoint_heatmap_figure(errors).data[0]
    assert list(heat.y) == NAMES and list(heat.x) == ["good", "jitter", "inversion", "swap", "miss"]
    assert heat.z[NAMES.index("left_ankle")][4] == 50.0
    shares = {bar.name: bar.x[0] for bar in error_share_figure(errors).data}
    assert shares["miss"] == pytest.approx(100 / 34)


def test_detections_panel_has_the_section_for_keypoints() -> None:
    st.cache_data.clear()
    gt = people_gt()
    image = gt["images"][0]
    points = np.array([miss_points(), person_points(450)], np.float32)
    boxes = np.array([[40, 40, 260, 260], [440, 40, 660, 260]], np.float32)
    found = Detections(width=image["width"], height=image["height"], boxes=boxes, scores=np.array([0.9, 0.8]),
                       labels=np.array([1, 1]), names=["person", "person"], keypoints=points)
    at = AppTest.from_function(panel_script, default_timeout=APP_RUN_S)
    at.session_state["images"] = [FakeImage(image["file_name"])]
    at.session_state["runs"] = [FakeRun("pose model", "fake:pose", [found])]
    at.run()
    at.file_uploader(key="detections:eval:annotations").set_value([("people.json", json.dumps(gt).encode(),
                                                                    JSON)]).run()
    assert not at.exception, at.exception
    at.radio(key="detections:eval:fake:pose:iou_type").set_value("keypoints").run()
    assert not at.exception, at.exception
    assert "Keypoint errors" in [tab.label for tab in at.tabs]
    assert {m.label: m.value for m in at.metric}["miss"] == "2.9%"


def test_custom_keypoints_with_sigmas_typed_on_the_page() -> None:
    st.cache_data.clear()
    points = person_points(50, n=6)
    points[1], points[2] = points[2], points[1]  # the ears confused
    files = (json.dumps(people_gt(ANIMAL, n=6)).encode(), json.dumps([detection(points, category_id=7)]).encode())
    at = AppTest.from_file(str(APP), default_timeout=APP_RUN_S)
    at.switch_page(PAGE)
    at.run()
    at.radio(key="evaluation:iou_type").set_value("keypoints").run()
    at.text_input(key="evaluation:kpt_sigmas").input("0.03,0.04,x").run()
    assert any("value 3 'x' is not a number" in e.value for e in at.error)
    at.text_input(key="evaluation:kpt_sigmas").input(",".join(map(str, ANIMAL_SIGMAS)))
    at.file_uploader(key="evaluation:gt").set_value([("animals.json", files[0], JSON)])
    at.file_uploader(key="evaluation:results").set_value([("dets.json", files[1], JSON)])
    at.checkbox(key="evaluation:analysis").check()
    at.run()
    at.button(key="evaluation:run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["inversion"] == "33.3%"
    assert table_with(at, "labelled").set_index("keypoint").loc["l_ear", "inversion"] == 100.0
