"""A Detectron2 model runs on the Detections page in a real browser (random weights: no download, no network).

Screenshot: `detections_detectron2.png`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt has it)")
from playwright.sync_api import Page, expect

from tests.browser.test_app import (
    RUN_TIMEOUT_MS,
    act_until,
    choose_option,
    choose_radio,
    download,
    expect_,
    open_detections_with,
    open_expander,
    png_bytes,
    save_screenshot,
)

pytestmark = pytest.mark.browser

#: RetinaNet R-50-FPN 1x: the quickest full-size Detectron2 detector here (no RoI heads).
MODEL = "RetinaNet R-50-FPN 1x"
MODEL_ID = "190397773"


def test_a_detectron2_model_runs_on_the_detections_page(page: Page, app_url: str, screenshot_dir: Path,
                                                       tmp_path: Path) -> None:
    image = tmp_path / "shapes.png"
    image.write_bytes(png_bytes())
    open_detections_with(page, app_url, image)

    model = page.get_by_role("combobox", name="Model", exact=True)
    choose_option(page, model, MODEL, re.compile("^" + re.escape(f"{MODEL} — detectron2 {MODEL_ID}")))
    expect(model).to_have_value(re.compile(re.escape(f"{MODEL} — detectron2")))
    settings = open_expander(page, "Run settings")
    choose_radio(page, re.compile(r"^Random weights"))
    size = settings.get_by_role("slider", name="Input size (shorter side)")
    act_until(lambda: size.press("Home"),  # 128: a short CPU run of a full-size ResNet-50 FPN
              lambda: expect(settings.locator('[data-testid="stSliderThumbValue"]')).to_have_text("128", timeout=5_000))

    run = page.get_by_role("button", name="Run", exact=True)
    expect(run).to_be_enabled()
    run.click()
    expect_(page.locator('[data-testid="stImage"] img'), 3 * RUN_TIMEOUT_MS)
    _, coco = download(page, f"COCO results json — {MODEL}")
    results = json.loads(coco)
    assert all(entry["image_id"] == 1 for entry in results)
    assert len(results) == 100  # RetinaNet's cap: random logits near 0 score about 0.5, far over its 0.05
    save_screenshot(page, screenshot_dir, "detections_detectron2")
