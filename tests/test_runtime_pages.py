"""The runtime choice on the Detections page (Run settings) and the Time on this machine page, in AppTest."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explorer.benchmarks.store import MeasurementStore
from explorer.zoo.paths import REPO_ROOT
from tests.test_detections_page import MODEL, png_bytes

APP = REPO_ROOT / "app.py"


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch, tmp_path) -> AppTest:
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return AppTest.from_file(str(APP), default_timeout=240)


def test_detections_run_under_onnxruntime(page: AppTest) -> None:
    page.switch_page("explorer/pages/detections.py")
    page.run()
    assert list(page.selectbox(key="detections:runtime").options) == ["PyTorch (eager)", "ONNX Runtime", "OpenVINO"]
    page.file_uploader(key="detections:uploads").set_value([("a.png", png_bytes(), "image/png")])
    page.selectbox(key="detections:model").set_value(MODEL)
    page.radio(key="detections:weights").set_value("random")
    page.select_slider(key="detections:size").set_value(128)
    page.selectbox(key="detections:runtime").set_value("onnxruntime")
    page.run()
    page.button(key="detections:run").click().run()
    assert not page.exception and not page.error, (page.exception, page.error)
    runs = page.session_state["detections:runs"]
    assert len(runs) == 1 and runs[0].settings.runtime == "onnxruntime" and runs[0].device == "cpu"
    from explorer.views import run_resources

    runtimes = [key[-1] for key in run_resources.model_cache().loaded() if key[0] == MODEL]
    assert "onnxruntime" in runtimes  # the server's model cache holds the exported runner apart from any eager one


def test_time_here_records_the_runtime(page: AppTest) -> None:
    page.switch_page("explorer/pages/time_here.py")
    page.run()
    page.selectbox(key="time_here:zoo").set_value("torchvision").run()
    page.multiselect(key="time_here:models").set_value([MODEL])
    page.select_slider(key="time_here:size").set_value(64)
    page.selectbox(key="time_here:weights").set_value("random")
    page.number_input(key="time_here:runs").set_value(1)
    page.number_input(key="time_here:warmup").set_value(0)
    page.selectbox(key="time_here:runtime").set_value("openvino").run()
    page.button(key="time_here:run").click().run()
    assert not page.exception and not page.error, (page.exception, page.error)
    stored = MeasurementStore().frame()
    assert list(stored["runtime"]) == ["openvino"] and list(stored["execution_provider"]) == ["CPU"]
    shown = page.dataframe[-1].value
    assert list(shown["runtime"]) == ["openvino"]


def test_model_card_says_what_the_export_kept_in_pytorch_and_why(page: AppTest) -> None:
    from explorer.runtimes.records import write_record

    write_record("openvino", "detectron:35858791", {
        "version": "2026.4.1", "parts": ["body", "rpn", "box_head", "box_outputs"],
        "kept": {"mask_head": "part 'mask_head' takes arguments that are not tensors (ResNetStage)"}, "parity": "ok"})
    page.query_params["model"] = "35858791"
    page.run()
    assert not page.exception
    text = "\n".join(str(block.value) for block in page.markdown)
    assert "OpenVINO 2026.4.1: kept in PyTorch: mask_head: part 'mask_head' takes arguments" in text
    page.query_params["model"] = "35861858"
    page.run()
    assert any("explorer export --model 35861858 --runtime openvino" in str(c.value) for c in page.caption)
