"""Detections: run any runnable zoo model on the user's own images and see boxes, masks and keypoints.

The model runs only when the user presses Run; its results stay in session state, so moving the score
slider, filtering classes or hiding masks only redraws (milliseconds), never re-runs the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from explorer.engine import session_runs
from explorer.engine.session_runs import ModelRun, PendingRun, RunSettings, explain
from explorer.inputs.images import UPLOAD_TYPES, load_uploads
from explorer.views import loaders, selection
from explorer.views.run_resources import inference_queues, session_id

RESULTS_KEY = "detections:runs"
PENDING_KEY = "detections:pending"
CANCEL_KEY = "detections:cancel"
SCORE_KEY = "detections:score"
CLASS_THRESHOLDS_KEY = "detections:class_thresholds"
PER_CLASS_KEY = "detections:per_class"
TICK_S = 1.0  # a waiting page wakes at least this often (its status clock); otherwise only when the queue changes
DEFAULT_MODEL = "torchvision:MaskRCNN_ResNet50_FPN_Weights.COCO_V1"
INPUT_SIZES = (128, 320, 480, 640, 800, 1024)
WEIGHT_CHOICES = {
    "published": "Published weights (downloaded once, then cached)",
    "upload": "A weights file I upload",
    "random": "Random weights: tests the pipeline, detections are meaningless",
}


@st.cache_data(show_spinner=False, max_entries=32)
def decode_uploads(files: tuple[tuple[str, bytes], ...]) -> tuple[list[Any], list[str]]:
    """Uploaded bytes -> decoded RGB images and one message per file that could not be used."""
    return load_uploads(files)


@st.cache_data(show_spinner=False)
def runnable_uids() -> list[str]:
    """Zoo rows some model family can run, TTA rows after their plain twin."""
    return session_runs.runnable_uids(loaders.zoo_table())


def render() -> None:
    st.title("Detections on your images")
    table = loaders.zoo_table()
    selection.sidebar_selection(table)
    options = runnable_uids()
    if not options:
        st.error("No zoo model can be run in this installation.")
        return
    files = st.file_uploader("Images (JPEG, PNG, WebP, BMP, TIFF)", type=UPLOAD_TYPES, accept_multiple_files=True,
                             key="detections:uploads")
    files = list(files or [])
    limit = session_runs.max_images_per_run()
    if len(files) > limit:
        st.warning(f"{len(files)} images uploaded; one run takes at most {limit}, so the first {limit} are used. "
                   "Raise the limit with the EXPLORER_MAX_IMAGES environment variable.", icon=":material/filter:")
        files = files[:limit]
    images, errors = decode_uploads(tuple((f.name, f.getvalue()) for f in files))
    for error in errors:
        st.error(error, icon=":material/broken_image:")
    settings, compare = _run_settings(table, options)
    run_column, cancel_column, _ = st.columns([1, 1, 6])
    if run_column.button("Run", type="primary", disabled=not images, key="detections:run"):
        _queue_runs(table, [settings, *([settings.for_model(compare)] if compare else [])], images)
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
    from explorer.views import eval_views

    eval_views.render_annotations_panel(images, runs, "detections:eval", use_thresholds=use_thresholds)
    _benchmark_section(table, settings, images)


def _run_settings(table: pd.DataFrame, options: list[str]) -> tuple[RunSettings, str | None]:
    """Model, device, weights, input size and batch size from the widgets; and the comparison model, if any."""
    selected = selection.selected_model(table)
    default = selected if selected in options else DEFAULT_MODEL if DEFAULT_MODEL in options else options[0]
    label = loaders.model_labels().__getitem__
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
        runtime = _runtime_choice()
        weights = st.radio("Weights", list(WEIGHT_CHOICES), format_func=WEIGHT_CHOICES.get, key="detections:weights")
        upload = None
        if weights == "upload":
            upload = st.file_uploader("Weights file (.pth state dict, or a Detectron .pkl)", type=["pth", "pt", "pkl"],
                                      key="detections:wfile")
    settings = RunSettings(uid=uid, device=device, min_size=int(min_size), batch_size=int(batch_size),
                           autocast=None if autocast == "fp32" else autocast, weights=weights, weights_upload=upload,
                           runtime=runtime)
    return settings, compare


def _runtime_choice() -> str:
    from explorer.views.runtime_choice import runtime_choice

    return runtime_choice("detections:runtime", "Eager PyTorch, or the model exported to ONNX Runtime / OpenVINO: "
                          "the fastest path a machine without a GPU has. Device and precision are then the CPU "
                          "and fp32.")


def _queue_runs(table: pd.DataFrame, runs: list[RunSettings], images: list[Any]) -> None:
    """Queue one run per model on its device's inference queue; a new Run replaces this session's old one."""
    session_runs.cancel_runs(st.session_state.get(PENDING_KEY) or [])
    pending = [run for settings in runs if (run := _queue_run(table, settings, images)) is not None]
    st.session_state[PENDING_KEY] = pending
    if not pending:  # nothing could even be queued: the old results are no answer to this Run
        st.session_state[RESULTS_KEY] = []


def _queue_run(table: pd.DataFrame, settings: RunSettings, images: list[Any]) -> PendingRun | None:
    """Queue one model's run, with a download bar while its weights load; errors are shown, not raised."""
    holder = st.empty()
    download = holder.progress(0.0, text=f"Loading {table.loc[settings.uid, 'name']}")

    def downloaded(done: int, total: int | None) -> None:
        if total:
            download.progress(min(done / total, 1.0), text=f"Downloading weights: {done / 1e6:.0f} of "
                              f"{total / 1e6:.0f} MB")

    try:
        run = session_runs.queue_run(inference_queues(), table, settings, [image.rgb for image in images],
                                     session_id(), downloaded)
    except Exception as error:  # any failure is shown to the user; the app keeps running
        holder.empty()
        st.error(explain(error), icon=":material/error:")
        return None
    holder.empty()
    return run


def _wait_for_runs(cancel_slot: Any) -> None:
    """Follow this session's queued runs until they finish: place in the queue, progress, and a Cancel button.

    The page sleeps on the queue's condition (`InferenceQueue.wait_for_change`), not in a polling loop: it
    wakes when its run moves up, starts, progresses or finishes (its result is drawn at once), and once a
    second for the status clock; while it sleeps it takes no GIL from the run in progress. Any widget change
    reruns the script, which ends the wait at the next message (within about a second), and the rerun picks
    the same requests up again: only Cancel (or a new Run) drops them. Cancel is always drawn (disabled while
    nothing waits) so that it keeps one identity across reruns.
    """
    pending: list[PendingRun] = st.session_state.get(PENDING_KEY) or []
    if cancel_slot.button("Cancel", key=CANCEL_KEY, icon=":material/cancel:", disabled=not pending,
                          help="Take this session's run out of the queue, or stop it after the current batch"):
        session_runs.cancel_runs(pending)
    if not pending:
        return
    views = [_QueuedRunView(run) for run in pending]
    queue = pending[0].request.queue  # a Run's models share their device's queue; another one's news waits a tick
    seen = queue.changes
    while not all([view.update() for view in views]):
        seen = queue.wait_for_change(seen, TICK_S)
    cancel_slot.empty()
    st.session_state[PENDING_KEY] = []
    for view in views:
        view.report()
    finished = session_runs.finished_runs(pending)
    if finished is not None:  # cancelling alone keeps the old results
        st.session_state[RESULTS_KEY] = finished


class _QueuedRunView:
    """A status box per queued run: where it stands (a line each time its place changes), then its progress.

    Each wake-up sends only what changed: the label's clock ticks once a second, the place and the progress
    when they move. A message per poll (four a second from each waiting session) kept the server's event loop
    busy, and so took the GIL from the run in progress, with nothing new to show. A message is also where a
    rerun stops the loop, so a widget change still ends the wait within about a second.
    """

    def __init__(self, run: PendingRun) -> None:
        self.run = run
        self.box = st.status(f"{run.name}: queued", expanded=True)
        self.bar: Any = None
        self.last = ""
        self.label = ""
        self.progress: tuple[float, str] | None = None

    def update(self) -> bool:
        """Show what changed since the last poll; True when the run has finished."""
        request = self.run.request
        if request.finished:
            return True
        status = session_runs.run_status(self.run)
        if status.text != self.last and status.waiting:
            self.box.caption(f"Queued on {request.queue.device}: {status.text}")
        self.last = status.text
        if status.fraction is not None and (status.fraction, status.text) != self.progress:
            if self.bar is None:
                self.bar = self.box.progress(0.0)
            self.bar.progress(status.fraction, text=status.text)
            self.progress = (status.fraction, status.text)
        if status.label != self.label:
            self.box.update(label=status.label)
            self.label = status.label
        return False

    def report(self) -> None:
        """The outcome: done (with any out-of-memory fallback notes), failed with its message, or cancelled."""
        request, name = self.run.request, self.run.name
        if request.state == "done":
            self.box.update(label=session_runs.done_label(self.run), state="complete", expanded=False)
            for note in request.report.notes:
                st.warning(note, icon=":material/memory:")
        elif request.state == "failed":
            self.box.update(label=f"{name}: failed", state="error")
            st.error(explain(request.error), icon=":material/error:")
        else:
            self.box.update(label=f"{name}: cancelled", state="complete", expanded=False)


def _render_options(runs: list[ModelRun]) -> Any:
    """Drawing options from the widgets; changing them redraws without re-running any model.

    Mask and keypoint controls appear only when some result has masks or keypoints.
    """
    from explorer.drawing.detections import RenderOptions

    contents = session_runs.run_contents(runs)
    has_masks, has_keypoints = contents.has_masks, contents.has_keypoints
    cols = st.columns([2, 2, 3])
    st.session_state.setdefault(SCORE_KEY, 0.5)  # a default here, not in the slider: the evaluation may set it
    score = cols[0].slider("Score threshold", 0.0, 1.0, step=0.01, key=SCORE_KEY)
    keypoint = (cols[1].slider("Keypoint score threshold", -5.0, 10.0, 0.05, 0.05, key="detections:kp")
                if has_keypoints else 0.05)
    chosen = cols[2].multiselect("Classes (empty: all)", contents.classes, key="detections:classes")
    toggles = iter(st.columns(2 + has_masks + has_keypoints))
    show_boxes = next(toggles).toggle("Boxes", True, key="detections:boxes")
    show_masks = next(toggles).toggle("Masks", True, key="detections:masks") if has_masks else False
    show_keypoints = next(toggles).toggle("Keypoints", True, key="detections:kps") if has_keypoints else False
    show_labels = next(toggles).toggle("Labels", True, key="detections:labels")
    return RenderOptions(score_thresh=score, keypoint_thresh=keypoint, classes=set(chosen) or None,
                         show_boxes=show_boxes, show_masks=show_masks, show_keypoints=show_keypoints,
                         show_labels=show_labels, class_thresholds=_class_thresholds())


def _class_thresholds() -> dict[str, float] | None:
    """Per-class thresholds the evaluation set ("use per-class F1-optimal thresholds"), while their toggle is
    on; classes without one keep the slider's threshold."""
    thresholds: dict[str, float] = st.session_state.get(CLASS_THRESHOLDS_KEY) or {}
    if not thresholds:
        return None
    if not st.toggle(f"Per-class thresholds ({len(thresholds)} classes, F1-optimal from the evaluation)",
                     key=PER_CLASS_KEY, help="Each listed class is drawn from its own threshold; the others from "
                                             "the slider's"):
        return None
    st.caption("Per-class thresholds: " + ", ".join(f"{name} ≥ {value:.3f}" for name, value in
                                                    sorted(thresholds.items())))
    return dict(thresholds)


def use_thresholds(overall: float, per_class: Mapping[str, float]) -> None:
    """The evaluation's "use the F1-optimal threshold" buttons (a callback, so it runs before the slider is
    drawn): the slider takes the overall optimum; per-class thresholds, when given, replace the old ones and
    are switched on, otherwise switched off."""
    st.session_state[SCORE_KEY] = float(min(max(overall, 0.0), 1.0))
    st.session_state[CLASS_THRESHOLDS_KEY] = {name: float(value) for name, value in per_class.items()}
    st.session_state[PER_CLASS_KEY] = bool(per_class)


def _show_results(images: list[Any], runs: list[ModelRun]) -> None:
    """Each image as each model saw it, with its table and downloads.

    The download buttons carry their bytes. Streamlit's deferred downloads (a callable, called on click) would
    spare each rerun a PNG encode, but here about one click in three failed ("Deferred file ... not found", a
    404 in the browser; tests/browser/test_app.py caught it), so they are not used.
    """
    from explorer.drawing.detections import encode_png

    options = _render_options(runs)
    for index, image in enumerate(images):
        st.markdown(f"#### {image.name} · {image.width}×{image.height}")
        for note in image.notes:
            st.caption(note)
        columns = st.columns(len(runs))
        for column, run in zip(columns, runs, strict=True):
            found = run.detections[index]
            drawn = session_runs.draw_result(image.rgb, found, options)
            with column:
                st.image(drawn.image, caption=f"{run.name} · {drawn.shown} shown of {len(found)}",
                         width="stretch" if image.width > 640 else "content")  # small images stay sharp
                st.caption(drawn.timings)
                st.download_button("Annotated image (PNG)", encode_png(drawn.image), f"{image.name}.{run.uid}.png",
                                   "image/png", key=f"detections:png:{index}:{run.uid}")
                st.dataframe(drawn.table, hide_index=True, height=200)
    for run in runs:
        st.download_button(f"COCO results json — {run.name}", session_runs.results_json(run), "results.json",
                           "application/json", key=f"detections:json:{run.uid}")
    st.caption("Image ids in the results json: " + ", ".join(f"{i + 1} = {image.name}"
                                                              for i, image in enumerate(images)))


def _benchmark_section(table: pd.DataFrame, settings: RunSettings, images: list[Any]) -> None:
    """Time the chosen model on this device and keep the measurement for the speed/accuracy plot."""
    with st.expander("Measure this model's speed on this machine"):
        runs = st.number_input("Timed runs", 1, 100, 5, key="detections:bench_runs")
        if not st.button("Benchmark", key="detections:bench"):
            return
        from explorer.benchmarks.queued import benchmark_on_queue, summary_text
        from explorer.engine.queue import status_text

        place = st.empty()

        def waiting(ticket: Any) -> None:
            place.caption(f"Waiting for the device before timing: {status_text(ticket)}")

        try:
            with st.spinner("Timing…"):
                result = benchmark_on_queue(inference_queues(), table, settings,
                                            images[0].rgb, int(runs), session_id(), on_wait=waiting,
                                            on_hold=place.empty)
        except Exception as error:  # shown to the user; the page keeps working
            st.error(explain(error))
            return
        st.success(summary_text(result))


if __name__ == "__main__":
    render()
