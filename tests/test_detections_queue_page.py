"""The Detections page on the shared inference queue: a waiting user sees their place, and can cancel.

Another session's run holds the CPU queue (a scripted runner that waits on a gate), so the page's own run
must wait behind it. The page's model is a scripted runner too (placed in the page's model cache), which
tells whether the page's run ever reached the device.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.detections import empty_detections
from explorer.engine.queue import InferenceJob, RequestState
from explorer.engine.runners import RANDOM_WEIGHTS
from explorer.engine.session_runs import sized_spec
from explorer.views import loaders, run_resources
from tests.deadlines import APP_RUN_S, HANG_S
from tests.test_detections_page import APP, MODEL, PAGE, choose_random_small_model, png_bytes

BLOCKER = "torchvision:SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"
WAIT_S = HANG_S


class GatedRunner:
    """Stands in for a model: records each call, and waits on `gate` first when there is one."""

    def __init__(self, spec, gate: threading.Event | None = None) -> None:
        self.spec, self.device, self.categories = spec, "cpu", ("__background__",)
        self.gate, self.entered, self.calls = gate, threading.Event(), 0

    def predict(self, images, autocast=None):
        self.calls += 1
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(WAIT_S)
        return [empty_detections(image.shape[1], image.shape[0]) for image in images]


def page_spec(uid: str, min_size: int = 128):
    """The spec the page builds for `uid` at input size `min_size` (same cache key)."""
    return sized_spec(loaders.zoo_table(), uid, min_size)


@pytest.fixture
def held_queue() -> Iterator[tuple[threading.Event, GatedRunner]]:
    """Another session's run occupies the page's CPU queue until the gate opens; the page's model is scripted."""
    cache = run_resources.model_cache()
    cache.clear()
    gate = threading.Event()
    blocker = GatedRunner(page_spec(BLOCKER), gate)
    cache.put(blocker.spec, "cpu", RANDOM_WEIGHTS, blocker)
    mine = GatedRunner(page_spec(MODEL))
    cache.put(mine.spec, "cpu", RANDOM_WEIGHTS, mine)
    job = InferenceJob(spec=blocker.spec, device="cpu", weights=RANDOM_WEIGHTS, images=[np.zeros((8, 8, 3), "uint8")])
    other = run_resources.inference_queues().submit(job, session="another browser")
    assert blocker.entered.wait(WAIT_S)
    yield gate, mine
    gate.set()
    assert other.wait(WAIT_S)
    cache.clear()


@pytest.fixture
def page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=APP_RUN_S)
    at.switch_page(PAGE)
    at.run()
    at.file_uploader(key="detections:uploads").set_value([("a.png", png_bytes(), "image/png")])
    choose_random_small_model(at)
    at.run()
    assert not at.exception and at.button(key="detections:cancel").disabled  # nothing queued yet
    return at


def spy_on_places(monkeypatch) -> tuple[threading.Event, list[str]]:
    """Record what the page tells a waiting user (the real `status_text` still answers)."""
    from explorer.engine import queue as inference_queue
    real = inference_queue.status_text
    shown: list[str] = []
    waiting = threading.Event()

    def spy(request):
        text = real(request)
        shown.append(text)
        if request.session != "another browser" and request.state is RequestState.PENDING and request.position:
            waiting.set()
        return text

    monkeypatch.setattr(inference_queue, "status_text", spy)
    return waiting, shown


def status_texts(at: AppTest) -> list[str]:
    return [status.label for status in at.status] + [caption.value for caption in at.caption]


def test_a_waiting_user_sees_their_place_then_the_result(page: AppTest, held_queue, monkeypatch) -> None:
    gate, mine = held_queue
    waiting, shown = spy_on_places(monkeypatch)
    errors: list[BaseException] = []

    def press_run() -> None:
        try:
            page.button(key="detections:run").click().run()
        except BaseException as error:  # a failure in the thread must fail the test
            errors.append(error)

    session = threading.Thread(target=press_run)
    session.start()
    assert waiting.wait(WAIT_S), f"the page never showed its run waiting: {errors} {shown[:5]}"
    assert mine.calls == 0  # still behind the other session's run
    gate.set()
    session.join(WAIT_S)
    assert not errors and not page.exception
    assert "1 run ahead of you" in shown
    assert "Queued on cpu: 1 run ahead of you" in status_texts(page)  # the place stays in the run's status log
    [run] = page.session_state["detections:runs"]
    assert any(label.startswith(f"{run.name}: done in") for label in status_texts(page))
    assert mine.calls == 1 and len(run.detections) == 1 and len(page.get("image")) == 1


def test_a_new_run_replaces_the_sessions_waiting_run(page: AppTest, held_queue, monkeypatch) -> None:
    """Stopping the page (a browser's next click does) leaves the run queued; pressing Run again replaces it."""
    gate, mine = held_queue
    waiting, _ = spy_on_places(monkeypatch)
    page.button(key="detections:run").click()
    with pytest.raises(RuntimeError, match="timed out"):  # the script waits for its turn until it is stopped
        page.run(timeout=10)
    assert waiting.is_set(), "the page never queued its run"
    [first] = page.session_state["detections:pending"]
    assert first.request.state is RequestState.PENDING  # stopping the page is not cancelling the run

    def open_when_requeued() -> None:  # the other session's run ends once the page has queued its new run
        queue = run_resources.inference_queues().queue("cpu")
        while not any(r is not first.request for r in queue.waiting()):
            threading.Event().wait(0.05)
        gate.set()

    opener = threading.Thread(target=open_when_requeued, daemon=True)
    opener.start()
    page.button(key="detections:run").click().run()
    opener.join(WAIT_S)
    assert not page.exception
    assert first.request.state is RequestState.CANCELLED
    assert mine.calls == 1 and len(page.session_state["detections:runs"]) == 1  # the old run never ran
    assert not page.session_state["detections:pending"]


def test_the_speed_benchmark_has_the_device_to_itself(page: AppTest, monkeypatch) -> None:
    cache = run_resources.model_cache()
    cache.clear()
    queue = run_resources.inference_queues().queue("cpu")
    mine = GatedRunner(page_spec(MODEL))
    alone: list[bool] = []
    real_predict = mine.predict

    def predict(images, autocast=None):
        running = queue.running()
        alone.append(len(running) == 1 and running[0].job is None)  # our hold ticket, nobody else's run
        return real_predict(images, autocast)

    mine.predict = predict
    cache.put(mine.spec, "cpu", RANDOM_WEIGHTS, mine)
    page.button(key="detections:run").click().run()
    alone.clear()  # the Run itself went through the queue as an ordinary request
    page.number_input(key="detections:bench_runs").set_value(2)
    page.button(key="detections:bench").click().run()
    assert not page.exception and any("median" in message.value for message in page.success)
    assert alone and all(alone)  # warm-up and timed runs, all inside the hold
    assert queue.running() == [] and queue.waiting() == []  # and the device was handed back
    cache.clear()


def test_a_run_that_crashes_in_the_queue_is_reported_on_its_page(page: AppTest) -> None:
    class Crashing(GatedRunner):
        def predict(self, images, autocast=None):
            raise RuntimeError("kernel exploded")

    cache = run_resources.model_cache()
    cache.clear()
    cache.put(page_spec(MODEL), "cpu", RANDOM_WEIGHTS, Crashing(page_spec(MODEL)))
    page.button(key="detections:run").click().run()
    assert not page.exception
    assert any("Running the model failed: RuntimeError: kernel exploded" in error.value for error in page.error)
    assert any(label.endswith(": failed") for label in status_texts(page))
    assert page.session_state["detections:runs"] == [] and not page.session_state["detections:pending"]
    healthy = GatedRunner(page_spec(MODEL))
    cache.put(healthy.spec, "cpu", RANDOM_WEIGHTS, healthy)
    later = InferenceJob(spec=healthy.spec, device="cpu", weights=RANDOM_WEIGHTS, images=[np.zeros((8, 8, 3), "uint8")])
    assert run_resources.inference_queues().submit(later).wait(WAIT_S) and healthy.calls == 1  # the worker lives on
    cache.clear()


def test_a_waiting_page_sleeps_on_the_queue_until_it_changes(page: AppTest, held_queue, monkeypatch) -> None:
    """No polling loop: the page blocks in `wait_for_change` (waking once a second at most for its clock) and
    is woken by the queue when the run ahead finishes, then by its own run's end."""
    from explorer.engine.queue import InferenceQueue
    from explorer.pages.detections import TICK_S

    gate, mine = held_queue
    real = InferenceQueue.wait_for_change
    timeouts: list[float | None] = []

    def spy(self, seen, timeout=None):
        timeouts.append(timeout)
        gate.set()  # the page is asleep behind the other session's run: let that run end
        return real(self, seen, timeout)

    monkeypatch.setattr(InferenceQueue, "wait_for_change", spy)
    page.button(key="detections:run").click().run()
    assert not page.exception and mine.calls == 1 and len(page.session_state["detections:runs"]) == 1
    assert timeouts and all(timeout == TICK_S for timeout in timeouts)
