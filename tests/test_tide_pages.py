"""AppTest of the TIDE and ground-truth sections on the Evaluation page and the Detections page's evaluation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.evaluation.analyses.tide import tide
from explorer.zoo.paths import REPO_ROOT
from tests.coco_factory import make_ground_truth, perfect_results
from tests.test_evaluation_page import FakeRun, perfect_detections
from tests.test_tide_reference import noisy_results

APP = REPO_ROOT / "app.py"
PAGE = "explorer/pages/evaluation.py"
JSON = "application/json"


def dumps(data: Any) -> bytes:
    return json.dumps(data).encode()


@pytest.fixture(scope="module")
def gt() -> dict[str, Any]:
    return make_ground_truth(n_images=6, seed=5)


@pytest.fixture
def app() -> AppTest:
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=90)
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


def frame_by_key(at: AppTest, key: str) -> Any:
    """A dataframe by its key (AppTest knows the keys of selectable tables only)."""
    found = [d for d in at.dataframe if getattr(d, "key", None) == key]
    assert found, f"no dataframe {key}"
    return found[0].value


def frame_with(at: AppTest, *columns: str) -> Any:
    """The first dataframe having these columns."""
    found = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]
    assert found, f"no dataframe with {columns}"
    return found[0]


def test_tide_section_numbers_are_the_librarys(app: AppTest, gt: dict[str, Any]) -> None:
    noisy = noisy_results(gt, seed=2)
    upload(app, gt, [("noisy.json", dumps(noisy))])
    assert "TIDE error types" in [h.value for h in app.subheader]
    table = frame_with(app, "cls", "false_neg")
    expected = tide(gt, noisy, "bbox").category_frame().round(2)
    assert list(table.columns) == list(expected.columns)
    assert table["cls"].tolist() == pytest.approx(expected["cls"].tolist(), nan_ok=True)
    assert any(b.proto.label == "TIDE CSV" for b in app.get("download_button"))
    app.selectbox(key="evaluation:noisy.json:tide_category").set_value("person").run()
    assert not app.exception, app.exception


def test_per_image_table_without_images_says_how_to_get_them(app: AppTest, gt: dict[str, Any]) -> None:
    results = [r for r in perfect_results(gt) if r["image_id"] != gt["images"][2]["id"]]  # one image not found
    upload(app, gt, [("partial.json", dumps(results))])
    table = frame_by_key(app, "evaluation:partial.json:per_image")
    assert list(table.columns[:7]) == ["image_id", "file_name", "ap", "tp", "fp", "fn", "worst_error"]
    assert table["image_id"].iloc[0] == gt["images"][2]["id"]  # the worst image first
    assert table["ap"].iloc[0] == 0 and table["worst_error"].iloc[0] == "miss"
    assert any("upload the images" in i.value.lower() for i in app.info)


def write_images(folder: Path, gt: dict[str, Any]) -> None:
    for image in gt["images"]:
        Image.new("RGB", (image["width"], image["height"]), (30, 30, 30)).save(folder / image["file_name"])


def test_folder_on_the_server_shows_the_worst_image(app: AppTest, gt: dict[str, Any], tmp_path: Path) -> None:
    write_images(tmp_path, gt)
    upload(app, gt, [("noisy.json", dumps(noisy_results(gt, seed=2)))])
    app.radio(key="evaluation:gt_source").set_value("folder").run()
    app.text_input(key="evaluation:gt_folder").input(str(tmp_path)).run()
    assert not app.exception, app.exception
    assert any("6 of the 6 annotated images have an image file" in c.value for c in app.caption)
    images = app.get("image")
    assert images, "the selected image is drawn"
    assert any("Green: true positive" in c.value for c in app.caption)
    app.slider(key="evaluation:noisy.json:gt_score").set_value(0.0).run()
    assert not app.exception, app.exception


@pytest.mark.parametrize(("text", "message"), [("/no/such/folder", "no such folder"), ("", None)])
def test_bad_folder_is_one_line(app: AppTest, gt: dict[str, Any], text: str, message: str | None) -> None:
    upload(app, gt, [("perfect.json", dumps(perfect_results(gt)))])
    app.radio(key="evaluation:gt_source").set_value("folder").run()
    app.text_input(key="evaluation:gt_folder").input(text).run()
    assert not app.exception, app.exception
    if message:
        assert any(message in e.value for e in app.error)
    else:
        assert not app.error


def test_two_files_show_the_dap_difference(app: AppTest, gt: dict[str, Any]) -> None:
    noisy = noisy_results(gt, seed=2)
    upload(app, gt, [("perfect.json", dumps(perfect_results(gt))), ("noisy.json", dumps(noisy))])
    assert "TIDE: what each error type costs, A − B" in [h.value for h in app.subheader]
    diff = frame_with(app, "difference", "perfect.json dAP")
    assert list(diff.columns) == ["category_id", "category", "perfect.json dAP", "noisy.json dAP", "difference"]
    expected = tide(gt, noisy, "bbox").dap["cls"]
    assert diff["difference"].iloc[0] == pytest.approx(-expected, abs=0.01)  # A perfect: loses nothing
    app.selectbox(key="evaluation:tide_diff_error").set_value("miss").run()
    assert not app.exception, app.exception


@dataclass
class PixelImage:
    name: str
    rgb: np.ndarray


def panel_script() -> None:
    import streamlit as st

    from explorer.views.eval_views import render_annotations_panel

    render_annotations_panel(st.session_state["images"], st.session_state["runs"], "detections:eval")


def test_detections_panel_has_tide_and_the_overlay(gt: dict[str, Any]) -> None:
    st.cache_data.clear()
    uploaded = gt["images"][:2]
    images = [PixelImage(i["file_name"], np.zeros((i["height"], i["width"], 3), np.uint8)) for i in uploaded]
    run = FakeRun("perfect model", "fake:perfect", [perfect_detections(gt, i) for i in uploaded])
    at = AppTest.from_function(panel_script, default_timeout=90)
    at.session_state["images"] = images
    at.session_state["runs"] = [run]
    at.run()
    at.file_uploader(key="detections:eval:annotations").set_value([("instances.json", dumps(gt), JSON)]).run()
    assert not at.exception, at.exception
    assert {"TIDE error types", "Ground truth on the image"} <= {h.value for h in at.subheader}
    table = frame_by_key(at, "detections:eval:fake:perfect:bbox:per_image")
    assert sorted(table["image_id"]) == sorted(i["id"] for i in uploaded)  # only the uploaded images
    assert set(table["fn"]) == {0} and table["image"].all()
    assert at.get("image")
