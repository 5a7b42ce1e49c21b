"""The operating point and calibration in the real app: upload a small generated set on the Evaluation page and
see both sections (the F1-optimal threshold in the figure's title and table, ECE / MCE / D-ECE, the reliability
diagram), then photograph them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt has it)")
from playwright.sync_api import Page, expect

from tests.browser.test_app import PLOT, UPLOAD_INPUT, expect_, save_screenshot, upload
from tests.browser.waits import run_timeout_ms
from tests.coco_factory import bench_dataset

pytestmark = pytest.mark.browser


def test_operating_point_and_calibration_sections(page: Page, app_url: str, screenshot_dir: Path,
                                                  tmp_path: Path) -> None:
    gt, results = bench_dataset(20, 25, seed=4)
    annotations, detections = tmp_path / "instances_small.json", tmp_path / "results_small.json"
    annotations.write_text(json.dumps(gt))
    detections.write_text(json.dumps([{k: r[k] for k in ("image_id", "category_id", "bbox", "score")}
                                      for r in results]))
    page.goto(f"{app_url}/evaluation")
    inputs = page.locator(UPLOAD_INPUT)
    expect(inputs).to_have_count(2)
    upload(page, annotations, 0)
    upload(page, detections, 1)
    evaluate = page.get_by_role("button", name="Evaluate", exact=True)
    expect(evaluate).to_be_enabled(timeout=run_timeout_ms())
    evaluate.click()
    expect_(page.get_by_role("heading", name="Operating point"), run_timeout_ms())
    chart = page.locator(PLOT).filter(has_text=re.compile(r"F1-optimal threshold 0\.\d{3}"))
    expect_(chart, run_timeout_ms())
    expect_(page.get_by_role("heading", name="Calibration"))
    for label in ("ECE", "MCE", "D-ECE"):
        expect_(page.locator('[data-testid="stMetricLabel"]').filter(has_text=re.compile(rf"^{label}$")))
    reliability = page.locator(PLOT).filter(has_text="Reliability · all categories · IoU 0.50")
    expect_(reliability)
    expect(reliability.locator(".barlayer .point")).not_to_have_count(0)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
    page.get_by_role("heading", name="Operating point").evaluate("e => e.scrollIntoView({block: 'start'})")
    save_screenshot(page, screenshot_dir, "operating_point_and_calibration")
