"""The Evaluation page's "Keypoint errors" section in headless Chromium, photographed: keypoint results with
jitter, inversions, swaps and misses uploaded, the error analysis switched on, the section's tab opened."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser.test_app import PLOT, UPLOAD_INPUT, expect_, save_screenshot, upload
from tests.browser.waits import run_timeout_ms, settled

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt has it)")
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def flawed_results(gt: dict[str, Any], seed: int = 5) -> list[dict[str, Any]]:
    """Every person found, with each keypoint jittered, mirrored or thrown off at random, and the wrists of
    one person per image taken from another."""
    from tests.coco_factory import KEYPOINT_NAMES, perfect_results

    rng = np.random.default_rng(seed)
    names = list(KEYPOINT_NAMES)
    mirror = [names.index(n.replace("left", "right") if "left" in n else n.replace("right", "left")) for n in names]
    exact = perfect_results(gt, "keypoints")
    results = []
    for det in exact:
        points = list(det["keypoints"])
        for j in range(len(names)):
            draw = rng.random()
            if draw < 0.3:
                points[3 * j] += float(rng.normal(0, 3))
            elif draw < 0.4:
                points[3 * j] += float(rng.normal(0, 40))
            elif draw < 0.5:
                points[3 * j:3 * j + 2] = det["keypoints"][3 * mirror[j]:3 * mirror[j] + 2]
        results.append(dict(det, keypoints=points))
    first: dict[int, int] = {}
    for i, det in enumerate(results):
        if det["image_id"] in first:
            for j in (9, 10):
                results[first[det["image_id"]]]["keypoints"][3 * j:3 * j + 2] = exact[i]["keypoints"][3 * j:3 * j + 2]
        else:
            first[det["image_id"]] = i
    return results


def test_keypoint_errors_section(page: Page, app_url: str, screenshot_dir: Path, tmp_path: Path) -> None:
    from tests.coco_factory import make_ground_truth

    gt = make_ground_truth(n_images=20, seed=11, keypoints=True)
    annotations, results = tmp_path / "person_keypoints.json", tmp_path / "keypoints.json"
    annotations.write_text(json.dumps(gt))
    results.write_text(json.dumps(flawed_results(gt)))
    page.goto(f"{app_url}/evaluation")
    expect_(page.get_by_text("Upload an annotation file and at least one results file, then press Evaluate."))
    inputs = page.locator(UPLOAD_INPUT)
    expect(inputs).to_have_count(2)
    upload(page, annotations, 0)
    upload(page, results, 1)
    expect_(page.get_by_text("Press Evaluate to compute AP for the uploaded files with these options."))
    # Each option reruns the page; wait for what that rerun draws before the next action, so no action lands
    # on a widget being replaced.
    with settled(page):
        page.locator('[data-testid="stRadioOption"]').filter(has_text=re.compile("^keypoints$")).click()
    expect_(page.get_by_text("Keypoints other than COCO's person keypoints"))
    with settled(page):
        page.get_by_text("Error breakdown (slower)").click()
    expect(page.get_by_role("checkbox", name="Error breakdown (slower)")).to_be_checked()
    expect(page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')).to_have_count(1)
    expect_(page.get_by_role("button", name="Remove person_keypoints.json"))
    expect_(page.get_by_text("Press Evaluate to compute AP for the uploaded files with these options."))
    evaluate = page.get_by_role("button", name="Evaluate", exact=True)
    expect(evaluate).to_be_enabled()
    evaluate.click()
    expect_(page.get_by_text(re.compile("Average Precision")), run_timeout_ms())
    page.get_by_role("tab", name="Keypoint errors").click()
    expect_(page.get_by_text(re.compile(r"AP gained by each correction")))
    expect_(page.get_by_text(re.compile(r"Error types per keypoint")))
    expect_(page.locator('[data-testid="stDownloadButton"]').filter(has_text="Keypoint errors CSV"))
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    expect(page.locator(f"{PLOT} >> visible=true")).to_have_count(3)  # shares, AP gains, per-keypoint heatmap
    page.get_by_text(re.compile(r"AP gained by each correction")).first.scroll_into_view_if_needed()
    save_screenshot(page, screenshot_dir, "evaluation_keypoint_errors")
