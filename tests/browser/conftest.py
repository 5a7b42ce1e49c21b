"""Fixtures for real-browser tests: one Streamlit server per session, headless Chromium, a fresh context per test.

The server is the real `streamlit run app.py`, so these tests see what a user sees: the front end, websockets,
uploads, downloads and query-parameter links, none of which AppTest exercises. Chromium is the system one
(Debian `chromium`), never a Playwright-downloaded browser: these machines cannot download it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.waits import (
    MAX_PACE,
    PACE,
    STEP_MS,
    seconds_since,
    step_timeout_ms,
    track_script_runs,
    wait_idle,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

REPO_ROOT: Path = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR: Path = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/lib/chromium/chromium"),  # the real binary: skips a warning the Debian wrapper script prints
    Path("/usr/bin/chromium"),
)
CHROMIUM_ARGS: list[str] = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Tall enough that Streamlit's own scroll container shows a whole page: full_page screenshots don't help.
VIEWPORT: dict[str, int] = {"width": 1280, "height": 1400}
#: For tests written before the paced deadlines: one wait's deadline at the slowest pace (new code: the
#: pages of `page` and `new_context` already wait with step_timeout_ms()).
DEFAULT_TIMEOUT_MS: int = int(STEP_MS * MAX_PACE)
#: Python, Streamlit and the app's imports on a busy machine: generous, it only matters when the server is broken.
SERVER_START_TIMEOUT_S: float = 180.0
SERVER_STOP_TIMEOUT_S: float = 10.0
#: The pages the warm-up opens once, so that no test pays for the server's first imports (pandas and the zoo
#: tables, plotly, the evaluation and detections code). The first one's time measures the session's pace.
WARMUP_PAGES: tuple[tuple[str, str], ...] = (
    ("", "Zoo tables"),
    ("evaluation", "Evaluate COCO results"),
    ("detections", "Detections"),
    ("speed_accuracy", "Speed vs accuracy"),
)


def chromium_executable() -> Path | None:
    """The system Chromium, or None when it is not installed."""
    return next((path for path in CHROMIUM_CANDIDATES if path.exists()), None)


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it), so parallel sessions never collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _log_tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill if Streamlit has not exited in time (a stuck model run must not hang CI)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=SERVER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SERVER_STOP_TIMEOUT_S)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how slow the browser tests found the machine, so a slow run reads as slow, not as broken."""
    line = PACE.summary()
    if line is not None:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """The browser binary; skips (rather than fails) the browser tests on a machine without Chromium."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt has it)")
    path = chromium_executable()
    if path is None:
        pytest.skip("system Chromium not found (install with `apt-get install -y chromium chromium-driver`; "
                    "CI installs it); browser tests skipped")
    return path


def warm_up(browser: Browser, base: str, started: float) -> None:
    """Open each of WARMUP_PAGES once and wait until its script has finished; measure the session's pace.

    The server's first page pays for its imports (pandas, plotly, the zoo tables); without this the first
    test paid for it inside its own deadlines. The time from the server's start to the first page drawn, set
    against an idle machine's, scales every deadline of the session (`tests.browser.waits.PACE`).
    """
    from playwright.sync_api import expect

    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        for index, (path, heading) in enumerate(WARMUP_PAGES):
            page.goto(f"{base}/{path}", timeout=SERVER_START_TIMEOUT_S * 1000)
            expect(page.get_by_role("heading", name=heading).first).to_be_visible(
                timeout=SERVER_START_TIMEOUT_S * 1000)
            wait_idle(page, timeout_ms=int(SERVER_START_TIMEOUT_S * 1000))
            if index == 0:
                PACE.measure(seconds_since(started))
    finally:
        context.close()


@pytest.fixture(scope="session")
def app_url(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `streamlit run app.py` once for the session, warm it up, and yield its base URL (no trailing slash).

    Depends on the browser (so a machine without one never pays for starting the server), which the warm-up
    uses to draw the first pages before any test. Caches (weights, measurements, uploads) go to a temporary
    folder, never the user's real ones.
    """
    root = tmp_path_factory.mktemp("browser_server")
    port = free_port()
    env = {**os.environ, "EXPLORER_CACHE": str(root / "explorer"), "TORCH_HOME": str(root / "torch"),
           "PYTHONUNBUFFERED": "1",
           "EXPLORER_SWEEPS_ROOT": str(tmp_path_factory.getbasetemp())}  # tests write sweeps in their tmp_path
    log_path = root / "streamlit.log"
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
               f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
               "--server.fileWatcherType=none"]
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not _health_ok(f"{base}/_stcore/health"):
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with code {process.returncode}:\n{_log_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit not healthy after {SERVER_START_TIMEOUT_S:.0f} s:\n{_log_tail(log_path)}")
            time.sleep(0.25)
        warm_up(browser, base, started)
        yield base
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[Browser]:
    """One headless Chromium for the session (launching costs ~1 s; contexts keep tests independent)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def new_context(browser: Browser, **options: object) -> BrowserContext:
    """A browser context whose pages count their script runs and wait with the session's paced deadline."""
    from playwright.sync_api import expect

    expect.set_options(timeout=step_timeout_ms())
    context = browser.new_context(viewport=VIEWPORT, **options)
    context.on("page", track_script_runs)
    context.set_default_timeout(step_timeout_ms())
    return context


@pytest.fixture
def page(browser: Browser, app_url: str) -> Iterator[Page]:
    """A fresh context (cookies, session, downloads) and page per test, so no test sees another's state."""
    context = new_context(browser, accept_downloads=True)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """`test-artifacts/screenshots/` in the checkout (git-ignored; CI uploads it)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR
