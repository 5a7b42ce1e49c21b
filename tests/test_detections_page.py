"""The detections page in AppTest: upload, run a random-weight model, redraw without re-running, errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.zoo.paths import REPO_ROOT

APP = REPO_ROOT / "app.py"
PAGE = "explorer/pages/detections.py"
MODEL = "torchvision:FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1"
MASK_MODEL = "torchvision:MaskRCNN_ResNet50_FPN_Weights.COCO_V1"


def png_bytes(width: int = 80, height: int = 60, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def app(monkeypatch, tmp_path) -> AppTest:
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    return at


def choose_random_small_model(at: AppTest, model: str = MODEL) -> None:
    at.selectbox(key="detections:model").set_value(model)
    at.radio(key="detections:weights").set_value("random")
    at.select_slider(key="detections:size").set_value(128)


def test_page_asks_for_images_first(app: AppTest) -> None:
    assert any("Upload one or more images" in info.value for info in app.info)
    assert app.button(key="detections:run").disabled


def test_upload_run_and_redraw_without_rerunning(app: AppTest) -> None:
    from explorer.engine import session_runs
    from explorer.views import run_resources

    app.file_uploader(key="detections:uploads").set_value([("a.png", png_bytes(), "image/png"),
                                                            ("b.png", png_bytes(seed=1), "image/png")])
    choose_random_small_model(app, MASK_MODEL)
    app.run()
    app.button(key="detections:run").click().run()
    assert not app.exception, app.exception
    runs = app.session_state["detections:runs"]
    assert len(runs) == 1 and len(runs[0].detections) == 2 and runs[0].uid == MASK_MODEL
    assert len(app.get("image")) == 2  # one annotated image per upload
    loads = run_resources.model_cache().loads
    first = runs[0].detections[0]
    assert len(first) > 0 and first.masks is not None  # random weights still fire; enough to draw
    # redraw: a new threshold and hiding masks must not run the model again
    app.slider(key="detections:score").set_value(0.0).run()
    app.toggle(key="detections:masks").set_value(False).run()
    assert app.session_state["detections:runs"][0].detections[0] is first
    assert run_resources.model_cache().loads == loads
    shown = [caption for image in app.get("image") for caption in image.captions]
    assert all(f"shown of {len(first)}" in caption for caption in shown)
    results = json.loads(session_runs.results_json(runs[0]))
    assert {entry["image_id"] for entry in results} <= {1, 2} and all(len(e["bbox"]) == 4 for e in results)
    assert all("segmentation" in entry for entry in results)


def test_side_by_side_runs_two_models(app: AppTest) -> None:
    app.file_uploader(key="detections:uploads").set_value([("a.png", png_bytes(), "image/png")])
    choose_random_small_model(app)
    app.selectbox(key="detections:compare").set_value("torchvision:SSDLite320_MobileNet_V3_Large_Weights.COCO_V1")
    app.run()
    app.button(key="detections:run").click().run()
    assert not app.exception
    runs = app.session_state["detections:runs"]
    assert [run.uid for run in runs] == [MODEL, "torchvision:SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"]
    assert len(app.get("image")) == 2


def test_bad_uploads_are_reported_and_the_rest_still_run(app: AppTest) -> None:
    app.file_uploader(key="detections:uploads").set_value([
        ("broken.png", b"not an image at all", "image/png"),
        ("empty.jpg", b"", "image/jpeg"),
        ("good.png", png_bytes(), "image/png"),
    ])
    choose_random_small_model(app)
    app.run()
    messages = [error.value for error in app.error]
    assert any(m.startswith("broken.png:") for m in messages) and any(m.startswith("empty.jpg:") for m in messages)
    app.button(key="detections:run").click().run()
    assert not app.exception and len(app.session_state["detections:runs"][0].detections) == 1


def test_missing_weights_offline_says_what_to_download(app: AppTest, monkeypatch) -> None:
    monkeypatch.setenv("EXPLORER_OFFLINE", "1")
    app.file_uploader(key="detections:uploads").set_value([("a.png", png_bytes(), "image/png")])
    app.selectbox(key="detections:model").set_value(MODEL)
    app.select_slider(key="detections:size").set_value(128)
    app.run()
    app.button(key="detections:run").click().run()
    assert not app.exception
    message = " ".join(error.value for error in app.error)
    assert "fasterrcnn_mobilenet_v3_large_320_fpn" in message and "save it as" in message


def test_cuda_without_gpu_is_a_clear_error(app: AppTest) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    app.file_uploader(key="detections:uploads").set_value([("a.png", png_bytes(), "image/png")])
    choose_random_small_model(app)
    app.selectbox(key="detections:device").set_value("cuda")
    app.run()
    app.button(key="detections:run").click().run()
    assert not app.exception
    assert any("no GPU is available" in error.value for error in app.error)


def test_too_many_images_are_capped_with_a_message(app: AppTest, monkeypatch) -> None:
    monkeypatch.setenv("EXPLORER_MAX_IMAGES", "2")
    app.file_uploader(key="detections:uploads").set_value([(f"{i}.png", png_bytes(seed=i), "image/png")
                                                           for i in range(3)])
    choose_random_small_model(app)
    app.run()
    assert any("at most 2" in warning.value and "EXPLORER_MAX_IMAGES" in warning.value for warning in app.warning)
    app.button(key="detections:run").click().run()
    assert len(app.session_state["detections:runs"][0].detections) == 2
