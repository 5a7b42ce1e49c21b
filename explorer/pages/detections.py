"""Detections: run any runnable zoo model on the user's own images and see boxes, masks and keypoints.

The model runs only when the user presses Run; its results stay in session state, so moving the score
slider, filtering classes or hiding masks only redraws (milliseconds), never re-runs the model.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

from explorer.inputs.images import UPLOAD_TYPES
from explorer.pages import common
from explorer.pages.run_resources import inference_queues, model_cache

RESULTS_KEY = "detections:runs"
PENDING_KEY = "detections:pending"
CANCEL_KEY = "detections:cancel"
POLL_S = 0.25  # how often a waiting page looks at its place in the queue
DEFAULT_MODEL = "torchvision:MaskRCNN_ResNet50_FPN_Weights.COCO_V1"
INPUT_SIZES = (128, 320, 480, 640, 800, 1024)
WEIGHT_CHOICES = {
    "published": "Published weights (downloaded once, then cached)",
    "upload": "A weights file I upload",
    "random": "Random weights: tests the pipeline, detections are meaningless",
}


@dataclass
class ModelRun:
    """One model's results on the uploaded images, kept across reruns."""

    uid: str
    name: str
    device: str
    detections: list[Any]  # explorer.detections.Detections, one per image
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)


def max_images_per_run() -> int:
    """How many uploaded images one run takes (EXPLORER_MAX_IMAGES, default 50): bounds a session's work."""
    return int(os.environ.get("EXPLORER_MAX_IMAGES", "50"))


@st.cache_data(show_spinner=False, max_entries=32)
def decode_uploads(files: tuple[tuple[str, bytes], ...]) -> tuple[list[Any], list[str]]:
    """Uploaded bytes -> decoded RGB images and one message per file that could not be used."""
    from explorer.inputs.images import load_images

    loaded, errors = load_images(files)
    return loaded, [str(error) for error in errors]


@st.cache_data(show_spinner=False)
def runnable_uids() -> list[str]:
    """Zoo rows some model family can run, TTA rows after their plain twin."""
    from explorer.models.catalog import is_runnable

    table = common.zoo_table()
    return [uid for uid, row in table.iterrows() if is_runnable(row.to_dict())]


def render() -> None:
    st.title("Detections on your images")
    table = common.zoo_table()
    common.sidebar_selection(table)
    options = runnable_uids()
    if not options:
        st.error("No zoo model can be run in this installation.")
        return
    files = st.file_uploader("Images (JPEG, PNG, WebP, BMP, TIFF)", type=UPLOAD_TYPES, accept_multiple_files=True,
                             key="detections:uploads")
    files = list(files or [])
    limit = max_images_per_run()
    if len(files) > limit:
        st.warning(f"{len(files)} images uploaded; one run takes at most {limit}, so the first {limit} are used. "
                   "Raise the limit with the EXPLORER_MAX_IMAGES environment variable.", icon=":material/filter:")
        files = files[:limit]
    images, errors = decode_uploads(tuple((f.name, f.getvalue()) for f in files))
    for error in errors:
        st.error(error, icon=":material/broken_image:")
    settings = _run_settings(table, options)
    compare = settings.pop("compare")
    run_column, cancel_column, _ = st.columns([1, 1, 6])
    if run_column.button("Run", type="primary", disabled=not images, key="detections:run"):
        _queue_runs(table, [uid for uid in [settings["uid"], compare] if uid], images, settings)
    _wait_for_runs(cancel_column.empty())
    runs: list[ModelRun] = [run for run in st.session_state.get(RESULTS_KEY, [])
                            if len(run.detections) == len(images)]
    if not images:
        st.info("Upload one or more images, pick a model, then press Run.")
        return
    if not runs:
        st.caption("Press Run to detect objects in the uploaded images.")
        return
    _show_results(images, runs)
    from explorer.pages import eval_views

    eval_views.render_annotations_panel(images, runs, "detections:eval")
    _benchmark_section(table, settings, images)


def _run_settings(table: pd.DataFrame, options: list[str]) -> dict[str, Any]:
    """Model, comparison model, device, weights, input size and batch size from the widgets."""
    selected = common.selected_model(table)
    default = selected if selected in options else DEFAULT_MODEL if DEFAULT_MODEL in options else options[0]
    label = lambda uid: common.model_label(table, uid)  # noqa: E731
    left, right = st.columns(2)
    uid = left.selectbox("Model", options, index=options.index(default), format_func=label, key="detections:model")
    compare = right.selectbox("Compare side by side with (optional)", [None, *options], format_func=lambda u: (
        "—" if u is None else label(u)), key="detections:compare")
    with st.expander("Run settings", expanded=False):
        cols = st.columns(4)
        device = cols[0].selectbox("Device", ["auto", "cpu", "cuda"], key="detections:device",
                                   help="auto: the GPU when there is one, else the CPU")
        min_size = cols[1].select_slider("Input size (shorter side)", INPUT_SIZES, value=800, key="detections:size",
                                         help="The zoo's numbers use 800; smaller runs faster on a CPU")
        batch_size = cols[2].number_input("Batch size", 1, 16, 1, key="detections:batch")
        autocast = cols[3].selectbox("Precision (GPU)", ["fp32", "fp16", "bf16"], key="detections:autocast")
        weights = st.radio("Weights", list(WEIGHT_CHOICES), format_func=WEIGHT_CHOICES.get, key="detections:weights")
        upload = None
        if weights == "upload":
            upload = st.file_uploader("Weights file (.pth state dict, or a Detectron .pkl)", type=["pth", "pt", "pkl"],
                                      key="detections:wfile")
    return {"uid": uid, "compare": compare, "device": device, "min_size": int(min_size),
            "batch_size": int(batch_size), "autocast": None if autocast == "fp32" else autocast,
            "weights": weights, "weights_upload": upload}


def _weights_choice(settings: dict[str, Any]) -> Any:
    """What the engine should load: random, an uploaded file (stored by its sha256) or the published file."""
    from explorer.engine.runners import RANDOM_WEIGHTS
    from explorer.inputs.uploads import save_uploaded_weights

    if settings["weights"] == "random":
        return RANDOM_WEIGHTS
    if settings["weights"] == "upload":
        upload = settings["weights_upload"]
        if upload is None:
            raise ValueError("Choose a weights file to upload, or pick another weights option.")
        return save_uploaded_weights(upload.name, upload.getvalue())
    return None


def _queue_runs(table: pd.DataFrame, uids: list[str], images: list[Any], settings: dict[str, Any]) -> None:
    """Queue one run per model on its device's inference queue; a new Run replaces this session's old one."""
    for old in st.session_state.get(PENDING_KEY) or []:
        old.request.cancel()
    pending = [run for uid in uids if (run := _queue_run(table, uid, images, settings)) is not None]
    st.session_state[PENDING_KEY] = pending
    if not pending:  # nothing could even be queued: the old results are no answer to this Run
        st.session_state[RESULTS_KEY] = []


def _queue_run(table: pd.DataFrame, uid: str, images: list[Any], settings: dict[str, Any]) -> PendingRun | None:
    """Load the model (once per server, with download progress), then queue its run; errors are shown, not raised.

    Loading happens here, not in the queue, so that a download never holds up other sessions' runs.
    """
    from explorer.engine.queue import InferenceJob
    from explorer.engine.runners import resolve_device
    from explorer.models.catalog import spec_for_uid

    name = str(table.at[uid, "name"])
    holder = st.empty()
    try:
        spec = spec_for_uid(table, uid)
        spec = spec.with_sizes(settings["min_size"], max(spec.preprocessing.max_size, settings["min_size"]))
        device = resolve_device(settings["device"])
        download = holder.progress(0.0, text=f"Loading {name}")

        def downloaded(done: int, total: int | None) -> None:
            if total:
                download.progress(min(done / total, 1.0), text=f"Downloading weights: {done / 1e6:.0f} of "
                                  f"{total / 1e6:.0f} MB")

        weights = _weights_choice(settings)
        model_cache().get(spec, device, weights, downloaded)
        job = InferenceJob(spec=spec, device=device, weights=weights, images=[image.rgb for image in images],
                           batch_size=settings["batch_size"], autocast=settings["autocast"])
        request = inference_queues().submit(job, session=_session_id())
    except Exception as error:  # any failure is shown to the user; the app keeps running
        holder.empty()
        st.error(_explain(error), icon=":material/error:")
        return None
    holder.empty()
    return PendingRun(uid=uid, name=name, request=request,
                      settings={k: v for k, v in settings.items() if k != "weights_upload"})


def _session_id() -> str:
    """This browser session's id, so the queue can tell whose run is whose."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


def _wait_for_runs(cancel_slot: Any) -> None:
    """Follow this session's queued runs until they finish: place in the queue, progress, and a Cancel button.

    The page polls in a short loop; it never blocks on the queue. Any widget change reruns the script, which
    ends the loop, and the rerun picks the same requests up again: only Cancel (or a new Run) drops them.
    Cancel is always drawn (disabled while nothing waits) so that it keeps one identity across reruns.
    """
    pending: list[PendingRun] = st.session_state.get(PENDING_KEY) or []
    if cancel_slot.button("Cancel", key=CANCEL_KEY, icon=":material/cancel:", disabled=not pending,
                          help="Take this session's run out of the queue, or stop it after the current batch"):
        for run in pending:
            run.request.cancel()
    if not pending:
        return
    views = [_QueuedRunView(run) for run in pending]
    while not all([view.update() for view in views]):
        time.sleep(POLL_S)
    cancel_slot.empty()
    st.session_state[PENDING_KEY] = []
    for view in views:
        view.report()
    if any(run.request.state != "cancelled" for run in pending):  # cancelling alone keeps the old results
        st.session_state[RESULTS_KEY] = [run.result() for run in pending if run.request.state == "done"]


@dataclass
class PendingRun:
    """One model's run of this session, waiting or running on its device's queue (kept across reruns)."""

    uid: str
    name: str
    request: Any  # explorer.engine.queue.InferenceRequest
    settings: dict[str, Any]

    def result(self) -> ModelRun:
        request = self.request
        return ModelRun(uid=self.uid, name=self.name, device=request.report.device, detections=request.detections,
                        seconds=request.finished_at - request.started_at, settings=self.settings)


class _QueuedRunView:
    """A status box per queued run: where it stands (a line each time its place changes), then its progress."""

    def __init__(self, run: PendingRun) -> None:
        self.run = run
        self.box = st.status(f"{run.name}: queued", expanded=True)
        self.bar: Any = None
        self.last = ""

    def update(self) -> bool:
        """Show the current state (each poll: the label's clock also lets a rerun stop the loop); True when done."""
        from explorer.engine.queue import status_text

        request = self.run.request
        if request.finished:
            return True
        text = status_text(request)
        if text != self.last and request.state == "pending":
            self.box.caption(f"Queued on {request.queue.device}: {text}")
        self.last = text
        if request.state == "running":
            if self.bar is None:
                self.bar = self.box.progress(0.0)
            self.bar.progress(request.images_done / max(request.images_total, 1), text=text)
        waited = time.monotonic() - request.submitted_at
        self.box.update(label=f"{self.run.name}: {text} · {waited:.0f} s")
        return False

    def report(self) -> None:
        """The outcome: done (with any out-of-memory fallback notes), failed with its message, or cancelled."""
        request, name = self.run.request, self.run.name
        if request.state == "done":
            waited = request.started_at - request.submitted_at
            queued = f", after {waited:.1f} s in the queue" if waited >= 0.5 else ""
            self.box.update(label=f"{name}: done in {request.finished_at - request.started_at:.2f} s on "
                                  f"{request.report.device}{queued}", state="complete", expanded=False)
            for note in request.report.notes:
                st.warning(note, icon=":material/memory:")
        elif request.state == "failed":
            self.box.update(label=f"{name}: failed", state="error")
            st.error(_explain(request.error), icon=":material/error:")
        else:
            self.box.update(label=f"{name}: cancelled", state="complete", expanded=False)


def _explain(error: Exception) -> str:
    """A user-facing message: ours are written for people; anything else gets its type for a bug report."""
    from explorer.engine.runners import DeviceError
    from explorer.models.catalog import NotRunnableError
    from explorer.weights.errors import WeightsError

    if isinstance(error, (WeightsError, DeviceError, NotRunnableError, ValueError)):
        return str(error)
    if type(error).__name__ == "OutOfMemoryError":
        return f"The device ran out of memory ({error}); try a smaller batch, a smaller input size or the CPU."
    return f"Running the model failed: {type(error).__name__}: {error}"


def _render_options(runs: list[ModelRun]) -> Any:
    """Drawing options from the widgets; changing them redraws without re-running any model.

    Mask and keypoint controls appear only when some result has masks or keypoints.
    """
    from explorer.drawing.detections import RenderOptions

    found = [detections for run in runs for detections in run.detections]
    has_masks = any(d.masks is not None for d in found)
    has_keypoints = any(d.keypoints is not None for d in found)
    classes = sorted({name for d in found for name in d.names})
    cols = st.columns([2, 2, 3])
    score = cols[0].slider("Score threshold", 0.0, 1.0, 0.5, 0.05, key="detections:score")
    keypoint = (cols[1].slider("Keypoint score threshold", -5.0, 10.0, 0.05, 0.05, key="detections:kp")
                if has_keypoints else 0.05)
    chosen = cols[2].multiselect("Classes (empty: all)", classes, key="detections:classes")
    toggles = iter(st.columns(2 + has_masks + has_keypoints))
    show_boxes = next(toggles).toggle("Boxes", True, key="detections:boxes")
    show_masks = next(toggles).toggle("Masks", True, key="detections:masks") if has_masks else False
    show_keypoints = next(toggles).toggle("Keypoints", True, key="detections:kps") if has_keypoints else False
    show_labels = next(toggles).toggle("Labels", True, key="detections:labels")
    return RenderOptions(score_thresh=score, keypoint_thresh=keypoint, classes=set(chosen) or None,
                         show_boxes=show_boxes, show_masks=show_masks, show_keypoints=show_keypoints,
                         show_labels=show_labels)


def _show_results(images: list[Any], runs: list[ModelRun]) -> None:
    from explorer.drawing.detections import draw_detections, encode_png

    options = _render_options(runs)
    for index, image in enumerate(images):
        st.markdown(f"#### {image.name} · {image.width}×{image.height}")
        for note in image.notes:
            st.caption(note)
        columns = st.columns(len(runs))
        for column, run in zip(columns, runs, strict=True):
            found = run.detections[index]
            started = time.perf_counter()
            drawn = draw_detections(image.rgb, found, options)
            found.timings["draw"] = time.perf_counter() - started
            with column:
                shown = int(found.keep_mask(options.score_thresh, options.classes).sum())
                st.image(drawn, caption=f"{run.name} · {shown} shown of {len(found)}",
                         width="stretch" if image.width > 640 else "content")  # small images stay sharp
                st.caption(" · ".join(f"{stage} {seconds * 1000:.0f} ms" for stage, seconds in found.timings.items()))
                st.download_button("Annotated image (PNG)", encode_png(drawn), f"{image.name}.{run.uid}.png",
                                   "image/png", key=f"detections:png:{index}:{run.uid}")
                frame = found.to_frame()
                st.dataframe(frame[frame["score"] >= options.score_thresh], hide_index=True, height=200)
    for run in runs:
        st.download_button(f"COCO results json — {run.name}", _results_json(images, run), "results.json",
                           "application/json", key=f"detections:json:{run.uid}")
    st.caption("Image ids in the results json: " + ", ".join(f"{i + 1} = {image.name}"
                                                              for i, image in enumerate(images)))


def _results_json(images: list[Any], run: ModelRun) -> str:
    from explorer.engine.predict import coco_results

    results, _ = coco_results(run.detections)
    return json.dumps(results)


@contextmanager
def _device_to_myself(device: str) -> Iterator[None]:
    """Wait in the device's queue (showing the place), then time with no other session's run beside ours."""
    from explorer.engine.queue import status_text

    place = st.empty()
    with inference_queues().queue(device).hold(_session_id(), on_wait=lambda ticket: place.caption(
            f"Waiting for the device before timing: {status_text(ticket)}")):
        place.empty()
        yield


def _benchmark_section(table: pd.DataFrame, settings: dict[str, Any], images: list[Any]) -> None:
    """Time the chosen model on this device and keep the measurement for the speed/accuracy plot."""
    with st.expander("Measure this model's speed on this machine"):
        runs = st.number_input("Timed runs", 1, 100, 5, key="detections:bench_runs")
        if not st.button("Benchmark", key="detections:bench"):
            return
        from explorer.benchmarks.store import MeasurementStore
        from explorer.benchmarks.timing import benchmark_runner, weights_identity
        from explorer.engine.runners import resolve_device
        from explorer.models.catalog import spec_for_uid

        try:
            spec = spec_for_uid(table, settings["uid"])
            spec = spec.with_sizes(settings["min_size"], max(spec.preprocessing.max_size, settings["min_size"]))
            weights = _weights_choice(settings)
            runner = model_cache().get(spec, resolve_device(settings["device"]), weights)
            with _device_to_myself(runner.device), st.spinner("Timing…"):
                result = benchmark_runner(runner, images[0].rgb, batch_size=settings["batch_size"], runs=int(runs),
                                          autocast=settings["autocast"], weights=weights_identity(weights))
            MeasurementStore().add(result)
        except Exception as error:  # shown to the user; the page keeps working
            st.error(_explain(error))
            return
        st.success(f"{result.model_name}: median {result.median_s * 1000:.0f} ms/image on {result.device_name} "
                   f"(p10 {result.p10_s * 1000:.0f}, p90 {result.p90_s * 1000:.0f} ms; {result.runs} runs). "
                   "Stored; the speed vs accuracy page can show it beside the published times.")


if __name__ == "__main__":
    render()
