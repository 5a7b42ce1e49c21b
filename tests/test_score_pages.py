"""The operating-point and calibration sections in AppTest: on the Evaluation page, and on the Detections page's
evaluation, where "use the F1-optimal threshold" sets the score slider (and per-class thresholds) for drawing."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from explorer.detections import Detections
from explorer.zoo.paths import REPO_ROOT
from tests import score_cases
from tests.deadlines import APP_RUN_S

APP = REPO_ROOT / "app.py"
PAGE = "explorer/pages/evaluation.py"
JSON = "application/json"


def dumps(data: Any) -> bytes:
    return json.dumps(data).encode()


def clear_caches() -> None:
    from explorer.views import calibration_view, operating_point_view

    st.cache_data.clear()
    operating_point_view.operating_point_cached.clear()
    calibration_view.calibration_cached.clear()


@pytest.fixture
def app() -> AppTest:
    clear_caches()
    at = AppTest.from_file(str(APP), default_timeout=APP_RUN_S)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def frame_with(at: AppTest, column: str) -> Any:
    """The one table on the page with this column (AppTest finds dataframes by position, not key)."""
    frames = [frame.value for frame in at.dataframe if column in frame.value.columns]
    assert len(frames) == 1, [list(frame.value.columns) for frame in at.dataframe]
    return frames[0]


def evaluate(at: AppTest, results: list[dict[str, Any]], name: str = "results.json") -> AppTest:
    at.file_uploader(key="evaluation:gt").set_value([("instances.json", dumps(score_cases.ground_truth()), JSON)])
    at.file_uploader(key="evaluation:results").set_value([(name, dumps(results), JSON)])
    at.run()
    at.button(key="evaluation:run").click().run()
    assert not at.exception, at.exception
    return at


def test_evaluation_page_shows_both_sections(app: AppTest) -> None:
    at = evaluate(app, score_cases.results())
    assert {"Operating point", "Calibration"} <= {header.value for header in at.subheader}
    prefix = "evaluation:results.json"
    table = frame_with(at, "f1")
    pooled = table[table["category"] == "all categories"].iloc[0]
    assert (pooled["threshold"], pooled["f1"]) == (0.3, 72.7)  # 8/11, worked out in tests/test_operating_point.py
    at.radio(key=f"{prefix}:op_iou").set_value(0.75).run()
    table = frame_with(at, "f1")
    assert table[table["category"] == "a"].iloc[0]["threshold"] == 0.9
    at.selectbox(key=f"{prefix}:op_category").set_value("b").run()
    assert not at.exception, at.exception
    metrics = {metric.label: metric.value for metric in at.metric}
    assert {"ECE", "MCE", "D-ECE"} <= set(metrics)
    at.number_input(key=f"{prefix}:cal_bins").set_value(2).run()
    # 2 score bins at IoU .5: ECE (5 * .1 + 2 * .15) / 7 = 11.4 points
    assert {metric.label: metric.value for metric in at.metric}["ECE"] == "11.4"
    cal = frame_with(at, "d_ece")
    assert list(cal["category"]) == ["all categories", "a", "b"]


def test_widgets_redraw_without_matching_again(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    from explorer.views import operating_point_view

    calls: list[tuple[float, ...]] = []
    real = operating_point_view.score_detections

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(tuple(args[3]))
        return real(*args, **kwargs)

    monkeypatch.setattr(operating_point_view, "score_detections", counting)
    at = evaluate(app, score_cases.results())
    assert calls == [(0.5, 0.75)]  # both sections read one matching
    prefix = "evaluation:results.json"
    at.selectbox(key=f"{prefix}:op_category").set_value("a").run()
    at.radio(key=f"{prefix}:cal_iou").set_value(0.75).run()
    at.number_input(key=f"{prefix}:cal_dbins").set_value(3).run()
    assert calls == [(0.5, 0.75)]
    at.select_slider(key=f"{prefix}:score_iou").set_value(0.9).run()
    assert not at.exception, at.exception
    assert calls == [(0.5, 0.75), (0.5, 0.9)]
    assert at.radio(key=f"{prefix}:op_iou").options == ["0.50", "0.90"]


def test_scores_above_one_break_calibration_only(app: AppTest) -> None:
    results = score_cases.results()
    results[0]["score"] = 2.5
    at = evaluate(app, results, "logits.json")
    errors = [error.value for error in at.error]
    assert any(e.startswith("Calibration: logits.json[0]: score 2.5 is above 1") for e in errors), errors
    assert not any(e.startswith("Operating point") for e in errors)
    assert frame_with(at, "f1")["threshold"].notna().all()


# ---- the Detections page --------------------------------------------------------------------------------------

class FakeImage:
    def __init__(self, name: str) -> None:
        self.name = name


class FakeRun:
    def __init__(self, name: str, uid: str, detections: list[Detections]) -> None:
        self.name, self.uid, self.detections = name, uid, detections


def hand_made_detections() -> Detections:
    """score_cases.results() as a model's output on its one image (boxes as x1, y1, x2, y2, classes by name)."""
    results = score_cases.results()
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (r["bbox"] for r in results)], np.float32)
    return Detections(width=200, height=100, boxes=boxes, scores=np.array([r["score"] for r in results], np.float32),
                      labels=np.array([r["category_id"] for r in results], np.int64),
                      names=["a" if r["category_id"] == 1 else "b" for r in results])


def detections_script() -> None:
    """What the Detections page does after a run: the drawing options, then the evaluation panel."""
    import streamlit as st

    from explorer.pages import detections
    from explorer.views.eval_views import render_annotations_panel

    st.session_state["options"] = detections._render_options(st.session_state["runs"])
    render_annotations_panel(st.session_state["images"], st.session_state["runs"], "detections:eval",
                             use_thresholds=detections.use_thresholds)


def test_detections_page_uses_the_f1_optimal_thresholds() -> None:
    clear_caches()
    at = AppTest.from_function(detections_script, default_timeout=APP_RUN_S)
    at.session_state["images"] = [FakeImage("one.jpg")]
    at.session_state["runs"] = [FakeRun("hand-made", "fake:hand", [hand_made_detections()])]
    at.run()
    at.file_uploader(key="detections:eval:annotations").set_value(
        [("instances.json", dumps(score_cases.ground_truth()), JSON)]).run()
    assert not at.exception, at.exception
    assert at.slider(key="detections:score").value == 0.5
    prefix = "detections:eval:fake:hand:bbox"
    at.button(key=f"{prefix}:op_use").click().run()
    assert not at.exception, at.exception
    assert at.slider(key="detections:score").value == pytest.approx(0.3)  # the pooled optimum at IoU .5
    options = at.session_state["options"]
    assert options.score_thresh == pytest.approx(0.3) and options.class_thresholds is None
    # per class: a from .3, b from .5; drawing keeps b's .4 detection out, a's .3 one in
    at.button(key=f"{prefix}:op_use_class").click().run()
    assert not at.exception, at.exception
    assert at.toggle(key="detections:per_class").value is True
    assert not at.warning  # the slider and toggle take session-state values without Streamlit's double-set warning
    options = at.session_state["options"]
    assert options.class_thresholds == pytest.approx({"a": 0.3, "b": 0.5})
    kept = hand_made_detections().keep_mask(options.score_thresh, None, options.class_thresholds)
    assert kept.tolist() == [True, True, True, True, True, True, True, False]
    at.toggle(key="detections:per_class").set_value(False).run()
    assert at.session_state["options"].class_thresholds is None
