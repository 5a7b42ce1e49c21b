"""Two browser sessions on one server share the device's inference queue: both get results, either can cancel.

Each session is its own browser context (its own cookies and Streamlit session), as two users on two
machines would be. Both press Run on the same model at about the same time; the queue runs one after the
other and each page follows its own run. Screenshots: `queue_session_1.png`, `queue_session_2.png`,
`queue_cancelled.png`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import new_context

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt has it)")
from playwright.sync_api import Browser, Page, expect

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

DONE = re.compile(r": done in [0-9.]+ s on ")


def two_runs_timeout_ms() -> int:
    """Two sessions' runs, one after the other, on 2 shared cores, at this session's pace."""
    return 3 * run_timeout_ms()


@pytest.fixture
def two_pages(browser: Browser, app_url: str) -> Iterator[list[Page]]:
    """Two independent sessions (browser contexts) on the same server."""
    contexts = [new_context(browser) for _ in range(2)]
    try:
        yield [context.new_page() for context in contexts]
    finally:
        for context in contexts:
            context.close()


def prepared(page: Page, app_url: str, images: list[Path], size_key: str = "Home") -> Page:
    """Open Detections, upload `images`, pick the small model with random weights and an input size."""
    open_detections_with(page, app_url, images)
    choose_option(page, page.get_by_role("combobox", name="Model", exact=True), SMALL_MODEL,
                  re.compile("^" + re.escape(SMALL_MODEL + " — torchvision")))
    settings = open_expander(page, "Run settings")
    choose_radio(page, re.compile(r"^Random weights"))
    slider = settings.get_by_role("slider", name="Input size (shorter side)")
    expected = "128" if size_key == "Home" else "1024"
    act_until(lambda: slider.press(size_key),
              lambda: expect(settings.locator('[data-testid="stSliderThumbValue"]')).to_have_text(
                  expected, timeout=retry_check_ms()))
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled()
    return page


def images(folder: Path, count: int) -> list[Path]:
    paths = []
    for index in range(count):
        path = folder / f"shapes_{index}.png"
        path.write_bytes(png_bytes(96 + 8 * index, 64))
        paths.append(path)
    return paths


def test_two_sessions_press_run_on_one_model_and_both_get_results(two_pages: list[Page], app_url: str,
                                                                  screenshot_dir: Path, tmp_path: Path) -> None:
    for page in two_pages:
        prepared(page, app_url, images(tmp_path, 2))
    for page in two_pages:  # as close together as two users can be
        page.get_by_role("button", name="Run", exact=True).click()
    for index, page in enumerate(two_pages, 1):
        expect(page.locator('[data-testid="stImage"] img')).to_have_count(2, timeout=two_runs_timeout_ms())
        expect_(page.get_by_text(DONE))
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        save_screenshot(page, screenshot_dir, f"queue_session_{index}")


def test_a_session_cancels_its_run_while_the_other_gets_its_result(two_pages: list[Page], app_url: str,
                                                                   screenshot_dir: Path, tmp_path: Path) -> None:
    first, second = (prepared(page, app_url, images(tmp_path, 3), size_key="End") for page in two_pages)
    first.get_by_role("button", name="Run", exact=True).click()
    second.get_by_role("button", name="Run", exact=True).click()
    cancel = second.get_by_role("button", name="Cancel")
    expect(cancel).to_be_enabled(timeout=two_runs_timeout_ms())  # its run is queued (or already running)
    cancel.click()
    expect_(second.get_by_text(re.compile(r": cancelled$")), two_runs_timeout_ms())
    expect(second.locator('[data-testid="stImage"] img')).to_have_count(0)
    expect(first.locator('[data-testid="stImage"] img')).to_have_count(3, timeout=two_runs_timeout_ms())
    expect_(first.get_by_text(DONE))
    save_screenshot(second, screenshot_dir, "queue_cancelled")
