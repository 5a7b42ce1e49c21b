"""The confusion matrix in the real app: click a heatmap cell, see the detections behind it drawn on the image.

Uses the hand-made set of tests/test_evaluation_confusion.py (one image, known matrix), uploads the image too,
clicks the "dog taken for a cat" cell and photographs the section.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt has it)")
from playwright.sync_api import Page, expect

from tests.browser.test_app import PLOT, UPLOAD_INPUT, expect_, save_screenshot, upload
from tests.browser.waits import run_timeout_ms
from tests.test_evaluation_confusion import GT, LABELS, RESULTS

pytestmark = pytest.mark.browser


def _image(path: Path) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (200, 200), (70, 110, 150))
    draw = ImageDraw.Draw(image)
    for ann in GT["annotations"]:
        x, y, w, h = ann["bbox"]
        draw.ellipse((x + 4, y + 4, x + w - 4, y + h - 4), fill=(200, 170, 90))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    path.write_bytes(buffer.getvalue())


def test_confusion_matrix_click_lists_and_draws_the_cell(page: Page, app_url: str, screenshot_dir: Path,
                                                         tmp_path: Path) -> None:
    annotations, results, image = tmp_path / "crafted.json", tmp_path / "results.json", tmp_path / "one.jpg"
    annotations.write_text(json.dumps(GT))
    results.write_text(json.dumps(RESULTS))
    _image(image)
    page.goto(f"{app_url}/evaluation")
    inputs = page.locator(UPLOAD_INPUT)
    expect(inputs).to_have_count(2)
    upload(page, annotations, 0)
    upload(page, results, 1)
    expect_(page.get_by_text("Press Evaluate to compute AP for the uploaded files with these options."),
            run_timeout_ms())
    evaluate = page.get_by_role("button", name="Evaluate", exact=True)
    expect(evaluate).to_be_enabled(timeout=run_timeout_ms())
    evaluate.click()
    chart = page.locator(PLOT).filter(has_text="Confusion matrix (")
    expect_(chart, run_timeout_ms())
    chart.scroll_into_view_if_needed()
    cells = chart.locator(".scatterlayer .point")
    expect(cells).to_have_count(len(LABELS) ** 2)
    box = cells.nth(LABELS.index("dog") * len(LABELS) + LABELS.index("cat")).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect_(page.get_by_text(re.compile(r"1 item\(s\) with ground truth dog and prediction cat")))
    upload(page, image, 2)
    expect_(page.locator('[data-testid="stImage"]'), run_timeout_ms())
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    # The section from its heading down to the drawn image fills the tall viewport: start the picture there.
    page.get_by_role("heading", name="Confusion matrix").evaluate("e => e.scrollIntoView({block: 'start'})")
    save_screenshot(page, screenshot_dir, "confusion_matrix")
