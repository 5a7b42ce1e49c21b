"""The real app in headless Chromium: what AppTest cannot see (front end, Plotly clicks, uploads, downloads, links).

Each test starts from a fresh browser context on the shared server, waits for the text or element a user would
look for, and saves a screenshot of the page to `test-artifacts/screenshots/`. Selectors are the ones that work
with Streamlit 1.67, whose widgets are react-aria: selectboxes are `combobox` inputs, sliders hidden
`input[type=range]` (role `slider`), radio options `[data-testid="stRadioOption"]` labels.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.browser.conftest import REPO_ROOT
from tests.browser.waits import MAX_PACE, PACE, RUN_MS, run_timeout_ms, settled

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt has it)")
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.browser

#: How long a repeated action (act_until) waits for its effect before trying again, on an idle machine.
RETRY_CHECK_MS: int = 5_000
#: For tests written before the paced deadlines: a run's deadline at the slowest pace. New tests call
#: run_timeout_ms(), which gives a fast machine a shorter wait before a broken run fails.
RUN_TIMEOUT_MS: int = int(RUN_MS * MAX_PACE)
DOCS_SCREENSHOT: Path = REPO_ROOT / "docs" / "speed_accuracy.png"
COUNT_TEXT = re.compile(r"^(\d+) of (\d+) models$")
CARD_TITLE = re.compile(r" — (detectron|detectron2|torchvision) \S+")
UPLOAD_INPUT = '[data-testid="stFileUploaderDropzoneInput"]'
PLOT = '[data-testid="stPlotlyChart"] .js-plotly-plot'
PLOT_POINTS = ".js-plotly-plot .scatterlayer .point"
SMALL_MODEL = "fasterrcnn_mobilenet_v3_large_320_fpn COCO_V1"


# ---- helpers ------------------------------------------------------------------------------------------------

def retry_check_ms() -> int:
    """How long act_until's check waits before the action is repeated, at this session's pace."""
    return PACE.ms(RETRY_CHECK_MS)


def expect_(locator: Locator, timeout_ms: int | None = None) -> None:
    """Wait until `locator` is visible; a thin wrapper so tests read as a list of things a user sees."""
    expect(locator.first).to_be_visible(**({"timeout": timeout_ms} if timeout_ms else {}))


def wait_rendered(page: Page) -> None:
    """Wait until no lazily loaded element (tables, dataframes, buttons) still shows its grey skeleton.

    Streamlit draws `stSkeleton` placeholders for about a second while their components load, and the
    script state already reads "notRunning" then, so it is no sign of a finished page.
    """
    expect(page.locator('[data-testid="stSkeleton"]')).to_have_count(0)


def save_screenshot(page: Page, directory: Path, name: str) -> Path:
    """Screenshot the viewport (tall on purpose: Streamlit scrolls inside its own container)."""
    wait_rendered(page)
    page.mouse.move(1, 1)  # no hover label or tooltip over the content
    # Dataframes draw on a canvas after they scroll into view; without this the screenshot can show stale
    # tiles there (seen: the annotated image painted a second time where the results table belongs).
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    page.wait_for_timeout(300)
    path = directory / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def model_count(page: Page) -> tuple[int, int]:
    """The Zoo tables page's 'N of M models' line, as (N, M)."""
    text = page.get_by_text(COUNT_TEXT).first.inner_text().strip()
    match = COUNT_TEXT.match(text)
    assert match, f"unexpected count text {text!r}"
    return int(match[1]), int(match[2])


def csv_rows(name: str) -> int:
    """Rows in one zoo's CSV: the expected count when the Zoo filter keeps just that zoo."""
    with (REPO_ROOT / "explorer" / "zoo_data" / f"{name}.csv").open(newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def choose_option(page: Page, combobox: Locator, typed: str, option: str | re.Pattern[str]) -> None:
    """Pick from a selectbox or multiselect by typing to filter, then clicking the option (as a user does);
    returns once the rerun the new choice started has finished (the option must differ from the current one)."""
    combobox.click()
    combobox.fill(typed)
    with settled(page):
        page.get_by_role("option", name=option).first.click()


def png_bytes(width: int = 96, height: int = 64) -> bytes:
    """A small colourful PNG: decodes fine and keeps a CPU model run short."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (40, 90, 160))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 50, 45), fill=(220, 60, 40))
    draw.ellipse((55, 20, 90, 58), fill=(240, 220, 60))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def act_until(action: Callable[[], None], check: Callable[[], None], tries: int = 3) -> None:
    """Do an idempotent action until `check` (an expect with a short timeout) passes.

    A click that lands while Streamlit re-renders after an upload or another widget's rerun is sometimes
    dropped (seen on 2 cores: a radio click right after opening an expander did nothing); repeating a
    radio pick or an expander opening is harmless, so retry rather than fail on the race.
    """
    for attempt in range(tries):
        action()
        try:
            check()
            return
        except AssertionError:
            if attempt == tries - 1:
                raise


def open_expander(page: Page, label: str) -> Locator:
    """Open an st.expander by its label and wait for it to finish growing; returns its content."""
    expander = page.locator('[data-testid="stExpander"]').filter(has_text=label)
    details = expander.locator("details")

    def click() -> None:
        if details.get_attribute("open") is None:
            expander.locator("summary").click()

    act_until(click, lambda: expect(details).to_have_attribute("open", "", timeout=retry_check_ms()))
    content = expander.locator('[data-testid="stExpanderDetails"]')
    expect(content).to_be_visible()
    page.wait_for_function(  # the same height on two polls 100 ms apart: the opening animation is over
        """(element) => {
            const seen = (window.__expanderHeights ??= new WeakMap());
            const height = element.getBoundingClientRect().height;
            const settled = height > 0 && seen.get(element) === height;
            seen.set(element, height);
            return settled;
        }""", arg=content.element_handle(), polling=100)
    return content


def choose_radio(page: Page, option: re.Pattern[str]) -> None:
    """Select the radio option whose label matches, and check that it really is selected."""
    label = page.locator('[data-testid="stRadioOption"]').filter(has_text=option)
    act_until(label.click, lambda: expect(label).to_have_attribute("data-selected", "true", timeout=retry_check_ms()))


def upload(page: Page, path: Path | list[Path], index: int = 0) -> None:
    """Send files through the page's `index`-th uploader's hidden <input type=file>, as a drop or the file
    dialog would, and wait until the rerun the upload started has finished (so the next upload or click lands
    on the page that run drew: a second upload sent during the first one's rerun was lost on a busy machine)."""
    paths = [str(p) for p in path] if isinstance(path, list) else str(path)
    with settled(page):
        page.locator(UPLOAD_INPUT).nth(index).set_input_files(paths)


def open_detections_with(page: Page, app_url: str, images: Path | list[Path]) -> None:
    """Open the Detections page and upload `images`; returns once it asks for Run."""
    page.goto(f"{app_url}/detections")
    expect_(page.get_by_text("Upload one or more images, pick a model, then press Run."))
    upload(page, images)
    expect_(page.get_by_text("Press Run to detect objects in the uploaded images."))


def download(page: Page, label: str | re.Pattern[str]) -> tuple[str, bytes]:
    """Click the download button whose label holds `label`; (the file name the browser was offered, its bytes)."""
    button = page.locator('[data-testid="stDownloadButton"]').filter(has_text=label)
    expect_(button)
    with page.expect_download() as download_info:
        button.click()
    return download_info.value.suggested_filename, Path(download_info.value.path()).read_bytes()


# ---- Zoo tables -----------------------------------------------------------------------------------------------

def test_zoo_tables_count_follows_sidebar_filter(page: Page, app_url: str, screenshot_dir: Path) -> None:
    page.goto(app_url)
    expect_(page.get_by_role("heading", name="Zoo tables"))
    expect_(page.get_by_text(COUNT_TEXT))
    shown, total = model_count(page)
    assert shown == total > 0, "no filter yet: every model is shown"

    zoo_filter = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Zoo", exact=True)
    choose_option(page, zoo_filter, "detectron", re.compile(r"^detectron$"))
    page.keyboard.press("Escape")
    expected = csv_rows("detectron")
    expect_(page.get_by_text(f"{expected} of {total} models", exact=True))
    assert expected < total
    expect_(page.locator('[data-testid="stDataFrame"]'))
    save_screenshot(page, screenshot_dir, "zoo_tables")


# ---- Speed vs accuracy ----------------------------------------------------------------------------------------

def test_speed_accuracy_click_opens_card(page: Page, app_url: str, screenshot_dir: Path) -> None:
    page.goto(app_url)
    page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Speed vs accuracy").click()
    expect_(page.get_by_role("heading", name="Speed vs accuracy"))
    expect_(page.locator(PLOT))
    expect_(page.get_by_text("Click a point to see that model's card here."))
    points = page.locator(PLOT_POINTS)
    assert points.count() > 10, "the scatter should show many models"

    box = points.nth(points.count() // 2).bounding_box()
    assert box is not None, "the point is not rendered"
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    title = page.locator("h3").filter(has_text=CARD_TITLE)
    expect_(title)
    page.wait_for_url(re.compile(r"[?&]model=[^&]+"))
    expect_(page.get_by_text("Shareable link:"))
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(4)
    name = title.first.inner_text().split(" — ")[0]
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect_(sidebar.locator('[data-testid="stPageLink"]').filter(has_text=name))  # the selection, one click away
    path = save_screenshot(page, screenshot_dir, "speed_accuracy")
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOT)


# ---- Model card -----------------------------------------------------------------------------------------------

def test_model_card_opens_from_link(page: Page, app_url: str, screenshot_dir: Path) -> None:
    page.goto(f"{app_url}/model_card?model=35861858")
    expect_(page.get_by_role("heading", name="Model card"))
    expect_(page.locator("h3").filter(has_text="Mask R-101-FPN 2x — detectron 35861858"))
    expect_(page.locator('[data-testid="stMetric"]').filter(has_text="mask AP").get_by_text("36.4", exact=True))
    expect_(page.get_by_text("Shareable link:"))
    expect_(page.locator('[data-testid="stTable"]').get_by_text("e2e_mask_rcnn_R-101-FPN_2x"))  # the facts table
    save_screenshot(page, screenshot_dir, "model_card")


# ---- The other pages: each opens, shows its content, and is photographed ----------------------------------------

@pytest.mark.parametrize(("path", "heading", "content"), [
    ("pick_model", "Pick a model", "The fastest model"),
    ("schedules", "Schedules & backbones", "1x"),
    ("sweeps", "Sweeps", "sweep"),
    ("time_here", "Time on this machine", "Models to time"),
])
def test_other_pages_render(page: Page, app_url: str, screenshot_dir: Path, path: str, heading: str,
                            content: str) -> None:
    page.goto(f"{app_url}/{path}")
    expect_(page.get_by_role("heading", name=heading))
    expect_(page.get_by_text(content).first)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    save_screenshot(page, screenshot_dir, path)


def written_sweep(out: Path) -> Path:
    """A sweep folder as a real one looks mid-way: three Detectron models evaluated, a fourth still running."""
    from explorer.sweep.summary import write_summary
    from explorer.zoo.table import load_zoo

    names = load_zoo()["name"]
    done = {"detectron:35857197": (0.21, 33.1), "detectron:35857345": (0.12, 35.0), "detectron:35861858": (0.16, 39.2)}
    running = "detectron:36494496"
    models = [*done, running]
    meta = {"images": 500, "batch_size": 4, "workers": 1, "shards": 4, "created": "2026-11-27T10:00:00+00:00",
            "models": models, "model_dirs": {uid: uid.replace(":", "_") for uid in models}}
    for uid in models:
        shard_dir = out / meta["model_dirs"][uid] / "shards"
        shard_dir.mkdir(parents=True)
        for index in range(4 if uid in done else 1):
            (shard_dir / f"shard-{index:05d}.json").write_text("{}")
    rows = [{"model_uid": uid, "model_name": names[uid], "device_name": "Sweep GPU", "workers": 1, "batch_size": 4,
             "images": 500, "errors": 0, "image_width": 640, "image_height": 480, "autocast": "fp32",
             "weights": "published", "median_s": seconds, "box_ap": ap} for uid, (seconds, ap) in done.items()]
    write_summary(out, rows, meta)
    return out


def test_sweeps_page_shows_progress_and_measured_accuracy(page: Page, app_url: str, screenshot_dir: Path,
                                                          tmp_path: Path) -> None:
    folder = written_sweep(tmp_path / "sweep")
    page.goto(f"{app_url}/sweeps")
    field = page.get_by_label("Open another sweep folder")
    field.fill(str(folder))
    field.press("Enter")
    expect_(page.get_by_role("heading", name="Progress"))
    expect_(page.get_by_text("3 of 4 models done"))
    expect_(page.get_by_role("heading", name="Measured vs published: speed and accuracy"))
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(2)
    expect_(page.locator(".legendtext").filter(has_text="measured by this sweep"))
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    save_screenshot(page, screenshot_dir, "sweeps_with_results")


# ---- Detections -----------------------------------------------------------------------------------------------

def test_detections_run_and_download(page: Page, app_url: str, screenshot_dir: Path, tmp_path: Path) -> None:
    image = tmp_path / "shapes.png"
    image.write_bytes(png_bytes())
    open_detections_with(page, app_url, image)

    choose_option(page, page.get_by_role("combobox", name="Model", exact=True), SMALL_MODEL,
                  re.compile("^" + re.escape(SMALL_MODEL + " — torchvision")))
    expect(page.get_by_role("combobox", name="Model", exact=True)).to_have_value(re.compile(re.escape(SMALL_MODEL)))

    settings = open_expander(page, "Run settings")
    choose_radio(page, re.compile(r"^Random weights"))
    size = settings.get_by_role("slider", name="Input size (shorter side)")
    act_until(lambda: size.press("Home"),  # the smallest size, 128: a short CPU run
              lambda: expect(settings.locator('[data-testid="stSliderThumbValue"]')).to_have_text(
                  "128", timeout=retry_check_ms()))

    run = page.get_by_role("button", name="Run", exact=True)
    expect(run).to_be_enabled()
    run.click()
    expect_(page.locator('[data-testid="stImage"] img'), run_timeout_ms())
    _, png = download(page, "Annotated image (PNG)")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")

    name, coco = download(page, "COCO results json")
    assert name == "results.json"
    results = json.loads(coco)
    assert isinstance(results, list)
    assert all(entry["image_id"] == 1 for entry in results)
    save_screenshot(page, screenshot_dir, "detections")


def test_detections_bad_upload_is_reported(page: Page, app_url: str, screenshot_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not an image \x00\x01\x02" * 8)
    page.goto(f"{app_url}/detections")
    expect_(page.get_by_text("Upload one or more images, pick a model, then press Run."))
    upload(page, broken)
    expect_(page.get_by_text(re.compile(r"^broken\.png:")))
    # Still working: nothing decoded, so it asks for images; a good image afterwards is accepted.
    expect_(page.get_by_text("Upload one or more images, pick a model, then press Run."))
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes())
    upload(page, good)
    expect_(page.get_by_text("Press Run to detect objects in the uploaded images."))
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled()
    save_screenshot(page, screenshot_dir, "detections_bad_upload")


# ---- Evaluation -----------------------------------------------------------------------------------------------

def test_evaluation_of_uploaded_results(page: Page, app_url: str, screenshot_dir: Path, tmp_path: Path) -> None:
    from tests.coco_factory import make_ground_truth, perfect_results

    gt = make_ground_truth(n_images=6, seed=5)
    annotations, results = tmp_path / "instances_test.json", tmp_path / "perfect.json"
    annotations.write_text(json.dumps(gt))
    results.write_text(json.dumps(perfect_results(gt)))
    page.goto(f"{app_url}/evaluation")
    expect_(page.get_by_text("Upload an annotation file and at least one results file, then press Evaluate."))
    inputs = page.locator(UPLOAD_INPUT)
    expect(inputs).to_have_count(2)  # annotations first (left column), results second
    upload(page, annotations, 0)
    upload(page, results, 1)
    expect_(page.get_by_text("Press Evaluate to compute AP for the uploaded files with these options."))
    evaluate = page.get_by_role("button", name="Evaluate", exact=True)
    expect(evaluate).to_be_enabled()
    evaluate.click()
    expect_(page.get_by_text(re.compile("Average Precision")), run_timeout_ms())
    expect_(page.locator('[data-testid="stDownloadButton"]').filter(has_text="Per-category CSV"))
    expect_(page.locator(PLOT))
    # A chart option reruns the page from the cache: the summary stays, no cache-replay error appears.
    page.get_by_role("tab", name="Precision-recall").click()
    choose_option(page, page.get_by_role("combobox", name="IoU threshold"), "0.75", "0.75")
    expect_(page.get_by_text(re.compile(r"Precision-recall at IoU 0\.75")))
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    expect_(page.get_by_text(re.compile("Average Precision")))
    save_screenshot(page, screenshot_dir, "evaluation")
