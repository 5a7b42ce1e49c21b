"""The ground truth drawn on the image, in the real app: Evaluation page, images from a folder on the server,
the per-image table's row click choosing the image, and screenshots of the overlay and the TIDE section."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt has it)")
from playwright.sync_api import Page, expect

from tests.browser.test_app import UPLOAD_INPUT, choose_radio, expect_, save_screenshot, upload
from tests.browser.waits import run_timeout_ms

pytestmark = pytest.mark.browser


def write_images(folder: Path, gt: dict[str, Any]) -> None:
    """A picture per annotated image: a grey field with each object painted as a filled ellipse, so the
    screenshot shows boxes around things."""
    for image in gt["images"]:
        canvas = Image.new("RGB", (image["width"], image["height"]), (70, 80, 90))
        draw = ImageDraw.Draw(canvas)
        for ann in gt["annotations"]:
            if ann["image_id"] == image["id"] and not ann["iscrowd"]:
                x, y, w, h = ann["bbox"]
                draw.ellipse((x, y, x + w, y + h), fill=(200, 190, 160))
        canvas.save(folder / image["file_name"])


def test_ground_truth_overlay_from_a_server_folder(page: Page, app_url: str, screenshot_dir: Path,
                                                   tmp_path: Path) -> None:
    from tests.coco_factory import make_ground_truth
    from tests.test_tide_reference import noisy_results

    gt = make_ground_truth(n_images=6, seed=5)
    annotations, results = tmp_path / "instances_test.json", tmp_path / "noisy.json"
    annotations.write_text(json.dumps(gt))
    results.write_text(json.dumps(noisy_results(gt, seed=2)))
    images = tmp_path / "images"
    images.mkdir()
    write_images(images, gt)
    page.goto(f"{app_url}/evaluation")
    inputs = page.locator(UPLOAD_INPUT)
    expect(inputs).to_have_count(2)
    upload(page, annotations, 0)
    upload(page, results, 1)
    evaluate = page.get_by_role("button", name="Evaluate", exact=True)
    expect(evaluate).to_be_enabled()
    evaluate.click()
    expect_(page.get_by_text("TIDE error types", exact=True), run_timeout_ms())
    expect_(page.locator('[data-testid="stDownloadButton"]').filter(has_text="TIDE CSV"))
    choose_radio(page, re.compile("A folder on the server"))
    folder = page.get_by_label(re.compile("Folder of the images on the server"))
    folder.fill(str(images))
    folder.press("Enter")
    expect_(page.get_by_text("6 of the 6 annotated images have an image file."), run_timeout_ms())
    picture = page.locator('[data-testid="stImage"]').filter(has_text=re.compile(r"\(image \d+\)"))
    expect_(picture, run_timeout_ms())
    first = picture.first.inner_text()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    picture.first.scroll_into_view_if_needed()
    save_screenshot(page, screenshot_dir, "evaluation_ground_truth")
    picture.first.screenshot(path=str(screenshot_dir / "ground_truth_overlay.png"))
    # Click the per-image table's third row (the grid is a canvas: header, then 35 px rows).
    # Found by its widget key (Streamlit puts `st-key-<key>` on a keyed element): sections below it draw tables too.
    table = page.locator('[class*="per_image"] [data-testid="stDataFrame"]').filter(has=page.locator("canvas")).last
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 12, box["y"] + 35 + 2 * 35 + 17)
    expect(picture.first).not_to_have_text(first, timeout=run_timeout_ms())
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    picture.first.screenshot(path=str(screenshot_dir / "ground_truth_overlay_selected.png"))
