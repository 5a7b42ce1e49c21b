"""One inference queue per device: every session's runs go through it, one at a time, first come first served.

Why: six sessions that ran Mask R-CNN at once on a 2-core machine each started their own forward pass, so the
CPU threads were oversubscribed and all six finished together, 11x later than a lone run. Through the queue,
a device runs one job at a time (all its threads on that job), so the first caller gets its result as fast
as a lone run and the total is no worse than running them one after another. On a GPU the same queue keeps
two sessions' batches from competing for one card's memory.

- `InferenceQueues` (one per process; the Streamlit page keeps it in `st.cache_resource`) holds one
  `InferenceQueue` per device, each with one worker thread started on the first submit.
- Requests wait in arrival order. Consecutive requests for the same loaded model and settings are run as one
  batch when their images fit in one batch of the requested size (never reordering anyone).
- `InferenceRequest.position` says how many runs are ahead; `cancel()` takes a waiting request out (it never
  runs) or, for a running one, stops after the batch in progress and discards its result.
- A crash is reported to its own caller only (a failed batch of several requests is retried one by one) and
  the worker goes on with the next request. A CUDA out-of-memory error falls back inside the worker
  (`engine.predict_with_fallback`: batch size 1, then the CPU).
- `hold()` gives a caller the device to itself for a while, in turn (the speed benchmark times with it).

Models are loaded by the caller before submitting (`ModelCache.get`, which shows download progress and loads
each model once per server), so a download never holds up the queue; the worker reloads a model evicted
meanwhile. The command line (`explorer predict`, `explorer bench`) runs one job in its own process and calls
the engine directly: there is nobody to queue behind.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from explorer.detections import Detections
from explorer.engine.runners import FallbackReport, ModelCache, WeightsChoice, cache_key, predict_with_fallback
from explorer.models.catalog import ModelSpec


class RequestState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({RequestState.DONE, RequestState.FAILED, RequestState.CANCELLED})


class RunCancelled(Exception):
    """Raised inside the worker to stop a run whose every caller has cancelled it."""


class QueueClosedError(RuntimeError):
    """A request submitted to a queue that has been closed."""


@dataclass(frozen=True, eq=False)
class InferenceJob:
    """What to run: a model (as loaded by `ModelCache`) on some images with some settings."""

    spec: ModelSpec
    device: str
    weights: WeightsChoice
    images: Sequence[np.ndarray]
    batch_size: int = 1
    autocast: str | None = None
    runtime: str = "torch"  # or an export runtime (explorer.runtimes), the CPU only

    def batch_key(self) -> tuple[Any, ...]:
        """Jobs with equal keys run on the same loaded model the same way, so they may share a batch."""
        return cache_key(self.spec, self.device, self.weights, self.runtime), self.batch_size, self.autocast


_ids = itertools.count(1)


@dataclass(eq=False)
class InferenceRequest:
    """One caller's job in a queue: its state, place, progress and outcome. Safe to read from any thread."""

    job: InferenceJob | None  # None for a `hold` ticket
    session: str
    queue: InferenceQueue
    id: int = field(default_factory=lambda: next(_ids))
    state: RequestState = RequestState.PENDING
    images_done: int = 0
    detections: list[Detections] | None = None
    report: FallbackReport | None = None
    error: BaseException | None = None
    submitted_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    finished_at: float | None = None
    _finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def images_total(self) -> int:
        return len(self.job.images) if self.job is not None else 0

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def position(self) -> int:
        """How many runs are ahead of this one (running ones included); 0 once it runs or has finished."""
        return self.queue.ahead_of(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the request has finished (or `timeout` seconds passed); True when finished."""
        return self._finished.wait(timeout)

    def cancel(self) -> bool:
        """Cancel it; True when it had not finished yet (a waiting request then never runs)."""
        return self.queue.cancel(self)

    def result(self, timeout: float | None = None) -> tuple[list[Detections], FallbackReport]:
        """Wait, then the detections and how they were made; raises the run's own error, if it failed."""
        if not self.wait(timeout):
            raise TimeoutError(f"request {self.id} has not finished after {timeout} s")
        if self.state is RequestState.CANCELLED:
            raise RunCancelled(f"request {self.id} was cancelled")
        if self.error is not None:
            raise self.error
        assert self.detections is not None and self.report is not None
        return self.detections, self.report


def status_text(request: InferenceRequest) -> str:
    """What a waiting user reads: '2 runs ahead of you', 'running: 1 of 3 images', 'done'."""
    if request.state is RequestState.PENDING:
        ahead = request.position
        if ahead == 0:
            return "next in line"
        return f"{ahead} run{'s' if ahead != 1 else ''} ahead of you"
    if request.state is RequestState.RUNNING:
        return f"running: {request.images_done} of {request.images_total} images"
    return str(request.state)


class InferenceQueue:
    """Runs the jobs submitted for one device on one worker thread, in the order they came."""

    def __init__(self, device: str, cache: ModelCache) -> None:
        self.device = device
        self._cache = cache
        self._pending: deque[InferenceRequest] = deque()
        self._running: list[InferenceRequest] = []
        self._lock = threading.Condition()
        self._worker: threading.Thread | None = None
        self._closed = False
        self._release = threading.Event()
        self._changes = 0  # bumped (under the lock) whenever a request's state, place or progress changes

    # ---- what callers use ------------------------------------------------------------------------------

    def submit(self, job: InferenceJob, session: str = "") -> InferenceRequest:
        """Queue `job` behind everything already waiting; returns at once."""
        return self._enqueue(InferenceRequest(job=job, session=session, queue=self))

    def ahead_of(self, request: InferenceRequest) -> int:
        with self._lock:
            if request.state is not RequestState.PENDING:
                return 0
            running = sum(1 for other in self._running if other.state is RequestState.RUNNING)
            waiting = next((index for index, other in enumerate(self._pending) if other is request), 0)
            return running + waiting

    def cancel(self, request: InferenceRequest) -> bool:
        with self._lock:
            if request.finished:
                return False
            if request.state is RequestState.PENDING:
                self._pending.remove(request)
            self._finish(request, RequestState.CANCELLED)
            self._changed()
            return True

    def cancel_session(self, session: str) -> int:
        """Cancel every unfinished request of one session; how many were cancelled."""
        with self._lock:
            mine = [r for r in (*self._pending, *self._running) if r.session == session and not r.finished]
        return sum(self.cancel(request) for request in mine)

    def waiting(self) -> list[InferenceRequest]:
        """The requests still waiting, first in line first."""
        with self._lock:
            return list(self._pending)

    def running(self) -> list[InferenceRequest]:
        """What the worker is on now: one request, a shared batch of several, or a `hold` ticket."""
        with self._lock:
            return [request for request in self._running if request.state is RequestState.RUNNING]

    @property
    def changes(self) -> int:
        """A counter that grows whenever a request here is queued, starts, progresses, finishes or leaves."""
        return self._changes

    def wait_for_change(self, seen: int, timeout: float | None = None) -> int:
        """Block until `changes` differs from `seen` (or `timeout` seconds passed); the counter then.

        Why: a page following its run sleeps here instead of polling, so it wakes the moment there is
        something to show (its run's result above all) and holds no GIL meanwhile; a thread blocked on the
        queue's condition costs the run in progress nothing. Pass the `changes` read before looking at the
        requests, so that a change in between is never missed.
        """
        with self._lock:
            if self._changes == seen:
                self._lock.wait(timeout)
            return self._changes

    @contextmanager
    def hold(self, session: str = "", on_wait: Callable[[InferenceRequest], None] | None = None,
             poll_s: float = 0.25) -> Iterator[InferenceRequest]:
        """Wait for our turn, then keep the device to ourselves until the block ends (e.g. to time a model).

        `on_wait(ticket)` is called every `poll_s` seconds while waiting, outside the queue's lock: a page
        shows the place there, and an exception it raises (Streamlit stopping the script) leaves the line.
        """
        ticket = self._enqueue(InferenceRequest(job=None, session=session, queue=self))
        try:
            while True:
                with self._lock:
                    if ticket.state is RequestState.PENDING:
                        self._lock.wait(poll_s)
                    if ticket.state is not RequestState.PENDING:
                        break
                if on_wait is not None:
                    on_wait(ticket)
            if ticket.state is not RequestState.RUNNING:
                raise RunCancelled(f"hold {ticket.id} was cancelled")
            yield ticket
        finally:
            with self._lock:
                if ticket.state is RequestState.PENDING:
                    self._pending.remove(ticket)
                if not ticket.finished:
                    self._finish(ticket, RequestState.DONE)
                self._changed()

    def close(self, timeout: float | None = 10.0) -> None:
        """Cancel what waits, let the running job finish, stop the worker (tests; a server runs until exit)."""
        with self._lock:
            self._closed = True
            for request in list(self._pending):
                self._finish(request, RequestState.CANCELLED)
            self._pending.clear()
            self._changed()
        if self._worker is not None:
            self._worker.join(timeout)

    # ---- the worker ----------------------------------------------------------------------------------------

    def _enqueue(self, request: InferenceRequest) -> InferenceRequest:
        with self._lock:
            if self._closed:
                raise QueueClosedError(f"the {self.device} inference queue is closed")
            self._pending.append(request)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name=f"inference-{self.device}", daemon=True)
                self._worker.start()
            self._changed()
        return request

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._lock.wait()
                if self._closed and not self._pending:
                    return
                group = self._take_group()
            if group[0].job is None:
                self._serve_hold(group[0])
            else:
                self._run_group(group)
            with self._lock:
                self._running = []
                self._changed()

    def _take_group(self) -> list[InferenceRequest]:
        """The first waiting request, plus those right behind it that can share its batch (lock held)."""
        head = self._pending.popleft()
        group = [head]
        if head.job is not None:
            room = head.job.batch_size - len(head.job.images)
            key = head.job.batch_key()
            while self._pending and self._pending[0].job is not None and self._pending[0].job.batch_key() == key \
                    and len(self._pending[0].job.images) <= room:
                room -= len(self._pending[0].job.images)
                group.append(self._pending.popleft())
        now = time.monotonic()
        for request in group:
            request.state, request.started_at = RequestState.RUNNING, now
        self._running = group
        self._changed()
        return group

    def _serve_hold(self, ticket: InferenceRequest) -> None:
        with self._lock:
            while not ticket.finished:
                self._lock.wait()

    def _run_group(self, group: list[InferenceRequest]) -> None:
        try:
            found, report = self._predict(group)
        except RunCancelled:
            self._settle(group, RequestState.CANCELLED)
        except Exception as error:  # reported to the callers; the worker goes on with the next request
            if len(group) > 1:
                for request in group:  # alone, so that only the request that crashes sees its error
                    if not request.finished:
                        self._run_group([request])
                return
            self._settle(group, RequestState.FAILED, error=error)
        else:
            start = 0
            for request in group:
                count = len(request.job.images)
                self._settle([request], RequestState.DONE, detections=found[start:start + count], report=report)
                start += count

    def _predict(self, group: list[InferenceRequest]) -> tuple[list[Detections], FallbackReport]:
        job = group[0].job
        images = [image for request in group for image in request.job.images]
        offsets = list(itertools.accumulate((len(request.job.images) for request in group), initial=0))

        def progress(done: int, total: int) -> None:
            with self._lock:
                for request, start, end in zip(group, offsets, offsets[1:], strict=False):
                    request.images_done = min(max(done - start, 0), end - start)
                self._changed()
            if all(request.finished for request in group):
                raise RunCancelled("every caller cancelled")

        if all(request.finished for request in group):
            raise RunCancelled("every caller cancelled")
        return predict_with_fallback(self._cache, job.spec, job.device, job.weights, images,
                                     batch_size=job.batch_size, autocast=job.autocast, progress=progress,
                                     runtime=job.runtime)

    def _settle(self, group: list[InferenceRequest], state: RequestState, **outcome: Any) -> None:
        with self._lock:
            for request in group:
                if request.finished:  # cancelled while it ran: its result is dropped
                    continue
                for name, value in outcome.items():
                    setattr(request, name, value)
                if state is RequestState.DONE:
                    request.images_done = request.images_total
                self._finish(request, state)
            self._changed()

    def _changed(self) -> None:
        """Note a change and wake everyone waiting on the queue (lock held)."""
        self._changes += 1
        self._lock.notify_all()

    @staticmethod
    def _finish(request: InferenceRequest, state: RequestState) -> None:
        request.state, request.finished_at = state, time.monotonic()
        request._finished.set()


def device_key(device: str) -> str:
    """One queue per physical device: 'cuda' and 'cuda:0' are the same card."""
    device = device.lower()
    return "cuda:0" if device == "cuda" else device


class InferenceQueues:
    """The queues of one process, one per device, sharing one model cache."""

    def __init__(self, cache: ModelCache, threads: int | None = None) -> None:
        self.cache = cache
        self.threads = configure_torch_threads(threads)
        self._queues: dict[str, InferenceQueue] = {}
        self._lock = threading.Lock()

    def queue(self, device: str) -> InferenceQueue:
        with self._lock:
            key = device_key(device)
            if key not in self._queues:
                self._queues[key] = InferenceQueue(key, self.cache)
            return self._queues[key]

    def submit(self, job: InferenceJob, session: str = "") -> InferenceRequest:
        return self.queue(job.device).submit(job, session)

    def close(self) -> None:
        with self._lock:
            queues = list(self._queues.values())
        for queue in queues:
            queue.close()


_threads_lock = threading.Lock()
_threads_set: int | None = None


def configure_torch_threads(threads: int | None = None) -> int:
    """Set torch's CPU thread count once for the process; later calls only report it.

    Once, because the setting is process-wide: changing it per request would change it under another
    session's run. From `threads`, else EXPLORER_TORCH_THREADS, else torch's own default (its physical
    cores) capped at the CPUs this process may use (a container often gets fewer than the machine has).
    """
    global _threads_set
    with _threads_lock:
        if _threads_set is None:
            import torch

            wanted = threads or int(os.environ.get("EXPLORER_TORCH_THREADS", "0")) \
                or min(torch.get_num_threads(), _usable_cpus())
            if torch.get_num_threads() != wanted:
                torch.set_num_threads(wanted)
            _threads_set = wanted
        return _threads_set


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
