"""Waiting on the app's own state, with deadlines sized to the machine the suite runs on.

A browser test that fails because the machine is busy tells nobody anything. So the tests never sleep for a
fixed time and never race the page: they wait for what Streamlit itself reports (the script run finished,
the element a user looks for is there), and every deadline is an idle-machine budget multiplied by the pace
the session's warm-up measured (`Pace`), so a machine twice as slow gets twice as long.

Streamlit marks its root element with `data-test-script-state`, but that attribute says little about a given
action: a widget's change is sent to the server before it leaves "notRunning", and a rerun fast enough to
start and finish between two renders never shows "running" at all. The server's own messages do: each script
run starts with a `new_session` message and ends with `script_finished` on the page's websocket.
`ScriptRuns` (attached to every page of a test's context) counts them, and `settled(page)` waits after an
action until a run has finished since and none is running.
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
#: How often a wait looks at the counts again (Playwright delivers websocket events while it waits).
POLL_MS: int = 50


class ScriptRuns:
    """The script runs a page's Streamlit session started and finished, read from the server's messages."""

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0

    def attach(self, page: Page) -> None:
        page.on("websocket", lambda socket: socket.on("framereceived", self._frame))

    def _frame(self, payload: bytes | str) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, str):
            return
        kind = ForwardMsg.FromString(bytes(payload)).WhichOneof("type")
        if kind == "new_session":
            self.started += 1
        elif kind == "script_finished":
            self.finished += 1

    @property
    def idle(self) -> bool:
        return self.finished >= self.started


_RUNS: dict[int, ScriptRuns] = {}


def track_script_runs(page: Page) -> None:
    """Count the script runs of `page` from now on (call before it opens the app: its websocket is watched)."""
    runs = ScriptRuns()
    runs.attach(page)
    _RUNS[id(page)] = runs
    page.on("close", lambda _: _RUNS.pop(id(page), None))


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


def wait_run_finished_after(page: Page, before: int, timeout_ms: int | None = None) -> None:
    """Wait until a script run has finished since `before` runs had, and none is running."""
    runs = _RUNS[id(page)]
    deadline = time.monotonic() + (timeout_ms if timeout_ms is not None else run_timeout_ms()) / 1000
    while not (runs.finished > before and runs.idle):
        if time.monotonic() > deadline:
            raise AssertionError(f"no script run finished after the action (runs started {runs.started}, "
                                 f"finished {runs.finished}, {before} before it)")
        page.wait_for_timeout(POLL_MS)


@contextmanager
def settled(page: Page, timeout_ms: int | None = None) -> Iterator[None]:
    """Around an action that reruns the script (an upload, a widget change): afterwards its run has finished.

    The next action then lands on the page that run drew, not on widgets it is about to replace (an upload
    into the second uploader while the first upload's rerun runs was lost on a busy machine).
    """
    before = _RUNS[id(page)].finished
    yield
    wait_run_finished_after(page, before, timeout_ms)


def wait_idle(page: Page, timeout_ms: int | None = None) -> None:
    """Wait until no script runs (for the first run of a page just opened, whose start the counter may miss)."""
    from playwright.sync_api import expect

    expect(page.locator(IDLE_APP)).to_have_count(1, timeout=timeout_ms if timeout_ms is not None
                                                  else step_timeout_ms())


def seconds_since(start: float) -> float:
    return time.monotonic() - start
