"""One browser session's model runs on its uploaded images, through the server's shared inference queues.

The Detections page only lays out widgets; what its Run button does is here, so that it can be tested without
Streamlit: the spec at the chosen input size, the weights (published, random, or an uploaded file stored by its
sha256), the model loaded once per server *before* queueing (a download never holds up other sessions' runs),
one request per model on its device's queue, and the finished requests turned into `ModelRun`s. Also what a
user reads about a run: where it stands, how it ended, and a one-line message for any error.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd

from explorer.detections import Detections
from explorer.engine import queue as inference_queue
from explorer.engine.queue import InferenceJob, InferenceQueues, InferenceRequest, RequestState
from explorer.engine.runners import RANDOM_WEIGHTS, WeightsChoice, resolve_device
from explorer.errors import ExplorerError
from explorer.models.catalog import ModelSpec, runnable_mask, spec_for_uid
from explorer.runtimes import RUNTIME_LABELS

#: How the weights of a run are chosen: the spec's published file, random weights, or a file the user uploads.
WEIGHTS_SOURCES: tuple[str, ...] = ("published", "upload", "random")
#: Environment variable bounding how many uploaded images one run takes (a session's share of the server).
MAX_IMAGES_ENV = "EXPLORER_MAX_IMAGES"
DEFAULT_MAX_IMAGES = 50

#: (bytes done, bytes in all or None): how a weights download reports its progress.
DownloadProgress = Callable[[int, int | None], None]


class WeightsUpload(Protocol):
    """An uploaded weights file as Streamlit hands it over: its name, and its bytes read only when needed."""

    name: str

    def getvalue(self) -> bytes: ...


@dataclass(frozen=True)
class RunSettings:
    """What the page's widgets chose for one model's run."""

    uid: str
    device: str = "auto"
    min_size: int = 800
    batch_size: int = 1
    autocast: str | None = None  # None: fp32
    weights: str = "published"  # one of WEIGHTS_SOURCES
    weights_upload: WeightsUpload | None = field(default=None, compare=False)
    runtime: str = "torch"  # eager PyTorch, or a runtime the model is exported to (explorer.runtimes; the CPU)

    def for_model(self, uid: str) -> RunSettings:
        """The same settings for another model (the side-by-side comparison)."""
        return replace(self, uid=uid)


@dataclass
class ModelRun:
    """One model's results on the uploaded images, kept across reruns."""

    uid: str
    name: str
    device: str
    detections: list[Detections]  # one per image
    seconds: float
    settings: RunSettings | None = None  # without the uploaded file: a result holds no upload's bytes


@dataclass
class PendingRun:
    """One model's run of a session, waiting or running on its device's queue (kept across reruns)."""

    uid: str
    name: str
    request: InferenceRequest
    settings: RunSettings

    def result(self) -> ModelRun:
        request = self.request
        return ModelRun(uid=self.uid, name=self.name, device=request.report.device, detections=request.detections,
                        seconds=request.finished_at - request.started_at, settings=self.settings)


def max_images_per_run() -> int:
    """How many uploaded images one run takes (EXPLORER_MAX_IMAGES, default 50): bounds a session's work."""
    return int(os.environ.get(MAX_IMAGES_ENV, str(DEFAULT_MAX_IMAGES)))


def runnable_uids(table: pd.DataFrame) -> list[str]:
    """The zoo rows some model family can run, in the table's order (TTA rows after their plain twin)."""
    return [str(uid) for uid in table.index[runnable_mask(table)]]


def sized_spec(table: pd.DataFrame, uid: str, min_size: int) -> ModelSpec:
    """The spec of `uid` in `table` at input size `min_size` (shorter side); the longer-side cap grows with it
    when needed. The table is the catalog's look-up table, so a proposal model comes from the same zoo table."""
    spec = spec_for_uid(table, uid)
    return spec.with_sizes(min_size, max(spec.preprocessing.max_size, min_size))


def weights_choice(settings: RunSettings) -> WeightsChoice:
    """What the engine should load: random, an uploaded file (stored by its sha256) or the published file."""
    from explorer.weights.uploads import save_uploaded_weights

    if settings.weights == "random":
        return RANDOM_WEIGHTS
    if settings.weights == "upload":
        upload = settings.weights_upload
        if upload is None:
            raise ValueError("Choose a weights file to upload, or pick another weights option.")
        return save_uploaded_weights(upload.name, upload.getvalue())
    return None


def queue_run(queues: InferenceQueues, table: pd.DataFrame, settings: RunSettings, images: Sequence[np.ndarray],
              session: str, downloaded: DownloadProgress | None = None) -> PendingRun:
    """Load the model (once per server, `downloaded` told of a weights download), then queue its run.

    Loading happens here, not in the queue, so that a download never holds up other sessions' runs. Raises
    what went wrong (`explain` words it for the user).
    """
    spec = sized_spec(table, settings.uid, settings.min_size)
    device = resolve_device(settings.device) if settings.runtime == "torch" else "cpu"
    weights = weights_choice(settings)
    queues.cache.get(spec, device, weights, downloaded, runtime=settings.runtime)
    job = InferenceJob(spec=spec, device=device, weights=weights, images=list(images),
                       batch_size=settings.batch_size, autocast=settings.autocast if settings.runtime == "torch"
                       else None, runtime=settings.runtime)
    request = queues.submit(job, session=session)
    return PendingRun(uid=settings.uid, name=spec.name, request=request,
                      settings=replace(settings, weights_upload=None))


def cancel_runs(pending: Iterable[PendingRun]) -> None:
    """Take runs out of their queue (a waiting one never runs; a running one stops after its batch)."""
    for run in pending:
        run.request.cancel()


def finished_runs(pending: Sequence[PendingRun]) -> list[ModelRun] | None:
    """The results of finished runs; None when every one was cancelled (the session keeps its old results)."""
    if all(run.request.state is RequestState.CANCELLED for run in pending):
        return None
    return [run.result() for run in pending if run.request.state is RequestState.DONE]


@dataclass(frozen=True)
class RunStatus:
    """Where an unfinished run stands, in the words and numbers its status box shows."""

    text: str  # "2 runs ahead of you", "running: 1 of 3 images"
    label: str  # the box's title: the model, `text` and the seconds since it was queued
    waiting: bool  # still in the queue (not running yet)
    fraction: float | None  # share of its images done, while it runs


def run_status(run: PendingRun, now: float | None = None) -> RunStatus:
    """The status of a run not finished yet (`now`: time.monotonic(), for tests)."""
    request = run.request
    text = inference_queue.status_text(request)
    waited = (time.monotonic() if now is None else now) - request.submitted_at
    running = request.state is RequestState.RUNNING
    return RunStatus(text=text, label=f"{run.name}: {text} · {waited:.0f} s",
                     waiting=request.state is RequestState.PENDING,
                     fraction=request.images_done / max(request.images_total, 1) if running else None)


def done_label(run: PendingRun) -> str:
    """How a finished run went: its time on the device and, when it waited noticeably, its time in the queue."""
    request = run.request
    waited = request.started_at - request.submitted_at
    queued = f", after {waited:.1f} s in the queue" if waited >= 0.5 else ""
    under = "" if run.settings.runtime == "torch" else f" under {RUNTIME_LABELS[run.settings.runtime]}"
    return (f"{run.name}: done in {request.finished_at - request.started_at:.2f} s on {request.report.device}"
            f"{under}{queued}")


def explain(error: BaseException) -> str:
    """A user-facing message: ours (ExplorerError) are written for people; anything else gets its type for a bug
    report. ValueError too: torch and torchvision word bad input that way (a wrong-architecture weights file)."""
    if isinstance(error, (ExplorerError, ValueError)):
        return str(error)
    if type(error).__name__ == "OutOfMemoryError":
        return f"The device ran out of memory ({error}); try a smaller batch, a smaller input size or the CPU."
    return f"Running the model failed: {type(error).__name__}: {error}"


def results_json(run: ModelRun) -> str:
    """The run's detections as a COCO results json, image ids 1, 2, ... in upload order."""
    from explorer.engine.predict import coco_results

    results, _ = coco_results(run.detections)
    return json.dumps(results)


@dataclass(frozen=True)
class RunContents:
    """What the runs found, for the drawing controls: masks and keypoints only where some result has them."""

    has_masks: bool
    has_keypoints: bool
    classes: list[str]


def run_contents(runs: Iterable[ModelRun]) -> RunContents:
    found = [detections for run in runs for detections in run.detections]
    return RunContents(has_masks=any(d.masks is not None for d in found),
                       has_keypoints=any(d.keypoints is not None for d in found),
                       classes=sorted({name for d in found for name in d.names}))


@dataclass(frozen=True)
class DrawnResult:
    """One model's detections on one image, drawn with the page's options."""

    image: np.ndarray
    shown: int  # detections past the score threshold and class filter
    timings: str  # "preprocess 12 ms · model 340 ms · ... · draw 3 ms"
    table: pd.DataFrame  # the detections past the score threshold


def draw_result(rgb: np.ndarray, found: Detections, options: Any) -> DrawnResult:
    """Draw `found` on `rgb` with `options` (explorer.drawing.detections.RenderOptions); the draw is timed too."""
    from explorer.drawing.detections import draw_detections

    started = time.perf_counter()
    drawn = draw_detections(rgb, found, options)
    found.timings["draw"] = time.perf_counter() - started
    frame = found.to_frame()
    timings = " · ".join(f"{stage} {seconds * 1000:.0f} ms" for stage, seconds in found.timings.items())
    above = found.keep_mask(options.score_thresh, None, options.class_thresholds)  # the table ignores `classes`
    shown = found.keep_mask(options.score_thresh, options.classes, options.class_thresholds)
    return DrawnResult(image=drawn, shown=int(shown.sum()), timings=timings, table=frame[above])

