"""The Detections page runs a model under ONNX Runtime in a real browser: the Runtime choice in Run settings, the
export and its parity check on the server, and a result that says which runtime it ran under.

The smallest torchvision detector (MobileNet-v3 320) with random weights on a small image: its export is the
run's main cost. The server's export cache is its session's temporary folder (conftest), so the export is built
here, not taken from a developer's cache. Screenshot: `detections_onnxruntime.png`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt has it)")
pytest.importorskip("onnxruntime", reason="ONNX Runtime is not installed (requirements-deploy.txt has it)")
from playwright.sync_api import Page, expect

from tests.browser.test_app import (
    SMALL_MODEL,
    act_until,
    choose_option,
    choose_radio,
    expect_,
    open_detections_with,
    open_expander,
    png_bytes,
    retry_check_ms,
    save_screenshot,
)
from tests.browser.waits import run_timeout_ms

pytestmark = pytest.mark.browser

#: The run's status line once it has finished: its time, the device and the runtime it ran under.
DONE_UNDER_ORT = re.compile(r": done in [0-9.]+ s on cpu under ONNX Runtime")


def test_a_model_runs_under_onnx_runtime_on_the_detections_page(page: Page, app_url: str, screenshot_dir: Path,
                                                                tmp_path: Path) -> None:
    image = tmp_path / "shapes.png"
    image.write_bytes(png_bytes())
    open_detections_with(page, app_url, image)
    choose_option(page, page.get_by_role("combobox", name="Model", exact=True), SMALL_MODEL,
                  re.compile("^" + re.escape(SMALL_MODEL + " — torchvision")))

    settings = open_expander(page, "Run settings")
    # The runtime first: choose_option waits for the rerun its choice starts, which a slider rerun still under
    # way (the slider's check reads the thumb, drawn before its rerun ends) would cut short.
    runtime = settings.get_by_role("combobox", name="Runtime", exact=True)
    choose_option(page, runtime, "ONNX", "ONNX Runtime")
    expect(runtime).to_have_value("ONNX Runtime")
    expect_(settings.get_by_text(re.compile(r"^Runs on the CPU in fp32\. The first use exports the model")))
    choose_radio(page, re.compile(r"^Random weights"))
    size = settings.get_by_role("slider", name="Input size (shorter side)")
    act_until(lambda: size.press("Home"),  # 128: the export's parity check and the run stay short
              lambda: expect(settings.locator('[data-testid="stSliderThumbValue"]')).to_have_text(
                  "128", timeout=retry_check_ms()))

    run = page.get_by_role("button", name="Run", exact=True)
    expect(run).to_be_enabled()
    run.click()
    # The export (tracing, ONNX Runtime's session, the parity check on two images) comes before the run itself.
    expect_(page.locator('[data-testid="stImage"] img'), 2 * run_timeout_ms())
    expect_(page.get_by_text(DONE_UNDER_ORT))
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
    save_screenshot(page, screenshot_dir, "detections_onnxruntime")
