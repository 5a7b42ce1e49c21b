"""The Evaluation page and the Detections page's annotations panel, in AppTest, on generated COCO data."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import streamlit as st
from pycocotools import mask as mask_utils
from streamlit.testing.v1 import AppTest

from explorer.detections import Detections
from explorer.evaluation.coco import pipeline
from explorer.evaluation.coco.results import CATEGORY_COLUMNS
from explorer.zoo.paths import REPO_ROOT
from tests.coco_factory import make_ground_truth, perfect_results, segmentation_rle
from tests.deadlines import APP_RUN_S

APP = REPO_ROOT / "app.py"
PAGE = "explorer/pages/evaluation.py"
JSON = "application/json"


def dumps(data: Any) -> bytes:
    return json.dumps(data).encode()


@pytest.fixture(scope="module")
def gt() -> dict[str, Any]:
    return make_ground_truth(n_images=6, seed=5)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every evaluation run (pipeline.run_request, by results name), with the evaluation caches emptied first."""
    seen: list[str] = []
    real = pipeline.run_request

    def counting(request: Any, progress: Any = None) -> Any:
        seen.append(request.options.results_name or "?")
        return real(request, progress)

    from explorer.views import eval_views

    st.cache_data.clear()
    eval_views.evaluation_task.clear()  # evaluations are kept (as tasks) in st.cache_resource
    monkeypatch.setattr(pipeline, "run_request", counting)
    return seen


@pytest.fixture
def app(calls: list[str]) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=APP_RUN_S)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, gt: dict[str, Any], results: list[tuple[str, bytes]]) -> AppTest:
    at.file_uploader(key="evaluation:gt").set_value([("instances_test.json", dumps(gt), JSON)])
    at.file_uploader(key="evaluation:results").set_value([(name, data, JSON) for name, data in results])
    at.run()
    at.button(key="evaluation:run").click().run()
    assert not at.exception, at.exception
    return at


def metric_values(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def test_page_asks_for_files_first(app: AppTest) -> None:
    assert any("Upload an annotation file" in info.value for info in app.info)
    assert app.button(key="evaluation:run").disabled


def test_perfect_results_give_ap_100_and_the_cli_csv(app: AppTest, gt: dict[str, Any], calls: list[str]) -> None:
    upload(app, gt, [("perfect.json", dumps(perfect_results(gt)))])
    assert calls == ["perfect.json"]
    assert metric_values(app)["AP"] == "100.0" and metric_values(app)["AP50"] == "100.0"
    assert any("Average Precision" in code.value for code in app.code)
    buttons = [b for b in app.get("download_button") if b.proto.label == "Per-category CSV"]
    assert len(buttons) == 1
    table = app.dataframe[0].value
    assert tuple(table.columns) == CATEGORY_COLUMNS
    text = table.to_csv(index=False)
    header = next(csv.reader(io.StringIO(text)))
    assert header == list(CATEGORY_COLUMNS)
    rows = {row["category"]: row for row in csv.DictReader(io.StringIO(text))}
    assert rows["person"]["ap"] == "100.0" and rows["toothbrush"]["ap"] == ""  # absent: empty, not 0


def test_chart_options_do_not_evaluate_again(app: AppTest, gt: dict[str, Any], calls: list[str]) -> None:
    upload(app, gt, [("perfect.json", dumps(perfect_results(gt)))])
    assert calls == ["perfect.json"]
    prefix = "evaluation:perfect.json"
    iou = app.selectbox(key=f"{prefix}:pr_iou")
    iou.select_index(iou.options.index("0.75")).run()
    assert app.selectbox(key=f"{prefix}:pr_iou").value == pytest.approx(0.75)
    app.multiselect(key=f"{prefix}:pr_categories").set_value([1]).run()
    app.selectbox(key=f"{prefix}:metric").set_value("ap50").run()
    assert not app.exception, app.exception
    assert calls == ["perfect.json"]
    assert metric_values(app)["AP"] == "100.0"


def test_two_files_heatmap_and_difference(app: AppTest, gt: dict[str, Any], calls: list[str]) -> None:
    no_cats = [r for r in perfect_results(gt) if r["category_id"] != 17]
    upload(app, gt, [("perfect.json", dumps(perfect_results(gt))), ("no_cats.json", dumps(no_cats))])
    assert sorted(calls) == ["no_cats.json", "perfect.json"]
    assert app.selectbox(key="evaluation:shown").value == "perfect.json"
    headers = [h.value for h in app.header] + [h.value for h in app.subheader]
    assert "Compare results files" in headers and "Difference between two models" in headers
    assert app.selectbox(key="evaluation:diff_a").value == "perfect.json"
    assert app.selectbox(key="evaluation:diff_b").value == "no_cats.json"
    diff = next(d.value for d in app.dataframe if "difference" in d.value.columns)  # AP's, before TIDE's
    assert diff.iloc[0]["category"] == "cat" and diff.iloc[0]["difference"] == pytest.approx(100.0)
    app.selectbox(key="evaluation:shown").set_value("no_cats.json").run()
    assert metric_values(app)["AP"] != "100.0"
    assert sorted(calls) == ["no_cats.json", "perfect.json"]  # switching files redraws only


@pytest.mark.parametrize(("name", "data", "message"), [
    ("broken.json", b"{not json", "broken.json"),
    ("other.json", None, "image"),  # results for another dataset: unknown image ids
    ("empty.json", b"[]", "no detections"),
])
def test_bad_file_is_named_and_the_good_one_still_evaluates(app: AppTest, gt: dict[str, Any], name: str,
                                                            data: bytes | None, message: str) -> None:
    if data is None:
        data = dumps([dict(r, image_id=r["image_id"] + 99991) for r in perfect_results(gt)])
    upload(app, gt, [(name, data), ("perfect.json", dumps(perfect_results(gt)))])
    errors = [e.value for e in app.error]
    assert len(errors) == 1 and errors[0].startswith(f"{name}:") and message in errors[0].lower()
    assert metric_values(app)["AP"] == "100.0"


def test_segm_without_segmentation_is_reported(app: AppTest, gt: dict[str, Any]) -> None:
    app.radio(key="evaluation:iou_type").set_value("segm")
    upload(app, gt, [("boxes.json", dumps(perfect_results(gt)))])
    assert any("segmentation" in e.value for e in app.error)


def test_error_breakdown_tab(app: AppTest, gt: dict[str, Any]) -> None:
    app.checkbox(key="evaluation:analysis").check()
    upload(app, gt, [("perfect.json", dumps(perfect_results(gt)))])
    assert app.selectbox(key="evaluation:perfect.json:bd_category").value is None
    assert "Error breakdown" in [tab.label for tab in app.tabs]


# ---- the Detections page's panel ---------------------------------------------------------------------------

@dataclass
class FakeImage:
    name: str


@dataclass
class FakeRun:
    name: str
    uid: str
    detections: list[Detections]


def perfect_detections(gt: dict[str, Any], image: dict[str, Any], masks: bool = False) -> Detections:
    """Boxes (and, with `masks`, masks) exactly on the image's (non-crowd) objects: AP 100 against `gt`."""
    anns = [a for a in gt["annotations"] if a["image_id"] == image["id"] and not a["iscrowd"]]
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], np.float32)
    found = None
    if masks:
        found = np.stack([mask_utils.decode(segmentation_rle(a, image)).astype(bool) for a in anns])
    return Detections(width=image["width"], height=image["height"], boxes=boxes.reshape(-1, 4),
                      scores=np.linspace(0.9, 0.5, len(anns)).astype(np.float32),
                      labels=np.array([a["category_id"] for a in anns], np.int64), names=["x"] * len(anns),
                      masks=found)


def panel_script() -> None:
    import streamlit as st

    from explorer.views.eval_views import render_annotations_panel

    render_annotations_panel(st.session_state["images"], st.session_state["runs"], "detections:eval")


def test_annotations_panel_with_fake_runs(gt: dict[str, Any], calls: list[str]) -> None:
    uploaded = gt["images"][:3]  # three of six annotated images, plus one without annotations
    images = [FakeImage(image["file_name"]) for image in uploaded] + [FakeImage("holiday.jpg")]
    perfect = FakeRun("perfect model", "fake:perfect",
                      [perfect_detections(gt, image) for image in uploaded] + [perfect_detections(gt, uploaded[0])])
    at = AppTest.from_function(panel_script, default_timeout=APP_RUN_S)
    at.session_state["images"] = images
    at.session_state["runs"] = [perfect]
    at.run()
    assert not at.exception, at.exception
    assert any("Upload the annotation file" in caption.value for caption in at.caption)
    at.file_uploader(key="detections:eval:annotations").set_value([("instances.json", dumps(gt), JSON)]).run()
    assert not at.exception, at.exception
    assert any(s.value.startswith("3 uploaded images matched") for s in at.success)
    assert any("holiday.jpg" in w.value for w in at.warning)
    assert any("3 of the 6 annotated images were not uploaded" in i.value for i in at.info)
    assert {m.label: m.value for m in at.metric}["AP"] == "100.0"  # the other three images do not count as missed
    assert at.radio(key="detections:eval:fake:perfect:iou_type").options == ["boxes (bbox)"]
    assert calls == ["fake:perfect.json"]
    at.selectbox(key="detections:eval:fake:perfect:bbox:pr_iou").select_index(8).run()
    assert at.selectbox(key="detections:eval:fake:perfect:bbox:pr_iou").value == pytest.approx(0.9)
    assert calls == ["fake:perfect.json"]


def test_annotations_panel_bad_annotations(calls: list[str]) -> None:
    at = AppTest.from_function(panel_script, default_timeout=APP_RUN_S)
    at.session_state["images"] = [FakeImage("a.jpg")]
    at.session_state["runs"] = []
    at.run()
    at.file_uploader(key="detections:eval:annotations").set_value([("instances.json", b"[1, 2]", JSON)]).run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "instances.json" in at.error[0].value


def test_annotations_panel_evaluates_masks_per_run(gt: dict[str, Any], calls: list[str]) -> None:
    uploaded = gt["images"][1:4]
    boxes = FakeRun("boxes only", "fake:boxes", [perfect_detections(gt, image) for image in uploaded])
    masked = FakeRun("with masks", "fake:masks", [perfect_detections(gt, image, masks=True) for image in uploaded])
    at = AppTest.from_function(panel_script, default_timeout=APP_RUN_S)
    at.session_state["images"] = [FakeImage(image["file_name"]) for image in uploaded]
    at.session_state["runs"] = [boxes, masked]
    at.run()
    at.file_uploader(key="detections:eval:annotations").set_value([("instances.json", dumps(gt), JSON)]).run()
    assert not at.exception, at.exception
    assert at.radio(key="detections:eval:fake:masks:iou_type").options == ["boxes (bbox)", "masks (segm)"]
    at.radio(key="detections:eval:fake:masks:iou_type").set_value("segm").run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric if m.label == "AP"] == ["100.0", "100.0"]
    assert any(" · segm · " in caption.value for caption in at.caption)
    assert sorted(calls) == ["fake:boxes.json", "fake:masks.json", "fake:masks.json"]  # bbox, then segm once
