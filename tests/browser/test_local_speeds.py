"""The speed/accuracy plot with speeds measured here (solid) and projected for here (hollow, error bars),
photographed in the real app. The store is seeded in the server's own cache folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer.benchmarks.store import MeasurementStore
from explorer.benchmarks.timing import BenchmarkResult
from explorer.figures.zoo import X_AXES
from tests.browser.test_app import PLOT, choose_option, expect_, save_screenshot
from tests.browser.waits import PACE

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt has it)")
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

DEVICE = "Browser-test CPU (2 cores)"
MEASURED = {"detectron:35857197": 0.41, "detectron:35857345": 0.38, "detectron:35857389": 0.40,
            "detectron:35858933": 0.52, "torchvision:FasterRCNN_ResNet50_FPN_Weights.COCO_V1": 0.45,
            "torchvision:MaskRCNN_ResNet50_FPN_Weights.COCO_V1": 0.55}
#: The page re-reads the store at most every 10 s (st.cache_data ttl): a few reloads cover a stale read.
ATTEMPTS = 4


@pytest.fixture
def seeded_server(app_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Measurements in the store the session's server reads (its EXPLORER_CACHE under the session temp)."""
    roots = [p for p in sorted(tmp_path_factory.getbasetemp().glob("browser_server[0-9]*")) if not p.is_symlink()]
    if len(roots) != 1:
        pytest.fail(f"expected the one browser server's temporary folder, found {roots}")
    store = MeasurementStore(roots[0] / "explorer" / "measurements.sqlite")  # its EXPLORER_CACHE
    for uid, median in MEASURED.items():
        store.add(BenchmarkResult(model_uid=uid, model_name=uid, device="cpu", device_name=DEVICE,
                                  image_width=320, image_height=240, min_size=240, batch_size=1, runs=3, warmup=1,
                                  median_s=median, p10_s=median, p90_s=median, mean_s=median, stdev_s=0.0,
                                  autocast="fp32", weights="random", torch_version="t", torchvision_version="v"))
    return app_url


def open_projected_plot(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/speed_accuracy")
    expect_(page.get_by_role("heading", name="Speed vs accuracy"))
    expect_(page.locator(PLOT))
    choose_option(page, page.get_by_role("combobox", name="Cost (x)"), "projected", X_AXES["projected_s"])


def test_plot_shows_measured_and_projected_points(page: Page, seeded_server: str, screenshot_dir: Path) -> None:
    legend = page.locator(".js-plotly-plot .legendtext")
    for attempt in range(ATTEMPTS):
        open_projected_plot(page, seeded_server)
        try:
            expect(legend.filter(has_text="· projected").first).to_be_visible(timeout=PACE.ms(10_000))
            break
        except AssertionError:
            if attempt == ATTEMPTS - 1:
                raise
    expect_(page.get_by_text("measured points are solid; projected ones are hollow"))
    expect_(page.locator(".js-plotly-plot .gtitle").filter(has_text=DEVICE))
    assert page.locator(".js-plotly-plot .errorbar").count() > 0, "projected points carry their 80 % interval"
    names = [text.strip() for text in legend.evaluate_all("nodes => nodes.map(node => node.textContent)")]
    assert any(name.endswith("· projected") for name in names)
    assert any(name in ("Faster", "Mask") for name in names), "measured points keep their plain series names"
    assert "Pareto frontier, this machine" in names  # one machine: one frontier across zoos
    save_screenshot(page, screenshot_dir, "speed_accuracy_measured_projected")
