"""The per-device inference queue: order, places, batching, cancellation, crashes and the OOM fallback.

The runners are scripted fakes (no model weights): each image carries a tag in its pixels, the runner logs
the tags of every batch it is given, and a test can hold a tag's batch on a gate to keep the worker busy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from explorer.detections import empty_detections
from explorer.engine.queue import (
    InferenceJob,
    InferenceQueue,
    InferenceQueues,
    RequestState,
    RunCancelled,
    configure_torch_threads,
    status_text,
)
from explorer.engine.runners import RANDOM_WEIGHTS, ModelCache
from tests.deadlines import HANG_S
from tests.model_factory import torchvision_spec

MODEL = "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1"
WAIT_S = HANG_S  # generous: a stuck worker fails the test instead of hanging it


def tagged(tag: int) -> np.ndarray:
    """An image whose pixels all hold `tag`, `tag + 8` pixels wide, so results can be matched to inputs."""
    return np.full((6, tag + 8, 3), tag, dtype=np.uint8)


def tag_of(image: np.ndarray) -> int:
    return int(image[0, 0, 0])


class Script:
    """What the fake runners do and what they saw, shared by every runner one cache builds."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, tuple[int, ...]]] = []  # (device, tags) per predict call
        self.gates: dict[int, threading.Event] = {}  # a batch holding this tag waits for the gate
        self.entered: dict[int, threading.Event] = {}  # set when a batch holding this tag starts
        self.crash: set[int] = set()  # tags whose batch raises
        self.cuda_fits: int | None = None  # the fake GPU runs out of memory above this batch size

    def gate(self, tag: int) -> threading.Event:
        self.entered[tag] = threading.Event()
        self.gates[tag] = threading.Event()
        return self.gates[tag]

    def ran(self) -> list[int]:
        return [tag for _, tags in self.batches for tag in tags]


class ScriptedRunner:
    def __init__(self, spec, device: str, script: Script) -> None:
        self.spec, self.device, self.categories, self.script = spec, device, ("__background__",), script

    def predict(self, images, autocast=None):
        tags = tuple(tag_of(image) for image in images)
        self.script.batches.append((self.device, tags))
        for tag in tags:
            if tag in self.script.entered:
                self.script.entered[tag].set()
                assert self.script.gates[tag].wait(WAIT_S), "a gate was never opened"
        fits = self.script.cuda_fits
        if self.device.startswith("cuda") and fits is not None and len(images) > fits:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if self.script.crash & set(tags):
            raise ValueError(f"cannot run image {sorted(self.script.crash & set(tags))[0]}")
        return [empty_detections(image.shape[1], image.shape[0]) for image in images]


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def queues(script: Script) -> Iterator[InferenceQueues]:
    cache = ModelCache(max_models=4, loader=lambda spec, device, weights, progress: ScriptedRunner(spec, device,
                                                                                                   script))
    made = InferenceQueues(cache)
    yield made
    for gate in script.gates.values():
        gate.set()
    made.close()


def job(*tags: int, batch_size: int = 1, device: str = "cpu", min_size: int = 96) -> InferenceJob:
    spec = torchvision_spec(MODEL).with_sizes(min_size, 128)
    return InferenceJob(spec=spec, device=device, weights=RANDOM_WEIGHTS, images=[tagged(t) for t in tags],
                        batch_size=batch_size)


def busy(queues: InferenceQueues, script: Script, tag: int = 99, device: str = "cpu") -> tuple:
    """Keep the device's worker busy on a run of `tag` until the returned gate is opened."""
    gate = script.gate(tag)
    request = queues.submit(job(tag, device=device), session="someone else")
    assert script.entered[tag].wait(WAIT_S)
    return request, gate


def test_runs_in_arrival_order_across_sessions_and_says_where_each_stands(queues, script) -> None:
    blocker, gate = busy(queues, script)
    order = [("alice", 1), ("bob", 2), ("alice", 3), ("carol", 4)]
    requests = [queues.submit(job(tag), session=session) for session, tag in order]
    assert blocker.state is RequestState.RUNNING and blocker.position == 0
    assert [request.position for request in requests] == [1, 2, 3, 4]
    assert [status_text(request) for request in requests[:2]] == ["1 run ahead of you", "2 runs ahead of you"]
    assert [r.session for r in queues.queue("cpu").waiting()] == ["alice", "bob", "alice", "carol"]
    gate.set()
    for request in requests:
        assert request.wait(WAIT_S) and request.state is RequestState.DONE
    assert script.ran() == [99, 1, 2, 3, 4]
    assert all(request.position == 0 for request in requests)
    assert [found[0].width for found, _ in (request.result() for request in requests)] == [9, 10, 11, 12]


def test_each_device_has_its_own_queue(queues, script) -> None:
    _, gate = busy(queues, script, device="cpu")
    on_gpu = queues.submit(job(5, device="cuda"))  # the fake loader needs no GPU
    assert on_gpu.wait(WAIT_S) and on_gpu.state is RequestState.DONE  # not stuck behind the CPU's run
    assert queues.queue("cuda") is queues.queue("cuda:0") is not queues.queue("cpu")
    gate.set()


def test_consecutive_requests_for_one_model_share_a_batch_without_jumping_the_line(queues, script) -> None:
    _, gate = busy(queues, script)
    first, second = queues.submit(job(1, batch_size=4), "a"), queues.submit(job(2, 3, batch_size=4), "b")
    other_model = queues.submit(job(4, batch_size=4, min_size=128), "c")  # another model: its own batch
    last = queues.submit(job(5, batch_size=4), "d")  # same model as the first two, but behind "c": waits
    gate.set()
    for request in (first, second, other_model, last):
        assert request.wait(WAIT_S) and request.state is RequestState.DONE
    assert [tags for _, tags in script.batches] == [(99,), (1, 2, 3), (4,), (5,)]
    assert [d.width for d in first.detections] == [9] and [d.width for d in second.detections] == [10, 11]


def test_a_cancelled_waiting_request_never_runs(queues, script) -> None:
    _, gate = busy(queues, script)
    keep, drop, after = (queues.submit(job(tag), f"s{tag}") for tag in (1, 2, 3))
    assert drop.cancel() and drop.state is RequestState.CANCELLED and drop.wait(0)
    assert after.position == 2  # one place nearer
    assert not drop.cancel()  # already finished: nothing to do
    gate.set()
    assert after.wait(WAIT_S) and keep.state is after.state is RequestState.DONE
    assert 2 not in script.ran() and script.ran() == [99, 1, 3]
    with pytest.raises(RunCancelled):
        drop.result()


def test_cancelling_a_running_request_stops_it_after_the_batch_in_progress(queues, script) -> None:
    gate = script.gate(1)
    running = queues.submit(job(1, 2, 3), "a")  # three batches of one image
    following = queues.submit(job(4), "b")
    assert script.entered[1].wait(WAIT_S)
    assert running.cancel()
    assert running.wait(0) and running.state is RequestState.CANCELLED  # the caller is free at once
    gate.set()
    assert following.wait(WAIT_S) and following.state is RequestState.DONE
    assert script.ran() == [1, 4]  # images 2 and 3 were never run
    assert running.detections is None


def test_cancel_session_takes_only_that_sessions_requests(queues, script) -> None:
    _, gate = busy(queues, script)
    mine, theirs, mine_too = queues.submit(job(1), "me"), queues.submit(job(2), "you"), queues.submit(job(3), "me")
    assert queues.queue("cpu").cancel_session("me") == 2
    gate.set()
    assert theirs.wait(WAIT_S) and theirs.state is RequestState.DONE
    assert mine.state is mine_too.state is RequestState.CANCELLED and script.ran() == [99, 2]


def test_a_crash_is_reported_to_its_caller_only_and_the_next_request_runs(queues, script) -> None:
    script.crash = {2}
    _, gate = busy(queues, script)
    before, crashing, after = (queues.submit(job(tag), f"s{tag}") for tag in (1, 2, 3))
    gate.set()
    assert after.wait(WAIT_S)
    assert crashing.state is RequestState.FAILED and "cannot run image 2" in str(crashing.error)
    with pytest.raises(ValueError, match="cannot run image 2"):
        crashing.result()
    assert before.state is after.state is RequestState.DONE and before.error is after.error is None


def test_a_crash_in_a_shared_batch_fails_only_the_request_that_caused_it(queues, script) -> None:
    script.crash = {2}
    _, gate = busy(queues, script)
    good, bad = queues.submit(job(1, batch_size=2), "a"), queues.submit(job(2, batch_size=2), "b")
    gate.set()
    assert good.wait(WAIT_S) and bad.wait(WAIT_S)
    assert good.state is RequestState.DONE and bad.state is RequestState.FAILED
    assert [tags for _, tags in script.batches] == [(99,), (1, 2), (1,), (2,)]  # together, then one by one


def test_out_of_memory_falls_back_inside_the_queue(queues, script) -> None:
    script.cuda_fits = 1
    request = queues.submit(job(1, 2, 3, batch_size=3, device="cuda"), "a")
    found, report = request.result(WAIT_S)
    assert [d.width for d in found] == [9, 10, 11]
    assert (report.device, report.batch_size) == ("cuda", 1)
    assert report.notes == ["cuda ran out of memory at batch size 3; retried on cuda with batch size 1."]
    assert script.batches == [("cuda", (1, 2, 3)), ("cuda", (1,)), ("cuda", (2,)), ("cuda", (3,))]

    script.cuda_fits = 0  # nothing fits: the CPU takes it, and the next request still runs on the GPU queue
    script.batches.clear()
    spilled, then = queues.submit(job(4, device="cuda"), "b"), queues.submit(job(5, device="cuda"), "c")
    assert spilled.result(WAIT_S)[1].device == "cpu" and then.wait(WAIT_S)
    assert script.batches[:2] == [("cuda", (4,)), ("cpu", (4,))]
    assert "retried on cpu" in spilled.report.notes[-1]


def test_a_hold_has_the_device_to_itself_in_turn(queues, script) -> None:
    queue = queues.queue("cpu")
    blocker, gate = busy(queues, script)
    got_turn = threading.Event()
    release = threading.Event()

    places: list[str] = []

    def benchmark() -> None:
        with queue.hold("timer", on_wait=lambda ticket: places.append(status_text(ticket)), poll_s=0.01) as ticket:
            assert ticket.state is RequestState.RUNNING
            got_turn.set()
            assert release.wait(WAIT_S)

    timer = threading.Thread(target=benchmark)
    timer.start()
    while not queue.waiting():  # the hold is in line behind the running blocker
        threading.Event().wait(0.01)
    behind = queues.submit(job(1), "later")
    assert behind.position == 2 and not got_turn.is_set()
    gate.set()
    assert got_turn.wait(WAIT_S) and blocker.state is RequestState.DONE
    assert "1 run ahead of you" in places and queue.running()[0].job is None
    assert behind.state is RequestState.PENDING and behind.position == 1  # waits while the hold lasts
    release.set()
    timer.join(WAIT_S)
    assert behind.wait(WAIT_S) and script.ran() == [99, 1]


def test_closing_cancels_what_waits(script) -> None:
    queue = InferenceQueue("cpu", ModelCache(loader=lambda spec, device, weights, progress: ScriptedRunner(
        spec, device, script)))
    gate = script.gate(1)
    running, waiting = queue.submit(job(1)), queue.submit(job(2))
    assert script.entered[1].wait(WAIT_S)
    threading.Timer(0.2, gate.set).start()
    queue.close()
    assert running.state is RequestState.DONE and waiting.state is RequestState.CANCELLED


def test_torch_threads_are_set_once_per_process() -> None:
    first = configure_torch_threads()
    assert torch.get_num_threads() == first
    assert configure_torch_threads(first + 3) == first and torch.get_num_threads() == first  # not per request


def test_a_hold_left_while_waiting_gives_up_its_place(queues, script) -> None:
    queue = queues.queue("cpu")
    _, gate = busy(queues, script)

    class Stopped(Exception):
        """What Streamlit raises in a script whose user clicked elsewhere."""

    def stop(ticket) -> None:
        raise Stopped

    with pytest.raises(Stopped), queue.hold("timer", on_wait=stop, poll_s=0.01):
        pytest.fail("the hold must not be granted while the device is busy")
    assert queue.waiting() == []
    after = queues.submit(job(1), "next")
    gate.set()
    assert after.wait(WAIT_S) and after.state is RequestState.DONE


def test_a_follower_sleeps_on_the_queue_until_something_changes(queues, script) -> None:
    """`wait_for_change` (what a waiting page blocks on): wakes on a change, returns at once on a missed one."""
    _, gate = busy(queues, script)
    queue = queues.queue("cpu")
    seen = queue.changes
    assert queue.wait_for_change(seen, 0.05) == seen  # nothing changed: it sleeps until the timeout
    mine = queues.submit(job(1))
    assert queue.wait_for_change(seen, WAIT_S) > seen  # a change made before the call is not missed
    seen = queue.changes
    woke: list[tuple[int, RequestState]] = []
    follower = threading.Thread(target=lambda: woke.append((queue.wait_for_change(seen, WAIT_S), mine.state)))
    follower.start()
    follower.join(0.2)
    assert follower.is_alive() and not woke  # still asleep: nothing has moved
    gate.set()
    follower.join(WAIT_S)
    assert woke and woke[0][0] > seen  # woken by the queue moving on, long before its timeout
    assert mine.wait(WAIT_S) and mine.state is RequestState.DONE


def test_a_runs_progress_wakes_its_followers(queues, script) -> None:
    first, second = script.gate(1), script.gate(2)
    request = queues.submit(job(1, 2, 3))
    queue = queues.queue("cpu")
    assert script.entered[1].wait(WAIT_S)
    seen = queue.changes
    first.set()  # image 1 done; image 2 holds the run, so only the progress can be the change
    assert queue.wait_for_change(seen, WAIT_S) > seen
    assert request.state is RequestState.RUNNING and request.images_done == 1
    second.set()
    assert request.wait(WAIT_S) and request.images_done == 3
