"""Waiting on the app's own state, with deadlines sized to the machine the suite runs on.

A browser test that fails because the machine is busy tells nobody anything. So the tests never sleep for a
fixed time and never race the page: they wait for what Streamlit itself reports (the script run finished,
the element a user looks for is there), and every deadline is an idle-machine budget multiplied by the pace
the session's warm-up measured (`Pace`), so a machine twice as slow gets twice as long.

Streamlit marks its root element with `data-test-script-state`, but a widget's change is sent to the server
before that attribute leaves "notRunning", so reading "notRunning" right after an action says nothing. A
counter of finished runs does: `RUN_COUNTER_JS` (added to every page of a browser context) counts each time the
attribute leaves "running"; `settled(page)` takes the count before an action and waits until a later run has
finished and none is running.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

APP_ROOT = '[data-testid="stApp"]'
#: The app's root while no script runs: Streamlit's own "finished" signal.
IDLE_APP = f'{APP_ROOT}[data-test-script-state="notRunning"]'

#: Installed in every page before its scripts: `window.__streamlitRunsFinished` counts the script runs that ended.
RUN_COUNTER_JS = """
(() => {
  window.__streamlitRunsFinished = 0;
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.oldValue === "running" && record.target.getAttribute("data-testid") === "stApp") {
        window.__streamlitRunsFinished += 1;
      }
    }
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ["data-test-script-state"]});
})();
"""
_FINISHED_SINCE_JS = """(before) => {
  const app = document.querySelector('[data-testid="stApp"]');
  return window.__streamlitRunsFinished > before && app !== null
    && app.getAttribute("data-test-script-state") === "notRunning";
}"""

#: Server start to the first page drawn on a lightly loaded 2-core machine (load below 1, 2026-12-07): about
#: 4 s to healthy and 2 s for the page. Slower warm-ups scale every deadline up; faster ones never scale it
#: down. The report's last lines say what each session measured (`Pace.summary`).
IDLE_WARMUP_S: float = 6.0
#: However slow the warm-up looked (a one-off stall), deadlines grow at most this much.
MAX_PACE: float = 6.0


@dataclass
class Pace:
    """How much slower than an idle machine this session runs, measured once by the server's warm-up."""

    factor: float = 1.0
    warmup_s: float | None = None

    def measure(self, warmup_s: float) -> None:
        self.warmup_s = warmup_s
        self.factor = min(MAX_PACE, max(1.0, warmup_s / IDLE_WARMUP_S))

    def summary(self) -> str | None:
        """One line for the test report (None before a warm-up): how slow the session found the machine."""
        if self.warmup_s is None:
            return None
        return (f"browser tests: server warm-up {self.warmup_s:.1f} s (idle machine: about {IDLE_WARMUP_S:.0f} s), "
                f"deadlines x{self.factor:.1f}")

    def ms(self, idle_ms: float) -> int:
        """A deadline: `idle_ms` (generous for an idle machine) scaled by this session's pace."""
        return int(idle_ms * self.factor)


#: One per test session: the server fixture measures it, every wait reads it.
PACE = Pace()

#: Idle-machine budgets. A single wait for something the page draws (a rerun, a plotly chart):
STEP_MS: int = 30_000
#: Work the server does for a click: a model run (imports torch, builds the network) or an evaluation.
RUN_MS: int = 90_000


def step_timeout_ms() -> int:
    """The deadline for one wait for the page to draw what an action asked for."""
    return PACE.ms(STEP_MS)


def run_timeout_ms() -> int:
    """The deadline for the server's work behind a click (a model run, an evaluation)."""
    return PACE.ms(RUN_MS)


def runs_finished(page: Page) -> int:
    """How many script runs this page has seen finish (0 on a page without the counter)."""
    return int(page.evaluate("() => window.__streamlitRunsFinished ?? 0"))


def wait_run_finished_after(page: Page, before: int, timeout_ms: int | None = None) -> None:
    """Wait until a script run that ended after the count `before` was taken is over, and none is running."""
    page.wait_for_function(_FINISHED_SINCE_JS, arg=before, polling=100,
                           timeout=timeout_ms if timeout_ms is not None else run_timeout_ms())


@contextmanager
def settled(page: Page, timeout_ms: int | None = None) -> Iterator[None]:
    """Around an action that reruns the script (an upload, a widget change): afterwards its run has finished.

    The next action then lands on the page that run drew, not on widgets it is about to replace (an upload
    into the second uploader while the first upload's rerun runs was lost on a busy machine).
    """
    before = runs_finished(page)
    yield
    wait_run_finished_after(page, before, timeout_ms)


def wait_idle(page: Page, timeout_ms: int | None = None) -> None:
    """Wait until no script runs (for the first run of a page just opened, whose start the counter may miss)."""
    from playwright.sync_api import expect

    expect(page.locator(IDLE_APP)).to_have_count(1, timeout=timeout_ms if timeout_ms is not None
                                                  else step_timeout_ms())


def seconds_since(start: float) -> float:
    return time.monotonic() - start
